//! Browser login through real Envoy 1.40 (HTTP ext_authz filter) running
//! `examples/envoy/envoy.yaml`: the 302 to sign in comes from Portcullis and Envoy hands it to
//! the browser with its `Location` and `Set-Cookie` (`allowed_client_headers`). The session
//! cookie keeps the default `Secure` flag (Chromium honours it on 127.0.0.1).

use super::{Backends, Claims, Secure};
use crate::common::free_port;
use crate::peers::run_envoy;

/// Browser login needs `/oauth2/*` on the app's origin, answered by Portcullis and not judged
/// by it. The example has that route, with ext_authz disabled, in its `login` virtual host for
/// `auth.localhost`: that host becomes the browser's (`127.0.0.1:PORT`, more specific than the
/// app's `*`), and the app's route follows the login route in it (first match wins).
const LOGIN_DOMAINS: &str = r#"domains: ["127.0.0.1", "127.0.0.1:*"]"#;
const APP_ROUTE_AFTER_LOGIN: &str = "disabled: true
                        - match: { prefix: / }
                          route: { cluster: app }";

#[tokio::test]
async fn chromium_signs_in_through_envoy_and_lands_on_the_exact_page() {
    let backends = Backends::start(free_port(), Claims::InIdToken, Secure::Yes).await;
    let envoy = run_envoy(
        "envoy",
        "envoy/envoy.yaml",
        backends.port,
        &[
            (
                r#"domains: ["auth.localhost", "auth.localhost:*"]"#,
                LOGIN_DOMAINS.to_owned(),
            ),
            ("disabled: true", APP_ROUTE_AFTER_LOGIN.to_owned()),
            ("127.0.0.1:4180", format!("127.0.0.1:{}", backends.portcullis.port)),
            ("port_value: 4180", format!("port_value: {}", backends.portcullis.port)),
            ("port_value: 8080", format!("port_value: {}", backends.upstream.port)),
        ],
    )
    .await;
    backends.sign_in_and_out_through(envoy, Secure::Yes).await;
}
