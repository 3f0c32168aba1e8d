//! The gRPC wire form in-process: `CheckRequest`s built by hand, encoded as Envoy would, read
//! back through [`wire`] and decided by [`check`] on a real [`App`] (static keys, no network),
//! and the rendering of planned answers.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use envoy_types::ext_authz::v3::pb::{CheckRequest, CheckResponse, HeaderAppendAction, HttpResponse};
use envoy_types::pb::envoy::config::core::v3::{HeaderMap as EnvoyHeaderMap, HeaderValue as EnvoyHeader};
use envoy_types::pb::envoy::service::auth::v3::AttributeContext;
use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Request};
use prost::Message;

use super::{check as decide_check, read, render, wire};
use crate::answer::{Answer, Body};
use crate::config::Config;
use crate::metrics::Metrics;
use crate::rules::RuleSet;
use crate::server::App;

const RULES: &str = "
- id: public
  paths: ['/public/**']
  policy: allow
- id: closed
  paths: ['/closed/**']
  policy: deny
- id: private
  paths: ['/private/**']
  policy: authenticated
";

/// An [`App`] with one issuer of static keys (never ready to fetch anything) and [`RULES`].
fn app() -> (Arc<App>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let jwks = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/keys/rsa1.jwks.json");
    std::fs::write(dir.path().join("rules.yaml"), RULES).expect("write rules");
    let config = format!(
        "[[issuers]]\nname = \"main\"\nissuer = \"https://issuer.test/\"\njwks_file = \"{jwks}\"\n\
         [rules]\npaths = [\"rules.yaml\"]\ndefault = \"deny\"\n"
    );
    let file = dir.path().join("portcullis.toml");
    std::fs::write(&file, config).expect("write config");
    let config = Config::load(&file).expect("config");
    let rules = RuleSet::load(&config.rules.paths, &crate::rules::Known::of(&config)).expect("rules");
    let app = App::new(config, rules, Metrics::new()).expect("app");
    (Arc::new(app), dir)
}

pub(super) fn http(method: &str, host: &str, path: &str, headers: &[(&str, &str)]) -> HttpRequest {
    HttpRequest {
        method: method.into(),
        scheme: "https".into(),
        host: host.into(),
        path: path.into(),
        headers: headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..HttpRequest::default()
    }
}

pub(super) fn check_request(http: Option<HttpRequest>) -> CheckRequest {
    CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(Request { time: None, http }),
            ..AttributeContext::default()
        }),
    }
}

/// `request` as the service receives it: encoded with Envoy's full message definitions, read
/// with the service's own subset.
pub(super) fn received(request: &CheckRequest) -> wire::CheckRequest {
    wire::CheckRequest::decode(request.encode_to_vec().as_slice()).expect("decodes")
}

/// Asks the service as Envoy on 127.0.0.1 would.
pub(super) async fn check(app: &Arc<App>, request: CheckRequest) -> CheckResponse {
    let peer: SocketAddr = "127.0.0.1:50000".parse().expect("addr");
    decide_check(app, Some(peer), Ok(received(&request))).await
}

fn denied(response: &CheckResponse) -> (i32, &str, HashMap<&str, &str>) {
    let Some(HttpResponse::DeniedResponse(denied)) = &response.http_response else {
        panic!("not denied: {response:?}");
    };
    let headers = denied
        .headers
        .iter()
        .filter_map(|option| option.header.as_ref())
        .map(|h| (h.key.as_str(), h.value.as_str()))
        .collect();
    (denied.status.as_ref().map_or(0, |s| s.code), &denied.body, headers)
}

#[tokio::test]
async fn malformed_check_requests_are_a_denied_400_naming_the_field() {
    let (app, _dir) = app();
    let cases = [
        (CheckRequest { attributes: None }, "attributes.request.http"),
        (check_request(None), "attributes.request.http"),
        (
            check_request(Some(http("", "app.test", "/x", &[]))),
            "attributes.request.http.method",
        ),
        (
            check_request(Some(http("G E T", "app.test", "/x", &[]))),
            "attributes.request.http.method",
        ),
        (
            check_request(Some(http("GET", "", "/x", &[]))),
            "attributes.request.http.host",
        ),
        (
            check_request(Some(http("GET", "a b", "/x", &[]))),
            "attributes.request.http.host",
        ),
        (
            check_request(Some(http("GET", "app.test", "", &[]))),
            "attributes.request.http.path",
        ),
        (
            check_request(Some(http("GET", "app.test", "x", &[]))),
            "attributes.request.http.path",
        ),
        (
            check_request(Some(http("GET", "app.test", "/a/%2e%2e/%2e%2e/b", &[]))),
            "attributes.request.http.path",
        ),
        (
            check_request(Some(http("GET", "app.test", "/a%2Fb", &[]))),
            "attributes.request.http.path",
        ),
    ];
    for (request, field) in cases {
        let response = check(&app, request).await;
        let (status, body, headers) = denied(&response);
        assert_eq!(status, 400, "{field}: {response:?}");
        assert!(body.contains(field), "{field} not named in {body:?}");
        assert_eq!(headers.get("content-type"), Some(&"application/json"), "{field}");
        assert_eq!(response.status.as_ref().map(|s| s.code), Some(3), "INVALID_ARGUMENT");
    }
    let metrics = app.metrics.render();
    let line = r#"portcullis_decisions_total{endpoint="grpc",outcome="invalid_request",rule=""} 10"#;
    assert!(metrics.contains(line), "{metrics}");
}

#[tokio::test]
async fn a_public_path_sets_every_identity_header_empty_overwriting_client_copies() {
    let (app, _dir) = app();
    let spoofed = [("x-auth-request-user", "mallory")];
    let response = check(
        &app,
        check_request(Some(http("GET", "app.test", "/public/a?v=1", &spoofed))),
    )
    .await;
    assert_eq!(response.status.as_ref().map(|s| s.code), Some(0));
    let Some(HttpResponse::OkResponse(ok)) = &response.http_response else {
        panic!("not allowed: {response:?}");
    };
    let names: Vec<&str> = ok
        .headers
        .iter()
        .filter_map(|o| o.header.as_ref())
        .map(|h| h.key.as_str())
        .collect();
    for name in [
        "x-auth-request-user",
        "x-auth-request-email",
        "x-auth-request-groups",
        "x-auth-request-preferred-username",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    for option in &ok.headers {
        let header = option.header.as_ref().expect("header");
        assert_eq!(header.value, "", "{}", header.key);
        assert_eq!(option.append_action, HeaderAppendAction::OverwriteIfExistsOrAdd as i32);
        assert!(
            option.keep_empty_value,
            "an empty value must still replace the client's copy"
        );
    }
    assert!(ok.response_headers_to_add.is_empty());
    let metrics = app.metrics.render();
    assert!(
        metrics.contains(r#"portcullis_decisions_total{endpoint="grpc",outcome="allow",rule="public"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn refusals_carry_the_status_challenge_and_body_of_the_http_form() {
    let (app, _dir) = app();
    let api = [("accept", "application/json")];
    let response = check(&app, check_request(Some(http("GET", "app.test", "/private/x", &api)))).await;
    let (status, body, headers) = denied(&response);
    assert_eq!(status, 401);
    assert_eq!(headers.get("www-authenticate"), Some(&r#"Bearer realm="portcullis""#));
    assert!(body.contains("unauthenticated"), "{body}");
    assert_eq!(response.status.as_ref().map(|s| s.code), Some(16), "UNAUTHENTICATED");

    let bad_token = [("authorization", "Bearer not.a.token")];
    let response = check(
        &app,
        check_request(Some(http("GET", "app.test", "/private/x", &bad_token))),
    )
    .await;
    let (status, _, headers) = denied(&response);
    assert_eq!(status, 401);
    assert_eq!(
        headers.get("www-authenticate"),
        Some(&r#"Bearer error="invalid_token""#)
    );

    let browser = [("accept", "text/html")];
    let response = check(
        &app,
        check_request(Some(http("POST", "app.test", "/closed/x", &browser))),
    )
    .await;
    let (status, body, headers) = denied(&response);
    assert_eq!(status, 403);
    // A browser gets the 403 page, through Envoy as through the HTTP endpoints.
    assert!(
        body.contains("Rule <code>closed</code> does not let you open this page: rule `closed` denies this request."),
        "{body}"
    );
    assert_eq!(headers.get("content-type"), Some(&"text/html; charset=utf-8"));
    assert_eq!(response.status.as_ref().map(|s| s.code), Some(7), "PERMISSION_DENIED");
}

#[test]
fn repeated_headers_from_the_raw_header_map_stay_apart() {
    let mut request = http("GET", "app.test", "/x", &[("authorization", "ignored")]);
    let raw = |key: &str, value: &str| EnvoyHeader {
        key: key.into(),
        value: String::new(),
        raw_value: value.as_bytes().to_vec(),
    };
    request.header_map = Some(EnvoyHeaderMap {
        headers: vec![
            raw(":authority", "app.test"),
            raw("authorization", "Bearer a"),
            raw("authorization", "Bearer b"),
            raw("bad name", "x"),
        ],
    });
    let (original, headers) = read(&received(&check_request(Some(request))), true);
    assert_eq!(original.expect("original").host, "app.test");
    assert_eq!(headers.get_all(header::AUTHORIZATION).iter().count(), 2);
    assert_eq!(headers.len(), 2, "{headers:?}");
}

/// Envoy's full message, every field set, reads as the subset the service decodes: the fields
/// it names are the same, the others are skipped.
#[test]
fn a_check_request_with_every_field_reads_as_its_decision_fields() {
    use envoy_types::pb::envoy::service::auth::v3::attribute_context::{Peer, TlsSession};

    let mut full = http(
        "POST",
        "app.test",
        "/x?y=1",
        &[("authorization", "Bearer t"), ("x-a", "1")],
    );
    full.id = "request-id".into();
    full.query = "y=1".into();
    full.protocol = "HTTP/2".into();
    full.body = "a body".into();
    full.raw_body = vec![0xff; 70_000];
    full.size = 6;
    let peer = Peer {
        service: "client".into(),
        principal: "spiffe://x".into(),
        labels: [("k".to_owned(), "v".to_owned())].into(),
        ..Peer::default()
    };
    let request = CheckRequest {
        attributes: Some(AttributeContext {
            source: Some(peer.clone()),
            destination: Some(peer),
            request: Some(Request {
                time: None,
                http: Some(full),
            }),
            context_extensions: [("ext".to_owned(), "1".to_owned())].into(),
            tls_session: Some(TlsSession { sni: "app.test".into() }),
            ..AttributeContext::default()
        }),
    };
    let (original, headers) = read(&received(&request), true);
    let original = original.expect("original");
    assert_eq!(
        (original.method.as_str(), original.url()),
        ("POST", "https://app.test/x?y=1".to_owned())
    );
    assert_eq!(
        headers.get(header::AUTHORIZATION).map(HeaderValue::as_bytes),
        Some(&b"Bearer t"[..])
    );
    assert_eq!(headers.len(), 2, "{headers:?}");
}

/// What protobuf lets through but a request cannot be: a string field that is not UTF-8 is named
/// in the 400; a map key sent twice counts once, the last one (a map's rule).
#[test]
fn string_fields_must_be_utf8_and_a_repeated_map_key_counts_once() {
    use bytes::Bytes;

    let entry = |key: &'static str, value: &'static [u8]| wire::MapEntry {
        key: Bytes::from_static(key.as_bytes()),
        value: Bytes::from_static(value),
    };
    let mut http = wire::HttpRequest {
        method: Bytes::from_static(b"GET"),
        headers: vec![entry("x-a", b"first"), entry("x-a", b"last"), entry(":path", b"/y")],
        path: Bytes::from_static(b"/x"),
        host: Bytes::from_static(b"app.test"),
        scheme: Bytes::from_static(b"https"),
        header_map: None,
    };
    let request = |http: &wire::HttpRequest| wire::CheckRequest {
        attributes: Some(wire::AttributeContext {
            request: Some(wire::Request {
                http: Some(http.clone()),
            }),
        }),
    };
    let (original, headers) = read(&request(&http), true);
    assert!(original.is_ok());
    assert_eq!(
        headers.get_all("x-a").iter().collect::<Vec<_>>(),
        [HeaderValue::from_static("last")]
    );
    assert_eq!(headers.len(), 1);
    for field in ["method", "path", "host", "scheme"] {
        let mut bad = http.clone();
        let slot = match field {
            "method" => &mut bad.method,
            "path" => &mut bad.path,
            "host" => &mut bad.host,
            _ => &mut bad.scheme,
        };
        *slot = Bytes::from_static(b"\xff");
        let error = read(&request(&bad), true).0.expect_err("not UTF-8").to_string();
        assert!(error.contains(&format!("attributes.request.http.{field}")), "{error}");
    }
    http.header_map = Some(wire::HeaderMap { headers: Vec::new() });
    assert!(read(&request(&http), true).1.is_empty(), "header_map replaces headers");
}

/// A message that is not protobuf is a decision like any malformed request: denied 400.
#[tokio::test]
async fn a_message_that_is_not_protobuf_is_a_denied_400() {
    let (app, _dir) = app();
    let garbage = wire::CheckRequest::decode(&[0x0a, 0x05, 0xff][..]);
    let response = decide_check(&app, None, garbage).await;
    let (status, body, _) = denied(&response);
    assert_eq!(status, 400);
    assert!(body.contains("CheckRequest") && body.contains("protobuf"), "{body}");
}

#[test]
fn an_untrusted_peer_reads_no_scheme() {
    let request = received(&check_request(Some(http("GET", "app.test", "/x?y=1", &[]))));
    let (trusted, _) = read(&request, true);
    let (untrusted, _) = read(&request, false);
    assert_eq!(trusted.expect("trusted").url(), "https://app.test/x?y=1");
    assert_eq!(untrusted.expect("untrusted").url(), "http://app.test/x?y=1");
}

#[test]
fn an_allow_sets_upstream_headers_and_sends_refreshed_cookies_to_the_client() {
    let mut headers = HeaderMap::new();
    headers.insert("x-auth-request-user", HeaderValue::from_static("alice"));
    headers.insert(
        "x-auth-request-email",
        HeaderValue::from_bytes("josé@example.com".as_bytes()).expect("value"),
    );
    headers.append(header::SET_COOKIE, HeaderValue::from_static("_portcullis_0=a; Path=/"));
    headers.append(header::SET_COOKIE, HeaderValue::from_static("_portcullis_1=b; Path=/"));
    let response = render(Answer {
        status: StatusCode::OK,
        headers,
        body: Body::Text(String::new()),
    });
    let Some(HttpResponse::OkResponse(ok)) = response.http_response else {
        panic!("not allowed");
    };
    let upstream: Vec<(&str, &str)> = ok
        .headers
        .iter()
        .filter_map(|o| o.header.as_ref())
        .map(|h| (h.key.as_str(), h.value.as_str()))
        .collect();
    assert_eq!(
        upstream,
        [
            ("x-auth-request-user", "alice"),
            ("x-auth-request-email", "josé@example.com")
        ]
    );
    let cookies: Vec<&str> = ok
        .response_headers_to_add
        .iter()
        .map(|o| {
            assert_eq!(o.append_action, HeaderAppendAction::AppendIfExistsOrAdd as i32);
            o.header.as_ref().map_or("", |h| h.value.as_str())
        })
        .collect();
    assert_eq!(cookies, ["_portcullis_0=a; Path=/", "_portcullis_1=b; Path=/"]);
}

#[test]
fn a_login_redirect_keeps_its_status_and_location() {
    for status in [StatusCode::FOUND, StatusCode::SEE_OTHER] {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::LOCATION,
            HeaderValue::from_static("https://auth.test/oauth2/start?rd=x"),
        );
        let response = render(Answer {
            status,
            headers,
            body: Body::Text("redirecting to login\n".into()),
        });
        let (code, body, headers) = denied(&response);
        assert_eq!(code, i32::from(status.as_u16()));
        assert_eq!(body, "redirecting to login\n");
        assert_eq!(headers.get("location"), Some(&"https://auth.test/oauth2/start?rd=x"));
    }
}
