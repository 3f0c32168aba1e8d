//! Server-side sessions in Redis: `portcullis:session:<id>` holds the session JSON with a TTL of
//! its remaining lifetime; `portcullis:sid:<issuer>:<sid>` and `portcullis:sub:<issuer>:<sub>` are
//! sets of session ids for back-channel logout; `portcullis:logout-jti:<issuer>:<hash>` marks a
//! used back-channel logout token until it expires.
//!
//! The connection is a self-reconnecting `ConnectionManager`, made on first use. Every command is
//! bounded by [`COMMAND_TIMEOUT`], so a Redis that is down or stuck costs a request at most that.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;

use super::Session;

/// The longest any Redis command (or the first connection) may take.
pub const COMMAND_TIMEOUT: Duration = Duration::from_millis(500);
const PREFIX: &str = "portcullis";

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

/// The Redis session store.
pub struct RedisStore {
    client: redis::Client,
    connection: OnceCell<ConnectionManager>,
}

impl RedisStore {
    /// A store for `url` (`redis://host:port/db`); nothing is connected yet.
    pub fn new(url: &str) -> anyhow::Result<RedisStore> {
        let client = redis::Client::open(url).map_err(|e| anyhow::anyhow!("session.redis_url: {e}"))?;
        Ok(RedisStore {
            client,
            connection: OnceCell::new(),
        })
    }

    async fn connection(&self) -> Result<ConnectionManager, StoreError> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(COMMAND_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT))
            .set_number_of_retries(1);
        let connect = self
            .connection
            .get_or_try_init(|| self.client.get_connection_manager_with_config(config));
        bounded(connect).await.cloned()
    }

    /// Stores `session` for `ttl_secs` seconds and indexes it by `sid` and `sub`. The indexes are
    /// shared by every session of that `sid`/`sub`: they live for `index_ttl_secs` (the longest a
    /// session can last), so saving a session that ends sooner never cuts another one out.
    pub async fn put(&self, session: &Session, ttl_secs: u64, index_ttl_secs: u64) -> Result<(), StoreError> {
        let json = serde_json::to_string(session).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let ttl = ttl_secs.max(1);
        let mut pipe = redis::pipe();
        pipe.atomic().set_ex(session_key(&session.id), json, ttl).ignore();
        for index in indexes_of(session) {
            pipe.sadd(&index, &session.id).ignore();
            let index_ttl = ttl.max(index_ttl_secs);
            pipe.expire(&index, i64::try_from(index_ttl).unwrap_or(i64::MAX))
                .ignore();
        }
        let mut connection = self.connection().await?;
        bounded(pipe.query_async::<()>(&mut connection)).await
    }

    /// Replaces the stored session of `session.id` with `session`, valid `ttl_ms` more, only
    /// while the entry still exists (`SET ... XX PX`): `Ok(false)`, and nothing written, when a
    /// logout or sign-out deleted it meanwhile. The `sid`/`sub` indexes already hold the id
    /// (a refresh keeps `sid` and `sub`), so they are not touched.
    pub async fn update(&self, session: &Session, ttl_ms: u64) -> Result<bool, StoreError> {
        let json = serde_json::to_string(session).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut connection = self.connection().await?;
        let written: Option<String> = bounded(
            redis::cmd("SET")
                .arg(session_key(&session.id))
                .arg(json)
                .arg("XX")
                .arg("PX")
                .arg(ttl_ms.max(1))
                .query_async(&mut connection),
        )
        .await?;
        Ok(written.is_some())
    }

    /// Sets `portcullis:once:<key>` for `ttl` unless it exists (`SET ... NX PX`): `Ok(true)` the
    /// first time, `Ok(false)` while it lives.
    pub async fn set_once(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut connection = self.connection().await?;
        let written: Option<String> = bounded(
            redis::cmd("SET")
                .arg(once_key(key))
                .arg(1)
                .arg("NX")
                .arg("PX")
                .arg(ttl_ms)
                .query_async(&mut connection),
        )
        .await?;
        Ok(written.is_some())
    }

    /// Deletes a key set by [`RedisStore::set_once`].
    pub async fn delete_key(&self, key: &str) -> Result<(), StoreError> {
        let mut connection = self.connection().await?;
        bounded(redis::cmd("DEL").arg(once_key(key)).query_async::<()>(&mut connection)).await
    }

    /// The session with this id, if Redis still has it.
    pub async fn get(&self, id: &str) -> Result<Option<Session>, StoreError> {
        let mut connection = self.connection().await?;
        let json: Option<String> = bounded(redis::cmd("GET").arg(session_key(id)).query_async(&mut connection)).await?;
        json.map(|json| serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(e.to_string())))
            .transpose()
    }

    /// Deletes the session with this id.
    pub async fn delete(&self, id: &str) -> Result<(), StoreError> {
        let mut connection = self.connection().await?;
        bounded(
            redis::cmd("DEL")
                .arg(session_key(id))
                .query_async::<()>(&mut connection),
        )
        .await
    }

    /// Deletes every session of `issuer` indexed under `sid` or `sub`.
    pub async fn revoke(&self, issuer: &str, sid: Option<&str>, sub: Option<&str>) -> Result<(), StoreError> {
        let mut connection = self.connection().await?;
        let indexes: Vec<String> = [
            sid.map(|s| index_key("sid", issuer, s)),
            sub.map(|s| index_key("sub", issuer, s)),
        ]
        .into_iter()
        .flatten()
        .collect();
        for index in indexes {
            let ids: Vec<String> = bounded(redis::cmd("SMEMBERS").arg(&index).query_async(&mut connection)).await?;
            let mut pipe = redis::pipe();
            for id in &ids {
                pipe.del(session_key(id)).ignore();
            }
            pipe.del(&index).ignore();
            bounded(pipe.query_async::<()>(&mut connection)).await?;
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
async fn bounded<T>(future: impl Future<Output = redis::RedisResult<T>>) -> Result<T, StoreError> {
    match tokio::time::timeout(COMMAND_TIMEOUT, future).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(StoreError::Redis(error.to_string())),
        Err(_) => Err(StoreError::Timeout(COMMAND_TIMEOUT)),
    }
}
