//! The `bearer` credential: an `Authorization: Bearer <token>` header, verified as a JWT, or,
//! when it is not one and an issuer has introspection, by RFC 7662 introspection.
//! This is the one parser of that header: the decision, userinfo, `explain` and the
//! browser-or-API-client test all read it here.

use axum::http::{HeaderMap, HeaderValue, header};

use super::credential::{Authenticated, CredentialKind, Outcome, Upstream};
use super::introspection::{self, Checked};
use super::jwt::Verifier;

/// The token of an `Authorization: Bearer` header: `None` when no such header is there (another
/// scheme, or no header), `Some("")` when the scheme is there without a token, which is a
/// presented, invalid credential. The scheme is matched without regard to case.
pub fn presented(headers: &HeaderMap) -> Option<&str> {
    let value = visible_ascii(headers.get(header::AUTHORIZATION)?)?.trim();
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

/// The text of `value` when every byte is visible ASCII or a tab, as `HeaderValue::to_str`
/// accepts; checked without stopping at the first bad byte, which lets the loop run on whole
/// vectors (a bearer header is long, and is read on every request).
fn visible_ascii(value: &HeaderValue) -> Option<&str> {
    let bytes = value.as_bytes();
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
    let token = presented(headers)?;
    if token.is_empty() {
        return Some(invalid("empty bearer token".into()));
    }
    if let Some(introspector) = verifier.introspector() {
        if let Some(header) = introspection::first_of_three_parts(token) {
            // A token verified before is a JWT: the cache answers before its header is decoded
            // to tell it from an opaque token (which costs a cached JWT as much as the lookup).
            if let Some(identity) = verifier.cached(token).await {
                return Some(valid(identity, token, keep_token));
            }
            if introspection::is_jwt_header(header) {
                return Some(verified(verifier, token, keep_token).await);
            }
        }
        return Some(match Box::pin(introspector.check(token)).await {
            Checked::Valid(identity) => valid(identity, token, keep_token),
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
        Ok(identity) => valid(identity, token, keep_token),
        Err(error) => invalid(format!("invalid bearer token: {error}")),
    }
}

fn valid(identity: std::sync::Arc<super::Identity>, token: &str, keep_token: bool) -> Authenticated {
    Authenticated {
        outcome: Outcome::Valid(identity),
        upstream: Upstream {
            access_token: keep_token.then(|| token.to_owned()),
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
            assert_eq!(visible_ascii(&value), value.to_str().ok(), "byte {byte:#04x}");
        }
    }
}
