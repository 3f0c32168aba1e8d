//! Browser login through real Envoy 1.40 (HTTP ext_authz filter) running
//! `examples/envoy/envoy.yaml`: the 302 to sign in comes from Portcullis and Envoy hands it to
//! the browser with its `Location` and `Set-Cookie` (`allowed_client_headers`). The session
//! cookie keeps the default `Secure` flag (Chromium honours it on 127.0.0.1).

use super::Claims;
use super::Secure;
use super::browser::sign_in_and_out;
use crate::common::oidc::OidcProvider;
use crate::common::{Portcullis, free_port};
use crate::peers::{PeerProcess, Upstream, print_log_on_failure, run_envoy};

/// Browser login needs `/oauth2/*` on the app's origin, answered by Portcullis and not judged
/// by it. The example has that route, with ext_authz disabled, in its `login` virtual host for
/// `auth.localhost`: that host becomes the browser's (`127.0.0.1:PORT`, more specific than the
/// app's `*`), and the app's route follows the login route in it (first match wins).
const LOGIN_DOMAINS: &str = r#"domains: ["127.0.0.1", "127.0.0.1:*"]"#;
const APP_ROUTE_AFTER_LOGIN: &str = "disabled: true
                        - match: { prefix: / }
                          route: { cluster: app }";

/// The provider, Portcullis, the app and Envoy.
struct Stack {
    idp: OidcProvider,
    _envoy: PeerProcess,
    _upstream: Upstream,
    portcullis: Portcullis,
    origin: String,
}

impl Stack {
    async fn start(claims: Claims) -> Stack {
        let port = free_port();
        let origin = format!("http://127.0.0.1:{port}");
        let idp = super::idp(&origin, claims).await;
        let portcullis = super::portcullis(&idp.issuer, &origin, Secure::Yes).await;
        let upstream = Upstream::start().await;
        let envoy = run_envoy(
            "envoy",
            "envoy/envoy.yaml",
            port,
            &[
                (
                    r#"domains: ["auth.localhost", "auth.localhost:*"]"#,
                    LOGIN_DOMAINS.to_owned(),
                ),
                ("disabled: true", APP_ROUTE_AFTER_LOGIN.to_owned()),
                ("127.0.0.1:4180", format!("127.0.0.1:{}", portcullis.port)),
                ("port_value: 4180", format!("port_value: {}", portcullis.port)),
                ("port_value: 8080", format!("port_value: {}", upstream.port)),
            ],
        )
        .await;
        super::wait_until_routed(&origin, &envoy).await;
        Stack {
            idp,
            _envoy: envoy,
            _upstream: upstream,
            portcullis,
            origin,
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        print_log_on_failure(&self.portcullis);
    }
}

#[tokio::test]
async fn chromium_signs_in_through_envoy_and_lands_on_the_exact_page() {
    let stack = Stack::start(Claims::InIdToken).await;
    let journey = super::journey(&stack.origin, &stack.idp.issuer);
    let outcome = sign_in_and_out(&journey).await;
    super::assert_signed_in_and_out(&outcome, &journey, Secure::Yes);
}
