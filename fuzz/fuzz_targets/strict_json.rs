//! Strict JSON objects: never panic, and what they accept reads as serde_json reads it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis::authn::strict_json::parse_object;

fuzz_target!(|data: &[u8]| {
    if let Ok(object) = parse_object(data) {
        let plain: serde_json::Value = serde_json::from_slice(data).expect("serde_json accepts it too");
        assert_eq!(serde_json::Value::Object(object), plain);
    }
});
