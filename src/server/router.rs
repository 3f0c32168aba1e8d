//! The HTTP router: every endpoint in the [`super::envelope`] (panics, request ids, deadline),
//! and the endpoints that are not decisions (userinfo, the identity token's key set, readiness,
//! metrics). The decision endpoints' handlers and `decide` are in `server.rs`.

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use tower::Layer;

use super::envelope::{Envelope, EnvelopeLayer};
use super::{AppState, EXT_AUTHZ_PREFIX, REQUEST_TIMEOUT, auth, ext_authz, forward_auth};
use crate::{answer, login, origin};

/// The router with every endpoint, in the [`super::envelope`].
pub fn router(state: AppState) -> Envelope<Router> {
    let routes = Router::new()
        .route("/auth", any(auth))
        .route("/forward-auth", any(forward_auth))
        .route(EXT_AUTHZ_PREFIX, any(ext_authz))
        .route("/ext-authz/", any(ext_authz))
        .route("/ext-authz/{*path}", any(ext_authz))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/.well-known/jwks.json", get(identity_token_jwks))
        .with_state(state.clone())
        .route("/oauth2/userinfo", any(userinfo))
        .with_state(state.clone())
        .merge(match state.0.login.clone() {
            Some(login) => login::router(login).layer(axum::middleware::from_fn_with_state(
                state.0.pages.clone(),
                answer::page::login_pages,
            )),
            None => Router::new(),
        });
    // The envelope wraps the router once, not each route (`Router::layer` would wrap every
    // route and clone each per request), and is served as it is: an outer `Router` around it
    // would route every request twice.
    EnvelopeLayer::new(REQUEST_TIMEOUT).layer(routes)
}

/// `/oauth2/userinfo`: the identity of the request's credential (a bearer token, the session
/// cookie with `[login]`, or a session check's cookie or header) as JSON, with a refreshed
/// session's cookies; else 401.
async fn userinfo(State(state): State<AppState>, request: Request) -> Response {
    let headers = request.headers();
    // A session check is told about this request itself: it is what the browser asked for.
    let authority = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .unwrap_or_default();
    let this = origin::OriginalRequest {
        method: request.method().clone(),
        scheme: "http".into(),
        host: authority.split(':').next().unwrap_or_default().to_ascii_lowercase(),
        authority: authority.to_owned(),
        path: request.uri().path().to_owned(),
        uri: request.uri().path_and_query().map_or("/", |pq| pq.as_str()).to_owned(),
    };
    let checked = state.0.authn.authenticate(headers, &this, state.0.authn.kinds()).await;
    match checked.outcome.identity() {
        Some(identity) => login::identity_json(identity, checked.upstream.set_cookies),
        None => (StatusCode::UNAUTHORIZED, "unauthenticated\n").into_response(),
    }
}

/// How long upstreams may keep the key set: short enough that a new key, published in
/// `key_file` at a restart, is fetched well within the 5 minute default `ttl` of the tokens
/// its predecessor signed (keep the old key in `previous_key_files` at least that long).
const JWKS_MAX_AGE: &str = "public, max-age=300";

/// `GET /.well-known/jwks.json`: the public keys of `[identity_token]`; 404 without it.
async fn identity_token_jwks(State(state): State<AppState>) -> Response {
    match &state.0.identity_tokens {
        Some(tokens) => (
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, JWKS_MAX_AGE),
            ],
            tokens.jwks().to_owned(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no [identity_token] is configured\n").into_response(),
    }
}

async fn readyz(State(state): State<AppState>) -> Response {
    if state.0.verifier.is_ready() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: issuer keys are not loaded yet\n",
        )
            .into_response()
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.0.metrics.render(),
    )
        .into_response()
}
