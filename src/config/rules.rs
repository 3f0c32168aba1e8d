//! `[rules]`: where the route rules live and what happens when none matches.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::problems::Problems;
use super::values::resolve_path;

/// `[rules]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    /// Files or folders of `*.yaml`, relative to the config file's folder.
    pub paths: Vec<PathBuf>,
    /// What happens when no rule matches.
    pub default: DefaultPolicy,
}

impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig {
            paths: vec![PathBuf::from("rules/")],
            default: DefaultPolicy::Deny,
        }
    }
}

/// The policy applied when no rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DefaultPolicy {
    /// 403.
    Deny,
    /// Any valid credential passes.
    Authenticated,
    /// Everything passes.
    Allow,
}

impl RulesConfig {
    /// Makes relative `paths` relative to the config file's folder `base`.
    pub(crate) fn resolve_paths(&mut self, base: &Path) {
        self.paths.iter_mut().for_each(|path| resolve_path(base, path));
    }

    /// Records what parses but cannot work.
    pub(crate) fn validate(&self, problems: &mut Problems) {
        if self.paths.is_empty() {
            problems.add("rules.paths", "at least one file or folder is needed");
        }
    }
}
