//! The `rd` validator: never panics, and whatever it accepts, a browser (the WHATWG URL parser of
//! the `url` crate) resolves against Portcullis's own callback URL to a host it may go to: the
//! same host for a relative target, an allowed domain over https (http on loopback) otherwise.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis::login::redirect::validate;

const BASE: &str = "https://auth.example.net/oauth2/callback";

fuzz_target!(|rd: &str| {
    let allowed = vec![".example.com".to_owned(), "127.0.0.1".to_owned()];
    let Ok(target) = validate(Some(rd), &allowed) else {
        return;
    };
    if rd.is_empty() {
        assert_eq!(target, "/");
        return;
    }
    assert_eq!(target, rd, "an accepted target is returned as given");
    let base = url::Url::parse(BASE).expect("base");
    let resolved = base
        .join(&target)
        .unwrap_or_else(|e| panic!("{rd:?} accepted but a browser cannot read it: {e}"));
    let host = resolved.host_str().unwrap_or_default().to_ascii_lowercase();
    assert!(
        resolved.username().is_empty() && resolved.password().is_none(),
        "{rd:?} -> {resolved}"
    );
    if target.starts_with('/') {
        assert_eq!(host, "auth.example.net", "{rd:?} leaves the site: {resolved}");
        assert_eq!(resolved.scheme(), "https");
        return;
    }
    let allowed_host = host == "example.com" || host.ends_with(".example.com") || host == "127.0.0.1";
    assert!(allowed_host, "{rd:?} goes to {host:?}: {resolved}");
    match resolved.scheme() {
        "https" => {}
        "http" => assert_eq!(host, "127.0.0.1", "{rd:?}: plain http off loopback"),
        other => panic!("{rd:?}: scheme {other}"),
    }
});
