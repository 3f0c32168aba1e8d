//! Configuration: the typed sections of `portcullis.toml`, how they are loaded (defaults, then the
//! TOML file, then `PORTCULLIS_<SECTION>__<KEY>` environment overrides) and the one validation pass
//! that refuses a bad configuration before anything starts.
//!
//! One file per section, each with its validation beside it. Validation also resolves what the
//! file only names: `*_file` secrets are read, session secrets decoded into [`SessionKeys`], the
//! login's issuer looked up and header names parsed, so the services take a [`Config`] as it is.

mod authorizers;
mod headers;
mod identity_token;
mod introspection;
mod issuers;
mod login;
mod problems;
mod redis_tls;
mod report;
mod rules;
mod server;
mod session;
mod session_checks;
mod size;
mod values;

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::Deserialize;

pub use authorizers::{AuthorizerConfig, AuthorizerKind, read_ca, read_token};
pub use headers::{DEFAULT_HEADER_NAMES, HeadersConfig};
pub use identity_token::IdentityTokenConfig;
pub use introspection::IntrospectionConfig;
pub use issuers::{Algorithm, IssuerConfig};
pub use login::LoginConfig;
pub use redis_tls::RedisCa;
pub use rules::{DefaultPolicy, RulesConfig};
pub use server::{MAX_HEADER_READ_TIMEOUT, ServerConfig};
pub use session::{SameSite, SessionConfig, SessionKeys, SessionStore, decode_session_secret};
pub use session_checks::{RESERVED_NAMES, SessionCheckConfig, check_field_path};
pub use size::{byte_size, parse_byte_size};
pub use values::{Secret, duration};

use problems::Problems;

/// The whole configuration, validated, one field per `[section]`.
#[derive(Debug, Clone)]
pub struct Config {
    /// `[server]`: where to listen and whom to trust.
    pub server: ServerConfig,
    /// `[[issuers]]`: the trusted token issuers.
    pub issuers: Vec<IssuerConfig>,
    /// `[login]`: the optional OIDC browser login.
    pub login: Option<LoginConfig>,
    /// `[session]`: the browser session cookie.
    pub session: SessionConfig,
    /// `[headers]`: names of the identity headers sent on an allowed answer.
    pub headers: HeadersConfig,
    /// `[rules]`: where the route rules live and what happens when none matches.
    pub rules: RulesConfig,
    /// `[[authorizers]]`: remote services rules may ask (`require.authorizer`).
    pub authorizers: Vec<AuthorizerConfig>,
    /// `[[session_checks]]`: sessions held by other services, in config order.
    pub session_checks: Vec<SessionCheckConfig>,
    /// `[identity_token]`: the signed identity for upstreams, its keys loaded.
    pub identity_token: Option<IdentityTokenConfig>,
    /// The file the configuration was read from, for messages and relative paths.
    pub source: PathBuf,
}

/// The configuration as written in the file and the environment, before validation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    server: ServerConfig,
    #[serde(default)]
    issuers: Vec<IssuerConfig>,
    #[serde(default)]
    login: Option<login::LoginSection>,
    #[serde(default)]
    session: session::SessionSection,
    #[serde(default)]
    headers: HeadersConfig,
    #[serde(default)]
    rules: RulesConfig,
    #[serde(default)]
    authorizers: Vec<AuthorizerConfig>,
    #[serde(default)]
    session_checks: Vec<session_checks::SessionCheckSection>,
    #[serde(default)]
    identity_token: Option<identity_token::IdentityTokenSection>,
}

/// A configuration that cannot be used; the message names the key and the file (or the
/// environment variable), one problem a line.
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

    /// Loads `file`, applies the environment overrides, resolves relative paths and `*_file`
    /// secrets, and validates the result, reporting every problem at once.
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
        let mut problems = Problems::new(file, &figment);
        let Some(mut written) = report::extract_reporting::<ConfigFile>(&figment, &mut problems) else {
            return Err(problems.into_error());
        };
        written.resolve_paths(file.parent().unwrap_or(Path::new("")));
        let config = written.validate(file, &mut problems);
        problems.finish(config)
    }
}

impl ConfigFile {
    /// Makes every relative path relative to the config file's folder `base`.
    fn resolve_paths(&mut self, base: &Path) {
        self.rules.resolve_paths(base);
        if let Some(dir) = &mut self.server.pages_dir {
            values::resolve_path(base, dir);
        }
        self.issuers.iter_mut().for_each(|issuer| issuer.resolve_paths(base));
        if let Some(login) = &mut self.login {
            login.resolve_paths(base);
        }
        self.session.resolve_paths(base);
        self.authorizers.iter_mut().for_each(|a| a.resolve_paths(base));
        if let Some(identity_token) = &mut self.identity_token {
            identity_token.resolve_paths(base);
        }
    }

    /// The single validation pass, section by section: everything that parses but cannot work
    /// is recorded in `problems`; what the file only names is resolved.
    fn validate(mut self, file: &Path, problems: &mut Problems) -> Config {
        self.server.validate(problems);
        issuers::validate(&self.issuers, problems);
        introspection::validate(&mut self.issuers, problems);
        self.rules.validate(problems);
        authorizers::validate(&self.authorizers, problems);
        let checks = session_checks::validate(self.session_checks, &self.issuers, problems);
        let with_login = self.login.is_some();
        let login = self.login.and_then(|login| login.validate(&self.issuers, problems));
        let identity_token = self.identity_token.and_then(|section| section.validate(problems));
        Config {
            identity_token,
            session: self.session.validate(with_login, problems),
            login,
            server: self.server,
            issuers: self.issuers,
            headers: self.headers,
            rules: self.rules,
            authorizers: self.authorizers,
            session_checks: checks,
            source: file.to_path_buf(),
        }
    }
}

#[cfg(test)]
mod tests;
