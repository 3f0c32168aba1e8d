use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use moka::future::Cache;

use super::{Kept, Recent, UntilLapse, no_recent, recent_cached_or_call};
use crate::memo::next_owner;

thread_local! {
    static RECENT: Recent<u32> = const { no_recent() };
}

fn cache() -> Cache<[u8; 32], Kept<u32>> {
    Cache::builder().max_capacity(100).expire_after(UntilLapse).build()
}

/// Asks through the memo; a call answers `answer`, kept for `ttl`, and is counted in `calls`.
async fn ask(
    owner: u64,
    cache: &Cache<[u8; 32], Kept<u32>>,
    key: [u8; 32],
    calls: &AtomicUsize,
    ttl: Duration,
    answer: Result<u32, &'static str>,
) -> Result<u32, Arc<&'static str>> {
    recent_cached_or_call(&RECENT, owner, cache, key, || async move {
        calls.fetch_add(1, Ordering::SeqCst);
        answer.map(|answer| Kept::lasting(answer, ttl))
    })
    .await
}

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn a_kept_answer_serves_this_thread_for_its_owner_and_key_only() {
    let (cache, calls, owner, key) = (cache(), AtomicUsize::new(0), next_owner(), [3u8; 32]);
    assert_eq!(ask(owner, &cache, key, &calls, HOUR, Ok(7)).await, Ok(7));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // Gone from the shared cache, the answer is still this thread's latest.
    cache.invalidate(&key).await;
    assert_eq!(ask(owner, &cache, key, &calls, HOUR, Ok(8)).await, Ok(7));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // Another check, or another key, is not answered from it.
    assert_eq!(ask(next_owner(), &cache, key, &calls, HOUR, Ok(9)).await, Ok(9));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let mut other = key;
    other[9] = 4;
    assert_eq!(ask(owner, &cache, other, &calls, HOUR, Ok(10)).await, Ok(10));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    // Another thread has its own memo.
    cache.invalidate_all();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
            let answer = runtime.block_on(ask(owner, &cache, key, &calls, HOUR, Ok(11)));
            assert_eq!(answer, Ok(11));
        });
    });
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    // And a cache hit becomes this thread's latest again.
    assert_eq!(ask(owner, &cache, key, &calls, HOUR, Ok(12)).await, Ok(11));
    cache.invalidate(&key).await;
    assert_eq!(ask(owner, &cache, key, &calls, HOUR, Ok(12)).await, Ok(11));
    assert_eq!(calls.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn a_lapsed_answer_is_served_by_neither_the_memo_nor_the_cache() {
    let (cache, calls, owner, key) = (cache(), AtomicUsize::new(0), next_owner(), [5u8; 32]);
    assert_eq!(ask(owner, &cache, key, &calls, Duration::ZERO, Ok(1)).await, Ok(1));
    assert_eq!(ask(owner, &cache, key, &calls, Duration::ZERO, Ok(2)).await, Ok(2));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(cache.get(&key).await.map(|kept| kept.answer), None);
    // One that lapses a moment from now serves until then, not after.
    assert_eq!(
        ask(owner, &cache, key, &calls, Duration::from_millis(50), Ok(3)).await,
        Ok(3)
    );
    assert_eq!(ask(owner, &cache, key, &calls, HOUR, Ok(4)).await, Ok(3));
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert_eq!(ask(owner, &cache, key, &calls, HOUR, Ok(5)).await, Ok(5));
    assert_eq!(calls.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn errors_are_neither_kept_nor_cached() {
    let (cache, calls, owner, key) = (cache(), AtomicUsize::new(0), next_owner(), [6u8; 32]);
    assert_eq!(
        ask(owner, &cache, key, &calls, HOUR, Err("down")).await,
        Err(Arc::new("down"))
    );
    assert_eq!(ask(owner, &cache, key, &calls, HOUR, Ok(1)).await, Ok(1));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}
