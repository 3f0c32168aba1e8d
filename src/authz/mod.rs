//! A rule's requirements (`require:`) checked against an identity.

pub mod expression;
pub mod remote;

use serde::Deserialize;

use serde_json::Value;

use crate::authn::Identity;
use crate::origin::OriginalRequest;
pub use expression::Expression;

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
    /// The `[[authorizers]]` name asked after every other requirement holds (see [`remote`]).
    pub authorizer: Option<String>,
    /// What a subject access review asks about; without it, the request's path and method.
    pub resource: Option<remote::ResourceAttributes>,
    /// A CEL expression that must be true (checked after the requirements above).
    pub expression: Option<Expression>,
}

impl Requirements {
    /// The claim paths these requirements read per request: the `claims` keys and the members
    /// the expression names as `claims.<name>`.
    pub fn claim_paths(&self) -> impl Iterator<Item = &str> {
        let expression = self.expression.iter().flat_map(Expression::claim_members);
        self.claims.keys().map(String::as_str).chain(expression)
    }

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

    /// [`check`](Self::check), then the expression over the identity and `request`. `rule` names
    /// the rule in the warning an expression that cannot be evaluated logs.
    pub fn check_request(&self, identity: &Identity, request: &OriginalRequest, rule: &str) -> Result<(), String> {
        self.check(identity)?;
        match &self.expression {
            Some(expression) => expression.check(identity, request, rule),
            None => Ok(()),
        }
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

    /// Reads only the claims required (kept parsed in the identity while these rules are in
    /// force: [`crate::authn::keep_claims`]).
    fn check_claims(&self, identity: &Identity) -> Result<(), String> {
        for (name, expected) in &self.claims {
            if !identity
                .claims
                .get(name)
                .is_some_and(|actual| claim_satisfies(&actual, expected))
            {
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::authn::Claims;

    fn identity(groups: &[&str], scopes: &[&str], claims: &str) -> Identity {
        Identity {
            issuer: Arc::from("main"),
            user: "u".into(),
            email: None,
            groups: groups.iter().map(|g| g.to_string()).collect(),
            preferred_username: None,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            claims: Claims::from_json(claims),
            expires_at: 0,
            digest: Default::default(),
        }
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn claims(value: Value) -> serde_json::Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn empty_requirements_accept_anyone() {
        assert_eq!(Requirements::default().check(&identity(&[], &[], "not json")), Ok(()));
    }

    #[test]
    fn groups_any_needs_one_of_the_groups() {
        let require = Requirements {
            groups_any: strings(&["admins", "ops"]),
            ..Default::default()
        };
        assert_eq!(require.check(&identity(&["ops"], &[], "{}")), Ok(()));
        assert_eq!(
            require.check(&identity(&["dev"], &[], "{}")),
            Err("requires one of groups [admins, ops]".into())
        );
    }

    #[test]
    fn groups_all_needs_every_group_and_names_the_missing_ones() {
        let require = Requirements {
            groups_all: strings(&["a", "b"]),
            ..Default::default()
        };
        assert_eq!(require.check(&identity(&["b", "a", "c"], &[], "{}")), Ok(()));
        assert_eq!(
            require.check(&identity(&["a"], &[], "{}")),
            Err("requires all of groups [a, b] (missing [b])".into())
        );
    }

    #[test]
    fn scopes_all_needs_every_scope() {
        let require = Requirements {
            scopes_all: strings(&["read", "write"]),
            ..Default::default()
        };
        assert_eq!(require.check(&identity(&[], &["write", "read"], "{}")), Ok(()));
        let error = require.check(&identity(&[], &["read"], "{}")).unwrap_err();
        assert_eq!(error, "requires all of scopes [read, write] (missing [write])");
    }

    #[test]
    fn issuers_compare_the_issuer_config_name() {
        let require = Requirements {
            issuers: strings(&["main", "other"]),
            ..Default::default()
        };
        assert_eq!(require.check(&identity(&[], &[], "{}")), Ok(()));
        let require = Requirements {
            issuers: strings(&["partner"]),
            ..Default::default()
        };
        assert_eq!(
            require.check(&identity(&[], &[], "{}")),
            Err("requires issuer one of [partner]".into())
        );
    }

    #[test]
    fn claims_equal_the_value_or_an_array_contains_it() {
        let token = r#"{"email_verified":true,"roles":["x","y"],"org":{"tier":"gold"},"a.b":1}"#;
        let require = Requirements {
            claims: claims(json!({"email_verified": true, "roles": "y", "org.tier": "gold", "a.b": 1})),
            ..Default::default()
        };
        assert_eq!(require.check(&identity(&[], &[], token)), Ok(()));
    }

    #[test]
    fn a_missing_or_different_claim_fails_naming_it() {
        let require = Requirements {
            claims: claims(json!({"email_verified": true})),
            ..Default::default()
        };
        let expected = Err("requires claim email_verified = true".to_string());
        assert_eq!(
            require.check(&identity(&[], &[], r#"{"email_verified":false}"#)),
            expected
        );
        assert_eq!(require.check(&identity(&[], &[], "{}")), expected);
        assert_eq!(require.check(&identity(&[], &[], "garbage")), expected);
        let require = Requirements {
            claims: claims(json!({"roles": "z"})),
            ..Default::default()
        };
        assert!(require.check(&identity(&[], &[], r#"{"roles":["x","y"]}"#)).is_err());
    }

    #[test]
    fn the_first_failing_requirement_is_reported() {
        let require = Requirements {
            groups_any: strings(&["admins"]),
            scopes_all: strings(&["s"]),
            ..Default::default()
        };
        assert_eq!(
            require.check(&identity(&[], &[], "{}")),
            Err("requires one of groups [admins]".into())
        );
    }
}
