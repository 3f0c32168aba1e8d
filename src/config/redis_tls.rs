//! Redis over TLS (`rediss://` URLs): `session.redis_ca_file`, the CA that signs the Redis
//! servers' certificates when it is not one of the system's roots, read and checked at load; and
//! the URL checks TLS needs (`#insecure`, which turns certificate checks off, is refused; the
//! URLs of a list all speak TLS or none does).

use std::fmt;
use std::path::{Path, PathBuf};

use super::problems::Problems;
use super::session::SessionStore;

/// The CA of `session.redis_ca_file`: the Redis servers' certificates must chain to it (instead
/// of to the system's roots).
#[derive(Clone, PartialEq, Eq)]
pub struct RedisCa {
    /// The file it was read from, for messages.
    pub file: PathBuf,
    /// Its PEM text (one or more certificates), checked at load.
    pub pem: Vec<u8>,
}

impl fmt::Debug for RedisCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisCa({})", self.file.display())
    }
}

impl RedisCa {
    /// The certificates in the form the Redis client takes them.
    pub fn certificates(&self) -> redis::TlsCertificates {
        redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(self.pem.clone()),
        }
    }
}

/// The URLs of `store` with the key that holds them.
fn urls(store: &SessionStore) -> Option<(&'static str, Vec<&str>)> {
    match store {
        SessionStore::Cookie => None,
        SessionStore::Redis { url } => Some(("redis_url", vec![url.0.as_str()])),
        SessionStore::RedisCluster { urls } => {
            Some(("redis_cluster_urls", urls.iter().map(|u| u.0.as_str()).collect()))
        }
        SessionStore::RedisSentinel { urls, .. } => {
            Some(("redis_sentinel_urls", urls.iter().map(|u| u.0.as_str()).collect()))
        }
    }
}

/// Whether `url` asks for TLS (`rediss://`), and whether it turns certificate checks off
/// (`#insecure`); `None` when the Redis client cannot read it (reported elsewhere).
fn tls_of(url: &str) -> Option<(bool, bool)> {
    match redis::IntoConnectionInfo::into_connection_info(url).ok()?.addr() {
        redis::ConnectionAddr::TcpTls { insecure, .. } => Some((true, *insecure)),
        _ => Some((false, false)),
    }
}

/// Checks the TLS side of the store's URLs and reads `redis_ca_file` (already made absolute).
/// `None` when no CA file is given or it cannot be used (recorded).
pub(crate) fn validate(store: &SessionStore, ca_file: Option<&Path>, problems: &mut Problems) -> Option<RedisCa> {
    let (key, urls) = urls(store)?;
    let tls: Vec<(bool, bool)> = urls.iter().filter_map(|url| tls_of(url)).collect();
    if tls.iter().any(|(_, insecure)| *insecure) {
        let reason = "a URL ends in #insecure, which turns the certificate check off: not supported; \
                      give the CA that signs the servers' certificates in session.redis_ca_file";
        problems.add(&format!("session.{key}"), reason);
    }
    let any_tls = tls.iter().any(|(tls, _)| *tls);
    // (The cluster client refuses a mix itself, in its own words.)
    if key == "redis_sentinel_urls" && any_tls && !tls.iter().all(|(tls, _)| *tls) {
        let reason = "mixes redis:// and rediss:// URLs: give all with TLS or none";
        problems.add(&format!("session.{key}"), reason);
    }
    let file = ca_file?;
    if !any_tls {
        let reason = format!("is set but session.{key} has no rediss:// (TLS) URL");
        problems.add("session.redis_ca_file", reason);
        return None;
    }
    if key == "redis_sentinel_urls" && !same_credentials(&urls) {
        let reason = "with redis_ca_file every sentinel URL must carry the same user name and password";
        problems.add("session.redis_sentinel_urls", reason);
    }
    match read(file) {
        Ok(ca) => Some(ca),
        Err(reason) => {
            problems.add("session.redis_ca_file", reason);
            None
        }
    }
}

/// Whether every URL of `urls` carries the same user name and password.
fn same_credentials(urls: &[&str]) -> bool {
    let credentials = |url: &&str| {
        redis::IntoConnectionInfo::into_connection_info(*url).ok().map(|info| {
            let settings = info.redis_settings();
            (
                settings.username().map(str::to_string),
                settings.password().map(str::to_string),
            )
        })
    };
    let mut all = urls.iter().filter_map(credentials);
    let first = all.next();
    all.all(|other| Some(other) == first)
}

/// Reads `file` and checks that it holds PEM certificates the Redis client takes as roots.
fn read(file: &Path) -> Result<RedisCa, String> {
    let pem = std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let blocks = pem::parse_many(&pem).map_err(|e| format!("{} is not PEM: {e}", file.display()))?;
    if !blocks.iter().any(|block| block.tag() == "CERTIFICATE") {
        return Err(format!("{} holds no PEM certificate", file.display()));
    }
    let ca = RedisCa {
        file: file.to_path_buf(),
        pem,
    };
    redis::Client::build_with_tls("rediss://127.0.0.1/", ca.certificates())
        .map_err(|e| format!("{} holds no usable certificate: {e}", file.display()))?;
    Ok(ca)
}

#[cfg(test)]
mod tests {
    use super::super::Config;

    /// A self-signed CA certificate (P-256), only parsed here.
    const CA: &str = "-----BEGIN CERTIFICATE-----
MIIBgzCCASmgAwIBAgIUJ0e0SG7j3nExxaNWGYUvwBZV5/QwCgYIKoZIzj0EAwIw
FzEVMBMGA1UEAwwMdW5pdC10ZXN0LWNhMB4XDTI2MTEyOTA2MTYwOFoXDTM2MTEy
NjA2MTYwOFowFzEVMBMGA1UEAwwMdW5pdC10ZXN0LWNhMFkwEwYHKoZIzj0CAQYI
KoZIzj0DAQcDQgAE0CFzo634Q8r+XAiHapNfujoe6DgB8EbW/Y/4P8vHaX2PcX1/
YRCgwYwt5W4t+vm8BGRSfsEnh2OLxQc8i3TBgKNTMFEwHQYDVR0OBBYEFHPWn9bS
VuER2IRL0EGnoWIIumWuMB8GA1UdIwQYMBaAFHPWn9bSVuER2IRL0EGnoWIIumWu
MA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIhAJX0odZyiNEYZlbK
mL1hpuo8EA32p8ff8BwALti5BBTJAiAVdNu2U/2Vld0UPEwDrhBavns12lgmyLZM
DRQkNyhMsw==
-----END CERTIFICATE-----
";

    /// Loads `[session] store = "redis"` plus `session`, with `ca` written to `ca.pem` beside
    /// the config (a relative `redis_ca_file = "ca.pem"` finds it).
    fn load(session: &str, ca: &str) -> (tempfile::TempDir, Result<Config, String>) {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("ca.pem"), ca).expect("ca");
        let text = format!("[session]\nstore = \"redis\"\n{session}\n");
        std::fs::write(dir.path().join("portcullis.toml"), text).expect("config");
        let loaded = Config::load(&dir.path().join("portcullis.toml")).map_err(|e| e.to_string());
        (dir, loaded)
    }

    #[test]
    fn a_ca_file_is_read_relative_to_the_config_for_each_store_form() {
        for urls in [
            "redis_url = \"rediss://:pw@redis.example.com:6380/0\"",
            "redis_cluster_urls = [\"rediss://10.0.0.1:6379\", \"rediss://10.0.0.2:6379\"]",
            "redis_sentinel_urls = [\"rediss://:pw@10.0.0.1:26379\", \"rediss://:pw@10.0.0.2:26379\"]\nredis_sentinel_master = \"m\"",
        ] {
            let (dir, loaded) = load(&format!("{urls}\nredis_ca_file = \"ca.pem\""), CA);
            let ca = loaded.expect(urls).session.redis_ca.expect("the CA");
            assert_eq!(ca.file, dir.path().join("ca.pem"));
            assert_eq!(ca.pem, CA.as_bytes());
            assert_eq!(format!("{ca:?}"), format!("RedisCa({})", ca.file.display()));
        }
        // Without the key the system's roots are used: nothing to read.
        let (_dir, loaded) = load("redis_url = \"rediss://redis.example.com/0\"", CA);
        assert_eq!(loaded.expect("valid").session.redis_ca, None);
    }

    #[test]
    fn what_cannot_work_is_refused_naming_the_key() {
        let tls = "redis_url = \"rediss://redis.example.com/0\"\nredis_ca_file = \"ca.pem\"";
        let cases = [
            (
                tls.to_string(),
                "not a certificate\n",
                "session.redis_ca_file",
                "holds no PEM certificate",
            ),
            (
                tls.to_string(),
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                "session.redis_ca_file",
                "holds no usable certificate",
            ),
            (
                tls.replace("ca.pem", "missing.pem"),
                CA,
                "session.redis_ca_file",
                "cannot read",
            ),
            (
                "redis_url = \"redis://redis.example.com/0\"\nredis_ca_file = \"ca.pem\"".into(),
                CA,
                "session.redis_ca_file",
                "has no rediss:// (TLS) URL",
            ),
            (
                "redis_url = \"rediss://:secret-pw@redis.example.com/0#insecure\"".into(),
                CA,
                "session.redis_url",
                "#insecure",
            ),
            (
                "redis_cluster_urls = [\"rediss://10.0.0.1:6379\", \"redis://10.0.0.2:6379\"]".into(),
                CA,
                "session.redis_cluster_urls",
                "different TLS modes",
            ),
            (
                "redis_sentinel_urls = [\"rediss://10.0.0.1:26379\", \"redis://10.0.0.2:26379\"]\n\
                 redis_sentinel_master = \"m\""
                    .into(),
                CA,
                "session.redis_sentinel_urls",
                "mixes redis:// and rediss://",
            ),
            (
                "redis_sentinel_urls = [\"rediss://:a@10.0.0.1:26379\", \"rediss://:b@10.0.0.2:26379\"]\n\
                 redis_sentinel_master = \"m\"\nredis_ca_file = \"ca.pem\""
                    .into(),
                CA,
                "session.redis_sentinel_urls",
                "the same user name and password",
            ),
        ];
        for (session, ca, key, reason) in cases {
            let (_dir, loaded) = load(&session, ca);
            let error = loaded.expect_err(&session);
            assert!(error.contains(key) && error.contains(reason), "{session}: {error}");
            assert!(!error.contains("secret-pw"), "{error}");
        }
    }
}
