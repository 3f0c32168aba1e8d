//! Rule files: any text loads or is refused with errors, never a panic; a loaded set matches a
//! few requests without panicking.
#![no_main]

use std::path::Path;

use axum::http::Method;
use libfuzzer_sys::fuzz_target;
use portcullis::origin::OriginalRequest;
use portcullis::rules::RuleSet;

fuzz_target!(|text: &str| {
    let Ok(set) = RuleSet::from_yaml(text, Path::new("fuzz.yaml")) else {
        return;
    };
    for path in ["/", "/admin/x", "/ADMIN", "/static/a.css"] {
        let request = OriginalRequest {
            method: Method::GET,
            scheme: "https",
            host: "app.example.com".into(),
            authority: "app.example.com".into(),
            path: path.into(),
            uri: path.into(),
        };
        let _ = set.first_match(&request);
        let _ = set.explain(&request);
    }
    let _ = set.warnings();
});
