//! Envoy ext_authz over gRPC on `server.grpc_listen`: `envoy.service.auth.v3.Authorization/Check`
//! and the standard gRPC health service (`grpc.health.v1.Health`).
//!
//! The wire form only. A `CheckRequest` becomes an [`OriginalRequest`] and a header map, the
//! decision is [`super::decide`] exactly as for `/ext-authz`, and the planned [`Answer`] becomes
//! a `CheckResponse`: an allow is an `OkHttpResponse` that sets every planned header on the
//! request to the upstream (overwriting the client's copies) and a refreshed session's
//! `Set-Cookie` on the answer to the client; a refusal is a `DeniedHttpResponse` with the status,
//! headers and body the HTTP form sends. Nothing a client or Envoy sends is a gRPC error: a
//! malformed `CheckRequest` is a denied 400 that names the field.
//!
//! The service is an axum router (tonic's routes), so [`super::listen`] serves it with the same
//! connection limits and graceful shutdown as the HTTP endpoints, and the peer is the
//! connection's `ConnectInfo`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use envoy_types::ext_authz::v3::pb::{
    Authorization, AuthorizationServer, CheckRequest, CheckResponse, DeniedHttpResponse, HeaderAppendAction,
    HttpResponse, HttpStatus, OkHttpResponse,
};
use envoy_types::pb::envoy::config::core::v3::{HeaderValue as EnvoyHeader, HeaderValueOption};
use envoy_types::pb::envoy::service::auth::v3::attribute_context::HttpRequest;
use envoy_types::pb::google::rpc;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use super::{App, REQUEST_TIMEOUT, decide};
use crate::answer::{Answer, Body, Endpoint};
use crate::origin::{self, CheckFields, OriginError, OriginalRequest};

/// How often the health service looks whether the issuers' keys are loaded yet.
const READINESS_POLL: Duration = Duration::from_millis(200);

/// The gRPC router: ext_authz and health, with a panic answered (Envoy then fails closed)
/// rather than a reset connection.
pub fn router(app: Arc<App>) -> axum::Router {
    let (reporter, health) = tonic_health::server::health_reporter();
    tokio::spawn(report_readiness(reporter, app.clone()));
    tonic::service::Routes::new(AuthorizationServer::new(ExtAuthz { app }))
        .add_service(health)
        .into_axum_router()
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
}

/// The health service says `SERVING` (for `""` and the ext_authz service) once `/readyz` would
/// answer 200: the configuration, rules and every issuer's keys are loaded.
async fn report_readiness(reporter: HealthReporter, app: Arc<App>) {
    reporter.set_service_status("", ServingStatus::NotServing).await;
    reporter.set_not_serving::<AuthorizationServer<ExtAuthz>>().await;
    while !app.verifier.is_ready() {
        tokio::time::sleep(READINESS_POLL).await;
    }
    reporter.set_service_status("", ServingStatus::Serving).await;
    reporter.set_serving::<AuthorizationServer<ExtAuthz>>().await;
}

/// `envoy.service.auth.v3.Authorization` over the shared [`App`].
pub struct ExtAuthz {
    app: Arc<App>,
}

impl ExtAuthz {
    /// The service deciding with `app` (tests drive it in-process).
    pub fn new(app: Arc<App>) -> ExtAuthz {
        ExtAuthz { app }
    }
}

#[tonic::async_trait]
impl Authorization for ExtAuthz {
    async fn check(
        &self,
        request: tonic::Request<CheckRequest>,
    ) -> Result<tonic::Response<CheckResponse>, tonic::Status> {
        // The peer that sent the CheckRequest (Envoy), as for HTTP: `attributes.source` is the
        // client of Envoy, which says nothing about whom to believe.
        let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|info| info.0);
        let trusted = peer.is_some_and(|peer| self.app.trusted.contains(peer.ip()));
        let check = request.into_inner();
        let (original, headers) = read(&check, trusted);
        // Boxed, as on the HTTP routes: the decision's future is large, and unboxed it would be
        // copied whole each time tonic's layers move the call's future (a profile showed memmove
        // as the largest single cost of a gRPC check).
        let decision = Box::pin(decide(&self.app, Endpoint::Grpc, original, &headers));
        let decided = tokio::time::timeout(REQUEST_TIMEOUT, decision);
        let answer = decided.await.unwrap_or_else(|_| {
            tracing::warn!(key = "server.grpc_listen", "gRPC check timed out");
            Answer {
                status: StatusCode::SERVICE_UNAVAILABLE,
                headers: HeaderMap::new(),
                body: Body::Text("unavailable: the decision timed out\n".into()),
            }
        });
        Ok(tonic::Response::new(render(answer)))
    }
}

/// The original request and the headers of a `CheckRequest`. Without `attributes.request.http`
/// there is nothing to judge.
pub fn read(check: &CheckRequest, trusted: bool) -> (Result<OriginalRequest, OriginError>, HeaderMap) {
    let http = check
        .attributes
        .as_ref()
        .and_then(|attributes| attributes.request.as_ref())
        .and_then(|request| request.http.as_ref());
    let Some(http) = http else {
        let missing = OriginError::Field {
            field: "attributes.request.http",
            reason: "missing".into(),
        };
        return (Err(missing), HeaderMap::new());
    };
    let fields = CheckFields {
        method: &http.method,
        scheme: &http.scheme,
        host: &http.host,
        path: &http.path,
    };
    (origin::from_check_request(&fields, trusted), headers(http))
}

/// The original request's headers: from `header_map` when Envoy sends it
/// (`encode_raw_headers: true`, repeated headers kept apart), else from `headers` (where Envoy
/// joins a repeated header with commas). Pseudo-headers (`:path`, ...) are fields, not headers;
/// a name or value that is not valid HTTP is left out.
fn headers(http: &HttpRequest) -> HeaderMap {
    let count = http
        .header_map
        .as_ref()
        .map_or(http.headers.len(), |raw| raw.headers.len());
    let mut map = HeaderMap::with_capacity(count);
    let mut add = |name: &str, value: &[u8]| {
        if name.starts_with(':') {
            return;
        }
        match (HeaderName::try_from(name), HeaderValue::from_bytes(value)) {
            (Ok(name), Ok(value)) => {
                map.append(name, value);
            }
            _ => tracing::debug!(header = name, "CheckRequest header left out: not valid HTTP"),
        }
    };
    match &http.header_map {
        Some(raw) => {
            for header in &raw.headers {
                let value = if header.raw_value.is_empty() {
                    header.value.as_bytes()
                } else {
                    &header.raw_value
                };
                add(&header.key, value);
            }
        }
        None => {
            for (name, value) in &http.headers {
                add(name, value.as_bytes());
            }
        }
    }
    map
}

/// The `CheckResponse` for a planned answer.
pub fn render(answer: Answer) -> CheckResponse {
    let Answer { status, headers, body } = answer;
    let http_response = if status == StatusCode::OK {
        let mut upstream = Vec::with_capacity(headers.len());
        let mut to_client = Vec::new();
        for (name, value) in &headers {
            if name == header::SET_COOKIE {
                to_client.push(option(name, value, HeaderAppendAction::AppendIfExistsOrAdd));
            } else {
                upstream.push(option(name, value, HeaderAppendAction::OverwriteIfExistsOrAdd));
            }
        }
        HttpResponse::OkResponse(OkHttpResponse {
            headers: upstream,
            response_headers_to_add: to_client,
            ..OkHttpResponse::default()
        })
    } else {
        let (content_type, text) = match body {
            Body::Text(text) => ("text/plain; charset=utf-8", text),
            Body::Json(json) => ("application/json", json.to_string()),
            Body::Html(html) => ("text/html; charset=utf-8", html),
        };
        let content_type = (header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        let mut denied: Vec<HeaderValueOption> = Vec::with_capacity(headers.len() + 1);
        denied.extend(
            headers
                .iter()
                .map(|(name, value)| option(name, value, HeaderAppendAction::OverwriteIfExistsOrAdd)),
        );
        denied.push(option(
            &content_type.0,
            &content_type.1,
            HeaderAppendAction::OverwriteIfExistsOrAdd,
        ));
        HttpResponse::DeniedResponse(DeniedHttpResponse {
            status: Some(HttpStatus {
                code: i32::from(status.as_u16()),
            }),
            headers: denied,
            body: text,
        })
    };
    CheckResponse {
        status: Some(rpc::Status {
            code: rpc_code(status),
            message: String::new(),
            details: Vec::new(),
        }),
        http_response: Some(http_response),
        dynamic_metadata: None,
    }
}

/// The `google.rpc.Code` beside an HTTP status: Envoy allows on `OK` only, and every other code
/// is a denial with the `DeniedHttpResponse`; the code tells logs why.
fn rpc_code(status: StatusCode) -> i32 {
    match status.as_u16() {
        200 => 0,              // OK
        400 => 3,              // INVALID_ARGUMENT
        403 => 7,              // PERMISSION_DENIED
        503 => 14,             // UNAVAILABLE
        401 | 302 | 303 => 16, // UNAUTHENTICATED
        _ => 2,                // UNKNOWN
    }
}

/// One header for Envoy. An empty value is kept (`keep_empty_value`): an identity header
/// answered empty must still replace the client's copy, never let it through.
fn option(name: &HeaderName, value: &HeaderValue, action: HeaderAppendAction) -> HeaderValueOption {
    // UTF-8 identity values (José) are valid header bytes and a valid protobuf string; other
    // bytes go as `raw_value`.
    let header = match std::str::from_utf8(value.as_bytes()) {
        Ok(text) => EnvoyHeader {
            key: name.as_str().to_owned(),
            value: text.to_owned(),
            raw_value: Vec::new(),
        },
        Err(_) => EnvoyHeader {
            key: name.as_str().to_owned(),
            value: String::new(),
            raw_value: value.as_bytes().to_vec(),
        },
    };
    #[allow(deprecated)] // `append` is deprecated; `append_action` replaces it
    HeaderValueOption {
        header: Some(header),
        append: None,
        append_action: action as i32,
        keep_empty_value: true,
    }
}

#[cfg(test)]
mod identity_token_tests;
#[cfg(test)]
mod tests;
