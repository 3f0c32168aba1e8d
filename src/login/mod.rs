//! The OIDC browser login: `/oauth2/start`, `/oauth2/callback`, `/oauth2/sign_out` and
//! `/oauth2/backchannel_logout` ([`handlers`]), and the session credential of the decision path
//! and `/oauth2/userinfo` with its refresh ([`Login::session_credential`]).
//!
//! The provider is the `[[issuers]]` block named by `[login].issuer`; its metadata comes from
//! discovery ([`provider`]), its ID and logout tokens are verified with its own key store
//! ([`tokens`]), and `rd=` targets are validated before anything else ([`redirect`]).

mod error;
mod handlers;
pub use error::{LoginError, Problem};
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

use crate::authn::Identity;
use crate::authn::claims::ClaimMapper;
use crate::authn::jwt::Verifier;
use crate::config::{Config, IssuerConfig, LoginConfig};
use crate::metrics::Metrics;
use crate::session::{Lookup, SaveError, Session, Sessions, unix_now};
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
    /// The login provider's claim names, as its bearer tokens use them.
    claims: ClaimMapper,
    http: reqwest::Client,
    /// States of completed callbacks: a replayed callback is refused even with its cookie.
    used_states: moka::future::Cache<String, ()>,
    /// Single flight of refreshes, by session id and last refresh.
    refreshing: moka::future::Cache<String, Refresh>,
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
        let issuer = login.issuer.clone();
        let keys = verifier
            .key_store(&issuer.name)
            .ok_or_else(|| anyhow::anyhow!("login.issuer: no key store for `{}`", issuer.name))?;
        Ok(Some(Login {
            discovery: Discovery::new(
                &issuer.issuer,
                &login.client_id,
                &login.client_secret.0,
                &login.redirect_url,
                http.clone(),
            ),
            tokens: TokenChecker::new(&issuer, &login.client_id, keys),
            claims: ClaimMapper::new(&issuer),
            sessions: Arc::new(Sessions::new(&config.session, metrics)?),
            config: login.clone(),
            issuer,
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
            Lookup::Refused(reason) => return SessionCredential::Refused(reason),
            Lookup::Found(session) => *session,
        };
        let (session, set_cookies) = if self.sessions.needs_refresh(&session) {
            match self.refreshed(session, headers).await {
                Some(refreshed) => refreshed,
                None => return SessionCredential::Refused("session ended while it was refreshed"),
            }
        } else {
            (session, Vec::new())
        };
        let identity = match session.identity(&self.claims) {
            Ok(identity) => identity,
            Err(reason) => {
                tracing::info!(%reason, "session names no user");
                return SessionCredential::Refused("the session's claims name no user");
            }
        };
        SessionCredential::Valid {
            identity: Arc::new(identity),
            access_token: session.access_token.clone(),
            set_cookies,
        }
    }

    /// The session after a refresh, with the cookies that carry it; the old session and no
    /// cookies when the refresh failed; `None` when the session ended (sign-out, back-channel
    /// logout) while it was refreshed.
    ///
    /// Concurrent requests of one session share one refresh: the first runs it and stores the
    /// result, once; the others (and later requests with the old cookie, for
    /// [`REFRESH_RESULT_TTL`]) take that result and only build their cookies from it.
    async fn refreshed(&self, session: Session, headers: &HeaderMap) -> Option<(Session, Vec<HeaderValue>)> {
        let key = format!("{}@{}", session.id, session.refreshed_at);
        let outcome = self.refreshing.get_with(key, self.refresh_and_store(&session)).await;
        match outcome {
            Refresh::Stored(new) => match self.sessions.cookies(&new, headers) {
                Ok(cookies) => Some(((*new).clone(), cookies)),
                Err(error) => {
                    tracing::warn!(key = "session.cookie_name", %error, "refreshed session cannot be put in cookies");
                    Some(((*new).clone(), Vec::new()))
                }
            },
            Refresh::Failed => Some((session, Vec::new())),
            Refresh::Ended => None,
        }
    }

    /// The single-flight body: one refresh at the provider, then one store write that never
    /// brings back a session that ended meanwhile.
    async fn refresh_and_store(&self, session: &Session) -> Refresh {
        let new = match tokio::time::timeout(REFRESH_TIMEOUT, self.refresh(session)).await {
            Ok(Ok(new)) => new,
            Ok(Err(reason)) => {
                tracing::warn!(key = "login.issuer", %reason, "session refresh failed; the session serves until it expires");
                return Refresh::Failed;
            }
            Err(_) => {
                tracing::warn!(
                    key = "login.issuer",
                    "session refresh timed out; the session serves until it expires"
                );
                return Refresh::Failed;
            }
        };
        match self.sessions.save_refreshed(&new).await {
            Ok(()) => Refresh::Stored(Arc::new(new)),
            Err(SaveError::Ended) => {
                tracing::info!("session ended while it was refreshed; the refresh is dropped");
                Refresh::Ended
            }
            Err(error) => {
                tracing::warn!(key = "session.store", %error, "refreshed session cannot be saved; the session serves until it expires");
                Refresh::Failed
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
            if claims.get("sub").and_then(Value::as_str) != Some(session.sub()) {
                return Err("refreshed ID token is for another subject".into());
            }
            new.claims = merged_claims(&session.claims, claims);
            new.id_token = raw;
        }
        new.refreshed_at = unix_now();
        Ok(new)
    }
}

/// What the single flight of a refresh gives every request that waited for it.
#[derive(Clone)]
enum Refresh {
    /// Refreshed and stored.
    Stored(Arc<Session>),
    /// The provider did not refresh it (down, refused, timed out) or the store did not take
    /// it: the old session serves until it expires.
    Failed,
    /// The session ended meanwhile: nothing was stored, the request is refused.
    Ended,
}

/// The claims of a refreshed session: the refreshed ID token's claims over the session's
/// previous ones. A refreshed ID token often lacks what the login had (`sid`, or the groups that
/// came from userinfo); dropping those would break back-channel logout by `sid` and turn group
/// rules into 403s after the first refresh. The login's `sid` stays, so the session stays
/// findable (and revocable) under the `sid` it was indexed by.
fn merged_claims(previous: &Map<String, Value>, refreshed: Map<String, Value>) -> Map<String, Value> {
    let mut merged = previous.clone();
    merged.extend(refreshed);
    if let Some(sid) = previous.get("sid") {
        merged.insert("sid".into(), sid.clone());
    }
    merged
}

/// The `/oauth2/*` routes with the login service as their state.
pub fn router(login: Arc<Login>) -> Router {
    Router::new()
        .route("/oauth2/start", any(handlers::start))
        .route("/oauth2/callback", any(handlers::callback))
        .route("/oauth2/sign_out", any(handlers::sign_out))
        .route("/oauth2/backchannel_logout", post(handlers::backchannel_logout))
        .with_state(login)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn refreshed_claims_keep_what_the_new_id_token_lacks_and_the_login_sid() {
        let previous = json!({ "sub": "u", "sid": "s1", "groups": ["admins"], "email": "old@x" })
            .as_object()
            .cloned()
            .expect("object");
        let refreshed = json!({ "sub": "u", "email": "new@x", "sid": "s2" })
            .as_object()
            .cloned()
            .expect("object");
        let merged = merged_claims(&previous, refreshed);
        assert_eq!(merged["sid"], "s1");
        assert_eq!(merged["groups"], json!(["admins"]));
        assert_eq!(merged["email"], "new@x");
    }
}
