//! Real Envoy 1.40 (HTTP ext_authz filter) running `examples/envoy/envoy.yaml` in front of the
//! echo app, through every case of [`super::proxy_cases`].

use super::proxy_cases::{Backends, Behaviour, EmptyHeader, Stack};
use crate::common::free_port;

/// Envoy 1.40 as observed.
pub(super) const ENVOY: Behaviour = Behaviour {
    name: "Envoy 1.40.0",
    empty_header: EmptyHeader::Sent,
    cookie_on_allow: true,
    status_for_connection_spoof: Some(400),
    status_when_down: 503,
    forwarded_to_app: &[
        ("X-Forwarded-Uri", Some("/public/a")),
        ("X-Forwarded-Method", Some("GET")),
        ("X-Forwarded-Host", Some("public.example.com")),
        ("X-Forwarded-Proto", Some("http")),
    ],
};

#[tokio::test]
async fn envoy_http_ext_authz_example_passes_every_proxy_case() {
    let backends = Backends::start().await;
    let port = free_port();
    let process = super::run_envoy(
        "envoy",
        "envoy/envoy.yaml",
        port,
        &[
            ("127.0.0.1:4180", format!("127.0.0.1:{}", backends.portcullis.port)),
            ("port_value: 4180", format!("port_value: {}", backends.portcullis.port)),
            ("port_value: 8080", format!("port_value: {}", backends.upstream.port)),
        ],
    )
    .await;
    let mut stack = Stack::new(backends, process, port, ENVOY).await;
    super::proxy_cases::run(&mut stack).await;
}
