//! One fetched JSON Web Key Set, parsed by hand (jsonwebtoken's `from_jwk` ignores `use` and
//! `alg`) and indexed by `kid` once, so that the hot path is a single hash lookup.

use std::collections::HashMap;

use jsonwebtoken::DecodingKey;
use serde::Deserialize;
use serde_json::Value;

use crate::config::Algorithm;

/// A public key of an issuer, with the algorithms a token signed by it may name.
pub struct VerifyingKey {
    /// The key material, ready for jsonwebtoken.
    pub key: DecodingKey,
    /// Issuer allow-list ∩ the key's family ∩ the JWK's own `alg` (when it has one); never empty.
    pub algorithms: Vec<Algorithm>,
}

/// The usable signing keys of one issuer, indexed by `kid`.
#[derive(Default)]
pub struct KeySet {
    keys: HashMap<String, VerifyingKey>,
}

impl KeySet {
    /// Parses a JWKS document (`{"keys": [...]}`), keeping only the keys a token of this issuer
    /// could use: signing keys with a `kid`, of a known family, with an algorithm in `allowed`.
    /// Fails when the document is not a JWKS or leaves no usable key.
    pub fn parse(json: &[u8], allowed: &[Algorithm]) -> Result<KeySet, String> {
        #[derive(Deserialize)]
        struct Document {
            keys: Vec<Value>,
        }
        let document: Document = serde_json::from_slice(json).map_err(|e| format!("not a JWKS document: {e}"))?;
        let mut keys = HashMap::new();
        for value in document.keys {
            if let Some((kid, key)) = usable_key(value, allowed) {
                // The first key wins when a set repeats a kid.
                keys.entry(kid).or_insert(key);
            }
        }
        if keys.is_empty() {
            return Err("the JWKS holds no usable signing key with a kid".into());
        }
        Ok(KeySet { keys })
    }

    /// The key named `kid`, if the set has it.
    pub fn get(&self, kid: &str) -> Option<&VerifyingKey> {
        self.keys.get(kid)
    }

    /// The `kid` of every usable key, in no particular order (for `explain`).
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// How many usable keys the set holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when the set holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// The members of a JWK this service reads; everything else (`x5c`, `key_ops`, ...) is ignored.
#[derive(Deserialize)]
struct RawJwk {
    kty: String,
    kid: Option<String>,
    #[serde(rename = "use")]
    usage: Option<String>,
    alg: Option<String>,
    crv: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

/// Turns one JWK into a keyed [`VerifyingKey`], or `None` when no token of this issuer may use it.
fn usable_key(value: Value, allowed: &[Algorithm]) -> Option<(String, VerifyingKey)> {
    let jwk: RawJwk = serde_json::from_value(value).ok()?;
    let kid = jwk.kid.clone().filter(|kid| !kid.is_empty())?;
    if jwk.usage.as_deref().is_some_and(|usage| usage != "sig") {
        return None;
    }
    let (family, key) = family_and_key(&jwk)?;
    let named = match jwk.alg.as_deref() {
        Some(name) => Some(algorithm_named(name)?),
        None => None,
    };
    let algorithms: Vec<Algorithm> = allowed
        .iter()
        .copied()
        .filter(|alg| family.contains(alg) && named.is_none_or(|named| named == *alg))
        .collect();
    (!algorithms.is_empty()).then_some((kid, VerifyingKey { key, algorithms }))
}

/// The algorithms a key of this type and curve can verify, and the key itself.
fn family_and_key(jwk: &RawJwk) -> Option<(&'static [Algorithm], DecodingKey)> {
    use Algorithm::*;
    match (jwk.kty.as_str(), jwk.crv.as_deref()) {
        ("RSA", _) => {
            let key = DecodingKey::from_rsa_components(jwk.n.as_deref()?, jwk.e.as_deref()?).ok()?;
            Some((&[RS256, RS384, RS512, PS256, PS384, PS512], key))
        }
        ("EC", Some(curve @ ("P-256" | "P-384"))) => {
            let key = DecodingKey::from_ec_components(jwk.x.as_deref()?, jwk.y.as_deref()?).ok()?;
            Some((if curve == "P-256" { &[ES256] } else { &[ES384] }, key))
        }
        ("OKP", Some("Ed25519")) => Some((&[EdDSA], DecodingKey::from_ed_components(jwk.x.as_deref()?).ok()?)),
        _ => None,
    }
}

/// The algorithm with this JOSE name, if it is one this service supports (never `none` or HS*).
pub fn algorithm_named(name: &str) -> Option<Algorithm> {
    use Algorithm::*;
    Some(match name {
        "RS256" => RS256,
        "RS384" => RS384,
        "RS512" => RS512,
        "PS256" => PS256,
        "PS384" => PS384,
        "PS512" => PS512,
        "ES256" => ES256,
        "ES384" => ES384,
        "EdDSA" => EdDSA,
        _ => return None,
    })
}

/// The jsonwebtoken twin of a configured algorithm.
pub fn jsonwebtoken_algorithm(algorithm: Algorithm) -> jsonwebtoken::Algorithm {
    use jsonwebtoken::Algorithm as J;
    match algorithm {
        Algorithm::RS256 => J::RS256,
        Algorithm::RS384 => J::RS384,
        Algorithm::RS512 => J::RS512,
        Algorithm::PS256 => J::PS256,
        Algorithm::PS384 => J::PS384,
        Algorithm::PS512 => J::PS512,
        Algorithm::ES256 => J::ES256,
        Algorithm::ES384 => J::ES384,
        Algorithm::EdDSA => J::EdDSA,
    }
}
