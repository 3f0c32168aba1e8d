//! `[issuers.introspection]`: RFC 7662 token introspection for an issuer's opaque access tokens.
//! The client secret is given inline or as a file; validation reads the file once, so the
//! introspection client takes [`IntrospectionConfig::client_secret`] as it is.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::issuers::IssuerConfig;
use super::problems::Problems;
use super::values::{Secret, check_http_url, duration, inline_or_file, resolve_path};

/// One issuer's `[issuers.introspection]` block.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntrospectionConfig {
    /// The introspection endpoint; when absent, the `introspection_endpoint` of the issuer's
    /// discovery document (fetched on first use, kept once found).
    #[serde(default)]
    pub url: Option<String>,
    /// The client Portcullis authenticates as (HTTP Basic, `client_secret_basic`).
    pub client_id: String,
    /// Its secret; after validation it holds the content of `client_secret_file` when that is
    /// the one given.
    #[serde(default)]
    pub client_secret: Option<Secret>,
    /// A file holding the secret.
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// Active answers are cached this long at most, never beyond the token's `exp`.
    #[serde(default = "default_cache_ttl", deserialize_with = "duration")]
    pub cache_ttl: Duration,
    /// Bounds each introspection call (connection and answer).
    #[serde(default = "default_timeout", deserialize_with = "duration")]
    pub timeout: Duration,
}

fn default_cache_ttl() -> Duration {
    Duration::from_secs(60)
}

fn default_timeout() -> Duration {
    Duration::from_secs(2)
}

impl IntrospectionConfig {
    /// Makes a relative `client_secret_file` relative to the config file's folder `base`.
    pub(crate) fn resolve_paths(&mut self, base: &Path) {
        if let Some(file) = &mut self.client_secret_file {
            resolve_path(base, file);
        }
    }
}

/// Records what cannot work in the issuers' introspection blocks and reads their secret files:
/// an empty client id, no secret (or one that cannot be read), a bad URL, a zero timeout.
pub(crate) fn validate(issuers: &mut [IssuerConfig], problems: &mut Problems) {
    for (index, issuer) in issuers.iter_mut().enumerate() {
        let issuer_url = issuer.issuer.clone();
        let Some(block) = &mut issuer.introspection else {
            continue;
        };
        let section = format!("issuers[{index}].introspection");
        let key = |field: &str| format!("{section}.{field}");
        if block.client_id.trim().is_empty() {
            problems.add(&key("client_id"), "must not be empty");
        }
        if block.client_secret.is_none() && block.client_secret_file.is_none() {
            problems.add(
                &key("client_secret_file"),
                "a client secret is required (client_secret or client_secret_file)",
            );
        }
        let file = block.client_secret_file.as_deref();
        block.client_secret = inline_or_file(
            problems,
            (&section, "client_secret"),
            block.client_secret.as_ref(),
            file,
        );
        match &block.url {
            Some(url) => {
                if let Err(e) = check_http_url(url) {
                    problems.add(&key("url"), e);
                }
            }
            None if !issuer_url.is_empty() => {
                if let Err(e) = check_http_url(&issuer_url) {
                    let reason = format!("{e} (needed to discover the introspection endpoint without a url)");
                    problems.add(&format!("issuers[{index}].issuer"), reason);
                }
            }
            None => {}
        }
        if block.timeout.is_zero() {
            problems.add(&key("timeout"), "must be longer than zero");
        }
    }
}
