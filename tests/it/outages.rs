//! Outages of what Portcullis depends on, through the real binary: a JWKS endpoint down at start
//! (not ready, logged by issuer, ready once it answers) and after start (cached keys serve, ready
//! stays), the login provider down (sessions serve until they need a refresh, a failed refresh
//! keeps the session until it expires), and a rules ConfigMap swapped to an invalid set under
//! load (see `configmap.rs`).

use std::time::{Duration, Instant};

use jsonwebtoken::Algorithm;
use serde_json::json;

use crate::common::jwks_server::{JwksServer, fixture_jwks};
use crate::common::login_kit::{APP, Browser, setup};
use crate::common::rules::DECISIONS as RULES;
use crate::common::tokens::{claims, sign};
use crate::common::{Portcullis, Setup, ask, client, free_port};

mod configmap;

fn config(issuer: &str) -> String {
    format!(
        r#"
[[issuers]]
name = "main"
issuer = "{issuer}"
jwks_uri = "{issuer}jwks.json"
audiences = ["api"]
algorithms = ["RS256"]

[rules]
paths = ["rules/"]
"#
    )
}

async fn auth(p: &Portcullis, token: &str) -> u16 {
    let bearer = format!("Bearer {token}");
    ask(p, "/admin/", &[("Authorization", bearer.as_str())])
        .await
        .status()
        .as_u16()
}

async fn status_of(p: &Portcullis, path: &str) -> u16 {
    client().get(p.url(path)).send().await.expect("get").status().as_u16()
}

/// Polls `check` every 100 ms until it holds; `within` is only a hang guard.
async fn eventually<F: AsyncFn() -> bool>(p: &Portcullis, what: &str, within: Duration, check: F) {
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "{what} never happened; log:\n{}",
            p.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn token(kid: &str, issuer: &str, jti: &str) -> String {
    sign(
        kid,
        Algorithm::RS256,
        kid,
        &claims(json!({ "iss": issuer, "jti": jti })),
    )
}

#[tokio::test]
async fn jwks_down_at_start_is_not_ready_and_logged_by_issuer_until_it_answers() {
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}/");
    let p = Portcullis::start(Setup::new(&config(&issuer), RULES)).await;
    p.wait_for("/readyz", 503).await;
    eventually(&p, "the failed load logged", Duration::from_secs(20), async || {
        p.log_text().contains("JWKS load failed")
    })
    .await;
    let log = p.log_text();
    let line = log.lines().find(|l| l.contains("JWKS load failed")).expect("line");
    assert!(line.contains("main"), "the line names the issuer: {line}");
    assert!(line.contains(&format!("{issuer}jwks.json")), "and the URL: {line}");
    assert!(line.contains("not ready"), "and what it means: {line}");
    assert_ne!(
        auth(&p, &token("rsa1", &issuer, "early")).await,
        200,
        "no keys: nothing passes"
    );
    assert_eq!(status_of(&p, "/readyz").await, 503);

    let _jwks = JwksServer::start_on(port, fixture_jwks(&["rsa1"])).await;
    // The retry backs off from 1 s doubling up to 30 s: the next one is at most 30 s away.
    eventually(&p, "readiness", Duration::from_secs(60), async || {
        status_of(&p, "/readyz").await == 200
    })
    .await;
    assert_eq!(auth(&p, &token("rsa1", &issuer, "late")).await, 200, "{}", p.log_text());
}

#[tokio::test]
async fn jwks_gone_after_start_keeps_the_cached_keys_serving_and_ready() {
    let jwks = JwksServer::start(fixture_jwks(&["rsa1"])).await;
    let issuer = jwks.issuer();
    let p = Portcullis::start(Setup::new(&config(&issuer), RULES)).await;
    p.wait_for("/readyz", 200).await;
    assert_eq!(auth(&p, &token("rsa1", &issuer, "before")).await, 200);
    drop(jwks); // connection refused from now on
    // An unknown kid forces a fetch against the dead endpoint.
    assert_eq!(auth(&p, &token("rsa2", &issuer, "unknown-kid")).await, 401);
    eventually(&p, "the failed fetch logged", Duration::from_secs(20), async || {
        p.log_text().contains("keeping the last good keys")
    })
    .await;
    assert_eq!(
        auth(&p, &token("rsa1", &issuer, "fresh")).await,
        200,
        "an uncached token of a known key still passes"
    );
    assert_eq!(status_of(&p, "/readyz").await, 200, "the last good keys keep it ready");
}

#[tokio::test]
async fn a_session_serves_through_a_provider_outage_until_it_expires() {
    // Due for a refresh 12 s after login, over 36 s after login.
    let (mut idp, p) =
        setup("secrets = [\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"]\nrefresh = \"12s\"\nttl = \"36s\"").await;
    let mut browser = Browser::default();
    let callback = browser.login(&p, &idp, "alice", APP).await;
    assert_eq!(callback.status(), 302, "{}", p.log_text());
    idp.stop();

    // Not due yet: served without asking the provider.
    let fresh = browser.auth(&p, "/private/x").await;
    assert_eq!(fresh.status(), 200, "{}", p.log_text());
    assert!(
        !p.log_text().contains("session refresh"),
        "nothing asked the provider yet"
    );

    // Due: the refresh fails, is logged, and the session still serves (no new cookie).
    eventually(&p, "a failed refresh", Duration::from_secs(60), async || {
        let answer = browser.auth(&p, "/private/x").await;
        assert_eq!(
            answer.status(),
            200,
            "the session serves until it expires: {}",
            p.log_text()
        );
        assert!(answer.headers().get("set-cookie").is_none(), "nothing was refreshed");
        p.log_text()
            .contains("session refresh failed; the session serves until it expires")
    })
    .await;

    // Expired: the session ends (a browser on /auth gets 401 with the login Location).
    eventually(&p, "the session's expiry", Duration::from_secs(90), async || {
        let answer = browser.auth(&p, "/private/x").await;
        match answer.status().as_u16() {
            200 => false,
            401 => true,
            other => panic!("answer {other} after expiry: {}", p.log_text()),
        }
    })
    .await;
}
