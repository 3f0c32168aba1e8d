//! Browser login through real Traefik 3.7 (ForwardAuth, file provider) running
//! `examples/traefik/traefik.yml` and `dynamic.yml`: the 302 to sign in comes from Portcullis
//! and Traefik hands it to the browser as it is. The session cookie keeps the default `Secure`
//! flag (Chromium honours it on 127.0.0.1).

use super::{Backends, Claims, Secure};
use crate::common::free_port;
use crate::peers::run_traefik;

/// The example's app router, on the browser's host (Traefik matches `Host` without the port).
const APP_RULE: &str = "rule: \"Host(`127.0.0.1`)\"";

/// Browser login needs `/oauth2/*` on the app's origin, answered by Portcullis and not judged
/// by it: the example's login router (no middleware), moved from `auth.localhost` to the app's
/// host, with a priority above the app router's.
const OAUTH2_RULE: &str = "rule: \"Host(`127.0.0.1`) && PathPrefix(`/oauth2/`)\"\n      priority: 1000";

#[tokio::test]
async fn chromium_signs_in_through_traefik_and_lands_on_the_exact_page() {
    let backends = Backends::start(free_port(), Claims::FromUserinfo, Secure::Yes).await;
    let traefik = run_traefik(
        backends.port,
        &[
            ("rule: \"Host(`app.localhost`)\"", APP_RULE.to_owned()),
            (
                "rule: \"Host(`auth.localhost`) && PathPrefix(`/oauth2/`)\"",
                OAUTH2_RULE.to_owned(),
            ),
            ("127.0.0.1:4180", format!("127.0.0.1:{}", backends.portcullis.port)),
            ("127.0.0.1:8080", format!("127.0.0.1:{}", backends.upstream.port)),
        ],
    )
    .await;
    backends.sign_in_and_out_through(traefik, Secure::Yes).await;
}
