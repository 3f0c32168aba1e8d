//! Real Caddy 2.11 (`forward_auth`, from PyPI) running `examples/caddy/Caddyfile` in front of the
//! echo app, through every case of [`super::proxy_cases`]. Debian's Caddy 2.6 runs the same file
//! in `caddy.rs`.

use super::proxy_cases::{Backends, Behaviour, EmptyHeader, Stack};
use super::{example_with, run_caddy, venv_program};
use crate::common::free_port;

/// Caddy 2.11 as observed.
const CADDY: Behaviour = Behaviour {
    name: "Caddy 2.11.7",
    empty_header: EmptyHeader::Dropped,
    cookie_on_allow: false,
    status_for_connection_spoof: None,
    status_when_down: 502,
    forwarded_to_app: &[
        ("X-Forwarded-Uri", Some("/public/a")),
        ("X-Forwarded-Method", Some("GET")),
        ("X-Forwarded-Host", Some("app.localhost")),
        ("X-Forwarded-Proto", Some("http")),
    ],
};

#[tokio::test]
async fn caddy_2_11_forward_auth_example_passes_every_proxy_case() {
    let caddy = venv_program("caddy", &["version"], "v2.11.7");
    let backends = Backends::start().await;
    let port = free_port();
    let caddyfile = example_with(
        "caddy/Caddyfile",
        &[
            ("127.0.0.1:4180", format!("127.0.0.1:{}", backends.portcullis.port)),
            ("127.0.0.1:8080", format!("127.0.0.1:{}", backends.upstream.port)),
            ("http://:8000", format!("http://:{port}")),
        ],
    );
    let process = run_caddy(&caddy, tempfile::tempdir().expect("tempdir"), &caddyfile, port).await;
    let mut stack = Stack::new(backends, process, port, CADDY).await;
    super::proxy_cases::run(&mut stack).await;
}
