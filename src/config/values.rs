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
    key: (&str, &str),
    inline: Option<&Secret>,
    file: Option<&Path>,
) -> Option<Secret> {
    inline_or_file_as(problems, key, inline.cloned(), file, |secret| secret)
}

/// [`inline_or_file`] for a value of any type: `inline` as given, or the file's content
/// (read as [`read_secret_file`] reads it) turned into the value by `from_file`; both set is a
/// problem of `{section}.{name}_file`, and so is a file that cannot be read or is empty.
pub(crate) fn inline_or_file_as<T>(
    problems: &mut super::problems::Problems,
    (section, name): (&str, &str),
    inline: Option<T>,
    file: Option<&Path>,
    from_file: impl FnOnce(Secret) -> T,
) -> Option<T> {
    match (inline, file) {
        (Some(_), Some(_)) => {
            problems.add(
                &format!("{section}.{name}_file"),
                format!("set either {name} or {name}_file"),
            );
            None
        }
        (Some(value), None) => Some(value),
        (None, Some(file)) => read_secret_file(file)
            .map(from_file)
            .map_err(|e| problems.add(&format!("{section}.{name}_file"), e))
            .ok(),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::problems::Problems;

    fn lines(secret: Secret) -> Vec<String> {
        secret.0.lines().map(str::to_string).collect()
    }

    #[test]
    fn inline_or_file_as_turns_only_the_file_into_the_value() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("urls");
        std::fs::write(&file, "\n  one\ntwo  \n\n").expect("write");
        let (config, figment) = (dir.path().join("portcullis.toml"), figment::Figment::new());
        let mut problems = Problems::new(&config, &figment);
        let key = ("session", "urls");

        let from_file = inline_or_file_as(&mut problems, key, None, Some(&file), lines);
        assert_eq!(from_file, Some(vec!["one".to_string(), "two".to_string()]));
        let inline = inline_or_file_as(&mut problems, key, Some(vec!["x".to_string()]), None, lines);
        assert_eq!(inline, Some(vec!["x".to_string()]));
        assert_eq!(inline_or_file_as(&mut problems, key, None, None, lines), None);
        assert_eq!(problems.len(), 0, "{}", problems.into_error().0);
    }

    #[test]
    fn inline_or_file_as_records_both_set_and_an_unreadable_file_under_the_file_key() {
        let dir = tempfile::tempdir().expect("temp dir");
        let empty = dir.path().join("empty");
        std::fs::write(&empty, " \n").expect("write");
        let missing = dir.path().join("missing");
        let (config, figment) = (dir.path().join("portcullis.toml"), figment::Figment::new());
        for (inline, file, says) in [
            (
                Some(vec!["x".to_string()]),
                &empty,
                "set either urls or urls_file".to_string(),
            ),
            (None, &empty, format!("{} is empty", empty.display())),
            (None, &missing, format!("cannot read {}", missing.display())),
        ] {
            let mut problems = Problems::new(&config, &figment);
            let value = inline_or_file_as(&mut problems, ("session", "urls"), inline, Some(file), lines);
            assert_eq!(value, None);
            let text = problems.into_error().0;
            assert!(text.contains("session.urls_file") && text.contains(&says), "{text}");
        }
    }
}
