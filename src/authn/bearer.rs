//! The `bearer` credential: an `Authorization: Bearer <token>` header, verified as a JWT, or,
//! when it is not one and an issuer has introspection, by RFC 7662 introspection.
//! This is the one parser of that header: the decision, userinfo, `explain` and the
//! browser-or-API-client test all read it here.

use axum::http::{HeaderMap, header};

use super::credential::{Authenticated, CredentialKind, Outcome, Upstream};
use super::introspection::{self, Checked};
use super::jwt::Verifier;

/// The token of an `Authorization: Bearer` header: `None` when no such header is there (another
/// scheme, or no header), `Some("")` when the scheme is there without a token, which is a
/// presented, invalid credential. The scheme is matched without regard to case.
///
/// A header with a byte that is neither visible ASCII nor a tab presents no token (what
/// `HeaderValue::to_str` refuses).
pub fn presented(headers: &HeaderMap) -> Option<&str> {
    text(presented_bytes(headers)?)
}

/// The token's bytes as [`presented`] finds them, before they are checked to be text: a token
/// the cache holds was text when it was verified, so the same bytes need no check again.
/// Around the token and the scheme only spaces and tabs are skipped, so the header is text
/// exactly when the token is.
fn presented_bytes(headers: &HeaderMap) -> Option<&[u8]> {
    let value = trim_blanks(headers.get(header::AUTHORIZATION)?.as_bytes());
    let (scheme, rest) = value.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return None;
    }
    if !rest.is_empty() && !matches!(rest[0], b' ' | b'\t') {
        return None;
    }
    Some(trim_blanks(rest))
}

/// `bytes` without the spaces and tabs at either end.
fn trim_blanks(bytes: &[u8]) -> &[u8] {
    let blank = |b: &u8| matches!(b, b' ' | b'\t');
    let start = bytes.iter().position(|b| !blank(b)).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|b| !blank(b)).map_or(start, |last| last + 1);
    &bytes[start..end]
}

/// The text of `bytes` when every byte is visible ASCII or a tab, as `HeaderValue::to_str`
/// accepts; checked without stopping at the first bad byte, which lets the loop run on whole
/// vectors (a bearer token is long).
fn text(bytes: &[u8]) -> Option<&str> {
    let refused = bytes.iter().fold(false, |refused, &b| {
        refused | !(b == b'\t' || (0x20..0x7f).contains(&b))
    });
    if refused {
        return None;
    }
    std::str::from_utf8(bytes).ok()
}

/// Checks the bearer token of `headers`; `None` when none is presented (not this kind). The
/// token is kept for upstream only when `keep_token` (`pass_access_token`).
pub async fn check(verifier: &Verifier, headers: &HeaderMap, keep_token: bool) -> Option<Authenticated> {
    let bytes = presented_bytes(headers)?;
    if bytes.is_empty() {
        return Some(invalid("empty bearer token".into()));
    }
    // A token verified before is a JWT, and was text: the cache answers before the token is
    // read as text, and before its header is decoded to tell it from an opaque token (which
    // costs a cached JWT as much as the lookup). This thread's recent tokens first, which hash
    // nothing; then the shared cache, where opaque tokens are never looked up.
    if let Some(identity) = verifier.recently_cached(bytes) {
        return Some(valid(identity, bytes, keep_token));
    }
    let introspector = verifier.introspector();
    // Only with introspection does a token's shape decide anything (JWT or opaque).
    let header = introspector.and_then(|_| introspection::first_of_three_parts(bytes));
    let maybe_jwt = introspector.is_none() || header.is_some();
    if maybe_jwt && let Some(identity) = verifier.cached(bytes).await {
        return Some(valid(identity, bytes, keep_token));
    }
    let token = text(bytes)?;
    if let Some(introspector) = introspector
        && !header.is_some_and(introspection::is_jwt_header)
    {
        return Some(match Box::pin(introspector.check(token)).await {
            Checked::Valid(identity) => valid(identity, bytes, keep_token),
            Checked::Invalid(reason) => invalid(format!("invalid bearer token: {reason}")),
            Checked::Unavailable(reason) => Authenticated::from(Outcome::Unavailable {
                kind: CredentialKind::Bearer,
                reason,
            }),
        });
    }
    Some(verified(verifier, token, keep_token).await)
}

async fn verified(verifier: &Verifier, token: &str, keep_token: bool) -> Authenticated {
    match verifier.verify(token).await {
        Ok(identity) => valid(identity, token.as_bytes(), keep_token),
        Err(error) => invalid(format!("invalid bearer token: {error}")),
    }
}

/// `token` is text (checked, or the same bytes as a token checked before).
fn valid(identity: std::sync::Arc<super::Identity>, token: &[u8], keep_token: bool) -> Authenticated {
    Authenticated {
        outcome: Outcome::Valid(identity),
        upstream: Upstream {
            access_token: keep_token.then(|| String::from_utf8_lossy(token).into_owned()),
            set_cookies: Vec::new(),
        },
    }
}

fn invalid(reason: String) -> Authenticated {
    Authenticated::from(Outcome::Invalid {
        kind: CredentialKind::Bearer,
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_authorization(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn the_token_follows_the_scheme_in_any_case() {
        for value in ["Bearer abc", "bearer abc", "BEARER  abc ", " Bearer\tabc"] {
            assert_eq!(presented(&with_authorization(value)), Some("abc"), "{value:?}");
        }
    }

    #[test]
    fn an_empty_bearer_is_presented_and_empty() {
        for value in ["Bearer", "Bearer ", "bearer   "] {
            assert_eq!(presented(&with_authorization(value)), Some(""), "{value:?}");
        }
    }

    #[test]
    fn other_schemes_are_not_bearer_tokens() {
        for value in ["Basic dXNlcjpwYXNz", "Bearerx abc", "Bear abc", ""] {
            assert_eq!(presented(&with_authorization(value)), None, "{value:?}");
        }
        assert_eq!(presented(&HeaderMap::new()), None);
    }

    /// A value with bytes beyond ASCII (UTF-8 or not) presents no bearer token; a tab inside
    /// is kept.
    #[test]
    fn a_value_beyond_ascii_presents_no_token() {
        for value in ["Bearer abc\u{e9}".as_bytes(), b"Bearer \xff\xfe", b"Bearer a\x80b"] {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::AUTHORIZATION,
                HeaderValue::from_bytes(value).expect("a header value"),
            );
            assert_eq!(presented(&headers), None, "{value:?}");
        }
        assert_eq!(presented(&with_authorization("Bearer a\tb")), Some("a\tb"));
    }

    #[test]
    fn a_header_is_read_as_text_exactly_when_http_reads_it_so() {
        for byte in 0..=u8::MAX {
            let bytes = [b'B', b'e', b'a', b'r', b'e', b'r', b' ', b'x', byte, b'y'];
            let Ok(value) = HeaderValue::from_bytes(&bytes) else {
                continue;
            };
            assert_eq!(text(value.as_bytes()), value.to_str().ok(), "byte {byte:#04x}");
        }
    }

    /// What `presented` was before it found the token's bytes first: the whole header read as
    /// text (`to_str`), trimmed, the scheme, then the token trimmed.
    fn presented_as_text(headers: &HeaderMap) -> Option<&str> {
        let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
        let scheme = value.get(..6)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let rest = value.get(6..)?;
        if !rest.is_empty() && !rest.starts_with([' ', '\t']) {
            return None;
        }
        Some(rest.trim())
    }

    #[test]
    fn the_token_is_what_reading_the_whole_header_as_text_finds() {
        let parts: [&[u8]; 14] = [
            b"",
            b" ",
            b"\t",
            b"Bearer",
            b"bearer",
            b"BEARER",
            b"Bearerx",
            b"abc",
            b"a.b.c",
            b"\xc3\xa9",
            b"\xff",
            b"\x80",
            b"\xc2\xa0",
            b"\x7f",
        ];
        let mut values = Vec::new();
        for a in parts {
            for b in parts {
                for c in parts {
                    values.push([a, b, c].concat());
                }
            }
        }
        for value in values {
            let Ok(header) = HeaderValue::from_bytes(&value) else {
                continue;
            };
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, header);
            assert_eq!(presented(&headers), presented_as_text(&headers), "{value:?}");
            if let Some(bytes) = presented_bytes(&headers) {
                assert_eq!(text(bytes), presented(&headers), "{value:?}");
            }
        }
    }
}
