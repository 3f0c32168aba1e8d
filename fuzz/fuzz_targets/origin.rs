//! The original request of each endpoint from arbitrary header values: never panics, and what
//! it accepts has a normalised path.
#![no_main]

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use libfuzzer_sys::fuzz_target;
use portcullis::origin::{from_auth_headers, from_ext_authz, from_forward_auth_headers, normalise_path};

const NAMES: [&str; 9] = [
    "x-original-url",
    "x-original-method",
    "x-forwarded-method",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-uri",
    "host",
    "authorization",
    "x-original-uri",
];

fuzz_target!(|data: &[u8]| {
    // The input is header values separated by NUL, given to NAMES in turn (a name may repeat).
    let mut headers = HeaderMap::new();
    let mut pieces = data.split(|&b| b == 0);
    let path = pieces.next().map(String::from_utf8_lossy).unwrap_or_default();
    for (n, value) in pieces.enumerate() {
        let name = HeaderName::from_static(NAMES[n % NAMES.len()]);
        if let Ok(value) = HeaderValue::from_bytes(value) {
            headers.append(name, value);
        }
    }
    let results = [
        from_auth_headers(&headers, true),
        from_forward_auth_headers(&headers, true),
        from_ext_authz(&Method::GET, &headers, &path, true),
    ];
    for request in results.into_iter().flatten() {
        assert_eq!(normalise_path(&request.path).as_deref(), Ok(request.path.as_str()));
        let _ = request.url();
    }
});
