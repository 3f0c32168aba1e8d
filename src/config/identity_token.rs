//! `[identity_token]`: the signed identity Portcullis sends upstream (Oathkeeper's `id_token`
//! mutator). The keys are read and parsed while the config loads, so a key that does not load
//! stops start-up and `check` with its key and file, and the service takes ready signers.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderName;
use serde::Deserialize;

use super::problems::Problems;
use super::values::{duration, resolve_path};
use crate::authn::jws::Signer;

/// `[identity_token]`, validated: the keys loaded, the header name parsed.
#[derive(Debug, Clone)]
pub struct IdentityTokenConfig {
    /// Signs every identity token (`key_file`).
    pub signer: Arc<Signer>,
    /// The keys of `previous_key_files`: published in the JWKS, never used to sign.
    pub previous: Vec<Arc<Signer>>,
    /// The `iss` of every identity token.
    pub issuer: String,
    /// The longest lifetime of a token (shorter when the credential expires sooner).
    pub ttl: Duration,
    /// The header that carries the token.
    pub header: HeaderName,
}

impl IdentityTokenConfig {
    /// Whether the token travels as `Authorization: Bearer <jwt>` (any other header carries
    /// the bare JWT).
    pub fn is_authorization(&self) -> bool {
        self.header == axum::http::header::AUTHORIZATION
    }
}

/// `[identity_token]` as written in the file and the environment.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct IdentityTokenSection {
    key_file: PathBuf,
    #[serde(default)]
    previous_key_files: Vec<PathBuf>,
    issuer: String,
    #[serde(default = "default_ttl", deserialize_with = "duration")]
    ttl: Duration,
    #[serde(default = "default_header")]
    header: String,
}

fn default_ttl() -> Duration {
    Duration::from_secs(300)
}

fn default_header() -> String {
    "Authorization".into()
}

impl IdentityTokenSection {
    /// Makes relative key files relative to the config file's folder `base`.
    pub(crate) fn resolve_paths(&mut self, base: &Path) {
        resolve_path(base, &mut self.key_file);
        self.previous_key_files
            .iter_mut()
            .for_each(|file| resolve_path(base, file));
    }

    /// Loads the keys and checks the values; `None` when anything cannot work (recorded).
    pub(crate) fn validate(self, problems: &mut Problems) -> Option<IdentityTokenConfig> {
        let signer = load_key(&self.key_file, "identity_token.key_file", problems);
        let previous: Vec<Option<Arc<Signer>>> = self
            .previous_key_files
            .iter()
            .enumerate()
            .map(|(n, file)| load_key(file, &format!("identity_token.previous_key_files[{n}]"), problems))
            .collect();
        if self.issuer.trim().is_empty() {
            problems.add("identity_token.issuer", "must not be empty (it is the tokens' `iss`)");
        }
        if self.ttl < Duration::from_secs(1) {
            problems.add("identity_token.ttl", "must be at least 1s");
        }
        let header = HeaderName::try_from(self.header.as_str())
            .map_err(|_| {
                problems.add(
                    "identity_token.header",
                    format!("`{}` is not a valid header name", self.header),
                )
            })
            .ok();
        let previous = previous.into_iter().collect::<Option<Vec<_>>>()?;
        Some(IdentityTokenConfig {
            signer: signer?,
            previous,
            issuer: self.issuer,
            ttl: self.ttl,
            header: header?,
        })
    }
}

/// The signer of the PEM key in `file`; `None` when it cannot be read or is no signing key
/// (recorded under `key` with the file).
fn load_key(file: &Path, key: &str, problems: &mut Problems) -> Option<Arc<Signer>> {
    let pem = std::fs::read(file)
        .map_err(|e| problems.add(key, format!("cannot read {}: {e}", file.display())))
        .ok()?;
    Signer::from_pem(&pem)
        .map(Arc::new)
        .map_err(|e| problems.add(key, format!("{}: {e}", file.display())))
        .ok()
}
