//! Real Envoy 1.40 (HTTP ext_authz filter) running `examples/envoy/envoy.yaml` in front of the
//! echo app, through every case of [`super::proxy_cases`].

use std::process::Command;

use super::proxy_cases::{Backends, Behaviour, EmptyHeader, Stack};
use super::{PeerProcess, example_with, venv_program, write};
use crate::common::free_port;

/// Envoy 1.40 as observed.
const ENVOY: Behaviour = Behaviour {
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
    let envoy = venv_program("envoy", &["--version"], "/1.40.0/");
    let backends = Backends::start().await;
    let port = free_port();
    let admin = std::iter::repeat_with(free_port).find(|p| *p != port).expect("port");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = example_with(
        "envoy/envoy.yaml",
        &[
            ("127.0.0.1:4180", format!("127.0.0.1:{}", backends.portcullis.port)),
            ("port_value: 4180", format!("port_value: {}", backends.portcullis.port)),
            ("port_value: 8080", format!("port_value: {}", backends.upstream.port)),
            ("port_value: 8000", format!("port_value: {port}")),
            ("port_value: 9901", format!("port_value: {admin}")),
        ],
    );
    let file = write(dir.path(), "envoy.yaml", &config);
    let mut command = Command::new(envoy);
    command
        .arg("-c")
        .arg(&file)
        .args(["--disable-hot-restart", "--concurrency", "1", "--log-level", "warning"]);
    let mut process = PeerProcess::spawn("envoy", command, dir);
    process.wait_for_port(port).await;
    let mut stack = Stack::new(backends, process, port, ENVOY).await;
    super::proxy_cases::run(&mut stack).await;
}
