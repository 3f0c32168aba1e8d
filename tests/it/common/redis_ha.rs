//! Redis set-ups of more than one server, all real `redis-server` processes on 127.0.0.1: a
//! Redis Cluster of three masters with one replica each (made with `redis-cli --cluster
//! create`), a Sentinel set (one master, one replica, three sentinels), and one server that can
//! be stopped and started again on its port with its data (`SAVE` before the stop). The Cluster
//! and the Sentinel set can also speak only TLS ([`ServerTls`]).

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::free_port;
use crate::common::redis_tls::ServerTls;
use crate::peers::{PeerProcess, program};

/// How long a set-up may take to settle (cluster creation, a failover) before the test fails.
const SETTLE: Duration = Duration::from_secs(60);

/// One `redis-server` of a set-up; `process` is `None` once it was killed.
pub struct Node {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// The server.
    pub process: Option<PeerProcess>,
    /// With TLS: the server's certificate files (it then has no plain-text port).
    pub tls: Option<ServerTls>,
}

impl Node {
    /// Starts `redis-server` on a free port with `args` added (no persistence unless `args`
    /// says so), in its own folder, only over TLS with `tls`, and waits until it listens.
    async fn start(args: &[&str], tls: Option<&ServerTls>) -> Node {
        let port = free_port();
        let dir = tempfile::tempdir().expect("tempdir");
        let tls_args = tls.map(|tls| tls.args(port)).unwrap_or_default();
        let args: Vec<&str> = args
            .iter()
            .copied()
            .chain(tls_args.iter().map(String::as_str))
            .collect();
        let process = spawn_server(port, dir, &args).await;
        Node {
            port,
            process: Some(process),
            tls: tls.cloned(),
        }
    }

    /// `redis://127.0.0.1:PORT`, or `rediss://` with TLS.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// Kills the server at once (SIGKILL: no shutdown, no goodbye to its peers).
    pub fn kill(&mut self) {
        if let Some(process) = self.process.take() {
            let status = Command::new("kill")
                .args(["-KILL", &process.pid().to_string()])
                .status()
                .expect("kill");
            assert!(status.success(), "kill -KILL {}", process.pid());
        }
    }

    /// Whether the server says `role:master`.
    pub async fn is_master(&self) -> bool {
        let info: String = self
            .query(redis::cmd("INFO").arg("replication"))
            .await
            .unwrap_or_default();
        info.contains("role:master")
    }

    /// Runs one command on this server and returns its answer.
    pub async fn query<T: redis::FromRedisValue>(&self, command: &redis::Cmd) -> redis::RedisResult<T> {
        self.query_after(&[], command).await
    }

    /// Runs `before` (e.g. `READONLY`), then `command`, on this server.
    pub async fn query_after<T: redis::FromRedisValue>(
        &self,
        before: &[&str],
        command: &redis::Cmd,
    ) -> redis::RedisResult<T> {
        match &self.tls {
            Some(tls) => query_client(tls.client(&self.url())?, before, command).await,
            None => query(&self.url(), before, command).await,
        }
    }
}

/// Starts `redis-server --port PORT --bind 127.0.0.1 --dir DIR ARGS...` and waits for the port.
async fn spawn_server(port: u16, dir: tempfile::TempDir, args: &[&str]) -> PeerProcess {
    let mut command = Command::new(program("redis-server"));
    command
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--dir"])
        .arg(dir.path())
        .args(["--save", "", "--appendonly", "no"])
        .args(args);
    let mut process = PeerProcess::spawn("redis-server", command, dir);
    process.wait_for_port(port).await;
    process
}

/// Runs `before` (e.g. `READONLY`) then `command` on one fresh connection to `url`, waiting
/// for the answer as long as it takes (`DEBUG SLEEP`).
pub async fn query<T: redis::FromRedisValue>(
    url: &str,
    before: &[&str],
    command: &redis::Cmd,
) -> redis::RedisResult<T> {
    query_client(redis::Client::open(url)?, before, command).await
}

async fn query_client<T: redis::FromRedisValue>(
    client: redis::Client,
    before: &[&str],
    command: &redis::Cmd,
) -> redis::RedisResult<T> {
    let config = redis::AsyncConnectionConfig::new().set_response_timeout(None);
    let mut connection = client.get_multiplexed_async_connection_with_config(&config).await?;
    for word in before {
        redis::cmd(word).query_async::<()>(&mut connection).await?;
    }
    command.query_async(&mut connection).await
}

/// Polls `check` every 100 ms until it holds; fails with `what` after [`SETTLE`].
pub async fn settle<F: Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    let deadline = Instant::now() + SETTLE;
    while !check().await {
        assert!(Instant::now() < deadline, "{what} did not happen within {SETTLE:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A Redis Cluster: three masters with one replica each.
pub struct RedisCluster {
    /// The six servers (which is master changes with failovers: ask [`RedisCluster::master_of`]).
    pub nodes: Vec<Node>,
}

impl RedisCluster {
    /// Starts six cluster-enabled servers, creates the cluster with `redis-cli --cluster create
    /// --cluster-replicas 1` and waits until every node says `cluster_state:ok`.
    pub async fn start() -> RedisCluster {
        Self::start_with(None).await
    }

    /// [`RedisCluster::start`], every node (and the cluster bus) only over TLS with `tls`.
    pub async fn start_with(tls: Option<&ServerTls>) -> RedisCluster {
        let mut nodes = Vec::new();
        for _ in 0..6 {
            // The bus port from the kit's allocator too: the default, port + 10000, may fall in
            // the ephemeral range, where a client connection can hold it.
            let bus = free_port().to_string();
            let args = [
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                "1000",
                "--cluster-port",
                &bus,
            ];
            nodes.push(Node::start(&args, tls).await);
        }
        let addresses: Vec<String> = nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)).collect();
        let output = Command::new(program("redis-cli"))
            .args(tls.map(ServerTls::cli_args).unwrap_or_default())
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .output()
            .expect("redis-cli --cluster create");
        assert!(
            output.status.success(),
            "redis-cli --cluster create: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let cluster = RedisCluster { nodes };
        cluster.wait_until_ok().await;
        cluster
    }

    /// `redis://127.0.0.1:PORT` (`rediss://` with TLS) of every node (what `redis_cluster_urls`
    /// is given).
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(Node::url).collect()
    }

    /// Waits until every running node says `cluster_state:ok` and sees three masters with slots.
    pub async fn wait_until_ok(&self) {
        settle("cluster_state:ok on every node", || async {
            for node in self.nodes.iter().filter(|n| n.process.is_some()) {
                let info: String = node
                    .query(&redis::cmd("CLUSTER").arg("INFO").clone())
                    .await
                    .unwrap_or_default();
                if !info.contains("cluster_state:ok") {
                    return false;
                }
            }
            true
        })
        .await;
    }

    /// A running node's view of the cluster (`CLUSTER NODES`).
    async fn cluster_nodes(&self) -> String {
        for node in self.nodes.iter().filter(|n| n.process.is_some()) {
            if let Ok(text) = node.query::<String>(&redis::cmd("CLUSTER").arg("NODES").clone()).await {
                return text;
            }
        }
        panic!("no cluster node answers CLUSTER NODES")
    }

    /// The index in [`RedisCluster::nodes`] of the master serving `key`, and of its replica.
    pub async fn master_and_replica_of(&self, key: &str) -> (usize, usize) {
        let any = self.nodes.iter().find(|n| n.process.is_some()).expect("a running node");
        let slot: i64 = any
            .query(&redis::cmd("CLUSTER").arg("KEYSLOT").arg(key).clone())
            .await
            .expect("CLUSTER KEYSLOT");
        let text = self.cluster_nodes().await;
        let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split_whitespace().collect()).collect();
        let serves = |fields: &Vec<&str>| {
            fields.iter().skip(8).any(|range| {
                let (from, to) = range.split_once('-').unwrap_or((range, range));
                matches!((from.parse::<i64>(), to.parse::<i64>()), (Ok(f), Ok(t)) if f <= slot && slot <= t)
            })
        };
        let master = lines
            .iter()
            .find(|f| f[2].contains("master") && !f[2].contains("fail") && serves(f))
            .unwrap_or_else(|| panic!("no master serves slot {slot}:\n{text}"));
        let replica = lines
            .iter()
            .find(|f| f[3] == master[0] && !f[2].contains("fail"))
            .unwrap_or_else(|| panic!("the master of slot {slot} has no live replica:\n{text}"));
        (self.index_of(master[1]), self.index_of(replica[1]))
    }

    /// Waits until the replica `replica` (an index in [`RedisCluster::nodes`]) holds `key`: it
    /// has synced with its master (only a synced replica can take over).
    pub async fn wait_until_replicated(&self, key: &str, replica: usize) {
        let exists = redis::cmd("EXISTS").arg(key).clone();
        settle("the replica holding the key", || async {
            self.nodes[replica].query_after(&["READONLY"], &exists).await == Ok(1)
        })
        .await;
    }

    fn index_of(&self, address: &str) -> usize {
        let port: u16 = address
            .split('@')
            .next()
            .and_then(|a| a.rsplit(':').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("address {address}"));
        self.nodes.iter().position(|n| n.port == port).expect("a node of ours")
    }

    /// The `portcullis:session:*` keys of every running master.
    pub async fn session_keys(&self) -> Vec<String> {
        let mut keys = Vec::new();
        for node in self.nodes.iter().filter(|n| n.process.is_some()) {
            if node.is_master().await {
                let found: Vec<String> = node
                    .query(&redis::cmd("KEYS").arg("portcullis:session:*").clone())
                    .await
                    .unwrap_or_default();
                keys.extend(found);
            }
        }
        keys
    }
}

/// A Sentinel set: one master, one replica, three sentinels monitoring `mymaster`.
pub struct SentinelSet {
    /// The first master (a replica after a failover).
    pub master: Node,
    /// The first replica (the master after a failover).
    pub replica: Node,
    /// The three sentinels.
    pub sentinels: Vec<Node>,
}

/// The master name the sentinels monitor.
pub const MASTER_NAME: &str = "mymaster";

impl SentinelSet {
    /// Starts the master, its replica and three sentinels, and waits until the sentinels know
    /// the replica and each other.
    pub async fn start() -> SentinelSet {
        Self::start_with(None).await
    }

    /// [`SentinelSet::start`], every server and sentinel only over TLS with `tls`.
    pub async fn start_with(tls: Option<&ServerTls>) -> SentinelSet {
        let master = Node::start(&[], tls).await;
        let replica_of = master.port.to_string();
        let replica = Node::start(&["--replicaof", "127.0.0.1", &replica_of], tls).await;
        settle("the replica in sync", || async {
            let info: String = replica
                .query(&redis::cmd("INFO").arg("replication").clone())
                .await
                .unwrap_or_default();
            info.contains("master_link_status:up")
        })
        .await;
        let mut sentinels = Vec::new();
        for _ in 0..3 {
            let port = free_port();
            let dir = tempfile::tempdir().expect("tempdir");
            let conf = dir.path().join("sentinel.conf");
            let listen = tls.map_or(format!("port {port}\n"), |tls| tls.conf(port));
            let text = format!(
                "{listen}bind 127.0.0.1\ndir {dir}\n\
                 sentinel monitor {MASTER_NAME} 127.0.0.1 {master} 2\n\
                 sentinel down-after-milliseconds {MASTER_NAME} 1000\n\
                 sentinel failover-timeout {MASTER_NAME} 5000\n\
                 sentinel parallel-syncs {MASTER_NAME} 1\n",
                dir = dir.path().display(),
                master = master.port,
            );
            std::fs::write(&conf, text).expect("sentinel.conf");
            let mut command = Command::new(program("redis-server"));
            command.arg(&conf).arg("--sentinel");
            let mut process = PeerProcess::spawn("redis-sentinel", command, dir);
            process.wait_for_port(port).await;
            sentinels.push(Node {
                port,
                process: Some(process),
                tls: tls.cloned(),
            });
        }
        let set = SentinelSet {
            master,
            replica,
            sentinels,
        };
        for sentinel in &set.sentinels {
            settle("every sentinel knowing the replica and the other sentinels", || async {
                let master: std::collections::HashMap<String, String> = sentinel
                    .query(&redis::cmd("SENTINEL").arg("MASTER").arg(MASTER_NAME).clone())
                    .await
                    .unwrap_or_default();
                let field = |name: &str| master.get(name).map(String::as_str);
                field("num-slaves") == Some("1") && field("num-other-sentinels") == Some("2")
            })
            .await;
        }
        set
    }

    /// `redis://127.0.0.1:PORT` of each sentinel (what `redis_sentinel_urls` is given).
    pub fn urls(&self) -> Vec<String> {
        self.sentinels.iter().map(Node::url).collect()
    }

    /// The port of the master the sentinels name now.
    pub async fn master_port(&self) -> Option<u16> {
        let address: Vec<String> = self.sentinels[0]
            .query(
                &redis::cmd("SENTINEL")
                    .arg("GET-MASTER-ADDR-BY-NAME")
                    .arg(MASTER_NAME)
                    .clone(),
            )
            .await
            .ok()?;
        address.get(1)?.parse().ok()
    }

    /// `SENTINEL FAILOVER`, then waits until the sentinels name the replica as master and it
    /// says so itself.
    pub async fn failover(&self) {
        self.sentinels[0]
            .query::<()>(&redis::cmd("SENTINEL").arg("FAILOVER").arg(MASTER_NAME).clone())
            .await
            .expect("SENTINEL FAILOVER");
        settle("the replica promoted", || async {
            self.master_port().await == Some(self.replica.port) && self.replica.is_master().await
        })
        .await;
    }
}

/// One Redis server that can be stopped (`SAVE`, then SIGKILL) and started again on the same
/// port with the same data, and slowed with `DEBUG SLEEP`.
pub struct RestartableRedis {
    /// The server (`process` is `None` while it is down).
    pub node: Node,
    dir: std::path::PathBuf,
    _keep: tempfile::TempDir,
}

impl RestartableRedis {
    /// Starts it with `DEBUG` allowed from 127.0.0.1.
    pub async fn start() -> RestartableRedis {
        let keep = tempfile::tempdir().expect("tempdir");
        let dir = keep.path().to_path_buf();
        let port = free_port();
        let process = Self::spawn(port, &dir).await;
        RestartableRedis {
            node: Node {
                port,
                process: Some(process),
                tls: None,
            },
            dir,
            _keep: keep,
        }
    }

    async fn spawn(port: u16, data: &std::path::Path) -> PeerProcess {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = data.to_str().expect("utf-8 path");
        let args = [
            "--enable-debug-command",
            "local",
            "--dir",
            data,
            "--dbfilename",
            "dump.rdb",
        ];
        spawn_server(port, dir, &args).await
    }

    /// `redis://127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        format!("{}/0", self.node.url())
    }

    /// Saves the data, then kills the server: the port refuses connections.
    pub async fn stop(&mut self) {
        self.node.query::<()>(&redis::cmd("SAVE")).await.expect("SAVE");
        self.node.kill();
    }

    /// Starts it again on the same port; it loads the data saved by [`RestartableRedis::stop`].
    pub async fn restart(&mut self) {
        assert!(self.node.process.is_none(), "still running");
        self.node.process = Some(Self::spawn(self.node.port, &self.dir).await);
    }
}
