//! Calls to remote services (introspection endpoints, session checks, authorizers): what every
//! such call shares. Answers come from the caller's cache when they can, else from one call
//! shared by concurrent askers. A body is read only up to a bound, and a failed call
//! is put in words that say whether it timed out, could not connect or failed later, with the
//! causes (a TLS reason such as an unknown issuer is a cause) and never the headers sent.
//!
//! Checks asked again and again with the same credential (introspection, a session check) put a
//! per-thread memo of their latest answers in front of their cache
//! ([`recent_cached_or_call`]): the shared cache's lookup and bookkeeping cost more than the
//! rest of such a decision. Each answer carries the instant it lapses ([`Kept`]), and neither
//! the memo nor the cache serves it after that. The memo's keys are the cache's: keyed hashes,
//! never a token or cookie. (An authorizer keeps its last question per identity instead, which
//! it compares without hashing: `authz::remote`.)

use std::cell::RefCell;
use std::sync::Arc;
use std::thread::LocalKey;
use std::time::{Duration, Instant};

use moka::future::Cache;

use crate::memo::{self, Memo};

/// How many answers of one kind each worker thread keeps.
const RECENT_ANSWERS: usize = 16;

/// A remote check's answer as its cache holds it, with the instant it lapses: caches built
/// with [`UntilLapse`] drop it then, and no memo serves it after.
#[derive(Debug, Clone)]
pub struct Kept<V> {
    /// The answer.
    pub answer: V,
    /// When it stops being used.
    pub until: Instant,
}

impl<V> Kept<V> {
    /// `answer`, used for `ttl` from now.
    pub fn lasting(answer: V, ttl: Duration) -> Kept<V> {
        let now = Instant::now();
        Kept {
            answer,
            until: now
                .checked_add(ttl)
                .unwrap_or(now + Duration::from_secs(365 * 24 * 3600)),
        }
    }

    /// Whether it has not lapsed yet: the one test every per-thread memo of answers applies.
    pub fn is_live(&self) -> bool {
        Instant::now() < self.until
    }
}

/// The expiry of a cache of [`Kept`] answers: each entry lapses at its answer's `until`.
pub struct UntilLapse;

impl<K, V> moka::Expiry<K, Kept<V>> for UntilLapse {
    fn expire_after_create(&self, _: &K, kept: &Kept<V>, created_at: Instant) -> Option<Duration> {
        Some(kept.until.saturating_duration_since(created_at))
    }
}

/// One kind of answer's per-thread memo, for a `thread_local` (one per answer type).
pub type Recent<V> = RefCell<Memo<Kept<V>, RECENT_ANSWERS>>;

/// An empty [`Recent`] memo (a `const` initialiser for `thread_local`).
pub const fn no_recent<V: Clone>() -> Recent<V> {
    RefCell::new(Memo::new())
}

/// [`cached_or_call`] behind this thread's memo of `owner`'s latest answers: an answer kept for
/// `key` and not lapsed is served without the cache; any other answer the cache or the call
/// gives is kept for the next request on this thread. `owner` is the check's
/// [`next_owner`](crate::memo::next_owner) number, so no other check reads its answers.
///
/// The way past the memo is boxed: this future stays small (the cache's and the call's futures
/// are large), so a caller that awaits it moves and keeps little on the hot path.
pub async fn recent_cached_or_call<V, E, F>(
    recent: &'static LocalKey<Recent<V>>,
    owner: u64,
    cache: &Cache<[u8; 32], Kept<V>>,
    key: [u8; 32],
    call: impl FnOnce() -> F,
) -> Result<V, Arc<E>>
where
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
    F: Future<Output = Result<Kept<V>, E>>,
{
    if let Some(answer) = memo::read(recent, owner, &key, |kept| kept.is_live().then(|| kept.answer.clone())) {
        return Ok(answer);
    }
    Box::pin(async move {
        let kept = cached_or_call(cache, key, call).await?;
        memo::keep(recent, owner, &key, kept.clone());
        Ok(kept.answer)
    })
    .await
}

/// The cached answer for `key`, else the one `call` makes (single flight: concurrent misses share
/// one call; errors are not cached). A hit does not even build the call's future (large: it holds
/// the HTTP client's), and a miss boxes it.
pub async fn cached_or_call<K, V, E, F>(cache: &Cache<K, V>, key: K, call: impl FnOnce() -> F) -> Result<V, Arc<E>>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
    F: Future<Output = Result<V, E>>,
{
    if let Some(answer) = cache.get(&key).await {
        return Ok(answer);
    }
    cache.try_get_with(key, Box::pin(call())).await
}

/// The body of `response`, refused when larger than `max` bytes.
pub async fn read_capped(mut response: reqwest::Response, max: usize) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| describe(&e))? {
        if body.len() + chunk.len() > max {
            return Err(format!("answer larger than {max} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A reqwest error in words: timed out, cannot connect, cannot read the answer, or request
/// failed, then reqwest's text (which names the URL) and its causes.
pub fn describe(error: &reqwest::Error) -> String {
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else if error.is_decode() || error.is_body() {
        "cannot read the answer"
    } else {
        "request failed"
    };
    let mut text = format!("{what}: {error}");
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests;
