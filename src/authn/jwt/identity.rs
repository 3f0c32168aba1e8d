//! The expiry of a verified token (its identity is built by [`crate::authn::claims`]).

use serde_json::{Map, Value};

use super::TokenError;

/// The `exp` claim as Unix seconds (fractions dropped); jsonwebtoken has already checked it.
pub fn expiry(claims: &Map<String, Value>) -> Result<u64, TokenError> {
    let exp = claims
        .get("exp")
        .ok_or_else(|| TokenError::Invalid("token has no exp".into()))?;
    exp.as_u64()
        .or_else(|| exp.as_f64().filter(|e| e.is_finite() && *e >= 0.0).map(|e| e as u64))
        .ok_or_else(|| TokenError::Invalid("exp is not a time".into()))
}
