//! `[session]`: the browser session cookie, its keys and where sessions live. The file gives the
//! secrets in one of four forms and the Redis URL inline or in a file; validation resolves them
//! once into [`SessionKeys`] and a [`SessionStore`] that the session service takes as they are.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

mod redis;

use super::problems::Problems;
use super::redis_tls::RedisCa;
use super::values::{Secret, duration, read_secret_file, resolve_path};

/// `[session]`, validated: secrets decoded, the store resolved with its URL.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Cookie name (chunks get `_0`, `_1`, ... appended).
    pub cookie_name: String,
    /// The decoded secrets: the first seals, all open. Empty without `[login]` and a secret.
    pub keys: SessionKeys,
    /// Cookie `Domain`.
    pub domain: Option<String>,
    /// Cookie `Secure`.
    pub secure: bool,
    /// Cookie `SameSite`.
    pub same_site: SameSite,
    /// Session lifetime.
    pub ttl: Duration,
    /// Sessions older than this are renewed with their refresh token.
    pub refresh: Duration,
    /// Where sessions live.
    pub store: SessionStore,
    /// `redis_ca_file`: the CA of the Redis servers' certificates (`rediss://`); `None`: the
    /// system's roots.
    pub redis_ca: Option<RedisCa>,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            cookie_name: "_portcullis".into(),
            keys: SessionKeys::default(),
            domain: None,
            secure: true,
            same_site: SameSite::Lax,
            ttl: Duration::from_secs(12 * 3600),
            refresh: Duration::from_secs(300),
            store: SessionStore::Cookie,
            redis_ca: None,
        }
    }
}

impl SessionConfig {
    /// The Redis URL of `store = "redis"` with `redis_url`; `None` for the cookie store and for
    /// Redis Cluster or Sentinel.
    pub fn redis_url(&self) -> Option<&str> {
        match &self.store {
            SessionStore::Redis { url } => Some(&url.0),
            _ => None,
        }
    }
}

/// Cookie `SameSite` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SameSite {
    /// `SameSite=Lax`.
    Lax,
    /// `SameSite=Strict`.
    Strict,
    /// `SameSite=None` (requires `secure`).
    None,
}

/// Where sessions are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionStore {
    /// The whole session, encrypted, in the cookie.
    Cookie,
    /// A random id in the cookie, the session in Redis.
    Redis {
        /// The Redis URL (it may hold a password).
        url: Secret,
    },
    /// The session in a Redis Cluster (`redis_cluster_urls`).
    RedisCluster {
        /// Some of the cluster's nodes (the rest are discovered); they may hold a password.
        urls: Vec<Secret>,
    },
    /// The session on the master that Redis Sentinel names (`redis_sentinel_urls`).
    RedisSentinel {
        /// The sentinels (they may hold a password, used for the master too).
        urls: Vec<Secret>,
        /// The master name the sentinels monitor (`redis_sentinel_master`).
        master: String,
    },
}

/// The `store` key: which [`SessionStore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum StoreKind {
    Cookie,
    Redis,
}

/// The session secrets, decoded: the first seals, all open. Never printed.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SessionKeys(Vec<Vec<u8>>);

impl SessionKeys {
    /// Decodes `secrets` (see [`decode_session_secret`]); the error names the first bad one by
    /// its index.
    pub fn decode(secrets: &[Secret]) -> Result<SessionKeys, String> {
        let decode = |(index, secret)| decode_session_secret(secret).map_err(|e| format!("secrets[{index}] {e}"));
        secrets
            .iter()
            .enumerate()
            .map(decode)
            .collect::<Result<_, _>>()
            .map(SessionKeys)
    }

    /// The decoded secrets, the sealing one first.
    pub fn secrets(&self) -> &[Vec<u8>] {
        &self.0
    }

    /// How many secrets there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is none (no `[login]`, so no sessions).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionKeys({} × ***)", self.0.len())
    }
}

/// Decodes a session secret: base64 (standard or URL-safe) of at least 32 bytes.
pub fn decode_session_secret(secret: &Secret) -> Result<Vec<u8>, String> {
    use base64::Engine;
    let text = secret.0.trim();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
        .map_err(|_| "is not base64; make one with `portcullis secret`".to_string())?;
    if bytes.len() < 32 {
        return Err(format!(
            "decodes to {} bytes, needs 32; make one with `portcullis secret`",
            bytes.len()
        ));
    }
    Ok(bytes)
}

/// `[session]` as written in the file and the environment.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct SessionSection {
    cookie_name: String,
    /// One secret (base64 of 32 bytes).
    secret: Option<Secret>,
    /// File holding the secret.
    secret_file: Option<PathBuf>,
    /// Several secrets for rotation: the first encrypts, all decrypt.
    secrets: Vec<Secret>,
    /// File holding several secrets, one per line (the first encrypts).
    secrets_file: Option<PathBuf>,
    domain: Option<String>,
    secure: bool,
    same_site: SameSite,
    #[serde(deserialize_with = "duration")]
    ttl: Duration,
    #[serde(deserialize_with = "duration")]
    refresh: Duration,
    store: StoreKind,
    redis_url: Option<Secret>,
    redis_url_file: Option<PathBuf>,
    /// Redis Cluster: some of its nodes ...
    redis_cluster_urls: Vec<Secret>,
    /// ... or a file of them, one per line (the URLs may hold a password).
    redis_cluster_urls_file: Option<PathBuf>,
    /// Redis Sentinel: the sentinels (or a file of them, one per line) ...
    redis_sentinel_urls: Vec<Secret>,
    redis_sentinel_urls_file: Option<PathBuf>,
    /// ... and the master name they monitor.
    redis_sentinel_master: Option<String>,
    /// The CA that signs the Redis servers' certificates (`rediss://`), when not a system root.
    redis_ca_file: Option<PathBuf>,
}

impl Default for SessionSection {
    fn default() -> Self {
        let defaults = SessionConfig::default();
        SessionSection {
            cookie_name: defaults.cookie_name,
            secret: None,
            secret_file: None,
            secrets: Vec::new(),
            secrets_file: None,
            domain: defaults.domain,
            secure: defaults.secure,
            same_site: defaults.same_site,
            ttl: defaults.ttl,
            refresh: defaults.refresh,
            store: StoreKind::Cookie,
            redis_url: None,
            redis_url_file: None,
            redis_cluster_urls: Vec::new(),
            redis_cluster_urls_file: None,
            redis_sentinel_urls: Vec::new(),
            redis_sentinel_urls_file: None,
            redis_sentinel_master: None,
            redis_ca_file: None,
        }
    }
}

impl SessionSection {
    /// Makes the relative `*_file` paths relative to the config file's folder `base`.
    pub(crate) fn resolve_paths(&mut self, base: &Path) {
        let files = [
            &mut self.secret_file,
            &mut self.secrets_file,
            &mut self.redis_url_file,
            &mut self.redis_cluster_urls_file,
            &mut self.redis_sentinel_urls_file,
            &mut self.redis_ca_file,
        ];
        files.into_iter().flatten().for_each(|file| resolve_path(base, file));
    }

    /// Reads the `*_file` secrets, decodes the session secrets and records what cannot work;
    /// `with_login`: a session secret is required.
    pub(crate) fn validate(self, with_login: bool, problems: &mut Problems) -> SessionConfig {
        let name_is_valid = !self.cookie_name.is_empty()
            && self
                .cookie_name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
        if !name_is_valid {
            problems.add("session.cookie_name", "use letters, digits, `_`, `-` and `.` only");
        }
        if self.ttl.is_zero() {
            problems.add("session.ttl", "must be longer than 0s");
        }
        if self.same_site == SameSite::None && !self.secure {
            problems.add("session.same_site", "`none` needs `secure = true`");
        }
        let store = self.store(problems);
        SessionConfig {
            redis_ca: super::redis_tls::validate(&store, self.redis_ca_file.as_deref(), problems),
            store,
            keys: self.keys(with_login, problems),
            cookie_name: self.cookie_name,
            domain: self.domain,
            secure: self.secure,
            same_site: self.same_site,
            ttl: self.ttl,
            refresh: self.refresh,
        }
    }

    /// The secrets from whichever one of the four keys gives them, decoded.
    fn keys(&self, with_login: bool, problems: &mut Problems) -> SessionKeys {
        let Some(secrets) = self.secrets(problems) else {
            return SessionKeys::default();
        };
        if with_login && secrets.is_empty() {
            let reason = "a session secret is required with [login]; make one with `portcullis secret`";
            problems.add("session.secret_file", reason);
        }
        let mut keys = Vec::new();
        for (index, secret) in secrets.iter().enumerate() {
            match decode_session_secret(secret) {
                Ok(key) => keys.push(key),
                Err(e) => problems.add(&format!("session.secrets[{index}]"), e),
            }
        }
        SessionKeys(keys)
    }

    /// The secrets as given (the sealing one first), files read; `None` when they cannot be
    /// had (recorded).
    fn secrets(&self, problems: &mut Problems) -> Option<Vec<Secret>> {
        let given = [
            self.secret.is_some(),
            self.secret_file.is_some(),
            !self.secrets.is_empty(),
            self.secrets_file.is_some(),
        ];
        if given.iter().filter(|set| **set).count() > 1 {
            let reason = "set only one of secret, secret_file, secrets and secrets_file";
            problems.add("session.secret", reason);
            return None;
        }
        if let Some(file) = &self.secrets_file {
            let text = read_secret_file(file)
                .map_err(|e| problems.add("session.secrets_file", e))
                .ok()?;
            let lines = text.0.lines().map(str::trim).filter(|line| !line.is_empty());
            return Some(lines.map(|line| Secret(line.into())).collect());
        }
        if let Some(file) = &self.secret_file {
            let secret = read_secret_file(file)
                .map_err(|e| problems.add("session.secret_file", e))
                .ok()?;
            return Some(vec![secret]);
        }
        Some(self.secret.iter().chain(&self.secrets).cloned().collect())
    }
}
