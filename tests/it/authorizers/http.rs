//! The `http` authorizer (Oathkeeper's `remote_json`): a small policy service in the test that
//! answers by the user it is sent: 200 allows, 403 denies; a timeout, a 500, a redirect or a
//! reply that is not HTTP is no answer (503, never 200).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::status;
use crate::common::tokens::rsa1;
use crate::common::{Portcullis, Setup, file_issuer_config};

const RULES: &str = r#"
- id: policy
  paths: ["/p/**"]
  policy: authenticated
  require: { authorizer: policy }
- id: garbage
  paths: ["/g/**"]
  policy: authenticated
  require: { authorizer: garbage }
"#;

type Seen = Arc<Mutex<Vec<(HeaderMap, Value)>>>;

/// The policy service: decides by the `user` it is sent (`turns` is allowed the first time it
/// is asked about, denied after).
async fn policy(State(seen): State<Seen>, headers: HeaderMap, body: String) -> Response {
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let asked_before = {
        let mut seen = seen.lock().expect("lock");
        let asked = seen.iter().filter(|(_, sent)| sent["user"] == body["user"]).count();
        seen.push((headers, body.clone()));
        asked
    };
    match body["user"].as_str().unwrap_or_default() {
        "alice" => StatusCode::OK.into_response(),
        "turns" if asked_before == 0 => StatusCode::OK.into_response(),
        "turns" => (StatusCode::FORBIDDEN, "not any more").into_response(),
        "bob" => (StatusCode::FORBIDDEN, "no").into_response(),
        "slow" => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            StatusCode::OK.into_response()
        }
        "chatty" => (StatusCode::OK, "}{ not json at all").into_response(),
        "moved" => (StatusCode::FOUND, [("location", "/elsewhere")]).into_response(),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "policy engine crashed").into_response(),
    }
}

/// A server that answers every connection with bytes that are not HTTP.
async fn garbage_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/check", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buffer = [0u8; 4096];
            let _ = stream.read(&mut buffer).await;
            let _ = stream.write_all(b"\x00\x01garbage, not HTTP\r\n\r\n").await;
        }
    });
    url
}

async fn start() -> (Seen, Portcullis) {
    start_caching_for("10s").await
}

/// [`start`] with the `policy` authorizer's `cache_ttl`.
async fn start_caching_for(cache_ttl: &str) -> (Seen, Portcullis) {
    let seen: Seen = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/check", listener.local_addr().expect("addr"));
    let app = Router::new().route("/check", post(policy)).with_state(seen.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let token_file = dir.path().join("policy-token");
    std::fs::write(&token_file, "policy-secret\n").expect("token");
    let config = format!(
        "{}\n[[authorizers]]\nname = \"policy\"\nkind = \"http\"\nurl = \"{url}\"\ntoken_file = \"{}\"\ncache_ttl = \"{cache_ttl}\"\ntimeout = \"1s\"\n\n[[authorizers]]\nname = \"garbage\"\nkind = \"http\"\nurl = \"{}\"\n",
        file_issuer_config("rsa1"),
        token_file.display(),
        garbage_server().await
    );
    let portcullis = Portcullis::start(Setup::new(&config, RULES)).await;
    // The token file is read at start; the folder may go.
    drop(dir);
    (seen, portcullis)
}

fn token(user: &str) -> String {
    rsa1(json!({ "sub": user, "groups": ["dev"], "tenant": "acme" }))
}

#[tokio::test]
async fn the_http_authorizer_allows_with_200_and_denies_with_403() {
    let (seen, p) = start().await;
    assert_eq!(status(&p, "POST", "/p/orders?page=2", Some(&token("alice"))).await, 200);
    assert_eq!(status(&p, "GET", "/p/orders", Some(&token("bob"))).await, 403);
    let (headers, body) = seen.lock().expect("lock")[0].clone();
    assert_eq!(headers["authorization"], "Bearer policy-secret");
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(body["user"], "alice");
    assert_eq!(body["email"], "alice@example.com");
    assert_eq!(body["groups"], json!(["dev"]));
    assert_eq!(body["claims"]["tenant"], "acme");
    assert_eq!(body["issuer"], "main");
    assert_eq!(body["rule"], "policy");
    assert_eq!(
        body["request"],
        json!({"method": "POST", "host": "app.example.com", "path": "/p/orders", "query": "page=2"})
    );
    assert_eq!(
        p.metric(r#"portcullis_authorizer_total{authorizer="policy",result="allow"}"#)
            .await,
        1.0
    );
    assert_eq!(
        p.metric(r#"portcullis_authorizer_total{authorizer="policy",result="deny"}"#)
            .await,
        1.0
    );
}

#[tokio::test]
async fn a_200_allows_whatever_its_body_says() {
    let (_, p) = start().await;
    assert_eq!(status(&p, "GET", "/p/x", Some(&token("chatty"))).await, 200);
}

#[tokio::test]
async fn a_timeout_a_500_a_redirect_and_a_reply_that_is_not_http_are_503() {
    let (seen, p) = start().await;
    for user in ["slow", "broken", "moved"] {
        assert_eq!(status(&p, "GET", "/p/x", Some(&token(user))).await, 503, "{user}");
    }
    assert_eq!(status(&p, "GET", "/g/x", Some(&token("alice"))).await, 503, "not HTTP");
    assert_eq!(seen.lock().expect("lock").len(), 3, "the redirect was not followed");
    assert_eq!(
        p.metric(r#"portcullis_authorizer_total{authorizer="policy",result="error"}"#)
            .await,
        3.0
    );
    assert_eq!(
        p.metric(r#"portcullis_authorizer_total{authorizer="garbage",result="error"}"#)
            .await,
        1.0
    );
    let log = p.log_text();
    for reason in ["timed out", "answered 500", "answered 302"] {
        assert!(log.contains(reason), "no `{reason}` in the log:\n{log}");
    }
    assert!(!log.contains("policy-secret"), "the authorizer's token was logged");
}

#[tokio::test]
async fn a_verdict_is_used_on_every_worker_for_cache_ttl_and_not_after() {
    let (seen, p) = start_caching_for("3s").await;
    let p = Arc::new(p);
    let turns = token("turns");
    // A wave of concurrent requests reaches every worker thread, and each keeps the verdict.
    let wave = |expected: u16, when: &'static str| {
        let (p, turns) = (p.clone(), turns.clone());
        async move {
            let asks: Vec<_> = (0..24)
                .map(|_| {
                    let (p, turns) = (p.clone(), turns.clone());
                    tokio::spawn(async move { status(&p, "GET", "/p/x", Some(&turns)).await })
                })
                .collect();
            for asked in asks {
                assert_eq!(asked.await.expect("task"), expected, "{when}");
            }
        }
    };
    wave(200, "the first verdict").await;
    assert_eq!(seen.lock().expect("lock").len(), 1, "one call for the wave");
    tokio::time::sleep(Duration::from_millis(3200)).await;
    wave(403, "the verdict lapsed: asked again").await;
    wave(403, "the new verdict").await;
    assert_eq!(seen.lock().expect("lock").len(), 2);
}
