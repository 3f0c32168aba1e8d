//! The real thing, end to end: a headless Chromium signs in through a proxy (nginx
//! `auth_request`, Caddy `forward_auth`, Traefik ForwardAuth, Envoy HTTP ext_authz) protected by
//! Portcullis, at a real OpenID provider (oidc-provider 9), lands back on the exact page it asked for with the identity headers at the
//! app, signs out, and is sent to sign in again.
//!
//! Everything is on 127.0.0.1 over plain http: Portcullis's `/oauth2/*` endpoints sit on the
//! app's own origin (the proxy routes them to Portcullis), so the session cookie is first-party
//! to the app and `redirect_url` is `http://127.0.0.1:<proxy>/oauth2/callback`.
//!
//! Plain http and the `Secure` cookie flag: Chromium treats `http://127.0.0.1` as a secure
//! context and stores and sends `Secure` cookies there (checked with Chromium 156), while on any
//! other plain-http host it drops them, and so do non-browser cookie jars. So the nginx tests
//! run with `[session] secure = false`, the setting for a plain-http deployment, and check that
//! the cookie then lacks the flag; the Caddy, Traefik and Envoy tests keep the default
//! `secure = true` and check the flag is there. All must sign in.
//!
//! Pieces: the provider (`crate::common::oidc`), `browser` (the node driver `tests/node/login.mjs`), and one module
//! per proxy. The proxies run the very files in `examples/` (through `crate::peers`), plus the
//! routing of `/oauth2/` to Portcullis that browser login needs.

pub mod browser;
mod caddy;
mod envoy;
pub mod nginx;
mod traefik;

use serde_json::Value;

use crate::common::oidc::{CLIENT_ID, CLIENT_SECRET, GROUPS, OidcProvider, Options};
use crate::common::{Portcullis, Setup, client, free_port};
use crate::peers::PeerProcess;
use browser::{Journey, Outcome};

/// The protected page, with a query string that must survive the round trip untouched.
pub const PROTECTED_PATH: &str = "/private/page?x=1&y=two";
/// A public page where sign-out ends.
pub const SIGNED_OUT_PATH: &str = "/signed-out";
/// The login typed on the provider's sign-in page (it becomes the subject).
pub const USER: &str = "alice";

/// `/private/**` needs a signed-in user (browsers are sent to sign in); `/signed-out` is public.
const RULES: &str = r#"
- id: signed-out-page
  paths: ["/signed-out"]
  policy: allow
- id: private
  paths: ["/private/**"]
  policy: authenticated
  on_unauthenticated: redirect
"#;

/// A throwaway session secret (32 bytes, base64).
const SESSION_SECRET: &str = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=";

/// The callback URL on the proxy at `origin` (`http://127.0.0.1:PORT`).
pub fn callback_url(origin: &str) -> String {
    format!("{origin}/oauth2/callback")
}

/// The page sign-out ends on, on the proxy at `origin`.
pub fn signed_out_url(origin: &str) -> String {
    format!("{origin}{SIGNED_OUT_PATH}")
}

/// Where the ID token's identity claims come from.
#[derive(Clone, Copy, Debug)]
pub enum Claims {
    /// oidc-provider's default for the code flow: the ID token has only the protocol claims, so
    /// email, preferred_username and groups come from the userinfo endpoint.
    FromUserinfo,
    /// `--claims-in-id-token`: the ID token carries them itself.
    InIdToken,
}

/// The provider for browsers coming back to the proxy at `origin`, with RP-initiated logout.
pub async fn idp(origin: &str, claims: Claims) -> OidcProvider {
    let options = Options {
        redirect_uris: vec![callback_url(origin)],
        post_logout_redirect_uris: vec![signed_out_url(origin)],
        claims_in_id_token: matches!(claims, Claims::InIdToken),
        ..Options::default()
    };
    let idp = OidcProvider::start(free_port(), &options).await;
    assert_eq!(
        idp.discovery["end_session_endpoint"],
        format!("{}/session/end", idp.issuer).as_str(),
        "RP-initiated logout is off at the provider"
    );
    idp
}

/// Whether the session cookie is `Secure` (`[session] secure`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Secure {
    /// `secure = true`, the default.
    Yes,
    /// `secure = false`, for plain http.
    No,
}

/// Portcullis signing browsers in at `issuer` with its callback on the proxy at `origin`;
/// `session` is more `[session]` settings.
pub async fn portcullis(issuer: &str, origin: &str, secure: Secure, session: &str) -> Portcullis {
    let config = format!(
        r#"
[[issuers]]
name = "idp"
issuer = "{issuer}"
audiences = ["{CLIENT_ID}"]
algorithms = ["RS256"]

[login]
issuer = "idp"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
redirect_url = "{callback}"
scopes = ["openid", "email", "profile", "groups"]
allowed_redirect_domains = ["127.0.0.1"]

[session]
secret = "{SESSION_SECRET}"
secure = {secure}
{session}

[rules]
paths = ["rules/"]
default = "deny"
"#,
        callback = callback_url(origin),
        secure = secure == Secure::Yes,
    );
    let portcullis = Portcullis::start(Setup::new(&config, RULES)).await;
    portcullis.wait_for("/readyz", 200).await;
    portcullis
}

/// The provider, Portcullis and the app of one browser test, for a proxy on `port`. Dropped,
/// it prints Portcullis's log when the test is failing.
pub struct Backends {
    /// The provider.
    pub idp: OidcProvider,
    /// Portcullis, its callback on the proxy.
    pub portcullis: Portcullis,
    /// The app behind the proxy.
    pub upstream: crate::peers::Upstream,
    /// The proxy's port, and `http://127.0.0.1:PORT`.
    pub port: u16,
    /// `http://127.0.0.1:PORT`.
    pub origin: String,
}

impl Backends {
    /// Starts them for a proxy that will listen on `port`.
    pub async fn start(port: u16, claims: Claims, secure: Secure) -> Backends {
        Backends::start_with(port, claims, secure, "").await
    }

    /// Starts them for a proxy that will listen on `port`, with more `[session]` settings.
    pub async fn start_with(port: u16, claims: Claims, secure: Secure, session: &str) -> Backends {
        let origin = format!("http://127.0.0.1:{port}");
        let idp = idp(&origin, claims).await;
        let portcullis = portcullis(&idp.issuer, &origin, secure, session).await;
        let upstream = crate::peers::Upstream::start().await;
        Backends {
            idp,
            portcullis,
            upstream,
            port,
            origin,
        }
    }

    /// Chromium signs in and out through `proxy` (running in front of these) and everything
    /// the journey promises is asserted.
    pub async fn sign_in_and_out_through(self, proxy: PeerProcess, secure: Secure) {
        self.sign_in_and_out_revisiting_after(&proxy, secure, std::time::Duration::ZERO)
            .await;
    }

    /// As [`Backends::sign_in_and_out_through`], the second visit `revisit_after` the first;
    /// returns what the browser saw for more assertions.
    pub async fn sign_in_and_out_revisiting_after(
        &self,
        proxy: &PeerProcess,
        secure: Secure,
        revisit_after: std::time::Duration,
    ) -> Outcome {
        wait_until_routed(&self.origin, proxy).await;
        let journey = Journey {
            revisit_after,
            ..journey(&self.origin, &self.idp.issuer)
        };
        let outcome = browser::sign_in_and_out(&journey).await;
        assert_signed_in_and_out(&outcome, &journey, secure);
        outcome
    }
}

impl Drop for Backends {
    fn drop(&mut self) {
        crate::peers::print_log_on_failure(&self.portcullis);
    }
}

/// The journey through the proxy at `origin`, signing in at `issuer`.
pub fn journey(origin: &str, issuer: &str) -> Journey {
    let signed_out = signed_out_url(origin);
    let rd: String = url::form_urlencoded::byte_serialize(signed_out.as_bytes()).collect();
    Journey {
        protected: format!("{origin}{PROTECTED_PATH}"),
        sign_out: format!("{origin}/oauth2/sign_out?rd={rd}"),
        signed_out,
        issuer: issuer.to_owned(),
        user: USER.to_owned(),
        revisit_after: std::time::Duration::ZERO,
    }
}

/// Waits (up to 20 s) until the proxy at `origin` serves the public page from the app: a proxy
/// that loads its routes after opening its port (Traefik's file provider) is ready only then.
pub async fn wait_until_routed(origin: &str, proxy: &PeerProcess) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let response = client().get(signed_out_url(origin)).send().await;
        if response.is_ok_and(|r| r.status() == 200) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the proxy never routed {SIGNED_OUT_PATH} to the app:\n{}",
            proxy.log_text()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The session cookies (`_portcullis`, `_portcullis_0`, ...) among `cookies`.
pub fn session_cookies(cookies: &[Value]) -> Vec<&Value> {
    cookies
        .iter()
        .filter(|c| c["name"].as_str().is_some_and(|n| n.starts_with("_portcullis")))
        .collect()
}

/// Everything the browser must have seen: sent to sign in, back on the exact page with the
/// identity at the app, still signed in on the next visit, signed out, and sent to sign in again.
pub fn assert_signed_in_and_out(outcome: &Outcome, journey: &Journey, secure: Secure) {
    let sign_in_pages = format!("{}/interaction/", journey.issuer);
    assert!(
        outcome.url("login_page").starts_with(&sign_in_pages),
        "the protected page did not lead to the provider's sign-in page: {}",
        outcome.url("login_page")
    );

    assert_eq!(
        outcome.url("after_login"),
        journey.protected,
        "not back on the exact page"
    );
    let app = outcome.app("after_login");
    assert_eq!(app["method"], "GET");
    assert_eq!(app["uri"], PROTECTED_PATH, "the app got another request target");
    let header = |name: &str| outcome.app_header("after_login", name);
    assert_eq!(header("X-Auth-Request-User"), Some(vec![USER.to_owned()]));
    assert_eq!(
        header("X-Auth-Request-Email"),
        Some(vec![format!("{USER}@example.com")])
    );
    assert_eq!(header("X-Auth-Request-Groups"), Some(vec![GROUPS.join(",")]));
    assert_eq!(header("X-Auth-Request-Preferred-Username"), Some(vec![USER.to_owned()]));

    let cookies = outcome.cookies("cookies");
    let session = session_cookies(&cookies);
    assert!(!session.is_empty(), "no session cookie after sign-in: {cookies:?}");
    for cookie in &session {
        assert_eq!(cookie["domain"], "127.0.0.1", "{cookie}");
        assert_eq!(cookie["httpOnly"], true, "{cookie}");
        assert_eq!(cookie["sameSite"], "Lax", "{cookie}");
        assert_eq!(
            cookie["secure"],
            secure == Secure::Yes,
            "configured {secure:?}: {cookie}"
        );
    }

    assert_eq!(outcome.url("second_visit"), journey.protected);
    assert_eq!(
        outcome.app_header("second_visit", "X-Auth-Request-User"),
        Some(vec![USER.to_owned()]),
        "the session did not hold for a second visit"
    );

    // RP-initiated logout: Portcullis sends the browser to the provider's end_session_endpoint
    // with the ID token as hint and rd as the way back; the provider ends its own session too.
    let end_session = url::Url::parse(outcome.url("sign_out_page")).expect("sign-out page URL");
    assert_eq!(
        end_session.as_str().split('?').next(),
        Some(format!("{}/session/end", journey.issuer).as_str()),
        "sign-out did not go to the provider's end_session_endpoint"
    );
    let query: Vec<(String, String)> = end_session.query_pairs().into_owned().collect();
    let param = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    assert_eq!(param("post_logout_redirect_uri"), Some(journey.signed_out.as_str()));
    assert_eq!(
        param("id_token_hint").map(|t| t.split('.').count()),
        Some(3),
        "{query:?}"
    );
    assert_eq!(outcome.url("signed_out"), journey.signed_out);
    let user_after = outcome
        .app_header("signed_out", "X-Auth-Request-User")
        .unwrap_or_default();
    assert!(
        user_after.iter().all(String::is_empty),
        "still an identity after sign-out: {user_after:?}"
    );
    let left = outcome.cookies("cookies_after_sign_out");
    assert!(
        session_cookies(&left).is_empty(),
        "session cookies left after sign-out: {left:?}"
    );

    assert!(
        outcome.url("login_page_again").starts_with(&sign_in_pages),
        "after sign-out the protected page did not lead to sign-in: {}",
        outcome.url("login_page_again")
    );
}
