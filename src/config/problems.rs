//! The problems of one validation pass, collected so that every one is reported at once, each
//! naming its key and where the value came from: the config file or an environment variable.

use std::fmt;
use std::path::Path;

use figment::{Figment, Metadata};

use super::ConfigError;

/// Every problem found so far; [`Problems::finish`] turns them into one [`ConfigError`].
pub(crate) struct Problems<'a> {
    file: &'a Path,
    figment: &'a Figment,
    messages: Vec<String>,
}

impl<'a> Problems<'a> {
    /// No problems yet, for the values `figment` read (partly) from `file`.
    pub fn new(file: &'a Path, figment: &'a Figment) -> Problems<'a> {
        Problems {
            file,
            figment,
            messages: Vec::new(),
        }
    }

    /// Records that the value of `key` (`session.ttl`, `issuers[0].name`) cannot work.
    pub fn add(&mut self, key: &str, reason: impl fmt::Display) {
        let path: Vec<&str> = key.split('[').next().unwrap_or(key).split('.').collect();
        let origin = origin(self.figment.find_metadata(&path.join(".")), &path, self.file);
        self.messages.push(format!("{origin}: key `{key}`: {reason}"));
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
            Err(ConfigError(self.messages.join("\n")))
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
