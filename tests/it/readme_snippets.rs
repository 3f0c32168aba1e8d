//! The README's proxy snippets are copied from the tested files in `examples/`. Every fenced code
//! block under "## Proxies" names its source file after the language
//! (```` ```yaml examples/traefik/dynamic.yml ````) and must be a run of consecutive lines of that
//! file, with one common indentation left out at most.

use std::collections::BTreeSet;

use crate::common::root;

/// A fenced code block of the README.
#[derive(Debug)]
struct Snippet {
    /// 1-based line of its opening fence.
    line: usize,
    /// The file named after the language, if any.
    source: Option<String>,
    lines: Vec<String>,
}

/// The fenced blocks between `## Proxies` and the next `## ` heading.
fn proxy_snippets(readme: &str) -> Vec<Snippet> {
    let mut in_section = false;
    let mut open: Option<Snippet> = None;
    let mut snippets = Vec::new();
    for (index, line) in readme.lines().enumerate() {
        if open.is_none() && line.starts_with("## ") {
            in_section = line == "## Proxies";
            continue;
        }
        if !in_section {
            continue;
        }
        match (open.take(), line.strip_prefix("```")) {
            (None, Some(info)) => {
                open = Some(Snippet {
                    line: index + 1,
                    source: info.split_whitespace().nth(1).map(str::to_owned),
                    lines: Vec::new(),
                });
            }
            (Some(snippet), Some("")) => snippets.push(snippet),
            (Some(mut snippet), _) => {
                snippet.lines.push(line.to_owned());
                open = Some(snippet);
            }
            (None, None) => {}
        }
    }
    assert!(
        open.is_none(),
        "README.md: a code block under ## Proxies is never closed"
    );
    snippets
}

/// Whether `snippet` is a run of consecutive lines of `file`, each with the same leading
/// whitespace added (blank lines match blank lines).
fn appears_in(snippet: &[String], file: &str) -> bool {
    let lines: Vec<&str> = file.lines().collect();
    let Some(first) = snippet.first().filter(|l| !l.trim().is_empty()) else {
        return false;
    };
    (0..lines.len()).any(|start| {
        let Some(indent) = lines[start].strip_suffix(first.as_str()) else {
            return false;
        };
        indent.chars().all(|c| c == ' ' || c == '\t')
            && start + snippet.len() <= lines.len()
            && snippet.iter().zip(&lines[start..]).all(|(wanted, line)| {
                if wanted.is_empty() {
                    line.trim().is_empty()
                } else {
                    line.strip_prefix(indent) == Some(wanted.as_str())
                }
            })
    })
}

#[test]
fn every_proxy_snippet_in_the_readme_is_copied_from_a_tested_example() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let snippets = proxy_snippets(&readme);
    let mut sources = BTreeSet::new();
    for snippet in &snippets {
        let source = snippet.source.as_deref().unwrap_or_else(|| {
            panic!(
                "README.md line {}: a code block under ## Proxies must name its file in examples/ after the language",
                snippet.line
            )
        });
        assert!(
            source.starts_with("examples/"),
            "README.md line {}: {source} is not in examples/",
            snippet.line
        );
        let file = std::fs::read_to_string(root().join(source))
            .unwrap_or_else(|e| panic!("README.md line {}: read {source}: {e}", snippet.line));
        assert!(
            appears_in(&snippet.lines, &file),
            "README.md line {}: the snippet is not a verbatim copy of consecutive lines of {source}; copy it again",
            snippet.line
        );
        sources.insert(source.to_owned());
    }
    let expected: BTreeSet<String> = [
        "examples/nginx/nginx.conf",
        "examples/ingress-nginx/app.yaml",
        "examples/traefik/dynamic.yml",
        "examples/caddy/Caddyfile",
        "examples/envoy/envoy.yaml",
        "examples/envoy/envoy-grpc.yaml",
        "examples/envoy-gateway/gateway.yaml",
        "examples/envoy-gateway/security-policy-grpc.yaml",
        "examples/istio/istiod-values.yaml",
    ]
    .map(str::to_owned)
    .into();
    assert_eq!(sources, expected, "a snippet of each proxy's file under ## Proxies");
}

#[test]
fn a_snippet_that_differs_from_its_file_is_caught() {
    let file = "a:\n  b: 1\n\n  c: 2\n";
    let lines = |text: &[&str]| text.iter().map(|l| (*l).to_owned()).collect::<Vec<_>>();
    assert!(appears_in(&lines(&["b: 1", "", "c: 2"]), file));
    assert!(appears_in(&lines(&["a:", "  b: 1"]), file));
    assert!(!appears_in(&lines(&["b: 1", "", "c: 3"]), file), "a changed value");
    assert!(!appears_in(&lines(&["b: 1", "c: 2"]), file), "a dropped line");
    assert!(
        !appears_in(&lines(&["b: 1", "", "  c: 2"]), file),
        "another indentation"
    );
    assert!(!appears_in(&lines(&["c: 2", "d: 3"]), file), "past the end");
}
