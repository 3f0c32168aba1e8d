//! Path normalisation: what is decoded, removed, kept and refused, and generated paths.

use super::*;

fn ok(raw: &str) -> String {
    normalise_path(raw).unwrap_or_else(|err| panic!("{raw:?} refused: {err}"))
}

fn err(raw: &str) -> PathError {
    match normalise_path(raw) {
        Ok(path) => panic!("{raw:?} accepted as {path:?}"),
        Err(err) => err,
    }
}

#[test]
fn plain_paths_are_unchanged() {
    assert_eq!(ok("/"), "/");
    assert_eq!(ok("/a/b"), "/a/b");
    assert_eq!(ok("/a/b/"), "/a/b/");
    assert_eq!(ok("/api/v1/users:search@x"), "/api/v1/users:search@x");
}

#[test]
fn dot_segments_with_parameters_are_refused() {
    assert_eq!(err("/public/..;/admin"), PathError::DotSegmentParameter);
    assert_eq!(err("/public/..;jsessionid=1/admin"), PathError::DotSegmentParameter);
    assert_eq!(err("/a/.;x/b"), PathError::DotSegmentParameter);
    assert_eq!(err("/public/%2e%2e;/admin"), PathError::DotSegmentParameter);
    assert_eq!(ok("/a/..x;y/b"), "/a/..x/b");
}

#[test]
fn parameters_are_removed_from_every_segment() {
    assert_eq!(ok("/admin;jsessionid=1/"), "/admin/");
    assert_eq!(ok("/admin;jsessionid=1/users;x=2;y"), "/admin/users");
    assert_eq!(ok("/api/v1/users:search@x;y=1"), "/api/v1/users:search@x");
    assert_eq!(ok("/;x/admin"), "/admin");
    assert_eq!(ok("/a/b;"), "/a/b");
    assert_eq!(ok("/a;p/../b"), "/b");
}

#[test]
fn an_encoded_semicolon_is_part_of_the_name() {
    assert_eq!(ok("/admin%3bx/"), "/admin%3Bx/");
}

#[test]
fn segments_ending_in_a_dot_or_a_space_are_refused() {
    assert_eq!(err("/admin./"), PathError::SegmentEndsInDot);
    assert_eq!(err("/admin%2e/"), PathError::SegmentEndsInDot);
    assert_eq!(err("/admin."), PathError::SegmentEndsInDot);
    assert_eq!(err("/admin.;x/"), PathError::SegmentEndsInDot);
    assert_eq!(err("/a/.../b"), PathError::SegmentEndsInDot);
    assert_eq!(err("/admin%20/"), PathError::SegmentEndsInSpace);
    assert_eq!(err("/admin /x"), PathError::SegmentEndsInSpace);
    assert_eq!(ok("/a%20b/c.txt"), "/a%20b/c.txt");
}

#[test]
fn a_hash_is_refused_literal_but_kept_encoded() {
    assert_eq!(err("/admin#/x"), PathError::Fragment);
    assert_eq!(ok("/a%23b"), "/a%23b");
}

#[test]
fn relative_path_is_refused() {
    assert_eq!(err(""), PathError::NotAbsolute);
    assert_eq!(err("a/b"), PathError::NotAbsolute);
    assert_eq!(err("%2Fa"), PathError::NotAbsolute);
}

#[test]
fn dot_dot_pops_the_previous_segment() {
    assert_eq!(ok("/a/b/../c"), "/a/c");
    assert_eq!(ok("/a/b/.."), "/a/");
    assert_eq!(ok("/a/.."), "/");
    assert_eq!(ok("/a/b/../../c/"), "/c/");
}

#[test]
fn encoded_dot_dot_is_resolved_like_dot_dot() {
    assert_eq!(ok("/admin/x/%2e%2e/y"), "/admin/y");
    assert_eq!(ok("/public/%2E%2e/admin"), "/admin");
    assert_eq!(ok("/a/%2E%2e/"), "/");
    assert_eq!(ok("/a/.%2e/b"), "/b");
}

#[test]
fn climbing_above_the_root_is_refused() {
    assert_eq!(err("/.."), PathError::AboveRoot);
    assert_eq!(err("/a/b/../../.."), PathError::AboveRoot);
    assert_eq!(err("/%2e%2e/admin"), PathError::AboveRoot);
    assert_eq!(err("//../a"), PathError::AboveRoot);
}

#[test]
fn dot_segments_are_removed() {
    assert_eq!(ok("/a/./b"), "/a/b");
    assert_eq!(ok("/./a"), "/a");
    assert_eq!(ok("/a/b/."), "/a/b/");
    assert_eq!(ok("/a/%2E/b"), "/a/b");
}

#[test]
fn segments_that_only_start_with_dots_are_kept() {
    assert_eq!(ok("/a/..b/.c"), "/a/..b/.c");
}

#[test]
fn duplicate_slashes_are_merged() {
    assert_eq!(ok("//a///b"), "/a/b");
    assert_eq!(ok("//"), "/");
    assert_eq!(ok("/a//"), "/a/");
}

#[test]
fn encoded_slash_is_refused() {
    assert_eq!(err("/a%2Fb"), PathError::EncodedSeparator);
    assert_eq!(err("/a%2fb"), PathError::EncodedSeparator);
}

#[test]
fn encoded_backslash_is_refused() {
    assert_eq!(err("/a%5cb"), PathError::EncodedSeparator);
    assert_eq!(err("/a%5Cb"), PathError::EncodedSeparator);
}

#[test]
fn literal_backslash_is_refused() {
    assert_eq!(err("/a\\b"), PathError::Backslash);
    assert_eq!(err("/..\\admin"), PathError::Backslash);
}

#[test]
fn nul_is_refused_literal_or_encoded() {
    assert_eq!(err("/a\0b"), PathError::ControlCharacter);
    assert_eq!(err("/a%00b"), PathError::ControlCharacter);
}

#[test]
fn other_control_characters_are_refused() {
    assert_eq!(err("/a\tb"), PathError::ControlCharacter);
    assert_eq!(err("/a\x7fb"), PathError::ControlCharacter);
    assert_eq!(err("/a%0Ab"), PathError::ControlCharacter);
    assert_eq!(err("/a%1f"), PathError::ControlCharacter);
    assert_eq!(err("/a%7F"), PathError::ControlCharacter);
}

#[test]
fn bad_percent_encoding_is_refused() {
    assert_eq!(err("/a%zz"), PathError::BadPercentEncoding);
    assert_eq!(err("/a%4"), PathError::BadPercentEncoding);
    assert_eq!(err("/a%"), PathError::BadPercentEncoding);
    assert_eq!(err("/a%g1/b"), PathError::BadPercentEncoding);
    assert_eq!(err("/%é"), PathError::BadPercentEncoding);
}

#[test]
fn escapes_that_are_not_utf8_are_refused() {
    assert_eq!(err("/%FF"), PathError::BadPercentEncoding);
    assert_eq!(err("/%C3"), PathError::BadPercentEncoding);
    assert_eq!(err("/%C3/"), PathError::BadPercentEncoding);
    assert_eq!(err("/%C3A"), PathError::BadPercentEncoding);
    assert_eq!(err("/%A9"), PathError::BadPercentEncoding);
    assert_eq!(err("/%C0%AF"), PathError::BadPercentEncoding);
    assert_eq!(err("/%ED%A0%80"), PathError::BadPercentEncoding);
}

#[test]
fn unreserved_escapes_are_decoded() {
    assert_eq!(ok("/%41%62%2D%5F%7E%30"), "/Ab-_~0");
}

#[test]
fn reserved_escapes_are_kept_with_uppercase_hex() {
    assert_eq!(ok("/a%3fb%23c%3a%20x"), "/a%3Fb%23c%3A%20x");
}

#[test]
fn encoded_percent_is_not_decoded_twice() {
    assert_eq!(ok("/a%252e%252e/b"), "/a%252e%252e/b");
    assert_eq!(ok("/%25"), "/%25");
}

#[test]
fn unicode_escapes_are_kept_uppercase() {
    assert_eq!(ok("/caf%c3%a9"), "/caf%C3%A9");
    assert_eq!(ok("/%e2%82%ac/%F0%9F%A6%80"), "/%E2%82%AC/%F0%9F%A6%80");
}

#[test]
fn literal_unicode_is_written_like_its_escape() {
    assert_eq!(ok("/café"), "/caf%C3%A9");
}

#[test]
fn literal_characters_not_allowed_in_a_path_are_escaped() {
    assert_eq!(ok("/a b"), "/a%20b");
    assert_eq!(ok("/a?b"), "/a%3Fb");
    assert_eq!(ok("/{x}|[y]"), "/%7Bx%7D%7C%5By%5D");
}

/// A small deterministic generator, so the loop needs no extra dependency.
pub(super) struct XorShift(pub(super) u64);

impl XorShift {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        usize::try_from(self.0 % n as u64).unwrap_or(0)
    }
}

const PIECES: &[&str] = &[
    "/", "/", "//", "a", "b", "c", ".", "..", "...", "%2e", "%2E", "%2e%2e", "%2E%2e", "%41", "%7e", "%25", "%3f",
    "%2F", "%5c", "\\", "%00", "\0", "%zz", "%4", "%", "é", "%C3%A9", "%c3", "%a9", " ", "~", "-", "?", ":", "@", ";",
    ";p=1", "#", "%3b",
];

pub(super) fn generated_path(rng: &mut XorShift) -> String {
    let mut path = String::from("/");
    for _ in 0..rng.below(12) {
        path.push_str(PIECES.get(rng.below(PIECES.len())).copied().unwrap_or("a"));
    }
    path
}

#[test]
fn normalising_twice_gives_the_same_clean_path() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut accepted = 0;
    for _ in 0..20_000 {
        let raw = generated_path(&mut rng);
        let Ok(once) = normalise_path(&raw) else { continue };
        accepted += 1;
        assert_eq!(normalise_path(&once).as_ref(), Ok(&once), "not idempotent for {raw:?}");
        assert!(once.starts_with('/'), "{raw:?} -> {once:?}");
        for bad in ["//", "/./", "/../"] {
            assert!(!once.contains(bad), "{raw:?} -> {once:?} contains {bad}");
        }
        assert!(!once.ends_with('.') && !once.contains("./"), "{raw:?} -> {once:?}");
        assert!(!once.contains(';') && !once.contains("%20/"), "{raw:?} -> {once:?}");
        assert!(once.is_ascii(), "{raw:?} -> {once:?}");
    }
    assert!(accepted > 2_000, "only {accepted} generated paths were accepted");
}

#[test]
fn arbitrary_ascii_never_panics() {
    let mut rng = XorShift(42);
    for _ in 0..20_000 {
        let len = rng.below(16);
        let raw: String = (0..len)
            .map(|_| char::from(u8::try_from(rng.below(128)).unwrap_or(b'a')))
            .collect();
        let _ = normalise_path(&raw);
        let _ = normalise_path(&format!("/{raw}"));
    }
}
