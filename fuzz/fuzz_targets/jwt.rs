//! The unverified structure of a bearer token: never panics on any text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis::authn::jwt::token::parse;

fuzz_target!(|token: &str| {
    let _ = parse(token);
});
