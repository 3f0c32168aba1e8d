//! The fast path for already-canonical paths, against the full normaliser: differential over
//! every short string of a small alphabet, the generated paths of `tests.rs` and named cases.

use super::*;
use crate::origin::values_tests::every_string_up_to;

/// Every byte the fast path treats specially, a letter, a digit and the hex a `%2F` needs.
const ALPHABET: &[u8] = b"/.a;%2FA-";

/// Checks one input: the public normaliser agrees with the full one, and whatever the fast
/// path accepts the full normaliser gives back unchanged. Returns whether the fast path took it.
fn agrees(raw: &str) -> bool {
    let full = normalise_path_full(raw);
    assert_eq!(normalise_path(raw), full, "{raw:?}");
    let fast = is_canonical(raw.as_bytes());
    if fast {
        assert_eq!(full.as_deref(), Ok(raw), "fast path took {raw:?}");
    }
    fast
}

#[test]
fn the_fast_path_agrees_on_every_short_string() {
    let mut fast = 0usize;
    let mut check = |raw: &str| fast += usize::from(agrees(raw));
    // Any string up to 5 bytes (relative ones included), and `/` followed by up to 6 more.
    let seen = every_string_up_to(ALPHABET, "", 5, &mut check) + every_string_up_to(ALPHABET, "/", 6, &mut check);
    assert!(seen > 600_000, "{seen}");
    // Not vacuous: a good share of the canonical spellings took the fast path.
    assert!(fast > 20_000, "only {fast} of {seen} took the fast path");
}

#[test]
fn the_fast_path_agrees_on_generated_paths() {
    let mut rng = super::tests::XorShift(0x5EED_1234_ABCD_0001);
    for _ in 0..20_000 {
        agrees(&super::tests::generated_path(&mut rng));
    }
}

#[test]
fn canonical_paths_take_the_fast_path() {
    for path in [
        "/",
        "/static/app.css",
        "/a/b/",
        "/api/v1/users:search@x",
        "/a/..b/.c",
        "/.well-known/openid-configuration",
        "/x-y_z~1!$&'()*+,=",
    ] {
        assert!(agrees(path), "{path:?} should take the fast path");
    }
}

#[test]
fn paths_that_need_work_take_the_full_path() {
    for path in [
        "", "a/b", "//a", "/a//b", "/a/./b", "/a/../b", "/a/.", "/a/..", "/admin./", "/admin.", "/a;p/b", "/a%41",
        "/a%2Fb", "/a b", "/café", "/a\\b", "/a#b", "/a\0b",
    ] {
        assert!(!agrees(path), "{path:?} must not take the fast path");
    }
}

#[test]
fn a_path_that_needs_normalising_right_after_one_that_does_not() {
    assert_eq!(normalise_path("/static/app.css"), Ok("/static/app.css".to_owned()));
    assert_eq!(
        normalise_path("/static/./app%2ecss;v=1"),
        Ok("/static/app.css".to_owned())
    );
    assert_eq!(normalise_path("/static/app.css"), Ok("/static/app.css".to_owned()));
    assert_eq!(normalise_path("/static/../.."), Err(PathError::AboveRoot));
    assert_eq!(normalise_path("/static/app."), Err(PathError::SegmentEndsInDot));
}
