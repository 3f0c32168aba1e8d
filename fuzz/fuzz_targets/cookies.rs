//! Cookie headers and sealed session values: reading never panics, a forged value never opens.
#![no_main]

use axum::http::{HeaderMap, HeaderValue, header};
use libfuzzer_sys::fuzz_target;
use portcullis::session::codec::{Keys, join, request_cookies};

fuzz_target!(|data: &[u8]| {
    let Ok(value) = HeaderValue::from_bytes(data) else { return };
    let mut headers = HeaderMap::new();
    headers.append(header::COOKIE, value);
    let cookies = request_cookies(&headers);
    let keys = Keys::derive(&[vec![7u8; 32]]);
    if let Some(sealed) = join(&cookies, "_portcullis") {
        // Only a value sealed with the key opens; the fuzzer cannot forge AES-GCM.
        assert!(keys.open("_portcullis", &sealed).is_none());
    }
});
