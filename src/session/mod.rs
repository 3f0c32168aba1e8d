//! Browser sessions: what a signed-in user carries ([`Session`]), and the service that writes it
//! to and reads it from cookies ([`Sessions`]).
//!
//! Every cookie value is sealed with AES-256-GCM ([`codec`]) and carries its expiry inside. With
//! `store = "cookie"` the whole session is in the (possibly chunked) cookie; with
//! `store = "redis"` the cookie holds only the session's random id and the session lives in Redis
//! ([`redis_store`]). Anything wrong with a cookie (tampered, truncated, foreign key, expired,
//! revoked, Redis unreachable) reads as "no session", never as an error for the client.

mod background_connect;
pub mod codec;
pub mod redis_cluster_link;
pub mod redis_connection;
pub mod redis_store;
mod redis_tls;
pub mod revocation;
mod state_cookie;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderValue};
use base64::Engine;
use cookie::Cookie;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::authn::Identity;
use crate::authn::claims::ClaimMapper;
use crate::config::{SameSite, SessionConfig};
use crate::metrics::Metrics;
use codec::Keys;
use redis_store::RedisStore;
use revocation::Revocations;

/// A signed-in user's session. Holds tokens: never logged, never sent anywhere but the provider.
///
/// The identity is kept once, as the claims of the ID token (and userinfo); the user, e-mail and
/// groups are read from them with the issuer's claim names ([`Session::identity`]).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// A random 256-bit id (base64url); the cookie's only content with the Redis store.
    pub id: String,
    /// The `name` of the `[[issuers]]` block of the login provider.
    pub issuer: String,
    /// Every claim of the ID token (and userinfo).
    pub claims: Map<String, Value>,
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
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// The ID token's `sub` (back-channel logout by subject); empty when missing.
    pub fn sub(&self) -> &str {
        self.claims.get("sub").and_then(Value::as_str).unwrap_or_default()
    }

    /// The ID token's `sid`, when the provider sends one (back-channel logout by session).
    pub fn sid(&self) -> Option<&str> {
        self.claims
            .get("sid")
            .and_then(Value::as_str)
            .filter(|sid| !sid.is_empty())
    }

    /// The identity this session vouches for, read from its claims by the login provider's
    /// [`ClaimMapper`] (as a bearer token of that issuer would be); `Err` when the user claim is
    /// missing.
    pub fn identity(&self, claims: &ClaimMapper) -> Result<Identity, String> {
        let text = Value::Object(self.claims.clone()).to_string();
        claims.identity(&self.claims, &text, self.expires_at)
    }
}

/// A fresh random 256-bit session id, base64url.
pub fn new_session_id() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// Milliseconds since the Unix epoch.
pub fn unix_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
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

/// Why a session could not be saved.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// The sealed session needs more chunk cookies than we allow.
    #[error("the session is too large for cookies ({0} bytes sealed); use store = \"redis\"")]
    TooLarge(usize),
    /// Redis did not take it.
    #[error("session store: {0}")]
    Store(String),
    /// The session ended (signed out, revoked, expired) before a refresh of it was stored.
    #[error("the session ended while it was refreshed")]
    Ended,
}

/// The session service: cookie attributes, keys, the store and the revocation list.
pub struct Sessions {
    config: SessionConfig,
    keys: Keys,
    redis: Option<RedisStore>,
    /// Cookie store only: signed-out and back-channel-revoked sessions; without Redis also the
    /// used logout tokens.
    revocations: Revocations,
    metrics: Metrics,
}

impl Sessions {
    /// Builds the service from the validated `[session]` (keys decoded, store resolved); Redis
    /// is connected lazily.
    pub fn new(config: &SessionConfig, metrics: Metrics) -> anyhow::Result<Sessions> {
        let redis = RedisStore::new(&config.store, config.redis_ca.as_ref())?;
        Ok(Sessions {
            config: config.clone(),
            keys: Keys::derive(config.keys.secrets()),
            redis,
            revocations: Revocations::new(config.ttl),
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
        let Some(json) = self.keys.open(name, &sealed) else {
            return Lookup::Refused("session cookie does not decrypt");
        };
        let Ok(envelope) = serde_json::from_str::<Envelope>(&json) else {
            return Lookup::Refused("session cookie cannot be read (older format?)");
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
                Err(redis_store::StoreError::Corrupt(_)) => {
                    return Lookup::Refused("stored session cannot be read (older format?)");
                }
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
        if self.redis.is_none() && self.revocations.is_revoked(&session).await {
            return Lookup::Refused("session revoked");
        }
        Lookup::Found(Box::new(session))
    }

    /// Stores a new `session` (a login) and returns the `Set-Cookie` values that carry it,
    /// including the removal of chunk cookies of `request` that the new value no longer uses.
    pub async fn save(&self, session: &Session, request: &HeaderMap) -> Result<Vec<HeaderValue>, SaveError> {
        if let Some(redis) = &self.redis {
            let remaining = session.expires_at.saturating_sub(unix_now());
            redis
                .put(session, remaining, self.config.ttl.as_secs())
                .await
                .map_err(|error| self.save_error(&error))?;
        }
        self.cookies(session, request)
    }

    /// Stores the refreshed `session` in place of the session it renews, unless that one has
    /// ended meanwhile (signed out, revoked by a back-channel logout, expired): then
    /// [`SaveError::Ended`], and nothing is written. With Redis the write happens only while the
    /// entry still exists (`SET ... XX`), so a refresh in flight cannot bring back a session that
    /// a logout deleted; in cookie mode the revocation list is checked.
    pub async fn save_refreshed(&self, session: &Session) -> Result<(), SaveError> {
        let remaining_ms = session.expires_at.saturating_mul(1000).saturating_sub(unix_now_ms());
        if remaining_ms == 0 {
            return Err(SaveError::Ended);
        }
        match &self.redis {
            Some(redis) => match redis.update(session, remaining_ms).await {
                Ok(true) => Ok(()),
                Ok(false) => Err(SaveError::Ended),
                Err(error) => Err(self.save_error(&error)),
            },
            None if self.revocations.is_revoked(session).await => Err(SaveError::Ended),
            None => Ok(()),
        }
    }

    /// The `Set-Cookie` values that carry `session` (the whole session in cookie mode, its id
    /// with Redis), including the removal of chunk cookies of `request` the value no longer
    /// uses. Writes nothing to the store.
    pub fn cookies(&self, session: &Session, request: &HeaderMap) -> Result<Vec<HeaderValue>, SaveError> {
        let remaining = session.expires_at.saturating_sub(unix_now());
        let envelope = Envelope {
            exp: session.expires_at,
            session: self.redis.is_none().then(|| session.clone()),
            id: self.redis.is_some().then(|| session.id.clone()),
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
                None => self.revocations.revoke_id(&session.id, unix_now()).await,
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
                self.revocations.revoke(issuer, sid, sub, unix_now()).await;
                Ok(())
            }
        }
    }

    /// Marks the logout token `jti` of `issuer` as used until `ttl` from now: `Ok(false)` when it
    /// was used before (a replay). In Redis (`SET ... NX PX`, shared by every instance) with the
    /// Redis store, else in this process (bounded).
    pub async fn first_use_of_logout_token(&self, issuer: &str, jti: &str, ttl: Duration) -> Result<bool, String> {
        let key = logout_token_key(issuer, jti);
        match &self.redis {
            Some(redis) => redis.set_once(&key, ttl).await.map_err(|error| {
                self.store_error("logout token", &error);
                error.to_string()
            }),
            None => Ok(self.revocations.first_use_of_logout_token(&key, ttl).await),
        }
    }

    /// Forgets a logout token marked by [`Sessions::first_use_of_logout_token`] (its logout
    /// could not be done, so the provider's retry must pass). Best effort.
    pub async fn forget_logout_token(&self, issuer: &str, jti: &str) {
        let key = logout_token_key(issuer, jti);
        match &self.redis {
            Some(redis) => {
                if let Err(error) = redis.delete_key(&key).await {
                    self.store_error("logout token", &error);
                }
            }
            None => self.revocations.forget_logout_token(&key).await,
        }
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

    fn save_error(&self, error: &redis_store::StoreError) -> SaveError {
        self.store_error("save", error);
        SaveError::Store(error.to_string())
    }

    fn store_error(&self, operation: &str, error: &redis_store::StoreError) {
        self.metrics.session_store_errors_total.inc();
        tracing::warn!(key = "session.store", operation, %error, "session store error");
    }
}

/// The key of a used logout token: its issuer and a hash of its `jti` (bounded length, whatever
/// the provider sends).
fn logout_token_key(issuer: &str, jti: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(jti.as_bytes());
    format!(
        "{issuer}:{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
    )
}

#[cfg(test)]
mod tests;
