//! What rules may refer to by name, taken from the configuration: a rule that names an issuer,
//! a credential, an authorizer or the identity token the configuration does not have is a load
//! error (file, line and rule id), found by `check` as well as at start-up and on reload.

use crate::config::Config;

/// The names the configuration defines, for validating rules against it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Known {
    /// `[[issuers]]` names (and session check names, which are issuers of their identities).
    pub issuers: Vec<String>,
    /// `[[session_checks]]` names, usable in a rule's `credentials:`.
    pub session_checks: Vec<String>,
    /// `[[authorizers]]`: each name, and whether it is a subject access review (only those take
    /// a rule's `resource`).
    pub authorizers: Vec<(String, bool)>,
    /// Whether `[identity_token]` is configured (a rule's `identity_token:` needs it).
    pub identity_token: bool,
    /// Whether `[login]` is configured (a rule's `credentials: [session]` needs it).
    pub login: bool,
}

impl Known {
    /// The names `config` defines.
    pub fn of(config: &Config) -> Known {
        let checks: Vec<String> = config.session_checks.iter().map(|check| check.name.clone()).collect();
        Known {
            issuers: config
                .issuers
                .iter()
                .map(|issuer| issuer.name.clone())
                .chain(checks.iter().cloned())
                .collect(),
            session_checks: checks,
            login: config.login.is_some(),
            authorizers: config
                .authorizers
                .iter()
                .map(|a| {
                    (
                        a.name.clone(),
                        a.kind == crate::config::AuthorizerKind::SubjectAccessReview,
                    )
                })
                .collect(),
            identity_token: config.identity_token.is_some(),
        }
    }
}
