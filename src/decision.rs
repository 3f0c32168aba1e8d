//! The pure core: from the matched rule and the credential's outcome to a [`Decision`]. No HTTP,
//! no I/O, so it is unit-tested and benchmarked on its own.

use std::sync::Arc;

use axum::http::HeaderName;

use crate::authn::Identity;
use crate::config::DefaultPolicy;
use crate::rules::{OnUnauthenticated, Policy, Rule};

/// The rule id reported (metrics, logs, explain) when no rule matched.
pub const DEFAULT_RULE_ID: &str = "(default)";

/// What the credential check found.
#[derive(Debug, Clone)]
pub enum Credential {
    /// The rule denies outright: the credential was not looked at.
    NotChecked,
    /// No credential was presented.
    Missing,
    /// A credential was presented but refused; treated as no credential.
    Invalid {
        /// Why (for logs and the answer body; never the credential itself).
        reason: String,
        /// Whether it was a bearer token (the 401 then says `error="invalid_token"`).
        bearer: bool,
    },
    /// A verified credential.
    Valid(Arc<Identity>),
}

impl Credential {
    /// The verified identity, if any.
    pub fn identity(&self) -> Option<&Arc<Identity>> {
        match self {
            Credential::Valid(identity) => Some(identity),
            _ => None,
        }
    }
}

/// The verdict on one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision<'r> {
    /// Let it through.
    Allow {
        /// The rule that allowed it.
        rule: &'r str,
        /// The identity, when a valid credential was presented.
        identity: Option<Arc<Identity>>,
        /// The rule's extra headers, rendered.
        headers: Vec<(HeaderName, String)>,
    },
    /// No valid credential where one is needed.
    Unauthenticated {
        /// The rule that needs it.
        rule: &'r str,
        /// Whether browsers should be sent to login (else always 401).
        redirect: bool,
        /// Why, in words.
        reason: String,
        /// Whether a bearer token was presented and refused.
        invalid_bearer: bool,
    },
    /// A valid credential that fails the rule's requirements, or a denying rule.
    Forbidden {
        /// The rule that forbids it.
        rule: &'r str,
        /// Why, in words.
        reason: String,
    },
}

impl Decision<'_> {
    /// The id of the rule that decided.
    pub fn rule(&self) -> &str {
        match self {
            Decision::Allow { rule, .. }
            | Decision::Unauthenticated { rule, .. }
            | Decision::Forbidden { rule, .. } => rule,
        }
    }
}

/// The policy a request is under: its rule's, or the default one when no rule matched.
pub fn policy_of(rule: Option<&Rule>, default: DefaultPolicy) -> Policy {
    match (rule, default) {
        (Some(rule), _) => rule.policy,
        (None, DefaultPolicy::Deny) => Policy::Deny,
        (None, DefaultPolicy::Authenticated) => Policy::Authenticated,
        (None, DefaultPolicy::Allow) => Policy::Allow,
    }
}

/// Decides one request. `login_enabled` is the default for rules without `on_unauthenticated`:
/// browsers are sent to login only when there is a login to send them to.
pub fn decide<'r>(
    rule: Option<&'r Rule>,
    default: DefaultPolicy,
    credential: &Credential,
    login_enabled: bool,
) -> Decision<'r> {
    let rule_id = rule.map_or(DEFAULT_RULE_ID, |rule| rule.id.as_str());
    let identity = credential.identity();
    match policy_of(rule, default) {
        Policy::Deny => Decision::Forbidden {
            rule: rule_id,
            reason: match rule {
                Some(_) => format!("rule `{rule_id}` denies this request"),
                None => "no rule matches this request and the default policy is deny".into(),
            },
        },
        Policy::Allow => Decision::Allow {
            rule: rule_id,
            identity: identity.cloned(),
            headers: headers(rule, identity),
        },
        Policy::Authenticated => match identity {
            None => Decision::Unauthenticated {
                rule: rule_id,
                redirect: redirects(rule, login_enabled),
                reason: match credential {
                    Credential::Invalid { reason, .. } => reason.clone(),
                    _ => "authentication required".into(),
                },
                invalid_bearer: matches!(credential, Credential::Invalid { bearer: true, .. }),
            },
            Some(identity) => match rule.map(|rule| rule.require.check(identity)) {
                Some(Err(reason)) => Decision::Forbidden { rule: rule_id, reason },
                _ => Decision::Allow {
                    rule: rule_id,
                    identity: Some(identity.clone()),
                    headers: headers(rule, Some(identity)),
                },
            },
        },
    }
}

fn redirects(rule: Option<&Rule>, login_enabled: bool) -> bool {
    let wanted = rule.and_then(|rule| rule.on_unauthenticated);
    login_enabled && wanted != Some(OnUnauthenticated::Unauthorized)
}

fn headers(rule: Option<&Rule>, identity: Option<&Arc<Identity>>) -> Vec<(HeaderName, String)> {
    let Some(rule) = rule else { return Vec::new() };
    rule.headers
        .iter()
        .map(|template| (template.name.clone(), template.render(identity.map(|i| &**i))))
        .collect()
}
