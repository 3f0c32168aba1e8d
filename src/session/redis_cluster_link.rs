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
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;

use super::background_connect::{BackgroundConnect, Words};
use super::redis_store::StoreError;

/// Timeouts in a row after which the connection is replaced.
pub const REBUILD_AFTER_TIMEOUTS: u32 = 3;

/// How long making a connection may take (it connects to every node, some of which may not
/// answer; the crate bounds each step by the command timeout).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The cluster client and its current connection.
pub struct ClusterLink {
    client: ClusterClient,
    /// The connection, and the attempt that makes the next one.
    connection: BackgroundConnect<ClusterConnection>,
    /// Commands that timed out since the last one that did not.
    timeouts: AtomicU32,
}

impl ClusterLink {
    /// A link over `client`; nothing is connected yet.
    pub fn new(client: ClusterClient) -> ClusterLink {
        ClusterLink {
            client,
            connection: BackgroundConnect::new(Words {
                key: "session.redis_cluster_urls",
                cannot: "redis cluster: cannot connect",
                too_slow: "redis cluster: connecting took longer than ",
            }),
            timeouts: AtomicU32::new(0),
        }
    }

    /// The connection; when there is none yet, one is made in the background and waited for
    /// within the command bound.
    pub async fn connection(link: &Arc<ClusterLink>) -> Result<ClusterConnection, StoreError> {
        let current = link.connection.connection(|| Self::connect_in_background(link)).await?;
        Ok((*current).clone())
    }

    /// Makes a connection in the background and puts it in place, unless one is being made.
    fn connect_in_background(link: &Arc<ClusterLink>) {
        if !link.connection.begin() {
            return;
        }
        let link = link.clone();
        tokio::spawn(async move {
            let replacing = link.connection.is_connected();
            let made = |_: &ClusterConnection| {
                link.timeouts.store(0, Ordering::Relaxed);
                if replacing {
                    tracing::info!("redis cluster: reconnected, slot map read afresh");
                }
            };
            let attempt = link.client.get_async_connection();
            link.connection.run(CONNECT_TIMEOUT, attempt, made).await;
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
        if timeouts >= REBUILD_AFTER_TIMEOUTS && !link.connection.is_running() {
            tracing::info!(
                timeouts,
                "redis cluster: commands keep timing out, reconnecting to the cluster"
            );
            Self::connect_in_background(link);
        }
    }
}
