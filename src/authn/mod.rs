//! Credentials to identity: bearer JWTs checked against each issuer's keys ([`jwt`], [`jwks`]).
//! Session cookies (the browser login) will join here as `session`.

pub mod jwks;
pub mod jwt;

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
}

/// The claims of a credential kept as JSON text and parsed on use (only rules with claim
/// requirements or claim templates use them). Not kept parsed: a cached identity then costs
/// about twice the memory (measured with 100,000 cached tokens in benches/load.sh).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Claims(Box<str>);

impl Claims {
    /// Wraps the JSON text of a claims object.
    pub fn from_json(text: &str) -> Claims {
        Claims(text.into())
    }

    /// Parses the claims object (empty when the text is not an object).
    pub fn parse(&self) -> Map<String, Value> {
        serde_json::from_str(&self.0).unwrap_or_default()
    }

    /// The value of a claim: first the exact name (claim names may contain dots, as Auth0's
    /// namespaced claims do), then a dotted path into nested objects (`realm_access.roles`).
    pub fn get(&self, path: &str) -> Option<Value> {
        lookup(&self.parse(), path).cloned()
    }
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

/// The bearer token of an `Authorization: Bearer <token>` header, if there is one.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}
