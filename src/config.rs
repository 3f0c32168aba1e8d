//! Configuration: the typed sections of `portcullis.toml`, how they are loaded (defaults, then the
//! TOML file, then `PORTCULLIS_<SECTION>__<KEY>` environment overrides) and the one validation pass
//! that refuses a bad configuration before anything starts.

mod size;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use ipnet::IpNet;
use serde::{Deserialize, Deserializer};

pub use size::{byte_size, parse_byte_size};

/// The whole configuration, one field per `[section]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[server]`: where to listen and whom to trust.
    #[serde(default)]
    pub server: ServerConfig,
    /// `[[issuers]]`: the trusted token issuers.
    #[serde(default)]
    pub issuers: Vec<IssuerConfig>,
    /// `[login]`: the optional OIDC browser login.
    #[serde(default)]
    pub login: Option<LoginConfig>,
    /// `[session]`: the browser session cookie.
    #[serde(default)]
    pub session: SessionConfig,
    /// `[headers]`: names of the identity headers sent on an allowed answer.
    #[serde(default)]
    pub headers: HeadersConfig,
    /// `[rules]`: where the route rules live and what happens when none matches.
    #[serde(default)]
    pub rules: RulesConfig,
    /// The file the configuration was read from, for messages and relative paths.
    #[serde(skip)]
    pub source: PathBuf,
}

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
        }
    }
}

/// One `[[issuers]]` block: a trusted token issuer and how to read its tokens.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerConfig {
    /// Short name used by rules (`require.issuers`) and `[login].issuer`.
    pub name: String,
    /// Must equal the token's `iss` claim exactly.
    pub issuer: String,
    /// Where the keys are; when neither this nor `jwks_file` is set, from discovery.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// Static keys read from a file: no fetching.
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
    /// The token's `aud` must contain one of these; empty means not checked.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Allowed signature algorithms.
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<Algorithm>,
    /// Claim holding the user name.
    #[serde(default = "default_user_claim")]
    pub user_claim: String,
    /// Claim holding the e-mail address.
    #[serde(default = "default_email_claim")]
    pub email_claim: String,
    /// Claim holding the groups (array, or space/comma separated string; dotted paths allowed).
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    /// Claim holding the preferred user name.
    #[serde(default = "default_preferred_username_claim")]
    pub preferred_username_claim: String,
    /// Clock skew allowed on `exp` and `nbf`.
    #[serde(default = "default_leeway", deserialize_with = "duration")]
    pub leeway: Duration,
}

/// A signature algorithm an issuer may use. Only asymmetric algorithms exist here, so HMAC
/// confusion with a public key cannot even be configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA P-256 with SHA-256.
    ES256,
    /// ECDSA P-384 with SHA-384.
    ES384,
    /// Ed25519.
    EdDSA,
}

fn default_algorithms() -> Vec<Algorithm> {
    vec![Algorithm::RS256, Algorithm::ES256]
}
fn default_user_claim() -> String {
    "sub".into()
}
fn default_email_claim() -> String {
    "email".into()
}
fn default_groups_claim() -> String {
    "groups".into()
}
fn default_preferred_username_claim() -> String {
    "preferred_username".into()
}
fn default_leeway() -> Duration {
    Duration::from_secs(30)
}

/// `[login]`: browser login through OIDC authorization code + PKCE.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginConfig {
    /// Name of the `[[issuers]]` block that is the login provider.
    pub issuer: String,
    /// OAuth client id.
    pub client_id: String,
    /// OAuth client secret (or `client_secret_file`).
    #[serde(default)]
    pub client_secret: Option<Secret>,
    /// File holding the client secret.
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// The callback URL registered at the provider; its origin is where browsers reach Portcullis.
    pub redirect_url: url::Url,
    /// Scopes asked for.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// `rd=` targets must be on these hosts (a leading dot: the domain and its subdomains).
    #[serde(default)]
    pub allowed_redirect_domains: Vec<String>,
}

fn default_scopes() -> Vec<String> {
    ["openid", "email", "profile"].map(String::from).to_vec()
}

/// `[session]`: the browser session.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// Cookie name (chunks get `_0`, `_1`, ... appended).
    pub cookie_name: String,
    /// One secret (base64 of 32 bytes).
    pub secret: Option<Secret>,
    /// File holding the secret.
    pub secret_file: Option<PathBuf>,
    /// Several secrets for rotation: the first encrypts, all decrypt.
    pub secrets: Vec<Secret>,
    /// File holding several secrets, one per line (the first encrypts).
    pub secrets_file: Option<PathBuf>,
    /// Cookie `Domain`.
    pub domain: Option<String>,
    /// Cookie `Secure`.
    pub secure: bool,
    /// Cookie `SameSite`.
    pub same_site: SameSite,
    /// Session lifetime.
    #[serde(deserialize_with = "duration")]
    pub ttl: Duration,
    /// Sessions older than this are renewed with their refresh token.
    #[serde(deserialize_with = "duration")]
    pub refresh: Duration,
    /// Where sessions live.
    pub store: SessionStore,
    /// Redis URL for `store = "redis"` (it may hold a password).
    pub redis_url: Option<String>,
    /// File holding the Redis URL.
    pub redis_url_file: Option<PathBuf>,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            cookie_name: "_portcullis".into(),
            secret: None,
            secret_file: None,
            secrets: Vec::new(),
            secrets_file: None,
            domain: None,
            secure: true,
            same_site: SameSite::Lax,
            ttl: Duration::from_secs(12 * 3600),
            refresh: Duration::from_secs(300),
            store: SessionStore::Cookie,
            redis_url: None,
            redis_url_file: None,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionStore {
    /// The whole session, encrypted, in the cookie.
    Cookie,
    /// A random id in the cookie, the session in Redis.
    Redis,
}

/// `[headers]`: names of the identity headers on an allowed answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeadersConfig {
    /// User header.
    pub user: String,
    /// E-mail header.
    pub email: String,
    /// Groups header (comma-joined).
    pub groups: String,
    /// Preferred user name header.
    pub preferred_username: String,
    /// Also send `X-Auth-Request-Access-Token`.
    pub pass_access_token: bool,
}

impl Default for HeadersConfig {
    fn default() -> Self {
        HeadersConfig {
            user: "X-Auth-Request-User".into(),
            email: "X-Auth-Request-Email".into(),
            groups: "X-Auth-Request-Groups".into(),
            preferred_username: "X-Auth-Request-Preferred-Username".into(),
            pass_access_token: false,
        }
    }
}

/// `[rules]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    /// Files or folders of `*.yaml`, relative to the config file's folder.
    pub paths: Vec<PathBuf>,
    /// What happens when no rule matches.
    pub default: DefaultPolicy,
}

impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig {
            paths: vec![PathBuf::from("rules/")],
            default: DefaultPolicy::Deny,
        }
    }
}

/// The policy applied when no rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DefaultPolicy {
    /// 403.
    Deny,
    /// Any valid credential passes.
    Authenticated,
    /// Everything passes.
    Allow,
}

/// A secret value: never printed by `Debug`.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Deserializes a duration written like `30s`, `5m`, `12h` or `1h 30m`.
pub fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    humantime::parse_duration(&text)
        .map_err(|e| serde::de::Error::custom(format!("`{text}` is not a duration like 30s, 5m or 12h: {e}")))
}

/// A configuration that cannot be used; the message names the key and the file.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl Config {
    /// Where the configuration is read from: the `--config` argument, else `$PORTCULLIS_CONFIG`,
    /// else `./portcullis.toml`.
    pub fn locate(argument: Option<PathBuf>) -> PathBuf {
        argument
            .or_else(|| std::env::var_os("PORTCULLIS_CONFIG").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("portcullis.toml"))
    }

    /// Loads `file`, applies the environment overrides, resolves `*_file` secrets and relative
    /// paths, and validates the result.
    pub fn load(file: &Path) -> Result<Config, ConfigError> {
        if !file.is_file() {
            return Err(ConfigError(format!("config file {} not found", file.display())));
        }
        // Only `SECTION__KEY` variables are configuration: PORTCULLIS_CONFIG, PORTCULLIS_LOG_FORMAT
        // and the PORTCULLIS_PORT family that Kubernetes service links inject are not.
        let env = Env::prefixed("PORTCULLIS_")
            .filter(|key| key.as_str().contains("__"))
            .split("__");
        let figment = Figment::new().merge(Toml::file_exact(file)).merge(env);
        let mut config: Config = figment.extract().map_err(|e| describe_figment_error(e, file))?;
        config.source = file.to_path_buf();
        config.resolve_relative_paths();
        config.validate()?;
        Ok(config)
    }

    fn resolve_relative_paths(&mut self) {
        let base = self.source.parent().map(Path::to_path_buf).unwrap_or_default();
        let resolve = |path: &mut PathBuf| {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        };
        self.rules.paths.iter_mut().for_each(resolve);
        for issuer in &mut self.issuers {
            issuer.jwks_file.as_mut().map(resolve);
        }
        if let Some(login) = &mut self.login {
            login.client_secret_file.as_mut().map(resolve);
        }
        self.session.secret_file.as_mut().map(resolve);
        self.session.secrets_file.as_mut().map(resolve);
        self.session.redis_url_file.as_mut().map(resolve);
    }

    fn error(&self, key: &str, reason: impl fmt::Display) -> ConfigError {
        ConfigError(format!("{}: key `{key}`: {reason}", self.source.display()))
    }

    /// The single validation pass: everything that parses but cannot work is refused here.
    fn validate(&mut self) -> Result<(), ConfigError> {
        self.validate_server()?;
        self.validate_issuers()?;
        self.validate_headers()?;
        if self.rules.paths.is_empty() {
            return Err(self.error("rules.paths", "at least one file or folder is needed"));
        }
        self.validate_login()?;
        self.validate_session()?;
        Ok(())
    }

    fn validate_server(&self) -> Result<(), ConfigError> {
        let server = &self.server;
        if server.header_read_timeout.is_zero() {
            return Err(self.error("server.header_read_timeout", "must be longer than 0s"));
        }
        if server.header_read_timeout > MAX_HEADER_READ_TIMEOUT {
            return Err(self.error("server.header_read_timeout", "must be at most 1h"));
        }
        if server.max_connections == 0 {
            return Err(self.error("server.max_connections", "must be at least 1"));
        }
        if server.token_cache_memory == 0 {
            return Err(self.error("server.token_cache_memory", "must be more than 0B"));
        }
        if server
            .grpc_listen
            .is_some_and(|grpc| grpc == server.listen && grpc.port() != 0)
        {
            return Err(self.error("server.grpc_listen", "must differ from server.listen"));
        }
        Ok(())
    }

    fn validate_issuers(&self) -> Result<(), ConfigError> {
        let mut names = std::collections::HashSet::new();
        let mut urls = std::collections::HashSet::new();
        for (index, issuer) in self.issuers.iter().enumerate() {
            let key = |field: &str| format!("issuers[{index}].{field}");
            if issuer.name.trim().is_empty() {
                return Err(self.error(&key("name"), "must not be empty"));
            }
            if !names.insert(issuer.name.as_str()) {
                return Err(self.error(&key("name"), format!("`{}` is used twice", issuer.name)));
            }
            if issuer.issuer.is_empty() {
                return Err(self.error(&key("issuer"), "must not be empty"));
            }
            if !urls.insert(issuer.issuer.as_str()) {
                return Err(self.error(&key("issuer"), format!("`{}` is configured twice", issuer.issuer)));
            }
            if issuer.algorithms.is_empty() {
                return Err(self.error(&key("algorithms"), "must allow at least one algorithm"));
            }
            if issuer.jwks_uri.is_some() && issuer.jwks_file.is_some() {
                return Err(self.error(&key("jwks_file"), "set either jwks_uri or jwks_file"));
            }
            if let Some(uri) = &issuer.jwks_uri {
                check_http_url(uri).map_err(|e| self.error(&key("jwks_uri"), e))?;
            }
            if issuer.jwks_uri.is_none() && issuer.jwks_file.is_none() {
                check_http_url(&issuer.issuer).map_err(|e| {
                    self.error(
                        &key("issuer"),
                        format!("{e} (needed for discovery without jwks_uri or jwks_file)"),
                    )
                })?;
            }
            if let Some(file) = &issuer.jwks_file
                && !file.is_file()
            {
                return Err(self.error(&key("jwks_file"), format!("{} not found", file.display())));
            }
        }
        Ok(())
    }

    fn validate_headers(&self) -> Result<(), ConfigError> {
        let headers = &self.headers;
        for (key, name) in [
            ("headers.user", &headers.user),
            ("headers.email", &headers.email),
            ("headers.groups", &headers.groups),
            ("headers.preferred_username", &headers.preferred_username),
        ] {
            axum::http::HeaderName::try_from(name.as_str())
                .map_err(|_| self.error(key, format!("`{name}` is not a valid header name")))?;
        }
        Ok(())
    }

    fn validate_session(&mut self) -> Result<(), ConfigError> {
        let session = &self.session;
        if session.cookie_name.is_empty()
            || !session
                .cookie_name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
        {
            return Err(self.error("session.cookie_name", "use letters, digits, `_`, `-` and `.` only"));
        }
        if session.ttl.is_zero() {
            return Err(self.error("session.ttl", "must be longer than 0s"));
        }
        if session.same_site == SameSite::None && !session.secure {
            return Err(self.error("session.same_site", "`none` needs `secure = true`"));
        }
        if session.redis_url.is_some() && session.redis_url_file.is_some() {
            return Err(self.error("session.redis_url_file", "set either redis_url or redis_url_file"));
        }
        if let Some(file) = self.session.redis_url_file.clone() {
            let url = read_secret_file(&file).map_err(|e| self.error("session.redis_url_file", e))?;
            self.session.redis_url = Some(url.0);
        }
        let session = &self.session;
        if session.store == SessionStore::Redis && session.redis_url.is_none() {
            return Err(self.error("session.redis_url", "required when store = \"redis\""));
        }
        let sources = [
            session.secret.is_some(),
            session.secret_file.is_some(),
            !session.secrets.is_empty(),
            session.secrets_file.is_some(),
        ];
        if sources.iter().filter(|set| **set).count() > 1 {
            let reason = "set only one of secret, secret_file, secrets and secrets_file";
            return Err(self.error("session.secret", reason));
        }
        if let Some(file) = self.session.secrets_file.clone() {
            let text = read_secret_file(&file).map_err(|e| self.error("session.secrets_file", e))?;
            let lines = text.0.lines().map(str::trim).filter(|line| !line.is_empty());
            self.session.secrets = lines.map(|line| Secret(line.into())).collect();
        }
        if let Some(file) = self.session.secret_file.clone() {
            let secret = read_secret_file(&file).map_err(|e| self.error("session.secret_file", e))?;
            self.session.secret = Some(secret);
        }
        if let Some(secret) = self.session.secret.take() {
            self.session.secrets = vec![secret];
        }
        for (index, secret) in self.session.secrets.iter().enumerate() {
            decode_session_secret(secret).map_err(|e| self.error(&format!("session.secrets[{index}]"), e))?;
        }
        if self.login.is_some() && self.session.secrets.is_empty() {
            return Err(self.error(
                "session.secret_file",
                "a session secret is required with [login]; make one with `portcullis secret`",
            ));
        }
        Ok(())
    }

    fn validate_login(&mut self) -> Result<(), ConfigError> {
        let Some(login) = self.login.clone() else { return Ok(()) };
        if !self.issuers.iter().any(|issuer| issuer.name == login.issuer) {
            return Err(self.error(
                "login.issuer",
                format!("no [[issuers]] block is named `{}`", login.issuer),
            ));
        }
        if login.client_id.is_empty() {
            return Err(self.error("login.client_id", "must not be empty"));
        }
        check_http_url(login.redirect_url.as_str()).map_err(|e| self.error("login.redirect_url", e))?;
        if !login.scopes.iter().any(|scope| scope == "openid") {
            return Err(self.error("login.scopes", "must contain `openid`"));
        }
        for domain in &login.allowed_redirect_domains {
            let bare = domain.strip_prefix('.').unwrap_or(domain);
            if bare.is_empty() || bare.contains(['/', ':', '@', '*', ' ']) {
                return Err(self.error("login.allowed_redirect_domains", format!("`{domain}` is not a domain")));
            }
        }
        let secret = match (&login.client_secret, &login.client_secret_file) {
            (Some(_), Some(_)) => {
                return Err(self.error("login.client_secret", "set either client_secret or client_secret_file"));
            }
            (Some(secret), None) => secret.clone(),
            (None, Some(file)) => read_secret_file(file).map_err(|e| self.error("login.client_secret_file", e))?,
            (None, None) => return Err(self.error("login.client_secret_file", "a client secret is required")),
        };
        if let Some(login) = &mut self.login {
            login.client_secret = Some(secret);
        }
        Ok(())
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

fn read_secret_file(file: &Path) -> Result<Secret, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let secret = text.trim().to_string();
    if secret.is_empty() {
        return Err(format!("{} is empty", file.display()));
    }
    Ok(Secret(secret))
}

fn check_http_url(text: &str) -> Result<(), String> {
    let url = url::Url::parse(text).map_err(|e| format!("`{text}` is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!("`{text}` is not an http(s) URL"));
    }
    Ok(())
}

/// Turns figment's error into one line that names the key and where its value came from.
fn describe_figment_error(error: figment::Error, file: &Path) -> ConfigError {
    let messages: Vec<String> = error
        .into_iter()
        .map(|e| {
            let key = if e.path.is_empty() {
                "(top level)".to_string()
            } else {
                e.path.join(".")
            };
            let origin = match &e.metadata {
                Some(meta) if meta.name.contains("environment") => {
                    format!("environment variable PORTCULLIS_{}", e.path.join("__").to_uppercase())
                }
                _ => file.display().to_string(),
            };
            format!("{origin}: key `{key}`: {}", e.kind)
        })
        .collect();
    ConfigError(messages.join("\n"))
}
