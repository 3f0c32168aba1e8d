//! The HTTP router: every endpoint in the [`super::envelope`] (panics, request ids, deadline).
//! The decision endpoints are matched first, by [`Routes`], and the others (userinfo, the
//! identity token's key set, readiness, metrics, login) by axum's router. The decision
//! endpoints' handlers and `decide` are in `server.rs`.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::future::RouteFuture;
use axum::routing::{any, get};
use tower::{Layer, Service};

use super::envelope::{Envelope, EnvelopeLayer};
use super::listen::WithPeer;
use super::{AppState, REQUEST_TIMEOUT, answer_decision, decision_endpoint};
use crate::{answer, login, origin};

/// The router with every endpoint, in the [`super::envelope`]: for each connection, made for its
/// peer.
pub fn router(state: AppState) -> impl Fn(SocketAddr) -> Envelope<Routes> {
    let others = Router::new()
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
    // The envelope wraps the routes once, not each route (`Router::layer` would wrap every
    // route and clone each per request), and is served as it is: an outer `Router` around it
    // would route every request twice.
    let envelope = EnvelopeLayer::new(REQUEST_TIMEOUT);
    move |peer| {
        envelope.layer(Routes {
            state: state.clone(),
            others: WithPeer {
                inner: others.clone(),
                peer,
            },
            peer,
        })
    }
}

/// The decision endpoints, matched by path before axum's router, which serves the rest.
///
/// A decision is the request nearly every call is, and it needs nothing axum's routing gives:
/// no path parameters, no extractors, no body. Through the router it paid for the match, the
/// parameters' and the peer's extensions, a boxed handler future and three response-mapping
/// futures: about an eighth of the instructions of a public decision. Made per connection:
/// the peer is known without a request extension.
pub struct Routes {
    state: AppState,
    others: WithPeer<Router>,
    peer: SocketAddr,
}

impl<B> Service<Request<B>> for Routes
where
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = RoutesFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> RoutesFuture {
        let Some(endpoint) = decision_endpoint(request.uri().path()) else {
            return RoutesFuture::Other {
                future: self.others.call(request),
            };
        };
        // The body is never read: dropped here, as a handler that ignores it would.
        let (parts, _) = request.into_parts();
        // Boxed once: the decision's future is large, and the envelope's future and hyper
        // would otherwise copy it each time they move it.
        RoutesFuture::Decision {
            future: Box::pin(answer_decision(self.state.clone(), endpoint, self.peer, parts)),
        }
    }
}

pin_project_lite::pin_project! {
    /// The answer of [`Routes`]: a decision, or axum's router's.
    #[project = Projected]
    pub enum RoutesFuture {
        /// A decision endpoint.
        Decision { future: Pin<Box<dyn Future<Output = Response> + Send>> },
        /// Any other endpoint.
        Other { #[pin] future: RouteFuture<Infallible> },
    }
}

impl Future for RoutesFuture {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            Projected::Decision { future } => future.as_mut().poll(cx).map(Ok),
            Projected::Other { future } => future.poll(cx),
        }
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
        scheme: "http",
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
