//! The unverified structure of a compact JWS: three base64url parts, a header this service is
//! willing to process for the token's use, and a JSON object payload without a repeated member
//! name. Nothing here trusts the token; it only refuses early and tells the verifier which
//! issuer and key the token claims.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use super::{TokenError, TokenUse};
use crate::authn::jwks::algorithm_named;
use crate::authn::strict_json;
use crate::config::Algorithm;

/// Longer tokens are refused before any decoding.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// What an unverified token claims about itself.
pub struct UnverifiedToken {
    /// The header `alg`, already known to be a supported asymmetric algorithm.
    pub alg: Algorithm,
    /// The header `kid`.
    pub kid: String,
    /// The payload as JSON text (kept as the identity's claims).
    pub payload_text: String,
    /// The payload, parsed.
    pub claims: Map<String, Value>,
}

fn malformed(reason: &str) -> TokenError {
    TokenError::Malformed(reason.into())
}

fn invalid(reason: &str) -> TokenError {
    TokenError::Invalid(reason.into())
}

/// Splits and decodes `token`, refusing anything that is not a plain signed JWT we can check
/// for `usage` (its `typ`, see [`TokenUse::accepts_typ`]).
pub fn parse(token: &str, usage: TokenUse) -> Result<UnverifiedToken, TokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(malformed("token longer than 16 KiB"));
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("not three dot-separated parts"));
    };
    if !signature
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(malformed("signature is not base64url"));
    }
    let header = decode_object(header).map_err(|reason| malformed(&format!("header: {reason}")))?;
    let (alg, kid) = check_header(&header, usage)?;
    let payload_bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| malformed("payload is not base64url"))?;
    let payload_text = String::from_utf8(payload_bytes).map_err(|_| malformed("payload is not UTF-8"))?;
    let claims = strict_json::parse_object(payload_text.as_bytes())
        .map_err(|reason| TokenError::Malformed(format!("payload: {reason}")))?;
    Ok(UnverifiedToken {
        alg,
        kid,
        payload_text,
        claims,
    })
}

fn decode_object(part: &str) -> Result<Map<String, Value>, String> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| "not base64url".to_owned())?;
    strict_json::parse_object(&bytes)
}

/// Checks `crit`, `typ` (by `usage`), `alg` and `kid`; `jwk`, `jku`, `x5u` and `x5c` are never
/// read.
fn check_header(header: &Map<String, Value>, usage: TokenUse) -> Result<(Algorithm, String), TokenError> {
    if header.contains_key("crit") {
        return Err(invalid("crit header is not supported"));
    }
    match header.get("typ") {
        None => {}
        Some(Value::String(typ)) if usage.accepts_typ(typ) => {}
        Some(_) => return Err(invalid(usage.typ_refusal())),
    }
    let alg = match header.get("alg").and_then(Value::as_str) {
        None => return Err(invalid("header has no alg")),
        Some(name) if name.eq_ignore_ascii_case("none") => return Err(invalid("alg none is not accepted")),
        Some(name) if name.starts_with("HS") => return Err(invalid("HMAC algorithms are not accepted")),
        Some(name) => algorithm_named(name).ok_or_else(|| invalid("unsupported alg"))?,
    };
    let kid = match header.get("kid").and_then(Value::as_str) {
        Some(kid) if !kid.is_empty() => kid.to_string(),
        _ => return Err(invalid("header names no kid")),
    };
    Ok((alg, kid))
}
