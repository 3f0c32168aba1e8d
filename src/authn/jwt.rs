//! Bearer JWT verification: picks the issuer by `iss`, checks the token with that issuer's
//! [`JwsVerifier`] (the signed-token core), builds the [`Identity`] and caches it by the
//! token's SHA-256 until `exp`.
//!
//! The order of checks: size, shape and header ([`jws::parse`]), issuer by the unverified `iss`,
//! then the core's algorithm, key, signature and time checks, then the identity.

mod cache;
mod identity;
mod recent;
#[cfg(test)]
pub(crate) mod tests;

use std::sync::{Arc, Mutex};

pub use super::jws::{MAX_TOKEN_BYTES, TokenError, install_crypto_provider};
pub use cache::{DEFAULT_CACHE_MEMORY, TokenCache, TokenKey, entry_weight, unix_now};

use super::Identity;
use super::claims::ClaimMapper;
use super::jwks::KeyStore;
use super::jws::{self, JwsVerifier, TokenUse};
use crate::config::IssuerConfig;
use crate::metrics::Metrics;

fn invalid(reason: &str) -> TokenError {
    TokenError::Invalid(reason.into())
}

/// One configured issuer: its settings, its bearer-token verifier and its claim names.
struct IssuerVerifier {
    name: Arc<str>,
    config: IssuerConfig,
    tokens: JwsVerifier,
    claims: ClaimMapper,
}

impl IssuerVerifier {
    fn new(config: &IssuerConfig, http: reqwest::Client, metrics: Metrics) -> IssuerVerifier {
        let keys = Arc::new(KeyStore::new(config, http, metrics));
        IssuerVerifier {
            name: config.name.as_str().into(),
            config: config.clone(),
            tokens: JwsVerifier::new(TokenUse::Bearer, config, &config.audiences, keys),
            claims: ClaimMapper::new(config),
        }
    }
}

/// Verifies bearer tokens of all configured issuers.
pub struct Verifier {
    issuers: Vec<IssuerVerifier>,
    cache: TokenCache,
    /// Opaque tokens, when an issuer has `[issuers.introspection]`.
    introspector: Option<super::introspection::Introspector>,
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
            .map(|issuer| issuer.tokens.keys().clone())
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
            introspector: super::introspection::Introspector::new(issuers, http, metrics.clone()),
            metrics,
            refresh_tasks: Mutex::new(Vec::new()),
        }
    }

    /// Bounds the verified-token cache by `bytes` (`server.token_cache_memory`) instead of
    /// [`DEFAULT_CACHE_MEMORY`]; call it before the first verification.
    pub fn with_cache_memory(mut self, bytes: u64) -> Verifier {
        self.cache = TokenCache::new(bytes);
        self.introspector = self
            .introspector
            .take()
            .map(|introspector| introspector.with_cache_memory(bytes));
        self
    }

    /// The introspection of opaque tokens, when an issuer has `[issuers.introspection]`.
    pub fn introspector(&self) -> Option<&super::introspection::Introspector> {
        self.introspector.as_ref()
    }

    /// Loads every issuer's keys once (discovery, `jwks_uri` or `jwks_file`); failures are logged
    /// and counted, not returned.
    pub async fn load_keys(&self) {
        for issuer in &self.issuers {
            let _ = issuer.tokens.keys().load().await;
        }
    }

    /// Starts the background tasks that load and refresh every issuer's keys, and the token
    /// cache's housekeeping.
    pub fn spawn_refresh(self: &Arc<Self>) {
        let mut tasks = self
            .refresh_tasks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for issuer in &self.issuers {
            tasks.push(tokio::spawn(issuer.tokens.keys().clone().keep_fresh()).abort_handle());
        }
        tasks.push(tokio::spawn(housekeeping(Arc::downgrade(self))).abort_handle());
    }

    /// True once every issuer has a key set.
    pub fn is_ready(&self) -> bool {
        self.issuers.iter().all(|issuer| issuer.tokens.keys().is_ready())
    }

    /// The identity of `token` if it was verified before and is still cached; no check runs,
    /// and a token not cached is not counted as a miss ([`Verifier::verify`] does that).
    pub async fn cached(&self, token: &[u8]) -> Option<Arc<Identity>> {
        if token.len() > MAX_TOKEN_BYTES {
            return None;
        }
        self.cache_hit(token).await
    }

    /// The identity of `token` if this thread found it in the cache lately (see
    /// [`Verifier::cached`]), counted as a hit: it hashes nothing, so it may be asked of any
    /// token, a JWT or not.
    pub fn recently_cached(&self, token: &[u8]) -> Option<Arc<Identity>> {
        let identity = self.cache.recent(token, unix_now())?;
        self.metrics.token_cache_hits_total.inc();
        Some(identity)
    }

    /// The cached identity of `token`, counted as a hit.
    async fn cache_hit(&self, token: &[u8]) -> Option<Arc<Identity>> {
        let identity = self.cache.get(token, unix_now()).await?;
        self.metrics.token_cache_hits_total.inc();
        Some(identity)
    }

    /// Verifies `token` and returns the identity it carries.
    pub async fn verify(&self, token: &str) -> Result<Arc<Identity>, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::Malformed("token longer than 16 KiB".into()));
        }
        if let Some(identity) = self.cache_hit(token.as_bytes()).await {
            return Ok(identity);
        }
        self.metrics.token_cache_misses_total.inc();
        // Boxed: the uncached path's future (key fetches) is large; unboxed, every cache hit
        // would build and copy it.
        let identity = Arc::new(Box::pin(self.verify_uncached(token)).await?);
        self.cache.insert(token, identity.clone(), unix_now()).await;
        Ok(identity)
    }

    /// Forgets every cached verification (benchmarks and tests of the uncached path).
    pub fn clear_cache(&self) {
        self.cache.clear();
    }

    /// Every check of the contract, without the cache.
    async fn verify_uncached(&self, token: &str) -> Result<Identity, TokenError> {
        let unverified = jws::parse(token, TokenUse::Bearer)?;
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
        let verified = issuer.tokens.verify_parsed(token, unverified).await?;
        let expires_at = identity::expiry(&verified.claims)?;
        issuer
            .claims
            .identity(&verified.claims, &verified.payload_text, expires_at)
            .map_err(TokenError::Invalid)
    }
}

/// Applies the token cache's evictions and expiries every second. The cache applies them
/// when it is used, but a token sent again is mostly served by the threads' recent tokens
/// without using it, and those serve an entry only until the cache lets it go.
async fn housekeeping(verifier: std::sync::Weak<Verifier>) {
    let mut ticks = tokio::time::interval(cache::HOUSEKEEPING);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(verifier) = verifier.upgrade() else { return };
        verifier.cache.housekeep().await;
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
