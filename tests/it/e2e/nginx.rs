//! Browser login through real nginx (`auth_request`) running `examples/nginx/nginx.conf`, with
//! `/oauth2/` routed to Portcullis on the app's origin, and the session cookie without `Secure`
//! (`[session] secure = false`, as for plain http).

use super::Claims;
use super::Secure;
use super::browser::sign_in_and_out;
use crate::common::oidc::OidcProvider;
use crate::common::{Portcullis, free_port};
use crate::peers::{PeerProcess, Upstream, example_with, print_log_on_failure};

/// The location the example lacks for browser login: Portcullis's own pages on the app's
/// origin, so that the callback sets a cookie the app's pages get.
const OAUTH2_LOCATION: &str = r#"        location /oauth2/ {
            proxy_pass http://portcullis;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $http_host;
        }

        location / {"#;

/// Which server block of the example the browser goes through.
#[derive(Clone, Copy, Debug)]
enum Variant {
    /// Port 8000: the recommended auth location.
    Recommended,
    /// Port 8001: the auth location as ingress-nginx generates it (every client header passed).
    IngressNginxStyle,
}

/// The provider, Portcullis, the app and nginx, torn down in this order.
struct Stack {
    idp: OidcProvider,
    _nginx: PeerProcess,
    _upstream: Upstream,
    portcullis: Portcullis,
    /// `http://127.0.0.1:PORT` of the server block under test.
    origin: String,
}

impl Stack {
    async fn start(variant: Variant, claims: Claims) -> Stack {
        let (recommended_port, ingress_style_port) = (free_port(), free_port());
        let port = match variant {
            Variant::Recommended => recommended_port,
            Variant::IngressNginxStyle => ingress_style_port,
        };
        let origin = format!("http://127.0.0.1:{port}");
        let idp = super::idp(&origin, claims).await;
        let portcullis = super::portcullis(&idp.issuer, &origin, Secure::No).await;
        let upstream = Upstream::start().await;
        let dir = tempfile::tempdir().expect("tempdir");
        let prefix = format!("{}/", dir.path().display());
        let conf = example_with(
            "nginx/nginx.conf",
            &[
                ("127.0.0.1:4180", format!("127.0.0.1:{}", portcullis.port)),
                ("127.0.0.1:8080", format!("127.0.0.1:{}", upstream.port)),
                ("127.0.0.1:8000", format!("127.0.0.1:{recommended_port}")),
                ("127.0.0.1:8001", format!("127.0.0.1:{ingress_style_port}")),
                ("/var/log/nginx/", prefix.clone()),
                ("        location / {", OAUTH2_LOCATION.to_owned()),
            ],
        );
        let nginx = crate::peers::run_nginx(dir, &conf, &prefix, &[port]).await;
        Stack {
            idp,
            _nginx: nginx,
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

async fn browser_signs_in_and_out_through(variant: Variant, claims: Claims) {
    let stack = Stack::start(variant, claims).await;
    let journey = super::journey(&stack.origin, &stack.idp.issuer);
    let outcome = sign_in_and_out(&journey).await;
    super::assert_signed_in_and_out(&outcome, &journey, Secure::No);
}

#[tokio::test]
async fn chromium_signs_in_through_nginx_and_lands_on_the_exact_page() {
    browser_signs_in_and_out_through(Variant::Recommended, Claims::InIdToken).await;
}

#[tokio::test]
async fn chromium_signs_in_through_nginx_with_claims_from_userinfo() {
    browser_signs_in_and_out_through(Variant::IngressNginxStyle, Claims::FromUserinfo).await;
}

#[tokio::test]
async fn chromium_signs_in_through_the_ingress_nginx_style_block() {
    browser_signs_in_and_out_through(Variant::IngressNginxStyle, Claims::InIdToken).await;
}
