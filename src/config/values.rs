//! The value types several sections share: a [`Secret`] that is never printed, a secret given
//! inline or as a `*_file`, durations written like `30s`, and http(s) URLs.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

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

/// Reads a `*_file` secret: the file's content without surrounding white space, never empty.
pub(crate) fn read_secret_file(file: &Path) -> Result<Secret, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let secret = text.trim().to_string();
    if secret.is_empty() {
        return Err(format!("{} is empty", file.display()));
    }
    Ok(Secret(secret))
}

/// Checks that `text` is an absolute http(s) URL with a host.
pub(crate) fn check_http_url(text: &str) -> Result<(), String> {
    let url = url::Url::parse(text).map_err(|e| format!("`{text}` is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!("`{text}` is not an http(s) URL"));
    }
    Ok(())
}

/// Makes a relative path relative to `base` (the config file's folder).
pub(crate) fn resolve_path(base: &Path, path: &mut PathBuf) {
    if path.is_relative() {
        *path = base.join(&*path);
    }
}

/// The secret of `{section}.{name}`, given inline or as the file `{section}.{name}_file`
/// (already made absolute); `None` when neither is set or the one set cannot be used (recorded).
pub(crate) fn inline_or_file(
    problems: &mut super::problems::Problems,
    (section, name): (&str, &str),
    inline: Option<&Secret>,
    file: Option<&Path>,
) -> Option<Secret> {
    match (inline, file) {
        (Some(_), Some(_)) => {
            problems.add(
                &format!("{section}.{name}_file"),
                format!("set either {name} or {name}_file"),
            );
            None
        }
        (Some(secret), None) => Some(secret.clone()),
        (None, Some(file)) => read_secret_file(file)
            .map_err(|e| problems.add(&format!("{section}.{name}_file"), e))
            .ok(),
        (None, None) => None,
    }
}
