//! Warnings for path globs written in a spelling that no normalised request path has: requests
//! are matched after normalisation (see `origin::normalise_path`), so `/a;v=1/**`, `/a//b` or
//! `/files./x` can never match as written. `check` prints what the path is matched as instead.

use super::compile::CompiledRule;
use super::matcher::{PathMatcher, has_glob_meta};
use crate::origin::normalise_path;

/// One warning per glob of `rules` whose literal segments are not in normalised form.
pub(super) fn spelling_warnings(rules: &[CompiledRule]) -> Vec<String> {
    let mut warnings = Vec::new();
    for compiled in rules {
        let PathMatcher::Globs(_, written, _) = &compiled.paths else {
            continue;
        };
        for glob in written {
            if let Some(problem) = spelling_problem(glob) {
                warnings.push(format!(
                    "rule `{}` ({}): path `{glob}` never matches as written: {problem}",
                    compiled.rule.id,
                    compiled.rule.source.display()
                ));
            }
        }
    }
    warnings
}

/// What is wrong with the literal segments of `glob`, `None` when they are normalised.
fn spelling_problem(glob: &str) -> Option<String> {
    let literal: Vec<&str> = glob
        .split('/')
        .map(|segment| if has_glob_meta(segment) { "x" } else { segment })
        .collect();
    let as_written = literal.join("/");
    match normalise_path(&as_written) {
        Err(error) => Some(format!("requests with such a path are refused ({error})")),
        Ok(normalised) if normalised != as_written => Some(format!(
            "requests are matched on the normalised path (here `{normalised}`)"
        )),
        Ok(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::spelling_problem;

    #[test]
    fn normalised_globs_have_no_problem() {
        for glob in [
            "/",
            "/admin/**",
            "/a/*/c",
            "/static/*.css",
            "/caf%C3%A9",
            "/x/**/z",
            "/a-b_c~d/",
        ] {
            assert_eq!(spelling_problem(glob), None, "{glob}");
        }
    }

    #[test]
    fn globs_that_no_normalised_path_matches_are_named() {
        for glob in ["/admin;v=1/**", "/a//b", "/a/./b", "/a/../b", "/%7Euser", "/caf%c3%a9"] {
            let problem = spelling_problem(glob).unwrap_or_default();
            assert!(problem.contains("normalised path"), "{glob}: {problem}");
        }
        for glob in ["/files./x", "/a%2Fb", "/a%20/b"] {
            let problem = spelling_problem(glob).unwrap_or_default();
            assert!(problem.contains("refused"), "{glob}: {problem}");
        }
    }
}
