//! The compiled host, method and path matchers of one rule, each able to say why a request
//! does not match (for `portcullis explain`).

use globset::GlobBuilder;
use regex::bytes::Regex as BytesRegex;
use regex::{Regex, RegexBuilder};

/// One compiled host pattern. `*` is exactly one DNS label.
#[derive(Debug, Clone)]
pub(super) enum HostPattern {
    /// A literal host, lower case.
    Exact(Box<str>),
    /// `*.<suffix>`: one non-empty label, then `.suffix`.
    AnyLabelUnder(Box<str>),
    /// Any other pattern with `*` (`app-*.example.com`, `a.*.example.com`, `*`), with the
    /// literal labels after its last wildcard (`example.com`; empty for `*`), for the index.
    Pattern(Regex, Box<str>),
}

impl HostPattern {
    /// Compiles a host glob, lower-casing it; `Err` says what is wrong.
    pub(super) fn compile(pattern: &str) -> Result<HostPattern, String> {
        let host = pattern.to_ascii_lowercase();
        check_host_glob(&host)?;
        if !host.contains('*') {
            return Ok(HostPattern::Exact(host.into()));
        }
        if let Some(suffix) = host.strip_prefix("*.").filter(|s| !s.contains('*')) {
            return Ok(HostPattern::AnyLabelUnder(suffix.into()));
        }
        let labels: Vec<String> = host.split('.').map(label_regex).collect();
        let regex =
            Regex::new(&format!("^{}$", labels.join(r"\."))).map_err(|e| format!("bad host glob `{pattern}`: {e}"))?;
        let suffix = host
            .rsplit_once('*')
            .and_then(|(_, rest)| rest.split_once('.'))
            .map_or("", |(_, s)| s);
        Ok(HostPattern::Pattern(regex, suffix.into()))
    }

    /// Whether `host` (lower case, no port) matches.
    pub(super) fn matches(&self, host: &str) -> bool {
        match self {
            HostPattern::Exact(exact) => **exact == *host,
            HostPattern::AnyLabelUnder(suffix) => parent_domain(host) == Some(suffix),
            HostPattern::Pattern(regex, _) => regex.is_match(host),
        }
    }
}

/// `a.example.com` -> `example.com`; `None` when the first label is empty or there is no dot.
pub(super) fn parent_domain(host: &str) -> Option<&str> {
    // By byte: on every request, and a short search for a char costs more than the loop.
    let dot = host.bytes().position(|b| b == b'.')?;
    (dot > 0).then(|| &host[dot + 1..])
}

fn check_host_glob(host: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '*' | ':' | '[' | ']');
    if host.is_empty() {
        return Err("empty host".into());
    }
    if let Some(bad) = host.chars().find(|c| !allowed(*c)) {
        return Err(format!("bad host glob `{host}`: character `{bad}` is not allowed"));
    }
    if host.contains("**") {
        return Err(format!(
            "bad host glob `{host}`: `**` is not allowed, `*` is one DNS label"
        ));
    }
    if host.contains('*') && host.split('.').any(str::is_empty) {
        return Err(format!("bad host glob `{host}`: empty label"));
    }
    Ok(())
}

fn label_regex(label: &str) -> String {
    if label == "*" {
        return "[^.]+".into();
    }
    label.split('*').map(regex::escape).collect::<Vec<_>>().join("[^.]*")
}

/// The hosts of a rule; `None` patterns = any host.
#[derive(Debug, Clone, Default)]
pub(super) struct HostMatcher {
    /// The compiled patterns, or `None` for any host.
    pub(super) patterns: Option<Vec<HostPattern>>,
    /// The patterns as written, for messages.
    pub(super) written: Vec<String>,
}

impl HostMatcher {
    /// `None` when the host matches, else why not.
    pub(super) fn mismatch(&self, host: &str) -> Option<String> {
        let patterns = self.patterns.as_ref()?;
        if patterns.iter().any(|p| p.matches(host)) {
            return None;
        }
        Some(format!("host {host} not in [{}]", self.written.join(", ")))
    }

    /// Whether the host matches.
    pub(super) fn matches(&self, host: &str) -> bool {
        self.patterns
            .as_ref()
            .is_none_or(|ps| ps.iter().any(|p| p.matches(host)))
    }
}

/// The methods of a rule, upper case; `None` = any method.
#[derive(Debug, Clone, Default)]
pub(super) struct MethodMatcher(pub(super) Option<Vec<String>>);

impl MethodMatcher {
    /// Compiles a method list, upper-casing it; `Err` names a method that is not an HTTP token.
    pub(super) fn compile(methods: Option<Vec<String>>) -> Result<MethodMatcher, String> {
        let Some(methods) = methods else {
            return Ok(MethodMatcher(None));
        };
        let mut upper = Vec::with_capacity(methods.len());
        for method in methods {
            if axum::http::Method::from_bytes(method.as_bytes()).is_err() || method.is_empty() {
                return Err(format!("invalid method `{method}`"));
            }
            upper.push(method.to_ascii_uppercase());
        }
        Ok(MethodMatcher(Some(upper)))
    }

    /// Whether the method matches (case-insensitive).
    pub(super) fn matches(&self, method: &str) -> bool {
        self.0
            .as_ref()
            .is_none_or(|ms| ms.iter().any(|m| m.eq_ignore_ascii_case(method)))
    }

    /// `None` when the method matches, else why not.
    pub(super) fn mismatch(&self, method: &str) -> Option<String> {
        let methods = self.0.as_ref()?;
        (!self.matches(method)).then(|| format!("method {method} not in [{}]", methods.join(", ")))
    }
}

/// How a rule's paths compare letter case. Upstreams differ (Express, ASP.NET and IIS route
/// `/ADMIN` as `/admin`), so rules that protect (`deny`, `authenticated`) fold ASCII case and
/// rules that open (`allow`) match it exactly: no spelling of a protected path is made public.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum Case {
    /// The path's letters must be as written.
    #[default]
    Exact,
    /// ASCII letters match in either case.
    Folded,
}

/// One compiled path glob.
#[derive(Debug, Clone)]
pub(super) enum PathPattern {
    /// A path without glob characters.
    Exact(Box<str>),
    /// `<base>/**` with a literal base: the base itself, `<base>/` and everything below.
    Subtree(Box<str>),
    /// Any other glob (`*` within one segment, `**` any depth), as an anchored regex, with its
    /// first path segment when that is literal (for the index).
    Glob(BytesRegex, Option<Box<str>>),
}

impl PathPattern {
    /// Compiles a path glob; a glob ending in `/**` also matches its base (`/x/**` matches `/x`).
    pub(super) fn compile(glob: &str, case: Case) -> Result<Vec<PathPattern>, String> {
        if !glob.starts_with('/') {
            return Err(format!("path `{glob}` must start with /"));
        }
        let base = glob.strip_suffix("/**");
        if let Some(base) = base.filter(|b| !has_glob_meta(b)) {
            return Ok(vec![PathPattern::Subtree(base.into())]);
        }
        if !has_glob_meta(glob) {
            return Ok(vec![PathPattern::Exact(glob.into())]);
        }
        let mut patterns = vec![glob_regex(glob, case)?];
        if let Some(base) = base {
            patterns.push(glob_regex(base, case)?);
        }
        Ok(patterns)
    }

    /// Whether the normalised `path` matches.
    pub(super) fn matches(&self, path: &str, case: Case) -> bool {
        let same = |a: &str, b: &str| match case {
            Case::Exact => a == b,
            Case::Folded => a.eq_ignore_ascii_case(b),
        };
        match self {
            PathPattern::Exact(exact) => same(exact, path),
            PathPattern::Subtree(base) => {
                path.get(..base.len()).is_some_and(|head| same(head, base))
                    && path
                        .get(base.len()..)
                        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            }
            PathPattern::Glob(regex, _) => regex.is_match(path.as_bytes()),
        }
    }
}

/// Whether `text` has a character that globset treats specially.
pub(super) fn has_glob_meta(text: &str) -> bool {
    text.contains(['*', '?', '[', ']', '{', '}', '\\'])
}

fn glob_regex(glob: &str, case: Case) -> Result<PathPattern, String> {
    let compiled = GlobBuilder::new(glob)
        .literal_separator(true)
        .case_insensitive(case == Case::Folded)
        .build()
        .map_err(|e| format!("bad path glob `{glob}`: {}", e.kind()))?;
    let regex = BytesRegex::new(compiled.regex()).map_err(|e| format!("bad path glob `{glob}`: {e}"))?;
    let segment = glob
        .strip_prefix('/')
        .and_then(|rest| rest.split_once('/'))
        .map(|(segment, _)| segment);
    Ok(PathPattern::Glob(
        regex,
        segment.filter(|s| !has_glob_meta(s)).map(Into::into),
    ))
}

/// How a rule matches paths.
#[derive(Debug, Clone, Default)]
pub(super) enum PathMatcher {
    /// No `paths` and no `path_regex`.
    #[default]
    Any,
    /// `paths`: the compiled globs, the globs as written, and how they compare case.
    Globs(Vec<PathPattern>, Vec<String>, Case),
    /// `path_regex`, anchored at both ends, and the regex as written.
    Regex(Regex, String, Case),
}

impl PathMatcher {
    /// Compiles `paths` or `path_regex` (the caller has checked that at most one is set).
    pub(super) fn compile(
        paths: Option<Vec<String>>,
        path_regex: Option<String>,
        case: Case,
    ) -> Result<PathMatcher, Vec<String>> {
        if let Some(regex) = path_regex {
            return RegexBuilder::new(&format!("^(?:{regex})$"))
                .case_insensitive(case == Case::Folded)
                .build()
                .map(|compiled| PathMatcher::Regex(compiled, regex.clone(), case))
                .map_err(|e| vec![format!("bad path_regex `{regex}`: {e}")]);
        }
        let Some(globs) = paths else {
            return Ok(PathMatcher::Any);
        };
        let (mut compiled, mut errors) = (Vec::new(), Vec::new());
        for glob in &globs {
            match PathPattern::compile(glob, case) {
                Ok(patterns) => compiled.extend(patterns),
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            Ok(PathMatcher::Globs(compiled, globs, case))
        } else {
            Err(errors)
        }
    }

    /// How the paths compare case (`Exact` for `Any`, which has no letters to compare).
    pub(super) fn case(&self) -> Case {
        match self {
            PathMatcher::Any => Case::Exact,
            PathMatcher::Globs(_, _, case) | PathMatcher::Regex(_, _, case) => *case,
        }
    }

    /// Whether the normalised `path` matches.
    pub(super) fn matches(&self, path: &str) -> bool {
        match self {
            PathMatcher::Any => true,
            PathMatcher::Globs(patterns, _, case) => patterns.iter().any(|p| p.matches(path, *case)),
            PathMatcher::Regex(regex, _, _) => regex.is_match(path),
        }
    }

    /// `None` when the path matches, else why not.
    pub(super) fn mismatch(&self, path: &str) -> Option<String> {
        if self.matches(path) {
            return None;
        }
        let case = match self.case() {
            Case::Exact => "",
            Case::Folded => " (in any letter case)",
        };
        match self {
            PathMatcher::Any => None,
            PathMatcher::Globs(_, written, _) => {
                Some(format!("path {path} matches none of [{}]{case}", written.join(", ")))
            }
            PathMatcher::Regex(_, written, _) => Some(format!("path {path} does not match regex {written}{case}")),
        }
    }
}
