//! Any HTTP policy service, as Oathkeeper's `remote_json` calls one: the identity and the
//! request as JSON; 200 allows, 403 denies, anything else is no answer.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{CannotAnswer, Verdict};
use crate::authn::Identity;
use crate::origin::OriginalRequest;

/// `{user, email, groups, claims, issuer, rule, request: {method, host, path, query}}`; the path
/// is the normalised one rules match, the query as the client sent it (empty when none).
pub(super) fn body(rule: &str, identity: &Identity, request: &OriginalRequest) -> Value {
    let query = super::question::query(request);
    json!({
        "user": identity.user,
        "email": identity.email,
        "groups": identity.groups,
        "claims": identity.claims.parse(),
        "issuer": &*identity.issuer,
        "rule": rule,
        "request": {
            "method": request.method.as_str(),
            "host": request.host,
            "path": request.path,
            "query": query,
        },
    })
}

/// What [`body`] is made of, hashed: equal keys mean equal bodies. The identity enters by its
/// [`Identity::digest`] (every part of it, the claims by their JSON text, so equal claims
/// written two ways only miss the cache), made once per identity rather than per request. Each
/// field is length-prefixed, so no two field lists hash alike.
pub(super) fn cache_key(rule: &str, identity: &Identity, request: &OriginalRequest) -> [u8; 32] {
    let query = super::question::query(request);
    let mut hasher = Sha256::new();
    let mut field = |bytes: &[u8]| {
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    };
    field(rule.as_bytes());
    field(identity.digest());
    field(request.method.as_str().as_bytes());
    field(request.host.as_bytes());
    field(request.path.as_bytes());
    field(query.as_bytes());
    hasher.finalize().into()
}

/// The verdict in the service's status; its body is not read.
pub(super) fn verdict(status: reqwest::StatusCode) -> Result<Verdict, CannotAnswer> {
    match status.as_u16() {
        200 => Ok(Verdict::Allow),
        403 => Ok(Verdict::Deny(String::new())),
        other => Err(CannotAnswer(format!("answered {other} (200 allows, 403 denies)"))),
    }
}
