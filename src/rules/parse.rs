//! YAML text to raw rules: every field read on its own so that one file reports all of its
//! errors, each with the file, the line and the rule id.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde_yaml_ng::{Mapping, Value};

use super::{IdentityTokenRule, OnUnauthenticated, Policy, RuleError};
use crate::authz::Requirements;

/// The fields a rule may have.
const FIELDS: &[&str] = &[
    "id",
    "hosts",
    "methods",
    "paths",
    "path_regex",
    "policy",
    "require",
    "on_unauthenticated",
    "headers",
    "credentials",
    "identity_token",
];

/// A rule as written, before compilation.
#[derive(Debug, Default)]
pub(super) struct RawRule {
    pub(super) line: Option<usize>,
    pub(super) id: Option<String>,
    pub(super) hosts: Option<Vec<String>>,
    pub(super) methods: Option<Vec<String>>,
    pub(super) paths: Option<Vec<String>>,
    pub(super) path_regex: Option<String>,
    pub(super) policy: Option<Policy>,
    pub(super) require: Requirements,
    pub(super) on_unauthenticated: Option<OnUnauthenticated>,
    pub(super) headers: Vec<(String, String)>,
    pub(super) credentials: Option<Vec<String>>,
    pub(super) identity_token: Option<IdentityTokenRule>,
}

/// Parses one file's text. Rules with field errors are still returned (so that ids are known
/// for duplicate checks); the errors go to `errors`.
pub(super) fn parse_file(text: &str, file: &Path, errors: &mut Vec<RuleError>) -> Vec<RawRule> {
    let document: Value = match serde_yaml_ng::from_str(text) {
        Ok(document) => document,
        Err(e) => {
            let line = e.location().map(|l| l.line());
            errors.push(RuleError {
                file: file.into(),
                line,
                rule: None,
                reason: format!("YAML syntax: {e}"),
            });
            return Vec::new();
        }
    };
    let items = match document {
        Value::Null => return Vec::new(),
        Value::Sequence(items) => items,
        _ => {
            let reason = "expected a list of rules".to_string();
            errors.push(RuleError {
                file: file.into(),
                line: Some(1),
                rule: None,
                reason,
            });
            return Vec::new();
        }
    };
    let starts = item_lines(text);
    items
        .into_iter()
        .enumerate()
        .map(|(n, item)| parse_rule(item, text, starts.get(n).copied(), file, errors))
        .collect()
}

fn parse_rule(item: Value, text: &str, start: Option<usize>, file: &Path, errors: &mut Vec<RuleError>) -> RawRule {
    let mut rule = RawRule {
        line: start,
        ..RawRule::default()
    };
    let mut reasons = Vec::new();
    let Value::Mapping(fields) = item else {
        let error = RuleError {
            file: file.into(),
            line: start,
            rule: None,
            reason: "a rule must be a mapping".into(),
        };
        errors.push(error);
        return rule;
    };
    if let Some(id) = fields.get("id") {
        rule.id = field(id, "id", &mut reasons);
        rule.line = rule
            .id
            .as_deref()
            .and_then(|id| id_line(text, start.unwrap_or(1), id))
            .or(start);
    }
    read_fields(&fields, &mut rule, &mut reasons);
    check_required(&rule, &mut reasons);
    errors.extend(reasons.into_iter().map(|reason| RuleError {
        file: file.into(),
        line: rule.line,
        rule: rule.id.clone(),
        reason,
    }));
    rule
}

fn read_fields(fields: &Mapping, rule: &mut RawRule, reasons: &mut Vec<String>) {
    for (key, value) in fields {
        let Some(key) = key.as_str() else {
            reasons.push(format!("field names must be strings, found {key:?}"));
            continue;
        };
        match key {
            "id" => {}
            "hosts" => rule.hosts = list(value, key, reasons),
            "methods" => rule.methods = list(value, key, reasons),
            "paths" => rule.paths = list(value, key, reasons),
            "path_regex" => rule.path_regex = field(value, key, reasons),
            "policy" => rule.policy = field(value, key, reasons),
            "require" => rule.require = field(value, key, reasons).unwrap_or_default(),
            "on_unauthenticated" => rule.on_unauthenticated = field(value, key, reasons),
            "headers" => rule.headers = headers(value, reasons),
            "credentials" => rule.credentials = field(value, key, reasons),
            // `identity_token:` alone is a token without an audience.
            "identity_token" if value.is_null() => rule.identity_token = Some(IdentityTokenRule::default()),
            "identity_token" => rule.identity_token = field(value, key, reasons),
            _ => reasons.push(format!("unknown field `{key}` (expected one of {})", FIELDS.join(", "))),
        }
    }
}

fn check_required(rule: &RawRule, reasons: &mut Vec<String>) {
    match rule.id.as_deref() {
        None if reasons.iter().any(|r| r.starts_with("id:")) => {}
        None => reasons.push("missing id".into()),
        Some(id) if id.trim().is_empty() => reasons.push("id is empty".into()),
        Some(_) => {}
    }
    if rule.policy.is_none() && !reasons.iter().any(|r| r.starts_with("policy:")) {
        reasons.push("missing policy (allow, deny or authenticated)".into());
    }
    if rule.paths.is_some() && rule.path_regex.is_some() {
        reasons.push("paths and path_regex are mutually exclusive".into());
    }
}

fn field<T: DeserializeOwned>(value: &Value, name: &str, reasons: &mut Vec<String>) -> Option<T> {
    serde_yaml_ng::from_value(value.clone())
        .map_err(|e| reasons.push(format!("{name}: {e}")))
        .ok()
}

fn list(value: &Value, name: &str, reasons: &mut Vec<String>) -> Option<Vec<String>> {
    let items: Vec<String> = field(value, name, reasons)?;
    if items.is_empty() {
        reasons.push(format!("{name}: empty list (omit the field to match any)"));
        return None;
    }
    Some(items)
}

fn headers(value: &Value, reasons: &mut Vec<String>) -> Vec<(String, String)> {
    let Value::Mapping(map) = value else {
        reasons.push("headers: expected a map of header name to template".into());
        return Vec::new();
    };
    let mut headers = Vec::new();
    for (name, template) in map {
        match (name.as_str(), template.as_str()) {
            (Some(name), Some(template)) => headers.push((name.to_string(), template.to_string())),
            _ => reasons.push(format!(
                "headers: name and template must be strings ({name:?}: {template:?})"
            )),
        }
    }
    headers
}

/// The 1-based lines where the top-level list items start (the least indented `-` lines).
fn item_lines(text: &str) -> Vec<usize> {
    let dashes: Vec<(usize, usize)> = text
        .lines()
        .enumerate()
        .filter_map(|(n, line)| {
            let trimmed = line.trim_start();
            let is_item = trimmed == "-" || trimmed.starts_with("- ");
            is_item.then(|| (n + 1, line.len() - trimmed.len()))
        })
        .collect();
    let indent = dashes.iter().map(|(_, indent)| *indent).min().unwrap_or(0);
    dashes
        .into_iter()
        .filter(|(_, i)| *i == indent)
        .map(|(line, _)| line)
        .collect()
}

/// The 1-based line of `id: <id>` at or after line `from`.
fn id_line(text: &str, from: usize, id: &str) -> Option<usize> {
    text.lines()
        .enumerate()
        .skip(from.saturating_sub(1))
        .find_map(|(n, line)| {
            let trimmed = line.trim_start();
            let trimmed = trimmed.strip_prefix('-').map(str::trim_start).unwrap_or(trimmed);
            let value = trimmed.strip_prefix("id:")?;
            let value = value.split(" #").next().unwrap_or_default().trim();
            let value = value.trim_matches(|c| c == '"' || c == '\'');
            (value == id).then_some(n + 1)
        })
}
