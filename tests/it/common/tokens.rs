//! Minting test tokens from the fixture keys, and hand-made malicious ones.

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use super::fixture;

/// Seconds since the epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// Valid claims for the `main` issuer of [`super::file_issuer_config`], merged with `extra`.
pub fn claims(extra: Value) -> Value {
    let mut claims = json!({
        "iss": "https://issuer.test/",
        "aud": "api",
        "sub": "alice",
        "email": "alice@example.com",
        "groups": ["admins", "dev"],
        "exp": now() + 600,
        "iat": now(),
    });
    if let (Some(base), Some(extra)) = (claims.as_object_mut(), extra.as_object()) {
        for (key, value) in extra {
            if value.is_null() {
                base.remove(key);
            } else {
                base.insert(key.clone(), value.clone());
            }
        }
    }
    claims
}

/// The encoding key of fixture `name` (`rsa1`, `rsa2`, `ec1`, `ed1`).
pub fn key(name: &str) -> EncodingKey {
    let pem = std::fs::read(fixture(&format!("keys/{name}.pem"))).expect("fixture key");
    match name {
        n if n.starts_with("rsa") => EncodingKey::from_rsa_pem(&pem).expect("rsa key"),
        n if n.starts_with("ec") => EncodingKey::from_ec_pem(&pem).expect("ec key"),
        _ => EncodingKey::from_ed_pem(&pem).expect("ed key"),
    }
}

/// A token signed by fixture key `key_name` with `alg`, header kid `kid`.
pub fn sign(key_name: &str, alg: Algorithm, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_string());
    jsonwebtoken::encode(&header, claims, &key(key_name)).expect("sign")
}

/// An RS256 token from `rsa1` with the default claims merged with `extra`.
pub fn rsa1(extra: Value) -> String {
    sign("rsa1", Algorithm::RS256, "rsa1", &claims(extra))
}

/// base64url without padding.
pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A token assembled by hand from a header, claims and raw signature bytes.
pub fn raw(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes()),
        b64(signature)
    )
}

/// An RS256 token from `rsa1` over a payload given as raw JSON text (which may repeat a member
/// name, something a `serde_json::Value` cannot hold), correctly signed.
pub fn rsa1_with_payload_text(payload: &str) -> String {
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": "rsa1"});
    let message = format!("{}.{}", b64(header.to_string().as_bytes()), b64(payload.as_bytes()));
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key("rsa1"), Algorithm::RS256).expect("sign");
    format!("{message}.{signature}")
}
