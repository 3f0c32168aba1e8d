//! `[login]`: the optional OIDC browser login. The file names the provider's `[[issuers]]` block
//! and gives the client secret inline or in a file; validation resolves both once, so the login
//! service takes the issuer and the secret as they are.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::issuers::IssuerConfig;
use super::problems::Problems;
use super::values::{Secret, check_http_url, inline_or_file, resolve_path};

/// `[login]`, validated: browser login through OIDC authorization code + PKCE.
#[derive(Debug, Clone)]
pub struct LoginConfig {
    /// The `[[issuers]]` block that is the login provider (named by the `issuer` key).
    pub issuer: IssuerConfig,
    /// OAuth client id.
    pub client_id: String,
    /// OAuth client secret (from `client_secret` or `client_secret_file`).
    pub client_secret: Secret,
    /// The callback URL registered at the provider; its origin is where browsers reach Portcullis.
    pub redirect_url: url::Url,
    /// Scopes asked for.
    pub scopes: Vec<String>,
    /// `rd=` targets must be on these hosts (a leading dot: the domain and its subdomains).
    pub allowed_redirect_domains: Vec<String>,
}

/// `[login]` as written in the file and the environment.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginSection {
    /// Name of the `[[issuers]]` block that is the login provider.
    issuer: String,
    client_id: String,
    #[serde(default)]
    client_secret: Option<Secret>,
    #[serde(default)]
    client_secret_file: Option<PathBuf>,
    redirect_url: url::Url,
    #[serde(default = "default_scopes")]
    scopes: Vec<String>,
    #[serde(default)]
    allowed_redirect_domains: Vec<String>,
}

fn default_scopes() -> Vec<String> {
    ["openid", "email", "profile"].map(String::from).to_vec()
}

impl LoginSection {
    /// Makes a relative `client_secret_file` relative to the config file's folder `base`.
    pub(crate) fn resolve_paths(&mut self, base: &Path) {
        if let Some(file) = &mut self.client_secret_file {
            resolve_path(base, file);
        }
    }

    /// Resolves the issuer among `issuers` and the client secret, and records what cannot work;
    /// `None` when either cannot be resolved (recorded).
    pub(crate) fn validate(self, issuers: &[IssuerConfig], problems: &mut Problems) -> Option<LoginConfig> {
        let issuer = issuers.iter().find(|issuer| issuer.name == self.issuer);
        if issuer.is_none() {
            let reason = format!("no [[issuers]] block is named `{}`", self.issuer);
            problems.add("login.issuer", reason);
        }
        if self.client_id.is_empty() {
            problems.add("login.client_id", "must not be empty");
        }
        if let Err(e) = check_http_url(self.redirect_url.as_str()) {
            problems.add("login.redirect_url", e);
        }
        if !self.scopes.iter().any(|scope| scope == "openid") {
            problems.add("login.scopes", "must contain `openid`");
        }
        for domain in &self.allowed_redirect_domains {
            let bare = domain.strip_prefix('.').unwrap_or(domain);
            if bare.is_empty() || bare.contains(['/', ':', '@', '*', ' ']) {
                problems.add("login.allowed_redirect_domains", format!("`{domain}` is not a domain"));
            }
        }
        let file = self.client_secret_file.as_deref();
        let client_secret = inline_or_file(problems, ("login", "client_secret"), self.client_secret.as_ref(), file);
        if self.client_secret.is_none() && file.is_none() {
            problems.add("login.client_secret_file", "a client secret is required");
        }
        Some(LoginConfig {
            issuer: issuer?.clone(),
            client_id: self.client_id,
            client_secret: client_secret?,
            redirect_url: self.redirect_url,
            scopes: self.scopes,
            allowed_redirect_domains: self.allowed_redirect_domains,
        })
    }
}
