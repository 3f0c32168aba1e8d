//! Real Caddy 2.6 (Debian's, `forward_auth`) running `examples/caddy/Caddyfile` in front of the
//! echo app. Caddy 2.11 runs the same file in `caddy_2_11.rs`.

use serde_json::json;

use super::{BROWSER_ACCEPT, IDENTITY_HEADERS, PeerProcess, Seen, Upstream, header};
use crate::common::rules::DECISIONS as RULES;
use crate::common::tokens::rsa1;
use crate::common::{Portcullis, Setup, client, file_issuer_config, free_port, login_config};

/// Portcullis, the app and Caddy running the example Caddyfile.
struct Stack {
    _caddy: PeerProcess,
    upstream: Upstream,
    port: u16,
    portcullis: Portcullis,
}

impl Stack {
    async fn start(config: &str) -> Stack {
        let portcullis = Portcullis::start(Setup::new(config, RULES)).await;
        let upstream = Upstream::start().await;
        let port = free_port();
        let dir = tempfile::tempdir().expect("tempdir");
        let caddyfile = super::example_with(
            "caddy/Caddyfile",
            &[
                ("127.0.0.1:4180", format!("127.0.0.1:{}", portcullis.port)),
                ("127.0.0.1:8080", format!("127.0.0.1:{}", upstream.port)),
                ("http://:8000", format!("http://:{port}")),
            ],
        );
        let caddy = super::run_caddy(&super::program("caddy"), dir, &caddyfile, port).await;
        Stack {
            _caddy: caddy,
            upstream,
            port,
            portcullis,
        }
    }

    /// `GET http://app.example.com<uri>` through Caddy.
    fn get(&self, uri: &str) -> reqwest::RequestBuilder {
        client()
            .get(format!("http://127.0.0.1:{}{uri}", self.port))
            .header("Host", "app.example.com")
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        super::print_log_on_failure(&self.portcullis);
    }
}

#[tokio::test]
async fn caddy_sends_a_browser_to_login_with_the_original_url() {
    let stack = Stack::start(&login_config()).await;
    let response = stack
        .get("/admin/x?a=1&b=2")
        .header("Accept", BROWSER_ACCEPT)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 302);
    assert_eq!(
        header(&response, "Location"),
        Some("https://auth.example.com/oauth2/start?rd=http%3A%2F%2Fapp.example.com%2Fadmin%2Fx%3Fa%3D1%26b%3D2")
    );
    assert_eq!(stack.upstream.hits(), 0);
}

#[tokio::test]
async fn caddy_gives_an_api_client_401_not_a_redirect() {
    let stack = Stack::start(&login_config()).await;
    let response = stack
        .get("/admin/x")
        .header("Accept", "application/json")
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 401);
    assert_eq!(header(&response, "Location"), None);
    assert_eq!(stack.upstream.hits(), 0);
}

#[tokio::test]
async fn caddy_passes_a_token_request_with_the_identity_copied_to_the_app() {
    let stack = Stack::start(&file_issuer_config("rsa1")).await;
    let token = rsa1(json!({ "preferred_username": "ally" }));
    let response = stack
        .get("/admin/users?page=2")
        .header("Authorization", format!("Bearer {token}"))
        .header("X-Auth-Request-User", "mallory")
        .send()
        .await;
    let seen = Seen::from(response.expect("send")).await;
    assert_eq!(seen.uri(), "/admin/users?page=2");
    assert_eq!(seen.header("X-Auth-Request-User").as_deref(), Some("alice"));
    assert_eq!(
        seen.header("X-Auth-Request-Email").as_deref(),
        Some("alice@example.com")
    );
    assert_eq!(seen.header("X-Auth-Request-Groups").as_deref(), Some("admins,dev"));
    assert_eq!(
        seen.header("X-Auth-Request-Preferred-Username").as_deref(),
        Some("ally")
    );
}

#[tokio::test]
async fn caddy_gives_the_app_empty_identity_headers_on_a_public_path() {
    let stack = Stack::start(&file_issuer_config("rsa1")).await;
    let response = stack
        .get("/public/a")
        .header("X-Auth-Request-User", "mallory")
        .send()
        .await;
    let seen = Seen::from(response.expect("send")).await;
    for name in IDENTITY_HEADERS {
        // Present and empty: never the client's value, never Caddy placeholder text like
        // `{http.reverse_proxy.header.X-Auth-Request-User}`.
        assert_eq!(seen.header(name).as_deref(), Some(""), "{name}");
    }
}

#[tokio::test]
async fn client_spoofed_original_and_forwarded_headers_cannot_choose_the_path_caddy_asks_about() {
    let stack = Stack::start(&file_issuer_config("rsa1")).await;
    let spoofs: [&[(&str, &str)]; 3] = [
        &[("X-Forwarded-Uri", "/public/a"), ("X-Forwarded-Method", "GET")],
        &[
            ("X-Original-URL", "http://app.example.com/public/a"),
            ("X-Original-Method", "GET"),
        ],
        &[("X-Original-URI", "/public/a"), ("X-Original-Method", "GET")],
    ];
    for spoof in spoofs {
        for (path, expected) in [("/admin/", 401), ("/closed/x", 403)] {
            let mut request = stack.get(path);
            for (name, value) in spoof {
                request = request.header(*name, *value);
            }
            let response = request.send().await.expect("send");
            assert_eq!(response.status(), expected, "{spoof:?} must be judged as {path}");
        }
    }
    assert_eq!(stack.upstream.hits(), 0);
}

#[tokio::test]
async fn caddy_overwrites_a_templated_header_the_client_sent() {
    let stack = Stack::start(&file_issuer_config("rsa1")).await;
    let public = stack
        .get("/public/a")
        .header("X-Auth-Request-Tenant", "evil")
        .send()
        .await;
    let seen = Seen::from(public.expect("send")).await;
    assert_eq!(seen.header("X-Auth-Request-Tenant").as_deref(), Some(""));
    let token = rsa1(json!({ "tenant": "acme" }));
    let admin = stack
        .get("/admin/x")
        .header("Authorization", format!("Bearer {token}"))
        .header("X-Auth-Request-Tenant", "evil")
        .send()
        .await;
    let seen = Seen::from(admin.expect("send")).await;
    assert_eq!(seen.header("X-Auth-Request-Tenant").as_deref(), Some("acme"));
}

#[tokio::test]
async fn forbidden_answer_passes_through_caddy_as_403() {
    let stack = Stack::start(&file_issuer_config("rsa1")).await;
    let token = rsa1(json!({}));
    let response = stack
        .get("/ops/")
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .await;
    assert_eq!(response.expect("send").status(), 403);
    assert_eq!(stack.upstream.hits(), 0);
}
