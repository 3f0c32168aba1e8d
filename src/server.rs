//! The shared state, the decision endpoints and the one decision core, start-up and graceful
//! shutdown; the router and the other endpoints are in `router.rs`, what wraps every request in
//! [`envelope`], the
//! connections are accepted and bounded in [`listen`], and [`grpc`] is the gRPC ext_authz wire
//! form on `server.grpc_listen`.
//!
//! One decision core, several wire forms: every endpoint, HTTP or gRPC, turns its input into an
//! [`OriginalRequest`] and headers and calls [`decide`], which plans one [`Answer`]; only the
//! rendering differs. Each decision endpoint only reads shared state: the rule set through an `ArcSwap` snapshot,
//! the key sets through the verifier; reloads and key refreshes happen in background tasks.

pub mod envelope;
pub mod grpc;
pub mod listen;
mod router;

pub use router::router;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::answer::identity_token::{IdentityTokens, TokenContext};
use crate::answer::{self, Answer, Context, Endpoint, IdentityHeaders};
use crate::authn::jwt::Verifier;
use crate::authn::{self, Authenticated, Authenticator, jwks};
use crate::config::Config;
use crate::decision::{self, Decision};
use crate::login::Login;
use crate::metrics::Metrics;
use crate::origin::{self, ClientKind, OriginError, OriginalRequest, TrustedProxies};
use crate::rules::reload::spawn_reloader;
use crate::rules::{Known, RuleSet};

/// The path prefix of the Envoy ext_authz form.
const EXT_AUTHZ_PREFIX: &str = "/ext-authz";
/// How long one request may take before it is answered 503 (key fetches are bounded well below).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Everything a request handler needs, built once at start-up.
pub struct App {
    /// The validated configuration.
    pub config: Config,
    /// The rule set in force; replaced whole by the reloader.
    pub rules: Arc<ArcSwap<RuleSet>>,
    /// Bearer token verification and the issuers' key sets.
    pub verifier: Arc<Verifier>,
    /// Checks a request's credential, of every configured kind.
    pub authn: Authenticator,
    /// The Prometheus registry.
    pub metrics: Metrics,
    /// Peers whose forwarded headers are read.
    pub trusted: TrustedProxies,
    /// `/oauth2/start` on Portcullis's public origin, when `[login]` is configured.
    pub login_start: Option<url::Url>,
    /// Identity header names.
    pub identity_headers: IdentityHeaders,
    /// The browser login and its sessions, when `[login]` is configured.
    pub login: Option<Arc<Login>>,
    /// The remote authorizers rules may ask (`[[authorizers]]`).
    pub authorizers: crate::authz::remote::Authorizers,
    /// The pages browsers get when refused (`server.pages_dir`, else built in).
    pub pages: Arc<answer::page::Pages>,
    /// The identity token signer, when `[identity_token]` is configured.
    pub identity_tokens: Option<IdentityTokens>,
}

/// The axum state: a cheap handle on the [`App`].
#[derive(Clone)]
pub struct AppState(pub Arc<App>);

impl App {
    /// Builds the application state from a validated config and an initial rule set.
    pub fn new(config: Config, rules: RuleSet, metrics: Metrics) -> anyhow::Result<App> {
        metrics.rules_loaded.set(rules.len() as i64);
        let verifier = Verifier::new(&config.issuers, jwks::http_client(), metrics.clone())
            .with_cache_memory(config.server.token_cache_memory);
        let verifier = Arc::new(verifier);
        let identity_headers = IdentityHeaders::new(&config.headers);
        let login = Login::new(&config, verifier.clone(), jwks::http_client(), metrics.clone())?.map(Arc::new);
        let authorizers =
            crate::authz::remote::Authorizers::new(&config.authorizers, &metrics).map_err(anyhow::Error::msg)?;
        let pages = answer::page::Pages::load(config.server.pages_dir.as_deref()).map_err(anyhow::Error::msg)?;
        let in_force = Arc::new(ArcSwap::from_pointee(RuleSet::empty()));
        rules.install(&in_force);
        Ok(App {
            authorizers,
            pages: Arc::new(pages),
            authn: Authenticator::new(verifier.clone(), login.clone(), config.headers.pass_access_token)
                .with_session_checks(authn::SessionChecks::new(
                    &config.session_checks,
                    jwks::http_client(),
                    metrics.clone(),
                    config.server.token_cache_memory,
                )),
            login,
            trusted: TrustedProxies(config.server.trusted_proxies.clone()),
            login_start: config.login.as_ref().map(|login| login_start_url(&login.redirect_url)),
            rules: in_force,
            verifier,
            metrics,
            identity_headers,
            identity_tokens: config.identity_token.as_ref().map(IdentityTokens::new),
            config,
        })
    }
}

/// `/oauth2/start` next to the configured callback (`.../oauth2/callback`).
pub fn login_start_url(redirect_url: &url::Url) -> url::Url {
    let mut start = redirect_url.clone();
    let path = redirect_url.path();
    let base = path.strip_suffix("/oauth2/callback").unwrap_or("");
    start.set_path(&format!("{base}/oauth2/start"));
    start.set_query(None);
    start.set_fragment(None);
    start
}

/// Loads the rules, starts the background tasks, listens and serves until SIGTERM or Ctrl-C,
/// then drains the requests in flight.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let known = Known::of(&config);
    let rules = RuleSet::load(&config.rules.paths, &known).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("rules cannot be loaded:\n{}", lines.join("\n"))
    })?;
    if rules.is_empty() {
        tracing::warn!(
            key = "rules.paths",
            "{}",
            crate::rules::empty_set_warning(&config.rules.paths)
        );
    }
    let app = Arc::new(App::new(config, rules, Metrics::new())?);
    spawn_reloader(
        app.config.rules.paths.clone(),
        known,
        app.rules.clone(),
        app.metrics.clone(),
    );
    app.verifier.spawn_refresh();
    let listener = bind(app.config.server.listen, "server.listen").await?;
    let grpc_listener = match app.config.server.grpc_listen {
        Some(address) => Some(bind(address, "server.grpc_listen").await?),
        None => None,
    };
    // The bound addresses, not the configured ones: with port 0 the kernel picks them, and
    // tests and scripts read them from this line (`listen` first).
    let bound = |listener: &tokio::net::TcpListener| listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    tracing::info!(
        listen = %bound(&listener),
        grpc_listen = %grpc_listener.as_ref().map_or_else(|| "off".to_owned(), bound),
        rules = app.rules.load().len(),
        "portcullis serving"
    );
    let limits = listen::Limits::of(&app.config.server);
    // One signal stops both listeners; each drains its own connections.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        stop.send_replace(true);
    });
    let stopping = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let http = listen::serve(
        listener,
        router(AppState(app.clone())),
        limits,
        stopping(stopped.clone()),
    );
    match grpc_listener {
        Some(grpc_listener) => {
            let grpc = grpc::router(app);
            let grpc_for = |peer| listen::WithPeer {
                inner: grpc.clone(),
                peer,
            };
            let grpc = listen::serve(grpc_listener, grpc_for, limits, stopping(stopped));
            tokio::join!(http, grpc);
        }
        None => http.await,
    }
    tracing::info!("drained; bye");
    Ok(())
}

async fn bind(address: SocketAddr, key: &str) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(address)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {address} ({key}): {e}"))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: draining requests in flight");
}

/// The decision endpoint `path` names, if any: `/auth`, `/forward-auth`, and `/ext-authz` with
/// any path below it. Matched before axum's router (see `router.rs`), as exactly as its routes
/// were: `/auth/` or `/Auth` is no decision endpoint.
fn decision_endpoint(path: &str) -> Option<Endpoint> {
    match path {
        "/auth" => Some(Endpoint::Auth),
        "/forward-auth" => Some(Endpoint::ForwardAuth),
        EXT_AUTHZ_PREFIX => Some(Endpoint::ExtAuthz),
        _ if path.starts_with("/ext-authz/") => Some(Endpoint::ExtAuthz),
        _ => None,
    }
}

/// Answers a request to a decision endpoint, of any method, from the connection's `peer`. The
/// handlers borrow the request's parts: cloning its headers, method or URI would cost every
/// decision an allocation or more.
async fn answer_decision(app: AppState, endpoint: Endpoint, peer: SocketAddr, request: Parts) -> Response {
    let trusted = app.0.trusted.contains(peer.ip());
    match endpoint {
        Endpoint::ExtAuthz => ext_authz(&app.0, trusted, &request).await,
        _ => forwarded(&app.0, endpoint, trusted, &request.headers).await,
    }
}

/// The endpoints that read the original request from forwarded headers, each from its own
/// family only.
async fn forwarded(app: &App, endpoint: Endpoint, trusted: bool, headers: &HeaderMap) -> Response {
    let original = match endpoint {
        Endpoint::Auth => origin::from_auth_headers(headers, trusted),
        _ => origin::from_forward_auth_headers(headers, trusted),
    };
    decide(app, endpoint, original, headers).await.into_response()
}

async fn ext_authz(app: &App, trusted: bool, request: &Parts) -> Response {
    let path_and_query = request.uri.path_and_query().map_or("", |pq| pq.as_str());
    let rest = path_and_query.strip_prefix(EXT_AUTHZ_PREFIX).unwrap_or(path_and_query);
    let rest = if rest.is_empty() || rest.starts_with('?') {
        format!("/{rest}")
    } else {
        rest.to_string()
    };
    // HTTP/2 carries the host as `:authority`, which is in the URI rather than a `Host` header.
    let with_host;
    let headers = match request.uri.authority() {
        Some(authority) if !request.headers.contains_key(header::HOST) => {
            with_host = with_header(&request.headers, header::HOST, authority.as_str());
            &with_host
        }
        _ => &request.headers,
    };
    let original = origin::from_ext_authz(&request.method, headers, &rest, trusted);
    decide(app, Endpoint::ExtAuthz, original, headers).await.into_response()
}

fn with_header(headers: &HeaderMap, name: HeaderName, value: &str) -> HeaderMap {
    let mut headers = headers.clone();
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
    headers
}

/// The whole decision for one request, the same for every wire form: the original request as
/// the endpoint read it and the request's headers (credentials, `Accept`) to the rule, the
/// credential, the verdict, the metrics and the planned [`Answer`], which the caller renders.
pub async fn decide(
    app: &App,
    endpoint: Endpoint,
    original: Result<OriginalRequest, OriginError>,
    headers: &HeaderMap,
) -> Answer {
    let started = Instant::now();
    let client = origin::client_kind(headers);
    let request = match original.and_then(|request| authn::single_authorization(headers).map(|()| request)) {
        Ok(request) => request,
        Err(error) => {
            tracing::info!(endpoint = endpoint.label(), %error, "cannot read the original request");
            app.metrics.decisions.inc(endpoint.label(), "invalid_request", "");
            return answer::invalid_request(&error.to_string(), client);
        }
    };
    // A guard, not a clone: no count shared by every request is touched. Held across the
    // credential check's awaits only on the slow path, where arc-swap falls back to a count.
    let rules = app.rules.load();
    let rule = rules.first_match(&request);
    let default = app.config.rules.default;
    let checked = if decision::needs_identity(rule, default) {
        let kinds = rule.and_then(|rule| rule.credentials.as_deref());
        app.authn
            .authenticate(headers, &request, kinds.unwrap_or(app.authn.kinds()))
            .await
    } else {
        Authenticated::missing()
    };
    // Only a browser's 403 page names the user: an API client's answer needs no copy of it.
    let identity = match client {
        ClientKind::Browser => checked.outcome.identity().cloned(),
        ClientKind::Api => None,
    };
    let decision = decision::decide(rule, default, checked, app.login_start.is_some(), &request);
    let decision = crate::authz::remote::confirm(&app.authorizers, decision, rule, &request).await;
    record(app, endpoint, &decision, &request, started);
    let refused = answer::page::Refused::of(&decision, identity.as_deref());
    let context = Context {
        endpoint,
        client,
        request: &request,
        login_start: app.login_start.as_ref(),
        identity_headers: &app.identity_headers,
        rule,
        template_headers: rules.template_headers(),
        identity_token: TokenContext {
            tokens: app.identity_tokens.as_ref(),
            rule: rule.and_then(|rule| rule.identity_token.as_ref()),
        },
    };
    let answer = answer::plan(decision, &context);
    answer::page::for_browser(answer, refused, client, &app.pages, app.login_start.as_ref(), &request)
}

fn record(app: &App, endpoint: Endpoint, decision: &Decision<'_>, request: &OriginalRequest, started: Instant) {
    let outcome = decision.label();
    app.metrics.decisions.inc(endpoint.label(), outcome, decision.rule());
    app.metrics
        .decision_duration_seconds
        .observe(started.elapsed().as_secs_f64());
    if let Decision::Unavailable { reason, .. } = decision {
        tracing::warn!(endpoint = endpoint.label(), rule = decision.rule(), %reason, "no verdict: a check could not answer (503)");
    }
    tracing::debug!(
        endpoint = endpoint.label(),
        outcome,
        rule = decision.rule(),
        method = %request.method,
        host = %request.host,
        path = %request.path,
        "decision"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decision_endpoints_are_matched_exactly_as_their_routes_were() {
        let cases = [
            ("/auth", Some(Endpoint::Auth)),
            ("/forward-auth", Some(Endpoint::ForwardAuth)),
            ("/ext-authz", Some(Endpoint::ExtAuthz)),
            ("/ext-authz/", Some(Endpoint::ExtAuthz)),
            ("/ext-authz/admin/x", Some(Endpoint::ExtAuthz)),
            ("/auth/", None),
            ("/Auth", None),
            ("/auth/x", None),
            ("/forward-auth/", None),
            ("/ext-authzx", None),
            ("/EXT-AUTHZ/x", None),
            ("/healthz", None),
            ("/", None),
            ("", None),
        ];
        for (path, endpoint) in cases {
            assert_eq!(decision_endpoint(path), endpoint, "{path}");
        }
    }

    #[test]
    fn login_start_sits_next_to_the_callback() {
        let callback = url::Url::parse("https://auth.example.com/oauth2/callback").expect("url");
        assert_eq!(
            login_start_url(&callback).as_str(),
            "https://auth.example.com/oauth2/start"
        );
        let prefixed = url::Url::parse("https://example.com/sso/oauth2/callback?x=1").expect("url");
        assert_eq!(
            login_start_url(&prefixed).as_str(),
            "https://example.com/sso/oauth2/start"
        );
    }
}
