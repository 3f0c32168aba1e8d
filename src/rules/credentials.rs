//! A rule's `credentials:` list: the credential kinds it accepts, in the order they are tried,
//! each name resolved against the configuration (`bearer`, `session` with `[login]`, or a
//! `[[session_checks]]` name).

use super::Known;
use crate::authn::{CredentialKind, SessionCheckId};

/// The kinds `names` stand for, in order; `Err` gives every reason a name cannot be used.
pub(super) fn resolve(names: &[String], known: &Known) -> Result<Vec<CredentialKind>, Vec<String>> {
    let mut kinds = Vec::with_capacity(names.len());
    let mut reasons = Vec::new();
    if names.is_empty() {
        reasons.push("credentials: empty list (omit the field to accept every configured credential)".into());
    }
    for name in names {
        let kind = match name.as_str() {
            "bearer" => CredentialKind::Bearer,
            "session" if known.login => CredentialKind::Session,
            "session" => {
                reasons
                    .push("credentials: `session` needs [login] in the config (sessions come from the login)".into());
                continue;
            }
            other => match known.session_checks.iter().position(|check| check == other) {
                Some(index) => CredentialKind::SessionCheck(SessionCheckId::new(index, other)),
                None => {
                    reasons.push(format!(
                        "credentials: unknown credential `{other}` (expected {})",
                        expected(known)
                    ));
                    continue;
                }
            },
        };
        if kinds.contains(&kind) {
            reasons.push(format!("credentials: `{name}` is listed twice"));
        } else {
            kinds.push(kind);
        }
    }
    if reasons.is_empty() { Ok(kinds) } else { Err(reasons) }
}

/// The names this configuration accepts, for the message.
fn expected(known: &Known) -> String {
    let mut names = vec!["bearer".to_string()];
    if known.login {
        names.push("session".into());
    }
    names.extend(
        known
            .session_checks
            .iter()
            .map(|name| format!("a session check: {name}")),
    );
    if known.session_checks.is_empty() {
        names.push("or the name of a [[session_checks]] block".into());
    }
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn names_resolve_in_order_to_configured_kinds() {
        let known = Known {
            session_checks: names(&["kratos", "mia"]),
            login: true,
            ..Known::default()
        };
        let kinds = resolve(&names(&["mia", "bearer", "session"]), &known).expect("kinds");
        let listed: Vec<&str> = kinds.iter().map(|kind| kind.name()).collect();
        assert_eq!(listed, ["mia", "bearer", "session"]);
        assert_eq!(kinds[0], CredentialKind::SessionCheck(SessionCheckId::new(1, "mia")));
    }

    #[test]
    fn unknown_repeated_and_loginless_names_are_refused() {
        let known = Known::default();
        let reasons = resolve(&names(&["kratos", "session", "bearer", "bearer"]), &known).expect_err("refused");
        assert!(reasons[0].contains("unknown credential `kratos`"), "{reasons:?}");
        assert!(reasons[1].contains("[login]"), "{reasons:?}");
        assert!(reasons[2].contains("listed twice"), "{reasons:?}");
        assert!(resolve(&[], &known).is_err());
    }
}
