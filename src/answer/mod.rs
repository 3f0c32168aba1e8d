//! A [`Decision`] turned into the answer each calling proxy expects: planned once as an
//! [`Answer`] (status, headers, body) and rendered for HTTP here; the gRPC ext_authz wire form
//! renders the same plan. The one table of "401, 302 or 303?" lives in [`unauthenticated`];
//! the signed identity token for upstreams in [`identity_token`].

mod identity_headers;
pub mod identity_token;

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::authn::{Identity, Upstream};
use crate::decision::Decision;
use crate::origin::{ClientKind, OriginalRequest};
use crate::rules::{Rule, TemplateHeaders};
pub use identity_headers::IdentityHeaders;
use identity_token::TokenContext;

pub mod page;

/// Which caller protocol asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `/auth`: nginx `auth_request`, ingress-nginx `auth-url`. Never a 3xx.
    Auth,
    /// `/forward-auth`: Traefik ForwardAuth, Caddy `forward_auth`.
    ForwardAuth,
    /// `/ext-authz/<path>`: Envoy HTTP ext_authz.
    ExtAuthz,
    /// `envoy.service.auth.v3.Authorization/Check` on `server.grpc_listen`: Envoy gRPC
    /// ext_authz, answered as `/ext-authz` is.
    Grpc,
}

impl Endpoint {
    /// The `endpoint` label of `portcullis_decisions_total`.
    pub fn label(self) -> &'static str {
        match self {
            Endpoint::Auth => "auth",
            Endpoint::ForwardAuth => "forward-auth",
            Endpoint::ExtAuthz => "ext-authz",
            Endpoint::Grpc => "grpc",
        }
    }
}

/// Everything about the request that shapes its answer besides the decision.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// Which caller protocol asked.
    pub endpoint: Endpoint,
    /// Browser or API client.
    pub client: ClientKind,
    /// The original request.
    pub request: &'a OriginalRequest,
    /// The login start URL (`/oauth2/start` on Portcullis's public origin), when login is on.
    pub login_start: Option<&'a url::Url>,
    /// Identity header names.
    pub identity_headers: &'a IdentityHeaders,
    /// The matched rule, whose `headers:` a 200 carries; `None` when no rule matched.
    pub rule: Option<&'a Rule>,
    /// Every header name the rules' `headers:` can emit: sent empty when the rule does not.
    pub template_headers: &'a TemplateHeaders,
    /// The identity token's signer and the matched rule's `identity_token:`.
    pub identity_token: TokenContext<'a>,
}

/// The answer to a decision request, independent of the wire form.
#[derive(Debug, Clone)]
pub struct Answer {
    /// 200, 302, 303, 400, 401, 403 or 503.
    pub status: StatusCode,
    /// On a 200 the identity headers for the upstream and the refreshed session's `Set-Cookie`;
    /// on a refusal `Location` and `WWW-Authenticate` where the table says so.
    pub headers: HeaderMap,
    /// A short body.
    pub body: Body,
}

/// The body of an [`Answer`]: JSON for API clients, one line of text otherwise.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// A line of text.
    Text(String),
    /// `{"error": ..., "reason": ...}`.
    Json(serde_json::Value),
    /// A page for a person in a browser (see [`page`]).
    Html(String),
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let (content_type, body) = match self.body {
            // An empty body (every 200's) has no type, and allocates nothing.
            Body::Text(text) if text.is_empty() => (None, axum::body::Body::empty()),
            Body::Text(text) => (Some("text/plain; charset=utf-8"), axum::body::Body::from(text)),
            Body::Json(json) => (Some("application/json"), axum::body::Body::from(json.to_string())),
            Body::Html(html) => (Some("text/html; charset=utf-8"), axum::body::Body::from(html)),
        };
        // The planned headers become the response's as they are (no copy into a second map).
        let mut response = Response::new(body);
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers;
        if let Some(content_type) = content_type {
            response
                .headers_mut()
                .entry(header::CONTENT_TYPE)
                .or_insert(HeaderValue::from_static(content_type));
        }
        response
    }
}

/// The answer for `decision`.
pub fn plan(decision: Decision<'_>, context: &Context<'_>) -> Answer {
    match decision {
        Decision::Allow {
            identity,
            rule,
            upstream,
        } => allow(identity.as_deref(), upstream, rule, context),
        Decision::Forbidden { reason, .. } => refusal(StatusCode::FORBIDDEN, "forbidden", &reason, context.client),
        Decision::Unauthenticated {
            redirect,
            reason,
            invalid_bearer,
            ..
        } => unauthenticated(redirect, &reason, invalid_bearer, context),
        Decision::Unavailable { reason, .. } => {
            refusal(StatusCode::SERVICE_UNAVAILABLE, "unavailable", &reason, context.client)
        }
    }
}

/// The answer when the original request cannot be read (a header missing, repeated or bad).
pub fn invalid_request(reason: &str, client: ClientKind) -> Answer {
    refusal(StatusCode::BAD_REQUEST, "invalid_request", reason, client)
}

fn allow(identity: Option<&Identity>, upstream: Upstream, rule: &str, context: &Context<'_>) -> Answer {
    let mut headers = context
        .identity_headers
        .head(identity, context.rule, rule, context.template_headers);
    if let Some((name, value)) = context
        .identity_headers
        .access_token(identity, upstream.access_token.as_deref(), rule)
        // A rule's own header of that name wins, as it always did.
        && !context
            .rule
            .is_some_and(|rule| rule.headers.iter().any(|template| template.name == *name))
    {
        headers.insert(name, value);
    }
    match context.identity_token.header(identity) {
        Ok(Some((name, value))) => {
            headers.insert(name, value);
        }
        Ok(None) => {}
        Err(error) => {
            // Not a verdict on the user: the upstream would get no token it can trust.
            tracing::error!(key = "identity_token.key_file", rule, %error, "cannot sign the identity token");
            let reason = "cannot sign the identity token";
            return refusal(StatusCode::SERVICE_UNAVAILABLE, "unavailable", reason, context.client);
        }
    }
    for cookie in upstream.set_cookies {
        headers.append(header::SET_COOKIE, cookie);
    }
    Answer {
        status: StatusCode::OK,
        headers,
        // Empty: nginx keeps its connection to Portcullis only when an `auth_request` answer
        // has no body (it never reads one); with `allowed` it opened a connection per request.
        body: Body::Text(String::new()),
    }
}

/// A header value, or an empty one (logged) when the value holds a control character.
fn safe_header_value(name: &HeaderName, value: &str, rule: &str) -> HeaderValue {
    if has_control(value) {
        tracing::warn!(header = %name, rule, "identity value holds a control character; sent empty");
        return HeaderValue::from_static("");
    }
    // Bytes, not `from_str`: UTF-8 names and addresses (José, zoë@...) are valid header values
    // (obs-text); only control characters are refused.
    HeaderValue::from_bytes(value.as_bytes()).unwrap_or_else(|_| {
        tracing::warn!(header = %name, rule, "identity value is not a valid header value; sent empty");
        HeaderValue::from_static("")
    })
}

/// Whether `value` holds a control character (C0, DEL or C1). Printable ASCII, the common case,
/// is told apart without decoding characters (a loop the compiler vectorises).
fn has_control(value: &str) -> bool {
    let printable_ascii = value.bytes().fold(true, |all, byte| all & (0x20..0x7f).contains(&byte));
    !printable_ascii && value.chars().any(char::is_control)
}

/// The table: who gets a redirect to login and who gets a 401.
fn unauthenticated(redirect: bool, reason: &str, invalid_bearer: bool, context: &Context<'_>) -> Answer {
    let login = context
        .login_start
        .filter(|_| redirect && context.client == ClientKind::Browser)
        .map(|start| login_url(start, &context.request.url()));
    match (context.endpoint, login) {
        (Endpoint::ForwardAuth | Endpoint::ExtAuthz | Endpoint::Grpc, Some(location)) => {
            let status = if matches!(context.request.method, Method::GET | Method::HEAD | Method::OPTIONS) {
                StatusCode::FOUND
            } else {
                StatusCode::SEE_OTHER
            };
            let mut answer = Answer {
                status,
                headers: HeaderMap::new(),
                body: Body::Text("redirecting to login\n".into()),
            };
            insert_location(&mut answer, &location);
            answer
        }
        (_, login) => {
            let mut answer = refusal(StatusCode::UNAUTHORIZED, "unauthenticated", reason, context.client);
            let challenge = if invalid_bearer {
                r#"Bearer error="invalid_token""#
            } else {
                r#"Bearer realm="portcullis""#
            };
            answer
                .headers
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
            if let Some(location) = login {
                insert_location(&mut answer, &location);
            }
            answer
        }
    }
}

fn insert_location(answer: &mut Answer, location: &str) {
    if let Ok(value) = HeaderValue::from_str(location) {
        answer.headers.insert(header::LOCATION, value);
    }
}

/// Characters left as they are in a query parameter value (RFC 3986 unreserved).
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// The login start URL carrying `original` in `rd`, fully percent-encoded.
pub fn login_url(start: &url::Url, original: &str) -> String {
    format!("{start}?rd={}", utf8_percent_encode(original, QUERY_VALUE))
}

/// A short refusal: JSON for API clients, text for browsers.
fn refusal(status: StatusCode, error: &str, reason: &str, client: ClientKind) -> Answer {
    let body = match client {
        ClientKind::Api => Body::Json(serde_json::json!({ "error": error, "reason": reason })),
        ClientKind::Browser => Body::Text(format!("{error}: {reason}\n")),
    };
    Answer {
        status,
        headers: HeaderMap::new(),
        body,
    }
}

#[cfg(test)]
mod tests;
