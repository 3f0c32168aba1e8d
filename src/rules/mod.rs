//! Route rules: loaded from YAML files, compiled once into a matcher, swapped atomically on
//! reload. The request path only reads a compiled [`RuleSet`].

mod compile;
mod credentials;
mod index;
pub mod known;
pub mod load;
mod matcher;
mod names;
mod parse;
pub mod reload;
mod shadow;
mod spelling;
mod template;
#[cfg(test)]
mod tests;

pub use known::Known;
pub use names::empty_set_warning;

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::http::HeaderName;
use serde::Deserialize;

use crate::authn::{CredentialKind, Identity};
use crate::authz::Requirements;
use crate::origin::OriginalRequest;
use compile::CompiledRule;
use index::RuleIndex;
use load::Source;

/// What a rule does with the requests it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// Let through, with or without a credential.
    Allow,
    /// Refuse (403).
    Deny,
    /// Let through with a valid credential that meets `require`.
    Authenticated,
}

/// What an unauthenticated request on the rule gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnUnauthenticated {
    /// Browsers are sent to login; API clients get 401.
    Redirect,
    /// Always 401.
    Unauthorized,
}

/// One compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Unique id across all files.
    pub id: String,
    /// The file it came from.
    pub source: PathBuf,
    /// allow, deny or authenticated.
    pub policy: Policy,
    /// What the identity must satisfy.
    pub require: Requirements,
    /// Redirect or 401; `None` when the rule does not say (the server's default applies).
    pub on_unauthenticated: Option<OnUnauthenticated>,
    /// Extra headers on an allowed answer.
    pub headers: Vec<HeaderTemplate>,
    /// The credential kinds accepted, in the order tried (`credentials:`); `None`: every
    /// configured kind.
    pub credentials: Option<Vec<CredentialKind>>,
    /// `identity_token:`: a signed identity for the upstream on its 200s (with an identity).
    pub identity_token: Option<IdentityTokenRule>,
    /// Its number among per-thread memos ([`next_owner`](crate::memo::next_owner)): a rule
    /// compiled again (a reload) has another.
    pub number: u64,
}

impl Rule {
    /// The rule's extra headers (`headers:`) with their values for `identity`.
    pub fn rendered_headers(&self, identity: Option<&Identity>) -> Vec<(HeaderName, String)> {
        self.headers
            .iter()
            .map(|template| (template.name.clone(), template.render(identity)))
            .collect()
    }
}

/// A rule's `identity_token:` (`[identity_token]` in the config says how it is signed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityTokenRule {
    /// The token's `aud`; none when not set.
    #[serde(default)]
    pub audience: Option<String>,
}

/// An extra answer header whose value is a template over the identity: `{user}`, `{email}`,
/// `{groups}`, `{preferred_username}`, `{issuer}`, `{claims.<name or dotted path>}`.
#[derive(Debug, Clone)]
pub struct HeaderTemplate {
    /// The header's name.
    pub name: HeaderName,
    template: String,
    parts: Vec<template::Part>,
}

impl HeaderTemplate {
    /// The claim paths the template reads (`{claims.<path>}`).
    pub fn claim_paths(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|part| match part {
            template::Part::Claim(path) => Some(path.as_str()),
            _ => None,
        })
    }

    /// Parses a header name and its template; `Err` names an invalid header name or an unknown
    /// placeholder.
    pub fn parse(name: &str, template: &str) -> Result<HeaderTemplate, String> {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("invalid header name `{name}`"))?;
        let parts = template::parse(template).map_err(|e| format!("header {name}: {e}"))?;
        Ok(HeaderTemplate {
            name,
            template: template.to_string(),
            parts,
        })
    }

    /// The template as written.
    pub fn template(&self) -> &str {
        &self.template
    }

    /// The header value for `identity` (placeholders of a missing identity or claim render empty).
    pub fn render(&self, identity: Option<&Identity>) -> String {
        template::render(&self.parts, identity)
    }
}

/// A rule file or rule that cannot be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// The file.
    pub file: PathBuf,
    /// The line in the file, when known.
    pub line: Option<usize>,
    /// The rule id, when known.
    pub rule: Option<String>,
    /// What is wrong.
    pub reason: String,
}

impl std::fmt::Display for RuleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(rule) = &self.rule {
            write!(f, ": rule `{rule}`")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// Why one rule did or did not match, for `portcullis explain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleTrace {
    /// The rule id.
    pub id: String,
    /// `None` when it matched, else why not (`host app.example.com not in [...]`).
    pub mismatch: Option<String>,
}

/// All rules, compiled for matching: built once at load, then only read (no locks, no
/// allocation on the matching path).
#[derive(Debug, Default)]
pub struct RuleSet {
    rules: Vec<CompiledRule>,
    index: RuleIndex,
    /// Every header name some rule's `headers:` emits, once each.
    template_headers: TemplateHeaders,
}

/// Every header name some rule of one set emits (`headers:`), once each, in rule order, with
/// the set's number among per-thread memos ([`next_owner`](crate::memo::next_owner)): the
/// answer keeps a 200's headers per rule, or per set when no rule matched, and a set compiled
/// again is another.
#[derive(Debug)]
pub struct TemplateHeaders {
    names: Vec<HeaderName>,
    number: u64,
}

impl TemplateHeaders {
    /// `names`, under a new number.
    pub fn new(names: Vec<HeaderName>) -> TemplateHeaders {
        TemplateHeaders {
            names,
            number: crate::memo::next_owner(),
        }
    }

    /// The names.
    pub fn names(&self) -> &[HeaderName] {
        &self.names
    }

    /// The set's number: no other set of names had it.
    pub fn number(&self) -> u64 {
        self.number
    }
}

impl Default for TemplateHeaders {
    fn default() -> TemplateHeaders {
        TemplateHeaders::new(Vec::new())
    }
}

impl RuleSet {
    /// A set with no rules (the default policy answers everything).
    pub fn empty() -> RuleSet {
        RuleSet::default()
    }

    /// Loads every `*.yaml`/`*.yml` file of `paths` (files, or folders read in lexical order).
    /// All errors are reported, not just the first.
    pub fn load(paths: &[PathBuf], known: &Known) -> Result<RuleSet, Vec<RuleError>> {
        RuleSet::from_sources(&load::read_sources(paths)?, known)
    }

    /// Compiles the rules of one YAML text, as if read from `source`, against a configuration
    /// that defines no names beyond the rules' own (tests, benches, fuzzing).
    pub fn from_yaml(text: &str, source: &Path) -> Result<RuleSet, Vec<RuleError>> {
        RuleSet::from_yaml_with(text, source, &Known::default())
    }

    /// Compiles the rules of one YAML text, as if read from `source`, against `known`.
    pub fn from_yaml_with(text: &str, source: &Path, known: &Known) -> Result<RuleSet, Vec<RuleError>> {
        RuleSet::from_sources(
            &[Source {
                path: source.to_path_buf(),
                text: text.to_string(),
            }],
            known,
        )
    }

    /// Compiles the rules of several files already read, in the order given; names the rules
    /// use are checked against `known`.
    pub fn from_sources(sources: &[Source], known: &Known) -> Result<RuleSet, Vec<RuleError>> {
        let rules = compile::compile_sources(sources, known)?;
        let index = RuleIndex::build(&rules);
        let mut template_headers: Vec<HeaderName> = Vec::new();
        for template in rules.iter().flat_map(|compiled| &compiled.rule.headers) {
            if !template_headers.contains(&template.name) {
                template_headers.push(template.name.clone());
            }
        }
        Ok(RuleSet {
            rules,
            index,
            template_headers: TemplateHeaders::new(template_headers),
        })
    }

    /// The first rule that matches the request's method, host and normalised path.
    pub fn first_match(&self, request: &OriginalRequest) -> Option<&Rule> {
        let host = lower_host(&request.host);
        let found = self
            .index
            .first_match(&self.rules, &host, &request.path, |rule| rule.matches(request, &host));
        found.map(|compiled| &compiled.rule)
    }

    /// Every rule up to and including the first match, each with why it did not match.
    pub fn explain(&self, request: &OriginalRequest) -> Vec<RuleTrace> {
        let host = lower_host(&request.host);
        let mut traces = Vec::new();
        for compiled in &self.rules {
            let mismatch = compiled.mismatch(request, &host);
            let matched = mismatch.is_none();
            traces.push(RuleTrace {
                id: compiled.rule.id.clone(),
                mismatch,
            });
            if matched {
                break;
            }
        }
        traces
    }

    /// Warnings for rules that an earlier rule shadows completely.
    pub fn shadow_warnings(&self) -> Vec<String> {
        shadow::shadow_warnings(&self.rules, &self.index)
    }

    /// Every warning `check` prints: path globs that never match as written (with the
    /// normalised spelling requests are matched on), then rules shadowed by earlier ones.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = spelling::spelling_warnings(&self.rules);
        warnings.extend(self.shadow_warnings());
        warnings
    }

    /// Every header name that some rule's `headers:` can emit. A 200 carries all of them (empty
    /// where its rule does not emit one), so a proxy that copies them upstream overwrites a
    /// client's copy on every request, and Caddy 2.6 never sends its placeholder text.
    pub fn template_headers(&self) -> &TemplateHeaders {
        &self.template_headers
    }

    /// The rules in matching order.
    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter().map(|compiled| &compiled.rule)
    }

    /// How many rules there are.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every claim path some rule reads per request (requirements, expressions, header
    /// templates), once each: what identities keep parsed while this set is in force.
    pub fn claim_paths(&self) -> Vec<String> {
        let mut paths: Vec<String> = self
            .rules
            .iter()
            .flat_map(|compiled| {
                let rule = &compiled.rule;
                let templates = rule.headers.iter().flat_map(HeaderTemplate::claim_paths);
                rule.require.claim_paths().chain(templates)
            })
            .map(str::to_owned)
            .collect();
        paths.sort();
        paths.dedup();
        paths
    }

    /// Puts this set in force: `store` swaps it in whole, after the identities made from now on
    /// are told which claims it reads.
    pub fn install(self, store: &ArcSwap<RuleSet>) {
        crate::authn::keep_claims(self.claim_paths());
        store.store(Arc::new(self));
    }
}

/// The request host in lower case; borrowed (no allocation) when it already is.
fn lower_host(host: &str) -> Cow<'_, str> {
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        Cow::Borrowed(host)
    }
}
