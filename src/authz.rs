//! A rule's requirements (`require:`) checked against an identity.

use serde::Deserialize;

use serde_json::Value;

use crate::authn::{Identity, lookup};

/// All of these must hold, else 403. Empty lists are not checked.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Requirements {
    /// At least one of these groups.
    pub groups_any: Vec<String>,
    /// Every one of these groups.
    pub groups_all: Vec<String>,
    /// Every one of these scopes (from `scope` / `scp`).
    pub scopes_all: Vec<String>,
    /// The identity's issuer (by `[[issuers]]` name) is one of these.
    pub issuers: Vec<String>,
    /// Each claim (name or dotted path) equals the value (or, for an array claim, contains it).
    pub claims: serde_json::Map<String, serde_json::Value>,
}

impl Requirements {
    /// `Ok` when `identity` meets every requirement, else the first one it fails, in words.
    pub fn check(&self, identity: &Identity) -> Result<(), String> {
        self.check_groups(identity)?;
        let missing = missing(&self.scopes_all, &identity.scopes);
        if !missing.is_empty() {
            return Err(format!(
                "requires all of scopes {} (missing {})",
                list(&self.scopes_all),
                list(&missing)
            ));
        }
        if !self.issuers.is_empty() && !self.issuers.iter().any(|i| **i == *identity.issuer) {
            return Err(format!("requires issuer one of {}", list(&self.issuers)));
        }
        self.check_claims(identity)
    }

    fn check_groups(&self, identity: &Identity) -> Result<(), String> {
        if !self.groups_any.is_empty() && !self.groups_any.iter().any(|g| identity.groups.contains(g)) {
            return Err(format!("requires one of groups {}", list(&self.groups_any)));
        }
        let missing = missing(&self.groups_all, &identity.groups);
        if !missing.is_empty() {
            return Err(format!(
                "requires all of groups {} (missing {})",
                list(&self.groups_all),
                list(&missing)
            ));
        }
        Ok(())
    }

    /// Parses the claims once, and only when there are claim requirements.
    fn check_claims(&self, identity: &Identity) -> Result<(), String> {
        if self.claims.is_empty() {
            return Ok(());
        }
        let claims = identity.claims.parse();
        for (name, expected) in &self.claims {
            if !lookup(&claims, name).is_some_and(|actual| claim_satisfies(actual, expected)) {
                return Err(format!("requires claim {name} = {expected}"));
            }
        }
        Ok(())
    }
}

/// A claim equals the expected value, or is an array that contains it.
fn claim_satisfies(actual: &Value, expected: &Value) -> bool {
    actual == expected || actual.as_array().is_some_and(|items| items.contains(expected))
}

/// The entries of `required` that `present` lacks.
fn missing(required: &[String], present: &[String]) -> Vec<String> {
    required.iter().filter(|r| !present.contains(r)).cloned().collect()
}

fn list(items: &[String]) -> String {
    format!("[{}]", items.join(", "))
}
