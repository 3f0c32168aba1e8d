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
    if is_canonical(raw.as_bytes()) {
        return Ok(raw.to_owned());
    }
    normalise_path_full(raw)
}

/// Whether the full normaliser would give `raw` back unchanged (see [`canonical_path_len`]).
fn is_canonical(bytes: &[u8]) -> bool {
    canonical_path_len(bytes) == Some(bytes.len())
}

/// The length of the path a request target starts with, when that path is one the full
/// normaliser would give back unchanged; `None` when it is not, or is not followed by the end,
/// a `?` or a `#`. The test never says yes wrongly: `/` then only literal path characters and
/// `/`, with no `;` (parameters), no `%`, no `//` (an empty segment), and every `.` followed by a
/// byte other than `/` (so no segment is `.` or `..` or ends in a dot). Most requests' paths
/// pass, and skip the full pass.
pub(super) fn canonical_path_len(bytes: &[u8]) -> Option<usize> {
    let Some((&b'/', rest)) = bytes.split_first() else {
        return None;
    };
    let mut previous = b'/';
    for (i, &byte) in rest.iter().enumerate() {
        let fits = match byte {
            b'/' => previous != b'/' && previous != b'.',
            _ => CANONICAL_LITERAL[usize::from(byte)],
        };
        if !fits {
            let ends = matches!(byte, b'?' | b'#') && previous != b'.';
            return ends.then_some(i + 1);
        }
        previous = byte;
    }
    (previous != b'.').then_some(bytes.len())
}

/// [`is_path_char`] but `;` (parameters), as a table: the bytes a canonical segment holds.
static CANONICAL_LITERAL: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        table[byte] = byte != b';' as usize && is_path_char(byte as u8);
        byte += 1;
    }
    table
};

/// [`normalise_path`] without its fast path for paths that are already canonical: what the
/// differential tests and fuzz target compare it against.
#[doc(hidden)]
pub fn normalise_path_full(raw: &str) -> Result<String, PathError> {
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
const fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

/// RFC 3986 `pchar` without `%`: what may stand literally in a path segment.
const fn is_path_char(byte: u8) -> bool {
    is_unreserved(byte)
        || matches!(
            byte,
            b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
        )
        || matches!(byte, b':' | b'@')
}

#[cfg(test)]
mod fast_tests;
#[cfg(test)]
mod tests;
