//! The unverified structure of a signed token, for every use (bearer, ID, logout): never panics
//! on any text, and what it accepts names a key and an algorithm.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis::authn::jws::{TokenUse, parse};

fuzz_target!(|token: &str| {
    for usage in [TokenUse::Bearer, TokenUse::IdToken, TokenUse::LogoutToken] {
        if let Ok(unverified) = parse(token, usage) {
            assert!(!unverified.kid.is_empty());
        }
    }
});
