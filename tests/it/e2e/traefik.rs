//! Browser login through real Traefik 3.7 (ForwardAuth, file provider) running
//! `examples/traefik/traefik.yml` and `dynamic.yml`: the 302 to sign in comes from Portcullis
//! and Traefik hands it to the browser as it is. The session cookie keeps the default `Secure`
//! flag (Chromium honours it on 127.0.0.1).

use super::Claims;
use super::Secure;
use super::browser::sign_in_and_out;
use crate::common::oidc::OidcProvider;
use crate::common::{Portcullis, free_port};
use crate::peers::{PeerProcess, Upstream, print_log_on_failure, run_traefik};

/// The example's app router, on the browser's host (Traefik matches `Host` without the port).
const APP_RULE: &str = "rule: \"Host(`127.0.0.1`)\"";

/// Browser login needs `/oauth2/*` on the app's origin, answered by Portcullis and not judged
/// by it: the example's login router (no middleware), moved from `auth.localhost` to the app's
/// host, with a priority above the app router's.
const OAUTH2_RULE: &str = "rule: \"Host(`127.0.0.1`) && PathPrefix(`/oauth2/`)\"\n      priority: 1000";

/// The provider, Portcullis, the app and Traefik.
struct Stack {
    idp: OidcProvider,
    _traefik: PeerProcess,
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
        let traefik = run_traefik(
            port,
            &[
                ("rule: \"Host(`app.localhost`)\"", APP_RULE.to_owned()),
                (
                    "rule: \"Host(`auth.localhost`) && PathPrefix(`/oauth2/`)\"",
                    OAUTH2_RULE.to_owned(),
                ),
                ("127.0.0.1:4180", format!("127.0.0.1:{}", portcullis.port)),
                ("127.0.0.1:8080", format!("127.0.0.1:{}", upstream.port)),
            ],
        )
        .await;
        super::wait_until_routed(&origin, &traefik).await;
        Stack {
            idp,
            _traefik: traefik,
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
async fn chromium_signs_in_through_traefik_and_lands_on_the_exact_page() {
    let stack = Stack::start(Claims::FromUserinfo).await;
    let journey = super::journey(&stack.origin, &stack.idp.issuer);
    let outcome = sign_in_and_out(&journey).await;
    super::assert_signed_in_and_out(&outcome, &journey, Secure::Yes);
}
