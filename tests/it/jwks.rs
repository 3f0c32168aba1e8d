//! Key sets through the real binary: discovery, rotation by kid-miss refetch, floods of unknown
//! kids, a JWKS endpoint that goes down, readiness.

use std::time::Duration;

use jsonwebtoken::Algorithm;
use serde_json::json;

use crate::common::jwks_server::{JwksServer, fixture_jwks};
use crate::common::rules::DECISIONS as RULES;
use crate::common::tokens::{claims, sign};
use crate::common::{Portcullis, Setup, client};

fn config(issuer: &str, source: &str) -> String {
    format!(
        r#"
[[issuers]]
name = "main"
issuer = "{issuer}"
{source}
audiences = ["api"]
algorithms = ["RS256", "ES256"]

[rules]
paths = ["rules/"]
"#
    )
}

fn token(key: &str, issuer: &str) -> String {
    sign(key, Algorithm::RS256, key, &claims(json!({ "iss": issuer })))
}

async fn status(p: &Portcullis, token: &str) -> u16 {
    client()
        .get(p.url("/auth"))
        .header("X-Original-URL", "https://app.example.com/admin/")
        .header("X-Original-Method", "GET")
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .await
        .expect("send")
        .status()
        .as_u16()
}

#[tokio::test]
async fn keys_come_from_discovery_and_readiness_waits_for_them() {
    let jwks = JwksServer::start(fixture_jwks(&["rsa1"])).await;
    let p = Portcullis::start(Setup::new(&config(&jwks.issuer(), ""), RULES)).await;
    p.wait_for("/readyz", 200).await;
    assert_eq!(status(&p, &token("rsa1", &jwks.issuer())).await, 200);
    assert!(
        p.metric(r#"portcullis_jwks_fetch_total{issuer="main",result="ok"}"#)
            .await
            >= 1.0
    );
}

#[tokio::test]
async fn readiness_is_503_while_an_issuer_has_no_keys() {
    let jwks = JwksServer::start(fixture_jwks(&["rsa1"])).await;
    jwks.set_failing(true);
    let source = format!("jwks_uri = \"{}\"", jwks.jwks_uri());
    let p = Portcullis::start(Setup::new(&config(&jwks.issuer(), &source), RULES)).await;
    p.wait_for("/readyz", 503).await;
    jwks.set_failing(false);
    p.wait_for("/readyz", 200).await;
}

#[tokio::test]
async fn rotated_key_is_found_by_a_kid_miss_refetch() {
    let jwks = JwksServer::start(fixture_jwks(&["rsa1"])).await;
    let source = format!("jwks_uri = \"{}\"", jwks.jwks_uri());
    let p = Portcullis::start(Setup::new(&config(&jwks.issuer(), &source), RULES)).await;
    p.wait_for("/readyz", 200).await;
    jwks.set_keys(fixture_jwks(&["rsa1", "rsa2"]));
    assert_eq!(
        status(&p, &token("rsa2", &jwks.issuer())).await,
        200,
        "new kid found by refetch"
    );
}

#[tokio::test]
async fn a_flood_of_unknown_kids_fetches_at_most_once_per_ten_seconds() {
    let jwks = JwksServer::start(fixture_jwks(&["rsa1"])).await;
    let source = format!("jwks_uri = \"{}\"", jwks.jwks_uri());
    let p = Portcullis::start(Setup::new(&config(&jwks.issuer(), &source), RULES)).await;
    p.wait_for("/readyz", 200).await;
    let before = jwks.fetches();
    let requests = (0..100).map(|i| {
        let forged = sign(
            "rsa2",
            Algorithm::RS256,
            &format!("kid-{i}"),
            &claims(json!({ "iss": jwks.issuer() })),
        );
        let p = &p;
        async move { status(p, &forged).await }
    });
    let statuses = futures_join_all(requests).await;
    assert!(statuses.iter().all(|s| *s == 401));
    let fetched = jwks.fetches() - before;
    assert_eq!(fetched, 1, "one refetch (single flight) for a flood of unknown kids");
}

#[tokio::test]
async fn keys_keep_working_when_the_jwks_endpoint_goes_down() {
    let jwks = JwksServer::start(fixture_jwks(&["rsa1"])).await;
    let source = format!("jwks_uri = \"{}\"", jwks.jwks_uri());
    let p = Portcullis::start(Setup::new(&config(&jwks.issuer(), &source), RULES)).await;
    p.wait_for("/readyz", 200).await;
    jwks.set_failing(true);
    // An unknown kid forces a fetch against the failing endpoint.
    let forged = sign(
        "rsa2",
        Algorithm::RS256,
        "rsa2",
        &claims(json!({ "iss": jwks.issuer() })),
    );
    assert_eq!(status(&p, &forged).await, 401);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        p.metric(r#"portcullis_jwks_fetch_total{issuer="main",result="error"}"#)
            .await
            >= 1.0
    );
    // A fresh (uncached) token signed by the known key still passes.
    let fresh = sign(
        "rsa1",
        Algorithm::RS256,
        "rsa1",
        &claims(json!({ "iss": jwks.issuer(), "jti": "fresh" })),
    );
    assert_eq!(status(&p, &fresh).await, 200);
    let response = client().get(p.url("/readyz")).send().await.expect("readyz");
    assert_eq!(response.status(), 200, "the last good keys keep the service ready");
}

#[tokio::test]
async fn verified_tokens_are_cached() {
    let jwks = JwksServer::start(fixture_jwks(&["rsa1"])).await;
    let p = Portcullis::start(Setup::new(&config(&jwks.issuer(), ""), RULES)).await;
    p.wait_for("/readyz", 200).await;
    let token = token("rsa1", &jwks.issuer());
    for _ in 0..3 {
        assert_eq!(status(&p, &token).await, 200);
    }
    assert_eq!(p.metric("portcullis_token_cache_misses_total").await, 1.0);
    assert_eq!(p.metric("portcullis_token_cache_hits_total").await, 2.0);
}

async fn futures_join_all<F: std::future::Future<Output = u16>>(futures: impl Iterator<Item = F>) -> Vec<u16> {
    let mut set = Vec::new();
    for future in futures {
        set.push(future);
    }
    let mut results = Vec::with_capacity(set.len());
    let pinned: Vec<_> = set.into_iter().map(Box::pin).collect();
    let joined = join_all(pinned).await;
    results.extend(joined);
    results
}

/// A minimal join-all (avoids a dependency on the futures crate for one test).
async fn join_all<F: std::future::Future<Output = u16> + Unpin>(mut futures: Vec<F>) -> Vec<u16> {
    let mut results: Vec<Option<u16>> = vec![None; futures.len()];
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, result) in futures.iter_mut().zip(results.iter_mut()) {
            if result.is_none() {
                match std::pin::Pin::new(&mut *future).poll(cx) {
                    std::task::Poll::Ready(value) => *result = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    results.into_iter().map(|r| r.expect("completed")).collect()
}
