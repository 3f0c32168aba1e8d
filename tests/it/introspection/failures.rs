//! Every way an introspection endpoint can fail answers 503, never 200: a timeout (a listener
//! that accepts and never answers), a refused connection, another status than 200, a body that
//! is not JSON, JSON without `active`. The endpoints are small servers in the test that answer
//! as RFC 7662 describes (a JSON object with a boolean `active`) or fail on purpose.

use axum::http::StatusCode;
use axum::routing::post;
use serde_json::json;

use super::{RULES, ask_bearer, assert_no_token_logged, introspections};
use crate::common::{Portcullis, Setup, fixture, header};

/// The endpoints, one path each.
struct Endpoints {
    base: String,
    task: tokio::task::JoinHandle<()>,
}

fn active() -> serde_json::Value {
    json!({ "active": true, "sub": "svc-from-stub", "scope": "api:read" })
}

impl Endpoints {
    async fn start() -> Endpoints {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let app = axum::Router::new()
            .route("/active", post(|| async { axum::Json(active()) }))
            .route(
                "/status-500",
                post(|| async { (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(active())) }),
            )
            .route(
                "/status-401",
                post(|| async { (StatusCode::UNAUTHORIZED, axum::Json(active())) }),
            )
            .route(
                "/redirect",
                post(|| async { (StatusCode::FOUND, [("location", "/active")]) }),
            )
            .route(
                "/html",
                post(|| async { "<html><body>Service Unavailable</body></html>" }),
            )
            .route("/no-active", post(|| async { axum::Json(json!({ "sub": "svc" })) }));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Endpoints { base, task }
    }
}

impl Drop for Endpoints {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A listener that accepts connections and never answers (the timeout case).
async fn silent_listener() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/introspect", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (url, task)
}

/// A URL nothing listens on (the port was just freed).
async fn refusing_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    format!("http://127.0.0.1:{port}/introspect")
}

/// Portcullis with one issuer per URL of `urls` (in that order), each with introspection there.
async fn portcullis(urls: &[String]) -> Portcullis {
    let mut config = String::new();
    for (index, url) in urls.iter().enumerate() {
        let name = if index == 0 {
            "main".to_string()
        } else {
            format!("other-{index}")
        };
        config.push_str(&format!(
            r#"
[[issuers]]
name = "{name}"
issuer = "https://issuer-{index}.test/"
jwks_file = "{jwks}"

[issuers.introspection]
url = "{url}"
client_id = "portcullis"
client_secret = "s3cret"
timeout = "1s"
"#,
            jwks = fixture("keys/rsa1.jwks.json").display()
        ));
    }
    config.push_str("\n[rules]\npaths = [\"rules/\"]\ndefault = \"deny\"\n");
    Portcullis::start(Setup::new(&config, RULES)).await
}

#[tokio::test]
async fn every_failure_of_the_endpoint_answers_503_and_never_200() {
    let endpoints = Endpoints::start().await;
    let (silent, _silent_task) = silent_listener().await;
    let cases = [
        ("timeout", silent),
        ("refused connection", refusing_url().await),
        ("HTTP 500", format!("{}/status-500", endpoints.base)),
        (
            "HTTP 401 (the client is refused)",
            format!("{}/status-401", endpoints.base),
        ),
        ("a redirect", format!("{}/redirect", endpoints.base)),
        ("a body that is not JSON", format!("{}/html", endpoints.base)),
        ("JSON without active", format!("{}/no-active", endpoints.base)),
    ];
    for (case, url) in cases {
        let p = portcullis(std::slice::from_ref(&url)).await;
        let token = format!("opaque-{}", case.replace(' ', "-"));
        for _ in 0..2 {
            let response = ask_bearer(&p, "/x", &token).await;
            assert_eq!(response.status(), 503, "{case}: {}", p.log_text());
            assert_eq!(header(&response, "X-Auth-Request-User"), None, "{case}");
        }
        assert_eq!(introspections(&p, "error").await, 2.0, "{case}: errors are not cached");
        let errors = p
            .metric(r#"portcullis_decisions_total{endpoint="auth",outcome="error",rule="api"}"#)
            .await;
        assert_eq!(errors, 2.0, "{case}");
        let log = p.log_text();
        assert!(
            log.contains("token introspection failed") && log.contains(&url),
            "{case}: the log names the endpoint:\n{log}"
        );
        assert_no_token_logged(&p, &[&token]);
    }
}

#[tokio::test]
async fn the_same_endpoint_answering_active_lets_the_token_through() {
    // The control of the failure cases: the same stub set-up, answering properly, allows.
    let endpoints = Endpoints::start().await;
    let p = portcullis(&[format!("{}/active", endpoints.base)]).await;
    let response = ask_bearer(&p, "/read/x", "opaque-good").await;
    assert_eq!(response.status(), 200, "{}", p.log_text());
    assert_eq!(header(&response, "X-Auth-Request-User"), Some("svc-from-stub"));
}

#[tokio::test]
async fn an_active_answer_at_a_later_issuer_wins_over_an_earlier_failure() {
    let endpoints = Endpoints::start().await;
    let failing_then_active = [
        format!("{}/status-500", endpoints.base),
        format!("{}/active", endpoints.base),
    ];
    let p = portcullis(&failing_then_active).await;
    let response = ask_bearer(&p, "/x", "opaque-known-later").await;
    assert_eq!(response.status(), 200, "{}", p.log_text());
    assert_eq!(introspections(&p, "error").await, 1.0);
    let later = r#"portcullis_introspection_total{issuer="other-1",result="active"}"#;
    assert_eq!(p.metric(later).await, 1.0);
}

#[tokio::test]
async fn a_jwt_shaped_token_is_never_introspected() {
    let endpoints = Endpoints::start().await;
    let p = portcullis(&[format!("{}/active", endpoints.base)]).await;
    let forged = crate::common::tokens::rsa1(json!({ "iss": "https://elsewhere.test/" }));
    let response = ask_bearer(&p, "/x", &forged).await;
    assert_eq!(response.status(), 401, "a JWT is checked locally only");
    assert_eq!(introspections(&p, "active").await, 0.0);
    // A JWT of the issuer: verified once, then answered from the token cache, never introspected.
    let valid = crate::common::tokens::rsa1(json!({ "iss": "https://issuer-0.test/" }));
    for _ in 0..3 {
        assert_eq!(ask_bearer(&p, "/x", &valid).await.status(), 200, "{}", p.log_text());
    }
    assert_eq!(introspections(&p, "active").await, 0.0);
    assert_eq!(
        p.metric("portcullis_token_cache_misses_total").await,
        2.0,
        "the forged one and the valid one"
    );
    assert_eq!(p.metric("portcullis_token_cache_hits_total").await, 2.0);
}
