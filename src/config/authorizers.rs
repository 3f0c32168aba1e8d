//! `[[authorizers]]`: remote services a rule's `require.authorizer` asks after the static
//! requirements hold: the Kubernetes authorization API (a SubjectAccessReview, as
//! kube-rbac-proxy and Kyma's authorization proxy ask it) or any HTTP policy service (as
//! Oathkeeper's `remote_json`).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::problems::Problems;
use super::values::{check_http_url, duration, resolve_path};

/// Where a pod's service account token is mounted (and rotated by the kubelet).
pub const IN_CLUSTER_TOKEN_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";
/// Where a pod's cluster CA bundle is mounted.
pub const IN_CLUSTER_CA_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
/// The API server's address inside a cluster.
pub const IN_CLUSTER_URL: &str = "https://kubernetes.default.svc";

/// What kind of service an authorizer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthorizerKind {
    /// The Kubernetes authorization API: POST a `SubjectAccessReview`, `status.allowed` decides.
    SubjectAccessReview,
    /// Any service: POST the identity and the request as JSON; 200 allows, 403 denies.
    Http,
}

impl AuthorizerKind {
    /// The name as written in the config.
    pub fn label(self) -> &'static str {
        match self {
            AuthorizerKind::SubjectAccessReview => "subject_access_review",
            AuthorizerKind::Http => "http",
        }
    }
}

/// One `[[authorizers]]` block.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizerConfig {
    /// The name rules use in `require.authorizer`; unique.
    pub name: String,
    /// `subject_access_review` or `http`.
    pub kind: AuthorizerKind,
    /// The API server (subject access review; default `https://kubernetes.default.svc`) or the
    /// policy service's URL (http; required).
    #[serde(default)]
    pub url: Option<String>,
    /// A bearer token file sent as `Authorization: Bearer`, re-read when it changes (the
    /// kubelet rotates service account tokens). Subject access review default: the pod's
    /// service account token, when mounted; else no token is sent.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// PEM certificates: the only roots TLS to `url` is verified against. Subject access review
    /// default: the pod's cluster CA, when mounted; else the system's roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// How long allowed and denied answers are kept (errors never are).
    #[serde(default = "default_cache_ttl", deserialize_with = "duration")]
    pub cache_ttl: Duration,
    /// Bounds each call, connection included.
    #[serde(default = "default_timeout", deserialize_with = "duration")]
    pub timeout: Duration,
}

fn default_cache_ttl() -> Duration {
    Duration::from_secs(30)
}
fn default_timeout() -> Duration {
    Duration::from_secs(2)
}

impl AuthorizerConfig {
    /// Fills what a subject access review defaults to (the in-cluster URL, token and CA) and
    /// makes relative files relative to the config file's folder `base`.
    pub(crate) fn resolve_paths(&mut self, base: &Path) {
        if self.kind == AuthorizerKind::SubjectAccessReview {
            self.url.get_or_insert_with(|| IN_CLUSTER_URL.into());
            // The pod's files, when it has them (outside a cluster, name your own).
            for (file, default) in [
                (&mut self.token_file, IN_CLUSTER_TOKEN_FILE),
                (&mut self.ca_file, IN_CLUSTER_CA_FILE),
            ] {
                if file.is_none() && Path::new(default).is_file() {
                    *file = Some(default.into());
                }
            }
        }
        for file in [&mut self.token_file, &mut self.ca_file].into_iter().flatten() {
            resolve_path(base, file);
        }
    }

    /// The URL (validation makes sure there is one).
    pub fn url(&self) -> &str {
        self.url.as_deref().unwrap_or_default()
    }
}

/// Records what parses but cannot work in the `[[authorizers]]` blocks: empty or repeated
/// names, a missing or non-http(s) URL, a token or CA file that cannot be read, zero durations.
pub(crate) fn validate(authorizers: &[AuthorizerConfig], problems: &mut Problems) {
    let mut names = HashSet::new();
    for (index, authorizer) in authorizers.iter().enumerate() {
        let key = |field: &str| format!("authorizers[{index}].{field}");
        if authorizer.name.trim().is_empty() {
            problems.add(&key("name"), "must not be empty");
        } else if !names.insert(authorizer.name.as_str()) {
            problems.add(&key("name"), format!("`{}` is used twice", authorizer.name));
        }
        match &authorizer.url {
            None => problems.add(&key("url"), "is required for kind = \"http\""),
            Some(url) => {
                if let Err(e) = check_http_url(url) {
                    problems.add(&key("url"), e);
                }
            }
        }
        if let Some(file) = &authorizer.token_file
            && let Err(e) = read_token(file)
        {
            problems.add(&key("token_file"), e);
        }
        if let Some(file) = &authorizer.ca_file
            && let Err(e) = read_ca(file)
        {
            problems.add(&key("ca_file"), e);
        }
        if authorizer.timeout.is_zero() {
            problems.add(&key("timeout"), "must be more than 0s");
        }
    }
}

/// The bearer token in `file`, without surrounding white space, never empty.
pub fn read_token(file: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(format!("{} is empty", file.display()));
    }
    Ok(token.to_string())
}

/// The PEM certificates in `file`; at least one.
pub fn read_ca(file: &Path) -> Result<Vec<reqwest::Certificate>, String> {
    let pem = std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let certificates = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| format!("{} holds no usable PEM certificate: {e}", file.display()))?;
    if certificates.is_empty() {
        return Err(format!("{} holds no PEM certificate", file.display()));
    }
    Ok(certificates)
}
