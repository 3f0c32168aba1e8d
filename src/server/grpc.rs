//! Envoy ext_authz over gRPC on `server.grpc_listen`: `envoy.service.auth.v3.Authorization/Check`
//! and the standard gRPC health service (`grpc.health.v1.Health`).
//!
//! The wire form only. A `CheckRequest` becomes an [`OriginalRequest`] and a header map, the
//! decision is [`super::decide`] exactly as for `/ext-authz`, and the planned [`Answer`] becomes
//! a `CheckResponse`: an allow is an `OkHttpResponse` that sets every planned header on the
//! request to the upstream (overwriting the client's copies) and a refreshed session's
//! `Set-Cookie` on the answer to the client; a refusal is a `DeniedHttpResponse` with the status,
//! headers and body the HTTP form sends. Nothing a client or Envoy sends in a gRPC message is a
//! gRPC error: a malformed `CheckRequest` is a denied 400 that names the field. Only a body that
//! is not one gRPC message is (`INVALID_ARGUMENT`, or `UNIMPLEMENTED` for a compressed one).
//!
//! `Check` is served by hand ([`wire`] reads the message without copying its strings, and only
//! the fields a decision reads): tonic's generic server machinery cost as much per call as the
//! decision. The health service is tonic's. Both are one axum router, so [`super::listen`] serves
//! them with the same connection limits and graceful shutdown as the HTTP endpoints, and the peer
//! is the connection's `ConnectInfo`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use envoy_types::ext_authz::v3::pb::{
    CheckResponse, DeniedHttpResponse, HeaderAppendAction, HttpResponse, HttpStatus, OkHttpResponse,
};
use envoy_types::pb::envoy::config::core::v3::{HeaderValue as EnvoyHeader, HeaderValueOption};
use envoy_types::pb::google::rpc;
use http_body::Frame;
use prost::Message;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use super::{App, REQUEST_TIMEOUT, decide};
use crate::answer::{Answer, Body, Endpoint};
use crate::origin::{
    self, CHECK_HOST, CHECK_METHOD, CHECK_PATH, CHECK_SCHEME, CheckFields, OriginError, OriginalRequest,
};

pub mod wire;

/// How often the health service looks whether the issuers' keys are loaded yet.
const READINESS_POLL: Duration = Duration::from_millis(200);
/// The ext_authz service's name, as the health service reports it.
pub const SERVICE: &str = "envoy.service.auth.v3.Authorization";
/// The path of a `Check` call.
pub const CHECK: &str = "/envoy.service.auth.v3.Authorization/Check";
/// `application/grpc`, the content type of a call and of its answer.
const GRPC: HeaderValue = HeaderValue::from_static("application/grpc");
/// `grpc-status`, the trailer (or header, with no message) that ends every answer.
const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
/// `grpc-message`, the text beside a status other than OK.
const GRPC_MESSAGE: HeaderName = HeaderName::from_static("grpc-message");

/// The gRPC router: ext_authz and health, with a panic answered (Envoy then fails closed)
/// rather than a reset connection.
pub fn router(app: Arc<App>) -> axum::Router {
    let (reporter, health) = tonic_health::server::health_reporter();
    tokio::spawn(report_readiness(reporter, app.clone()));
    tonic::service::Routes::new(health)
        .into_axum_router()
        .route(CHECK, axum::routing::post(call).with_state(app))
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
}

/// The health service says `SERVING` (for `""` and the ext_authz service) once `/readyz` would
/// answer 200: the configuration, rules and every issuer's keys are loaded.
async fn report_readiness(reporter: HealthReporter, app: Arc<App>) {
    reporter.set_service_status("", ServingStatus::NotServing).await;
    reporter.set_service_status(SERVICE, ServingStatus::NotServing).await;
    while !app.verifier.is_ready() {
        tokio::time::sleep(READINESS_POLL).await;
    }
    reporter.set_service_status("", ServingStatus::Serving).await;
    reporter.set_service_status(SERVICE, ServingStatus::Serving).await;
}

/// One `Check` call: the body read whole (a unary call is one message), decided, answered as one
/// message and `grpc-status: 0`.
async fn call(State(app): State<Arc<App>>, request: axum::extract::Request) -> Response {
    let (parts, body) = request.into_parts();
    let is_grpc = parts
        .headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/grpc"));
    if !is_grpc {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "a gRPC call needs content-type application/grpc\n",
        )
            .into_response();
    }
    let Ok(body) = axum::body::to_bytes(body, wire::PREFIX + wire::MAX_MESSAGE).await else {
        return status_only(
            INVALID_ARGUMENT,
            "the request body cannot be read whole or is too large",
        );
    };
    let message = match wire::unframe(body) {
        Ok(message) => message,
        Err(wire::FrameError::Compressed) => return status_only(UNIMPLEMENTED, "compressed messages are not accepted"),
        Err(_) => return status_only(INVALID_ARGUMENT, "the request body is not one gRPC message"),
    };
    // The peer that sent the CheckRequest (Envoy), as for HTTP: `attributes.source` is the
    // client of Envoy, which says nothing about whom to believe.
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0);
    let response = check(&app, peer, wire::CheckRequest::decode(message)).await;
    let mut answer = Response::new(axum::body::Body::new(Unary {
        message: Some(wire::frame(&response)),
        trailers: true,
    }));
    answer.headers_mut().insert(header::CONTENT_TYPE, GRPC);
    answer
}

/// The decision on one `CheckRequest` (or on the reason it could not be read) from `peer`.
pub async fn check(
    app: &App,
    peer: Option<SocketAddr>,
    request: Result<wire::CheckRequest, prost::DecodeError>,
) -> CheckResponse {
    let trusted = peer.is_some_and(|peer| app.trusted.contains(peer.ip()));
    let (original, headers) = match &request {
        Ok(check) => read(check, trusted),
        Err(error) => {
            let unreadable = OriginError::Field {
                field: "CheckRequest",
                reason: format!("not a valid protobuf message ({error})"),
            };
            (Err(unreadable), HeaderMap::new())
        }
    };
    // Boxed, as on the HTTP routes: the decision's future is large, and unboxed it would be
    // copied whole each time the call's future moves.
    let decision = Box::pin(decide(app, Endpoint::Grpc, original, &headers));
    let decided = tokio::time::timeout(REQUEST_TIMEOUT, decision);
    let answer = decided.await.unwrap_or_else(|_| {
        tracing::warn!(key = "server.grpc_listen", "gRPC check timed out");
        Answer {
            status: StatusCode::SERVICE_UNAVAILABLE,
            headers: HeaderMap::new(),
            body: Body::Text("unavailable: the decision timed out\n".into()),
        }
    });
    render(answer)
}

/// `google.rpc.Code` `INVALID_ARGUMENT`.
const INVALID_ARGUMENT: u8 = 3;
/// `google.rpc.Code` `UNIMPLEMENTED`.
const UNIMPLEMENTED: u8 = 12;

/// A gRPC error with no message ("Trailers-Only"): the status in the response's headers.
fn status_only(code: u8, message: &'static str) -> Response {
    let mut response = Response::new(axum::body::Body::empty());
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, GRPC);
    headers.insert(GRPC_STATUS, HeaderValue::from(u16::from(code)));
    // Plain ASCII without `%`: nothing to percent-encode.
    headers.insert(GRPC_MESSAGE, HeaderValue::from_static(message));
    response
}

/// A unary call's answer body: the one message, then `grpc-status: 0` as the trailers.
struct Unary {
    message: Option<Bytes>,
    trailers: bool,
}

impl http_body::Body for Unary {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if let Some(message) = this.message.take() {
            return Poll::Ready(Some(Ok(Frame::data(message))));
        }
        if std::mem::take(&mut this.trailers) {
            let mut trailers = HeaderMap::with_capacity(1);
            trailers.insert(GRPC_STATUS, HeaderValue::from_static("0"));
            return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
        }
        Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        self.message.is_none() && !self.trailers
    }
}

/// The original request and the headers of a `CheckRequest`. Without `attributes.request.http`
/// there is nothing to judge.
pub fn read(check: &wire::CheckRequest, trusted: bool) -> (Result<OriginalRequest, OriginError>, HeaderMap) {
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
    let fields = || {
        Ok(CheckFields {
            method: text(CHECK_METHOD, &http.method)?,
            scheme: text(CHECK_SCHEME, &http.scheme)?,
            host: text(CHECK_HOST, &http.host)?,
            path: text(CHECK_PATH, &http.path)?,
        })
    };
    let original = fields().and_then(|fields| origin::from_check_request(&fields, trusted));
    (original, headers(http))
}

/// A string field of `http` as text.
fn text<'a>(field: &'static str, bytes: &'a Bytes) -> Result<&'a str, OriginError> {
    std::str::from_utf8(bytes).map_err(|_| OriginError::Field {
        field,
        reason: "not UTF-8".into(),
    })
}

/// The original request's headers: from `header_map` when Envoy sends it
/// (`encode_raw_headers: true`, repeated headers kept apart), else from `headers` (where Envoy
/// joins a repeated header with commas; a key sent twice is a map's key: the last one counts).
/// Pseudo-headers (`:path`, ...) are fields, not headers; a name or value that is not valid HTTP
/// is left out. The values share the received message's bytes.
fn headers(http: &wire::HttpRequest) -> HeaderMap {
    let valid = |name: &Bytes, value: &Bytes| {
        if name.starts_with(b":") {
            return None;
        }
        match (
            HeaderName::from_bytes(name),
            HeaderValue::from_maybe_shared(value.clone()),
        ) {
            (Ok(name), Ok(value)) => Some((name, value)),
            _ => {
                tracing::debug!(header = %String::from_utf8_lossy(name), "CheckRequest header left out: not valid HTTP");
                None
            }
        }
    };
    match &http.header_map {
        Some(raw) => {
            let mut map = HeaderMap::with_capacity(raw.headers.len());
            for header in &raw.headers {
                let value = if header.raw_value.is_empty() {
                    &header.value
                } else {
                    &header.raw_value
                };
                if let Some((name, value)) = valid(&header.key, value) {
                    map.append(name, value);
                }
            }
            map
        }
        None => {
            let mut map = HeaderMap::with_capacity(http.headers.len());
            for entry in &http.headers {
                if let Some((name, value)) = valid(&entry.key, &entry.value) {
                    map.insert(name, value);
                }
            }
            map
        }
    }
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
