//! The `session` credential: Portcullis's own session cookie, opened, checked and refreshed by
//! the browser login ([`Login::session_credential`]).

use axum::http::HeaderMap;

use super::credential::{Authenticated, CredentialKind, Outcome, Upstream};
use crate::login::{Login, SessionCredential};

/// Checks the session cookie of `headers`; `None` when there is none (not this kind). The
/// session's access token is kept for upstream only when `keep_token` (`pass_access_token`).
pub async fn check(login: &Login, headers: &HeaderMap, keep_token: bool) -> Option<Authenticated> {
    match login.session_credential(headers).await {
        SessionCredential::Absent => None,
        SessionCredential::Refused(reason) => Some(Authenticated::from(Outcome::Invalid {
            kind: CredentialKind::Session,
            reason: format!("session cookie refused: {reason}"),
        })),
        SessionCredential::Valid {
            identity,
            access_token,
            set_cookies,
        } => Some(Authenticated {
            outcome: Outcome::Valid(identity),
            upstream: Upstream {
                access_token: access_token.filter(|_| keep_token),
                set_cookies,
            },
        }),
    }
}
