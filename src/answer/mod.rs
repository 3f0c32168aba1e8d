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
    /// Every header name the rules' `headers:` can emit: sent empty when the rule does not.
    pub template_headers: &'a [HeaderName],
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
            headers,
            rule,
            upstream,
        } => allow(identity.as_deref(), &headers, upstream, rule, context),
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

fn allow(
    identity: Option<&Identity>,
    extra: &[(HeaderName, String)],
    upstream: Upstream,
    rule: &str,
    context: &Context<'_>,
) -> Answer {
    let identity_values = context
        .identity_headers
        .header_values(identity, upstream.access_token.as_deref(), rule);
    let mut headers = match context.identity_headers.blank() {
        Some(blank) => {
            let mut headers = blank.clone();
            for ((_, slot), (_, value)) in headers.iter_mut().zip(identity_values) {
                *slot = value;
            }
            headers
        }
        None => {
            let mut headers = HeaderMap::with_capacity(5);
            for (name, value) in identity_values {
                headers.insert(name.clone(), value);
            }
            headers
        }
    };
    for (name, value) in extra {
        headers.insert(name.clone(), safe_header_value(name, value, rule));
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
    for name in context.template_headers {
        headers.entry(name).or_insert_with(|| HeaderValue::from_static(""));
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
mod tests {
    use super::*;
    use crate::config::HeadersConfig;

    #[test]
    fn login_url_percent_encodes_the_whole_original_url() {
        let start = url::Url::parse("https://auth.example.com/oauth2/start").expect("url");
        let url = login_url(&start, "https://app.example.com/a b?x=1&y=é#f");
        assert_eq!(
            url,
            "https://auth.example.com/oauth2/start?rd=https%3A%2F%2Fapp.example.com%2Fa%20b%3Fx%3D1%26y%3D%C3%A9%23f"
        );
    }

    #[test]
    fn identity_headers_are_all_present_and_empty_without_identity() {
        let names = IdentityHeaders::new(&HeadersConfig {
            pass_access_token: true,
            ..HeadersConfig::default()
        });
        let values = names.values(None, Some("token"));
        assert_eq!(values.len(), 5);
        assert!(values.iter().all(|(_, value)| value.is_empty()), "{values:?}");
    }

    #[test]
    fn control_characters_never_reach_a_header() {
        let name = HeaderName::from_static("x-test");
        assert_eq!(safe_header_value(&name, "a\u{7}b", "r"), "");
        assert_eq!(safe_header_value(&name, "a\nb", "r"), "");
        assert_eq!(safe_header_value(&name, "plain value", "r"), "plain value");
        assert_eq!(safe_header_value(&name, "José", "r").as_bytes(), "José".as_bytes());
    }

    #[test]
    fn a_group_with_a_comma_is_left_out_of_the_groups_header() {
        let names = IdentityHeaders::new(&HeadersConfig::default());
        let identity = Identity {
            issuer: "main".into(),
            user: "u".into(),
            email: None,
            groups: vec!["admins,ops".into(), "dev".into(), "a b".into(), "x,".into()],
            preferred_username: None,
            scopes: Vec::new(),
            claims: crate::authn::Claims::default(),
            expires_at: 0,
            derived: Default::default(),
        };
        let values = names.values(Some(&identity), None);
        let groups = values
            .iter()
            .find(|(name, _)| name.as_str() == "x-auth-request-groups")
            .map(|(_, value)| value.as_str());
        assert_eq!(groups, Some("dev,a b"));
    }

    fn context<'a>(request: &'a OriginalRequest, names: &'a IdentityHeaders) -> Context<'a> {
        Context {
            endpoint: Endpoint::ForwardAuth,
            client: ClientKind::Api,
            request,
            login_start: None,
            identity_headers: names,
            template_headers: &[],
            identity_token: TokenContext::default(),
        }
    }

    fn request() -> OriginalRequest {
        OriginalRequest {
            method: Method::GET,
            scheme: "https".into(),
            host: "app.example.com".into(),
            authority: "app.example.com".into(),
            path: "/x".into(),
            uri: "/x".into(),
        }
    }

    #[test]
    fn a_check_that_cannot_answer_is_503_never_an_allow() {
        let names = IdentityHeaders::new(&HeadersConfig::default());
        let request = request();
        let decision = Decision::Unavailable {
            rule: "r",
            reason: "introspection timed out".into(),
        };
        let answer = plan(decision, &context(&request, &names));
        assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(answer.headers.get("x-auth-request-user").is_none());
        assert_eq!(
            answer.body,
            Body::Json(serde_json::json!({"error": "unavailable", "reason": "introspection timed out"}))
        );
    }

    fn alice() -> Identity {
        Identity {
            issuer: "main".into(),
            user: "alice".into(),
            email: Some("alice@example.com".into()),
            groups: vec!["admins".into(), "dev".into()],
            preferred_username: Some("Alice".into()),
            scopes: Vec::new(),
            claims: crate::authn::Claims::default(),
            expires_at: 0,
            derived: Default::default(),
        }
    }

    fn allowed(identity: Option<std::sync::Arc<Identity>>, headers: Vec<(HeaderName, String)>) -> Decision<'static> {
        Decision::Allow {
            rule: "r",
            identity,
            headers,
            upstream: Upstream {
                access_token: None,
                set_cookies: Vec::new(),
            },
        }
    }

    /// The answer's headers as (name, value) text pairs, sorted.
    fn pairs(answer: &Answer) -> Vec<(String, String)> {
        let mut pairs: Vec<(String, String)> = answer
            .headers
            .iter()
            .map(|(name, value)| (name.to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
            .collect();
        pairs.sort();
        pairs
    }

    #[test]
    fn an_allow_fills_the_blank_identity_headers_by_position_then_adds_rule_and_template_headers() {
        let names = IdentityHeaders::new(&HeadersConfig::default());
        assert!(names.blank().is_some());
        let request = request();
        let tenant = HeaderName::from_static("x-tenant");
        let unused = HeaderName::from_static("x-unused");
        let templates = [tenant.clone(), unused];
        let mut context = context(&request, &names);
        context.template_headers = &templates;
        let identity = Some(std::sync::Arc::new(alice()));
        let answer = plan(allowed(identity, vec![(tenant, "acme".into())]), &context);
        let expected = [
            ("x-auth-request-email", "alice@example.com"),
            ("x-auth-request-groups", "admins,dev"),
            ("x-auth-request-preferred-username", "Alice"),
            ("x-auth-request-user", "alice"),
            ("x-tenant", "acme"),
            ("x-unused", ""),
        ]
        .map(|(name, value)| (name.to_owned(), value.to_owned()));
        assert_eq!(pairs(&answer), expected);
    }

    #[test]
    fn identity_header_names_that_repeat_still_answer_as_one_header_each() {
        // `user` and `email` configured as the same header: no blank to copy, and the later
        // value (email) wins, as inserting one after the other does.
        let config = HeadersConfig {
            email: HeaderName::from_static("x-auth-request-user"),
            ..HeadersConfig::default()
        };
        let names = IdentityHeaders::new(&config);
        assert!(names.blank().is_none());
        let request = request();
        let answer = plan(
            allowed(Some(std::sync::Arc::new(alice())), Vec::new()),
            &context(&request, &names),
        );
        let users: Vec<_> = answer.headers.get_all("x-auth-request-user").iter().collect();
        assert_eq!(users, ["alice@example.com"]);
        assert_eq!(answer.headers.len(), 3);
    }

    #[test]
    fn control_characters_are_found_in_ascii_and_beyond() {
        assert!(!has_control("plain value ~"));
        assert!(!has_control("José zoë"));
        assert!(has_control("a\u{1f}b"));
        assert!(has_control("a\u{7f}b"));
        assert!(has_control("é\u{85}"));
        assert!(has_control("\t"));
    }

    #[test]
    fn an_allow_plans_the_identity_headers_and_the_refreshed_cookies() {
        let names = IdentityHeaders::new(&HeadersConfig::default());
        let request = request();
        let cookie = HeaderValue::from_static("_portcullis=new; Path=/");
        let decision = Decision::Allow {
            rule: "r",
            identity: None,
            headers: Vec::new(),
            upstream: Upstream {
                access_token: None,
                set_cookies: vec![cookie.clone()],
            },
        };
        let answer = plan(decision, &context(&request, &names));
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(
            answer.headers.get("x-auth-request-user").map(HeaderValue::as_bytes),
            Some(&b""[..])
        );
        assert_eq!(
            answer.headers.get_all(header::SET_COOKIE).iter().collect::<Vec<_>>(),
            [&cookie]
        );
    }
}
