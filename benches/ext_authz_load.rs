//! Envoy ext_authz load, both wire forms side by side: `Authorization/Check` over gRPC (tonic
//! clients, one HTTP/2 connection each, as each Envoy worker thread keeps its own) and
//! `/ext-authz/<path>` over HTTP/1.1 (keep-alive connections, as Envoy's HTTP filter), on the
//! same real binary, the same number of callers and the same decisions: a public path, a cached
//! bearer JWT (identity headers), and a 401.
//!
//!   cargo bench --bench ext_authz_load     # CONCURRENCY=50 SECONDS=5 GRPC_CONNECTIONS=<cores>
//!
//! It starts `portcullis serve` with the quickstart config (examples/quickstart) and
//! `server.grpc_listen`, and reports requests per second, the server's CPU time per request
//! (user + system, from /proc) and the bench client's own. The server's is the fair figure: the
//! client shares the cores, and the tonic client costs more CPU per call than the HTTP one, so
//! req/s on a small machine says as much about the client as about the server (the client
//! column shows how much). Built with whatever profile cargo is given; compare figures of one
//! profile on one machine only.
//!
//! Against a server that is already running (benches/compare.sh drives it so, measuring the
//! server's CPU itself), only the gRPC form of one decision is asked, and one line
//! `requests=N seconds=S wrong=W` is printed:
//!
//!   EXT_AUTHZ_GRPC=127.0.0.1:4181 EXT_AUTHZ_AUTHORIZATION='Bearer eyJ...' EXT_AUTHZ_PATH=/admin/ \
//!     EXT_AUTHZ_STATUS=200 target/release/deps/ext_authz_load-HASH     # CONCURRENCY, SECONDS
//!
//! (`EXT_AUTHZ_HOST` sets the host asked about, default `app.example.com`.) With
//! `EXT_AUTHZ_BODY=FILE` it asks nothing and writes that call's body (the gRPC-framed
//! `CheckRequest`) to FILE instead, for a load generator that posts a fixed body (h2load).

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use envoy_types::ext_authz::v3::pb::{CheckRequest, HttpResponse};
use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use tonic::transport::Channel;

#[path = "../tests/it/common/envoy_check.rs"]
mod envoy_check;

const BINARY: &str = env!("CARGO_BIN_EXE_portcullis");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// One decision to ask about, repeatedly.
struct Case {
    name: &'static str,
    host: String,
    path: String,
    authorization: Option<String>,
    status: u16,
}

fn main() {
    let concurrency: usize = env_or("CONCURRENCY", 50);
    let seconds: u64 = env_or("SECONDS", 5);
    let connections: usize = env_or("GRPC_CONNECTIONS", cores()).max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    if let Ok(grpc) = std::env::var("EXT_AUTHZ_GRPC") {
        let case = Case {
            name: "given",
            host: env_or("EXT_AUTHZ_HOST", "app.example.com".to_owned()),
            path: env_or("EXT_AUTHZ_PATH", "/admin/users?page=2".to_owned()),
            authorization: std::env::var("EXT_AUTHZ_AUTHORIZATION").ok(),
            status: env_or("EXT_AUTHZ_STATUS", 200),
        };
        match std::env::var("EXT_AUTHZ_BODY") {
            Ok(file) => write_body(&case, &file),
            Err(_) => runtime.block_on(against_running(&grpc, case, concurrency, connections, seconds)),
        }
        return;
    }
    let server = Server::start();
    let token = mint_token();
    let cases = [
        Case {
            name: "public path",
            host: "app.example.com".into(),
            path: "/static/app.css".into(),
            authorization: None,
            status: 200,
        },
        Case {
            name: "cached JWT",
            host: "app.example.com".into(),
            path: "/admin/users?page=2".into(),
            authorization: Some(format!("Bearer {token}")),
            status: 200,
        },
        Case {
            name: "401",
            host: "app.example.com".into(),
            path: "/admin/users".into(),
            authorization: None,
            status: 401,
        },
    ];
    println!(
        "ext_authz load: {concurrency} concurrent callers ({connections} gRPC connections), {seconds} s per run, {} cores",
        cores()
    );
    println!(
        "{:<14} {:<6} {:>10} {:>16} {:>16}",
        "case", "form", "req/s", "server CPU/req", "client CPU/req"
    );
    runtime.block_on(async {
        let mut channels = Vec::with_capacity(connections);
        for _ in 0..connections {
            // `connect` per channel: each its own HTTP/2 connection.
            let channel = Channel::from_shared(format!("http://{}", server.grpc))
                .expect("url")
                .connect()
                .await
                .expect("connect gRPC");
            channels.push(channel);
        }
        for case in cases.map(Arc::new) {
            for form in [Form::Grpc, Form::Http] {
                // A fresh pool per run: connections left idle through the other runs may be
                // closed by the server (`header_read_timeout`) just as the pool reuses them.
                let http = reqwest::Client::builder()
                    .pool_max_idle_per_host(concurrency)
                    .http1_only()
                    .build()
                    .expect("client");
                let ask = Asker {
                    form,
                    case: case.clone(),
                    channel: channels[0].clone(),
                    http,
                    base: format!("http://{}", server.http),
                };
                assert_eq!(ask.once().await, case.status, "{} {form:?}", case.name);
                let server_before = server.cpu();
                let client_before = cpu_of("self");
                let (requests, wrong, elapsed) = ask.run(concurrency, &channels, Duration::from_secs(seconds)).await;
                let client = cpu_of("self") - client_before;
                let cpu = server.cpu() - server_before;
                assert_eq!(wrong, 0, "{} {form:?}: answers other than {}", case.name, case.status);
                let rate = requests as f64 / elapsed.as_secs_f64();
                let per_request = |cpu: Duration| cpu.as_secs_f64() * 1e6 / requests as f64;
                println!(
                    "{:<14} {:<6} {rate:>10.0} {:>13.1} us {:>13.1} us",
                    case.name,
                    form.label(),
                    per_request(cpu),
                    per_request(client),
                );
            }
        }
    });
}

/// Asks the gRPC server at `grpc` about `case` for `seconds` and prints what it counted.
async fn against_running(grpc: &str, case: Case, concurrency: usize, connections: usize, seconds: u64) {
    let mut channels = Vec::with_capacity(connections);
    for _ in 0..connections {
        let channel = Channel::from_shared(format!("http://{grpc}"))
            .expect("url")
            .connect()
            .await
            .unwrap_or_else(|e| panic!("connect gRPC {grpc}: {e}"));
        channels.push(channel);
    }
    let ask = Asker {
        form: Form::Grpc,
        case: Arc::new(case),
        channel: channels[0].clone(),
        http: reqwest::Client::new(),
        base: String::new(),
    };
    let (requests, wrong, elapsed) = ask.run(concurrency, &channels, Duration::from_secs(seconds)).await;
    println!("requests={requests} seconds={:.3} wrong={wrong}", elapsed.as_secs_f64());
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

#[derive(Debug, Clone, Copy)]
enum Form {
    Grpc,
    Http,
}

impl Form {
    fn label(self) -> &'static str {
        match self {
            Form::Grpc => "gRPC",
            Form::Http => "HTTP",
        }
    }
}

/// The `CheckRequest` Envoy would send for `case` (an API client's `GET`).
fn check_request(case: &Case) -> CheckRequest {
    let mut headers = vec![("accept", "application/json")];
    if let Some(authorization) = &case.authorization {
        headers.push(("authorization", authorization.as_str()));
    }
    envoy_check::check_request("GET", &case.host, &case.path, headers)
}

/// Writes `case`'s `CheckRequest` as the body of a gRPC call (prefix and message) to `file`,
/// for a load generator that posts a fixed body (h2load in benches/compare.sh).
fn write_body(case: &Case, file: &str) {
    let body = portcullis::server::grpc::wire::frame(&check_request(case));
    std::fs::write(file, body).unwrap_or_else(|e| panic!("write {file}: {e}"));
}

#[derive(Clone)]
struct Asker {
    form: Form,
    case: Arc<Case>,
    channel: Channel,
    http: reqwest::Client,
    base: String,
}

impl Asker {
    /// Asks once; the HTTP status, or the gRPC answer's HTTP status.
    async fn once(&self) -> u16 {
        match self.form {
            Form::Grpc => {
                let request = check_request(&self.case);
                let response = AuthorizationClient::new(self.channel.clone())
                    .check(request)
                    .await
                    .expect("check")
                    .into_inner();
                match response.http_response {
                    Some(HttpResponse::OkResponse(_)) => 200,
                    Some(HttpResponse::DeniedResponse(denied)) => denied.status.map_or(0, |s| s.code as u16),
                    _ => 0,
                }
            }
            Form::Http => {
                let mut request = self
                    .http
                    .get(format!("{}/ext-authz{}", self.base, self.case.path))
                    .header("Host", &self.case.host)
                    .header("X-Forwarded-Proto", "https")
                    .header("Accept", "application/json");
                if let Some(authorization) = &self.case.authorization {
                    request = request.header("Authorization", authorization);
                }
                let response = request.send().await.expect("send");
                let status = response.status().as_u16();
                let _ = response.bytes().await;
                status
            }
        }
    }

    /// `concurrency` callers asking in a loop for `length`, the gRPC ones spread over
    /// `channels`: (requests answered, answers other than the case's status, time taken).
    async fn run(&self, concurrency: usize, channels: &[Channel], length: Duration) -> (u64, u64, Duration) {
        let done = Arc::new(AtomicU64::new(0));
        let wrong = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let deadline = started + length;
        let callers: Vec<_> = (0..concurrency)
            .map(|caller| {
                let mut ask = self.clone();
                ask.channel = channels[caller % channels.len()].clone();
                let done = done.clone();
                let wrong = wrong.clone();
                tokio::spawn(async move {
                    while Instant::now() < deadline {
                        if ask.once().await != ask.case.status {
                            wrong.fetch_add(1, Ordering::Relaxed);
                        }
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for caller in callers {
            caller.await.expect("caller");
        }
        (
            done.load(Ordering::Relaxed),
            wrong.load(Ordering::Relaxed),
            started.elapsed(),
        )
    }
}

/// `portcullis serve` on free ports, killed on drop.
struct Server {
    child: Child,
    http: String,
    grpc: String,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("portcullis.log");
        let child = Command::new(BINARY)
            .args(["serve", "--config"])
            .arg(format!("{ROOT}/examples/quickstart/portcullis.toml"))
            .env("PORTCULLIS_SERVER__LISTEN", "127.0.0.1:0")
            .env("PORTCULLIS_SERVER__GRPC_LISTEN", "127.0.0.1:0")
            .env("RUST_LOG", "warn,portcullis::server=info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("start portcullis");
        // Owned by the guard at once: killed and waited for on every way out.
        let mut server = Server {
            child,
            http: String::new(),
            grpc: String::new(),
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(line) = text.lines().find(|l| l.contains("portcullis serving")) {
                // `listen=127.0.0.1:A ... grpc_listen=127.0.0.1:B`, in that order.
                let mut ports = line.split("127.0.0.1:").skip(1).map(|rest| {
                    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                    format!("127.0.0.1:{digits}")
                });
                server.http = ports.next().expect("listen");
                server.grpc = ports.next().expect("grpc_listen");
                return server;
            }
            assert!(Instant::now() < deadline, "portcullis did not start:\n{text}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server's CPU time so far (user + system).
    fn cpu(&self) -> Duration {
        cpu_of(&self.child.id().to_string())
    }
}

/// A process's CPU time so far (user + system): `pid` is a process id or `self`.
fn cpu_of(pid: &str) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // Fields after the `(comm)`: state is the 3rd field, utime the 14th, stime the 15th.
    let after = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mint_token() -> String {
    let output = Command::new(BINARY)
        .args(["token", "--key"])
        .arg(format!("{ROOT}/examples/quickstart/demo-key.pem"))
        .args(["--aud", "demo", "--sub", "alice", "--groups", "admins"])
        .output()
        .expect("portcullis token");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("utf-8").trim().to_owned()
}
