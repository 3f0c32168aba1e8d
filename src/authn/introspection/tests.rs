//! The introspector against a small in-process endpoint that answers as RFC 7662 says (a form
//! POST with HTTP Basic client authentication, a JSON answer), counting and holding calls.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde_json::json;

use super::*;

struct Stub {
    calls: AtomicUsize,
    /// Held calls wait until this turns false.
    held: tokio::sync::watch::Sender<bool>,
    status: StatusCode,
}

async fn introspect(State(stub): State<Arc<Stub>>, headers: HeaderMap, body: String) -> impl IntoResponse {
    stub.calls.fetch_add(1, Ordering::SeqCst);
    let mut held = stub.held.subscribe();
    let _ = held.wait_for(|held| !held).await;
    let authorized = headers.get("authorization").and_then(|v| v.to_str().ok())
        == Some(basic_authorization("portcullis", "s3cret:%").as_str());
    let form: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    let active = authorized
        && form.get("token_type_hint").map(String::as_str) == Some("access_token")
        && form.get("token").is_some_and(|token| token.starts_with("good"));
    let answer = if active {
        json!({"active": true, "sub": "alice", "scope": "read", "exp": unix_now() + 600, "iss": "https://idp.test/"})
    } else {
        json!({"active": false})
    };
    (stub.status, axum::Json(answer))
}

async fn start(status: StatusCode) -> (Arc<Stub>, String) {
    let stub = Arc::new(Stub {
        calls: AtomicUsize::new(0),
        held: tokio::sync::watch::channel(false).0,
        status,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/introspect", listener.local_addr().expect("addr"));
    let app = Router::new()
        .route("/introspect", axum::routing::post(introspect))
        .with_state(stub.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (stub, url)
}

fn introspector(url: &str) -> (Introspector, Metrics) {
    let issuer: IssuerConfig = serde_json::from_value(json!({
        "name": "main", "issuer": "https://idp.test/",
        "introspection": {"url": url, "client_id": "portcullis", "client_secret": "s3cret:%", "timeout": "2s"}
    }))
    .expect("issuer");
    let metrics = Metrics::new();
    let introspector = Introspector::new(&[issuer], crate::authn::jwks::http_client(), metrics.clone());
    (introspector.expect("introspection configured"), metrics)
}

fn calls(metrics: &Metrics, result: &str) -> u64 {
    metrics.introspection_total.with_label_values(&["main", result]).get()
}

#[tokio::test]
async fn an_active_token_is_valid_and_cached() {
    let (stub, url) = start(StatusCode::OK).await;
    let (introspector, metrics) = introspector(&url);
    for _ in 0..3 {
        match introspector.check("good-1").await {
            Checked::Valid(identity) => {
                assert_eq!(identity.user, "alice");
                assert_eq!(identity.scopes, ["read"]);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(stub.calls.load(Ordering::SeqCst), 1);
    assert_eq!(calls(&metrics, "active"), 1);
}

#[tokio::test]
async fn an_inactive_token_is_invalid_and_cached_briefly() {
    let (stub, url) = start(StatusCode::OK).await;
    let (introspector, metrics) = introspector(&url);
    for _ in 0..5 {
        assert!(matches!(introspector.check("bad").await, Checked::Invalid(_)));
    }
    assert_eq!(
        stub.calls.load(Ordering::SeqCst),
        1,
        "a flood of one bad token is one call"
    );
    assert_eq!(calls(&metrics, "inactive"), 1);
}

#[tokio::test]
async fn concurrent_misses_for_one_token_make_one_call() {
    let (stub, url) = start(StatusCode::OK).await;
    let (introspector, _) = introspector(&url);
    let introspector = Arc::new(introspector);
    stub.held.send_replace(true);
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let introspector = introspector.clone();
            tokio::spawn(async move { introspector.check("good-2").await })
        })
        .collect();
    // Wait until the one call is held at the endpoint, then give every task time to reach the
    // cache (a task that came later than the release would find the verdict cached anyway).
    while stub.calls.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    stub.held.send_replace(false);
    for task in tasks {
        assert!(matches!(task.await.expect("task"), Checked::Valid(_)));
    }
    assert_eq!(stub.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_endpoint_error_is_unavailable_and_not_cached() {
    let (stub, url) = start(StatusCode::INTERNAL_SERVER_ERROR).await;
    let (introspector, metrics) = introspector(&url);
    for _ in 0..2 {
        match introspector.check("good-3").await {
            Checked::Unavailable(reason) => assert!(!reason.contains("good-3"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(stub.calls.load(Ordering::SeqCst), 2, "errors are never cached");
    assert_eq!(calls(&metrics, "error"), 2);
}

#[test]
fn jwts_are_told_from_opaque_tokens() {
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256"}"#);
    assert!(looks_like_jwt(&format!("{header}.e30.sig")));
    let no_alg = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"typ":"JWT"}"#);
    for opaque in [
        "2YotnFZFEjr1zCsicMWpAA".to_string(),
        format!("{no_alg}.e30.sig"),
        format!("{header}.e30"),
        format!("{header}.e30.sig.more"),
        "a.b.c".into(),
        String::new(),
    ] {
        assert!(!looks_like_jwt(&opaque), "{opaque}");
    }
}

#[test]
fn a_jwt_header_is_a_json_object_with_an_alg_member_and_nothing_after_it() {
    let encode = |text: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text);
    let long_header = format!(r#"{{"alg":"RS256","x5c":["{}"]}}"#, "A".repeat(2000));
    let headers = [
        (r#"{"alg":"RS256"}"#, true),
        (r#" { "typ" : "JWT" , "alg" : null } "#, true),
        (r#"{"al\u0067":"RS256"}"#, true),
        (r#"{"alg":"RS256","alg":"none"}"#, true),
        (long_header.as_str(), true),
        (r#"{"ALG":"RS256"}"#, false),
        (r#"{"nested":{"alg":"RS256"}}"#, false),
        (r#"{"alg":"RS256"} x"#, false),
        (r#"{"alg":"RS256"}{}"#, false),
        (r#"{"alg":"RS256","#, false),
        (r#"{"alg":RS256}"#, false),
        (r#"["alg"]"#, false),
        (r#""alg""#, false),
        ("{\"alg\":\"R\u{fffd}S256\"}", true),
        ("{}", false),
        ("", false),
    ];
    // Not UTF-8 (in a value the test otherwise skips): no JSON text, no JWT.
    let mut latin1 = br#"{"alg":"R"#.to_vec();
    latin1.extend([0xe9, b'"', b'}']);
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&latin1);
    assert!(!looks_like_jwt(&format!("{encoded}.e30.sig")));
    for (header, jwt) in headers {
        assert_eq!(looks_like_jwt(&format!("{}.e30.sig", encode(header))), jwt, "{header}");
        for not_three_parts in [
            format!("{}.e30", encode(header)),
            format!("{}.e30.sig.", encode(header)),
            format!("{}.e30.sig.more", encode(header)),
        ] {
            assert!(!looks_like_jwt(&not_three_parts), "{not_three_parts}");
        }
        // Padding is not base64url without padding.
        assert!(!looks_like_jwt(&format!("{}=.e30.sig", encode(header))), "{header}");
    }
}

#[test]
fn client_secret_basic_form_encodes_before_base64() {
    // RFC 6749 2.3.1: `a b:c` / `d:é` become `a+b%3Ac:d%3A%C3%A9` before base64.
    let expected = base64::engine::general_purpose::STANDARD.encode("a+b%3Ac:d%3A%C3%A9");
    assert_eq!(basic_authorization("a b:c", "d:é"), format!("Basic {expected}"));
}
