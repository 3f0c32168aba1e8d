//! Header templates: literal text with `{user}`, `{email}`, `{groups}`, `{preferred_username}`,
//! `{issuer}` and `{claims.<name or dotted path>}` placeholders, parsed once at load.

use serde_json::Value;

use crate::authn::Identity;

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Part {
    /// Text copied as is.
    Literal(String),
    /// `{user}`.
    User,
    /// `{email}`.
    Email,
    /// `{groups}`, comma-joined.
    Groups,
    /// `{preferred_username}`.
    PreferredUsername,
    /// `{issuer}`: the `[[issuers]]` name.
    Issuer,
    /// `{claims.<path>}`.
    Claim(String),
}

/// Parses a template; `Err` names an unknown or unterminated placeholder.
pub(super) fn parse(template: &str) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            parts.push(Part::Literal(rest[..open].to_string()));
        }
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| format!("unterminated placeholder in `{template}`"))?;
        parts.push(placeholder(&after[..close])?);
        rest = &after[close + 1..];
    }
    if !rest.is_empty() {
        parts.push(Part::Literal(rest.to_string()));
    }
    Ok(parts)
}

fn placeholder(name: &str) -> Result<Part, String> {
    Ok(match name {
        "user" => Part::User,
        "email" => Part::Email,
        "groups" => Part::Groups,
        "preferred_username" => Part::PreferredUsername,
        "issuer" => Part::Issuer,
        _ => match name.strip_prefix("claims.").filter(|path| !path.is_empty()) {
            Some(path) => Part::Claim(path.to_string()),
            None => return Err(unknown_placeholder(name)),
        },
    })
}

fn unknown_placeholder(name: &str) -> String {
    format!(
        "unknown placeholder `{{{name}}}` (known: {{user}}, {{email}}, {{groups}}, {{preferred_username}}, \
         {{issuer}}, {{claims.<name>}})"
    )
}

/// Renders parsed parts for `identity`; each claim placeholder reads only its own claim.
pub(super) fn render(parts: &[Part], identity: Option<&Identity>) -> String {
    let Some(identity) = identity else {
        return parts.iter().filter_map(literal).collect();
    };
    let mut out = String::new();
    for part in parts {
        match part {
            Part::Literal(text) => out.push_str(text),
            Part::User => out.push_str(&identity.user),
            Part::Email => out.push_str(identity.email.as_deref().unwrap_or_default()),
            Part::Groups => out.push_str(&identity.groups.join(",")),
            Part::PreferredUsername => out.push_str(identity.preferred_username.as_deref().unwrap_or_default()),
            Part::Issuer => out.push_str(&identity.issuer),
            Part::Claim(path) => out.push_str(&identity.claims.get(path).as_ref().map(claim_text).unwrap_or_default()),
        }
    }
    out
}

fn literal(part: &Part) -> Option<&str> {
    match part {
        Part::Literal(text) => Some(text),
        _ => None,
    }
}

/// A claim as header text: strings as is, numbers and bools as text, arrays comma-joined,
/// objects as JSON, null empty.
pub(super) fn claim_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        Value::Bool(_) | Value::Number(_) | Value::Object(_) => value.to_string(),
        Value::Array(items) => items.iter().map(claim_text).collect::<Vec<_>>().join(","),
    }
}
