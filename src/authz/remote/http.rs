//! Any HTTP policy service, as Oathkeeper's `remote_json` calls one: the identity and the
//! request as JSON; 200 allows, 403 denies, anything else is no answer.

use serde_json::{Value, json};

use super::{CannotAnswer, Verdict};
use crate::authn::Identity;
use crate::origin::OriginalRequest;

/// `{user, email, groups, claims, issuer, rule, request: {method, host, path, query}}`; the path
/// is the normalised one rules match, the query as the client sent it (empty when none).
pub(super) fn body(rule: &str, identity: &Identity, request: &OriginalRequest) -> Value {
    let query = request.uri.split_once('?').map_or("", |(_, query)| query);
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

/// The verdict in the service's status; its body is not read.
pub(super) fn verdict(status: reqwest::StatusCode) -> Result<Verdict, CannotAnswer> {
    match status.as_u16() {
        200 => Ok(Verdict::Allow),
        403 => Ok(Verdict::Deny(String::new())),
        other => Err(CannotAnswer(format!("answered {other} (200 allows, 403 denies)"))),
    }
}
