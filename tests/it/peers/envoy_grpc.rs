//! Real Envoy 1.40 (gRPC ext_authz filter) running `examples/envoy/envoy-grpc.yaml` in front of
//! the echo app, asking Portcullis's `server.grpc_listen`, through every case of
//! [`super::proxy_cases`].

use super::proxy_cases::{Backends, Behaviour, Stack};
use crate::common::free_port;

/// Envoy 1.40 with the gRPC filter, as observed: as the HTTP filter, an empty identity header
/// reaches the app empty and a refreshed cookie the browser.
const ENVOY_GRPC: Behaviour = Behaviour {
    name: "Envoy 1.40.0 gRPC ext_authz",
    ..super::envoy::ENVOY
};

#[tokio::test]
async fn envoy_grpc_ext_authz_example_passes_every_proxy_case() {
    let backends = Backends::start().await;
    let port = free_port();
    let process = super::run_envoy(
        "envoy-grpc",
        "envoy/envoy-grpc.yaml",
        port,
        &[
            (
                "port_value: 4181",
                format!("port_value: {}", backends.portcullis.grpc_port()),
            ),
            ("port_value: 4180", format!("port_value: {}", backends.portcullis.port)),
            ("port_value: 8080", format!("port_value: {}", backends.upstream.port)),
        ],
    )
    .await;
    let mut stack = Stack::new(backends, process, port, ENVOY_GRPC).await;
    super::proxy_cases::run(&mut stack).await;
}
