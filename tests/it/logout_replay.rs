//! Back-channel logout tokens are used once: a token whose `jti` was seen is refused until it
//! expires (in Redis with the Redis store, shared by every instance; in the process otherwise),
//! and a token without `jti` is refused.

use crate::common::login_kit::redis_session;
use crate::common::login_kit::{config, cookie_session};
use crate::common::provider::{Provider, SID};
use crate::common::redis::Redis;
use crate::common::rules::PRIVATE as RULES;
use crate::common::{Portcullis, Setup, client};

async fn post_logout(p: &Portcullis, token: &str) -> (u16, serde_json::Value) {
    let response = client()
        .post(p.url("/oauth2/backchannel_logout"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("logout_token={token}"))
        .send()
        .await
        .expect("logout");
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(serde_json::Value::Null);
    (status, body)
}

async fn replays_are_refused(first: &Portcullis, second: &Portcullis, provider: &Provider) {
    let token = provider.logout_token(SID, Some("jti-1"));
    assert_eq!(post_logout(first, &token).await.0, 200, "{}", first.log_text());
    for p in [first, second] {
        let (status, body) = post_logout(p, &token).await;
        assert_eq!(status, 400, "replay accepted: {}", p.log_text());
        assert_eq!(body["error"], "invalid_request");
    }
    assert!(first.log_text().contains("replayed logout token refused"));
    let other = provider.logout_token(SID, Some("jti-2"));
    assert_eq!(post_logout(second, &other).await.0, 200, "another token still works");
    let (status, body) = post_logout(first, &provider.logout_token(SID, None)).await;
    assert_eq!(
        (status, &body["error"]),
        (400, &serde_json::json!("invalid_request")),
        "no jti"
    );
}

#[tokio::test]
async fn a_replayed_logout_token_is_refused_by_every_instance_sharing_redis() {
    let redis = Redis::start().await;
    let provider = Provider::start().await;
    let setup = || Setup::new(&config(&provider.issuer, &redis_session(&redis)), RULES);
    let a = Portcullis::start(setup()).await;
    let b = Portcullis::start(setup()).await;
    replays_are_refused(&a, &b, &provider).await;
    let marks: Vec<String> = redis.keys("portcullis:logout-jti:*").await;
    assert_eq!(marks.len(), 2, "{marks:?}");
    let ttl: i64 = redis.query(redis::cmd("PTTL").arg(&marks[0])).await;
    assert!(ttl > 0 && ttl <= 150_000, "until exp (120 s) plus leeway (30 s): {ttl}");
}

#[tokio::test]
async fn a_replayed_logout_token_is_refused_with_cookie_sessions() {
    let provider = Provider::start().await;
    let p = Portcullis::start(Setup::new(&config(&provider.issuer, &cookie_session()), RULES)).await;
    replays_are_refused(&p, &p, &provider).await;
}
