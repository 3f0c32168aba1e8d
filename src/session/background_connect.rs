//! A Redis connection made in the background, one attempt at a time, for the cluster and the
//! Sentinel links: making one (connecting to every node, or asking the sentinels and then the
//! master, with TLS, say) may take longer than one command may wait, and a request that gives up
//! must not cancel it, or a slow network would never get connected. Requests wait for an attempt
//! within the command bound; the next request finds it done.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use tokio::sync::Notify;

use super::redis_store::{COMMAND_TIMEOUT, StoreError};

/// What the log says about a failed attempt.
pub struct Words {
    /// The config key of the URLs (`session.redis_cluster_urls`).
    pub key: &'static str,
    /// The message when the attempt fails (`redis cluster: cannot connect`).
    pub cannot: &'static str,
    /// The message (ending in a space), followed by the limit, when the attempt takes too long.
    pub too_slow: &'static str,
}

/// The connection of the moment (`T`), and the attempt that makes the next one.
pub struct BackgroundConnect<T> {
    current: ArcSwapOption<T>,
    /// Whether an attempt runs.
    running: AtomicBool,
    /// Wakes the requests waiting for an attempt when it ends.
    ended: Notify,
    /// Why the last attempt failed, for the requests that waited for it.
    last_error: ArcSwapOption<String>,
    words: Words,
}

impl<T: Send + Sync + 'static> BackgroundConnect<T> {
    /// Nothing connected yet; failed attempts are logged with `words`.
    pub fn new(words: Words) -> BackgroundConnect<T> {
        BackgroundConnect {
            current: ArcSwapOption::empty(),
            running: AtomicBool::new(false),
            ended: Notify::new(),
            last_error: ArcSwapOption::empty(),
            words,
        }
    }

    /// The connection of the moment, if any.
    pub fn current(&self) -> Option<Arc<T>> {
        self.current.load_full()
    }

    /// Whether there is a connection now.
    pub fn is_connected(&self) -> bool {
        self.current.load().is_some()
    }

    /// Whether an attempt runs.
    pub fn is_running(&self) -> bool {
        self.running.load(Ordering::Acquire)
    }

    /// Drops `used` unless another connection replaced it already; whether it was dropped.
    pub fn forget(&self, used: &Arc<T>) -> bool {
        let previous = self.current.compare_and_swap(&Some(used.clone()), None);
        previous.as_ref().is_some_and(|previous| Arc::ptr_eq(previous, used))
    }

    /// The connection; without one, `start` is called (to begin an attempt in the background)
    /// and the attempt is waited for within [`COMMAND_TIMEOUT`]. Giving up only stops waiting:
    /// the attempt goes on for the next request.
    pub async fn connection(&self, start: impl FnOnce()) -> Result<Arc<T>, StoreError> {
        if let Some(current) = self.current() {
            return Ok(current);
        }
        let ended = self.ended.notified();
        tokio::pin!(ended);
        ended.as_mut().enable();
        start();
        let _ = tokio::time::timeout(COMMAND_TIMEOUT, ended).await;
        match (self.current(), self.last_error.load_full()) {
            (Some(current), _) => Ok(current),
            (None, Some(error)) => Err(StoreError::Redis(error.to_string())),
            (None, None) => Err(StoreError::Timeout(COMMAND_TIMEOUT)),
        }
    }

    /// Claims the next attempt: `false` when one runs already. Whoever gets `true` must
    /// [`BackgroundConnect::run`] it (in a task of its own, so that no request cancels it).
    pub fn begin(&self) -> bool {
        !self.running.swap(true, Ordering::AcqRel)
    }

    /// Runs the claimed `attempt`, bounded by `limit`: what it makes becomes the connection and
    /// is given to `made` (before anyone can start the next attempt); a failure is logged and
    /// told to the waiting requests. Then the waiting requests are woken.
    pub async fn run<E: std::fmt::Display>(
        &self,
        limit: Duration,
        attempt: impl Future<Output = Result<T, E>>,
        made: impl FnOnce(&T),
    ) {
        match tokio::time::timeout(limit, attempt).await {
            Ok(Ok(connection)) => {
                let connection = Arc::new(connection);
                self.current.store(Some(connection.clone()));
                self.last_error.store(None);
                made(&connection);
            }
            Ok(Err(error)) => {
                tracing::warn!(key = self.words.key, %error, "{}", self.words.cannot);
                self.last_error.store(Some(Arc::new(format!("redis: {error}"))));
            }
            Err(_) => {
                tracing::warn!(key = self.words.key, "{}{limit:?}", self.words.too_slow);
                self.last_error.store(None);
            }
        }
        self.running.store(false, Ordering::Release);
        self.ended.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU32;

    use super::*;

    type Link = Arc<BackgroundConnect<u32>>;

    fn link() -> Link {
        Arc::new(BackgroundConnect::new(Words {
            key: "session.test_urls",
            cannot: "test: cannot connect",
            too_slow: "test: connecting took longer than ",
        }))
    }

    /// Starts `attempt` in the background as the links do, counting the attempts started.
    fn start<F>(link: &Link, started: &Arc<AtomicU32>, attempt: F)
    where
        F: Future<Output = Result<u32, String>> + Send + 'static,
    {
        if link.begin() {
            started.fetch_add(1, Ordering::SeqCst);
            let (link, started) = (link.clone(), started.clone());
            tokio::spawn(async move {
                let made = |value: &u32| assert_eq!(*value, 7, "made is given what the attempt made");
                link.run(Duration::from_secs(30), attempt, made).await;
                started.fetch_add(100, Ordering::SeqCst);
            });
        }
    }

    #[tokio::test]
    async fn requests_waiting_together_share_one_attempt_and_get_what_it_made() {
        let (link, started) = (link(), Arc::new(AtomicU32::new(0)));
        let ask = || {
            link.connection(|| {
                start(&link, &started, async {
                    tokio::task::yield_now().await;
                    Ok(7)
                })
            })
        };
        let (a, b, c) = tokio::join!(ask(), ask(), ask());
        for got in [a, b, c] {
            assert_eq!(*got.expect("connected"), 7);
        }
        assert_eq!(started.load(Ordering::SeqCst) % 100, 1, "one attempt");
        // Connected: nothing more is started.
        let again = link.connection(|| panic!("no attempt while connected")).await;
        assert_eq!(*again.expect("connected"), 7);
    }

    #[tokio::test]
    async fn a_failed_attempt_is_told_to_the_requests_waiting_for_it() {
        let (link, started) = (link(), Arc::new(AtomicU32::new(0)));
        let got = link
            .connection(|| start(&link, &started, async { Err("refused".to_string()) }))
            .await;
        match got {
            Err(StoreError::Redis(reason)) => assert_eq!(reason, "redis: refused"),
            other => panic!("{other:?}"),
        }
        assert!(!link.is_connected());
    }

    #[tokio::test]
    async fn a_slow_attempt_goes_on_after_the_request_gave_up_and_serves_the_next_one() {
        let (link, started) = (link(), Arc::new(AtomicU32::new(0)));
        let release = Arc::new(Notify::new());
        let waited = release.clone();
        let got = link
            .connection(|| {
                start(&link, &started, async move {
                    waited.notified().await;
                    Ok(7)
                })
            })
            .await;
        assert!(matches!(got, Err(StoreError::Timeout(_))), "{got:?}");
        assert!(link.is_running(), "the attempt goes on");
        assert!(!link.begin(), "and no second one starts meanwhile");
        release.notify_one();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while started.load(Ordering::SeqCst) < 100 {
            assert!(std::time::Instant::now() < deadline, "the attempt never ended");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let got = link.connection(|| panic!("no attempt while connected")).await;
        assert_eq!(*got.expect("connected"), 7);
        assert!(!link.is_running());
    }

    #[tokio::test]
    async fn forget_drops_only_the_connection_it_is_given() {
        let (link, started) = (link(), Arc::new(AtomicU32::new(0)));
        let first = link
            .connection(|| start(&link, &started, async { Ok(7) }))
            .await
            .expect("connected");
        assert!(!link.forget(&Arc::new(7)), "another connection of the same value");
        assert!(link.is_connected());
        assert!(link.forget(&first));
        assert!(!link.is_connected());
        assert!(!link.forget(&first), "already dropped");
    }
}
