//! Browser login through real nginx (`auth_request`) running `examples/nginx/nginx.conf`, with
//! `/oauth2/` routed to Portcullis on the app's origin, and the session cookie without `Secure`
//! (`[session] secure = false`, as for plain http).

use super::{Backends, Claims, Secure};
use crate::common::free_port;
use crate::peers::{example_with, run_nginx};

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

async fn browser_signs_in_and_out_through(variant: Variant, claims: Claims) {
    let (recommended_port, ingress_style_port) = (free_port(), free_port());
    let port = match variant {
        Variant::Recommended => recommended_port,
        Variant::IngressNginxStyle => ingress_style_port,
    };
    let backends = Backends::start(port, claims, Secure::No).await;
    let nginx = example_nginx(&backends, recommended_port, ingress_style_port).await;
    backends.sign_in_and_out_through(nginx, Secure::No).await;
}

/// Real nginx running `examples/nginx/nginx.conf` in front of `backends`, its recommended server
/// block on `recommended_port` and the ingress-nginx style one on `ingress_style_port`, with
/// `/oauth2/` routed to Portcullis.
pub async fn example_nginx(
    backends: &Backends,
    recommended_port: u16,
    ingress_style_port: u16,
) -> crate::peers::PeerProcess {
    let dir = tempfile::tempdir().expect("tempdir");
    let prefix = format!("{}/", dir.path().display());
    let conf = example_with(
        "nginx/nginx.conf",
        &[
            ("127.0.0.1:4180", format!("127.0.0.1:{}", backends.portcullis.port)),
            ("127.0.0.1:8080", format!("127.0.0.1:{}", backends.upstream.port)),
            ("127.0.0.1:8000", format!("127.0.0.1:{recommended_port}")),
            ("127.0.0.1:8001", format!("127.0.0.1:{ingress_style_port}")),
            ("/var/log/nginx/", prefix.clone()),
            ("        location / {", OAUTH2_LOCATION.to_owned()),
        ],
    );
    run_nginx(dir, &conf, &prefix, &[backends.port]).await
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
