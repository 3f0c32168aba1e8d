//! Finding and reading rule files: files as given, folders read non-recursively in lexical
//! order (`*.yaml`, `*.yml`, skipping names that start with `.` as Kubernetes ConfigMap volumes'
//! `..data` entries do). Symlinks are followed.

use std::fs;
use std::path::{Path, PathBuf};

use super::RuleError;

/// One rule file's path and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The file as found (through a folder or as given).
    pub path: PathBuf,
    /// Its text.
    pub text: String,
}

/// Reads every rule file of `paths`; all unreadable files and folders are reported.
pub fn read_sources(paths: &[PathBuf]) -> Result<Vec<Source>, Vec<RuleError>> {
    let (mut sources, mut errors) = (Vec::new(), Vec::new());
    for path in paths {
        match rule_files(path) {
            Ok(files) => {
                for file in files {
                    match fs::read_to_string(&file) {
                        Ok(text) => sources.push(Source { path: file, text }),
                        Err(e) => errors.push(io_error(&file, "cannot read rule file", &e)),
                    }
                }
            }
            Err(error) => errors.push(error),
        }
    }
    if errors.is_empty() { Ok(sources) } else { Err(errors) }
}

/// The rule files of one configured path: the file itself, or a folder's visible YAML files.
fn rule_files(path: &Path) -> Result<Vec<PathBuf>, RuleError> {
    let metadata = fs::metadata(path).map_err(|e| io_error(path, "cannot read rules path", &e))?;
    if !metadata.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let entries = fs::read_dir(path).map_err(|e| io_error(path, "cannot list rules folder", &e))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_error(path, "cannot list rules folder", &e))?;
        let file = entry.path();
        if is_rule_file_name(&entry.file_name().to_string_lossy()) && fs::metadata(&file).is_ok_and(|m| m.is_file()) {
            files.push(file);
        }
    }
    files.sort();
    Ok(files)
}

fn is_rule_file_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    !name.starts_with('.') && (lower.ends_with(".yaml") || lower.ends_with(".yml"))
}

fn io_error(path: &Path, what: &str, error: &std::io::Error) -> RuleError {
    RuleError {
        file: path.into(),
        line: None,
        rule: None,
        reason: format!("{what}: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_names_and_other_extensions_are_skipped() {
        assert!(is_rule_file_name("a.yaml"));
        assert!(is_rule_file_name("b.YML"));
        assert!(!is_rule_file_name("..data"));
        assert!(!is_rule_file_name(".hidden.yaml"));
        assert!(!is_rule_file_name("notes.txt"));
    }

    #[test]
    fn a_missing_folder_is_an_error_not_a_panic() {
        let errors = read_sources(&[PathBuf::from("/nonexistent/portcullis/rules")]).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert!(errors[0].reason.contains("cannot read rules path"), "{}", errors[0]);
    }
}
