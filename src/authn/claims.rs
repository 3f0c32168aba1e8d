//! The one way claims become an [`Identity`]: each issuer's claim names (`user_claim`,
//! `email_claim`, `groups_claim`, `preferred_username_claim`) applied the same way to a bearer
//! token's payload, a session's ID-token and userinfo claims, and (next) introspection answers
//! and session checks.
//!
//! - the user: a non-empty string, or a number as text; missing, the credential is invalid;
//! - email and preferred username: strings only;
//! - groups: a JSON array of strings, or one string split at spaces and commas;
//! - scopes: `scope` (space separated), else `scp` (an array or a space separated string).

use std::sync::Arc;

use serde_json::{Map, Value};

use super::{Claims, Identity, lookup};
use crate::config::IssuerConfig;

/// The claim names of one issuer.
#[derive(Debug, Clone)]
pub struct ClaimMapper {
    issuer: Arc<str>,
    user: String,
    email: String,
    groups: String,
    preferred_username: String,
}

impl ClaimMapper {
    /// The mapper of the `[[issuers]]` block `config`.
    pub fn new(config: &IssuerConfig) -> ClaimMapper {
        ClaimMapper {
            issuer: config.name.as_str().into(),
            user: config.user_claim.clone(),
            email: config.email_claim.clone(),
            groups: config.groups_claim.clone(),
            preferred_username: config.preferred_username_claim.clone(),
        }
    }

    /// The mapper of a credential vouched for by `issuer` whose claims are read at the given
    /// names or dotted paths (a `[[session_checks]]` block's `*_field`s).
    pub fn for_fields(issuer: &str, user: &str, email: &str, groups: &str, preferred_username: &str) -> ClaimMapper {
        ClaimMapper {
            issuer: issuer.into(),
            user: user.into(),
            email: email.into(),
            groups: groups.into(),
            preferred_username: preferred_username.into(),
        }
    }

    /// The identity `claims` (whose JSON text is `claims_text`) vouch for until `expires_at`;
    /// `Err` names the user claim when it is missing or empty.
    pub fn identity(
        &self,
        claims: &Map<String, Value>,
        claims_text: &str,
        expires_at: u64,
    ) -> Result<Identity, String> {
        let user = user(claims, &self.user).ok_or_else(|| format!("claim `{}` (the user) is missing", self.user))?;
        Ok(Identity {
            issuer: self.issuer.clone(),
            user,
            email: string(claims, &self.email),
            groups: groups(claims, &self.groups),
            preferred_username: string(claims, &self.preferred_username),
            scopes: scopes(claims),
            claims: Claims::new(claims_text, claims),
            expires_at,
            digest: Default::default(),
        })
    }

    /// The groups of `claims` (the login asks userinfo for them when the ID token has none).
    pub fn groups(&self, claims: &Map<String, Value>) -> Vec<String> {
        groups(claims, &self.groups)
    }

    /// Whether `claims` carry the groups claim at all.
    pub fn has_groups(&self, claims: &Map<String, Value>) -> bool {
        lookup(claims, &self.groups).is_some()
    }
}

/// The user: a non-empty string, or a number turned into text.
fn user(claims: &Map<String, Value>, name: &str) -> Option<String> {
    match lookup(claims, name)? {
        Value::String(user) if !user.is_empty() => Some(user.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

fn string(claims: &Map<String, Value>, name: &str) -> Option<String> {
    lookup(claims, name)?.as_str().map(str::to_string)
}

/// Groups: a JSON array of strings, or one string separated by spaces or commas.
fn groups(claims: &Map<String, Value>, name: &str) -> Vec<String> {
    match lookup(claims, name) {
        Some(Value::Array(items)) => strings(items),
        Some(Value::String(text)) => split(text, &[' ', ',']),
        _ => Vec::new(),
    }
}

/// Scopes: `scope` (space separated), else `scp` (an array, or a space separated string).
fn scopes(claims: &Map<String, Value>) -> Vec<String> {
    match claims.get("scope").or_else(|| claims.get("scp")) {
        Some(Value::String(text)) => split(text, &[' ']),
        Some(Value::Array(items)) => strings(items),
        _ => Vec::new(),
    }
}

fn split(text: &str, separators: &[char]) -> Vec<String> {
    let parts = text.split(separators).map(str::trim).filter(|part| !part.is_empty());
    exact(parts.map(str::to_string).collect())
}

fn strings(items: &[Value]) -> Vec<String> {
    exact(items.iter().filter_map(Value::as_str).map(str::to_string).collect())
}

/// Identities are cached by the hundred thousand: no spare capacity.
fn exact(mut items: Vec<String>) -> Vec<String> {
    items.shrink_to_fit();
    items
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mapper(user_claim: &str) -> ClaimMapper {
        ClaimMapper {
            issuer: "main".into(),
            user: user_claim.into(),
            email: "email".into(),
            groups: "groups".into(),
            preferred_username: "preferred_username".into(),
        }
    }

    fn identity(mapper: &ClaimMapper, claims: Value) -> Result<Identity, String> {
        let object = claims.as_object().cloned().expect("object");
        mapper.identity(&object, &claims.to_string(), 10)
    }

    #[test]
    fn every_field_is_read_with_the_issuer_claim_names() {
        let claims = json!({
            "sub": "u1", "mail": "a@x", "groups": ["admins", "ops"], "preferred_username": "ali",
            "scope": "read write", "tenant": "acme"
        });
        let mapper = ClaimMapper {
            email: "mail".into(),
            ..mapper("sub")
        };
        let identity = identity(&mapper, claims).expect("identity");
        assert_eq!((&*identity.issuer, identity.user.as_str()), ("main", "u1"));
        assert_eq!(identity.email.as_deref(), Some("a@x"));
        assert_eq!(identity.groups, ["admins", "ops"]);
        assert_eq!(identity.preferred_username.as_deref(), Some("ali"));
        assert_eq!(identity.scopes, ["read", "write"]);
        assert_eq!(identity.claims.get("tenant"), Some(json!("acme")));
        assert_eq!(identity.expires_at, 10);
    }

    #[test]
    fn a_missing_or_empty_user_is_an_error_for_every_credential() {
        // Sessions used to fall back to `sub`; tokens refused. Now both refuse.
        for claims in [
            json!({"sub": "u"}),
            json!({"sub": "u", "email": ""}),
            json!({"sub": "u", "email": null}),
            json!({"sub": "u", "email": ["a@x"]}),
        ] {
            let error = identity(&mapper("email"), claims.clone()).expect_err("no user");
            assert!(error.contains("`email`"), "{claims}: {error}");
        }
    }

    #[test]
    fn a_numeric_user_is_text_but_a_numeric_email_is_no_email() {
        let identity = identity(&mapper("uid"), json!({"uid": 42, "email": 42})).expect("identity");
        assert_eq!(identity.user, "42");
        assert_eq!(identity.email, None);
    }

    #[test]
    fn group_strings_are_split_and_trimmed_and_arrays_keep_strings_only() {
        let from_text = identity(&mapper("sub"), json!({"sub": "u", "groups": " a, b  c,,"})).expect("identity");
        assert_eq!(from_text.groups, ["a", "b", "c"]);
        let from_array = identity(&mapper("sub"), json!({"sub": "u", "groups": ["a", 1, null, "b c"]})).expect("id");
        assert_eq!(from_array.groups, ["a", "b c"]);
    }

    #[test]
    fn scopes_come_from_scope_else_scp() {
        let scp = identity(&mapper("sub"), json!({"sub": "u", "scp": ["x", "y"]})).expect("identity");
        assert_eq!(scp.scopes, ["x", "y"]);
        let both = identity(&mapper("sub"), json!({"sub": "u", "scope": "a", "scp": ["x"]})).expect("identity");
        assert_eq!(both.scopes, ["a"]);
    }
}
