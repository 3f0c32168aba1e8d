//! The signed-token core: every JWS this service reads or writes goes through here.
//!
//! Reading is three steps, the same for bearer tokens, ID tokens and logout tokens:
//! [`parse`] checks the compact structure and the header (`crit`, `typ` by [`TokenUse`], `alg`,
//! `kid`) and reads the payload strictly (a repeated claim name is refused);
//! [`KeyStore::key_set_holding`] finds the key by `kid` in the issuer's own set (one
//! cooldown-limited refetch on a miss); [`JwsVerifier::verify_parsed`] checks the algorithm
//! against the issuer's allow-list and the key, then the signature and the time claims. Each use
//! adds only its own claim checks on top (identity for bearer tokens, `nonce`/`azp` for ID
//! tokens, `events`/`sid`/`sub`/`jti` for logout tokens).
//!
//! Writing is the [`Signer`]: one PEM private key, its algorithm, its `kid` and its public JWK.

mod compact;
mod signer;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Arc, Once};

use jsonwebtoken::Validation;
use jsonwebtoken::errors::ErrorKind;
use serde::de::IgnoredAny;
use serde_json::{Map, Value};

pub use compact::{MAX_TOKEN_BYTES, UnverifiedToken, parse};
pub use signer::Signer;

use super::jwks::{KeyStore, jsonwebtoken_algorithm};
use crate::config::{Algorithm, IssuerConfig};

/// Why a signed token was refused. Never carries the token itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not three base64url parts of JSON.
    #[error("malformed token: {0}")]
    Malformed(String),
    /// Any other refusal (reason for logs and the 401 body).
    #[error("{0}")]
    Invalid(String),
}

fn invalid(reason: &str) -> TokenError {
    TokenError::Invalid(reason.into())
}

/// What a token is for; decides which `typ` headers and which registered claims it must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenUse {
    /// An access token in `Authorization: Bearer` (`typ` absent, `JWT` or RFC 9068 `at+jwt`).
    Bearer,
    /// An OIDC ID token (`typ` absent or `JWT`; `sub` required).
    IdToken,
    /// An OIDC back-channel logout token (`typ` absent, `JWT` or `logout+jwt`).
    LogoutToken,
}

impl TokenUse {
    /// True when a header `typ` of `typ` (compared without case) is accepted for this use; an
    /// absent `typ` always is. A logout token is never accepted as an ID or access token.
    pub fn accepts_typ(self, typ: &str) -> bool {
        let accepted: &[&str] = match self {
            TokenUse::Bearer => &["jwt", "at+jwt", "application/at+jwt"],
            TokenUse::IdToken => &["jwt"],
            TokenUse::LogoutToken => &["jwt", "logout+jwt", "application/logout+jwt"],
        };
        accepted.iter().any(|t| typ.eq_ignore_ascii_case(t))
    }

    /// The refusal reason for a `typ` this use does not accept.
    fn typ_refusal(self) -> &'static str {
        match self {
            TokenUse::Bearer => "token type is not an access token or JWT",
            TokenUse::IdToken => "token typ is not accepted for an ID token",
            TokenUse::LogoutToken => "token typ is not accepted for a logout token",
        }
    }

    /// Whether `nbf` is checked (bearer tokens only; the login flow never checked it on its
    /// provider's fresh tokens).
    fn checks_nbf(self) -> bool {
        self == TokenUse::Bearer
    }
}

/// Selects jsonwebtoken's aws-lc-rs backend for the whole process. Idempotent; call it at
/// start-up and in test setup. (jsonwebtoken would pick it from its features on first use; this
/// makes the choice explicit. reqwest 0.13's `rustls` feature falls back to aws-lc-rs by itself
/// when no rustls provider is installed, so rustls needs nothing here.)
pub fn install_crypto_provider() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // An `Err` means a provider was already chosen, which is all we want.
        let _ = jsonwebtoken::crypto::CryptoProvider::install_default(&jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER);
    });
}

/// A token whose signature and time claims verified.
#[derive(Debug)]
pub struct VerifiedToken {
    /// The payload as JSON text.
    pub payload_text: String,
    /// The payload, parsed strictly.
    pub claims: Map<String, Value>,
}

/// Verifies the tokens of one issuer for one use: its keys, and a ready-made jsonwebtoken
/// validation per allowed algorithm (that algorithm, `iss`, the audiences, `exp`, the leeway).
pub struct JwsVerifier {
    usage: TokenUse,
    keys: Arc<KeyStore>,
    validations: HashMap<Algorithm, Validation>,
}

impl JwsVerifier {
    /// A verifier of `usage` tokens of `issuer`, signed by a key of `keys`, whose `aud` must
    /// contain one of `audiences` (not checked when empty).
    pub fn new(usage: TokenUse, issuer: &IssuerConfig, audiences: &[String], keys: Arc<KeyStore>) -> JwsVerifier {
        let validations = issuer
            .algorithms
            .iter()
            .map(|alg| (*alg, validation(usage, issuer, audiences, *alg)))
            .collect();
        JwsVerifier {
            usage,
            keys,
            validations,
        }
    }

    /// The key store the tokens are checked against.
    pub fn keys(&self) -> &Arc<KeyStore> {
        &self.keys
    }

    /// Parses and verifies `token`: [`parse`], then [`JwsVerifier::verify_parsed`].
    pub async fn verify(&self, token: &str) -> Result<VerifiedToken, TokenError> {
        let unverified = parse(token, self.usage)?;
        self.verify_parsed(token, unverified).await
    }

    /// Verifies a `token` already parsed: the algorithm against the allow-list, the key by `kid`
    /// (refetched once on a miss), the key's own algorithms, then signature and time claims.
    pub async fn verify_parsed(&self, token: &str, unverified: UnverifiedToken) -> Result<VerifiedToken, TokenError> {
        let validation = self
            .validations
            .get(&unverified.alg)
            .ok_or_else(|| invalid("alg not allowed for issuer"))?;
        let set = self
            .keys
            .key_set_holding(&unverified.kid)
            .await
            .ok_or_else(|| invalid("unknown kid"))?;
        let key = set.get(&unverified.kid).ok_or_else(|| invalid("unknown kid"))?;
        if !key.algorithms.contains(&unverified.alg) {
            return Err(invalid("alg does not match the key"));
        }
        jsonwebtoken::decode::<IgnoredAny>(token, &key.key, validation).map_err(|e| describe(&e))?;
        Ok(VerifiedToken {
            payload_text: unverified.payload_text,
            claims: unverified.claims,
        })
    }
}

/// The jsonwebtoken checks for `usage` tokens of `issuer` signed with `alg`: that one algorithm,
/// the issuer, the audiences (when any), `exp` and `iss` required (`aud` too when checked, `sub`
/// for ID tokens), `nbf` for bearer tokens, the leeway.
fn validation(usage: TokenUse, issuer: &IssuerConfig, audiences: &[String], alg: Algorithm) -> Validation {
    let mut validation = Validation::new(jsonwebtoken_algorithm(alg));
    validation.set_issuer(&[&issuer.issuer]);
    let mut required = vec!["exp", "iss"];
    if audiences.is_empty() {
        validation.validate_aud = false;
    } else {
        validation.set_audience(audiences);
        required.push("aud");
    }
    if usage == TokenUse::IdToken {
        required.push("sub");
    }
    validation.set_required_spec_claims(&required);
    validation.validate_nbf = usage.checks_nbf();
    validation.leeway = issuer.leeway.as_secs();
    validation
}

/// A short reason for a jsonwebtoken refusal (its messages are not shown as they are).
fn describe(error: &jsonwebtoken::errors::Error) -> TokenError {
    match error.kind() {
        ErrorKind::InvalidSignature => invalid("signature does not verify"),
        ErrorKind::ExpiredSignature => invalid("token expired"),
        ErrorKind::ImmatureSignature => invalid("token not valid yet (nbf)"),
        ErrorKind::InvalidIssuer => invalid("issuer does not match"),
        ErrorKind::InvalidAudience => invalid("audience not accepted"),
        ErrorKind::MissingRequiredClaim(claim) => TokenError::Invalid(format!("required claim `{claim}` is missing")),
        ErrorKind::InvalidAlgorithm => invalid("alg not allowed"),
        ErrorKind::Base64(_) | ErrorKind::Json(_) | ErrorKind::Utf8(_) | ErrorKind::InvalidToken => {
            TokenError::Malformed("token cannot be decoded".into())
        }
        _ => invalid("token cannot be verified"),
    }
}
