//! Browser sessions: what a signed-in user carries ([`Session`]), and the service that writes it
//! to and reads it from cookies ([`Sessions`]).
//!
//! Every cookie value is sealed with AES-256-GCM ([`codec`]) and carries its expiry inside. With
//! `store = "cookie"` the whole session is in the (possibly chunked) cookie; with
//! `store = "redis"` the cookie holds only the session's random id and the session lives in Redis
//! ([`redis_store`]). Anything wrong with a cookie (tampered, truncated, foreign key, expired,
//! revoked, Redis unreachable) reads as "no session", never as an error for the client.

pub mod codec;
pub mod redis_store;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderValue};
use base64::Engine;
use cookie::Cookie;
use serde::{Deserialize, Serialize};

use crate::authn::{Claims, Identity};
use crate::config::{SameSite, SessionConfig, SessionStore, decode_session_secret};
use crate::metrics::Metrics;
use codec::Keys;
use redis_store::RedisStore;

/// A signed-in user's session. Holds tokens: never logged, never sent anywhere but the provider.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// A random 256-bit id (base64url); the cookie's only content with the Redis store.
    pub id: String,
    /// The `name` of the `[[issuers]]` block of the login provider.
    pub issuer: String,
    /// The user, from the issuer's `user_claim`.
    pub user: String,
    /// The e-mail address, from the issuer's `email_claim`.
    pub email: Option<String>,
    /// The groups, from the issuer's `groups_claim` (ID token, else userinfo).
    pub groups: Vec<String>,
    /// The preferred user name.
    pub preferred_username: Option<String>,
    /// Every claim of the ID token (and userinfo), as JSON object text.
    pub claims: String,
    /// The ID token's `sub` (back-channel logout by subject).
    pub sub: String,
    /// The ID token's `sid`, when the provider sends one (back-channel logout by session).
    pub sid: Option<String>,
    /// The raw ID token (the `id_token_hint` of sign-out).
    pub id_token: String,
    /// The access token, for `pass_access_token`.
    pub access_token: Option<String>,
    /// The refresh token, when the provider gave one.
    pub refresh_token: Option<String>,
    /// Unix seconds of the login.
    pub created_at: u64,
    /// Unix seconds of the login or last refresh.
    pub refreshed_at: u64,
    /// Unix seconds after which the session is over.
    pub expires_at: u64,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("issuer", &self.issuer)
            .field("user", &self.user)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// The identity this session vouches for, as the decision path needs it.
    pub fn identity(&self) -> Identity {
        Identity {
            issuer: self.issuer.as_str().into(),
            user: self.user.clone(),
            email: self.email.clone(),
            groups: self.groups.clone(),
            preferred_username: self.preferred_username.clone(),
            scopes: Vec::new(),
            claims: Claims::from_json(&self.claims),
            expires_at: self.expires_at,
        }
    }
}

/// A fresh random 256-bit session id, base64url.
pub fn new_session_id() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// What the session cookie of a request amounts to.
#[derive(Debug)]
pub enum Lookup {
    /// No session cookie at all.
    Absent,
    /// A session cookie that does not give a session (why, for logs; never the cookie itself).
    Refused(&'static str),
    /// A live session.
    Found(Box<Session>),
}

/// The sealed content of a cookie: the expiry, and the session or its Redis id.
#[derive(Serialize, Deserialize)]
struct Envelope {
    exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    session: Option<Session>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<String>,
}

/// Sealed payloads of other cookies ([`Sessions::seal`]): the bytes and their expiry.
#[derive(Serialize, Deserialize)]
struct Sealed {
    exp: u64,
    value: String,
}

/// Why a session could not be saved.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// The sealed session needs more chunk cookies than we allow.
    #[error("the session is too large for cookies ({0} bytes sealed); use store = \"redis\"")]
    TooLarge(usize),
    /// Redis did not take it.
    #[error("session store: {0}")]
    Store(String),
}

/// The session service: cookie attributes, keys, the store and the revocation list.
pub struct Sessions {
    config: SessionConfig,
    keys: Keys,
    redis: Option<RedisStore>,
    /// Cookie store only: back-channel revocations, `sid:<issuer>:<sid>` or `sub:<issuer>:<sub>`
    /// to the Unix second of the revocation; sessions created until then are refused.
    revoked: moka::future::Cache<String, u64>,
    metrics: Metrics,
}

impl Sessions {
    /// Builds the service from the validated `[session]` (secrets already decodable); Redis is
    /// connected lazily.
    pub fn new(config: &SessionConfig, metrics: Metrics) -> anyhow::Result<Sessions> {
        let secrets = config
            .secrets
            .iter()
            .map(decode_session_secret)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow::anyhow!("session.secrets: {e}"))?;
        let redis = match (config.store, &config.redis_url) {
            (SessionStore::Redis, Some(url)) => Some(RedisStore::new(url)?),
            (SessionStore::Redis, None) => anyhow::bail!("session.redis_url is required with store = \"redis\""),
            (SessionStore::Cookie, _) => None,
        };
        Ok(Sessions {
            config: config.clone(),
            keys: Keys::derive(&secrets),
            redis,
            revoked: moka::future::Cache::builder()
                .max_capacity(1_000_000)
                .time_to_live(config.ttl)
                .build(),
            metrics,
        })
    }

    /// The session cookie's name.
    pub fn cookie_name(&self) -> &str {
        &self.config.cookie_name
    }

    /// The session lifetime.
    pub fn ttl(&self) -> Duration {
        self.config.ttl
    }

    /// Whether `session` is due for a refresh: older than `refresh` and holding a refresh token.
    pub fn needs_refresh(&self, session: &Session) -> bool {
        session.refresh_token.is_some()
            && unix_now().saturating_sub(session.refreshed_at) >= self.config.refresh.as_secs()
    }

    /// Reads the session of a request.
    pub async fn load(&self, headers: &HeaderMap) -> Lookup {
        let cookies = codec::request_cookies(headers);
        let name = self.cookie_name();
        let Some(sealed) = codec::join(&cookies, name) else {
            return Lookup::Absent;
        };
        let Some(envelope) = self
            .keys
            .open(name, &sealed)
            .and_then(|json| serde_json::from_str::<Envelope>(&json).ok())
        else {
            return Lookup::Refused("session cookie does not decrypt");
        };
        let now = unix_now();
        if envelope.exp <= now {
            return Lookup::Refused("session cookie expired");
        }
        let session = match (envelope.session, envelope.id, &self.redis) {
            (Some(session), _, None) => session,
            (_, Some(id), Some(redis)) => match redis.get(&id).await {
                Ok(Some(session)) => session,
                Ok(None) => return Lookup::Refused("session not found in the store"),
                Err(error) => {
                    self.store_error("load", &error);
                    return Lookup::Refused("session store unavailable");
                }
            },
            _ => return Lookup::Refused("session cookie of another store"),
        };
        if session.expires_at <= now {
            return Lookup::Refused("session expired");
        }
        if self.is_revoked(&session).await {
            return Lookup::Refused("session revoked");
        }
        Lookup::Found(Box::new(session))
    }

    /// Stores `session` and returns the `Set-Cookie` values that carry it, including the removal
    /// of chunk cookies of `request` that the new value no longer uses.
    pub async fn save(&self, session: &Session, request: &HeaderMap) -> Result<Vec<HeaderValue>, SaveError> {
        let remaining = session.expires_at.saturating_sub(unix_now());
        let envelope = match &self.redis {
            Some(redis) => {
                redis
                    .put(session, remaining, self.config.ttl.as_secs())
                    .await
                    .map_err(|error| {
                        self.store_error("save", &error);
                        SaveError::Store(error.to_string())
                    })?;
                Envelope {
                    exp: session.expires_at,
                    session: None,
                    id: Some(session.id.clone()),
                }
            }
            None => Envelope {
                exp: session.expires_at,
                session: Some(session.clone()),
                id: None,
            },
        };
        let json = serde_json::to_string(&envelope).map_err(|e| SaveError::Store(e.to_string()))?;
        let name = self.cookie_name();
        let sealed = self
            .keys
            .seal(name, &json)
            .ok_or(SaveError::Store("no session key".into()))?;
        let parts = codec::split(name, &sealed).ok_or(SaveError::TooLarge(sealed.len()))?;
        let mut set: Vec<HeaderValue> = parts
            .iter()
            .filter_map(|(name, value)| self.set_cookie(name, value, remaining))
            .collect();
        let stale = codec::present_names(&codec::request_cookies(request), name);
        for name in stale.iter().filter(|stale| !parts.iter().any(|(n, _)| n == *stale)) {
            set.extend(self.expire(name));
        }
        Ok(set)
    }

    /// Ends the session of `request`: deletes it from Redis and returns the session it ended (if
    /// any) with the `Set-Cookie` values that clear every session cookie the browser sent (the
    /// base name too, always).
    pub async fn clear(&self, request: &HeaderMap) -> (Option<Session>, Vec<HeaderValue>) {
        let ended = match self.load(request).await {
            Lookup::Found(session) => Some(*session),
            _ => None,
        };
        if let Some(session) = &ended {
            match &self.redis {
                Some(redis) => {
                    if let Err(error) = redis.delete(&session.id).await {
                        self.store_error("delete", &error);
                    }
                }
                // Cookie mode: a copy of the sealed cookie would stay valid until it expires;
                // remember the id as signed out (on this instance, for the session ttl).
                None => self.revoked.insert(format!("id:{}", session.id), unix_now()).await,
            }
        }
        let name = self.cookie_name();
        let mut names = codec::present_names(&codec::request_cookies(request), name);
        if !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
        (ended, names.iter().filter_map(|name| self.expire(name)).collect())
    }

    /// Revokes every session of `issuer` with this `sid` or `sub` (back-channel logout): deleted
    /// from Redis, or remembered for the session TTL in cookie mode.
    pub async fn revoke(&self, issuer: &str, sid: Option<&str>, sub: Option<&str>) -> Result<(), String> {
        match &self.redis {
            Some(redis) => redis.revoke(issuer, sid, sub).await.map_err(|error| {
                self.store_error("revoke", &error);
                error.to_string()
            }),
            None => {
                let now = unix_now();
                if let Some(sid) = sid {
                    self.revoked.insert(format!("sid:{issuer}:{sid}"), now).await;
                }
                if let Some(sub) = sub {
                    self.revoked.insert(format!("sub:{issuer}:{sub}"), now).await;
                }
                Ok(())
            }
        }
    }

    async fn is_revoked(&self, session: &Session) -> bool {
        let mut keys = vec![
            format!("id:{}", session.id),
            format!("sub:{}:{}", session.issuer, session.sub),
        ];
        if let Some(sid) = &session.sid {
            keys.push(format!("sid:{}:{sid}", session.issuer));
        }
        for key in keys {
            if self.revoked.get(&key).await.is_some_and(|at| session.created_at <= at) {
                return true;
            }
        }
        false
    }

    /// A `Set-Cookie` value for cookie `name` holding `value` sealed, valid for `max_age`
    /// (short-lived state such as the login cookie).
    pub fn seal(&self, name: &str, value: &str, max_age: Duration) -> Option<HeaderValue> {
        let sealed = Sealed {
            exp: unix_now().saturating_add(max_age.as_secs()),
            value: value.to_string(),
        };
        let json = serde_json::to_string(&sealed).ok()?;
        let mut cookie = Self::sealed_cookie(name, &self.keys.seal(name, &json)?, self.config.secure);
        cookie.set_max_age(cookie::time::Duration::seconds(
            i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX),
        ));
        HeaderValue::from_str(&cookie.to_string()).ok()
    }

    /// A `Set-Cookie` value that removes a cookie set by [`Sessions::seal`].
    pub fn expire_sealed(&self, name: &str) -> Option<HeaderValue> {
        let mut cookie = Self::sealed_cookie(name, "", self.config.secure);
        cookie.make_removal();
        HeaderValue::from_str(&cookie.to_string()).ok()
    }

    /// A sealed short-lived cookie (the login state): host-only (no `Domain`, so a sibling
    /// subdomain cannot plant one), HttpOnly, `SameSite=Lax` whatever the session's setting (the
    /// provider's redirect back is a cross-site top-level navigation: `Strict` would lose it), and
    /// `Secure` as configured.
    fn sealed_cookie(name: &str, value: &str, secure: bool) -> Cookie<'static> {
        let mut cookie = Cookie::new(name.to_string(), value.to_string());
        cookie.set_path("/");
        cookie.set_http_only(true);
        cookie.set_secure(secure);
        cookie.set_same_site(cookie::SameSite::Lax);
        cookie
    }

    /// The value sealed by [`Sessions::seal`] in cookie `name` of `request`, when it opens and
    /// has not expired.
    pub fn open(&self, name: &str, request: &HeaderMap) -> Option<String> {
        let cookies = codec::request_cookies(request);
        let json = self.keys.open(name, codec::find(&cookies, name)?)?;
        let sealed: Sealed = serde_json::from_str(&json).ok()?;
        (sealed.exp > unix_now()).then_some(sealed.value)
    }

    /// A `Set-Cookie` value that removes cookie `name`.
    pub fn expire(&self, name: &str) -> Option<HeaderValue> {
        let mut cookie = self.cookie(name, "");
        cookie.make_removal();
        HeaderValue::from_str(&cookie.to_string()).ok()
    }

    fn set_cookie(&self, name: &str, value: &str, max_age: u64) -> Option<HeaderValue> {
        let mut cookie = self.cookie(name, value);
        cookie.set_max_age(cookie::time::Duration::seconds(
            i64::try_from(max_age).unwrap_or(i64::MAX),
        ));
        HeaderValue::from_str(&cookie.to_string()).ok()
    }

    /// A cookie with the configured attributes: Path=/, HttpOnly always, Domain, Secure, SameSite.
    fn cookie(&self, name: &str, value: &str) -> Cookie<'static> {
        let mut cookie = Cookie::new(name.to_string(), value.to_string());
        cookie.set_path("/");
        cookie.set_http_only(true);
        cookie.set_secure(self.config.secure);
        cookie.set_same_site(match self.config.same_site {
            SameSite::Lax => cookie::SameSite::Lax,
            SameSite::Strict => cookie::SameSite::Strict,
            SameSite::None => cookie::SameSite::None,
        });
        if let Some(domain) = &self.config.domain {
            cookie.set_domain(domain.clone());
        }
        cookie
    }

    fn store_error(&self, operation: &str, error: &redis_store::StoreError) {
        self.metrics.session_store_errors_total.inc();
        tracing::warn!(operation, %error, "session store error");
    }
}

/// Shared handle on the session service.
pub type SharedSessions = Arc<Sessions>;

#[cfg(test)]
mod tests;
