//! A private `redis-server` for a test, and what the tests ask it directly (keys, command counts).

use std::process::Command;

use crate::peers::{PeerProcess, program};

/// A private `redis-server` on a free port of 127.0.0.1, no persistence.
pub struct Redis {
    /// The server; `take()` it to stop Redis.
    pub process: Option<PeerProcess>,
    /// `redis://127.0.0.1:PORT/0`.
    pub url: String,
}

impl Redis {
    /// Starts it and waits until it listens.
    pub async fn start() -> Redis {
        let port = super::free_port();
        let mut command = Command::new(program("redis-server"));
        command.args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]);
        let mut process = PeerProcess::spawn("redis-server", command, tempfile::tempdir().expect("tempdir"));
        process.wait_for_port(port).await;
        Redis {
            process: Some(process),
            url: format!("redis://127.0.0.1:{port}/0"),
        }
    }

    /// Stops the server with SIGSTOP until the guard is dropped: connections stay open and
    /// commands are accepted but never answered (a blackhole, unlike a stopped server, which
    /// refuses at once).
    pub async fn freeze(&self) -> Frozen {
        let info: String = self.query(redis::cmd("INFO").arg("server")).await;
        let pid: u32 = info
            .lines()
            .find_map(|line| line.strip_prefix("process_id:"))
            .and_then(|pid| pid.trim().parse().ok())
            .expect("process_id in INFO server");
        Frozen::stop(pid)
    }

    /// Runs one command and returns its answer.
    pub async fn query<T: redis::FromRedisValue>(&self, command: &mut redis::Cmd) -> T {
        let client = redis::Client::open(self.url.as_str()).expect("redis url");
        let mut connection = client
            .get_multiplexed_async_connection()
            .await
            .expect("connect to redis");
        command.query_async(&mut connection).await.expect("redis command")
    }

    /// The keys matching `pattern`.
    pub async fn keys(&self, pattern: &str) -> Vec<String> {
        self.query(redis::cmd("KEYS").arg(pattern)).await
    }

    /// Zeroes the command statistics (`CONFIG RESETSTAT`).
    pub async fn reset_stats(&self) {
        self.query::<()>(redis::cmd("CONFIG").arg("RESETSTAT")).await;
    }

    /// How often `command` (lower case, e.g. `set`) ran since the last reset, from
    /// `INFO commandstats`.
    pub async fn calls(&self, command: &str) -> u64 {
        let info: String = self.query(redis::cmd("INFO").arg("commandstats")).await;
        let prefix = format!("cmdstat_{command}:calls=");
        info.lines()
            .find_map(|line| line.strip_prefix(&prefix))
            .and_then(|rest| rest.split(',').next())
            .and_then(|calls| calls.parse().ok())
            .unwrap_or(0)
    }
}

/// A `redis-server` held with SIGSTOP; dropping it lets the server go on (SIGCONT).
pub struct Frozen {
    pid: u32,
}

impl Frozen {
    /// Stops the `redis-server` with this process id (SIGSTOP) until the guard is dropped.
    pub fn stop(pid: u32) -> Frozen {
        signal(pid, "-STOP");
        let frozen = Frozen { pid };
        // The signal is delivered asynchronously: wait for the stopped state.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !frozen.is_frozen() {
            assert!(std::time::Instant::now() < deadline, "redis-server {pid} did not stop");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        frozen
    }

    /// Whether the server is still stopped (state `T` in `/proc/<pid>/stat`).
    pub fn is_frozen(&self) -> bool {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).unwrap_or_default();
        // `pid (comm) state ...`: the state follows the last `)`.
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('T'))
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        signal(self.pid, "-CONT");
    }
}

fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success(), "kill {signal} {pid}");
}
