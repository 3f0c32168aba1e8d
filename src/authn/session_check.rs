//! The `[[session_checks]]` credentials: a session held by another service (Ory Kratos
//! `/sessions/whoami`, a Mia-Platform authentication manager), checked by a GET to its `url`
//! with the request's credentials forwarded, as Oathkeeper's `cookie_session` authenticator does.
//!
//! - present when one of the block's `cookies` (the `Cookie` header parsed) or `headers` is sent;
//! - the call carries the `forward_headers` of the original request (of `Cookie`, only the
//!   block's cookies when it names some) and `X-Forwarded-Method`, `-Proto`, `-Host` and `-Uri`
//!   describing the original request;
//! - 200 with a JSON object is a valid identity read with the dotted `*_field` paths, whose claims
//!   are the whole object; 401 or 403 an invalid credential; anything else (a timeout, a refused
//!   connection, another status, a body that is not a JSON object) is no verdict: 503;
//! - answers are cached per check by a keyed SHA-256 of the forwarded values (valid ones for
//!   `cache_ttl`, never past the session's own `expires_at`; invalid ones for at most
//!   [`INVALID_TTL`]); errors never; concurrent misses of one key make one call. Each worker
//!   thread also keeps its latest answers by that key, for no longer
//!   ([`crate::remote::recent_cached_or_call`]).
//!
//! Cookie and header values are never logged: logs name the check, its URL and the reason.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::header::{ACCEPT, COOKIE};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use moka::future::Cache;
use rand::RngCore;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::claims::ClaimMapper;
use super::credential::{Authenticated, CredentialKind, Outcome};
use super::jwt::entry_weight;
use crate::config::SessionCheckConfig;
use crate::memo::next_owner;
use crate::metrics::Metrics;
use crate::origin::OriginalRequest;
use crate::remote::{Kept, Recent, UntilLapse, no_recent};
use crate::session::codec::MAX_REQUEST_COOKIES;

/// How long an invalid answer (401, 403, no user) is reused at most: long enough that a flood
/// of one bad cookie does not become a flood of calls, short enough that a user who just signed
/// in is not kept out.
pub const INVALID_TTL: Duration = Duration::from_secs(5);

/// The largest answer read; a longer one is no verdict (503).
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

thread_local! {
    /// Each worker thread's latest answers, by check number and cache key.
    static RECENT_ANSWERS: Recent<Answer> = const { no_recent() };
}

/// A `[[session_checks]]` block as a credential kind: its place in the config and its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionCheckId {
    index: usize,
    name: &'static str,
}

impl SessionCheckId {
    /// The id of the `index`th block, named `name`.
    pub fn new(index: usize, name: &str) -> SessionCheckId {
        SessionCheckId {
            index,
            name: intern(name),
        }
    }

    /// The block's name.
    pub fn name(self) -> &'static str {
        self.name
    }
}

/// Check names live as long as the process (kinds are `Copy` and name themselves): each distinct
/// name is leaked once, and there are only as many as configuration blocks.
fn intern(name: &str) -> &'static str {
    static NAMES: OnceLock<Mutex<Vec<&'static str>>> = OnceLock::new();
    let mut names = NAMES
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(known) = names.iter().find(|known| **known == name) {
        return known;
    }
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.push(leaked);
    leaked
}

/// Every configured session check, in config order.
#[derive(Default)]
pub struct SessionChecks {
    checks: Vec<SessionCheck>,
}

impl SessionChecks {
    /// The checks of `configs`, calling out with `client`, each caching within `cache_memory`.
    pub fn new(configs: &[SessionCheckConfig], client: reqwest::Client, metrics: Metrics, cache_memory: u64) -> Self {
        let checks = configs
            .iter()
            .enumerate()
            .map(|(index, config)| SessionCheck::new(index, config, client.clone(), metrics.clone(), cache_memory))
            .collect();
        SessionChecks { checks }
    }

    /// Their ids, in config order.
    pub fn ids(&self) -> impl Iterator<Item = SessionCheckId> + '_ {
        self.checks.iter().map(|check| check.id)
    }

    /// The check of `id`.
    pub fn get(&self, id: SessionCheckId) -> Option<&SessionCheck> {
        self.checks.get(id.index).filter(|check| check.id == id)
    }
}

/// One session check: its config, HTTP client and answer cache.
pub struct SessionCheck {
    id: SessionCheckId,
    config: SessionCheckConfig,
    mapper: ClaimMapper,
    client: reqwest::Client,
    cache: Cache<[u8; 32], Kept<Answer>>,
    /// Random per process: the cache keys say nothing about the values outside it.
    key: [u8; 32],
    /// This check's number among the threads' kept answers.
    number: u64,
    metrics: Metrics,
}

/// A cached verdict.
#[derive(Clone)]
enum Answer {
    Valid(Arc<super::Identity>),
    Invalid(Arc<str>),
}

fn weight(kept: &Kept<Answer>) -> u32 {
    match &kept.answer {
        Answer::Valid(identity) => entry_weight(identity),
        Answer::Invalid(reason) => 400 + u32::try_from(reason.len()).unwrap_or(u32::MAX / 2),
    }
}

impl SessionCheck {
    fn new(index: usize, config: &SessionCheckConfig, client: reqwest::Client, metrics: Metrics, memory: u64) -> Self {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        SessionCheck {
            id: SessionCheckId::new(index, &config.name),
            mapper: ClaimMapper::for_fields(
                &config.name,
                &config.user_field,
                &config.email_field,
                &config.groups_field,
                &config.preferred_username_field,
            ),
            config: config.clone(),
            client,
            cache: Cache::builder()
                .max_capacity(memory)
                .weigher(|_, kept: &Kept<Answer>| weight(kept))
                .expire_after(UntilLapse)
                .build(),
            key,
            number: next_owner(),
            metrics,
        }
    }

    /// Whether the request presents this check's credential: one of its cookies or headers.
    pub fn is_present(&self, headers: &HeaderMap) -> bool {
        self.config.headers.iter().any(|name| headers.contains_key(name))
            || (!self.config.cookies.is_empty()
                && sent_cookies(headers).any(|cookie| self.config.cookies.iter().any(|name| *name == cookie.name())))
    }

    /// The block's cookies the request sends, `name=value` each (the first of each name), in the
    /// order the block lists them.
    fn cookies(&self, headers: &HeaderMap) -> Vec<String> {
        let mut sent: Vec<(&str, String)> = Vec::new();
        for cookie in sent_cookies(headers) {
            if let Some(name) = self.config.cookies.iter().find(|name| **name == cookie.name())
                && !sent.iter().any(|(seen, _)| *seen == name.as_str())
            {
                sent.push((name.as_str(), [name.as_str(), "=", cookie.value()].concat()));
            }
        }
        let mut ordered = Vec::with_capacity(sent.len());
        for name in &self.config.cookies {
            if let Some((_, pair)) = sent.iter().find(|(seen, _)| *seen == name.as_str()) {
                ordered.push(pair.clone());
            }
        }
        ordered
    }

    /// The headers the call carries from the request: each of `forward_headers` with all its
    /// values, `Cookie` reduced to the block's cookies when it names some.
    fn forwarded(&self, headers: &HeaderMap) -> Vec<(HeaderName, HeaderValue)> {
        let mut forwarded = Vec::new();
        for name in &self.config.forward_headers {
            if *name == COOKIE && !self.config.cookies.is_empty() {
                let cookies = self.cookies(headers);
                if let Ok(value) = HeaderValue::from_str(&cookies.join("; "))
                    && !cookies.is_empty()
                {
                    forwarded.push((COOKIE, value));
                }
                continue;
            }
            forwarded.extend(headers.get_all(name).iter().map(|value| (name.clone(), value.clone())));
        }
        forwarded
    }

    /// The cache key of what a call forwards ([`SessionCheck::forwarded`]), read from the
    /// headers without building it (a cached answer needs no call): a keyed SHA-256 over each
    /// forwarded header's name and values, of `Cookie` each of the block's cookies present or
    /// not and its value. Every part is length-prefixed and each header's values are counted,
    /// so requests that forward different values never share a key.
    fn cache_key(&self, headers: &HeaderMap) -> [u8; 32] {
        let mut hash = Sha256::new();
        hash.update(self.key);
        let mut part = |bytes: &[u8]| {
            hash.update((bytes.len() as u64).to_be_bytes());
            hash.update(bytes);
        };
        for name in &self.config.forward_headers {
            part(name.as_str().as_bytes());
            if *name == COOKIE && !self.config.cookies.is_empty() {
                // As `cookies` picks them: in the block's order, the first of each name.
                for wanted in &self.config.cookies {
                    match sent_cookies(headers).find(|cookie| cookie.name() == wanted.as_str()) {
                        Some(cookie) => {
                            part(b"+");
                            part(cookie.value().as_bytes());
                        }
                        None => part(b"-"),
                    }
                }
                continue;
            }
            let values = headers.get_all(name);
            part(&(values.iter().count() as u64).to_be_bytes());
            values.iter().for_each(|value| part(value.as_bytes()));
        }
        hash.finalize().into()
    }

    /// Checks the request's credential; `None` when this check's is not present.
    pub async fn check(&self, headers: &HeaderMap, request: &OriginalRequest) -> Option<Authenticated> {
        if !self.is_present(headers) {
            return None;
        }
        let kind = CredentialKind::SessionCheck(self.id);
        let key = self.cache_key(headers);
        let call = || self.call(headers, request);
        let answer = crate::remote::recent_cached_or_call(&RECENT_ANSWERS, self.number, &self.cache, key, call).await;
        Some(Authenticated::from(match answer {
            Ok(Answer::Valid(identity)) => Outcome::Valid(identity),
            Ok(Answer::Invalid(reason)) => Outcome::Invalid {
                kind,
                reason: reason.to_string(),
            },
            Err(reason) => Outcome::Unavailable {
                kind,
                reason: reason.to_string(),
            },
        }))
    }

    /// One call to the check's URL, carrying what [`SessionCheck::forwarded`] picks from
    /// `headers`; `Err` when it gave no verdict.
    async fn call(&self, headers: &HeaderMap, request: &OriginalRequest) -> Result<Kept<Answer>, String> {
        let mut call = self
            .client
            .get(self.config.url.clone())
            .timeout(self.config.timeout)
            .header(ACCEPT, "application/json");
        for (name, value) in self.forwarded(headers) {
            call = call.header(name, value);
        }
        for (name, value) in [
            ("x-forwarded-method", request.method.as_str()),
            ("x-forwarded-proto", request.scheme),
            ("x-forwarded-host", request.authority.as_str()),
            ("x-forwarded-uri", request.uri.as_str()),
        ] {
            if let Ok(value) = HeaderValue::from_str(value) {
                call = call.header(name, value);
            }
        }
        let result = match call.send().await {
            Ok(response) => self.read(response).await,
            Err(error) => Err(crate::remote::describe(&error)),
        };
        let (label, reason) = match result.as_ref().map(|kept| &kept.answer) {
            Ok(Answer::Valid(_)) => ("valid", None),
            Ok(Answer::Invalid(reason)) => ("invalid", Some(reason.to_string())),
            Err(reason) => ("error", Some(reason.clone())),
        };
        self.metrics
            .session_check_total
            .with_label_values(&[self.config.name.as_str(), label])
            .inc();
        let url = self.config.url.as_str();
        match (label, reason) {
            ("error", Some(reason)) => {
                tracing::warn!(check = %self.config.name, url, reason, "session check cannot answer")
            }
            (_, Some(reason)) => {
                tracing::info!(check = %self.config.name, url, reason, "session check refused the credential")
            }
            _ => tracing::debug!(check = %self.config.name, url, "session check accepted the credential"),
        }
        result.map_err(|reason| format!("session check `{}` ({url}) cannot answer: {reason}", self.config.name))
    }

    /// The verdict of an answer, with how long it is used: a valid one `cache_ttl` but never
    /// past the session's end, an invalid one at most [`INVALID_TTL`].
    async fn read(&self, response: reqwest::Response) -> Result<Kept<Answer>, String> {
        let status = response.status();
        let invalid_ttl = self.config.cache_ttl.min(INVALID_TTL);
        let invalid = |reason: String| Kept::lasting(Answer::Invalid(reason.into()), invalid_ttl);
        match status.as_u16() {
            200 => {}
            401 | 403 => {
                return Ok(invalid(format!(
                    "session check `{}` answered {status}",
                    self.config.name
                )));
            }
            _ => return Err(format!("answered {status}")),
        }
        let body = crate::remote::read_capped(response, MAX_ANSWER_BYTES).await?;
        let object: Map<String, Value> = match serde_json::from_slice(&body) {
            Ok(Value::Object(object)) => object,
            Ok(_) => return Err("answered 200 with JSON that is not an object".into()),
            Err(_) => return Err("answered 200 with a body that is not JSON".into()),
        };
        if object.get("active") == Some(&Value::Bool(false)) {
            return Ok(invalid(format!(
                "session check `{}`: the session is not active",
                self.config.name
            )));
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let expires = session_expiry(&object);
        if expires.is_some_and(|at| at <= now) {
            return Ok(invalid(format!(
                "session check `{}`: the session has expired",
                self.config.name
            )));
        }
        let ttl = self.config.cache_ttl;
        let expires_at = expires.unwrap_or_else(|| now.saturating_add(ttl.as_secs().max(1)));
        let text = String::from_utf8_lossy(&body);
        match self.mapper.identity(&object, text.trim(), expires_at) {
            Ok(identity) => {
                // Made once here for every request that shares the identity.
                identity.digest();
                Ok(Kept::lasting(
                    Answer::Valid(Arc::new(identity)),
                    ttl.min(Duration::from_secs(expires_at.saturating_sub(now))),
                ))
            }
            Err(_) => Ok(invalid(format!(
                "session check `{}`: the answer has no user at `{}`",
                self.config.name, self.config.user_field
            ))),
        }
    }
}

/// The session's own end, when the answer says (`expires_at`: RFC 3339 as Kratos writes it, or
/// Unix seconds).
fn session_expiry(object: &Map<String, Value>) -> Option<u64> {
    match object.get("expires_at")? {
        Value::String(text) => humantime::parse_rfc3339_weak(text)
            .ok()?
            .duration_since(UNIX_EPOCH)
            .ok()
            .map(|at| at.as_secs()),
        Value::Number(number) => number.as_u64(),
        _ => None,
    }
}

/// The request's cookies (the first `MAX_REQUEST_COOKIES`), parsed from every `Cookie` header.
fn sent_cookies(headers: &HeaderMap) -> impl Iterator<Item = cookie::Cookie<'_>> {
    let texts = headers.get_all(COOKIE).into_iter().filter_map(|v| v.to_str().ok());
    texts
        .flat_map(|text| cookie::Cookie::split_parse(text).flatten())
        .take(MAX_REQUEST_COOKIES)
}

#[cfg(test)]
mod tests;
