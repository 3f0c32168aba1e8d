//! `[server]`: where to listen, whom to trust, and the limits of connections and caches.

use std::net::SocketAddr;
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;

use super::problems::Problems;
use super::size::byte_size;
use super::values::duration;

/// `[server]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address and port to listen on.
    pub listen: SocketAddr,
    /// Where Envoy's gRPC ext_authz (`envoy.service.auth.v3.Authorization`) and the gRPC health
    /// service are served (HTTP/2 without TLS); none when absent.
    pub grpc_listen: Option<SocketAddr>,
    /// Peers whose forwarded headers are read; from any other peer they are ignored.
    pub trusted_proxies: Vec<IpNet>,
    /// A connection that has not sent a complete request head within this is closed (also an
    /// idle keep-alive connection between two requests).
    #[serde(deserialize_with = "duration")]
    pub header_read_timeout: Duration,
    /// At most this many connections are open at once; further ones are accepted and closed.
    pub max_connections: u32,
    /// The memory budget, in bytes, of the cache of verified tokens (`"64MiB"` in the file).
    #[serde(deserialize_with = "byte_size")]
    pub token_cache_memory: u64,
    /// A folder with `forbidden.html` and/or `error.html` replacing the built-in pages
    /// browsers get when refused; none: the built-in ones.
    pub pages_dir: Option<std::path::PathBuf>,
}

/// The longest `server.header_read_timeout` accepted: longer is a typo, and timers that far out
/// overflow.
pub const MAX_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(3600);

impl Default for ServerConfig {
    fn default() -> Self {
        let private = [
            "127.0.0.0/8",
            "10.0.0.0/8",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "::1/128",
        ];
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 4180)),
            grpc_listen: None,
            trusted_proxies: private.iter().map(|net| net.parse().expect("valid CIDR")).collect(),
            header_read_timeout: Duration::from_secs(10),
            max_connections: 10_000,
            token_cache_memory: 64 * 1024 * 1024,
            pages_dir: None,
        }
    }
}

impl ServerConfig {
    /// Records what parses but cannot work.
    pub(crate) fn validate(&self, problems: &mut Problems) {
        if self.header_read_timeout.is_zero() {
            problems.add("server.header_read_timeout", "must be longer than 0s");
        }
        if self.header_read_timeout > MAX_HEADER_READ_TIMEOUT {
            problems.add("server.header_read_timeout", "must be at most 1h");
        }
        if self.max_connections == 0 {
            problems.add("server.max_connections", "must be at least 1");
        }
        if self.token_cache_memory == 0 {
            problems.add("server.token_cache_memory", "must be more than 0B");
        }
        if self
            .grpc_listen
            .is_some_and(|grpc| grpc == self.listen && grpc.port() != 0)
        {
            problems.add("server.grpc_listen", "must differ from server.listen");
        }
        if let Err(reason) = crate::answer::page::Pages::load(self.pages_dir.as_deref()) {
            problems.add("server.pages_dir", reason);
        }
    }
}
