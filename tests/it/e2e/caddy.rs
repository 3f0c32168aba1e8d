//! Browser login through real Caddy (`forward_auth`) running `examples/caddy/Caddyfile`: the 302
//! to sign in comes from Portcullis itself and Caddy hands it to the browser as it is. The
//! session cookie keeps the default `Secure` flag (Chromium honours it on 127.0.0.1).

use super::Claims;
use super::Secure;
use super::browser::sign_in_and_out;
use crate::common::oidc::OidcProvider;
use crate::common::{Portcullis, free_port};
use crate::peers::{PeerProcess, Upstream, example_with, print_log_on_failure};

/// Browser login needs `/oauth2/*` on the app's origin, answered by Portcullis and not
/// judged by it. Caddy orders `forward_auth` before a bare `handle`, so both parts go in
/// `handle` blocks, which are mutually exclusive and tried most specific first.
const OAUTH2_HANDLE: &str = "\thandle /oauth2/* {\n\t\treverse_proxy 127.0.0.1:4180\n\t}\n\n\thandle {\n\tforward_auth";
const APP_HANDLE_END: &str = "\treverse_proxy 127.0.0.1:8080\n\t}\n}";

/// The provider, Portcullis, the app and Caddy.
struct Stack {
    idp: OidcProvider,
    _caddy: PeerProcess,
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
        let dir = tempfile::tempdir().expect("tempdir");
        let caddyfile = example_with(
            "caddy/Caddyfile",
            &[
                ("\tforward_auth", OAUTH2_HANDLE.to_owned()),
                ("\treverse_proxy 127.0.0.1:8080\n}", APP_HANDLE_END.to_owned()),
                ("127.0.0.1:4180", format!("127.0.0.1:{}", portcullis.port)),
                ("127.0.0.1:8080", format!("127.0.0.1:{}", upstream.port)),
                ("http://:8000", format!("http://:{port}")),
            ],
        );
        let caddy = crate::peers::run_caddy(&crate::peers::program("caddy"), dir, &caddyfile, port).await;
        Stack {
            idp,
            _caddy: caddy,
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
async fn chromium_signs_in_through_caddy_and_lands_on_the_exact_page() {
    let stack = Stack::start(Claims::FromUserinfo).await;
    let journey = super::journey(&stack.origin, &stack.idp.issuer);
    let outcome = sign_in_and_out(&journey).await;
    super::assert_signed_in_and_out(&outcome, &journey, Secure::Yes);
}
