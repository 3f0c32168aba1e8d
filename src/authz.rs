//! A rule's requirements (`require:`) checked against an identity.

use serde::Deserialize;

use crate::authn::Identity;

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
        todo!("authz: {identity:?}")
    }
}
