//! Path normalisation for rule matching: one pass over the raw path, one output `String`.
//!
//! The output is canonical ASCII: unreserved characters are decoded, every other non-path byte
//! (escaped or literal, including UTF-8) is written as `%XX` with uppercase hex, and dot
//! segments and empty segments are resolved. Anything that could be read two ways by the
//! upstream (an encoded separator, a backslash, a control character, bad percent-encoding, a
//! climb above the root) is refused instead of guessed at.

use super::PathError;

/// Normalises a path for matching: decodes percent-encoded unreserved characters, removes each
/// segment's `;parameters`, `.` and `..` segments, merges duplicate slashes. Refuses what cannot
/// be normalised unambiguously (see [`PathError`]).
///
/// A trailing slash is kept (`/a/b/` and `/a/b/.` give `/a/b/`), so rules can tell a directory
/// from a file. The input is a path only: the caller splits off the query.
pub fn normalise_path(raw: &str) -> Result<String, PathError> {
    let bytes = raw.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute);
    }
    let mut out = Normaliser::with_capacity(raw.len());
    let mut i = 1;
    while let Some(&byte) = bytes.get(i) {
        match byte {
            b'/' => out.end_segment(true)?,
            b'%' => {
                out.push_escaped(decode_escape(bytes.get(i + 1..i + 3))?)?;
                i += 2;
            }
            b'\\' => return Err(PathError::Backslash),
            b'#' => return Err(PathError::Fragment),
            _ if is_control(byte) => return Err(PathError::ControlCharacter),
            _ => out.push_literal(byte)?,
        }
        i += 1;
    }
    out.finish()
}

/// The output being built, and where its current (last) segment starts.
struct Normaliser {
    out: String,
    segment_start: usize,
    utf8: Utf8Sequence,
}

impl Normaliser {
    fn with_capacity(capacity: usize) -> Self {
        let mut out = String::with_capacity(capacity);
        out.push('/');
        Self {
            out,
            segment_start: 1,
            utf8: Utf8Sequence::default(),
        }
    }

    /// A literal byte of the input (never `%`, `/`, `\` or a control character).
    fn push_literal(&mut self, byte: u8) -> Result<(), PathError> {
        if is_path_char(byte) {
            self.utf8.expect_none()?;
            self.out.push(char::from(byte));
            Ok(())
        } else {
            // Literal UTF-8, spaces, `[`... get the same spelling as their escaped form.
            self.push_encoded(byte)
        }
    }

    /// A byte decoded from `%XX`.
    fn push_escaped(&mut self, byte: u8) -> Result<(), PathError> {
        if byte == b'/' || byte == b'\\' {
            return Err(PathError::EncodedSeparator);
        }
        if is_control(byte) {
            return Err(PathError::ControlCharacter);
        }
        if is_unreserved(byte) {
            self.utf8.expect_none()?;
            self.out.push(char::from(byte));
            Ok(())
        } else {
            self.push_encoded(byte)
        }
    }

    fn push_encoded(&mut self, byte: u8) -> Result<(), PathError> {
        if byte.is_ascii() {
            self.utf8.expect_none()?;
        } else {
            self.utf8.push(byte)?;
        }
        self.out.push('%');
        self.out.push(hex_digit(byte >> 4));
        self.out.push(hex_digit(byte & 0x0f));
        Ok(())
    }

    /// Resolves the segment just written: its `;parameters` go (Tomcat and Jetty route
    /// `/admin;jsessionid=1/` as `/admin/`), an empty one merges into its neighbour, `.` goes,
    /// `..` takes its parent with it. `more` says whether a `/` follows in the input.
    fn end_segment(&mut self, more: bool) -> Result<(), PathError> {
        self.utf8.expect_none()?;
        let segment = self.out.get(self.segment_start..).unwrap_or_default();
        // A literal `;` starts the parameters; an encoded one (`%3B`) is part of the name.
        if let Some(parameters) = segment.find(';') {
            let name = segment.get(..parameters).unwrap_or_default();
            // `..;x` is `..` to Tomcat and Jetty but an ordinary segment to nginx: refuse it
            // rather than guess which the upstream is.
            if name == "." || name == ".." {
                return Err(PathError::DotSegmentParameter);
            }
            self.out.truncate(self.segment_start + parameters);
        }
        let segment = self.out.get(self.segment_start..).unwrap_or_default();
        match segment {
            "" => {}
            "." => self.out.truncate(self.segment_start),
            ".." => self.pop_parent()?,
            // IIS drops a trailing dot or space: `/admin./` and `/admin%20/` are `/admin/` there.
            _ if segment.ends_with('.') => return Err(PathError::SegmentEndsInDot),
            _ if segment.ends_with("%20") => return Err(PathError::SegmentEndsInSpace),
            _ if more => self.out.push('/'),
            _ => {}
        }
        self.segment_start = self.out.len();
        Ok(())
    }

    /// Drops the current `..` segment and the segment before it.
    fn pop_parent(&mut self) -> Result<(), PathError> {
        self.out.truncate(self.segment_start);
        // `out` ends with the `/` after the parent; the parent starts after the `/` before it.
        let before_slash = self.segment_start.saturating_sub(1);
        let parent_start = self
            .out
            .get(..before_slash)
            .and_then(|prefix| prefix.rfind('/'))
            .ok_or(PathError::AboveRoot)?;
        self.out.truncate(parent_start + 1);
        Ok(())
    }

    fn finish(mut self) -> Result<String, PathError> {
        self.end_segment(false)?;
        Ok(self.out)
    }
}

/// Checks that percent-encoded (and literal) bytes above ASCII form whole UTF-8 characters.
/// A sequence is collected byte by byte and validated once complete.
#[derive(Default)]
struct Utf8Sequence {
    bytes: [u8; 4],
    len: usize,
    expected: usize,
}

impl Utf8Sequence {
    fn push(&mut self, byte: u8) -> Result<(), PathError> {
        if self.expected == 0 {
            self.expected = utf8_width(byte).ok_or(PathError::BadPercentEncoding)?;
            self.len = 0;
        }
        let slot = self.bytes.get_mut(self.len).ok_or(PathError::BadPercentEncoding)?;
        *slot = byte;
        self.len += 1;
        if self.len == self.expected {
            let sequence = self.bytes.get(..self.len).unwrap_or_default();
            std::str::from_utf8(sequence).map_err(|_| PathError::BadPercentEncoding)?;
            self.expected = 0;
            self.len = 0;
        }
        Ok(())
    }

    /// Fails when a character was started and not finished.
    fn expect_none(&self) -> Result<(), PathError> {
        if self.expected == 0 {
            Ok(())
        } else {
            Err(PathError::BadPercentEncoding)
        }
    }
}

/// The length of the UTF-8 sequence `lead` starts, `None` when it cannot start one.
fn utf8_width(lead: u8) -> Option<usize> {
    match lead {
        0xC2..=0xDF => Some(2),
        0xE0..=0xEF => Some(3),
        0xF0..=0xF4 => Some(4),
        _ => None,
    }
}

/// The byte of `%XX`, from the two bytes after the `%` (`None` when the input ends early).
fn decode_escape(hex: Option<&[u8]>) -> Result<u8, PathError> {
    match hex {
        Some(&[high, low]) => Ok(hex_value(high)? << 4 | hex_value(low)?),
        _ => Err(PathError::BadPercentEncoding),
    }
}

fn hex_value(digit: u8) -> Result<u8, PathError> {
    match digit {
        b'0'..=b'9' => Ok(digit - b'0'),
        b'a'..=b'f' => Ok(digit - b'a' + 10),
        b'A'..=b'F' => Ok(digit - b'A' + 10),
        _ => Err(PathError::BadPercentEncoding),
    }
}

fn hex_digit(nibble: u8) -> char {
    char::from(
        b"0123456789ABCDEF"
            .get(usize::from(nibble & 0x0f))
            .copied()
            .unwrap_or(b'0'),
    )
}

fn is_control(byte: u8) -> bool {
    byte < 0x20 || byte == 0x7f
}

/// RFC 3986 unreserved: what percent-decoding may turn back into a literal.
fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

/// RFC 3986 `pchar` without `%`: what may stand literally in a path segment.
fn is_path_char(byte: u8) -> bool {
    is_unreserved(byte)
        || matches!(
            byte,
            b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
        )
        || matches!(byte, b':' | b'@')
}

#[cfg(test)]
mod tests {
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
    struct XorShift(u64);

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
        "%2F", "%5c", "\\", "%00", "\0", "%zz", "%4", "%", "é", "%C3%A9", "%c3", "%a9", " ", "~", "-", "?", ":", "@",
        ";", ";p=1", "#", "%3b",
    ];

    fn generated_path(rng: &mut XorShift) -> String {
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
}
