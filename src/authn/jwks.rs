//! Each issuer's key set: fetched (discovery, `jwks_uri`) or read (`jwks_file`), indexed by
//! `kid`, refreshed in the background, refetched on an unknown `kid` at most once per 10 s.
//!
//! Readers only ever load an `Arc<KeySet>` from an [`ArcSwapOption`]: a refresh builds the new
//! set off the hot path and swaps it in. A failed load keeps the last good set.

mod fetch;
mod keyset;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;

pub use fetch::{KeySource, max_age};
pub use keyset::{KeySet, VerifyingKey, algorithm_named, jsonwebtoken_algorithm};

use crate::config::{Algorithm, IssuerConfig};
use crate::metrics::Metrics;

/// An unknown `kid` refetches an issuer's keys at most once per this period.
pub const KID_MISS_COOLDOWN: Duration = Duration::from_secs(10);
/// Refresh period when the JWKS answer has no `Cache-Control: max-age`.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(5 * 60);
/// `max-age` is clamped to at least this.
pub const MIN_REFRESH: Duration = Duration::from_secs(60);
/// `max-age` is clamped to at most this.
pub const MAX_REFRESH: Duration = Duration::from_secs(24 * 60 * 60);
/// First retry delay after a failed load; doubles up to [`MAX_RETRY`].
pub const FIRST_RETRY: Duration = Duration::from_secs(1);
/// Longest retry delay after failed loads.
pub const MAX_RETRY: Duration = Duration::from_secs(30);

/// The HTTP client for JWKS and discovery: 5 s connect and total timeouts, and no redirects
/// (a redirect is an easy way to turn a key fetch into a request to somewhere else).
///
/// # Panics
/// When the TLS backend cannot be initialised, which does not depend on any input.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("portcullis/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the HTTP client (rustls with aws-lc-rs) can be built")
}

/// How long to wait before the next load, given how the last ones went.
///
/// After a success: the server's `max-age` clamped to [1 min, 1 day], 5 min without one.
/// After `failures` failures in a row: 1 s doubling up to 30 s.
pub fn next_load_in(outcome: Result<Option<Duration>, u32>) -> Duration {
    match outcome {
        Ok(max_age) => max_age.unwrap_or(DEFAULT_REFRESH).clamp(MIN_REFRESH, MAX_REFRESH),
        Err(failures) => {
            let doublings = failures.saturating_sub(1).min(5);
            (FIRST_RETRY * 2u32.pow(doublings)).min(MAX_RETRY)
        }
    }
}

/// The keys of one issuer and everything needed to reload them.
pub struct KeyStore {
    /// The `name` of the `[[issuers]]` block (metric label, log field).
    name: String,
    source: KeySource,
    /// The issuer's algorithm allow-list, applied to every key at parse time.
    allowed: Vec<Algorithm>,
    http: reqwest::Client,
    metrics: Metrics,
    current: ArcSwapOption<KeySet>,
    /// When the last unknown-`kid` refetch started; the lock makes that refetch single-flight.
    last_kid_miss: tokio::sync::Mutex<Option<Instant>>,
}

impl KeyStore {
    /// A store for the issuer's keys; nothing is loaded yet.
    pub fn new(config: &IssuerConfig, http: reqwest::Client, metrics: Metrics) -> KeyStore {
        KeyStore {
            name: config.name.clone(),
            source: KeySource::of(config),
            allowed: config.algorithms.clone(),
            http,
            metrics,
            current: ArcSwapOption::empty(),
            last_kid_miss: tokio::sync::Mutex::new(None),
        }
    }

    /// The current key set, if one was ever loaded. Lock-free.
    pub fn keys(&self) -> Option<Arc<KeySet>> {
        self.current.load_full()
    }

    /// True once a key set was loaded.
    pub fn is_ready(&self) -> bool {
        self.current.load().is_some()
    }

    /// Loads the keys once and swaps them in; on failure the last good set stays. Counts the
    /// attempt in `portcullis_jwks_fetch_total` and logs a failure. Returns the server's `max-age`.
    pub async fn load(&self) -> Result<Option<Duration>, String> {
        let result = self.fetch_and_parse().await;
        let label = if result.is_ok() { "ok" } else { "error" };
        self.metrics
            .jwks_fetch_total
            .with_label_values(&[self.name.as_str(), label])
            .inc();
        match result {
            Ok((set, max_age)) => {
                tracing::debug!(issuer = %self.name, keys = set.len(), "loaded JWKS");
                self.current.store(Some(Arc::new(set)));
                Ok(max_age)
            }
            Err(reason) => {
                let source = self.source.to_string();
                if self.is_ready() {
                    tracing::warn!(issuer = %self.name, %source, %reason, "JWKS load failed; keeping the last good keys");
                } else {
                    tracing::error!(
                        issuer = %self.name,
                        %source,
                        %reason,
                        "JWKS load failed and no keys were loaded yet: not ready (/readyz 503), tokens of this issuer are refused; retrying"
                    );
                }
                Err(reason)
            }
        }
    }

    async fn fetch_and_parse(&self) -> Result<(KeySet, Option<Duration>), String> {
        let fetched = self.source.load(&self.http).await?;
        let set = KeySet::parse(&fetched.body, &self.allowed)?;
        Ok((set, fetched.max_age))
    }

    /// The key set holding `kid`: the current one, else the set after
    /// [`KeyStore::refetch_for_unknown_kid`]; `None` when no set has it. The one key lookup of
    /// every signed token (bearer, ID and logout tokens).
    pub async fn key_set_holding(&self, kid: &str) -> Option<Arc<KeySet>> {
        if let Some(set) = self.keys().filter(|set| set.get(kid).is_some()) {
            return Some(set);
        }
        tracing::debug!(issuer = %self.name, "unknown kid; asking for a refetch");
        self.refetch_for_unknown_kid(kid)
            .await
            .filter(|set| set.get(kid).is_some())
    }

    /// The key set after an unknown `kid`: refetched when no refetch of this issuer started in
    /// the last [`KID_MISS_COOLDOWN`], shared by every request waiting here (single flight).
    pub async fn refetch_for_unknown_kid(&self, kid: &str) -> Option<Arc<KeySet>> {
        if !self.source.is_remote() {
            return self.keys();
        }
        let mut last = self.last_kid_miss.lock().await;
        // Whoever held the lock before may already have fetched the key we need.
        if let Some(set) = self.keys().filter(|set| set.get(kid).is_some()) {
            return Some(set);
        }
        if last.is_some_and(|at| at.elapsed() < KID_MISS_COOLDOWN) {
            return self.keys();
        }
        *last = Some(Instant::now());
        // A failure is already counted and logged; the old set is what we have.
        let _ = self.load().await;
        self.keys()
    }

    /// Loads the keys until the first success, then keeps them fresh: the background task of
    /// one issuer. A file source is read once and never again.
    pub async fn keep_fresh(self: Arc<Self>) {
        let mut failures = 0u32;
        loop {
            let outcome = match self.load().await {
                Ok(max_age) => {
                    failures = 0;
                    Ok(max_age)
                }
                Err(_) => {
                    failures = failures.saturating_add(1);
                    Err(failures)
                }
            };
            if outcome.is_ok() && !self.source.is_remote() {
                return;
            }
            tokio::time::sleep(next_load_in(outcome)).await;
        }
    }
}
