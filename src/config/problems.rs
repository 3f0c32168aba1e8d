//! The problems of one validation pass, collected so that every one is reported at once, each
//! naming its key (one spelling: `issuers[0].leeway`), where the value came from (the config
//! file and its line, or an environment variable) and the value itself, secrets masked.

use std::fmt;
use std::path::Path;

use figment::value::Value;
use figment::{Figment, Metadata};

use super::ConfigError;
use super::report;

/// Every problem found so far; [`Problems::finish`] turns them into one [`ConfigError`].
pub(crate) struct Problems<'a> {
    file: &'a Path,
    figment: &'a Figment,
    /// The file parsed with spans, for line numbers (none when it is not valid TOML).
    document: Option<toml_edit::ImDocument<String>>,
    /// Every value as read (file, then environment), for showing the bad one.
    merged: Option<Value>,
    /// Keys whose values did not fit their type: reported once, left out of validation.
    taken_out: Vec<String>,
    /// Each problem with its line (0 for the environment, none at the end), for file order.
    messages: Vec<(usize, String)>,
}

impl<'a> Problems<'a> {
    /// No problems yet, for the values `figment` read (partly) from `file`.
    pub fn new(file: &'a Path, figment: &'a Figment) -> Problems<'a> {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        Problems {
            file,
            figment,
            document: toml_edit::ImDocument::parse(text).ok(),
            merged: figment.find_value("").ok(),
            taken_out: Vec::new(),
            messages: Vec::new(),
        }
    }

    /// Records that the value of `key` (`session.ttl`, `issuers[0].name`) cannot work.
    pub fn add(&mut self, key: &str, reason: impl fmt::Display) {
        // `x_file` is "required" only because the bad `x` was taken out.
        let inline = key.strip_suffix("_file").unwrap_or(key);
        if self.was_taken_out(key) || self.was_taken_out(inline) {
            return;
        }
        let path = report::segments(key);
        let named: Vec<&str> = path
            .iter()
            .map(String::as_str)
            .filter(|s| s.parse::<usize>().is_err())
            .collect();
        let origin = origin(self.metadata_of(&path), &named, self.file);
        self.push(origin, key, reason.to_string());
    }

    /// Records a value that does not fit its type (figment's `error`), and that it was taken out.
    pub(crate) fn add_from_file(&mut self, key: &str, error: &figment::Error, reason: String) {
        let path = report::segments(key);
        let metadata = error.metadata.as_ref().or_else(|| self.metadata_of(&path));
        let named: Vec<&str> = path
            .iter()
            .map(String::as_str)
            .filter(|s| s.parse::<usize>().is_err())
            .collect();
        let origin = origin(metadata, &named, self.file);
        self.push(origin, key, reason);
        self.taken_out.push(key.to_string());
    }

    /// The metadata (file or environment) of the deepest value on `path` that was read.
    fn metadata_of(&self, path: &[String]) -> Option<&Metadata> {
        let mut value = self.merged.as_ref()?;
        for segment in path {
            let next = match (value, segment.parse::<usize>()) {
                (Value::Array(_, items), Ok(index)) => items.get(index),
                (Value::Dict(_, dict), _) => dict.get(segment),
                _ => None,
            };
            match next {
                Some(next) => value = next,
                None => break,
            }
        }
        self.figment.get_metadata(value.tag())
    }

    /// Every problem recorded, as one error (reading stopped before validation could run).
    pub(crate) fn into_error(self) -> ConfigError {
        if self.messages.is_empty() {
            return ConfigError(format!("{}: cannot be read", self.file.display()));
        }
        let mut messages = self.messages;
        // Stable: problems on one line, and those without a line, keep the order found.
        messages.sort_by_key(|(order, _)| *order);
        let lines: Vec<String> = messages.into_iter().map(|(_, text)| text).collect();
        ConfigError(lines.join("\n"))
    }

    /// Whether `key`, or a table holding it, did not fit its type (and is already reported).
    pub(crate) fn was_taken_out(&self, key: &str) -> bool {
        self.taken_out.iter().any(|out| {
            key == out
                || key
                    .strip_prefix(out.as_str())
                    .is_some_and(|rest| rest.starts_with(['.', '[']))
        })
    }

    fn push(&mut self, origin: String, key: &str, reason: String) {
        let line = match (&self.document, origin.starts_with("environment variable")) {
            (Some(document), false) => report::line_of(document, key),
            _ => None,
        };
        let value = self
            .merged
            .as_ref()
            .and_then(|merged| report::shown_value(merged, key))
            .filter(|value| !reason.contains(value.trim_matches('"')) || value == "***")
            .map(|value| format!(" (value: {value})"))
            .unwrap_or_default();
        let order = if origin.starts_with("environment variable") {
            0
        } else {
            line.unwrap_or(usize::MAX)
        };
        let line = line.map(|line| format!(":{line}")).unwrap_or_default();
        self.messages
            .push((order, format!("{origin}{line}: key `{key}`: {reason}{value}")));
    }

    /// How many problems were recorded so far.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// `value` when nothing was recorded, else every problem, one a line.
    pub fn finish<T>(self, value: T) -> Result<T, ConfigError> {
        if self.messages.is_empty() {
            Ok(value)
        } else {
            Err(self.into_error())
        }
    }
}

/// Where the value at `path` came from: the environment variable that set it, else the file.
pub(crate) fn origin(metadata: Option<&Metadata>, path: &[impl AsRef<str>], file: &Path) -> String {
    match metadata {
        Some(meta) if meta.name.contains("environment") => {
            let name: Vec<&str> = path.iter().map(AsRef::as_ref).collect();
            format!("environment variable PORTCULLIS_{}", name.join("__").to_uppercase())
        }
        _ => file.display().to_string(),
    }
}
