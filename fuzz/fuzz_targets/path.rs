//! Path normalisation: never panics; what it accepts is canonical (normalising again changes
//! nothing) and free of every spelling an upstream could route elsewhere.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis::origin::normalise_path;

fuzz_target!(|raw: &str| {
    let Ok(once) = normalise_path(raw) else { return };
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
