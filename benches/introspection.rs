//! The bearer credential's two paths side by side, as a decision meets them: a cached JWT and
//! a cached introspected (opaque) token, each through `bearer::check` (the `Authorization`
//! header parsed, the JWT-or-opaque test, the cache lookup); and, for scale, an uncached
//! introspection round trip to an endpoint on loopback.
//!
//! Run with `cargo bench --bench introspection -- --warm-up-time 1 --measurement-time 2`.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderValue, header};
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{EncodingKey, Header};
use portcullis::authn::bearer;
use portcullis::authn::jwks::http_client;
use portcullis::authn::jwt::{Verifier, install_crypto_provider};
use portcullis::config::IssuerConfig;
use portcullis::metrics::Metrics;
use serde_json::json;

const ISSUER: &str = "https://idp.bench/";

fn keys_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keys")
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs()
}

/// An introspection endpoint on loopback that answers every token as active, with the claims
/// a typical access token carries.
async fn endpoint() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/introspect", listener.local_addr().expect("addr"));
    let answer = json!({
        "active": true, "iss": ISSUER, "sub": "5f0c1b6e-8d3a-4c2e-9a1f-000000000000", "client_id": "web-frontend",
        "exp": now() + 3600, "iat": now(), "scope": "openid email profile",
        "email": "alice.example@example.com", "preferred_username": "alice", "groups": ["admins", "ops", "developers"],
    });
    let app = axum::Router::new().route(
        "/introspect",
        axum::routing::post(move || {
            let answer = answer.clone();
            async move { axum::Json(answer) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// A verifier of [`ISSUER`]: keys from the rsa1 fixture, introspection at `url`.
fn verifier(url: &str) -> Verifier {
    let config: IssuerConfig = serde_json::from_value(json!({
        "name": "bench", "issuer": ISSUER, "audiences": ["my-api"],
        "jwks_file": keys_dir().join("rsa1.jwks.json"),
        "introspection": { "url": url, "client_id": "portcullis", "client_secret": "s3cret" },
    }))
    .expect("issuer");
    Verifier::new(&[config], http_client(), Metrics::new())
}

/// A JWT access token like an IdP's (about 600 bytes of claims).
fn jwt() -> String {
    let pem = std::fs::read(keys_dir().join("rsa1.pem")).expect("fixture key");
    let key = EncodingKey::from_rsa_pem(&pem).expect("key");
    let claims = json!({
        "iss": ISSUER, "aud": ["my-api", "account"], "azp": "web-frontend",
        "sub": "5f0c1b6e-8d3a-4c2e-9a1f-000000000000", "iat": now(), "exp": now() + 3600,
        "email": "alice.example@example.com", "preferred_username": "alice",
        "groups": ["admins", "ops", "developers"], "scope": "openid email profile",
    });
    let mut header = Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some("rsa1".into());
    jsonwebtoken::encode(&header, &claims, &key).expect("signs")
}

fn bearer_headers(token: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let value = HeaderValue::from_str(&format!("Bearer {token}")).expect("header");
    headers.insert(header::AUTHORIZATION, value);
    headers
}

fn valid(checked: Option<portcullis::authn::Authenticated>) {
    let checked = checked.expect("presented");
    assert!(checked.outcome.identity().is_some(), "{:?}", checked.outcome);
}

fn bearer_paths(c: &mut Criterion) {
    install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let url = runtime.block_on(endpoint());
    let verifier = verifier(&url);
    runtime.block_on(verifier.load_keys());

    let jwt = bearer_headers(&jwt());
    // An opaque token as oidc-provider issues them (43 base64url characters).
    let opaque = bearer_headers("rRyoUC0n_5sqkZ6vVJmcYhLCs8ewtHk_FBVfpDUP-2z");
    valid(runtime.block_on(bearer::check(&verifier, &jwt, false)));
    valid(runtime.block_on(bearer::check(&verifier, &opaque, false)));

    c.bench_function("bearer: cached JWT", |b| {
        b.iter(|| valid(runtime.block_on(bearer::check(&verifier, &jwt, false))))
    });
    c.bench_function("bearer: cached introspected token", |b| {
        b.iter(|| valid(runtime.block_on(bearer::check(&verifier, &opaque, false))))
    });
    let introspector = verifier.introspector().expect("introspection configured");
    c.bench_function("bearer: uncached introspection (loopback endpoint)", |b| {
        b.iter(|| {
            introspector.clear_cache();
            valid(runtime.block_on(bearer::check(&verifier, &opaque, false)))
        })
    });
}

criterion_group!(benches, bearer_paths);
criterion_main!(benches);
