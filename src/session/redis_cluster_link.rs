//! The Redis Cluster connection, and its replacement when it stops answering.
//!
//! The crate's cluster connection follows `MOVED`/`ASK` and reconnects a node whose connection
//! drops, but a node that keeps its connections open and never answers (frozen, or a network
//! that drops packets) only makes it time out and retry the same node: its slot map is never
//! refreshed, so the slots stay with that node after its replica took over, and its recovery
//! attempts hold up the commands for the other masters too. So after
//! [`REBUILD_AFTER_TIMEOUTS`] timeouts in a row a new connection is made in the background
//! (it reads the slot map afresh, without the failed node once the cluster has failed it over)
//! and replaces the old one; commands keep their bound meanwhile.
//!
//! The first connection is made the same way, in the background: connecting to every node (with
//! TLS, say) may take longer than one command may wait, and a request that gives up must not
//! cancel it, or a slow network would never get connected.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use tokio::sync::Notify;

use super::redis_store::{COMMAND_TIMEOUT, StoreError};

/// Timeouts in a row after which the connection is replaced.
pub const REBUILD_AFTER_TIMEOUTS: u32 = 3;

/// How long making a connection may take (it connects to every node, some of which may not
/// answer; the crate bounds each step by the command timeout).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The cluster client and its current connection.
pub struct ClusterLink {
    client: ClusterClient,
    current: ArcSwapOption<ClusterConnection>,
    /// Wakes the requests waiting for a first connection when an attempt ends.
    attempt_ended: Notify,
    /// Why the last attempt failed, for the requests that waited for it.
    last_error: ArcSwapOption<String>,
    /// Commands that timed out since the last one that did not.
    timeouts: AtomicU32,
    /// Whether a connection is being made.
    connecting: AtomicBool,
}

impl ClusterLink {
    /// A link over `client`; nothing is connected yet.
    pub fn new(client: ClusterClient) -> ClusterLink {
        ClusterLink {
            client,
            current: ArcSwapOption::empty(),
            attempt_ended: Notify::new(),
            last_error: ArcSwapOption::empty(),
            timeouts: AtomicU32::new(0),
            connecting: AtomicBool::new(false),
        }
    }

    /// The connection; when there is none yet, one is made in the background and waited for
    /// within the command bound.
    pub async fn connection(link: &Arc<ClusterLink>) -> Result<ClusterConnection, StoreError> {
        if let Some(current) = link.current.load_full() {
            return Ok((*current).clone());
        }
        let ended = link.attempt_ended.notified();
        tokio::pin!(ended);
        ended.as_mut().enable();
        Self::connect_in_background(link);
        // Giving up here only stops waiting: the attempt goes on for the next request.
        let _ = tokio::time::timeout(COMMAND_TIMEOUT, ended).await;
        match (link.current.load_full(), link.last_error.load_full()) {
            (Some(current), _) => Ok((*current).clone()),
            (None, Some(error)) => Err(StoreError::Redis(error.to_string())),
            (None, None) => Err(StoreError::Timeout(COMMAND_TIMEOUT)),
        }
    }

    /// Makes a connection in the background and puts it in place, unless one is being made.
    fn connect_in_background(link: &Arc<ClusterLink>) {
        if link.connecting.swap(true, Ordering::AcqRel) {
            return;
        }
        let link = link.clone();
        tokio::spawn(async move {
            let replacing = link.current.load().is_some();
            match tokio::time::timeout(CONNECT_TIMEOUT, link.client.get_async_connection()).await {
                Ok(Ok(connection)) => {
                    link.current.store(Some(Arc::new(connection)));
                    link.last_error.store(None);
                    link.timeouts.store(0, Ordering::Relaxed);
                    if replacing {
                        tracing::info!("redis cluster: reconnected, slot map read afresh");
                    }
                }
                Ok(Err(error)) => {
                    tracing::warn!(key = "session.redis_cluster_urls", %error, "redis cluster: cannot connect");
                    link.last_error.store(Some(Arc::new(format!("redis: {error}"))));
                }
                Err(_) => {
                    tracing::warn!(
                        key = "session.redis_cluster_urls",
                        "redis cluster: connecting took longer than {CONNECT_TIMEOUT:?}"
                    );
                    link.last_error.store(None);
                }
            }
            link.connecting.store(false, Ordering::Release);
            link.attempt_ended.notify_waiters();
        });
    }

    /// Counts the outcome of a command; from the [`REBUILD_AFTER_TIMEOUTS`]th timeout in a row a
    /// new connection is made in the background (one at a time) until one works.
    pub fn outcome(link: &Arc<ClusterLink>, error: Option<&StoreError>) {
        if !matches!(error, Some(StoreError::Timeout(_))) {
            link.timeouts.store(0, Ordering::Relaxed);
            return;
        }
        let timeouts = link.timeouts.fetch_add(1, Ordering::Relaxed) + 1;
        if timeouts >= REBUILD_AFTER_TIMEOUTS && !link.connecting.load(Ordering::Acquire) {
            tracing::info!(
                timeouts,
                "redis cluster: commands keep timing out, reconnecting to the cluster"
            );
            Self::connect_in_background(link);
        }
    }
}
