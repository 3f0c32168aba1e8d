//! The three ways to reach Redis behind one connection type: one server (`redis_url`), a Redis
//! Cluster (`redis_cluster_urls`) or the master that Redis Sentinel names (`redis_sentinel_urls`
//! and `redis_sentinel_master`).
//!
//! - One server: a self-reconnecting `ConnectionManager`.
//! - Cluster: the crate's cluster client. It follows `MOVED`/`ASK`, refreshes its slot map when a
//!   node's connection drops and connects to the node that took over the slots; a node that
//!   stops answering without dropping its connections gets the connection replaced
//!   ([`ClusterLink`]).
//! - Sentinel: the crate's `SentinelClient` asks the sentinels for the master each time it
//!   connects (it keeps no master address), but the connection it gives stays with that server.
//!   After a failover the old master refuses writes (`READONLY`) or is gone, so a failed command
//!   drops the connection ([`Link::failed`]) and the next one asks the sentinels again. Until
//!   the sentinels demote it, though, the old master still takes writes; so while requests come
//!   the sentinels are also asked, at most once a second, in the background, whether the master
//!   moved, and the connection is dropped when it did.
//!
//! Each connection is made on first use; making one is bounded by [`COMMAND_TIMEOUT`] like every
//! command.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;

use super::background_connect::{BackgroundConnect, Words};
use super::redis_cluster_link::ClusterLink;
use redis::sentinel::SentinelClient;
use redis::{AsyncConnectionConfig, Cmd, Pipeline, RedisFuture, Value};
use tokio::sync::{Mutex, OnceCell};

use super::redis_store::{COMMAND_TIMEOUT, StoreError, bounded};
use crate::config::{RedisCa, SessionStore};

/// How often, at most, a Sentinel link asks whether the master moved (while requests come).
pub const MOVE_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// How Portcullis reaches Redis, and the connection once made.
pub enum Link {
    /// One Redis server.
    Single {
        /// The server (boxed: with its TLS settings it is the largest of the clients).
        client: Box<redis::Client>,
        /// Its connection, made on first use.
        connection: OnceCell<ConnectionManager>,
    },
    /// A Redis Cluster: the client and its connection (to every master), made on first use.
    Cluster(Arc<ClusterLink>),
    /// The master named by Redis Sentinel.
    Sentinel(Arc<SentinelLink>),
}

/// The Sentinel client and the connection to the master it last named.
pub struct SentinelLink {
    /// Asks the sentinels for the master; one lookup at a time.
    client: Mutex<SentinelClient>,
    /// The connection to the current master (none after a failure or a move until the next
    /// lookup), and the lookup that makes the next one.
    current: BackgroundConnect<Master>,
    /// When the sentinels were last asked whether the master moved (ms since the Unix epoch).
    last_check_ms: AtomicU64,
}

/// How long a lookup (ask the sentinels, connect to the master) may take in the background.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);

/// A master the sentinels named, and the connection to it.
pub struct Master {
    /// `host:port`, to compare with what the sentinels name later.
    address: String,
    connection: MultiplexedConnection,
}

/// A connection of any [`Link`]: one type for every command of the store.
#[derive(Clone)]
pub enum Connection {
    /// To one server.
    Single(ConnectionManager),
    /// To a cluster.
    Cluster(ClusterConnection),
    /// To the Sentinel master of the moment (the `Arc` tells which one it was).
    Sentinel(Arc<Master>, MultiplexedConnection),
}

impl Link {
    /// A link for a Redis `store`, trusting `ca` (else the system's roots) for `rediss://`
    /// URLs; nothing is connected yet. `None` for the cookie store.
    pub fn new(store: &SessionStore, ca: Option<&RedisCa>) -> anyhow::Result<Option<Link>> {
        let link = match store {
            SessionStore::Cookie => return Ok(None),
            SessionStore::Redis { url } => Link::Single {
                client: Box::new(
                    super::redis_tls::single_client(url, ca).map_err(|e| anyhow::anyhow!("session.redis_url: {e}"))?,
                ),
                connection: OnceCell::new(),
            },
            SessionStore::RedisCluster { urls } => {
                let mut builder = ClusterClient::builder(urls.iter().map(|url| url.0.as_str()))
                    .connection_timeout(COMMAND_TIMEOUT)
                    .response_timeout(COMMAND_TIMEOUT);
                if let Some(ca) = ca {
                    builder = builder.certs(ca.certificates());
                }
                let client = builder
                    .build()
                    .map_err(|e| anyhow::anyhow!("session.redis_cluster_urls: {e}"))?;
                Link::Cluster(Arc::new(ClusterLink::new(client)))
            }
            SessionStore::RedisSentinel { urls, master } => Link::Sentinel(Arc::new(SentinelLink {
                client: Mutex::new(
                    super::redis_tls::sentinel_client(urls, master, ca)
                        .map_err(|e| anyhow::anyhow!("session.redis_sentinel_urls: {e}"))?,
                ),
                current: BackgroundConnect::new(Words {
                    key: "session.redis_sentinel_urls",
                    cannot: "redis sentinel: cannot reach the master",
                    too_slow: "redis sentinel: the lookup took longer than ",
                }),
                last_check_ms: AtomicU64::new(0),
            })),
        };
        Ok(Some(link))
    }

    /// The connection, made now when there is none (bounded by [`COMMAND_TIMEOUT`]).
    pub async fn connection(&self) -> Result<Connection, StoreError> {
        match self {
            Link::Single { client, connection } => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(COMMAND_TIMEOUT))
                    .set_response_timeout(Some(COMMAND_TIMEOUT))
                    .set_number_of_retries(1);
                let connect = connection.get_or_try_init(|| client.get_connection_manager_with_config(config));
                bounded(connect).await.cloned().map(Connection::Single)
            }
            Link::Cluster(cluster) => ClusterLink::connection(cluster).await.map(Connection::Cluster),
            Link::Sentinel(sentinel) => {
                SentinelLink::check_in_background(sentinel);
                SentinelLink::connection(sentinel).await
            }
        }
    }

    /// Tells the link how a command went (`Some` error or not): a cluster link replaces a
    /// connection whose commands keep timing out.
    pub fn outcome(&self, error: Option<&StoreError>) {
        if let Link::Cluster(cluster) = self {
            ClusterLink::outcome(cluster, error);
        }
    }

    /// Tells the link that a command on `connection` failed: a Sentinel link forgets that master
    /// connection (a failover may have moved the master), unless a newer one replaced it already.
    /// The other links reconnect on their own.
    pub fn failed(&self, connection: &Connection) {
        if let (Link::Sentinel(sentinel), Connection::Sentinel(used, _)) = (self, connection)
            && sentinel.current.forget(used)
        {
            tracing::info!("redis sentinel: a command failed, the master will be looked up again");
        }
    }
}

impl SentinelLink {
    /// The connection to the master; without one the master is looked up in the background and
    /// waited for within the command bound (a lookup over TLS may take longer than that, and the
    /// next request then finds it done).
    async fn connection(link: &Arc<SentinelLink>) -> Result<Connection, StoreError> {
        let current = link.current.connection(|| Self::look_up_in_background(link)).await?;
        Ok(Connection::Sentinel(current.clone(), current.connection.clone()))
    }

    fn look_up_in_background(link: &Arc<SentinelLink>) {
        if !link.current.begin() {
            return;
        }
        let link = link.clone();
        tokio::spawn(async move {
            let lookup = async {
                let mut client = link.client.lock().await;
                let master = client.async_get_client().await?;
                let address = master.get_connection_info().addr().to_string();
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(COMMAND_TIMEOUT))
                    .set_response_timeout(Some(COMMAND_TIMEOUT));
                let connection = master.get_multiplexed_async_connection_with_config(&config).await?;
                redis::RedisResult::Ok(Master { address, connection })
            };
            let made = |master: &Master| {
                tracing::info!(master = %master.address, "redis sentinel: connected to the master");
            };
            link.current.run(LOOKUP_TIMEOUT, lookup, made).await;
        });
    }

    /// At most once per [`MOVE_CHECK_INTERVAL`], while requests come, asks the sentinels in the
    /// background which server is master. After a failover the old master keeps taking writes
    /// until the sentinels turn it into a replica (and those writes are then lost), so a
    /// connection to it is dropped as soon as the sentinels name another one.
    fn check_in_background(link: &Arc<SentinelLink>) {
        let now = super::unix_now_ms();
        let last = link.last_check_ms.load(Ordering::Relaxed);
        let interval = u64::try_from(MOVE_CHECK_INTERVAL.as_millis()).unwrap_or(u64::MAX);
        let due = now.saturating_sub(last) >= interval;
        if !due
            || !link.current.is_connected()
            || link
                .last_check_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let link = link.clone();
        tokio::spawn(async move {
            let Ok(mut client) = link.client.try_lock() else {
                return;
            };
            let named = bounded(client.async_get_client()).await;
            let Some(current) = link.current.current() else {
                return;
            };
            match named {
                Ok(master) if master.get_connection_info().addr().to_string() != current.address => {
                    let moved_to = master.get_connection_info().addr().to_string();
                    tracing::info!(from = %current.address, to = %moved_to, "redis sentinel: the master moved");
                    link.current.forget(&current);
                }
                Ok(_) => {}
                Err(error) => tracing::debug!(%error, "redis sentinel: cannot ask the sentinels for the master"),
            }
        });
    }
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Single(connection) => connection.req_packed_command(cmd),
            Connection::Cluster(connection) => connection.req_packed_command(cmd),
            Connection::Sentinel(_, connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Single(connection) => connection.req_packed_commands(pipeline, offset, count),
            Connection::Cluster(connection) => connection.req_packed_commands(pipeline, offset, count),
            Connection::Sentinel(_, connection) => connection.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Single(connection) => connection.get_db(),
            Connection::Cluster(connection) => connection.get_db(),
            Connection::Sentinel(_, connection) => connection.get_db(),
        }
    }
}
