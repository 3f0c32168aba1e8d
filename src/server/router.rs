//! The HTTP router: every endpoint, the tower layers around them, request ids, and the
//! endpoints that are not decisions (userinfo, the identity token's key set, readiness,
//! metrics). The decision endpoints' handlers and `decide` are in `server.rs`.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use super::{AppState, EXT_AUTHZ_PREFIX, REQUEST_TIMEOUT, auth, ext_authz, forward_auth};
use crate::{answer, login, origin};

/// The router with every endpoint and the tower layers.
pub fn router(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
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
    // The layers wrap the router once, not each route (`Router::layer` would box every layer of
    // every route and clone each box per request: measured, 28 allocations per decision).
    // Outermost first: a panic anywhere below answers 500 instead of resetting the connection;
    // an id is set (or the caller's kept), put on the trace span and copied to the answer; the
    // timeout wraps the handler only.
    let layers = tower::ServiceBuilder::new()
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        .layer(SetRequestIdLayer::new(request_id.clone(), RequestIds::new()))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
                // The id is looked up inside the macro: only when the span is enabled.
                tracing::debug_span!(
                    "request",
                    method = %request.method(),
                    path = %request.uri().path(),
                    request_id = %request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or(""),
                )
            }),
        )
        .layer(PropagateRequestIdLayer::new(request_id))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            REQUEST_TIMEOUT,
        ));
    Router::new().fallback_service(layers.service(routes))
}

/// Request ids for requests that come without one: a random prefix per process and a counter,
/// as 32 hex digits. Unique across restarts and replicas, and cheap: a UUID v4 per request
/// costs a `getrandom` system call, a visible share of a cached decision's CPU time.
#[derive(Clone)]
struct RequestIds {
    prefix: u64,
    next: Arc<std::sync::atomic::AtomicU64>,
}

impl RequestIds {
    fn new() -> RequestIds {
        RequestIds {
            prefix: rand::random(),
            next: Arc::new(std::sync::atomic::AtomicU64::new(0)),
        }
    }
}

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut id = [0u8; 32];
        for (i, byte) in id.iter_mut().enumerate() {
            let word = if i < 16 { self.prefix } else { n };
            *byte = HEX[((word >> (60 - 4 * (i % 16))) & 0xf) as usize];
        }
        HeaderValue::from_bytes(&id).ok().map(RequestId::new)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_the_prefix_and_a_counter_in_hex() {
        let mut ids = RequestIds::new();
        let request = axum::http::Request::new(());
        let first = ids.make_request_id(&request).expect("an id");
        let second = ids.make_request_id(&request).expect("an id");
        let text = |id: &RequestId| id.header_value().to_str().expect("ascii").to_owned();
        let (first, second) = (text(&first), text(&second));
        assert_eq!(first.len(), 32);
        assert_eq!(&first[..16], format!("{:016x}", ids.prefix));
        assert_eq!(&first[16..], "0000000000000000");
        assert_eq!(&second[16..], "0000000000000001");
    }
}
