//! Verified identities by the SHA-256 of their token, each kept no longer than its `exp`, all
//! of them within a memory budget (`server.token_cache_memory`).
//!
//! The budget counts bytes, not entries: each entry weighs what it really holds (the key, the
//! identity's strings and lists, the claims' JSON text) plus a fixed overhead for the cache's own
//! bookkeeping, so large tokens cannot grow the process past the budget. The weight is computed
//! once, on insert; a cache hit does not pay for it.
//!
//! In front of it, each thread keeps the last tokens it found in it ([`super::recent`]): a
//! token sent again is served from there without being hashed, for as long as the cache holds
//! its entry (an evicted entry is marked, and a thread that finds the mark asks the cache
//! again). Since those hits do not use the cache, its evictions and expiries are also applied
//! every [`HOUSEKEEPING`] by the verifier's background task.

use std::hash::{BuildHasher, Hasher};
use std::mem::size_of;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use moka::Expiry;
use moka::future::Cache;
use sha2::{Digest, Sha256};

use super::recent;
use crate::authn::Identity;
use crate::memo::next_owner;

/// The default memory budget of the cache: 64 MiB.
pub const DEFAULT_CACHE_MEMORY: u64 = 64 * 1024 * 1024;

/// The cache key of a token: its SHA-256, so the cache never holds a token.
pub type TokenKey = [u8; 32];

/// What one entry costs beyond the key and the identity: moka's own blocks (the `Arc`ed key
/// and value entry, deque and timer-wheel nodes, the hash-table slot). Measured with
/// `benches/jwt.rs`: about 260 bytes requested per entry in about seven blocks, so about 320
/// with the allocator's headers.
pub const ENTRY_OVERHEAD: usize = 320;

/// What the allocator adds to each heap block (glibc malloc: an 8-byte header, 16-byte rounding).
const PER_ALLOCATION: usize = 16;

/// A cache of verified identities; only successes go in.
pub struct TokenCache {
    cache: Cache<TokenKey, Arc<Entry>, DigestBits>,
    /// This cache's entries among the threads' recent tokens; a new one when it is cleared.
    generation: AtomicU64,
}

/// Hashes a [`TokenKey`] by its own first bytes instead of hashing it again: it is a SHA-256,
/// uniform already, and only verified tokens are inserted, so no one can choose keys that crowd
/// a part of the table (the reason maps hash with a secret key).
#[derive(Clone, Copy, Default)]
pub struct DigestBits;

impl BuildHasher for DigestBits {
    type Hasher = DigestBitsHasher;

    fn build_hasher(&self) -> DigestBitsHasher {
        DigestBitsHasher(0)
    }
}

/// The hasher of [`DigestBits`]: the first eight bytes of what it is given (and the length
/// prefix of the key's slice, a constant).
pub struct DigestBitsHasher(u64);

impl Hasher for DigestBitsHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut word = [0u8; 8];
        let n = bytes.len().min(8);
        word[..n].copy_from_slice(&bytes[..n]);
        self.0 = self.0.rotate_left(17) ^ u64::from_le_bytes(word);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// One cached identity, and whether the cache has let it go (evicted, expired, replaced or
/// cleared): the threads' recent tokens serve an entry only while the cache holds it, so the
/// budget and the expiry decide for them too.
pub struct Entry {
    /// The verified identity.
    pub identity: Arc<Identity>,
    evicted: AtomicBool,
}

impl Entry {
    /// A new entry, held.
    pub(super) fn new(identity: Arc<Identity>) -> Arc<Entry> {
        Arc::new(Entry {
            identity,
            evicted: AtomicBool::new(false),
        })
    }

    /// Marks the entry as let go by the cache.
    pub(super) fn let_go(&self) {
        self.evicted.store(true, Ordering::Release);
    }

    /// True while the cache holds this entry.
    pub fn is_held(&self) -> bool {
        !self.evicted.load(Ordering::Acquire)
    }
}

/// What an [`Entry`] adds to its identity's [`entry_weight`]: its own heap block.
const ENTRY_BLOCK: usize = 2 * size_of::<usize>() + size_of::<Entry>() + PER_ALLOCATION;

/// How often the verifier's background task applies the cache's pending evictions and expiries.
pub const HOUSEKEEPING: Duration = Duration::from_secs(1);

/// The longest a verified token stays cached (a far-future `exp` is re-verified daily).
pub const MAX_ENTRY_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// Expires each entry at its identity's `expires_at`, or after [`MAX_ENTRY_LIFETIME`].
struct UntilExp;

impl Expiry<TokenKey, Arc<Entry>> for UntilExp {
    fn expire_after_create(&self, _: &TokenKey, entry: &Arc<Entry>, _: Instant) -> Option<Duration> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        // Saturating and capped: a signed token may carry `exp` = u64::MAX, and instant
        // arithmetic that far out overflows (a panic, not a 401).
        let remaining = entry
            .identity
            .expires_at
            .saturating_sub(now)
            .min(MAX_ENTRY_LIFETIME.as_secs());
        Some(Duration::from_secs(remaining))
    }
}

/// The bytes one cached entry holds: the key, the identity (in its `Arc`) and everything it
/// owns on the heap, plus [`ENTRY_OVERHEAD`]. The issuer name is shared by all identities of an
/// issuer and is not counted.
pub fn entry_weight(identity: &Identity) -> u32 {
    let arc = 2 * size_of::<usize>() + size_of::<Identity>() + PER_ALLOCATION;
    let bytes = ENTRY_OVERHEAD
        + size_of::<TokenKey>()
        + arc
        + string(&identity.user)
        + identity.email.as_ref().map_or(0, string)
        + list(&identity.groups)
        + identity.preferred_username.as_ref().map_or(0, string)
        + list(&identity.scopes)
        + identity.claims.heap_bytes(PER_ALLOCATION);
    u32::try_from(bytes).unwrap_or(u32::MAX)
}

/// The weight of a cached [`Entry`]: its identity's and its own block.
fn weight(entry: &Entry) -> u32 {
    entry_weight(&entry.identity).saturating_add(ENTRY_BLOCK as u32)
}

/// A heap block of `bytes` (nothing when empty: no allocation is made).
fn block(bytes: usize) -> usize {
    if bytes == 0 { 0 } else { bytes + PER_ALLOCATION }
}

fn string(text: &String) -> usize {
    block(text.capacity())
}

fn list(items: &Vec<String>) -> usize {
    block(items.capacity() * size_of::<String>()) + items.iter().map(string).sum::<usize>()
}

impl TokenCache {
    /// An empty cache whose entries weigh at most `budget` bytes in all.
    pub fn new(budget: u64) -> TokenCache {
        TokenCache {
            cache: Cache::builder()
                .max_capacity(budget)
                .weigher(|_: &TokenKey, entry: &Arc<Entry>| weight(entry))
                .expire_after(UntilExp)
                .eviction_listener(|_, entry: Arc<Entry>, _| entry.let_go())
                .build_with_hasher(DigestBits),
            generation: AtomicU64::new(next_owner()),
        }
    }

    /// The key of `token`.
    pub fn key(token: impl AsRef<[u8]>) -> TokenKey {
        Sha256::digest(token.as_ref()).into()
    }

    /// The cached identity of `token`, unless it expired at or before `now`: this thread's
    /// recent tokens first, then the cache by the token's key.
    pub async fn get(&self, token: impl AsRef<[u8]>, now: u64) -> Option<Arc<Identity>> {
        let token = token.as_ref();
        if let Some(identity) = self.recent(token, now) {
            return Some(identity);
        }
        let generation = self.generation.load(Ordering::Acquire);
        let entry = self.by_key(&TokenCache::key(token), now).await?;
        recent::keep(generation, token, &entry);
        Some(entry.identity.clone())
    }

    /// The cached identity of `token` among this thread's recent tokens only, unless it expired
    /// at or before `now`: no hash of the token, no lookup in the cache.
    pub fn recent(&self, token: impl AsRef<[u8]>, now: u64) -> Option<Arc<Identity>> {
        recent::find(self.generation.load(Ordering::Acquire), token, now)
    }

    /// The entry cached under `key`, unless it expired at or before `now` (moka's expiry is
    /// lazy).
    async fn by_key(&self, key: &TokenKey, now: u64) -> Option<Arc<Entry>> {
        self.cache
            .get(key)
            .await
            .filter(|entry| entry.identity.expires_at > now)
    }

    /// Caches `identity` for `token` until its `expires_at`, unless that is already past.
    pub async fn insert(&self, token: &str, identity: Arc<Identity>, now: u64) {
        // Not among the thread's recent tokens yet: only once the cache has admitted it (a
        // later hit), so an entry the budget rejects is never served from there.
        if identity.expires_at > now {
            self.insert_key(TokenCache::key(token), identity).await;
        }
    }

    async fn insert_key(&self, key: TokenKey, identity: Arc<Identity>) {
        // Made once here for every request that shares the identity (per-thread memos look
        // it up).
        identity.digest();
        self.cache.insert(key, Entry::new(identity)).await;
    }

    /// Forgets every cached identity, here and among the threads' recent tokens.
    pub fn clear(&self) {
        self.generation.store(next_owner(), Ordering::Release);
        self.cache.invalidate_all();
    }

    /// Applies the pending evictions and expiries now.
    pub async fn housekeep(&self) {
        self.cache.run_pending_tasks().await;
    }

    /// The summed weight of the cached entries, in bytes (after pending evictions have run).
    pub async fn weighed_bytes(&self) -> u64 {
        self.housekeep().await;
        self.cache.weighted_size()
    }
}

/// The current Unix time in seconds.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authn::Claims;

    /// An identity whose claims text is `claims_bytes` long, with `groups` groups of 16 bytes.
    fn identity(claims_bytes: usize, groups: usize) -> Identity {
        let padding = "x".repeat(claims_bytes.saturating_sub(12));
        Identity {
            issuer: "main".into(),
            user: "alice".into(),
            email: Some("alice@example.com".into()),
            groups: (0..groups).map(|i| format!("group-{i:010}")).collect(),
            preferred_username: None,
            scopes: Vec::new(),
            claims: Claims::from_json(&format!(r#"{{"pad":"{padding}"}}"#)),
            expires_at: unix_now() + 3600,
            digest: Default::default(),
        }
    }

    #[tokio::test]
    async fn a_cached_identity_is_never_served_at_or_after_its_expiry() {
        // The clock is the `now` each call is given, not a sleep. (moka's own expiry, at the
        // real `exp`, is only housekeeping: it is a minute away here.)
        let base = unix_now();
        let cache = TokenCache::new(DEFAULT_CACHE_MEMORY);
        let identity = Arc::new(Identity {
            expires_at: base + 60,
            ..identity(100, 1)
        });
        cache.insert("token", identity.clone(), base).await;
        assert_eq!(cache.get("token", base + 59).await, Some(identity.clone()));
        assert_eq!(cache.get("token", base + 60).await, None, "not at exp");
        assert_eq!(cache.get("token", base + 3_600).await, None, "not after exp");
        // The same, found by the key alone (not among this thread's recent tokens).
        let key = TokenCache::key("token");
        let held = cache.by_key(&key, base + 59).await.expect("held");
        assert_eq!(held.identity, identity);
        assert!(cache.by_key(&key, base + 60).await.is_none(), "not at exp");
        let late = TokenCache::new(DEFAULT_CACHE_MEMORY);
        late.insert("token", identity, base + 60).await;
        assert_eq!(
            late.get("token", base).await,
            None,
            "an expired identity is never cached"
        );
        assert!(late.by_key(&key, base).await.is_none());
    }

    /// Keys hash by their first bytes, so keys that share them share a hash: the cache still
    /// tells them apart by the whole key.
    #[tokio::test]
    async fn keys_that_share_their_hash_stay_apart() {
        let now = unix_now();
        let cache = TokenCache::new(DEFAULT_CACHE_MEMORY);
        let first = TokenCache::key("first");
        let mut second = first;
        second[31] ^= 1;
        let hash = |key: &TokenKey| DigestBits.hash_one(key);
        assert_eq!(hash(&first), hash(&second));
        assert_ne!(hash(&first), hash(&TokenCache::key("third")));
        let alice = Arc::new(identity(100, 1));
        let bob = Arc::new(Identity {
            user: "bob".into(),
            ..identity(100, 1)
        });
        cache.insert_key(first, alice.clone()).await;
        assert!(cache.by_key(&second, now).await.is_none());
        cache.insert_key(second, bob.clone()).await;
        assert_eq!(cache.by_key(&first, now).await.expect("first").identity, alice);
        assert_eq!(cache.by_key(&second, now).await.expect("second").identity, bob);
    }

    #[test]
    fn an_entry_weighs_its_claims_text_strings_and_lists() {
        let small = identity(100, 0);
        let base = ENTRY_OVERHEAD + 32 + 16 + size_of::<Identity>() + PER_ALLOCATION;
        let strings = (5 + 16) + (17 + 16);
        assert_eq!(
            entry_weight(&small) as usize,
            base + strings + small.claims.json_len() + 16
        );

        let large = identity(8 * 1024, 0);
        let grown = entry_weight(&large) - entry_weight(&small);
        assert_eq!(grown as usize, large.claims.json_len() - small.claims.json_len());

        let grouped = identity(100, 10);
        let texts: usize = grouped.groups.iter().map(|g| g.capacity() + PER_ALLOCATION).sum();
        let vec = 10 * size_of::<String>() + PER_ALLOCATION;
        assert_eq!((entry_weight(&grouped) - entry_weight(&small)) as usize, vec + texts);
    }

    #[tokio::test]
    async fn many_large_tokens_stay_within_the_budget() {
        let budget = 1024 * 1024;
        let cache = TokenCache::new(budget);
        let now = unix_now();
        let mut inserted_bytes = 0u64;
        for i in 0..1000u32 {
            let entry = Arc::new(identity(8 * 1024, 3));
            inserted_bytes += u64::from(entry_weight(&entry));
            cache.insert(&i.to_string(), entry, now).await;
        }
        assert!(
            inserted_bytes > 5 * budget,
            "the test fills the cache well past its budget"
        );
        cache.cache.run_pending_tasks().await;
        let held: u64 = cache.cache.iter().map(|(_, entry)| u64::from(weight(&entry))).sum();
        assert!(held <= budget, "{held} bytes held, budget {budget}");
        assert_eq!(held, cache.weighed_bytes().await);
        // The last tokens are also among this thread's recent ones: those the cache let go are
        // not served from there either.
        for i in 0..1000u32 {
            let token = i.to_string();
            let in_cache = cache.cache.contains_key(&TokenCache::key(&token));
            assert_eq!(cache.get(&token, now).await.is_some(), in_cache, "token {i}");
        }
        // Not empty either: the budget is used, about 8.5 KiB per entry.
        assert!(cache.cache.entry_count() >= 50, "{} entries", cache.cache.entry_count());
    }

    #[tokio::test]
    async fn a_cached_identity_is_found_again_by_its_token() {
        let cache = TokenCache::new(DEFAULT_CACHE_MEMORY);
        let entry = Arc::new(identity(100, 1));
        cache.insert("token", entry.clone(), unix_now()).await;
        let found = cache.get("token", unix_now()).await.expect("cached");
        assert!(Arc::ptr_eq(&found, &entry));
        let generation = cache.generation.load(Ordering::Acquire);
        assert!(
            recent::find(generation, "token", unix_now()).is_some(),
            "kept at the hit"
        );
        assert!(cache.get("other", unix_now()).await.is_none());
        // Another thread finds it in the cache, not among its recent tokens, and keeps it.
        let cache = Arc::new(cache);
        let elsewhere = cache.clone();
        let found = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
            runtime.block_on(async {
                let first = elsewhere.get("token", unix_now()).await;
                let again = recent::find(elsewhere.generation.load(Ordering::Acquire), "token", unix_now());
                (first, again)
            })
        })
        .join()
        .expect("thread");
        assert!(Arc::ptr_eq(&found.0.expect("from the cache"), &entry));
        assert!(Arc::ptr_eq(&found.1.expect("kept by that thread"), &entry));
    }

    #[tokio::test]
    async fn a_token_whose_entry_the_cache_let_go_is_not_served_from_the_recent_ones() {
        let cache = TokenCache::new(DEFAULT_CACHE_MEMORY);
        cache.insert("token", Arc::new(identity(100, 1)), unix_now()).await;
        assert!(cache.get("token", unix_now()).await.is_some());
        cache.cache.invalidate(&TokenCache::key("token")).await;
        assert!(cache.get("token", unix_now()).await.is_none());
    }

    #[tokio::test]
    async fn a_cleared_cache_serves_no_recent_token() {
        let cache = TokenCache::new(DEFAULT_CACHE_MEMORY);
        cache.insert("token", Arc::new(identity(100, 1)), unix_now()).await;
        assert!(cache.get("token", unix_now()).await.is_some());
        cache.clear();
        assert!(cache.get("token", unix_now()).await.is_none());
        // A new cache (a reloaded config) does not see the old one's tokens either.
        let old = TokenCache::new(DEFAULT_CACHE_MEMORY);
        old.insert("token", Arc::new(identity(100, 1)), unix_now()).await;
        let new = TokenCache::new(DEFAULT_CACHE_MEMORY);
        assert!(new.get("token", unix_now()).await.is_none());
    }
}
