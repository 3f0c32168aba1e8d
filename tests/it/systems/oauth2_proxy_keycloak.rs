//! oauth2-proxy with Keycloak, replaced by Portcullis: browser login (authorization code + PKCE
//! at the provider), a session cookie that holds across visits, and the session renewed with
//! the refresh token once it is older than `[session] refresh`, all through real nginx
//! `auth_request` with oauth2-proxy's header names (`X-Auth-Request-User`, `-Email`, `-Groups`,
//! `-Preferred-Username`), which are Portcullis's defaults.
//!
//! Keycloak itself does not run here: the real OpenID provider of the suite (oidc-provider 9)
//! stands in for it with the client Keycloak users register for oauth2-proxy: a confidential
//! client (client_secret_basic), PKCE S256, `offline_access` refresh tokens, and a `groups`
//! claim (Keycloak's group membership mapper) at the userinfo endpoint.

use std::time::Duration;

use crate::common::free_port;
use crate::e2e::nginx::example_nginx;
use crate::e2e::{Backends, Claims, Secure, session_cookies};

/// Sessions older than this are renewed with the refresh token on their next request
/// (oauth2-proxy's `--cookie-refresh`).
const REFRESH_AGE: &str = "1s";

#[tokio::test]
async fn oauth2_proxy_keycloak_browser_login_session_and_refresh_through_nginx() {
    let (port, other_port) = (free_port(), free_port());
    let backends = Backends::start_with(
        port,
        Claims::FromUserinfo,
        Secure::No,
        &format!("refresh = \"{REFRESH_AGE}\""),
    )
    .await;
    let nginx = example_nginx(&backends, port, other_port).await;
    // The second visit comes well after the refresh age: it must be served with the identity
    // (no trip to the provider's sign-in page) and renew the session cookie.
    let outcome = backends
        .sign_in_and_out_revisiting_after(&nginx, Secure::No, Duration::from_millis(2500))
        .await;
    let digests = |when: &str| -> Vec<String> {
        let cookies = outcome.cookies(when);
        session_cookies(&cookies)
            .iter()
            .map(|cookie| format!("{}={}", cookie["name"], cookie["digest"]))
            .collect()
    };
    let (signed_in, revisited) = (digests("cookies"), digests("cookies_after_revisit"));
    assert!(!revisited.is_empty(), "no session cookie after the second visit");
    assert_ne!(
        signed_in, revisited,
        "the session was not renewed on a visit past the refresh age"
    );
    let log = backends.portcullis.log_text();
    assert!(
        !log.contains("session refresh failed")
            && !log.contains("session refresh timed out")
            && !log.contains("refreshed session cannot"),
        "the refresh did not go through:\n{log}"
    );
}
