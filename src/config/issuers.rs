//! `[[issuers]]`: the trusted token issuers, how their keys are found and how their claims read.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::introspection::IntrospectionConfig;
use super::problems::Problems;
use super::values::{check_http_url, duration, resolve_path};

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
    /// `[issuers.introspection]`: opaque access tokens checked at the issuer (RFC 7662).
    #[serde(default)]
    pub introspection: Option<IntrospectionConfig>,
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

impl IssuerConfig {
    /// Makes a relative `jwks_file` relative to the config file's folder `base`.
    pub(crate) fn resolve_paths(&mut self, base: &Path) {
        if let Some(file) = &mut self.jwks_file {
            resolve_path(base, file);
        }
        if let Some(introspection) = &mut self.introspection {
            introspection.resolve_paths(base);
        }
    }
}

/// Records what parses but cannot work in the `[[issuers]]` blocks: empty or repeated names and
/// issuers, no algorithm, unusable key sources.
pub(crate) fn validate(issuers: &[IssuerConfig], problems: &mut Problems) {
    let mut names = HashSet::new();
    let mut urls = HashSet::new();
    for (index, issuer) in issuers.iter().enumerate() {
        let key = |field: &str| format!("issuers[{index}].{field}");
        if issuer.name.trim().is_empty() {
            problems.add(&key("name"), "must not be empty");
        } else if !names.insert(issuer.name.as_str()) {
            problems.add(&key("name"), format!("`{}` is used twice", issuer.name));
        }
        if issuer.issuer.is_empty() {
            problems.add(&key("issuer"), "must not be empty");
        } else if !urls.insert(issuer.issuer.as_str()) {
            problems.add(&key("issuer"), format!("`{}` is configured twice", issuer.issuer));
        }
        if issuer.algorithms.is_empty() {
            problems.add(&key("algorithms"), "must allow at least one algorithm");
        }
        validate_key_source(issuer, &key, problems);
    }
}

/// Exactly one way to the keys: `jwks_uri`, `jwks_file`, or discovery at the issuer URL.
fn validate_key_source(issuer: &IssuerConfig, key: &impl Fn(&str) -> String, problems: &mut Problems) {
    match (&issuer.jwks_uri, &issuer.jwks_file) {
        (Some(_), Some(_)) => problems.add(&key("jwks_file"), "set either jwks_uri or jwks_file"),
        (Some(uri), None) => {
            if let Err(e) = check_http_url(uri) {
                problems.add(&key("jwks_uri"), e);
            }
        }
        (None, Some(file)) => {
            if !file.is_file() {
                problems.add(&key("jwks_file"), format!("{} not found", file.display()));
            } else if let Err(reason) = read_key_set(file, &issuer.algorithms) {
                problems.add(&key("jwks_file"), format!("{}: {reason}", file.display()));
            }
        }
        (None, None) if !issuer.issuer.is_empty() => {
            if let Err(e) = check_http_url(&issuer.issuer) {
                let reason = format!("{e} (needed for discovery without jwks_uri or jwks_file)");
                problems.add(&key("issuer"), reason);
            }
        }
        // An empty issuer is reported above.
        (None, None) => {}
    }
}

/// Reads a `jwks_file` as `serve` will: a JWK set with at least one key this issuer can use.
fn read_key_set(file: &Path, algorithms: &[Algorithm]) -> Result<(), String> {
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read: {e}"))?;
    crate::authn::jwks::KeySet::parse(&bytes, algorithms).map(|_| ())
}
