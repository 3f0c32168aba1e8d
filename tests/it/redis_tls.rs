//! Sessions in Redis over TLS (`rediss://`), against a real `redis-server` that speaks only TLS
//! with a certificate from a CA made in the test: with that CA in `session.redis_ca_file` a
//! session made through one replica is valid on the next request and on the other replica;
//! with another CA, or with the system's roots (the default), the server is refused, no session
//! is made (fail closed) and the log names the key to set. A Redis Cluster and a Sentinel set
//! that speak only TLS (replication, the cluster bus and the sentinels too) share sessions the
//! same way, across a Sentinel failover.

use crate::common::login_kit::{APP, Browser, config, start_idp};
use crate::common::pki::Pki;
use crate::common::redis_ha::{RedisCluster, SentinelSet};
use crate::common::redis_tls::{ServerTls, TlsRedis};
use crate::common::rules::PRIVATE as RULES;
use crate::common::shared_sessions::{Replicas, sentinel_keys, session_in, url_list};
use crate::common::{Portcullis, Setup, free_port};

fn tls_session(redis: &TlsRedis, ca_file: Option<&std::path::Path>) -> String {
    let ca = ca_file.map_or(String::new(), |file| format!("redis_ca_file = \"{}\"", file.display()));
    session_in(&format!("redis_url = \"{}\"\n{ca}", redis.url()))
}

#[tokio::test]
async fn sessions_over_tls_with_the_private_ca_are_shared_and_revoked() {
    let redis = TlsRedis::start().await;
    let replicas = Replicas::start(&tls_session(&redis, Some(&redis.pki.ca()))).await;
    let alice = replicas.login("alice").await;
    let keys: Vec<String> = redis.query(redis::cmd("KEYS").arg("portcullis:session:*")).await;
    assert_eq!(keys.len(), 1, "the session lives in the TLS server: {keys:?}");
    replicas.assert_status(&alice, 200, "the next request").await;
    replicas.share_sign_out_and_backchannel_logout().await;
}

#[tokio::test]
async fn a_server_certificate_the_configured_trust_does_not_cover_is_refused() {
    let redis = TlsRedis::start().await;
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let idp = start_idp(port, None).await;
    let cases = [
        (
            "another CA in redis_ca_file",
            Some(redis.pki.other_ca()),
            "session.redis_ca_file (",
        ),
        (
            "the system's roots",
            None,
            "set session.redis_ca_file to trust a private CA",
        ),
    ];
    for (case, ca_file, hint) in cases {
        let session = tls_session(&redis, ca_file.as_deref());
        let p = Portcullis::start(Setup::new(&config(&issuer, &session), RULES)).await;
        let mut browser = Browser::default();
        let callback = browser.login(&p, &idp, "alice", APP).await;
        assert_eq!(
            callback.status(),
            503,
            "{case}: no session without the store\n{}",
            p.log_text()
        );
        let log = Replicas::plain_log(&p);
        assert!(log.contains("certificate") && log.contains(hint), "{case}: {log}");
        assert_eq!(browser.auth(&p, "/private/x").await.status(), 401, "{case}");
        let keys: Vec<String> = redis.query(redis::cmd("KEYS").arg("portcullis:*")).await;
        assert!(keys.is_empty(), "{case}: nothing was written: {keys:?}");
    }
}

#[tokio::test]
async fn sessions_over_tls_in_a_cluster_are_shared_and_revoked() {
    let pki = Pki::new();
    let cluster = RedisCluster::start_with(Some(&ServerTls::of(&pki))).await;
    assert!(cluster.urls().iter().all(|url| url.starts_with("rediss://")));
    let urls = url_list("redis_cluster_urls", &cluster.urls());
    let ca = format!("redis_ca_file = \"{}\"", pki.ca().display());
    let replicas = Replicas::start(&session_in(&format!("{urls}\n{ca}"))).await;
    let alice = replicas.login("alice").await;
    assert_eq!(cluster.session_keys().await.len(), 1, "{}", replicas.logs());
    replicas.assert_status(&alice, 200, "the next request").await;
    replicas.share_sign_out_and_backchannel_logout().await;
}

#[tokio::test]
async fn sessions_over_tls_through_sentinel_survive_a_failover() {
    let pki = Pki::new();
    let set = SentinelSet::start_with(Some(&ServerTls::of(&pki))).await;
    let ca = format!("redis_ca_file = \"{}\"", pki.ca().display());
    let session = format!("{}\n{ca}", sentinel_keys(&set.urls()));
    let replicas = Replicas::start(&session_in(&session)).await;
    let alice = replicas.login("alice").await;
    let keys: Vec<String> = set
        .master
        .query(redis::cmd("KEYS").arg("portcullis:session:*"))
        .await
        .expect("KEYS over TLS");
    assert_eq!(keys.len(), 1, "the session is on the TLS master");
    set.failover().await;
    replicas.until_on_master(&alice, set.replica.port).await;
    replicas.until_status(&alice, 200, "after the failover").await;
    replicas.share_sign_out_and_backchannel_logout().await;
}
