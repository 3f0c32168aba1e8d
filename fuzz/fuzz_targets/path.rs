//! Path normalisation: never panics; what it accepts is canonical (normalising again changes
//! nothing) and free of every spelling an upstream could route elsewhere. The fast path for
//! already-canonical paths gives what the full normaliser gives.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis::origin::{normalise_path, normalise_path_full};

fuzz_target!(|raw: &str| {
    let result = normalise_path(raw);
    assert_eq!(result, normalise_path_full(raw), "fast path and full normaliser differ on {raw:?}");
    let Ok(once) = result else { return };
    assert_eq!(
        normalise_path(&once).as_deref(),
        Ok(once.as_str()),
        "not idempotent: {raw:?}"
    );
    assert!(once.starts_with('/') && once.is_ascii(), "{raw:?} -> {once:?}");
    for bad in ["//", "/./", "/../", ";", "#", "\\", "%2F", "%5C", "%20/"] {
        assert!(!once.contains(bad), "{raw:?} -> {once:?} holds {bad}");
    }
    assert!(!once.ends_with("/.") && !once.ends_with("/.."), "{raw:?} -> {once:?}");
    assert!(!once.contains("./") && !once.ends_with('.'), "{raw:?} -> {once:?}");
});
