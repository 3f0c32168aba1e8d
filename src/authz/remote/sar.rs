//! The Kubernetes authorization API: a `SubjectAccessReview` about the identity and either the
//! rule's resource or the request's path, as kube-rbac-proxy and the API server itself ask it.

use axum::http::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{CannotAnswer, ResourceAttributes, Verdict};
use crate::authn::Identity;
use crate::origin::OriginalRequest;

/// The review endpoint under the API server's URL.
pub(super) fn endpoint(url: &str) -> String {
    format!(
        "{}/apis/authorization.k8s.io/v1/subjectaccessreviews",
        url.trim_end_matches('/')
    )
}

/// The verb a resource review asks about when the rule names none: GET and HEAD `get`, POST
/// `create`, PUT `update`, PATCH `patch`, DELETE `delete`, any other method `*`.
pub fn verb_of(method: &Method) -> &'static str {
    match *method {
        Method::GET | Method::HEAD => "get",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE => "delete",
        _ => "*",
    }
}

/// The review of `identity` making `request`: about the rule's `resource` (its verb from the
/// method when not given), else about the normalised path with the lower-cased method as verb.
pub(super) fn review(identity: &Identity, resource: Option<&ResourceAttributes>, request: &OriginalRequest) -> Value {
    let mut spec = json!({ "user": identity.user, "groups": identity.groups });
    match resource {
        Some(resource) => {
            let mut resource = resource.clone();
            resource
                .verb
                .get_or_insert_with(|| verb_of(&request.method).to_string());
            spec["resourceAttributes"] = json!(resource);
        }
        None => {
            spec["nonResourceAttributes"] = json!({
                "path": request.path,
                "verb": request.method.as_str().to_ascii_lowercase(),
            });
        }
    }
    json!({
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": spec,
    })
}

#[derive(Deserialize)]
struct Review {
    #[serde(default)]
    status: Status,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct Status {
    allowed: bool,
    reason: String,
    #[serde(rename = "evaluationError")]
    evaluation_error: String,
}

/// The verdict in the API server's answer: `status.allowed: true` allows, anything else in a
/// review denies; any status but 200 and 201, or a body that is not a review, is no answer.
/// `with_token` says whether a token was sent (for the message of a 401).
pub(super) fn verdict(status: reqwest::StatusCode, body: &[u8], with_token: bool) -> Result<Verdict, CannotAnswer> {
    match status.as_u16() {
        200 | 201 => {}
        401 if with_token => {
            return Err(CannotAnswer(
                "the API server refused the token of token_file (401)".into(),
            ));
        }
        401 => {
            return Err(CannotAnswer(
                "the API server wants a token (401): set token_file, or mount the service account token".into(),
            ));
        }
        403 => {
            return Err(CannotAnswer(
                "the API server forbids this service account to create subjectaccessreviews (403): \
                 bind it to a ClusterRole with `create` on subjectaccessreviews.authorization.k8s.io"
                    .into(),
            ));
        }
        other => return Err(CannotAnswer(format!("the API server answered {other}"))),
    }
    let review: Review = serde_json::from_slice(body)
        .map_err(|e| CannotAnswer(format!("the answer is not a SubjectAccessReview: {e}")))?;
    if review.status.allowed {
        return Ok(Verdict::Allow);
    }
    let reason = [review.status.reason, review.status.evaluation_error]
        .into_iter()
        .filter(|text| !text.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    Ok(Verdict::Deny(reason))
}
