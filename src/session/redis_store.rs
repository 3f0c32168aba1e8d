//! Server-side sessions in Redis: `portcullis:session:<id>` holds the session JSON with a TTL of
//! its remaining lifetime; `portcullis:sid:<issuer>:<sid>` and `portcullis:sub:<issuer>:<sub>` are
//! sets of session ids for back-channel logout; `portcullis:logout-jti:<issuer>:<hash>` marks a
//! used back-channel logout token until it expires.
//!
//! Every command touches one key, so each one lives in one hash slot and works the same on one
//! server, a Redis Cluster and a Sentinel master; the two steps that must be atomic are short
//! Lua scripts on one key (`EVAL` with one key is routed, and redirected on `MOVED`/`ASK`, like
//! any command; a `MULTI` transaction is not). (Hash tags could not
//! bring a session and its indexes into one slot: the session is found by its id alone, the
//! indexes by `sid` or `sub` alone.) Where a login and a back-channel logout race, the order of
//! the writes decides instead of a transaction: see [`RedisStore::put`].
//!
//! The connection ([`Link`]) is made on first use. Every command is bounded by
//! [`COMMAND_TIMEOUT`], so a Redis that is down or stuck costs a request at most that.

use std::time::Duration;

use super::Session;
use super::redis_connection::{Connection, Link};
use crate::config::{RedisCa, SessionStore};

/// The longest any Redis command (or the first connection) may take.
pub const COMMAND_TIMEOUT: Duration = Duration::from_millis(500);
const PREFIX: &str = "portcullis";

/// Adds a session id (`ARGV[1]`) to an index set (`KEYS[1]`) and sets the set's TTL in seconds
/// (`ARGV[2]`), atomically: one command on one key, which a cluster client routes and redirects
/// like any other (a `MULTI` transaction is not redirected on `MOVED`).
const ADD_TO_INDEX: &str = "redis.call('SADD', KEYS[1], ARGV[1]); redis.call('EXPIRE', KEYS[1], ARGV[2]); return 1";

/// Returns the members of an index set (`KEYS[1]`) and deletes it, atomically.
const TAKE_INDEX: &str = "local ids = redis.call('SMEMBERS', KEYS[1]); redis.call('DEL', KEYS[1]); return ids";

/// Why Redis did not answer as hoped. Carries no session content.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No answer within [`COMMAND_TIMEOUT`].
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    /// Redis answered with an error, or the connection failed.
    #[error("redis: {0}")]
    Redis(String),
    /// A stored value is not a session.
    #[error("stored session cannot be read: {0}")]
    Corrupt(String),
}

/// The Redis session store, over one server, a cluster or a Sentinel master.
pub struct RedisStore {
    link: Link,
    /// With TLS: what a certificate failure means, added to its error.
    tls_hint: Option<String>,
}

impl RedisStore {
    /// A store for a Redis `store` (`None` for the cookie store), trusting `ca` (else the
    /// system's roots) for `rediss://` URLs; nothing is connected yet.
    pub fn new(store: &SessionStore, ca: Option<&RedisCa>) -> anyhow::Result<Option<RedisStore>> {
        let tls_hint = super::redis_tls::tls_hint(store, ca);
        Ok(Link::new(store, ca)?.map(|link| RedisStore { link, tls_hint }))
    }

    /// Runs `command` within [`COMMAND_TIMEOUT`]; a failure is told to the link (so a Sentinel
    /// link looks the master up again).
    async fn run<T: redis::FromRedisValue>(&self, command: &redis::Cmd) -> Result<T, StoreError> {
        // Boxed: the connection kinds' futures nest deep enough to exceed the compiler's
        // layout depth limit in the callers.
        let mut connection = Box::pin(self.link.connection()).await.map_err(|e| self.explained(e))?;
        let result = bounded(command.query_async(&mut connection)).await;
        self.after(&connection, result)
    }

    fn after<T>(&self, connection: &Connection, result: Result<T, StoreError>) -> Result<T, StoreError> {
        self.link.outcome(result.as_ref().err());
        if result.is_err() {
            self.link.failed(connection);
        }
        result.map_err(|e| self.explained(e))
    }

    /// A certificate failure with what the certificate must be and the key that says so.
    fn explained(&self, error: StoreError) -> StoreError {
        match (error, &self.tls_hint) {
            (StoreError::Redis(text), Some(hint)) if text.contains("certificate") => {
                StoreError::Redis(format!("{text} ({hint})"))
            }
            (error, _) => error,
        }
    }

    /// Stores `session` for `ttl_secs` seconds and indexes it by `sid` and `sub`. The indexes are
    /// shared by every session of that `sid`/`sub`: they live for `index_ttl_secs` (the longest a
    /// session can last), so saving a session that ends sooner never cuts another one out.
    ///
    /// The indexes are written first, then the session, then the indexes are read back: a
    /// back-channel logout ([`RedisStore::revoke`]) that took an index away in between has missed
    /// this session, so it is deleted here; a logout that comes later finds it in the index.
    pub async fn put(&self, session: &Session, ttl_secs: u64, index_ttl_secs: u64) -> Result<(), StoreError> {
        let json = serde_json::to_string(session).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let ttl = ttl_secs.max(1);
        let index_ttl = i64::try_from(ttl.max(index_ttl_secs)).unwrap_or(i64::MAX);
        let indexes = indexes_of(session);
        for index in &indexes {
            let add = redis::cmd("EVAL")
                .arg(ADD_TO_INDEX)
                .arg(1)
                .arg(index)
                .arg(&session.id)
                .arg(index_ttl)
                .clone();
            self.run::<()>(&add).await?;
        }
        let key = session_key(&session.id);
        self.run::<()>(redis::cmd("SET").arg(&key).arg(json).arg("EX").arg(ttl))
            .await?;
        for index in &indexes {
            let still_indexed: bool = self.run(redis::cmd("SISMEMBER").arg(index).arg(&session.id)).await?;
            if !still_indexed {
                tracing::info!("a back-channel logout ended the session while it was saved");
                return self.run(redis::cmd("DEL").arg(&key)).await;
            }
        }
        Ok(())
    }

    /// Replaces the stored session of `session.id` with `session`, valid `ttl_ms` more, only
    /// while the entry still exists (`SET ... XX PX`): `Ok(false)`, and nothing written, when a
    /// logout or sign-out deleted it meanwhile. The `sid`/`sub` indexes already hold the id
    /// (a refresh keeps `sid` and `sub`), so they are not touched.
    pub async fn update(&self, session: &Session, ttl_ms: u64) -> Result<bool, StoreError> {
        let json = serde_json::to_string(session).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let set = redis::cmd("SET")
            .arg(session_key(&session.id))
            .arg(json)
            .arg("XX")
            .arg("PX")
            .arg(ttl_ms.max(1))
            .clone();
        let written: Option<String> = self.run(&set).await?;
        Ok(written.is_some())
    }

    /// Sets `portcullis:logout-jti:<key>` for `ttl` unless it exists (`SET ... NX PX`):
    /// `Ok(true)` the first time, `Ok(false)` while it lives.
    pub async fn set_once(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let set = redis::cmd("SET")
            .arg(once_key(key))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms)
            .clone();
        let written: Option<String> = self.run(&set).await?;
        Ok(written.is_some())
    }

    /// Deletes a key set by [`RedisStore::set_once`].
    pub async fn delete_key(&self, key: &str) -> Result<(), StoreError> {
        self.run(redis::cmd("DEL").arg(once_key(key))).await
    }

    /// The session with this id, if Redis still has it.
    pub async fn get(&self, id: &str) -> Result<Option<Session>, StoreError> {
        let json: Option<String> = self.run(redis::cmd("GET").arg(session_key(id))).await?;
        json.map(|json| serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(e.to_string())))
            .transpose()
    }

    /// Deletes the session with this id.
    pub async fn delete(&self, id: &str) -> Result<(), StoreError> {
        self.run(redis::cmd("DEL").arg(session_key(id))).await
    }

    /// Deletes every session of `issuer` indexed under `sid` or `sub`: each index is read and
    /// deleted in one script (one key), then its sessions one by one (each in its own slot).
    pub async fn revoke(&self, issuer: &str, sid: Option<&str>, sub: Option<&str>) -> Result<(), StoreError> {
        let indexes = [
            sid.map(|s| index_key("sid", issuer, s)),
            sub.map(|s| index_key("sub", issuer, s)),
        ];
        for index in indexes.into_iter().flatten() {
            let ids: Vec<String> = self.run(redis::cmd("EVAL").arg(TAKE_INDEX).arg(1).arg(&index)).await?;
            for id in &ids {
                self.delete(id).await?;
            }
        }
        Ok(())
    }
}

/// The `sub` and (when there is one) `sid` index keys of `session`.
fn indexes_of(session: &Session) -> Vec<String> {
    let mut indexes = vec![index_key("sub", &session.issuer, session.sub())];
    if let Some(sid) = session.sid() {
        indexes.push(index_key("sid", &session.issuer, sid));
    }
    indexes
}

fn once_key(key: &str) -> String {
    format!("{PREFIX}:logout-jti:{key}")
}

fn session_key(id: &str) -> String {
    format!("{PREFIX}:session:{id}")
}

fn index_key(kind: &str, issuer: &str, value: &str) -> String {
    format!("{PREFIX}:{kind}:{issuer}:{value}")
}

/// Runs a Redis future under [`COMMAND_TIMEOUT`].
pub(super) async fn bounded<T>(future: impl Future<Output = redis::RedisResult<T>>) -> Result<T, StoreError> {
    match tokio::time::timeout(COMMAND_TIMEOUT, future).await {
        Ok(Ok(value)) => Ok(value),
        // The client's own timeouts (the same bound, per attempt) count as timeouts too.
        Ok(Err(error)) if error.is_timeout() => Err(StoreError::Timeout(COMMAND_TIMEOUT)),
        Ok(Err(error)) => Err(StoreError::Redis(error.to_string())),
        Err(_) => Err(StoreError::Timeout(COMMAND_TIMEOUT)),
    }
}
