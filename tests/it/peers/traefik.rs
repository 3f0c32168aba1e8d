//! Real Traefik 3.7 (ForwardAuth, file provider) running `examples/traefik/traefik.yml` and
//! `dynamic.yml` in front of the echo app, through every case of [`super::proxy_cases`].

use std::process::Command;

use super::proxy_cases::{Backends, Behaviour, EmptyHeader, Stack};
use super::{PeerProcess, example_with, venv_program, write};
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

/// Traefik on a free port running the two example files, waiting for its entry point.
async fn start_traefik(backends: &Backends) -> (PeerProcess, u16) {
    let traefik = venv_program("traefik", &["version"], "3.7.15");
    let port = free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let dynamic = example_with(
        "traefik/dynamic.yml",
        &[
            ("127.0.0.1:4180", format!("127.0.0.1:{}", backends.portcullis.port)),
            ("127.0.0.1:8080", format!("127.0.0.1:{}", backends.upstream.port)),
        ],
    );
    let dynamic = write(dir.path(), "dynamic.yml", &dynamic);
    let static_config = example_with(
        "traefik/traefik.yml",
        &[
            ("127.0.0.1:8000", format!("127.0.0.1:{port}")),
            ("examples/traefik/dynamic.yml", dynamic.display().to_string()),
        ],
    );
    let file = write(dir.path(), "traefik.yml", &static_config);
    let mut command = Command::new(traefik);
    command
        .arg(format!("--configFile={}", file.display()))
        .env("HOME", dir.path());
    let mut process = PeerProcess::spawn("traefik", command, dir);
    process.wait_for_port(port).await;
    (process, port)
}

#[tokio::test]
async fn traefik_forward_auth_example_passes_every_proxy_case() {
    let backends = Backends::start().await;
    let (traefik, port) = start_traefik(&backends).await;
    let mut stack = Stack::new(backends, traefik, port, TRAEFIK).await;
    super::proxy_cases::run(&mut stack).await;
}
