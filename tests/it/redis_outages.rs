//! Redis down, slow and back, with a real `redis-server`: while Redis is killed or busy in a
//! `DEBUG SLEEP`, a session request gets the documented answer (401: no session can be read) at
//! once rather than hanging, bearer tokens keep working, and when Redis is back the same session
//! works again without restarting Portcullis. (A server stopped with SIGSTOP is in
//! `sessions.rs`.)

use std::time::Duration;

use crate::common::redis_ha::{RestartableRedis, settle};
use crate::common::shared_sessions::{Replicas, session_in};
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
