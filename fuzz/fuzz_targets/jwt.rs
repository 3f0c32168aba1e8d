//! The unverified structure of a signed token, for every use (bearer, ID, logout): never panics
//! on any text, and what it accepts has three base64url parts, names a key, and carries as its
//! claims exactly the JSON object its payload holds.
#![no_main]

use libfuzzer_sys::fuzz_target;
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
});
