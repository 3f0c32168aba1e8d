//! gRPC ext_authz (`server.grpc_listen`) through the real binary with a tonic client: the same
//! answers as `/ext-authz` for the same request, malformed `CheckRequest`s answered 400 (never a
//! gRPC error), `endpoint="grpc"` in the metrics, the health service, and a clean stop.

use std::collections::HashMap;
use std::time::Duration;

use envoy_types::ext_authz::v3::pb::{CheckRequest, CheckResponse, HttpResponse};
use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use serde_json::json;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::common::envoy_check;
use crate::common::rules::DECISIONS;
use crate::common::tokens::{now, rsa1};
use crate::common::{Portcullis, Setup, client, login_config, run};

const HOST: &str = "app.example.com";
const BROWSER: (&str, &str) = ("accept", "text/html");
const API: (&str, &str) = ("accept", "application/json");

async fn start() -> Portcullis {
    Portcullis::start(Setup::new(&login_config(), DECISIONS).with_grpc()).await
}

async fn connect(p: &Portcullis) -> Channel {
    let url = format!("http://127.0.0.1:{}", p.grpc_port());
    Channel::from_shared(url)
        .expect("url")
        .connect()
        .await
        .expect("connect")
}

fn check_request(method: &str, path: &str, headers: &[(&str, &str)]) -> CheckRequest {
    envoy_check::check_request(method, HOST, path, headers.iter().copied())
}

/// What a proxy acts on: the status, the headers (lower-case names) and the body.
#[derive(Debug, PartialEq)]
struct Seen {
    status: u16,
    headers: HashMap<String, String>,
    body: String,
}

/// The gRPC answer as Envoy applies it: an allow's upstream headers and client cookies, or a
/// denial's status, headers and body (its content type left out, as HTTP's is).
fn seen_grpc(response: CheckResponse) -> Seen {
    let pairs = |options: &[envoy_types::ext_authz::v3::pb::HeaderValueOption]| -> Vec<(String, String)> {
        options
            .iter()
            .filter_map(|o| o.header.as_ref())
            .map(|h| (h.key.clone(), h.value.clone()))
            .collect()
    };
    match response.http_response.expect("http_response") {
        HttpResponse::OkResponse(ok) => {
            assert_eq!(response.status.map(|s| s.code), Some(0));
            let mut headers = pairs(&ok.headers);
            headers.extend(pairs(&ok.response_headers_to_add));
            Seen {
                status: 200,
                headers: headers.into_iter().collect(),
                body: String::new(),
            }
        }
        HttpResponse::DeniedResponse(denied) => Seen {
            status: denied.status.map_or(0, |s| s.code as u16),
            headers: pairs(&denied.headers)
                .into_iter()
                .filter(|(name, _)| name != "content-type")
                .collect(),
            body: denied.body,
        },
        other => panic!("neither allowed nor denied: {other:?}"),
    }
}

/// The same request through `/ext-authz`.
async fn seen_http(p: &Portcullis, method: &str, path: &str, headers: &[(&str, &str)]) -> Seen {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = client()
        .request(method, p.url(&format!("/ext-authz{path}")))
        .header("Host", HOST)
        .header("X-Forwarded-Proto", "https");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("send");
    let status = response.status().as_u16();
    let skip = ["content-type", "content-length", "date", "x-request-id"];
    let headers = response
        .headers()
        .iter()
        .filter(|(name, _)| !skip.contains(&name.as_str()))
        .map(|(name, value)| (name.to_string(), value.to_str().expect("ascii").to_owned()))
        .collect();
    Seen {
        status,
        headers,
        body: response.text().await.expect("body"),
    }
}

/// A method, a path with query, the request's headers and the status expected.
type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, u16);

#[tokio::test]
async fn grpc_check_answers_as_ext_authz_does_for_every_kind_of_decision() {
    let p = start().await;
    let mut grpc = AuthorizationClient::new(connect(&p).await);
    let token = rsa1(json!({ "preferred_username": "ally", "tenant": "acme" }));
    let bearer = format!("Bearer {token}");
    let expired = format!("Bearer {}", rsa1(json!({ "exp": now() - 3600 })));
    let plain = format!("Bearer {}", rsa1(json!({})));
    let cases: Vec<Case<'_>> = vec![
        (
            "GET",
            "/public/logo.png?v=3",
            vec![("x-auth-request-user", "mallory")],
            200,
        ),
        ("GET", "/admin/users?page=2", vec![("authorization", &bearer)], 200),
        ("GET", "/admin/x?a=1&b=2", vec![BROWSER], 302),
        ("POST", "/admin/x?a=1&b=2", vec![BROWSER], 303),
        ("GET", "/admin/x", vec![API], 401),
        (
            "GET",
            "/admin/x",
            vec![BROWSER, ("x-requested-with", "XMLHttpRequest")],
            401,
        ),
        ("GET", "/admin/x", vec![("authorization", &expired)], 401),
        ("GET", "/ops/", vec![("authorization", &plain), BROWSER], 403),
        ("GET", "/closed/x", vec![API], 403),
    ];
    for (method, path, headers, status) in cases {
        let http = seen_http(&p, method, path, &headers).await;
        let response = grpc.check(check_request(method, path, &headers)).await;
        let grpc = seen_grpc(response.expect("never a gRPC error").into_inner());
        assert_eq!(http.status, status, "{method} {path}: {http:?}");
        assert_eq!(grpc, http, "{method} {path}");
    }
    let allowed = r#"portcullis_decisions_total{endpoint="grpc",outcome="allow",rule="admin"}"#;
    assert_eq!(p.metric(allowed).await, 1.0);
    let redirected = r#"portcullis_decisions_total{endpoint="grpc",outcome="unauthenticated",rule="admin"}"#;
    assert_eq!(p.metric(redirected).await, 5.0);
}

#[tokio::test]
async fn malformed_check_requests_are_denied_400_and_counted_as_grpc() {
    let p = start().await;
    let mut grpc = AuthorizationClient::new(connect(&p).await);
    let cases = [
        (CheckRequest { attributes: None }, "attributes.request.http"),
        (check_request("", "/x", &[]), "attributes.request.http.method"),
        (check_request("GET", "", &[]), "attributes.request.http.path"),
        (check_request("GET", "/a/../../b", &[]), "attributes.request.http.path"),
        (check_request("GET", "/x#y", &[]), "attributes.request.http.path"),
    ];
    for (request, field) in cases {
        let seen = seen_grpc(grpc.check(request).await.expect("never a gRPC error").into_inner());
        assert_eq!(seen.status, 400, "{field}");
        assert!(seen.body.contains(field), "{field} not named: {}", seen.body);
    }
    let mut no_host = check_request("GET", "/x", &[]);
    if let Some(http) = no_host
        .attributes
        .as_mut()
        .and_then(|a| a.request.as_mut())
        .and_then(|r| r.http.as_mut())
    {
        http.host.clear();
    }
    let seen = seen_grpc(grpc.check(no_host).await.expect("answer").into_inner());
    assert_eq!(seen.status, 400);
    assert!(seen.body.contains("attributes.request.http.host"), "{}", seen.body);
    let series = r#"portcullis_decisions_total{endpoint="grpc",outcome="invalid_request",rule=""}"#;
    assert_eq!(p.metric(series).await, 6.0);
}

#[tokio::test]
async fn health_service_reports_serving_and_sigterm_stops_both_listeners() {
    let mut p = start().await;
    let channel = connect(&p).await;
    let mut health = HealthClient::new(channel);
    for service in ["", "envoy.service.auth.v3.Authorization"] {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let request = HealthCheckRequest {
                service: service.into(),
            };
            let status = health.check(request).await.expect("health").into_inner().status;
            if status == ServingStatus::Serving as i32 {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{service:?} never SERVING");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let grpc_port = p.grpc_port();
    let status = p.terminate();
    assert!(status.success(), "{status}: {}", p.log_text());
    assert!(std::net::TcpStream::connect(("127.0.0.1", grpc_port)).is_err());
}

#[test]
fn grpc_listen_must_be_an_address_other_than_listen() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("rules")).expect("mkdir");
    for (server, expected) in [
        ("grpc_listen = \"nowhere\"", "server.grpc_listen"),
        (
            "listen = \"127.0.0.1:4180\"\ngrpc_listen = \"127.0.0.1:4180\"",
            "must differ from server.listen",
        ),
    ] {
        let config = format!("[server]\n{server}\n{}", crate::common::file_issuer_config("rsa1"));
        std::fs::write(dir.path().join("portcullis.toml"), config).expect("write");
        let (code, _, stderr) = run(&["check", "--config", "portcullis.toml"], dir.path());
        assert_eq!(code, 1, "accepted: {server}");
        assert!(stderr.contains(expected), "`{expected}` missing from: {stderr}");
    }
}

/// Bodies a gRPC client would never send, posted by hand over HTTP/2: a wrong content type is
/// 415, a body that is not one uncompressed message is a gRPC error in the answer's headers
/// (Envoy fails closed on any), and one message that is not a `CheckRequest` is a denied 400
/// counted as an invalid request.
#[tokio::test]
async fn bodies_that_are_not_a_check_request_are_refused_clearly() {
    use prost::Message;

    let p = start().await;
    let url = format!(
        "http://127.0.0.1:{}/envoy.service.auth.v3.Authorization/Check",
        p.grpc_port()
    );
    let http2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .expect("client");
    let post = |content_type: &'static str, body: Vec<u8>| {
        http2
            .post(&url)
            .header("content-type", content_type)
            .header("te", "trailers")
            .body(body)
            .send()
    };
    let framed = |flag: u8, length: u32, message: &[u8]| {
        let mut body = vec![flag];
        body.extend_from_slice(&length.to_be_bytes());
        body.extend_from_slice(message);
        body
    };
    let request = check_request("GET", "/x", &[]).encode_to_vec();
    let length = u32::try_from(request.len()).expect("short");

    let response = post("text/plain", framed(0, length, &request)).await.expect("answer");
    assert_eq!(response.status(), 415);
    for (body, code) in [
        (framed(1, length, &request), "12"),
        (framed(0, length + 1, &request), "3"),
        (framed(0, length - 1, &request), "3"),
        (vec![0, 0], "3"),
    ] {
        let response = post("application/grpc", body).await.expect("answer");
        assert_eq!(response.status(), 200);
        let status = response
            .headers()
            .get("grpc-status")
            .map(|v| v.to_str().expect("ascii").to_owned());
        assert_eq!(status.as_deref(), Some(code), "{:?}", response.headers());
        assert!(response.headers().contains_key("grpc-message"));
    }

    let garbage = [0x0a, 0x05, 0xff];
    let response = post("application/grpc+proto", framed(0, 3, &garbage))
        .await
        .expect("answer");
    assert_eq!(response.status(), 200);
    let body = response.bytes().await.expect("body");
    let check = CheckResponse::decode(&body[5..]).expect("a CheckResponse");
    let seen = seen_grpc(check);
    assert_eq!(seen.status, 400);
    assert!(seen.body.contains("CheckRequest"), "{}", seen.body);
    let series = r#"portcullis_decisions_total{endpoint="grpc",outcome="invalid_request",rule=""}"#;
    assert_eq!(p.metric(series).await, 1.0);
}
