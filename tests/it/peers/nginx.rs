//! Real nginx (`auth_request`) running `examples/nginx/nginx.conf` in front of the echo app.

use serde_json::json;

use super::{BROWSER_ACCEPT, IDENTITY_HEADERS, PeerProcess, Seen, Upstream, header};
use crate::common::rules::DECISIONS as RULES;
use crate::common::tokens::rsa1;
use crate::common::{Portcullis, Setup, client, file_issuer_config, free_port, login_config};

/// Which server block of the example answers.
#[derive(Clone, Copy, Debug)]
pub(super) enum Variant {
    /// Port 8000: the recommended auth location (`X-Original-URL`, `X-Original-Method`).
    Recommended,
    /// Port 8001: the auth location as ingress-nginx generates it: every client header passed
    /// into the subrequest, none cleared.
    IngressNginxStyle,
}

pub(super) const BOTH: [Variant; 2] = [Variant::Recommended, Variant::IngressNginxStyle];

/// Portcullis, the app and nginx running the example config.
pub(super) struct Stack {
    _nginx: PeerProcess,
    pub(super) upstream: Upstream,
    recommended_port: u16,
    ingress_style_port: u16,
    pub(super) portcullis: Portcullis,
}

impl Stack {
    async fn start(config: &str) -> Stack {
        Stack::start_with(config, RULES).await
    }

    /// Portcullis on `config` and `rules`, the app, and nginx running the example.
    pub(super) async fn start_with(config: &str, rules: &str) -> Stack {
        let portcullis = Portcullis::start(Setup::new(config, rules)).await;
        let upstream = Upstream::start().await;
        let recommended_port = free_port();
        let ingress_style_port = std::iter::repeat_with(free_port)
            .find(|p| *p != recommended_port)
            .expect("port");
        let dir = tempfile::tempdir().expect("tempdir");
        let prefix = format!("{}/", dir.path().display());
        let conf = super::example_with(
            "nginx/nginx.conf",
            &[
                ("127.0.0.1:4180", format!("127.0.0.1:{}", portcullis.port)),
                ("127.0.0.1:8080", format!("127.0.0.1:{}", upstream.port)),
                ("127.0.0.1:8000", format!("127.0.0.1:{recommended_port}")),
                ("127.0.0.1:8001", format!("127.0.0.1:{ingress_style_port}")),
                ("/var/log/nginx/", prefix.clone()),
            ],
        );
        let nginx = super::run_nginx(dir, &conf, &prefix, &[recommended_port, ingress_style_port]).await;
        Stack {
            _nginx: nginx,
            upstream,
            recommended_port,
            ingress_style_port,
            portcullis,
        }
    }

    /// `GET http://app.example.com<uri>` through the server block of `variant`.
    pub(super) fn get(&self, variant: Variant, uri: &str) -> reqwest::RequestBuilder {
        let port = match variant {
            Variant::Recommended => self.recommended_port,
            Variant::IngressNginxStyle => self.ingress_style_port,
        };
        client()
            .get(format!("http://127.0.0.1:{port}{uri}"))
            .header("Host", "app.example.com")
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        super::print_log_on_failure(&self.portcullis);
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test]
async fn nginx_lets_a_public_path_through_without_a_token() {
    let stack = Stack::start(&file_issuer_config("rsa1")).await;
    for variant in BOTH {
        let seen = Seen::from(stack.get(variant, "/public/logo.png?v=3").send().await.expect("send")).await;
        assert_eq!(seen.uri(), "/public/logo.png?v=3", "{variant:?}");
        for name in IDENTITY_HEADERS {
            assert_eq!(
                seen.header(name),
                None,
                "{variant:?}: an empty identity header is not sent to the app"
            );
        }
    }
}

#[tokio::test]
async fn nginx_refuses_a_protected_path_without_a_token_with_401() {
    let stack = Stack::start(&file_issuer_config("rsa1")).await;
    for variant in BOTH {
        let response = stack.get(variant, "/admin/users").send().await.expect("send");
        assert_eq!(response.status(), 401, "{variant:?}");
        assert_eq!(
            header(&response, "WWW-Authenticate"),
            Some(r#"Bearer realm="portcullis""#),
            "{variant:?}"
        );
        assert_eq!(header(&response, "Location"), None, "{variant:?}");
    }
    assert_eq!(stack.upstream.hits(), 0);
}

#[tokio::test]
async fn nginx_passes_a_valid_token_and_the_app_sees_the_identity() {
    let stack = Stack::start(&file_issuer_config("rsa1")).await;
    let token = rsa1(json!({ "preferred_username": "ally" }));
    for variant in BOTH {
        let response = stack
            .get(variant, "/admin/users?page=2")
            .header("Authorization", bearer(&token))
            .send()
            .await;
        let seen = Seen::from(response.expect("send")).await;
        assert_eq!(seen.uri(), "/admin/users?page=2", "{variant:?}");
        assert_eq!(
            seen.header("X-Auth-Request-User").as_deref(),
            Some("alice"),
            "{variant:?}"
        );
        assert_eq!(
            seen.header("X-Auth-Request-Email").as_deref(),
            Some("alice@example.com"),
            "{variant:?}"
        );
        assert_eq!(
            seen.header("X-Auth-Request-Groups").as_deref(),
            Some("admins,dev"),
            "{variant:?}"
        );
        assert_eq!(
            seen.header("X-Auth-Request-Preferred-Username").as_deref(),
            Some("ally"),
            "{variant:?}"
        );
    }
}

#[tokio::test]
async fn nginx_treats_an_invalid_token_as_no_token() {
    let stack = Stack::start(&file_issuer_config("rsa1")).await;
    let expired = rsa1(json!({ "exp": crate::common::tokens::now() - 3600 }));
    for variant in BOTH {
        let response = stack
            .get(variant, "/admin/")
            .header("Authorization", bearer(&expired))
            .send()
            .await;
        let response = response.expect("send");
        assert_eq!(response.status(), 401, "{variant:?}");
        assert_eq!(
            header(&response, "WWW-Authenticate"),
            Some(r#"Bearer error="invalid_token""#),
            "{variant:?}"
        );
    }
    assert_eq!(stack.upstream.hits(), 0);
}

#[tokio::test]
async fn nginx_sends_a_browser_to_login_with_the_original_url_encoded() {
    let stack = Stack::start(&login_config()).await;
    for variant in BOTH {
        let response = stack
            .get(variant, "/admin/x?a=1&b=2")
            .header("Accept", BROWSER_ACCEPT)
            .send()
            .await;
        let response = response.expect("send");
        assert_eq!(response.status(), 302, "{variant:?}");
        assert_eq!(
            header(&response, "Location"),
            Some("https://auth.example.com/oauth2/start?rd=http%3A%2F%2Fapp.example.com%2Fadmin%2Fx%3Fa%3D1%26b%3D2"),
            "{variant:?}"
        );
    }
    assert_eq!(stack.upstream.hits(), 0);
}

#[tokio::test]
async fn nginx_keeps_a_401_for_api_clients_when_login_is_on() {
    let stack = Stack::start(&login_config()).await;
    for variant in BOTH {
        let response = stack
            .get(variant, "/admin/x")
            .header("Accept", "application/json")
            .send()
            .await;
        let response = response.expect("send");
        assert_eq!(response.status(), 401, "{variant:?}");
        assert_eq!(
            header(&response, "Location"),
            None,
            "{variant:?}: no 302 with an empty Location"
        );
        // An `unauthorized` rule answers 401 even to a browser.
        let response = stack
            .get(variant, "/api/things")
            .header("Accept", BROWSER_ACCEPT)
            .send()
            .await;
        assert_eq!(response.expect("send").status(), 401, "{variant:?}");
    }
}

#[tokio::test]
async fn nginx_keeps_a_401_for_browsers_when_login_is_off() {
    let stack = Stack::start(&file_issuer_config("rsa1")).await;
    for variant in BOTH {
        let response = stack
            .get(variant, "/admin/x")
            .header("Accept", BROWSER_ACCEPT)
            .send()
            .await;
        let response = response.expect("send");
        assert_eq!(response.status(), 401, "{variant:?}");
        assert_eq!(header(&response, "Location"), None, "{variant:?}");
    }
}

#[tokio::test]
async fn client_spoofed_identity_header_never_reaches_the_app_through_nginx() {
    let stack = Stack::start(&file_issuer_config("rsa1")).await;
    let token = rsa1(json!({}));
    for variant in BOTH {
        let public = stack
            .get(variant, "/public/a")
            .header("X-Auth-Request-User", "mallory")
            .header("X-Auth-Request-Tenant", "evil")
            .send()
            .await;
        let seen = Seen::from(public.expect("send")).await;
        assert_eq!(seen.header("X-Auth-Request-User"), None, "{variant:?}");
        assert_eq!(seen.header("X-Auth-Request-Tenant"), None, "{variant:?}");
        let protected = stack
            .get(variant, "/admin/")
            .header("X-Auth-Request-User", "mallory")
            .header("X-Auth-Request-Groups", "admins,root")
            .header("Authorization", bearer(&token))
            .send()
            .await;
        let seen = Seen::from(protected.expect("send")).await;
        assert_eq!(
            seen.header("X-Auth-Request-User").as_deref(),
            Some("alice"),
            "{variant:?}"
        );
        assert_eq!(
            seen.header("X-Auth-Request-Groups").as_deref(),
            Some("admins,dev"),
            "{variant:?}"
        );
    }
}

#[tokio::test]
async fn client_spoofed_forwarded_headers_cannot_choose_the_path_nginx_asks_about() {
    let stack = Stack::start(&file_issuer_config("rsa1")).await;
    // What a client adds so that a request for a protected or denied path would be judged as a
    // public one (CVE-2026-40575 in oauth2-proxy): ingress-nginx passes all of it on.
    let spoofs: [&[(&str, &str)]; 6] = [
        &[
            ("X-Forwarded-Uri", "/public/a"),
            ("X-Forwarded-Method", "GET"),
            ("X-Forwarded-Proto", "http"),
        ],
        &[("X-Forwarded-Host", "public.example.com")],
        &[("X-Original-URL", "http://app.example.com/public/a")],
        &[
            ("X-Original-URL", "http://app.example.com/public/a"),
            ("X-Original-URL", "http://app.example.com/public/b"),
        ],
        &[("X-Original-URI", "/public/a"), ("X-Original-Method", "GET")],
        &[
            ("X-Forwarded-Uri", "/public/a"),
            ("X-Forwarded-Method", "GET"),
            ("X-Forwarded-Host", "app.example.com"),
            ("X-Original-URI", "/public/a"),
            ("X-Original-Method", "GET"),
        ],
    ];
    for variant in BOTH {
        for spoof in spoofs {
            for (path, expected) in [("/admin/", 401), ("/closed/x", 403)] {
                let mut request = stack.get(variant, path);
                for (name, value) in spoof {
                    request = request.header(*name, *value);
                }
                let response = request.send().await.expect("send");
                assert_eq!(
                    response.status(),
                    expected,
                    "{variant:?} {spoof:?} must be judged as {path}"
                );
            }
        }
    }
    assert_eq!(stack.upstream.hits(), 0);
}

#[tokio::test]
async fn forbidden_answer_passes_through_nginx_as_403() {
    let stack = Stack::start(&file_issuer_config("rsa1")).await;
    let token = rsa1(json!({}));
    for variant in BOTH {
        let response = stack
            .get(variant, "/ops/")
            .header("Authorization", bearer(&token))
            .send()
            .await;
        assert_eq!(response.expect("send").status(), 403, "{variant:?}");
        let response = stack
            .get(variant, "/closed/x")
            .header("Authorization", bearer(&token))
            .send()
            .await;
        assert_eq!(response.expect("send").status(), 403, "{variant:?}");
    }
    assert_eq!(stack.upstream.hits(), 0);
}

/// Sockets to `port` on 127.0.0.1 in TIME_WAIT (state 06 in /proc/net/tcp): each is a connection
/// that was closed.
fn closed_connections_to(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    let remote = format!("0100007F:{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.get(2) == Some(&remote.as_str()) && fields.get(3) == Some(&"06")
        })
        .count()
}

#[tokio::test]
async fn nginx_keeps_its_connection_to_portcullis_across_allowed_requests() {
    let stack = Stack::start(&file_issuer_config("rsa1")).await;
    let token = rsa1(json!({}));
    let before = closed_connections_to(stack.portcullis.port);
    for _ in 0..40 {
        let response = stack
            .get(Variant::Recommended, "/admin/users")
            .header("Authorization", bearer(&token))
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), 200);
    }
    // With a body on the 200, nginx closed its connection after every auth subrequest (40 here).
    let closed = closed_connections_to(stack.portcullis.port).saturating_sub(before);
    assert!(
        closed <= 2,
        "nginx closed {closed} connections to Portcullis for 40 requests"
    );
}
