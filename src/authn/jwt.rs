//! Bearer JWT verification: picks the issuer by `iss`, the key by `kid`, checks every rule of
//! the contract, builds the [`Identity`] and caches it by the token's SHA-256 until `exp`.
//!
//! The order of checks: size and shape, header (`crit`, `typ`, `alg`, `kid`), issuer by the
//! unverified `iss`, the algorithm against the issuer's allow-list, the key by `kid` in that
//! issuer's set only (one cooldown-limited refetch on a miss), the key's own algorithms, then
//! signature and time claims (jsonwebtoken), then the identity.

mod cache;
mod identity;
#[cfg(test)]
pub(crate) mod tests;
pub mod token;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Once};

use jsonwebtoken::Validation;
use jsonwebtoken::errors::ErrorKind;
use serde::de::IgnoredAny;

pub use cache::{DEFAULT_CACHE_MEMORY, TokenCache, TokenKey, entry_weight, unix_now};
pub use token::MAX_TOKEN_BYTES;

use super::Identity;
use super::claims::ClaimMapper;
use super::jwks::{KeySet, KeyStore, jsonwebtoken_algorithm};
use crate::config::{Algorithm, IssuerConfig};
use crate::metrics::Metrics;

/// Why a bearer token was refused. Never carries the token itself.
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

/// One configured issuer: its settings, keys and a ready-made validation per allowed algorithm.
struct IssuerVerifier {
    name: Arc<str>,
    config: IssuerConfig,
    keys: Arc<KeyStore>,
    validations: HashMap<Algorithm, Validation>,
    claims: ClaimMapper,
}

impl IssuerVerifier {
    fn new(config: &IssuerConfig, http: reqwest::Client, metrics: Metrics) -> IssuerVerifier {
        let validations = config
            .algorithms
            .iter()
            .map(|alg| (*alg, validation(config, *alg)))
            .collect();
        IssuerVerifier {
            name: config.name.as_str().into(),
            config: config.clone(),
            keys: Arc::new(KeyStore::new(config, http, metrics)),
            validations,
            claims: ClaimMapper::new(config),
        }
    }

    /// The key set holding `kid`, refetching once (cooldown permitting) when it is unknown.
    async fn key_set_with(&self, kid: &str) -> Option<Arc<KeySet>> {
        if let Some(set) = self.keys.keys().filter(|set| set.get(kid).is_some()) {
            return Some(set);
        }
        tracing::debug!(issuer = %self.name, "unknown kid; asking for a refetch");
        self.keys
            .refetch_for_unknown_kid(kid)
            .await
            .filter(|set| set.get(kid).is_some())
    }
}

/// The jsonwebtoken checks for tokens of `config` signed with `alg`: that one algorithm, the
/// issuer, the audiences (when configured), `exp` and `iss` required, `nbf` checked, the leeway.
fn validation(config: &IssuerConfig, alg: Algorithm) -> Validation {
    let mut validation = Validation::new(jsonwebtoken_algorithm(alg));
    validation.set_issuer(&[&config.issuer]);
    let mut required = vec!["exp", "iss"];
    if config.audiences.is_empty() {
        validation.validate_aud = false;
    } else {
        validation.set_audience(&config.audiences);
        required.push("aud");
    }
    validation.set_required_spec_claims(&required);
    validation.validate_nbf = true;
    validation.leeway = config.leeway.as_secs();
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

/// Verifies bearer tokens of all configured issuers.
pub struct Verifier {
    issuers: Vec<IssuerVerifier>,
    cache: TokenCache,
    metrics: Metrics,
    /// The background refresh tasks, stopped when the verifier is dropped.
    refresh_tasks: Mutex<Vec<tokio::task::AbortHandle>>,
}

impl Verifier {
    /// The key store of the issuer named `name` (the login flow checks ID and logout tokens with
    /// it, so the provider's keys are fetched and refreshed once).
    pub fn key_store(&self, name: &str) -> Option<Arc<KeyStore>> {
        self.issuers
            .iter()
            .find(|issuer| &*issuer.name == name)
            .map(|issuer| issuer.keys.clone())
    }

    /// Builds the verifier; keys are not fetched yet.
    pub fn new(issuers: &[IssuerConfig], http: reqwest::Client, metrics: Metrics) -> Verifier {
        install_crypto_provider();
        Verifier {
            issuers: issuers
                .iter()
                .map(|config| IssuerVerifier::new(config, http.clone(), metrics.clone()))
                .collect(),
            cache: TokenCache::new(DEFAULT_CACHE_MEMORY),
            metrics,
            refresh_tasks: Mutex::new(Vec::new()),
        }
    }

    /// Bounds the verified-token cache by `bytes` (`server.token_cache_memory`) instead of
    /// [`DEFAULT_CACHE_MEMORY`]; call it before the first verification.
    pub fn with_cache_memory(mut self, bytes: u64) -> Verifier {
        self.cache = TokenCache::new(bytes);
        self
    }

    /// Loads every issuer's keys once (discovery, `jwks_uri` or `jwks_file`); failures are logged
    /// and counted, not returned.
    pub async fn load_keys(&self) {
        for issuer in &self.issuers {
            let _ = issuer.keys.load().await;
        }
    }

    /// Starts the background tasks that load and refresh every issuer's keys.
    pub fn spawn_refresh(self: &Arc<Self>) {
        let mut tasks = self
            .refresh_tasks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for issuer in &self.issuers {
            tasks.push(tokio::spawn(issuer.keys.clone().keep_fresh()).abort_handle());
        }
    }

    /// True once every issuer has a key set.
    pub fn is_ready(&self) -> bool {
        self.issuers.iter().all(|issuer| issuer.keys.is_ready())
    }

    /// Verifies `token` and returns the identity it carries.
    pub async fn verify(&self, token: &str) -> Result<Arc<Identity>, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::Malformed("token longer than 16 KiB".into()));
        }
        let key = TokenCache::key(token);
        if let Some(identity) = self.cache.get(&key, unix_now()).await {
            self.metrics.token_cache_hits_total.inc();
            return Ok(identity);
        }
        self.metrics.token_cache_misses_total.inc();
        let identity = Arc::new(self.verify_uncached(token).await?);
        self.cache.insert(key, identity.clone(), unix_now()).await;
        Ok(identity)
    }

    /// Forgets every cached verification (benchmarks and tests of the uncached path).
    pub fn clear_cache(&self) {
        self.cache.clear();
    }

    /// Every check of the contract, without the cache.
    async fn verify_uncached(&self, token: &str) -> Result<Identity, TokenError> {
        let unverified = token::parse(token)?;
        let iss = unverified
            .claims
            .get("iss")
            .and_then(|iss| iss.as_str())
            .ok_or_else(|| invalid("token has no iss"))?;
        let issuer = self
            .issuers
            .iter()
            .find(|i| i.config.issuer == iss)
            .ok_or_else(|| invalid("unknown issuer"))?;
        let validation = issuer
            .validations
            .get(&unverified.alg)
            .ok_or_else(|| invalid("alg not allowed for issuer"))?;
        let set = issuer
            .key_set_with(&unverified.kid)
            .await
            .ok_or_else(|| invalid("unknown kid"))?;
        let key = set.get(&unverified.kid).ok_or_else(|| invalid("unknown kid"))?;
        if !key.algorithms.contains(&unverified.alg) {
            return Err(invalid("alg does not match the key"));
        }
        jsonwebtoken::decode::<IgnoredAny>(token, &key.key, validation).map_err(|e| describe(&e))?;
        let expires_at = identity::expiry(&unverified.claims)?;
        issuer
            .claims
            .identity(&unverified.claims, &unverified.payload_text, expires_at)
            .map_err(TokenError::Invalid)
    }
}

impl Drop for Verifier {
    fn drop(&mut self) {
        let tasks = self
            .refresh_tasks
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        tasks.iter().for_each(tokio::task::AbortHandle::abort);
    }
}
