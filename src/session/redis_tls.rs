//! The Redis clients of the three store forms with TLS where the URLs say `rediss://`: the
//! servers' certificates are checked against `session.redis_ca_file` when given, else against
//! the system's roots, with rustls (the TLS stack reqwest already uses), host names included.
//! A certificate that does not check out fails the connection, so no session is read or written
//! ([`tls_hint`] makes that error name the key to look at).

use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelNodeConnectionInfo, SentinelServerType};
use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo, RedisResult, TlsMode};

use crate::config::{RedisCa, Secret, SessionStore};

/// The client of `redis_url`.
pub(super) fn single_client(url: &Secret, ca: Option<&RedisCa>) -> RedisResult<redis::Client> {
    match ca {
        Some(ca) => redis::Client::build_with_tls(url.0.as_str(), ca.certificates()),
        None => redis::Client::open(url.0.as_str()),
    }
}

fn is_tls(info: &ConnectionInfo) -> bool {
    matches!(info.addr(), ConnectionAddr::TcpTls { .. })
}

/// The Sentinel client for `urls` and `master`. A user name, password and database number in
/// the first URL apply to the master too; the sentinels get the user name and password of
/// their own URL, never a database (a sentinel has none). The master speaks TLS when the
/// sentinels do (`rediss://`; the configuration refuses a mix).
pub(super) fn sentinel_client(urls: &[Secret], master: &str, ca: Option<&RedisCa>) -> RedisResult<SentinelClient> {
    let infos = urls
        .iter()
        .map(|url| url.0.as_str().into_connection_info())
        .collect::<RedisResult<Vec<_>>>()?;
    let first = infos.first().cloned();
    let master_info = first
        .as_ref()
        .map(|info| info.redis_settings().clone())
        .unwrap_or_default();
    let tls = first.as_ref().is_some_and(is_tls);
    if let Some(ca) = ca {
        return sentinel_client_with_ca(&infos, master, master_info, ca);
    }
    let sentinels = infos.into_iter().map(|info| {
        let own = info.redis_settings();
        let mut settings = redis::RedisConnectionInfo::default();
        if let Some(user) = own.username() {
            settings = settings.set_username(user);
        }
        if let Some(password) = own.password() {
            settings = settings.set_password(password);
        }
        info.set_redis_settings(settings)
    });
    let mut node = SentinelNodeConnectionInfo::default().set_redis_connection_info(master_info);
    if tls {
        node = node.set_tls_mode(TlsMode::Secure);
    }
    SentinelClient::build(sentinels.collect(), master, Some(node), SentinelServerType::Master)
}

/// The Sentinel client when a private CA signs the certificates of the sentinels and the master.
/// Only the crate's builder takes certificates for both; it gives every sentinel the same user
/// name and password (those of the first URL: the configuration refuses sentinel URLs whose
/// credentials differ when `redis_ca_file` is set).
fn sentinel_client_with_ca(
    infos: &[ConnectionInfo],
    master: &str,
    master_info: redis::RedisConnectionInfo,
    ca: &RedisCa,
) -> RedisResult<SentinelClient> {
    let addresses = infos.iter().map(|info| info.addr().clone());
    let mut builder = SentinelClientBuilder::new(addresses, master, SentinelServerType::Master)?
        .set_client_to_sentinel_tls_mode(TlsMode::Secure)
        .set_client_to_sentinel_certificates(ca.certificates())
        .set_client_to_redis_tls_mode(TlsMode::Secure)
        .set_client_to_redis_certificates(ca.certificates())
        .set_client_to_redis_db(master_info.db());
    if let Some(user) = master_info.username() {
        builder = builder
            .set_client_to_redis_username(user)
            .set_client_to_sentinel_username(user);
    }
    if let Some(password) = master_info.password() {
        builder = builder
            .set_client_to_redis_password(password)
            .set_client_to_sentinel_password(password);
    }
    builder.build()
}

/// What to add to a failed connection's error when the store speaks TLS: which certificates the
/// server's must chain to, and the key that says so. `None` without TLS.
pub(super) fn tls_hint(store: &SessionStore, ca: Option<&RedisCa>) -> Option<String> {
    let urls = match store {
        SessionStore::Cookie => return None,
        SessionStore::Redis { url } => std::slice::from_ref(url),
        SessionStore::RedisCluster { urls } | SessionStore::RedisSentinel { urls, .. } => urls.as_slice(),
    };
    let tls = urls
        .iter()
        .filter_map(|url| url.0.as_str().into_connection_info().ok())
        .any(|info| is_tls(&info));
    if !tls {
        return None;
    }
    Some(match ca {
        Some(ca) => format!(
            "the Redis server's certificate must chain to session.redis_ca_file ({}) and name the host of the URL",
            ca.file.display()
        ),
        None => "the Redis server's certificate must chain to a system root and name the host of the URL; \
                 set session.redis_ca_file to trust a private CA"
            .to_string(),
    })
}
