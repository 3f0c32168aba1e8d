//! Raw rules to compiled rules: globs and regexes built once, header templates parsed, ids
//! checked for uniqueness across all files. Every error is collected.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::credentials;
use super::load::Source;
use super::matcher::{Case, HostMatcher, HostPattern, MethodMatcher, PathMatcher};
use super::parse::{RawRule, parse_file};
use super::{HeaderTemplate, IdentityTokenRule, Known, Policy, Rule, RuleError};
use crate::authz::Requirements;
use crate::origin::OriginalRequest;

/// A rule with its compiled matchers.
#[derive(Debug, Clone)]
pub(super) struct CompiledRule {
    pub(super) rule: Rule,
    pub(super) hosts: HostMatcher,
    pub(super) methods: MethodMatcher,
    pub(super) paths: PathMatcher,
}

impl CompiledRule {
    /// Whether the request's host, method and path all match.
    pub(super) fn matches(&self, request: &OriginalRequest, host: &str) -> bool {
        self.hosts.matches(host) && self.methods.matches(request.method.as_str()) && self.paths.matches(&request.path)
    }

    /// `None` when the rule matches, else the first reason it does not.
    pub(super) fn mismatch(&self, request: &OriginalRequest, host: &str) -> Option<String> {
        self.hosts
            .mismatch(host)
            .or_else(|| self.methods.mismatch(request.method.as_str()))
            .or_else(|| self.paths.mismatch(&request.path))
    }
}

/// Compiles the rules of all sources, in order; `Err` holds every error found.
pub(super) fn compile_sources(sources: &[Source], known: &Known) -> Result<Vec<CompiledRule>, Vec<RuleError>> {
    let mut errors = Vec::new();
    let mut rules = Vec::new();
    let mut seen: HashMap<String, (PathBuf, Option<usize>)> = HashMap::new();
    for source in sources {
        for raw in parse_file(&source.text, &source.path, &mut errors) {
            let error = |reason: String| RuleError {
                file: source.path.clone(),
                line: raw.line,
                rule: raw.id.clone(),
                reason,
            };
            if let Some(id) = raw.id.as_ref().filter(|id| !id.trim().is_empty()) {
                if let Some((file, line)) = seen.get(id) {
                    errors.push(error(format!(
                        "duplicate id `{id}` (first defined in {})",
                        place(file, *line)
                    )));
                } else {
                    seen.insert(id.clone(), (source.path.clone(), raw.line));
                }
            }
            let (compiled, reasons) = compile_rule(&raw, &source.path, known);
            errors.extend(reasons.into_iter().map(error));
            rules.extend(compiled);
        }
    }
    if errors.is_empty() { Ok(rules) } else { Err(errors) }
}

fn place(file: &Path, line: Option<usize>) -> String {
    match line {
        Some(line) => format!("{}:{line}", file.display()),
        None => file.display().to_string(),
    }
}

/// Compiles one rule; the rule is `None` when anything is wrong with it.
/// Names the rule uses (credentials, authorizers, the identity token) are checked against `known`.
fn compile_rule(raw: &RawRule, source: &Path, known: &Known) -> (Option<CompiledRule>, Vec<String>) {
    let mut reasons = Vec::new();
    let credentials = raw
        .credentials
        .as_deref()
        .and_then(|names| credentials::resolve(names, known).map_err(|e| reasons.extend(e)).ok());
    let hosts = compile_hosts(raw.hosts.as_deref(), &mut reasons);
    let methods = MethodMatcher::compile(raw.methods.clone())
        .map_err(|e| reasons.push(e))
        .unwrap_or_default();
    // Rules that protect fold case, rules that open do not (see `Case`).
    let case = match raw.policy {
        Some(Policy::Allow) => Case::Exact,
        _ => Case::Folded,
    };
    let paths = if raw.paths.is_some() && raw.path_regex.is_some() {
        PathMatcher::Any
    } else {
        PathMatcher::compile(raw.paths.clone(), raw.path_regex.clone(), case)
            .map_err(|e| reasons.extend(e))
            .unwrap_or_default()
    };
    let headers: Vec<HeaderTemplate> = raw
        .headers
        .iter()
        .filter_map(|(name, template)| HeaderTemplate::parse(name, template).map_err(|e| reasons.push(e)).ok())
        .collect();
    let (Some(id), Some(policy)) = (raw.id.clone(), raw.policy) else {
        return (None, reasons);
    };
    if policy != Policy::Authenticated && raw.require != Requirements::default() {
        // Silently ignoring it would let everybody through an `allow` rule meant for some.
        reasons.push("`require` only applies to `policy: authenticated`".into());
    }
    reasons.extend(crate::authz::remote::rule_problems(&raw.require, known));
    reasons.extend(super::names::unknown_issuers(&raw.require, known));
    if let Some(identity_token) = &raw.identity_token {
        check_identity_token(identity_token, policy, known, &mut reasons);
    }
    let rule = Rule {
        id,
        source: source.to_path_buf(),
        policy,
        require: raw.require.clone(),
        on_unauthenticated: raw.on_unauthenticated,
        headers,
        credentials,
        identity_token: raw.identity_token.clone(),
        number: crate::memo::next_owner(),
    };
    let compiled = reasons.is_empty().then_some(CompiledRule {
        rule,
        hosts,
        methods,
        paths,
    });
    (compiled, reasons)
}

/// `identity_token:` needs the config's `[identity_token]` (the key that signs) and a rule that
/// lets requests through.
fn check_identity_token(identity_token: &IdentityTokenRule, policy: Policy, known: &Known, reasons: &mut Vec<String>) {
    if !known.identity_token {
        reasons.push("`identity_token` needs an [identity_token] section in the config (the key that signs it)".into());
    }
    if policy == Policy::Deny {
        reasons.push(
            "`identity_token` only applies to `policy: authenticated` or `allow` (a deny rule lets nothing through)"
                .into(),
        );
    }
    if identity_token
        .audience
        .as_ref()
        .is_some_and(|audience| audience.trim().is_empty())
    {
        reasons.push("identity_token.audience is empty (omit it for a token without `aud`)".into());
    }
}

fn compile_hosts(hosts: Option<&[String]>, reasons: &mut Vec<String>) -> HostMatcher {
    let Some(hosts) = hosts else {
        return HostMatcher::default();
    };
    let patterns = hosts
        .iter()
        .filter_map(|h| HostPattern::compile(h).map_err(|e| reasons.push(e)).ok())
        .collect();
    HostMatcher {
        patterns: Some(patterns),
        written: hosts.to_vec(),
    }
}
