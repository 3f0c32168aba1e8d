//! From verified claims to an [`Identity`], following the issuer's claim names.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::TokenError;
use crate::authn::{Claims, Identity, lookup};
use crate::config::IssuerConfig;

/// Builds the identity of a verified token of `issuer` (the issuer's `name`).
pub fn build_identity(
    issuer: &Arc<str>,
    config: &IssuerConfig,
    claims: &Map<String, Value>,
    claims_text: &str,
    expires_at: u64,
) -> Result<Identity, TokenError> {
    let user = user(claims, &config.user_claim)
        .ok_or_else(|| TokenError::Invalid(format!("claim `{}` (the user) is missing", config.user_claim)))?;
    Ok(Identity {
        issuer: issuer.clone(),
        user,
        email: string(claims, &config.email_claim),
        groups: groups(claims, &config.groups_claim),
        preferred_username: string(claims, &config.preferred_username_claim),
        scopes: scopes(claims),
        claims: Claims::from_json(claims_text),
        expires_at,
    })
}

/// The user: a non-empty string, or a number turned into text.
fn user(claims: &Map<String, Value>, name: &str) -> Option<String> {
    match lookup(claims, name)? {
        Value::String(user) if !user.is_empty() => Some(user.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

fn string(claims: &Map<String, Value>, name: &str) -> Option<String> {
    lookup(claims, name)?.as_str().map(str::to_string)
}

/// Groups: a JSON array of strings, or one string separated by spaces or commas.
pub fn groups(claims: &Map<String, Value>, name: &str) -> Vec<String> {
    match lookup(claims, name) {
        Some(Value::Array(items)) => strings(items),
        Some(Value::String(text)) => split(text, &[' ', ',']),
        _ => Vec::new(),
    }
}

/// Scopes: `scope` (space separated), else `scp` (an array, or a space separated string).
pub fn scopes(claims: &Map<String, Value>) -> Vec<String> {
    match claims.get("scope").or_else(|| claims.get("scp")) {
        Some(Value::String(text)) => split(text, &[' ']),
        Some(Value::Array(items)) => strings(items),
        _ => Vec::new(),
    }
}

fn split(text: &str, separators: &[char]) -> Vec<String> {
    let parts = text.split(separators).map(str::trim).filter(|part| !part.is_empty());
    exact(parts.map(str::to_string).collect())
}

fn strings(items: &[Value]) -> Vec<String> {
    exact(items.iter().filter_map(Value::as_str).map(str::to_string).collect())
}

/// Identities are cached by the hundred thousand: no spare capacity.
fn exact(mut items: Vec<String>) -> Vec<String> {
    items.shrink_to_fit();
    items
}

/// The `exp` claim as Unix seconds (fractions dropped); jsonwebtoken has already checked it.
pub fn expiry(claims: &Map<String, Value>) -> Result<u64, TokenError> {
    let exp = claims
        .get("exp")
        .ok_or_else(|| TokenError::Invalid("token has no exp".into()))?;
    exp.as_u64()
        .or_else(|| exp.as_f64().filter(|e| e.is_finite() && *e >= 0.0).map(|e| e as u64))
        .ok_or_else(|| TokenError::Invalid("exp is not a time".into()))
}
