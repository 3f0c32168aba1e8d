//! The one signer: a PEM private key, the algorithm its type gives (RS256 for RSA, ES256 for
//! EC P-256), its `kid` and its public JWK. `portcullis token` mints with it; the identity token
//! for upstreams (`[identity_token]`) signs with it and publishes [`Signer::public_jwk`].

use jsonwebtoken::jwk::{Jwk, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Map, Value};

use super::install_crypto_provider;
use crate::authn::jwks::jsonwebtoken_algorithm;
use crate::config::Algorithm;

/// An EC P-256 key in SEC1 form (`BEGIN EC PRIVATE KEY`, what `openssl ecparam -genkey`
/// writes, after its `EC PARAMETERS` block unless `-noout`), rewrapped as the PKCS#8 that
/// jsonwebtoken signs with; `None` for anything else.
fn sec1_p256_key(pem: &[u8]) -> Option<EncodingKey> {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
    let blocks = pem::parse_many(pem).ok()?;
    let block = blocks.iter().find(|block| block.tag() == "EC PRIVATE KEY")?;
    let pair = EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_FIXED_SIGNING, block.contents()).ok()?;
    let pkcs8 = pair.to_pkcs8v1().ok()?;
    Some(EncodingKey::from_ec_der(pkcs8.as_ref()))
}

/// Signs JWTs with one private key.
pub struct Signer {
    algorithm: Algorithm,
    key: EncodingKey,
    kid: String,
    /// The public half, with `kid`, `use: sig` and `alg`.
    jwk: Jwk,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the private key.
        formatter
            .debug_struct("Signer")
            .field("algorithm", &self.algorithm)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer of the PEM private key `pem`: RS256 for an RSA key, ES256 for an EC P-256 key,
    /// each in the form `openssl` writes: PKCS#8 (`BEGIN PRIVATE KEY`), PKCS#1 (`BEGIN RSA
    /// PRIVATE KEY`) or SEC1 (`BEGIN EC PRIVATE KEY`). Its `kid` is the key's RFC 7638 JWK
    /// thumbprint (SHA-256, base64url). The key signs once here, so a key that cannot sign
    /// (an RSA key under 2048 bits, another curve) is refused now rather than on a request.
    pub fn from_pem(pem: &[u8]) -> Result<Signer, String> {
        install_crypto_provider();
        let refused =
            || "not an RSA (2048 bits or more) or EC P-256 private key in PEM (PKCS#8, PKCS#1 or SEC1)".to_string();
        let (algorithm, key) = if let Ok(key) = EncodingKey::from_rsa_pem(pem) {
            (Algorithm::RS256, key)
        } else if let Ok(key) = EncodingKey::from_ec_pem(pem) {
            (Algorithm::ES256, key)
        } else if let Some(key) = sec1_p256_key(pem) {
            (Algorithm::ES256, key)
        } else {
            return Err(refused());
        };
        let mut jwk = Jwk::from_encoding_key(&key, jsonwebtoken_algorithm(algorithm)).map_err(|_| refused())?;
        jsonwebtoken::encode(&Header::new(jsonwebtoken_algorithm(algorithm)), &Map::new(), &key)
            .map_err(|_| refused())?;
        let kid = jwk
            .thumbprint(ThumbprintHash::SHA256)
            .map_err(|e| format!("cannot compute the key's thumbprint: {e}"))?;
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        jwk.common.key_id = Some(kid.clone());
        Ok(Signer {
            algorithm,
            key,
            kid,
            jwk,
        })
    }

    /// The same signer naming its key `kid` instead of the thumbprint (in tokens and the JWK).
    pub fn with_kid(mut self, kid: impl Into<String>) -> Signer {
        self.kid = kid.into();
        self.jwk.common.key_id = Some(self.kid.clone());
        self
    }

    /// The `kid` of every token this signer signs.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm of every token this signer signs.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The public key as a JWK (`kty`, key members, `kid`, `use: sig`, `alg`), for a JWKS.
    pub fn public_jwk(&self) -> Value {
        serde_json::to_value(&self.jwk).unwrap_or(Value::Null)
    }

    /// A compact JWS of `claims`, with a header of `typ: JWT`, the algorithm and the `kid`.
    pub fn sign(&self, claims: &Map<String, Value>) -> Result<String, String> {
        let mut header = Header::new(jsonwebtoken_algorithm(self.algorithm));
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key).map_err(|e| format!("cannot sign: {e}"))
    }
}
