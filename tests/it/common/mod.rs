//! The test kit: start the real binary with a config, mint tokens, serve JWKS.

#![allow(dead_code)]

pub mod browser;
pub mod envoy_check;
pub mod jwks_server;
pub mod kratos;
pub mod kube_api;
pub mod login_kit;
pub mod mia;
pub mod oidc;
pub mod pki;
pub mod provider;
pub mod redis;
pub mod redis_ha;
pub mod redis_tls;
pub mod rules;
pub mod shared_sessions;
pub mod tokens;

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The path of the binary under test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_portcullis")
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A test fixture file.
pub fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures").join(name)
}

/// A free TCP port on 127.0.0.1 for a peer that cannot bind port 0 and report it (nginx,
/// Caddy, Redis, node). Ports come from a range below the kernel's ephemeral range (32768 and
/// up here), so no port-0 bind or outgoing connection is ever given one, and each is handed out
/// once per test process, so two tests (or two calls of one test) never get the same port.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    const FIRST: u16 = 20_000;
    const LAST: u16 = 32_700;
    // Start at a place that depends on the process, so two test processes rarely overlap.
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let window = (u64::from(std::process::id()).wrapping_mul(2_654_435_761) >> 7) % 100;
    let _ = NEXT.compare_exchange(0, FIRST + window as u16 * 100, Ordering::SeqCst, Ordering::SeqCst);
    loop {
        let port = NEXT.fetch_add(1, Ordering::SeqCst);
        assert!(port < LAST, "the test port range {FIRST}..{LAST} is used up");
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A running `portcullis serve` with its own temporary folder holding the config and rules.
pub struct Portcullis {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The port it listens on.
    pub port: u16,
    /// The temporary folder (config at `portcullis.toml`, rules in `rules/`).
    pub dir: tempfile::TempDir,
    child: std::sync::Mutex<Child>,
    log: PathBuf,
}

/// What to start Portcullis with.
pub struct Setup {
    /// The config without `[server]` (the kit adds `listen` and `trusted_proxies`).
    pub config: String,
    /// Rule files `(name, yaml)` written to `rules/`.
    pub rules: Vec<(String, String)>,
    /// `trusted_proxies`.
    pub trusted_proxies: Vec<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
}

impl Setup {
    /// A setup with a config body and one rule file.
    pub fn new(config: &str, rules: &str) -> Setup {
        Setup {
            config: config.to_string(),
            rules: vec![("10-rules.yaml".into(), rules.to_string())],
            trusted_proxies: vec!["127.0.0.0/8".into(), "::1/128".into()],
            env: Vec::new(),
        }
    }
}

impl Setup {
    /// The same, with gRPC ext_authz on a free port (`server.grpc_listen`, through the
    /// environment overlay); [`Portcullis::grpc_port`] says which.
    pub fn with_grpc(mut self) -> Setup {
        self.env
            .push(("PORTCULLIS_SERVER__GRPC_LISTEN".into(), "127.0.0.1:0".into()));
        self
    }
}

/// A config body for one issuer whose keys are the fixture JWKS `jwks` (e.g. `rsa1`).
pub fn file_issuer_config(jwks: &str) -> String {
    format!(
        r#"
[[issuers]]
name = "main"
issuer = "https://issuer.test/"
jwks_file = "{}"
audiences = ["api"]
algorithms = ["RS256", "ES256", "PS256", "EdDSA"]

[rules]
paths = ["rules/"]
default = "deny"
"#,
        fixture(&format!("keys/{jwks}.jwks.json")).display()
    )
}

/// The test config with `[login]` on, so that browsers get sent to login.
pub fn login_config() -> String {
    format!(
        r#"{}
[login]
issuer = "main"
client_id = "portcullis"
client_secret = "s3cret"
redirect_url = "https://auth.example.com/oauth2/callback"
allowed_redirect_domains = [".example.com"]

[session]
secret = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA="
"#,
        file_issuer_config("rsa1")
    )
}

impl Portcullis {
    /// Starts with `setup` and waits until `/healthz` answers.
    pub async fn start(setup: Setup) -> Portcullis {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("rules")).expect("rules dir");
        for (name, yaml) in &setup.rules {
            std::fs::write(dir.path().join("rules").join(name), yaml).expect("write rules");
        }
        // Port 0: the kernel picks a free port and Portcullis logs it (no port race).
        let trusted: Vec<String> = setup.trusted_proxies.iter().map(|p| format!("\"{p}\"")).collect();
        let config = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\ntrusted_proxies = [{}]\n{}",
            trusted.join(", "),
            setup.config
        );
        std::fs::write(dir.path().join("portcullis.toml"), config).expect("write config");
        let log = dir.path().join("portcullis.log");
        let child = Command::new(binary())
            .args(["serve", "--config"])
            .arg(dir.path().join("portcullis.toml"))
            .envs(setup.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("RUST_LOG", "portcullis=debug,info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start portcullis");
        let child = std::sync::Mutex::new(child);
        let port = bound_port(&child, &log).await;
        let portcullis = Portcullis {
            base: format!("http://127.0.0.1:{port}"),
            port,
            dir,
            child,
            log,
        };
        portcullis.wait_for("/healthz", 200).await;
        portcullis
    }

    /// Fails the test at once, with the log, when the process has exited.
    fn assert_running(&self) {
        assert_running(&self.child, &self.log);
    }

    /// Waits (up to 10 s) until `path` answers `status`.
    pub async fn wait_for(&self, path: &str, status: u16) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(response) = client().get(self.url(path)).send().await
                && response.status().as_u16() == status
            {
                return;
            }
            self.assert_running();
            assert!(
                Instant::now() < deadline,
                "{path} never answered {status}; log:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Everything the process logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (up to 10 s) until the log contains `needle`; fails the test naming it otherwise.
    /// For lines logged after the answer that a test saw (the process may answer first).
    pub async fn wait_for_log(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.log_text().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "no `{needle}` in the log:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The port of `server.grpc_listen` (started at `127.0.0.1:0`, see [`Setup::with_grpc`]),
    /// read from the `portcullis serving ... grpc_listen=127.0.0.1:PORT` line.
    pub fn grpc_port(&self) -> u16 {
        let text = self.log_text();
        let line = text.lines().find(|line| line.contains("portcullis serving"));
        let after = line.and_then(|line| line.split("grpc_listen").nth(1));
        let port = after.and_then(|rest| {
            let digits: String = rest
                .split("127.0.0.1:")
                .nth(1)?
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        });
        port.unwrap_or_else(|| panic!("no grpc_listen port in the log:\n{text}"))
    }

    /// The folder holding the rule files.
    pub fn rules_dir(&self) -> PathBuf {
        self.dir.path().join("rules")
    }

    /// A metric's value from `/metrics` (the line starting with `series`). A missing series
    /// fails the test (a misspelled name must not read as zero); see [`Self::metric_if_present`].
    pub async fn metric(&self, series: &str) -> f64 {
        match self.metric_if_present(series).await {
            Some(value) => value,
            None => panic!("no series `{series}` in /metrics:\n{}", self.metrics_text().await),
        }
    }

    /// A metric's value, `None` when the series has not been exported (yet).
    pub async fn metric_if_present(&self, series: &str) -> Option<f64> {
        let text = self.metrics_text().await;
        text.lines()
            .find_map(|line| line.strip_prefix(series).and_then(|rest| rest.trim().parse().ok()))
    }

    async fn metrics_text(&self) -> String {
        client()
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    }

    /// The process id (to send it signals or change its limits).
    pub fn pid(&self) -> u32 {
        self.child().id()
    }

    fn child(&self) -> std::sync::MutexGuard<'_, Child> {
        self.child.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits up to `bound` for the process to exit: its status, or `None` while it still runs.
    pub async fn wait_exit(&mut self, bound: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + bound;
        loop {
            if let Some(status) = self.child().try_wait().expect("try_wait") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill").args(["-TERM", &self.pid().to_string()]).status();
        self.child().wait().expect("wait")
    }
}

impl Drop for Portcullis {
    fn drop(&mut self) {
        let mut child = self.child();
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Fails the test, with the log, when the child has exited.
fn assert_running(child: &std::sync::Mutex<Child>, log: &Path) {
    let exited = child
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .try_wait()
        .expect("try_wait");
    if let Some(status) = exited {
        panic!(
            "portcullis exited ({status}); log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
    }
}

/// The port Portcullis bound, read from its `portcullis serving listen=127.0.0.1:PORT` log line
/// (human or JSON format); fails fast when it exits first.
async fn bound_port(child: &std::sync::Mutex<Child>, log: &Path) -> u16 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let port = text
            .lines()
            .filter(|line| line.contains("portcullis serving"))
            .find_map(|line| {
                let after = line.split("127.0.0.1:").nth(1)?;
                let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
                digits.parse().ok()
            });
        if let Some(port) = port {
            return port;
        }
        assert_running(child, log);
        assert!(
            Instant::now() < deadline,
            "no `portcullis serving` line in 10 s; log:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Asks `/auth` about `GET https://app.example.com<uri>` with optional extra headers.
pub async fn ask(p: &Portcullis, uri: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = client()
        .get(p.url("/auth"))
        .header("X-Original-URL", format!("https://app.example.com{uri}"))
        .header("X-Original-Method", "GET");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("request")
}

/// A header of a response as text, `None` when absent (an empty header is `Some("")`: the
/// identity headers are sent empty on purpose, and a test must see the difference).
pub fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).map(|v| v.to_str().expect("ascii header"))
}

/// An HTTP client that never follows redirects.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

/// Runs the binary with `args` to completion: (exit code, stdout, stderr).
pub fn run(args: &[&str], cwd: &Path) -> (i32, String, String) {
    run_with_env(args, cwd, &[])
}

/// [`run`] with the environment variables `env` (name, value) set for the binary.
pub fn run_with_env(args: &[&str], cwd: &Path, env: &[(String, String)]) -> (i32, String, String) {
    let mut child = Command::new(binary())
        .args(args)
        .current_dir(cwd)
        .env_remove("PORTCULLIS_CONFIG")
        .envs(env.iter().map(|(name, value)| (name, value)))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run portcullis");
    let mut stdout = String::new();
    let mut stderr = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut stdout)
        .expect("read stdout");
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    let status = child.wait().expect("wait");
    (status.code().unwrap_or(-1), stdout, stderr)
}

/// Asserts that `response` is a 400 whose reason names every one of `words` (the header at
/// fault, and what is wrong with it): the `reason` of a JSON body, else the text body.
pub async fn assert_400_naming(response: reqwest::Response, words: &[&str], case: &str) {
    assert_eq!(response.status(), 400, "{case}");
    let text = response.text().await.expect("body");
    let reason = match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(body) => body["reason"].as_str().unwrap_or_default().to_owned(),
        Err(_) => text.clone(),
    };
    for word in words {
        assert!(reason.contains(word), "{case}: the 400 does not name {word}: {text}");
    }
}
