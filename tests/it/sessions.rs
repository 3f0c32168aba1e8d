//! Redis sessions with a real `redis-server`: two Portcullis instances sharing one Redis,
//! back-channel logout from the real provider, sign-out deleting the entry, and Redis stopped
//! silent in the middle (the lookup is abandoned: a 401 while Redis still says nothing; bearer
//! tokens unaffected).

use std::time::{Duration, Instant};

use crate::common::login_kit::{APP, Browser, config, redis_session, start_idp, with_rd};
use crate::common::redis::Redis;
use crate::common::rules::PRIVATE as RULES;
use crate::common::{Portcullis, Setup, client, free_port, tokens};

/// A Portcullis whose login provider is `issuer` and whose sessions live in `redis`.
async fn on_redis(issuer: &str, redis: &Redis) -> Portcullis {
    Portcullis::start(Setup::new(&config(issuer, &redis_session(redis)), RULES)).await
}

#[tokio::test]
async fn backchannel_logout_revokes_a_live_session_on_both_instances() {
    let redis = Redis::start().await;
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let a = on_redis(&issuer, &redis).await;
    let b = on_redis(&issuer, &redis).await;
    let idp = start_idp(port, Some(a.url("/oauth2/backchannel_logout"))).await;
    let mut browser = Browser::default();
    let callback = browser.login(&a, &idp, "alice", APP).await;
    assert_eq!(callback.status(), 302, "{}", a.log_text());
    assert!(
        browser.portcullis.0["_portcullis"].len() < 400,
        "the cookie holds only the id"
    );
    assert_eq!(browser.auth(&a, "/private/x").await.status(), 200, "{}", a.log_text());
    assert_eq!(
        browser.auth(&b, "/private/x").await.status(),
        200,
        "the other instance sees it"
    );

    // The provider's own logout (RP-initiated at the IdP) sends the back-channel logout to `a`.
    browser.end_provider_session(&idp).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while browser.auth(&b, "/private/x").await.status() != 401 {
        assert!(Instant::now() < deadline, "never revoked; a:\n{}", a.log_text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(browser.auth(&a, "/private/x").await.status(), 401);
    assert!(a.log_text().contains("back-channel logout revoked sessions"));
}

#[tokio::test]
async fn backchannel_logout_refuses_bad_tokens() {
    let redis = Redis::start().await;
    let port = free_port();
    let a = on_redis(&format!("http://127.0.0.1:{port}"), &redis).await;
    let _idp = start_idp(port, None).await;
    let wrong_issuer_key = tokens::rsa1(serde_json::json!({
        "iss": format!("http://127.0.0.1:{port}"),
        "aud": "portcullis",
        "sid": "s",
        "events": { "http://schemas.openid.net/event/backchannel-logout": {} },
    }));
    for body in [
        String::new(),
        "logout_token=garbage".into(),
        format!("logout_token={wrong_issuer_key}"),
    ] {
        let response = client()
            .post(a.url("/oauth2/backchannel_logout"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.clone())
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), 400, "{body}");
        let json: serde_json::Value = response.json().await.expect("json");
        assert_eq!(json["error"], "invalid_request");
    }
}

#[tokio::test]
async fn sign_out_deletes_the_redis_entry_so_the_old_cookie_is_dead() {
    let redis = Redis::start().await;
    let port = free_port();
    let a = on_redis(&format!("http://127.0.0.1:{port}"), &redis).await;
    let idp = start_idp(port, None).await;
    let mut browser = Browser::default();
    browser.login(&a, &idp, "alice", APP).await;
    assert_eq!(browser.auth(&a, "/private/x").await.status(), 200);
    let out = client()
        .get(with_rd(&a.url("/oauth2/sign_out"), "https://app.example.com/"))
        .header("cookie", browser.portcullis.header())
        .send()
        .await
        .expect("sign out");
    assert_eq!(out.status(), 302);
    assert_eq!(
        browser.auth(&a, "/private/x").await.status(),
        401,
        "the replayed old cookie"
    );
}

#[tokio::test]
async fn redis_unanswering_gives_a_401_and_bearer_tokens_keep_working() {
    let redis = Redis::start().await;
    let port = free_port();
    let a = on_redis(&format!("http://127.0.0.1:{port}"), &redis).await;
    let idp = start_idp(port, None).await;
    let mut browser = Browser::default();
    browser.login(&a, &idp, "alice", APP).await;
    assert_eq!(browser.auth(&a, "/private/x").await.status(), 200);
    let errors_before = a.metric("portcullis_session_store_errors_total").await;
    // A blackhole: the connection stays open and the command is never answered, so only
    // Portcullis abandoning it can produce an answer. The bound is a hang guard, not a speed
    // claim (the command timeout is far below it).
    let frozen = redis.freeze().await;
    for _ in 0..3 {
        let response = tokio::time::timeout(HANG_GUARD, browser.auth(&a, "/private/x"))
            .await
            .expect("no answer while Redis is silent: the session lookup was never abandoned");
        assert_eq!(response.status(), 401, "{}", a.log_text());
        assert!(frozen.is_frozen(), "the answer must come while Redis is still silent");
    }
    assert_eq!(
        a.metric("portcullis_session_store_errors_total").await,
        errors_before + 3.0,
        "each abandoned lookup is counted"
    );
    let bearer = tokio::time::timeout(
        HANG_GUARD,
        crate::common::ask(
            &a,
            "/private/x",
            &[(
                "Authorization",
                &format!("Bearer {}", tokens::rsa1(serde_json::json!({}))),
            )],
        ),
    )
    .await
    .expect("a bearer token needs no Redis");
    assert_eq!(bearer.status(), 200, "{}", a.log_text());
    assert!(frozen.is_frozen());
}

/// How long a test waits for an answer that must come without the silent peer: a guard
/// against a hang, many times the timeouts involved.
const HANG_GUARD: Duration = Duration::from_secs(15);
