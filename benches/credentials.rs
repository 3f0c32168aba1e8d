//! What one request's credential costs once its check is cached, through the one
//! `Authenticator::authenticate` every endpoint calls: a cached bearer JWT next to a cached
//! `[[session_checks]]` answer (a Kratos-shaped `/sessions/whoami` served in-process, asked once
//! to fill the cache). Both should cost about the same: a hash and a cache hit.
//!
//! Run with `cargo bench --bench credentials -- --warm-up-time 1 --measurement-time 2`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderValue, Method, header};
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{EncodingKey, Header};
use portcullis::authn::jwks::http_client;
use portcullis::authn::jwt::{Verifier, install_crypto_provider};
use portcullis::authn::{Authenticator, Outcome, SessionChecks};
use portcullis::config::{Algorithm, IssuerConfig, SessionCheckConfig};
use portcullis::metrics::Metrics;
use portcullis::origin::OriginalRequest;
use serde_json::{Value, json};

const ISSUER: &str = "https://idp.bench/";

fn keys_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keys")
}

fn issuer() -> IssuerConfig {
    IssuerConfig {
        name: "bench".into(),
        issuer: ISSUER.into(),
        jwks_uri: None,
        jwks_file: Some(keys_dir().join("rsa1.jwks.json")),
        audiences: vec!["my-api".into()],
        algorithms: vec![Algorithm::RS256],
        user_claim: "sub".into(),
        email_claim: "email".into(),
        groups_claim: "groups".into(),
        preferred_username_claim: "preferred_username".into(),
        leeway: Duration::from_secs(30),
        introspection: None,
    }
}

/// A realistic access token signed by the fixture key rsa1.
fn token() -> String {
    let pem = std::fs::read(keys_dir().join("rsa1.pem")).expect("fixture key");
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs();
    let claims = json!({
        "iss": ISSUER, "aud": ["my-api"], "sub": "5f0c1b6e-8d3a-4c2e-9a1f-000000000001",
        "iat": now, "exp": now + 3600, "email": "alice@example.com", "preferred_username": "alice",
        "groups": ["admins", "ops", "developers"], "scope": "openid email profile",
    });
    let mut header = Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some("rsa1".into());
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_rsa_pem(&pem).expect("key")).expect("signs")
}

/// A Kratos-shaped whoami answering one session; its URL.
async fn whoami() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/sessions/whoami", listener.local_addr().expect("addr"));
    let session: Value = json!({
        "id": "5f3c7c61-0000-4000-8000-000000000001", "active": true,
        "expires_at": "2099-01-01T00:00:00.000000Z", "authenticated_at": "2026-11-29T00:00:00.000000Z",
        "identity": {
            "id": "9f425a8d-7f2d-4a2c-8b1e-000000000001", "schema_id": "default", "state": "active",
            "traits": { "email": "alice@example.com", "username": "alice" },
            "metadata_public": { "groups": ["admins", "ops", "developers"] }
        }
    });
    let app = axum::Router::new().route(
        "/sessions/whoami",
        axum::routing::get(move || {
            let session = session.clone();
            async move { axum::Json(session) }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

fn check(url: &str) -> SessionCheckConfig {
    SessionCheckConfig {
        name: "kratos".into(),
        url: url.parse().expect("url"),
        cookies: vec!["ory_kratos_session".into()],
        headers: Vec::new(),
        forward_headers: vec![header::COOKIE],
        user_field: "identity.id".into(),
        email_field: "identity.traits.email".into(),
        groups_field: "identity.metadata_public.groups".into(),
        preferred_username_field: "identity.traits.username".into(),
        cache_ttl: Duration::from_secs(3600),
        timeout: Duration::from_secs(2),
    }
}

fn cached_credentials(c: &mut Criterion) {
    install_crypto_provider();
    // One thread, as benches/jwt.rs: the in-process whoami runs while `block_on` drives it.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let url = runtime.block_on(whoami());
    let verifier = Arc::new(Verifier::new(&[issuer()], http_client(), Metrics::new()));
    runtime.block_on(verifier.load_keys());
    let checks = SessionChecks::new(&[check(&url)], http_client(), Metrics::new(), 64 << 20);
    let authn = Authenticator::new(verifier, None, false).with_session_checks(checks);
    let request = OriginalRequest {
        method: Method::GET,
        scheme: "https",
        host: "app.example.com".into(),
        authority: "app.example.com".into(),
        path: "/admin/users".into(),
        uri: "/admin/users?page=2".into(),
    };
    let mut bearer = HeaderMap::new();
    let value = HeaderValue::from_str(&format!("Bearer {}", token())).expect("header");
    bearer.insert(header::AUTHORIZATION, value);
    let mut cookie = HeaderMap::new();
    let value = "theme=dark; ory_kratos_session=ory_st_0123456789abcdef0123456789abcdef; _ga=GA1.1.1";
    cookie.insert(header::COOKIE, HeaderValue::from_static(value));
    for (label, headers) in [
        ("authenticate: cached JWT", &bearer),
        ("authenticate: cached session check", &cookie),
    ] {
        let first = runtime.block_on(authn.authenticate(headers, &request, authn.kinds()));
        assert!(
            matches!(first.outcome, Outcome::Valid(_)),
            "{label}: {:?}",
            first.outcome
        );
        c.bench_function(label, |b| {
            b.iter(|| runtime.block_on(authn.authenticate(headers, &request, authn.kinds())))
        });
    }
}

criterion_group!(benches, cached_credentials);
criterion_main!(benches);
