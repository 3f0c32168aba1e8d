//! Browser login through real Caddy (`forward_auth`) running `examples/caddy/Caddyfile`: the 302
//! to sign in comes from Portcullis itself and Caddy hands it to the browser as it is. The
//! session cookie keeps the default `Secure` flag (Chromium honours it on 127.0.0.1).

use super::{Backends, Claims, Secure};
use crate::common::free_port;
use crate::peers::{example_with, program, run_caddy};

/// Browser login needs `/oauth2/*` on the app's origin, answered by Portcullis and not
/// judged by it. Caddy orders `forward_auth` before a bare `handle`, so both parts go in
/// `handle` blocks, which are mutually exclusive and tried most specific first.
const OAUTH2_HANDLE: &str = "\thandle /oauth2/* {\n\t\treverse_proxy 127.0.0.1:4180\n\t}\n\n\thandle {\n\tforward_auth";
const APP_HANDLE_END: &str = "\treverse_proxy 127.0.0.1:8080\n\t}\n}";

#[tokio::test]
async fn chromium_signs_in_through_caddy_and_lands_on_the_exact_page() {
    let backends = Backends::start(free_port(), Claims::FromUserinfo, Secure::Yes).await;
    let caddyfile = example_with(
        "caddy/Caddyfile",
        &[
            ("\tforward_auth", OAUTH2_HANDLE.to_owned()),
            ("\treverse_proxy 127.0.0.1:8080\n}", APP_HANDLE_END.to_owned()),
            ("127.0.0.1:4180", format!("127.0.0.1:{}", backends.portcullis.port)),
            ("127.0.0.1:8080", format!("127.0.0.1:{}", backends.upstream.port)),
            ("http://:8000", format!("http://:{}", backends.port)),
        ],
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let caddy = run_caddy(&program("caddy"), dir, &caddyfile, backends.port).await;
    backends.sign_in_and_out_through(caddy, Secure::Yes).await;
}
