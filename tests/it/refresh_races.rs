//! Session refreshes racing with logouts and with each other, staged in a fixed order with a
//! provider whose token endpoint the test holds ([`crate::common::provider`]): a refresh in flight
//! never brings back a session that ended meanwhile, and concurrent requests of one session share
//! one refresh and one store write.

use crate::common::browser::{Browser, Jar, auth_at, with_rd};
use crate::common::login_kit::redis_session;
use crate::common::login_kit::{SECRET_ONE, config};
use crate::common::provider::{self, Provider, SID};
use crate::common::redis::Redis;
use crate::common::rules::PRIVATE as RULES;
use crate::common::{Portcullis, Setup, client, header};

/// Every request refreshes (`refresh = "0s"`), so the race needs no waiting.
fn always_refresh(session: &str) -> String {
    session.replace("refresh = \"1h\"", "refresh = \"0s\"")
}

async fn portcullis(provider: &Provider, session: &str) -> Portcullis {
    Portcullis::start(Setup::new(&config(&provider.issuer, &always_refresh(session)), RULES)).await
}

/// Starts `/auth` for `browser` in the background; the refresh it triggers is held.
async fn auth_with_held_refresh(
    p: &Portcullis,
    provider: &Provider,
    browser: &Browser,
) -> tokio::task::JoinHandle<reqwest::Response> {
    provider.hold_refreshes();
    let before = provider.refreshes();
    let (base, jar) = (p.base.clone(), browser.portcullis.clone());
    let in_flight = tokio::spawn(async move { auth_at(&base, &jar, "/private/x").await });
    provider.wait_for_refreshes(before + 1).await;
    in_flight
}

fn sets_a_session_cookie(response: &reqwest::Response) -> bool {
    let mut jar = Jar::default();
    jar.update(response);
    jar.0
        .keys()
        .any(|name| name.starts_with("_portcullis") && !name.contains("_csrf_"))
}

#[tokio::test]
async fn a_refresh_in_flight_does_not_bring_back_a_session_revoked_by_backchannel_logout() {
    let redis = Redis::start().await;
    let provider = Provider::start().await;
    let p = portcullis(&provider, &redis_session(&redis)).await;
    let browser = provider::login(&p).await;
    assert_eq!(redis.keys("portcullis:session:*").await.len(), 1);

    let in_flight = auth_with_held_refresh(&p, &provider, &browser).await;
    let logout = client()
        .post(p.url("/oauth2/backchannel_logout"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("logout_token={}", provider.logout_token(SID, Some("jti-race"))))
        .send()
        .await
        .expect("logout");
    assert_eq!(logout.status(), 200, "{}", p.log_text());
    assert!(
        redis.keys("portcullis:session:*").await.is_empty(),
        "the logout deleted it"
    );
    provider.release_refreshes();

    let answer = in_flight.await.expect("request task");
    assert!(
        redis.keys("portcullis:session:*").await.is_empty(),
        "the refresh wrote the session back"
    );
    assert_eq!(browser.auth(&p, "/private/x").await.status(), 401, "the cookie is dead");
    assert_eq!(
        answer.status(),
        401,
        "the refresh found the session gone: {}",
        p.log_text()
    );
    assert!(!sets_a_session_cookie(&answer));
}

#[tokio::test]
async fn a_refresh_completing_after_sign_out_is_refused_in_cookie_mode() {
    let provider = Provider::start().await;
    let p = portcullis(&provider, &format!("secrets = [\"{SECRET_ONE}\"]\nrefresh = \"1h\"")).await;
    let browser = provider::login(&p).await;

    let in_flight = auth_with_held_refresh(&p, &provider, &browser).await;
    let out = client()
        .get(with_rd(&p.url("/oauth2/sign_out"), "https://app.example.com/"))
        .header("cookie", browser.portcullis.header())
        .send()
        .await
        .expect("sign out");
    assert_eq!(out.status(), 302);
    provider.release_refreshes();

    let answer = in_flight.await.expect("request task");
    assert_eq!(answer.status(), 401, "{}", p.log_text());
    assert!(
        !sets_a_session_cookie(&answer),
        "no refreshed cookie for a signed-out session"
    );
    assert_eq!(browser.auth(&p, "/private/x").await.status(), 401);
}

#[tokio::test]
async fn concurrent_requests_share_one_refresh_and_one_store_write() {
    const REQUESTS: u64 = 8;
    let redis = Redis::start().await;
    let provider = Provider::start().await;
    let p = portcullis(&provider, &redis_session(&redis)).await;
    let browser = provider::login(&p).await;
    redis.reset_stats().await;

    provider.hold_refreshes();
    let requests: Vec<_> = (0..REQUESTS)
        .map(|_| {
            let (base, jar) = (p.base.clone(), browser.portcullis.clone());
            tokio::spawn(async move { auth_at(&base, &jar, "/private/x").await })
        })
        .collect();
    // Every request has read the session before the refresh may answer: each of them holds the
    // old session and would save the refreshed one if waiters saved.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while redis.calls("get").await < REQUESTS {
        assert!(std::time::Instant::now() < deadline, "the requests never reached Redis");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    provider.wait_for_refreshes(1).await;
    provider.release_refreshes();
    for request in requests {
        let answer = request.await.expect("request task");
        assert_eq!(answer.status(), 200, "{}", p.log_text());
        assert_eq!(
            header(&answer, "x-auth-request-access-token"),
            Some("access-1"),
            "every request has the refreshed session"
        );
    }
    assert_eq!(provider.refreshes(), 1, "one refresh at the provider");
    let writes = redis.calls("set").await + redis.calls("setex").await;
    assert_eq!(writes, 1, "only the request that refreshed stores the session");
    assert_eq!(browser.auth(&p, "/private/x").await.status(), 200);
}
