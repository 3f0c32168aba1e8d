//! A real `redis-server` that speaks only TLS (`--port 0 --tls-port PORT`), with a server
//! certificate for 127.0.0.1 from the test's own CA ([`Pki`]); clients need no certificate
//! (`--tls-auth-clients no`).

use std::process::Command;

use super::pki::Pki;
use crate::peers::{PeerProcess, program};

/// The server and the PKI it was made with.
pub struct TlsRedis {
    /// The CA that signed the server's certificate, and an unrelated one.
    pub pki: Pki,
    /// The server.
    pub process: PeerProcess,
    /// Its TLS port on 127.0.0.1.
    pub port: u16,
}

impl TlsRedis {
    /// Starts it (no plain-text port, no persistence) and waits until it listens.
    pub async fn start() -> TlsRedis {
        let pki = Pki::new();
        let port = super::free_port();
        let dir = tempfile::tempdir().expect("tempdir");
        let mut command = Command::new(program("redis-server"));
        command
            .args(["--port", "0", "--tls-port", &port.to_string(), "--bind", "127.0.0.1"])
            .arg("--tls-cert-file")
            .arg(pki.server_cert())
            .arg("--tls-key-file")
            .arg(pki.server_key())
            .arg("--tls-ca-cert-file")
            .arg(pki.ca())
            .args(["--tls-auth-clients", "no", "--save", "", "--appendonly", "no", "--dir"])
            .arg(dir.path());
        let mut process = PeerProcess::spawn("redis-server-tls", command, dir);
        process.wait_for_port(port).await;
        TlsRedis { pki, process, port }
    }

    /// `rediss://127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        format!("rediss://127.0.0.1:{}/0", self.port)
    }

    /// Runs one command over TLS, trusting the test's CA.
    pub async fn query<T: redis::FromRedisValue>(&self, command: &redis::Cmd) -> T {
        let ca = std::fs::read(self.pki.ca()).expect("ca.crt");
        let certificates = redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(ca),
        };
        let client = redis::Client::build_with_tls(self.url(), certificates).expect("TLS client");
        let mut connection = client
            .get_multiplexed_async_connection()
            .await
            .expect("connect to redis over TLS");
        command.query_async(&mut connection).await.expect("redis command")
    }
}
