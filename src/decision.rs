//! The pure core: from the matched rule and the credential's outcome to a [`Decision`]. No HTTP,
//! no I/O, so it is unit-tested and benchmarked on its own (`benches/decision.rs`), and every
//! wire form (the HTTP endpoints, and next gRPC ext_authz) renders the same verdict.

use std::sync::Arc;

use crate::authn::{Authenticated, Identity, Outcome, Upstream};
use crate::config::DefaultPolicy;
use crate::origin::OriginalRequest;
use crate::rules::{OnUnauthenticated, Policy, Rule};

/// The rule id reported (metrics, logs, explain) when no rule matched.
pub const DEFAULT_RULE_ID: &str = "(default)";

/// The verdict on one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision<'r> {
    /// Let it through.
    Allow {
        /// The rule that allowed it.
        rule: &'r str,
        /// The identity, when a valid credential was presented.
        identity: Option<Arc<Identity>>,
        /// What the credential sends along: the access token, a refreshed session's cookies.
        upstream: Upstream,
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
    /// A remote check (introspection, a session check, an authorizer) could not answer: no
    /// verdict on the user, so 503, never an allow.
    Unavailable {
        /// The rule whose check could not be made.
        rule: &'r str,
        /// Why, in words (for logs and the answer body).
        reason: String,
    },
}

impl Decision<'_> {
    /// The `outcome` label of `portcullis_decisions_total`.
    pub fn label(&self) -> &'static str {
        match self {
            Decision::Allow { .. } => "allow",
            Decision::Unauthenticated { .. } => "unauthenticated",
            Decision::Forbidden { .. } => "forbidden",
            Decision::Unavailable { .. } => "error",
        }
    }

    /// The id of the rule that decided.
    pub fn rule(&self) -> &str {
        match self {
            Decision::Allow { rule, .. }
            | Decision::Unauthenticated { rule, .. }
            | Decision::Forbidden { rule, .. }
            | Decision::Unavailable { rule, .. } => rule,
        }
    }
}

/// Whether the request's credential must be checked: not under a `deny` policy, which refuses
/// whatever it is (so no token is verified and no session loaded for nothing).
pub fn needs_identity(rule: Option<&Rule>, default: DefaultPolicy) -> bool {
    policy_of(rule, default) != Policy::Deny
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
/// browsers are sent to login only when there is a login to send them to. `request` is what a
/// rule's `require.expression` reads besides the identity.
pub fn decide<'r>(
    rule: Option<&'r Rule>,
    default: DefaultPolicy,
    checked: Authenticated,
    login_enabled: bool,
    request: &OriginalRequest,
) -> Decision<'r> {
    let rule_id = rule.map_or(DEFAULT_RULE_ID, |rule| rule.id.as_str());
    let Authenticated {
        outcome: credential,
        upstream,
    } = checked;
    let identity = credential.identity();
    let policy = policy_of(rule, default);
    // A credential that could not be checked is no verdict on the user, not an anonymous
    // request: 503 even on an `allow` rule, whose upstream may read the identity headers.
    if policy != Policy::Deny
        && let Outcome::Unavailable { reason, .. } = &credential
    {
        return Decision::Unavailable {
            rule: rule_id,
            reason: reason.clone(),
        };
    }
    match policy {
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
            upstream,
        },
        // The identity moves into the decision: its count is shared by every request of the
        // same user, so each clone would touch a cache line the other cores touch too.
        Policy::Authenticated => match credential {
            Outcome::Valid(identity) => {
                match rule.map(|rule| rule.require.check_request(&identity, request, rule_id)) {
                    Some(Err(reason)) => Decision::Forbidden { rule: rule_id, reason },
                    _ => Decision::Allow {
                        rule: rule_id,
                        identity: Some(identity),
                        upstream,
                    },
                }
            }
            credential => Decision::Unauthenticated {
                rule: rule_id,
                redirect: redirects(rule, login_enabled),
                invalid_bearer: credential.is_invalid_bearer(),
                reason: match credential {
                    Outcome::Invalid { reason, .. } => reason,
                    _ => "authentication required".into(),
                },
            },
        },
    }
}

fn redirects(rule: Option<&Rule>, login_enabled: bool) -> bool {
    let wanted = rule.and_then(|rule| rule.on_unauthenticated);
    login_enabled && wanted != Some(OnUnauthenticated::Unauthorized)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authn::Claims;
    use crate::rules::RuleSet;
    use std::path::Path;

    const RULES: &str = r#"
- id: open
  paths: ["/open/**"]
  policy: allow
  headers: { X-Who: "{user}" }
- id: closed
  paths: ["/closed/**"]
  policy: deny
- id: admins
  paths: ["/admin/**"]
  policy: authenticated
  require: { groups_any: [admins] }
- id: api
  paths: ["/api/**"]
  policy: authenticated
  on_unauthenticated: unauthorized
"#;

    fn rules() -> RuleSet {
        RuleSet::from_yaml(RULES, Path::new("test.yaml")).expect("rules compile")
    }

    fn request() -> crate::origin::OriginalRequest {
        crate::origin::OriginalRequest {
            method: axum::http::Method::GET,
            scheme: "https",
            host: "app.example.com".into(),
            authority: "app.example.com".into(),
            path: "/x".into(),
            uri: "/x".into(),
        }
    }

    fn rule<'a>(set: &'a RuleSet, id: &str) -> Option<&'a Rule> {
        let request = crate::origin::OriginalRequest {
            method: axum::http::Method::GET,
            scheme: "https",
            host: "app.example.com".into(),
            authority: "app.example.com".into(),
            path: format!("/{id}/x").replace("/admins/", "/admin/"),
            uri: format!("/{id}/x"),
        };
        set.first_match(&request)
    }

    fn identity(groups: &[&str]) -> Outcome {
        Outcome::Valid(Arc::new(Identity {
            issuer: "main".into(),
            user: "alice".into(),
            email: None,
            groups: groups.iter().map(|g| g.to_string()).collect(),
            preferred_username: None,
            scopes: vec![],
            claims: Claims::default(),
            expires_at: u64::MAX,
            digest: Default::default(),
        }))
    }

    #[test]
    fn deny_rule_forbids_without_looking_at_the_credential() {
        let set = rules();
        let decision = decide(
            rule(&set, "closed"),
            DefaultPolicy::Allow,
            Authenticated::from(identity(&["admins"])),
            true,
            &request(),
        );
        assert!(matches!(decision, Decision::Forbidden { rule: "closed", .. }));
    }

    #[test]
    fn a_credential_that_cannot_be_checked_is_unavailable_on_every_rule_but_deny() {
        let set = rules();
        let unavailable = || {
            Authenticated::from(Outcome::Unavailable {
                kind: crate::authn::CredentialKind::Bearer,
                reason: "introspection at http://idp/introspect timed out".into(),
            })
        };
        for id in ["open", "admins", "api"] {
            let decision = decide(rule(&set, id), DefaultPolicy::Deny, unavailable(), true, &request());
            assert!(
                matches!(&decision, Decision::Unavailable { reason, .. } if reason.contains("timed out")),
                "{id}: {decision:?}"
            );
            assert_eq!(decision.label(), "error");
        }
        let denied = decide(
            rule(&set, "closed"),
            DefaultPolicy::Deny,
            unavailable(),
            true,
            &request(),
        );
        assert!(matches!(denied, Decision::Forbidden { .. }), "{denied:?}");
    }

    #[test]
    fn allow_rule_passes_anonymous_requests_and_renders_headers_from_a_credential() {
        let set = rules();
        let open = rule(&set, "open");
        let anonymous = decide(
            open,
            DefaultPolicy::Deny,
            Authenticated::from(Outcome::Missing),
            false,
            &request(),
        );
        let Decision::Allow { identity: None, .. } = anonymous else {
            panic!("{anonymous:?}")
        };
        let rendered = |identity: Option<&Identity>| open.expect("rule").rendered_headers(identity);
        assert_eq!(rendered(None)[0].1, "");
        let known = decide(
            open,
            DefaultPolicy::Deny,
            Authenticated::from(identity(&[])),
            false,
            &request(),
        );
        let Decision::Allow {
            identity: Some(identity),
            ..
        } = known
        else {
            panic!("{known:?}")
        };
        assert_eq!(rendered(Some(&identity))[0].1, "alice");
    }

    #[test]
    fn missing_credential_on_authenticated_rule_redirects_only_when_login_is_on() {
        let set = rules();
        let with_login = decide(
            rule(&set, "admin"),
            DefaultPolicy::Deny,
            Authenticated::from(Outcome::Missing),
            true,
            &request(),
        );
        assert!(matches!(
            with_login,
            Decision::Unauthenticated {
                redirect: true,
                invalid_bearer: false,
                ..
            }
        ));
        let without = decide(
            rule(&set, "admin"),
            DefaultPolicy::Deny,
            Authenticated::from(Outcome::Missing),
            false,
            &request(),
        );
        assert!(matches!(without, Decision::Unauthenticated { redirect: false, .. }));
    }

    #[test]
    fn unauthorized_rule_never_redirects() {
        let set = rules();
        let decision = decide(
            rule(&set, "api"),
            DefaultPolicy::Deny,
            Authenticated::from(Outcome::Missing),
            true,
            &request(),
        );
        assert!(matches!(decision, Decision::Unauthenticated { redirect: false, .. }));
    }

    #[test]
    fn invalid_bearer_is_unauthenticated_and_marked() {
        let set = rules();
        let invalid = Outcome::Invalid {
            kind: crate::authn::CredentialKind::Bearer,
            reason: "expired".into(),
        };
        let decision = decide(
            rule(&set, "admin"),
            DefaultPolicy::Deny,
            Authenticated::from(invalid),
            true,
            &request(),
        );
        assert!(
            matches!(decision, Decision::Unauthenticated { invalid_bearer: true, ref reason, .. } if reason == "expired")
        );
    }

    #[test]
    fn failed_requirement_is_forbidden_and_met_requirement_allowed() {
        let set = rules();
        let outsider = decide(
            rule(&set, "admin"),
            DefaultPolicy::Deny,
            Authenticated::from(identity(&["dev"])),
            true,
            &request(),
        );
        assert!(matches!(outsider, Decision::Forbidden { rule: "admins", .. }));
        let admin = decide(
            rule(&set, "admin"),
            DefaultPolicy::Deny,
            Authenticated::from(identity(&["admins"])),
            true,
            &request(),
        );
        assert!(matches!(admin, Decision::Allow { rule: "admins", .. }));
    }

    #[test]
    fn default_policy_applies_when_no_rule_matches() {
        let deny = decide(
            None,
            DefaultPolicy::Deny,
            Authenticated::from(identity(&[])),
            true,
            &request(),
        );
        assert!(matches!(
            deny,
            Decision::Forbidden {
                rule: DEFAULT_RULE_ID,
                ..
            }
        ));
        let authenticated = decide(
            None,
            DefaultPolicy::Authenticated,
            Authenticated::from(Outcome::Missing),
            true,
            &request(),
        );
        assert!(matches!(
            authenticated,
            Decision::Unauthenticated { redirect: true, .. }
        ));
        let allow = decide(
            None,
            DefaultPolicy::Allow,
            Authenticated::from(Outcome::Missing),
            true,
            &request(),
        );
        assert!(matches!(allow, Decision::Allow { .. }));
    }
}
