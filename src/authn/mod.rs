//! Credentials to identity. [`credential`] is the one model (kinds, outcome, what goes
//! upstream, the [`Authenticator`] that tries the kinds in order); each kind has its own file:
//! [`bearer`] (JWTs checked against each issuer's keys: [`jwt`], [`jwks`]) and [`session`]
//! (Portcullis's own session cookie). [`claims`] turns any credential's claims into an
//! [`Identity`] with the issuer's claim names.

pub mod bearer;
pub mod claims;
mod claims_text;
pub mod credential;
mod digest;
pub mod introspection;
pub mod jwks;
pub mod jws;
pub mod jwt;
pub mod session;
pub mod session_check;
pub mod strict_json;

pub use claims_text::{Claims, keep_claims};
pub use credential::{Authenticated, Authenticator, CredentialKind, Outcome, Upstream};
pub use digest::IdentityDigest;
pub use session_check::{SessionCheckId, SessionChecks};

use axum::http::HeaderMap;
use serde_json::{Map, Value};
use std::sync::Arc;

/// Who the caller is, as established from a verified credential.
///
/// Kept small because verified tokens are cached by the hundred thousand: the claims are kept
/// as their JSON text and parsed only when a rule asks for one.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    /// The `name` of the `[[issuers]]` block that vouched for this identity.
    pub issuer: Arc<str>,
    /// From the issuer's `user_claim`.
    pub user: String,
    /// From the issuer's `email_claim`.
    pub email: Option<String>,
    /// From the issuer's `groups_claim`.
    pub groups: Vec<String>,
    /// From the issuer's `preferred_username_claim`.
    pub preferred_username: Option<String>,
    /// From `scope` (space separated) or `scp` (array or string).
    pub scopes: Vec<String>,
    /// Every claim of the token, as a JSON object text.
    pub claims: Claims,
    /// Unix time (seconds) after which the identity is no longer valid.
    pub expires_at: u64,
    /// [`Identity::digest`], once made; `Default::default()` when building an identity.
    pub digest: IdentityDigest,
}

/// Finds `path` in a claims object: the exact name first, then a dotted path.
pub fn lookup<'a>(claims: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(value) = claims.get(path) {
        return Some(value);
    }
    let mut parts = path.split('.');
    let mut value = claims.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

/// Refuses an `Authorization` header sent more than once: which one the upstream reads cannot
/// be known, and the first may be the client's own.
pub fn single_authorization(headers: &HeaderMap) -> Result<(), crate::origin::OriginError> {
    let mut values = headers.get_all(axum::http::header::AUTHORIZATION).iter();
    match (values.next(), values.next()) {
        (Some(_), Some(_)) => Err(crate::origin::OriginError::Invalid {
            header: "Authorization",
            reason: "sent more than once".into(),
        }),
        _ => Ok(()),
    }
}

/// Compares two byte strings in time that depends on their lengths only (a login's `state`
/// and `nonce`, a token kept by the JWT cache).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn constant_time_eq_compares_whole_strings() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"abc", b"xbc"));
    }

    #[test]
    fn a_claim_is_found_by_exact_name_before_a_dotted_path() {
        let claims = Claims::from_json(
            r#"{"sub":"u","https://x.io/roles":["a"],"realm_access":{"roles":["r1","r2"]},"a.b":1,"a":{"b":2}}"#,
        );
        assert_eq!(claims.get("sub"), Some(json!("u")));
        assert_eq!(claims.get("https://x.io/roles"), Some(json!(["a"])));
        assert_eq!(claims.get("realm_access.roles"), Some(json!(["r1", "r2"])));
        assert_eq!(claims.get("a.b"), Some(json!(1)));
        assert_eq!(claims.get("realm_access.missing"), None);
        assert_eq!(claims.get("missing"), None);
    }

    #[test]
    fn claim_lookup_agrees_with_a_full_parse() {
        let claims = Claims::from_json(r#"{"t\u0065nant":"acme","n":{"deep":{"er":true}},"list":[1,2]}"#);
        for path in ["tenant", "n.deep.er", "n.deep", "list", "list.0", "nope"] {
            assert_eq!(claims.get(path), lookup(&claims.parse(), path).cloned(), "{path}");
        }
        assert_eq!(Claims::from_json("not json").get("x"), None);
        assert_eq!(Claims::from_json("[1]").get("x"), None);
    }
}
