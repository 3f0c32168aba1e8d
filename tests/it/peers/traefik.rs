//! Real Traefik 3.7 (ForwardAuth, file provider) running `examples/traefik/traefik.yml` and
//! `dynamic.yml` in front of the echo app, through every case of [`super::proxy_cases`].

use super::proxy_cases::{Backends, Behaviour, EmptyHeader, Stack};
use crate::common::free_port;

/// Traefik 3.7 as observed.
const TRAEFIK: Behaviour = Behaviour {
    name: "Traefik 3.7.15",
    empty_header: EmptyHeader::Sent,
    cookie_on_allow: true,
    status_for_connection_spoof: None,
    status_when_down: 500,
    forwarded_to_app: &[
        ("X-Forwarded-Uri", None),
        ("X-Forwarded-Method", None),
        ("X-Forwarded-Host", Some("app.localhost")),
        ("X-Forwarded-Proto", Some("http")),
    ],
};

#[tokio::test]
async fn traefik_forward_auth_example_passes_every_proxy_case() {
    let backends = Backends::start().await;
    let port = free_port();
    let traefik = super::run_traefik(
        port,
        &[
            ("127.0.0.1:4180", format!("127.0.0.1:{}", backends.portcullis.port)),
            ("127.0.0.1:8080", format!("127.0.0.1:{}", backends.upstream.port)),
        ],
    )
    .await;
    let mut stack = Stack::new(backends, traefik, port, TRAEFIK).await;
    super::proxy_cases::run(&mut stack).await;
}
