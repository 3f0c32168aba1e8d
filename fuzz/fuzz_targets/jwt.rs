//! The unverified structure of a signed token, for every use (bearer, ID, logout): never panics
//! on any text, and what it accepts has three base64url parts, names a key, and carries as its
//! claims exactly the JSON object its payload holds. Telling a JWT from an opaque token (with
//! introspection configured) answers as decoding its header into a JSON map does. The same text
//! as an `Authorization` header: a token is presented only from a header `to_str` reads, and it
//! is a trimmed part of that header.
#![no_main]

use axum::http::{HeaderMap, HeaderValue, header::AUTHORIZATION};
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use portcullis::authn::bearer::presented;
use portcullis::authn::introspection::looks_like_jwt;
use portcullis::authn::jws::{MAX_TOKEN_BYTES, TokenUse, parse};

fuzz_target!(|token: &str| {
    for usage in [TokenUse::Bearer, TokenUse::IdToken, TokenUse::LogoutToken] {
        if let Ok(unverified) = parse(token, usage) {
            assert!(!unverified.kid.is_empty());
            assert!(token.len() <= MAX_TOKEN_BYTES);
            assert_eq!(token.split('.').count(), 3);
            let plain: serde_json::Value = serde_json::from_str(&unverified.payload_text).expect("payload is JSON");
            assert_eq!(plain, serde_json::Value::Object(unverified.claims));
        }
    }
    assert_eq!(looks_like_jwt(token), by_map(token), "{token:?}");
    if let Ok(value) = HeaderValue::from_bytes(token.as_bytes()) {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, value.clone());
        if let Some(found) = presented(&headers) {
            let text = value.to_str().expect("a token is presented only from a text header");
            assert!(text.contains(found), "{token:?}");
            assert_eq!(found, found.trim(), "{token:?}");
        }
    }
});

/// The plain reading: three parts, the first decoded and parsed into a map that has `alg`.
fn by_map(token: &str) -> bool {
    let parts: Vec<&str> = token.split('.').collect();
    let [header, _, _] = parts[..] else { return false };
    let Ok(json) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header) else {
        return false;
    };
    serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&json).is_ok_and(|map| map.contains_key("alg"))
}
