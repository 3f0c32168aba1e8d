//! What a rule names that the configuration must define (checked at load, so `check`, start-up
//! and reloads refuse it with file, line and rule id), and the warning for an empty rule set.

use std::path::PathBuf;

use super::Known;
use crate::authz::Requirements;

/// A reason for each name in `require.issuers` that is neither an `[[issuers]]` nor a
/// `[[session_checks]]` name: such a requirement could never hold.
pub(super) fn unknown_issuers(require: &Requirements, known: &Known) -> Vec<String> {
    let defined: Vec<&String> = known.issuers.iter().chain(&known.session_checks).collect();
    require
        .issuers
        .iter()
        .filter(|name| !defined.contains(name))
        .map(|name| {
            let names: Vec<String> = defined.iter().map(|n| format!("`{n}`")).collect();
            let list = if names.is_empty() {
                "none is configured".to_string()
            } else {
                format!("configured: {}", names.join(", "))
            };
            format!("require.issuers names `{name}`, which is no [[issuers]] or [[session_checks]] name ({list})")
        })
        .collect()
}

/// The warning for a rule set without rules: every request then gets the default policy.
pub fn empty_set_warning(paths: &[PathBuf]) -> String {
    let places: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    format!(
        "rules.paths: no rules in {}: every request gets the default policy ([rules] default)",
        places.join(", ")
    )
}
