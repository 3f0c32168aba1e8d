//! The one credential model: which kinds of credential a request may present, what checking
//! them found, and what a valid one sends upstream besides the identity headers.
//!
//! The contract's rule: kinds are tried in order, and the first one *present* in the request
//! decides. A present but invalid credential is no credential (401 or a redirect, never 500)
//! and never falls back to the next kind.

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue};

use super::Identity;
use super::jwt::Verifier;
use super::session_check::{SessionCheckId, SessionChecks};
use super::{bearer, session};
use crate::login::Login;
use crate::origin::OriginalRequest;

/// A kind of credential a request can present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    /// `Authorization: Bearer <JWT>`, checked against the issuers' keys.
    Bearer,
    /// Portcullis's own session cookie (`[login]`).
    Session,
    /// A `[[session_checks]]` block: a session held by another service.
    SessionCheck(SessionCheckId),
}

impl CredentialKind {
    /// The name used in logs, answers and (later) rules' `credentials:`.
    pub fn name(self) -> &'static str {
        match self {
            CredentialKind::Bearer => "bearer",
            CredentialKind::Session => "session",
            CredentialKind::SessionCheck(check) => check.name(),
        }
    }
}

/// What checking the request's credential found.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// No credential of an accepted kind was presented.
    Missing,
    /// A credential was presented but refused; treated as no credential.
    Invalid {
        /// Which kind it was (a refused bearer token gets `error="invalid_token"`).
        kind: CredentialKind,
        /// Why (for logs and the answer body; never the credential itself).
        reason: String,
    },
    /// A verified credential.
    Valid(Arc<Identity>),
    /// A credential whose check needs a remote service (introspection, a session check) that
    /// could not answer: no verdict on the user, so the decision is 503, never an allow.
    Unavailable {
        /// Which kind it was.
        kind: CredentialKind,
        /// Why, in words (the endpoint and the failure; never the credential itself).
        reason: String,
    },
}

impl Outcome {
    /// The verified identity, if any.
    pub fn identity(&self) -> Option<&Arc<Identity>> {
        match self {
            Outcome::Valid(identity) => Some(identity),
            _ => None,
        }
    }

    /// Whether a bearer token was presented and refused.
    pub fn is_invalid_bearer(&self) -> bool {
        matches!(
            self,
            Outcome::Invalid {
                kind: CredentialKind::Bearer,
                ..
            }
        )
    }
}

/// What a valid credential sends along, besides the identity headers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Upstream {
    /// The access token (the bearer token, or the session's), with `pass_access_token` only.
    pub access_token: Option<String>,
    /// Cookies of a refreshed session, for the browser (sent with a 200 only).
    pub set_cookies: Vec<HeaderValue>,
}

/// The credential of one request: the outcome and what it sends along.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// What was found.
    pub outcome: Outcome,
    /// What goes upstream (empty unless the outcome is valid).
    pub upstream: Upstream,
}

impl Authenticated {
    /// No credential was presented.
    pub fn missing() -> Authenticated {
        Authenticated::from(Outcome::Missing)
    }
}

impl From<Outcome> for Authenticated {
    fn from(outcome: Outcome) -> Authenticated {
        Authenticated {
            outcome,
            upstream: Upstream::default(),
        }
    }
}

/// Checks credentials of every configured kind.
pub struct Authenticator {
    verifier: Arc<Verifier>,
    login: Option<Arc<Login>>,
    kinds: Vec<CredentialKind>,
    /// The `[[session_checks]]` blocks, in config order.
    checks: SessionChecks,
    /// Whether the access token goes upstream (`headers.pass_access_token`): only then is it
    /// copied out of the request, so the decision path allocates nothing for it otherwise.
    keep_access_token: bool,
}

impl Authenticator {
    /// The kinds configured: `bearer` always, `session` with `[login]`, in the contract's order.
    /// `keep_access_token` is `headers.pass_access_token`.
    pub fn new(verifier: Arc<Verifier>, login: Option<Arc<Login>>, keep_access_token: bool) -> Authenticator {
        let mut kinds = vec![CredentialKind::Bearer];
        if login.is_some() {
            kinds.push(CredentialKind::Session);
        }
        Authenticator {
            verifier,
            login,
            kinds,
            checks: SessionChecks::default(),
            keep_access_token,
        }
    }

    /// The same, with the `[[session_checks]]` `checks` tried after bearer and session.
    pub fn with_session_checks(mut self, checks: SessionChecks) -> Authenticator {
        self.kinds.extend(checks.ids().map(CredentialKind::SessionCheck));
        self.checks = checks;
        self
    }

    /// Every configured kind, in the order they are tried.
    pub fn kinds(&self) -> &[CredentialKind] {
        &self.kinds
    }

    /// The request's credential: the first of `kinds` present in `headers` decides. `request`
    /// is the original request (a session check tells its service what is asked for).
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        request: &OriginalRequest,
        kinds: &[CredentialKind],
    ) -> Authenticated {
        self.authenticate_traced(headers, request, kinds, None).await
    }

    /// [`Self::authenticate`], also saying which kinds were tried and whether each was present
    /// (for `explain`): the last one tried decided, unless none was present.
    pub async fn authenticate_explained(
        &self,
        headers: &HeaderMap,
        request: &OriginalRequest,
        kinds: &[CredentialKind],
    ) -> (Authenticated, Vec<(CredentialKind, bool)>) {
        let mut tried = Vec::new();
        let checked = self
            .authenticate_traced(headers, request, kinds, Some(&mut tried))
            .await;
        (checked, tried)
    }

    async fn authenticate_traced(
        &self,
        headers: &HeaderMap,
        request: &OriginalRequest,
        kinds: &[CredentialKind],
        mut tried: Option<&mut Vec<(CredentialKind, bool)>>,
    ) -> Authenticated {
        for kind in kinds {
            let checked = match kind {
                CredentialKind::Bearer => bearer::check(&self.verifier, headers, self.keep_access_token).await,
                CredentialKind::Session => match &self.login {
                    // Boxed, as the session check's: their futures (refresh, HTTP calls) are
                    // large, and the bearer path would otherwise carry their size.
                    Some(login) => Box::pin(session::check(login, headers, self.keep_access_token)).await,
                    None => None,
                },
                CredentialKind::SessionCheck(id) => match self.checks.get(*id) {
                    Some(check) => Box::pin(check.check(headers, request)).await,
                    None => None,
                },
            };
            if let Some(tried) = tried.as_deref_mut() {
                tried.push((*kind, checked.is_some()));
            }
            if let Some(checked) = checked {
                match &checked.outcome {
                    Outcome::Invalid {
                        kind: CredentialKind::Bearer,
                        reason,
                    } => tracing::info!(reason, "bearer token refused"),
                    Outcome::Invalid {
                        kind: CredentialKind::Session,
                        reason,
                    } => tracing::info!(reason, "session cookie refused"),
                    Outcome::Invalid { kind, reason } => {
                        tracing::info!(credential = kind.name(), reason, "credential refused")
                    }
                    Outcome::Unavailable { kind, reason } => {
                        tracing::warn!(credential = kind.name(), reason, "credential cannot be checked")
                    }
                    _ => {}
                }
                return checked;
            }
        }
        Authenticated::missing()
    }
}
