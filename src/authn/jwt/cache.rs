//! Verified identities by the SHA-256 of their token, each kept no longer than its `exp`.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use moka::Expiry;
use moka::future::Cache;
use sha2::{Digest, Sha256};

use crate::authn::Identity;

/// At most this many verified tokens are cached.
pub const CACHE_CAPACITY: u64 = 200_000;

/// The cache key of a token: its SHA-256, so the cache never holds a token.
pub type TokenKey = [u8; 32];

/// A cache of verified identities; only successes go in.
pub struct TokenCache {
    cache: Cache<TokenKey, Arc<Identity>>,
}

/// The longest a verified token stays cached (a far-future `exp` is re-verified daily).
pub const MAX_ENTRY_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// Expires each entry at its identity's `expires_at`, or after [`MAX_ENTRY_LIFETIME`].
struct UntilExp;

impl Expiry<TokenKey, Arc<Identity>> for UntilExp {
    fn expire_after_create(&self, _: &TokenKey, identity: &Arc<Identity>, _: Instant) -> Option<Duration> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        // Saturating and capped: a signed token may carry `exp` = u64::MAX, and instant
        // arithmetic that far out overflows (a panic, not a 401).
        let remaining = identity
            .expires_at
            .saturating_sub(now)
            .min(MAX_ENTRY_LIFETIME.as_secs());
        Some(Duration::from_secs(remaining))
    }
}

impl TokenCache {
    /// An empty cache holding at most `capacity` identities.
    pub fn new(capacity: u64) -> TokenCache {
        TokenCache {
            cache: Cache::builder().max_capacity(capacity).expire_after(UntilExp).build(),
        }
    }

    /// The key of `token`.
    pub fn key(token: &str) -> TokenKey {
        Sha256::digest(token.as_bytes()).into()
    }

    /// The cached identity, unless it expired at or before `now` (moka's expiry is lazy).
    pub async fn get(&self, key: &TokenKey, now: u64) -> Option<Arc<Identity>> {
        self.cache.get(key).await.filter(|identity| identity.expires_at > now)
    }

    /// Caches `identity` until its `expires_at`, unless that is already past.
    pub async fn insert(&self, key: TokenKey, identity: Arc<Identity>, now: u64) {
        if identity.expires_at > now {
            self.cache.insert(key, identity).await;
        }
    }

    /// Forgets every cached identity.
    pub fn clear(&self) {
        self.cache.invalidate_all();
    }
}

/// The current Unix time in seconds.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
