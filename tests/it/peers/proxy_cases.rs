//! The cases every proxy in front of Portcullis must pass, run against one stack per proxy
//! (started once per test module): Portcullis with bearer tokens (the `rsa1` fixture) and browser
//! login at a real OpenID provider, sessions refreshed on every request (`refresh = "0s"`), the
//! echo app, and the proxy running its file from `examples/` with only ports replaced.
//!
//! What differs between proxies (an empty header kept or dropped, Set-Cookie passed on a 200 or
//! not, the status when Portcullis is down, what the app sees of a client's `X-Forwarded-*`) is
//! written down in each proxy's [`Behaviour`] and asserted exactly, so an upgrade that changes it
//! fails a test.

use serde_json::json;

use super::{BROWSER_ACCEPT, IDENTITY_HEADERS, PeerProcess, Seen, Upstream, header};
use crate::common::login_kit::{APP, Browser, Idp, SECRET_ONE};
use crate::common::tokens::{now, rsa1};
use crate::common::{Portcullis, Setup, client, free_port};

/// The Host the examples route (Traefik's router matches `app.localhost`; Caddy and Envoy take any).
pub const HOST: &str = "app.localhost";

/// The header the test rules' `headers:` emit (`X-Auth-Request-Tenant: "{claims.tenant}"` on the
/// admin rule); Portcullis sends it on every 200, empty when the rule does not emit it.
pub const TENANT: &str = "X-Auth-Request-Tenant";

/// Where an unauthenticated browser asking for `http://app.localhost/admin/x?a=1&b=2` is sent.
const LOGIN_FOR_ADMIN_X: &str =
    "https://auth.example.com/oauth2/start?rd=http%3A%2F%2Fapp.localhost%2Fadmin%2Fx%3Fa%3D1%26b%3D2";

/// What a proxy does with a header Portcullis answered with an empty value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmptyHeader {
    /// The app receives it, empty.
    Sent,
    /// The app does not receive it at all (and never the client's copy).
    Dropped,
}

/// How one proxy passes Portcullis's answers on, as observed; asserted exactly.
#[derive(Debug)]
pub struct Behaviour {
    /// The proxy and its version, for messages.
    pub name: &'static str,
    /// An identity header answered empty (an anonymous request on a public path).
    pub empty_header: EmptyHeader,
    /// Whether a Set-Cookie on Portcullis's 200 (a refreshed session) reaches the browser.
    pub cookie_on_allow: bool,
    /// The status the client gets while Portcullis is unreachable.
    pub status_when_down: u16,
    /// The status the proxy itself answers when the client's `Connection` header names
    /// `X-Forwarded-*` headers; `None`: the request is judged as if it did not.
    pub status_for_connection_spoof: Option<u16>,
    /// What the app receives of each of [`SPOOFED_FORWARDED`] that the client sent (`None`:
    /// nothing).
    pub forwarded_to_app: &'static [(&'static str, Option<&'static str>)],
}

/// Forwarded headers a client adds so that a request for a protected or denied path would be
/// judged as another one (CVE-2026-40575 in oauth2-proxy).
pub const SPOOFED_FORWARDED: [(&str, &str); 4] = [
    ("X-Forwarded-Uri", "/public/a"),
    ("X-Forwarded-Method", "GET"),
    ("X-Forwarded-Host", "public.example.com"),
    ("X-Forwarded-Proto", "https"),
];

/// Every spoof tried, each on its own request.
const SPOOFS: [&[(&str, &str)]; 3] = [
    &SPOOFED_FORWARDED,
    &[
        ("X-Original-URL", "http://app.localhost/public/a"),
        ("X-Original-Method", "GET"),
    ],
    &[("X-Original-URI", "/public/a"), ("X-Original-Method", "GET")],
];

/// Traefik CVE-2024-45410: hop-by-hop names in `Connection` made Traefik drop the
/// `X-Forwarded-*` headers it had set itself.
const CONNECTION_SPOOF: &[(&str, &str)] = &[
    (
        "Connection",
        "X-Forwarded-Uri, X-Forwarded-Method, X-Forwarded-Host, X-Forwarded-Proto",
    ),
    ("X-Forwarded-Uri", "/public/a"),
];

/// Portcullis, the OpenID provider and the app: everything but the proxy.
pub struct Backends {
    /// The decision service.
    pub portcullis: Portcullis,
    /// The app behind the proxy.
    pub upstream: Upstream,
    idp: Idp,
}

impl Backends {
    /// Starts all three on free ports.
    pub async fn start() -> Backends {
        let idp_port = free_port();
        let issuer = format!("http://127.0.0.1:{idp_port}");
        // Every request with a session refreshes it, so a Set-Cookie rides on every such 200.
        let session = format!("secrets = [\"{SECRET_ONE}\"]\nrefresh = \"0s\"");
        let rules = format!("{}{}", crate::common::rules::DECISIONS, crate::common::rules::PRIVATE);
        // gRPC ext_authz on too: the Envoy gRPC stack asks it there.
        let setup = Setup::new(&crate::common::login_kit::config(&issuer, &session), &rules).with_grpc();
        let portcullis = Portcullis::start(setup).await;
        let idp = crate::common::login_kit::start_idp(idp_port, None).await;
        let upstream = Upstream::start().await;
        Backends {
            portcullis,
            upstream,
            idp,
        }
    }
}

/// A proxy on `port` in front of the [`Backends`].
pub struct Stack {
    // Dropped first: the proxy stops before what it points at.
    proxy: PeerProcess,
    port: u16,
    backends: Backends,
    behaviour: Behaviour,
}

impl Stack {
    /// The stack, once the proxy routes a public path to the app (Traefik loads its routers
    /// after it listens).
    pub async fn new(backends: Backends, proxy: PeerProcess, port: u16, behaviour: Behaviour) -> Stack {
        let stack = Stack {
            proxy,
            port,
            backends,
            behaviour,
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let response = stack.get("/public/ready").send().await;
            if response.is_ok_and(|r| r.status() == 200) {
                return stack;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{} never routed /public/ready to the app:\n{}",
                stack.behaviour.name,
                stack.proxy.log_text()
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    fn request(&self, method: reqwest::Method, uri: &str) -> reqwest::RequestBuilder {
        client()
            .request(method, format!("http://127.0.0.1:{}{uri}", self.port))
            .header("Host", HOST)
    }

    /// `GET http://app.localhost<uri>` through the proxy.
    fn get(&self, uri: &str) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::GET, uri)
    }

    fn hits(&self) -> usize {
        self.backends.upstream.hits()
    }

    fn name(&self) -> &'static str {
        self.behaviour.name
    }

    /// What the app receives for a header Portcullis answered empty.
    fn empty(&self) -> Option<String> {
        match self.behaviour.empty_header {
            EmptyHeader::Sent => Some(String::new()),
            EmptyHeader::Dropped => None,
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        super::print_log_on_failure(&self.backends.portcullis);
    }
}

/// Runs every case in order; the last one stops Portcullis.
pub async fn run(stack: &mut Stack) {
    public_path_reaches_the_app_without_any_identity(stack).await;
    token_reaches_the_app_as_the_identity_replacing_client_copies(stack).await;
    browser_without_credential_is_sent_to_login_with_the_original_url(stack).await;
    api_client_without_credential_gets_401_with_a_challenge(stack).await;
    forbidden_identity_and_deny_rule_get_403(stack).await;
    spoofed_forwarded_and_original_headers_change_no_decision(stack).await;
    refreshed_session_cookie_reaches_the_browser_where_the_proxy_can(stack).await;
    proxy_fails_closed_while_portcullis_is_down(stack).await;
}

/// Client copies of every upstream header, with a value the app must never see.
fn with_client_copies(mut request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    for name in IDENTITY_HEADERS.into_iter().chain([TENANT]) {
        request = request.header(name, "mallory");
    }
    request
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// An anonymous request on a public rule: the app gets every identity header (and the templated
/// one) empty or not at all, as the proxy does it, and never the client's copies.
async fn public_path_reaches_the_app_without_any_identity(stack: &Stack) {
    let response = with_client_copies(stack.get("/public/logo.png?v=3")).send().await;
    let seen = Seen::from(response.expect("send")).await;
    assert_eq!(seen.uri(), "/public/logo.png?v=3", "{}", stack.name());
    for name in IDENTITY_HEADERS.into_iter().chain([TENANT]) {
        assert_eq!(seen.header(name), stack.empty(), "{}: {name}", stack.name());
    }
}

/// A valid bearer token: the app gets the identity from Portcullis, never the client's copies;
/// the templated header is filled from the claims, or empty (dropped) when the claim is missing.
async fn token_reaches_the_app_as_the_identity_replacing_client_copies(stack: &Stack) {
    let token = rsa1(json!({ "preferred_username": "ally", "tenant": "acme" }));
    let response = with_client_copies(stack.get("/admin/users?page=2"))
        .header("Authorization", bearer(&token))
        .send()
        .await;
    let seen = Seen::from(response.expect("send")).await;
    assert_eq!(seen.uri(), "/admin/users?page=2", "{}", stack.name());
    for (name, value) in [
        ("X-Auth-Request-User", "alice"),
        ("X-Auth-Request-Email", "alice@example.com"),
        ("X-Auth-Request-Groups", "admins,dev"),
        ("X-Auth-Request-Preferred-Username", "ally"),
        (TENANT, "acme"),
    ] {
        assert_eq!(seen.header(name).as_deref(), Some(value), "{}: {name}", stack.name());
    }
    let without_tenant = rsa1(json!({}));
    let response = with_client_copies(stack.get("/admin/"))
        .header("Authorization", bearer(&without_tenant))
        .send()
        .await;
    let seen = Seen::from(response.expect("send")).await;
    assert_eq!(seen.header("X-Auth-Request-User").as_deref(), Some("alice"));
    for name in ["X-Auth-Request-Preferred-Username", TENANT] {
        assert_eq!(seen.header(name), stack.empty(), "{}: {name}", stack.name());
    }
}

/// No credential, a browser: 302 after a GET, 303 after a POST, to login with the exact original
/// URL in `rd`; the app sees nothing.
async fn browser_without_credential_is_sent_to_login_with_the_original_url(stack: &Stack) {
    let hits = stack.hits();
    for (method, status) in [(reqwest::Method::GET, 302), (reqwest::Method::POST, 303)] {
        let response = stack
            .request(method.clone(), "/admin/x?a=1&b=2")
            .header("Accept", BROWSER_ACCEPT)
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), status, "{} {method}", stack.name());
        assert_eq!(
            header(&response, "Location"),
            Some(LOGIN_FOR_ADMIN_X),
            "{} {method}",
            stack.name()
        );
    }
    assert_eq!(stack.hits(), hits, "{}", stack.name());
}

/// No credential (or an expired token), an API client: 401 with `WWW-Authenticate`, no Location.
async fn api_client_without_credential_gets_401_with_a_challenge(stack: &Stack) {
    let hits = stack.hits();
    let expired = rsa1(json!({ "exp": now() - 3600 }));
    let cases = [
        (
            stack.get("/admin/x").header("Accept", "application/json"),
            r#"Bearer realm="portcullis""#,
        ),
        (
            stack
                .get("/admin/x")
                .header("Accept", BROWSER_ACCEPT)
                .header("X-Requested-With", "XMLHttpRequest"),
            r#"Bearer realm="portcullis""#,
        ),
        (
            stack.get("/admin/x").header("Authorization", bearer(&expired)),
            r#"Bearer error="invalid_token""#,
        ),
    ];
    for (request, challenge) in cases {
        let response = request.send().await.expect("send");
        assert_eq!(response.status(), 401, "{}", stack.name());
        assert_eq!(
            header(&response, "WWW-Authenticate"),
            Some(challenge),
            "{}",
            stack.name()
        );
        assert_eq!(header(&response, "Location"), None, "{}", stack.name());
    }
    assert_eq!(stack.hits(), hits, "{}", stack.name());
}

/// A token without the required group, and a `deny` rule with and without a token: 403.
async fn forbidden_identity_and_deny_rule_get_403(stack: &Stack) {
    let hits = stack.hits();
    let token = rsa1(json!({}));
    for (path, token) in [
        ("/ops/", Some(&token)),
        ("/closed/x", Some(&token)),
        ("/closed/x", None),
    ] {
        let mut request = stack.get(path).header("Accept", BROWSER_ACCEPT);
        if let Some(token) = token {
            request = request.header("Authorization", bearer(token));
        }
        let response = request.send().await.expect("send");
        assert_eq!(response.status(), 403, "{} {path}", stack.name());
    }
    assert_eq!(stack.hits(), hits, "{}", stack.name());
}

/// Client copies of `X-Forwarded-*` and `X-Original-*` (and a `Connection` header naming them)
/// change no decision: a protected path stays 401, a denied one 403, and a browser's login URL
/// still names the URL it asked for. What the app then receives of the client's `X-Forwarded-*`
/// is the proxy's own behaviour, asserted as observed.
async fn spoofed_forwarded_and_original_headers_change_no_decision(stack: &Stack) {
    let hits = stack.hits();
    let connection = (CONNECTION_SPOOF, stack.behaviour.status_for_connection_spoof);
    for (spoof, refused) in SPOOFS.into_iter().map(|s| (s, None)).chain([connection]) {
        let with_spoof = |mut request: reqwest::RequestBuilder| {
            for (name, value) in spoof {
                request = request.header(*name, *value);
            }
            request
        };
        let api = with_spoof(stack.get("/admin/")).header("Accept", "application/json");
        let status = api.send().await.expect("send").status();
        assert_eq!(status, refused.unwrap_or(401), "{} {spoof:?}", stack.name());
        let denied = with_spoof(stack.get("/closed/x"));
        let status = denied.send().await.expect("send").status();
        assert_eq!(status, refused.unwrap_or(403), "{} {spoof:?}", stack.name());
        let browser = with_spoof(stack.get("/admin/x?a=1&b=2")).header("Accept", BROWSER_ACCEPT);
        let response = browser.send().await.expect("send");
        assert_eq!(response.status(), refused.unwrap_or(302), "{} {spoof:?}", stack.name());
        let login = refused.is_none().then_some(LOGIN_FOR_ADMIN_X);
        assert_eq!(header(&response, "Location"), login, "{} {spoof:?}", stack.name());
    }
    assert_eq!(stack.hits(), hits, "{}", stack.name());
    let mut request = stack.get("/public/a");
    for (name, value) in SPOOFED_FORWARDED {
        request = request.header(name, value);
    }
    let seen = Seen::from(request.send().await.expect("send")).await;
    for (name, expected) in stack.behaviour.forwarded_to_app {
        assert_eq!(seen.header(name).as_deref(), *expected, "{}: {name}", stack.name());
    }
}

/// A browser with a session that Portcullis refreshes: the new cookie (a Set-Cookie on the 200)
/// reaches the browser where the proxy passes it, and is dropped where it cannot.
async fn refreshed_session_cookie_reaches_the_browser_where_the_proxy_can(stack: &Stack) {
    let portcullis = &stack.backends.portcullis;
    let mut browser = Browser::default();
    let callback = browser.login(portcullis, &stack.backends.idp, "alice", APP).await;
    assert_eq!(callback.status(), 302, "{}", portcullis.log_text());
    // Proves Portcullis answers this request with a refreshed cookie, so the proxy has one to
    // pass or drop.
    let direct = client()
        .get(portcullis.url("/forward-auth"))
        .header("X-Forwarded-Method", "GET")
        .header("X-Forwarded-Proto", "http")
        .header("X-Forwarded-Host", HOST)
        .header("X-Forwarded-Uri", "/private/x")
        .header("Accept", BROWSER_ACCEPT)
        .header("Cookie", browser.portcullis.header())
        .send()
        .await
        .expect("send");
    assert_eq!(direct.status(), 200, "{}", portcullis.log_text());
    assert!(
        header(&direct, "Set-Cookie").is_some_and(|c| c.starts_with("_portcullis=")),
        "no refreshed cookie from Portcullis itself: {:?}",
        direct.headers()
    );
    browser.portcullis.update(&direct);
    let response = stack
        .get("/private/x")
        .header("Accept", BROWSER_ACCEPT)
        .header("Cookie", browser.portcullis.header())
        .send()
        .await
        .expect("send");
    // Only the cookie names, for short messages.
    let cookies: Vec<String> = response
        .headers()
        .get_all("Set-Cookie")
        .iter()
        .map(|v| {
            v.to_str()
                .expect("ascii")
                .split('=')
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    let seen = Seen::from(response).await;
    assert_eq!(
        seen.header("X-Auth-Request-User").as_deref(),
        Some("alice"),
        "{}",
        stack.name()
    );
    if stack.behaviour.cookie_on_allow {
        assert_eq!(cookies, ["_portcullis"], "{}", stack.name());
    } else {
        assert_eq!(cookies, Vec::<String>::new(), "{}", stack.name());
    }
}

/// Portcullis stopped: the proxy refuses with its own status and nothing reaches the app, on a
/// public path and with a valid token alike.
async fn proxy_fails_closed_while_portcullis_is_down(stack: &mut Stack) {
    stack.backends.portcullis.terminate();
    let hits = stack.hits();
    let token = rsa1(json!({}));
    let requests = [
        stack.get("/public/a"),
        stack.get("/admin/").header("Authorization", bearer(&token)),
    ];
    for request in requests {
        let response = request.send().await.expect("send");
        assert_eq!(response.status(), stack.behaviour.status_when_down, "{}", stack.name());
    }
    assert_eq!(stack.hits(), hits, "{}", stack.name());
}
