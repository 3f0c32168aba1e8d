//! Tests of bearer JWT verification against fixture keys, a JWKS file and an in-process IdP.

mod attacks;
mod claims;
mod keys;
mod valid;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::EncodingKey;
use serde_json::{Value, json};

use super::{MAX_TOKEN_BYTES, TokenError, Verifier, install_crypto_provider, unix_now};
use crate::authn::Identity;
use crate::config::{Algorithm, IssuerConfig};
use crate::metrics::Metrics;

/// The issuer of tokens checked against the static JWKS file.
pub const ISSUER: &str = "https://idp.test/";
/// The audience every test issuer accepts.
pub const AUDIENCE: &str = "my-api";

fn fixture(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/keys")
        .join(file)
}

/// The JWK of a fixture key (`rsa1`, `rsa2`, `ec1`, `ed1`).
pub fn jwk(name: &str) -> Value {
    let text = std::fs::read_to_string(fixture(&format!("{name}.jwks.json"))).expect("fixture JWKS");
    let set: Value = serde_json::from_str(&text).expect("fixture JWKS is JSON");
    set["keys"][0].clone()
}

/// A JWKS document of these fixture keys.
pub fn jwks(names: &[&str]) -> Value {
    json!({ "keys": names.iter().map(|name| jwk(name)).collect::<Vec<_>>() })
}

/// The signing key of a fixture (PKCS#8 PEM).
pub fn signing_key(name: &str) -> EncodingKey {
    let pem = std::fs::read(fixture(&format!("{name}.pem"))).expect("fixture key");
    let key = match &name[..2] {
        "rs" => EncodingKey::from_rsa_pem(&pem),
        "ec" => EncodingKey::from_ec_pem(&pem),
        _ => EncodingKey::from_ed_pem(&pem),
    };
    key.expect("fixture key parses")
}

/// Signs `header.claims` with `key` using the header's `alg`, byte for byte as given.
pub fn sign(header: &Value, claims: &Value, key: &EncodingKey) -> String {
    install_crypto_provider();
    let alg: jsonwebtoken::Algorithm = serde_json::from_value(header["alg"].clone()).expect("a jsonwebtoken alg");
    let message = format!("{}.{}", encode(header), encode(claims));
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), key, alg).expect("signs");
    format!("{message}.{signature}")
}

/// base64url of a JSON value.
pub fn encode(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// A token of fixture key `name` (also its kid) with `alg` and `claims`.
pub fn mint(alg: &str, name: &str, claims: &Value) -> String {
    sign(
        &json!({ "alg": alg, "kid": name, "typ": "JWT" }),
        claims,
        &signing_key(name),
    )
}

/// Claims that pass every check for [`ISSUER`]; tests change what they need.
pub fn good_claims() -> Value {
    let now = unix_now();
    json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "email": "alice@example.com",
        "preferred_username": "ali", "groups": ["admins", "ops"], "scope": "read write",
        "iat": now, "exp": now + 600,
    })
}

/// `good_claims` with `changes` merged in (a `null` removes the claim).
pub fn claims_with(changes: Value) -> Value {
    let mut claims = good_claims();
    let object = claims.as_object_mut().expect("object");
    for (name, value) in changes.as_object().expect("object") {
        match value {
            Value::Null => object.remove(name),
            _ => object.insert(name.clone(), value.clone()),
        };
    }
    claims
}

/// An issuer block with the test defaults and no key source.
pub fn issuer_config(name: &str, issuer: &str) -> IssuerConfig {
    IssuerConfig {
        name: name.into(),
        issuer: issuer.into(),
        jwks_uri: None,
        jwks_file: None,
        audiences: vec![AUDIENCE.into()],
        algorithms: vec![Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA],
        user_claim: "sub".into(),
        email_claim: "email".into(),
        groups_claim: "groups".into(),
        preferred_username_claim: "preferred_username".into(),
        leeway: Duration::from_secs(5),
        introspection: None,
    }
}

/// A verifier of [`ISSUER`] over a JWKS file, with its keys loaded.
pub struct FileSetup {
    pub verifier: Verifier,
    pub metrics: Metrics,
    _dir: tempfile::TempDir,
}

/// [`FileSetup`] for a JWKS of `keys` and an issuer block adjusted by `adjust`.
pub async fn file_setup(keys: Value, adjust: impl FnOnce(&mut IssuerConfig)) -> FileSetup {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, keys.to_string()).expect("write JWKS");
    let mut config = issuer_config("main", ISSUER);
    config.jwks_file = Some(path);
    adjust(&mut config);
    let metrics = Metrics::new();
    let verifier = Verifier::new(&[config], crate::authn::jwks::http_client(), metrics.clone());
    verifier.load_keys().await;
    FileSetup {
        verifier,
        metrics,
        _dir: dir,
    }
}

/// The usual file setup: rsa1, ec1 and ed1, RS256/ES256/EdDSA allowed.
pub async fn standard() -> FileSetup {
    file_setup(jwks(&["rsa1", "ec1", "ed1"]), |_| {}).await
}

/// A minimal in-process IdP for the unit tests (which cannot use the integration kit's
/// `tests/it/common/jwks_server.rs`): a JWKS and a discovery document, failing on demand,
/// counting JWKS fetches.
pub struct Idp {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    state: Arc<IdpState>,
}

struct IdpState {
    url: String,
    jwks: Mutex<Value>,
    fetches: AtomicUsize,
    failing: AtomicBool,
    max_age: Mutex<Option<u64>>,
}

impl Idp {
    /// Starts the IdP on a free port, serving `jwks`.
    pub async fn start(jwks: Value) -> Idp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let state = Arc::new(IdpState {
            url: url.clone(),
            jwks: Mutex::new(jwks),
            fetches: AtomicUsize::new(0),
            failing: AtomicBool::new(false),
            max_age: Mutex::new(None),
        });
        let app = Router::new()
            .route("/jwks.json", get(serve_jwks))
            .route("/.well-known/openid-configuration", get(serve_discovery))
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Idp { url, state }
    }

    /// The issuer string of this IdP (its discovery document names it).
    pub fn issuer(&self) -> String {
        format!("{}/", self.url)
    }

    /// The JWKS URL.
    pub fn jwks_uri(&self) -> String {
        format!("{}/jwks.json", self.url)
    }

    /// How many times the JWKS was fetched.
    pub fn fetches(&self) -> usize {
        self.state.fetches.load(Ordering::SeqCst)
    }

    /// Answers 500 to every request while `failing`.
    pub fn fail(&self, failing: bool) {
        self.state.failing.store(failing, Ordering::SeqCst);
    }

    /// Sends `Cache-Control: max-age=<seconds>` with the JWKS.
    pub fn set_max_age(&self, seconds: Option<u64>) {
        *self.state.max_age.lock().expect("lock") = seconds;
    }
}

async fn serve_jwks(State(state): State<Arc<IdpState>>) -> Response {
    state.fetches.fetch_add(1, Ordering::SeqCst);
    if state.failing.load(Ordering::SeqCst) {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let body = state.jwks.lock().expect("lock").to_string();
    let max_age = *state.max_age.lock().expect("lock");
    let mut response = ([(header::CONTENT_TYPE, "application/json")], body).into_response();
    if let Some(seconds) = max_age {
        let value = format!("public, max-age={seconds}").parse().expect("header value");
        response.headers_mut().insert(header::CACHE_CONTROL, value);
    }
    response
}

async fn serve_discovery(State(state): State<Arc<IdpState>>) -> Response {
    if state.failing.load(Ordering::SeqCst) {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let url = &state.url;
    axum::Json(json!({ "issuer": format!("{url}/"), "jwks_uri": format!("{url}/jwks.json") })).into_response()
}

/// A verifier of the IdP's tokens, keys from `jwks_uri` (or discovery when `discovery`).
pub async fn idp_verifier(idp: &Idp, discovery: bool) -> (Arc<Verifier>, Metrics) {
    let mut config = issuer_config("idp", &idp.issuer());
    if !discovery {
        config.jwks_uri = Some(idp.jwks_uri());
    }
    let metrics = Metrics::new();
    let verifier = Arc::new(Verifier::new(
        &[config],
        crate::authn::jwks::http_client(),
        metrics.clone(),
    ));
    verifier.load_keys().await;
    (verifier, metrics)
}

/// The value of `portcullis_jwks_fetch_total{issuer, result}`.
pub fn fetch_count(metrics: &Metrics, issuer: &str, result: &str) -> u64 {
    metrics.jwks_fetch_total.with_label_values(&[issuer, result]).get()
}

/// Asserts that `result` accepted alice's token as the identity of issuer `issuer` (not merely
/// that something was accepted).
#[track_caller]
pub fn assert_accepted(result: Result<Arc<Identity>, TokenError>, issuer: &str) {
    let identity = result.expect("the token must be accepted");
    assert_eq!((&*identity.issuer, identity.user.as_str()), (issuer, "alice"));
}

/// Asserts that `result` is a refusal whose reason contains `reason`, and not the token.
#[track_caller]
pub fn assert_refused<T: std::fmt::Debug>(result: Result<T, TokenError>, reason: &str, token: &str) {
    let error = result.expect_err("the token must be refused");
    let text = error.to_string();
    assert!(text.contains(reason), "refusal `{text}` should mention `{reason}`");
    let signature = token.rsplit('.').next().unwrap_or(token);
    assert!(
        signature.len() < 8 || !text.contains(signature),
        "a refusal must not contain the token"
    );
}
