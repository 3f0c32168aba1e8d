//! A real `redis-server` that speaks only TLS (`--port 0 --tls-port PORT`), with a server
//! certificate for 127.0.0.1 from the test's own CA ([`Pki`]); clients need no certificate
//! (`--tls-auth-clients no`). [`ServerTls`] is what the Cluster and Sentinel set-ups of
//! `redis_ha.rs` take to do the same.

use std::path::PathBuf;
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
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir"])
            .arg(dir.path())
            .args(ServerTls::of(&pki).args(port));
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
        let client = ServerTls::of(&self.pki).client(&self.url()).expect("TLS client");
        let mut connection = client
            .get_multiplexed_async_connection()
            .await
            .expect("connect to redis over TLS");
        command.query_async(&mut connection).await.expect("redis command")
    }
}

/// The files a TLS-only `redis-server` (or sentinel) is started with; clients trust `ca`.
#[derive(Clone)]
pub struct ServerTls {
    /// The server's certificate (for 127.0.0.1).
    pub cert: PathBuf,
    /// Its key.
    pub key: PathBuf,
    /// The CA that signed it.
    pub ca: PathBuf,
}

impl ServerTls {
    /// The server certificate of `pki`.
    pub fn of(pki: &Pki) -> ServerTls {
        ServerTls {
            cert: pki.server_cert(),
            key: pki.server_key(),
            ca: pki.ca(),
        }
    }

    fn files(&self) -> [(&'static str, String); 3] {
        let path = |p: &PathBuf| p.to_str().expect("utf-8 path").to_string();
        [
            ("tls-cert-file", path(&self.cert)),
            ("tls-key-file", path(&self.key)),
            ("tls-ca-cert-file", path(&self.ca)),
        ]
    }

    /// `redis-server` arguments: TLS only on `port` (no plain-text port), TLS between the
    /// servers too (replication, the cluster bus), no client certificates.
    pub fn args(&self, port: u16) -> Vec<String> {
        let mut args: Vec<String> = ["--port", "0", "--tls-port", &port.to_string()]
            .map(String::from)
            .into();
        for (name, value) in self.files() {
            args.extend([format!("--{name}"), value]);
        }
        for (name, value) in [
            ("tls-auth-clients", "no"),
            ("tls-replication", "yes"),
            ("tls-cluster", "yes"),
        ] {
            args.extend([format!("--{name}"), value.to_string()]);
        }
        args
    }

    /// The same as sentinel.conf lines.
    pub fn conf(&self, port: u16) -> String {
        let mut text = format!("port 0\ntls-port {port}\ntls-auth-clients no\ntls-replication yes\n");
        for (name, value) in self.files() {
            text.push_str(&format!("{name} {value}\n"));
        }
        text
    }

    /// `redis-cli` arguments to reach the servers.
    pub fn cli_args(&self) -> Vec<String> {
        vec![
            "--tls".into(),
            "--cacert".into(),
            self.ca.to_str().expect("utf-8 path").into(),
        ]
    }

    /// A client for `url` (`rediss://`) that trusts the CA.
    pub fn client(&self, url: &str) -> redis::RedisResult<redis::Client> {
        let certificates = redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(std::fs::read(&self.ca)?),
        };
        redis::Client::build_with_tls(url, certificates)
    }
}
