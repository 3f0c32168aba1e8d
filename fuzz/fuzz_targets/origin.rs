//! The original request of each endpoint from arbitrary header values: `/auth` (X-Original-*),
//! `/forward-auth` (X-Forwarded-*), `/ext-authz/<path>` (its own method, `Host` and path) and the
//! gRPC `CheckRequest` fields, from a trusted and an untrusted peer. Never panics; what one
//! accepts has a normalised path, a lowercase host without port and a URL that parses.
#![no_main]

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use libfuzzer_sys::fuzz_target;
use portcullis::origin::{
    CheckFields, OriginalRequest, from_auth_headers, from_check_request, from_ext_authz, from_forward_auth_headers,
    normalise_path,
};

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
    // The input is NUL-separated: the `/ext-authz` path, its method, then header values given to
    // NAMES in turn (a name may repeat). The gRPC fields are the method, the proto, the host and
    // the path pieces read as text.
    let mut pieces = data.split(|&b| b == 0);
    let path = pieces.next().map(String::from_utf8_lossy).unwrap_or_default();
    let method_text = pieces.next().map(String::from_utf8_lossy).unwrap_or_default();
    let mut headers = HeaderMap::new();
    let mut texts: Vec<String> = Vec::new();
    for (n, value) in pieces.enumerate() {
        texts.push(String::from_utf8_lossy(value).into_owned());
        let name = HeaderName::from_static(NAMES[n % NAMES.len()]);
        if let Ok(value) = HeaderValue::from_bytes(value) {
            headers.append(name, value);
        }
    }
    let method = Method::from_bytes(method_text.as_bytes()).unwrap_or(Method::GET);
    let text = |i: usize| texts.get(i).map(String::as_str).unwrap_or_default();
    let fields = CheckFields {
        method: &method_text,
        scheme: text(3),
        host: text(4),
        path: &path,
    };
    for trusted in [true, false] {
        let results = [
            from_auth_headers(&headers, trusted),
            from_forward_auth_headers(&headers, trusted),
            from_ext_authz(&method, &headers, &path, trusted),
            from_check_request(&fields, trusted),
        ];
        for (i, request) in results.into_iter().enumerate() {
            if let Ok(request) = request {
                assert!(trusted || i >= 2, "an untrusted peer chose the request: {request:?}");
                check(&request);
            }
        }
    }
});

fn check(request: &OriginalRequest) {
    assert_eq!(normalise_path(&request.path).as_deref(), Ok(request.path.as_str()));
    assert!(request.scheme == "http" || request.scheme == "https", "{request:?}");
    assert!(
        !request.host.is_empty() && !request.host.bytes().any(|b| b.is_ascii_uppercase()),
        "{request:?}"
    );
    assert!(request.uri.starts_with('/'), "{request:?}");
    let url = request.url();
    assert!(
        url::Url::parse(&url).is_ok(),
        "{request:?} gives the URL {url:?}"
    );
}
