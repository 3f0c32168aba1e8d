//! Single forwarded values: a method, a scheme, a host with its port, a request target. Each
//! parser names the header it read in its error, so the 400 says which header is wrong.

use std::net::Ipv6Addr;

use axum::http::{HeaderMap, HeaderName, Method};

use super::path::canonical_path_len;
use super::{OriginError, normalise_path};

/// A header: the name it is looked up by (a `HeaderName`, so a lookup hashes it without parsing
/// text first) and the spelling errors show.
#[derive(Debug)]
pub(super) struct Field {
    name: HeaderName,
    pub(super) label: &'static str,
}

pub(super) static HOST: Field = Field {
    name: HeaderName::from_static("host"),
    label: "Host",
};
pub(super) static X_FORWARDED_METHOD: Field = Field {
    name: HeaderName::from_static("x-forwarded-method"),
    label: "X-Forwarded-Method",
};
pub(super) static X_FORWARDED_PROTO: Field = Field {
    name: HeaderName::from_static("x-forwarded-proto"),
    label: "X-Forwarded-Proto",
};
pub(super) static X_FORWARDED_HOST: Field = Field {
    name: HeaderName::from_static("x-forwarded-host"),
    label: "X-Forwarded-Host",
};
pub(super) static X_FORWARDED_URI: Field = Field {
    name: HeaderName::from_static("x-forwarded-uri"),
    label: "X-Forwarded-Uri",
};
pub(super) static X_ORIGINAL_URL: Field = Field {
    name: HeaderName::from_static("x-original-url"),
    label: "X-Original-URL",
};
pub(super) static X_ORIGINAL_METHOD: Field = Field {
    name: HeaderName::from_static("x-original-method"),
    label: "X-Original-Method",
};

/// The host a request is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Authority {
    /// Lower case, without port or trailing dot.
    pub(super) host: String,
    /// Lower case, with the port as sent.
    pub(super) authority: String,
}

/// The path and query a request is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Target {
    /// Normalised, without query.
    pub(super) path: String,
    /// As sent, without fragment.
    pub(super) uri: String,
}

pub(super) fn invalid(header: &'static str, reason: impl Into<String>) -> OriginError {
    OriginError::Invalid {
        header,
        reason: reason.into(),
    }
}

/// The header's value as trimmed text, `None` when absent. A repeated header is refused: which
/// value the proxy meant cannot be known, and the first may well be the client's own.
pub(super) fn single<'h>(headers: &'h HeaderMap, field: &Field) -> Result<Option<&'h str>, OriginError> {
    let mut values = headers.get_all(&field.name).iter();
    let Some(value) = values.next() else { return Ok(None) };
    if values.next().is_some() {
        return Err(invalid(field.label, "sent more than once"));
    }
    let text = value
        .to_str()
        .map_err(|_| invalid(field.label, "not printable ASCII"))?;
    // `to_str` admits only visible ASCII and tabs, so ASCII trimming is all `trim` would do.
    Ok(Some(text.trim_ascii()))
}

/// A required header's value.
pub(super) fn required<'h>(headers: &'h HeaderMap, field: &Field) -> Result<&'h str, OriginError> {
    single(headers, field)?.ok_or_else(|| invalid(field.label, "missing"))
}

/// The required method header: without it a method-restricted rule could be bypassed.
pub(super) fn required_method(headers: &HeaderMap, field: &Field) -> Result<Method, OriginError> {
    let raw = required(headers, field)?;
    parse_method(raw).map_err(|reason| invalid(field.label, reason))
}

pub(super) fn parse_method(raw: &str) -> Result<Method, &'static str> {
    if raw.is_empty() {
        return Err("empty");
    }
    if !raw.bytes().all(is_token_char) {
        return Err("not an HTTP method token");
    }
    // Proxies send the method as the client did, almost always upper case: no copy then.
    let method = if raw.bytes().any(|b| b.is_ascii_lowercase()) {
        Method::from_bytes(raw.to_ascii_uppercase().as_bytes())
    } else {
        Method::from_bytes(raw.as_bytes())
    };
    method.map_err(|_| "not an HTTP method token")
}

/// RFC 9110 `tchar`.
fn is_token_char(byte: u8) -> bool {
    byte.is_ascii_alphanumeric()
        || matches!(
            byte,
            b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~'
        )
}

/// `X-Forwarded-Proto`, `http` when absent.
pub(super) fn forwarded_scheme(headers: &HeaderMap) -> Result<&'static str, OriginError> {
    match single(headers, &X_FORWARDED_PROTO)? {
        None => Ok("http"),
        Some(raw) => {
            parse_scheme(first_entry(raw)).ok_or_else(|| invalid(X_FORWARDED_PROTO.label, "not http or https"))
        }
    }
}

pub(super) fn parse_scheme(raw: &str) -> Option<&'static str> {
    if raw.eq_ignore_ascii_case("https") {
        Some("https")
    } else if raw.eq_ignore_ascii_case("http") {
        Some("http")
    } else {
        None
    }
}

/// The first entry of a comma list, as a chain of proxies may send it. `raw` is a header's
/// text from [`single`] (visible ASCII and tabs), so ASCII trimming is all `trim` would do.
fn first_entry(raw: &str) -> &str {
    let end = raw.bytes().position(|b| b == b',').unwrap_or(raw.len());
    raw.get(..end).unwrap_or(raw).trim_ascii()
}

/// The required `X-Forwarded-Host` (first entry of a list).
pub(super) fn forwarded_authority(headers: &HeaderMap) -> Result<Authority, OriginError> {
    let raw = required(headers, &X_FORWARDED_HOST)?;
    parse_authority(first_entry(raw)).map_err(|reason| invalid(X_FORWARDED_HOST.label, reason))
}

/// The required `Host` header.
pub(super) fn host_authority(headers: &HeaderMap) -> Result<Authority, OriginError> {
    let raw = required(headers, &HOST)?;
    parse_authority(raw).map_err(|reason| invalid(HOST.label, reason))
}

/// `name`, `1.2.3.4` or `[::1]`, each with an optional `:port`.
pub(super) fn parse_authority(raw: &str) -> Result<Authority, &'static str> {
    if raw.is_empty() {
        return Err("empty");
    }
    if raw.starts_with('[') {
        let authority = raw.to_ascii_lowercase();
        let (host, port) = split_bracketed(&authority)?;
        if let Some(port) = port {
            check_port(port)?;
        }
        check_ipv6(host.get(1..).unwrap_or_default())?;
        return Ok(Authority {
            host: host.to_owned(),
            authority,
        });
    }
    // Checked as sent (no check depends on case), then copied once, lower-cased if need be.
    let scan = NameScan::of(raw);
    if let Some(port) = raw.get(scan.end + 1..) {
        check_port(port)?;
    }
    let name = check_name(raw.get(..scan.end).unwrap_or_default(), &scan)?;
    let authority = if scan.upper {
        raw.to_ascii_lowercase()
    } else {
        raw.to_owned()
    };
    Ok(Authority {
        host: authority.get(..name.len()).unwrap_or_default().to_owned(),
        authority,
    })
}

/// `[address]` and the port after it, if any.
fn split_bracketed(authority: &str) -> Result<(&str, Option<&str>), &'static str> {
    let close = authority.find(']').ok_or("unclosed [ in IPv6 address")?;
    let (host, rest) = authority.split_at(close + 1);
    match rest.strip_prefix(':') {
        Some(port) => Ok((host, Some(port))),
        None if rest.is_empty() => Ok((host, None)),
        None => Err("unexpected characters after IPv6 address"),
    }
}

/// A port: up to five digits, at most 65535.
pub(super) fn check_port(port: &str) -> Result<(), &'static str> {
    let digits = !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit());
    if digits && port.parse::<u16>().is_ok() {
        Ok(())
    } else {
        Err("port must be a number up to 65535")
    }
}

/// The address inside `[...]` (given with its closing bracket). The host keeps its brackets,
/// as `url::Url::host_str` does, so it cannot be mistaken for a name with a port.
pub(super) fn check_ipv6(bracketed_tail: &str) -> Result<(), &'static str> {
    let inner = bracketed_tail.strip_suffix(']').ok_or("unclosed [ in IPv6 address")?;
    inner.parse::<Ipv6Addr>().map(|_| ()).map_err(|_| "bad IPv6 address")
}

/// What one pass over a host name (up to its first `:`) finds, for [`check_name`].
struct NameScan {
    /// Where the name ends: the first `:` or the end of the text.
    end: usize,
    /// Whether every byte is a letter, a digit, `-`, `.` or `_`.
    allowed: bool,
    /// Whether `..` occurs.
    double_dot: bool,
    /// Whether an upper-case letter occurs.
    upper: bool,
}

impl NameScan {
    fn of(authority: &str) -> Self {
        let bytes = authority.as_bytes();
        let mut scan = Self {
            end: bytes.len(),
            allowed: true,
            double_dot: false,
            upper: false,
        };
        let mut previous = 0;
        for (i, &byte) in bytes.iter().enumerate() {
            match HOST_BYTES[usize::from(byte)] {
                LABEL => {}
                UPPER => scan.upper = true,
                DOT => scan.double_dot |= previous == b'.',
                COLON => {
                    scan.end = i;
                    break;
                }
                _ => scan.allowed = false,
            }
            previous = byte;
        }
        scan
    }
}

const OTHER: u8 = 0;
const LABEL: u8 = 1;
const DOT: u8 = 2;
const COLON: u8 = 3;
const UPPER: u8 = 4;

/// What each byte is to [`NameScan`]: a label's letter, digit, `-` or `_` (an upper-case
/// letter apart), a dot, the colon before a port, or anything else.
static HOST_BYTES: [u8; 256] = {
    let mut table = [OTHER; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        table[byte] = match b {
            b'.' => DOT,
            b':' => COLON,
            b'-' | b'_' => LABEL,
            _ if b.is_ascii_uppercase() => UPPER,
            _ if b.is_ascii_alphanumeric() => LABEL,
            _ => OTHER,
        };
        byte += 1;
    }
    table
};

/// A DNS name or IPv4 address (`_` allowed, as container names use it); one trailing dot is
/// dropped, since `example.com.` is the same host and must match the same rules. `scan` is
/// [`NameScan::of`] the text `host` was cut from.
fn check_name<'a>(host: &'a str, scan: &NameScan) -> Result<&'a str, &'static str> {
    let name = host.strip_suffix('.').unwrap_or(host);
    if name.is_empty() || name.len() > 253 {
        return Err("host name empty or too long");
    }
    if !scan.allowed {
        return Err("host name has characters outside letters, digits, - . _");
    }
    // An empty label: a dot first, last (after the one dropped) or next to another dot.
    if scan.double_dot || name.starts_with('.') || name.ends_with('.') {
        return Err("host name has an empty label");
    }
    // A name whose last label is a number is an IPv4 address to a browser (the URL standard),
    // so `0863` or `app.2222` would be read one way here and another way there.
    if ends_in_a_number(name) && name.parse::<std::net::Ipv4Addr>().is_err() {
        return Err("host name ends in a number but is not an IPv4 address");
    }
    Ok(name)
}

/// Whether the last label is all digits or `0x` hex (the URL standard's "ends in a number").
fn ends_in_a_number(name: &str) -> bool {
    let bytes = name.as_bytes();
    let start = bytes.iter().rposition(|&b| b == b'.').map_or(0, |dot| dot + 1);
    let last = bytes.get(start..).unwrap_or_default();
    match last {
        [b'0', b'x' | b'X', digits @ ..] => digits.iter().all(u8::is_ascii_hexdigit),
        _ => !last.is_empty() && last.iter().all(u8::is_ascii_digit),
    }
}

/// A request target (`/path?query`) from a header: the path normalised, the rest kept as sent.
/// A `#` anywhere is refused: a browser never sends a fragment, so one here was put there to be
/// read two ways.
pub(super) fn parse_target(raw: &str) -> Result<Target, String> {
    let bytes = raw.as_bytes();
    // Most paths are canonical already: one scan finds that and where the path ends.
    let canonical = canonical_path_len(bytes);
    let path_end = canonical
        .or_else(|| bytes.iter().position(|&b| b == b'?' || b == b'#'))
        .unwrap_or(bytes.len());
    let query = bytes.get(path_end..).unwrap_or_default();
    // The `#` is refused before anything else is looked at, wherever it is.
    if query.contains(&b'#') {
        return Err("# in request target".to_owned());
    }
    if query.iter().any(u8::is_ascii_control) {
        return Err("control character in query".to_owned());
    }
    let path = raw.get(..path_end).unwrap_or_default();
    let path = match canonical {
        Some(_) => path.to_owned(),
        None => normalise_path(path).map_err(|err| err.to_string())?,
    };
    Ok(Target {
        path,
        uri: raw.to_owned(),
    })
}

/// An absolute `http(s)://authority/path?query` URL, as ingress-nginx sends it.
pub(super) fn parse_absolute_url(raw: &str) -> Result<(&'static str, Authority, Target), String> {
    let (scheme, rest) = split_scheme(raw).ok_or("not an absolute http or https URL")?;
    let end = rest
        .bytes()
        .position(|b| matches!(b, b'/' | b'?' | b'#'))
        .unwrap_or(rest.len());
    let (authority, target) = rest.split_at(end);
    // No authority with an `@` parses, so user info is looked for only once one fails.
    let authority = parse_authority(authority).map_err(|reason| {
        if authority.contains('@') {
            "user info is not allowed"
        } else {
            reason
        }
    })?;
    let target = match target.strip_prefix('/') {
        Some(_) => parse_target(target)?,
        None => parse_target(&format!("/{target}"))?,
    };
    Ok((scheme, authority, target))
}

/// `https` or `http` and the rest, when `raw` starts with either scheme's `://` (any case).
pub(super) fn split_scheme(raw: &str) -> Option<(&'static str, &str)> {
    [("https", "https://"), ("http", "http://")]
        .into_iter()
        .find_map(|(scheme, prefix)| {
            let head = raw.get(..prefix.len())?;
            let rest = raw.get(prefix.len()..)?;
            head.eq_ignore_ascii_case(prefix).then_some((scheme, rest))
        })
}
