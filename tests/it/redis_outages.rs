//! Redis down, slow and back, with a real `redis-server`: while Redis is killed or busy in a
//! `DEBUG SLEEP`, a session request gets the documented answer (401: no session can be read) at
//! once rather than hanging, bearer tokens keep working, and when Redis is back the same session
//! works again without restarting Portcullis. (A server stopped with SIGSTOP is in
//! `sessions.rs`.) A Redis Cluster master or a Sentinel master stopped with SIGSTOP also costs
//! bounded time, and its replica takes over while it stays frozen.

use std::time::Duration;

use crate::common::browser::Browser;
use crate::common::redis::Frozen;
use crate::common::redis_ha::{RedisCluster, RestartableRedis, SentinelSet, settle};
use crate::common::shared_sessions::{RECOVERY, Replicas, sentinel_keys, session_in, url_list};
use crate::common::{ask, tokens};

/// How long a request may take while Redis is away: a guard against a hang, many times the
/// 500 ms command bound.
const HANG_GUARD: Duration = Duration::from_secs(15);

#[tokio::test]
async fn sessions_answer_401_while_redis_is_down_or_slow_and_resume_when_it_is_back() {
    let mut redis = RestartableRedis::start().await;
    let replicas = Replicas::start(&session_in(&format!("redis_url = \"{}\"", redis.url()))).await;
    let browser = replicas.login("alice").await;
    let bearer = format!("Bearer {}", tokens::rsa1(serde_json::json!({})));
    let session_status = || async {
        tokio::time::timeout(HANG_GUARD, browser.auth(&replicas.a, "/private/x"))
            .await
            .expect("an answer while Redis is away")
            .status()
    };

    // Down: the port refuses connections.
    redis.stop().await;
    let errors_before = replicas.a.metric("portcullis_session_store_errors_total").await;
    assert_eq!(session_status().await, 401, "{}", replicas.logs());
    assert!(replicas.a.metric("portcullis_session_store_errors_total").await > errors_before);
    let with_token = ask(&replicas.a, "/private/x", &[("Authorization", &bearer)]).await;
    assert_eq!(with_token.status(), 200, "a bearer token needs no Redis");
    redis.restart().await;
    replicas.until_status(&browser, 200, "after Redis came back").await;

    // Slow: the server is busy in DEBUG SLEEP and answers nobody until it ends.
    let node_url = redis.node.url();
    let sleeping = tokio::spawn(async move {
        crate::common::redis_ha::query::<()>(&node_url, &[], redis::cmd("DEBUG").arg("SLEEP").arg(5)).await
    });
    settle("Redis busy in DEBUG SLEEP", || async {
        tokio::time::timeout(
            Duration::from_millis(300),
            redis.node.query::<String>(&redis::cmd("PING")),
        )
        .await
        .is_err()
    })
    .await;
    assert_eq!(session_status().await, 401, "{}", replicas.logs());
    if sleeping.is_finished() {
        let slept = sleeping.await.expect("join");
        panic!("the answer must come while Redis is still asleep (DEBUG SLEEP: {slept:?})");
    }
    sleeping.await.expect("join").expect("DEBUG SLEEP");
    replicas.until_status(&browser, 200, "after the DEBUG SLEEP").await;
}

/// A cluster master frozen with SIGSTOP (it keeps its connections and takes commands but never
/// answers): every request still gets its answer within the bound (401 for a session on the
/// frozen master, counted as a store error; for every session while the cluster itself is down),
/// and once the master's replica takes over the same session works again while the old master is
/// still frozen (the client alone would keep asking the frozen node: Portcullis reconnects after
/// timeouts in a row), and so do sessions on the other masters.
#[tokio::test]
async fn a_frozen_cluster_master_costs_bounded_time_and_its_replica_takes_over() {
    let cluster = RedisCluster::start().await;
    let replicas = Replicas::start(&session_in(&url_list("redis_cluster_urls", &cluster.urls()))).await;
    // Alice's session, and one on another master.
    let login = |user: &'static str| {
        let (cluster, replicas) = (&cluster, &replicas);
        async move {
            let before = cluster.session_keys().await;
            let browser = replicas.login(user).await;
            let keys = cluster.session_keys().await;
            let key = keys
                .into_iter()
                .find(|key| !before.contains(key))
                .expect("the new session key");
            (browser, cluster.master_and_replica_of(&key).await)
        }
    };
    let (alice, (frozen_master, replica)) = login("alice").await;
    // A replica takes over only once it has synced with its master.
    let alice_key = cluster.session_keys().await.pop().expect("alice's session key");
    cluster.wait_until_replicated(&alice_key, replica).await;
    let mut other = None;
    for user in [
        "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
    ] {
        let (browser, (master, _)) = login(user).await;
        if master != frozen_master {
            other = Some(browser);
            break;
        }
    }
    let other = other.expect("a session on another master");
    let pid = cluster.nodes[frozen_master].process.as_ref().expect("running").pid();
    let errors_before = replicas.a.metric("portcullis_session_store_errors_total").await;
    let frozen = Frozen::stop(pid);

    let answers = answers_until(&replicas, &alice, "a cluster master is frozen", |got| async move {
        got == 200
    })
    .await;
    assert!(
        frozen.is_frozen(),
        "the replica served the session while the old master was frozen"
    );
    assert!(cluster.nodes[replica].is_master().await, "the replica took over");
    if answers[0] == 401 {
        assert!(replicas.a.metric("portcullis_session_store_errors_total").await > errors_before);
    }
    replicas.until_status(&other, 200, "a session on another master").await;
    drop(frozen);
}

/// A Sentinel master frozen with SIGSTOP: every request gets its answer within the bound (401
/// while the master cannot answer), and once the sentinels promote the replica the same session
/// works again while the old master is still frozen.
#[tokio::test]
async fn a_frozen_sentinel_master_costs_bounded_time_and_its_replica_takes_over() {
    let set = SentinelSet::start().await;
    let replicas = Replicas::start(&session_in(&sentinel_keys(&set.urls()))).await;
    let alice = replicas.login("alice").await;
    let on_replica = redis::cmd("KEYS").arg("portcullis:session:*").clone();
    settle("the replica holding the session", || async {
        set.replica
            .query::<Vec<String>>(&on_replica)
            .await
            .is_ok_and(|keys| keys.len() == 1)
    })
    .await;
    let frozen = Frozen::stop(set.master.process.as_ref().expect("running").pid());
    let set = &set;
    answers_until(&replicas, &alice, "the Sentinel master is frozen", |got| async move {
        got == 200 && set.master_port().await == Some(set.replica.port)
    })
    .await;
    assert!(
        frozen.is_frozen(),
        "the replica served the session while the old master was frozen"
    );
    replicas
        .until_status(&alice, 200, "on both replicas after the failover")
        .await;
    drop(frozen);
}

/// Asks `a` for `browser`'s session every 200 ms until `done` holds for the answer, and returns
/// every answer in order. Each must come within [`HANG_GUARD`] and be 200 or 401 (while `what`,
/// no other answer is right), and `done` must hold within [`RECOVERY`].
async fn answers_until<F: Future<Output = bool>>(
    replicas: &Replicas,
    browser: &Browser,
    what: &str,
    mut done: impl FnMut(u16) -> F,
) -> Vec<u16> {
    let deadline = std::time::Instant::now() + RECOVERY;
    let mut answers = Vec::new();
    loop {
        let got = tokio::time::timeout(HANG_GUARD, browser.auth(&replicas.a, "/private/x"))
            .await
            .unwrap_or_else(|_| panic!("an answer while {what}"))
            .status()
            .as_u16();
        answers.push(got);
        assert!(got == 200 || got == 401, "{got}\n{}", replicas.logs());
        if done(got).await {
            return answers;
        }
        assert!(std::time::Instant::now() < deadline, "{answers:?}\n{}", replicas.logs());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
