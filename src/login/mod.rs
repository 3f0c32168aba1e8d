//! The OIDC browser login: `/oauth2/start`, `/oauth2/callback`, `/oauth2/sign_out`,
//! `/oauth2/backchannel_logout` and `/oauth2/userinfo` ([`handlers`]), and the session credential
//! of the decision path with its refresh ([`Login::session_credential`]).
//!
//! The provider is the `[[issuers]]` block named by `[login].issuer`; its metadata comes from
//! discovery ([`provider`]), its ID and logout tokens are verified with its own key store
//! ([`tokens`]), and `rd=` targets are validated before anything else ([`redirect`]).

mod handlers;
pub use handlers::identity_json;
pub mod provider;
pub mod redirect;
pub mod tokens;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue};
use axum::routing::{any, post};
use openidconnect::{OAuth2TokenResponse, RefreshToken};
use serde_json::{Map, Value};

use crate::authn::jwt::Verifier;
use crate::authn::{Identity, lookup};
use crate::config::{Config, IssuerConfig, LoginConfig};
use crate::metrics::Metrics;
use crate::session::{Lookup, Session, Sessions, unix_now};
use provider::{Discovery, Http};
use tokens::{Expect, TokenChecker};

/// How long a login may take between `/oauth2/start` and `/oauth2/callback`.
pub const LOGIN_STATE_TTL: Duration = Duration::from_secs(600);
/// A refresh (success or failure) is shared by the requests of one session for this long, so a
/// provider that is down is asked once per period, not once per request.
const REFRESH_RESULT_TTL: Duration = Duration::from_secs(30);
/// The longest a decision waits for a refresh; past it the old session serves.
const REFRESH_TIMEOUT: Duration = Duration::from_secs(5);

/// The browser login service. Built once at start-up; the provider is discovered on first use.
pub struct Login {
    config: LoginConfig,
    issuer: IssuerConfig,
    sessions: Arc<Sessions>,
    discovery: Discovery,
    tokens: TokenChecker,
    verifier: Arc<Verifier>,
    http: reqwest::Client,
    /// States of completed callbacks: a replayed callback is refused even with its cookie.
    used_states: moka::future::Cache<String, ()>,
    /// Single flight of refreshes, by session id and last refresh; `None` is a failed refresh.
    refreshing: moka::future::Cache<String, Option<Arc<Session>>>,
}

/// What the session cookie of a decision request gives.
#[derive(Debug)]
pub enum SessionCredential {
    /// No session cookie.
    Absent,
    /// A session cookie that gives no session (reason for logs and the 401 body).
    Refused(&'static str),
    /// A live session.
    Valid {
        /// Who it is.
        identity: Arc<Identity>,
        /// The session's access token (for `pass_access_token`).
        access_token: Option<String>,
        /// New session cookies after a refresh, to send with a 200.
        set_cookies: Vec<HeaderValue>,
    },
}

impl Login {
    /// Builds the login service when `[login]` is configured; `None` otherwise.
    pub fn new(
        config: &Config,
        verifier: Arc<Verifier>,
        http: reqwest::Client,
        metrics: Metrics,
    ) -> anyhow::Result<Option<Login>> {
        let Some(login) = &config.login else { return Ok(None) };
        let issuer = config
            .issuers
            .iter()
            .find(|issuer| issuer.name == login.issuer)
            .ok_or_else(|| anyhow::anyhow!("login.issuer: no [[issuers]] block is named `{}`", login.issuer))?
            .clone();
        let keys = verifier
            .key_store(&issuer.name)
            .ok_or_else(|| anyhow::anyhow!("login.issuer: no key store for `{}`", issuer.name))?;
        let secret = login.client_secret.as_ref().map(|s| s.0.as_str()).unwrap_or_default();
        Ok(Some(Login {
            discovery: Discovery::new(
                &issuer.issuer,
                &login.client_id,
                secret,
                &login.redirect_url,
                http.clone(),
            ),
            tokens: TokenChecker::new(&issuer, &login.client_id, keys),
            sessions: Arc::new(Sessions::new(&config.session, metrics)?),
            config: login.clone(),
            issuer,
            verifier,
            http,
            used_states: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(LOGIN_STATE_TTL)
                .build(),
            refreshing: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(REFRESH_RESULT_TTL)
                .build(),
        }))
    }

    /// The session service.
    pub fn sessions(&self) -> &Arc<Sessions> {
        &self.sessions
    }

    /// The session credential of a decision request, refreshed at the provider when it is due.
    /// Never fails: a bad cookie or an unreachable store is [`SessionCredential::Refused`].
    pub async fn session_credential(&self, headers: &HeaderMap) -> SessionCredential {
        let session = match self.sessions.load(headers).await {
            Lookup::Absent => return SessionCredential::Absent,
            Lookup::Refused(reason) => {
                tracing::info!(reason, "session cookie refused");
                return SessionCredential::Refused(reason);
            }
            Lookup::Found(session) => *session,
        };
        let (session, set_cookies) = if self.sessions.needs_refresh(&session) {
            self.refreshed(session, headers).await
        } else {
            (session, Vec::new())
        };
        SessionCredential::Valid {
            identity: Arc::new(session.identity()),
            access_token: session.access_token.clone(),
            set_cookies,
        }
    }

    /// The session after a refresh (shared by concurrent requests of the same session), with
    /// the cookies that carry it; the old session and no cookies when the refresh failed.
    async fn refreshed(&self, session: Session, headers: &HeaderMap) -> (Session, Vec<HeaderValue>) {
        let result = self
            .refreshing
            .get_with(format!("{}@{}", session.id, session.refreshed_at), async {
                match tokio::time::timeout(REFRESH_TIMEOUT, self.refresh(&session)).await {
                    Ok(Ok(new)) => Some(Arc::new(new)),
                    Ok(Err(reason)) => {
                        tracing::warn!(user = %session.user, %reason, "session refresh failed; the session serves until it expires");
                        None
                    }
                    Err(_) => {
                        tracing::warn!(user = %session.user, "session refresh timed out; the session serves until it expires");
                        None
                    }
                }
            })
            .await;
        let Some(new) = result else {
            return (session, Vec::new());
        };
        match self.sessions.save(&new, headers).await {
            Ok(cookies) => ((*new).clone(), cookies),
            Err(error) => {
                tracing::warn!(%error, "refreshed session cannot be saved");
                ((*new).clone(), Vec::new())
            }
        }
    }

    /// One refresh-token grant at the provider's token endpoint.
    async fn refresh(&self, session: &Session) -> Result<Session, String> {
        let provider = self.discovery.provider().await?;
        let token = RefreshToken::new(session.refresh_token.clone().ok_or("no refresh token")?);
        let response = provider
            .client
            .exchange_refresh_token(&token)
            .map_err(|e| e.to_string())?
            .request_async(&Http(self.http.clone()))
            .await
            .map_err(|e| format!("token endpoint: {e}"))?;
        let mut new = session.clone();
        new.access_token = Some(response.access_token().secret().clone());
        if let Some(refresh_token) = response.refresh_token() {
            new.refresh_token = Some(refresh_token.secret().clone());
        }
        if let Some(id_token) = response.extra_fields().id_token() {
            let raw = id_token.to_string();
            let claims = self.tokens.verify(&raw, Expect::RefreshedIdToken).await?;
            if claims.get("sub").and_then(Value::as_str) != Some(session.sub.as_str()) {
                return Err("refreshed ID token is for another subject".into());
            }
            self.apply_claims(&mut new, &merged_claims(&session.claims, claims));
            new.id_token = raw;
        }
        new.refreshed_at = unix_now();
        Ok(new)
    }

    /// Sets the identity fields of `session` from ID token (and userinfo) claims, per the
    /// issuer's claim names.
    fn apply_claims(&self, session: &mut Session, claims: &Map<String, Value>) {
        let text = |name: &str| match lookup(claims, name) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        session.sub = text("sub").unwrap_or_default();
        session.sid = text("sid");
        session.user = text(&self.issuer.user_claim).unwrap_or_else(|| session.sub.clone());
        session.email = text(&self.issuer.email_claim);
        session.preferred_username = text(&self.issuer.preferred_username_claim);
        session.groups = groups(lookup(claims, &self.issuer.groups_claim));
        session.claims = Value::Object(claims.clone()).to_string();
    }
}

/// The claims of a refreshed session: the refreshed ID token's claims over the session's
/// previous ones. A refreshed ID token often lacks what the login had (`sid`, or the groups that
/// came from userinfo); dropping those would break back-channel logout by `sid` and turn group
/// rules into 403s after the first refresh.
fn merged_claims(previous: &str, refreshed: Map<String, Value>) -> Map<String, Value> {
    let mut merged: Map<String, Value> = serde_json::from_str(previous).unwrap_or_default();
    merged.extend(refreshed);
    merged
}

/// Groups from a claim: an array of strings, or a space or comma separated string.
fn groups(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).map(String::from).collect(),
        Some(Value::String(text)) => text
            .split([' ', ','])
            .filter(|group| !group.is_empty())
            .map(String::from)
            .collect(),
        _ => Vec::new(),
    }
}

/// The `/oauth2/*` routes with the login service as their state.
pub fn router(login: Arc<Login>) -> Router {
    Router::new()
        .route("/oauth2/start", any(handlers::start))
        .route("/oauth2/callback", any(handlers::callback))
        .route("/oauth2/sign_out", any(handlers::sign_out))
        .route("/oauth2/userinfo", any(handlers::userinfo))
        .route("/oauth2/backchannel_logout", post(handlers::backchannel_logout))
        .with_state(login)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn refreshed_claims_keep_what_the_new_id_token_lacks() {
        let previous = json!({ "sub": "u", "sid": "s1", "groups": ["admins"], "email": "old@x" }).to_string();
        let refreshed = json!({ "sub": "u", "email": "new@x" })
            .as_object()
            .cloned()
            .expect("object");
        let merged = merged_claims(&previous, refreshed);
        assert_eq!(merged["sid"], "s1");
        assert_eq!(merged["groups"], json!(["admins"]));
        assert_eq!(merged["email"], "new@x");
    }

    #[test]
    fn groups_come_from_arrays_and_separated_strings() {
        assert_eq!(groups(Some(&json!(["a", "b", 3]))), vec!["a", "b"]);
        assert_eq!(groups(Some(&json!("a b,c"))), vec!["a", "b", "c"]);
        assert!(groups(None).is_empty());
    }
}
