//! Opaque bearer tokens, checked by RFC 7662 token introspection: a bearer token that is not a
//! JWT goes to each issuer with `[issuers.introspection]`, in config order, and the first
//! `active: true` answer wins ([`endpoint`] makes one call, [`answer`] checks an active answer
//! and maps it to an [`Identity`]).
//!
//! Verdicts are cached by a keyed hash of the token (the cache never holds a token, and its keys
//! cannot be matched against guessed tokens without the process's random key): active answers
//! for the issuer's `cache_ttl`, never past the token's `exp`; inactive answers for
//! [`INACTIVE_TTL`]; errors never. Concurrent misses for one token share one round of calls
//! (moka's `try_get_with` is the single flight), and cached verdicts keep serving while an
//! endpoint is down. Each worker thread also keeps its latest verdicts, for no longer
//! ([`crate::remote::recent_cached_or_call`]).

mod answer;
mod endpoint;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine;
use moka::future::Cache;
use rand::RngCore;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

pub use endpoint::basic_authorization;

use super::Identity;
use super::claims::ClaimMapper;
use super::jwt::{DEFAULT_CACHE_MEMORY, MAX_TOKEN_BYTES, TokenKey, entry_weight, unix_now};
use crate::config::IssuerConfig;
use crate::memo::next_owner;
use crate::metrics::Metrics;
use crate::remote::{Kept, Recent, UntilLapse, no_recent};
use answer::Expected;
use endpoint::{Endpoint, Said};

/// How long an inactive answer is cached. Long enough that a flood of one bad token (a client
/// retrying a revoked token in a loop, or an attacker) costs one introspection call per token
/// every few seconds instead of one per request; short enough that a token the IdP only just
/// issued, and that one of its replicas did not know yet, is accepted within seconds.
pub const INACTIVE_TTL: Duration = Duration::from_secs(5);

/// What introspection found about a token.
#[derive(Debug, Clone)]
pub enum Checked {
    /// An issuer answered `active: true` and the answer passed every check.
    Valid(Arc<Identity>),
    /// Every issuer answered `active: false`, or the active answer failed a check.
    Invalid(String),
    /// No active answer, and at least one issuer could not answer: no verdict on the token.
    Unavailable(String),
}

/// A cached verdict (kept until it lapses: an active one `cache_ttl` but never past `exp`, a
/// refused one [`INACTIVE_TTL`]).
#[derive(Clone)]
enum Verdict {
    /// Valid.
    Active(Arc<Identity>),
    /// Refused, for this reason.
    Refused(Arc<str>),
}

thread_local! {
    /// Each worker thread's latest verdicts, by cache number and token hash.
    static RECENT_VERDICTS: Recent<Verdict> = const { no_recent() };
}

/// One issuer with introspection.
struct Introspecting {
    name: Arc<str>,
    issuer: String,
    audiences: Vec<String>,
    leeway: Duration,
    cache_ttl: Duration,
    claims: ClaimMapper,
    endpoint: Endpoint,
}

/// Checks opaque tokens at every issuer with introspection.
pub struct Introspector {
    issuers: Vec<Introspecting>,
    cache: Cache<TokenKey, Kept<Verdict>>,
    /// The cache's number among the threads' latest verdicts: a new one when it is cleared.
    number: AtomicU64,
    /// The per-process key of the cache's token hashes.
    hash_key: [u8; 32],
    metrics: Metrics,
}

impl Introspector {
    /// The introspector of `issuers`; `None` when none has `[issuers.introspection]`.
    pub fn new(issuers: &[IssuerConfig], http: reqwest::Client, metrics: Metrics) -> Option<Introspector> {
        let issuers: Vec<Introspecting> = issuers
            .iter()
            .filter_map(|config| {
                let introspection = config.introspection.as_ref()?;
                Some(Introspecting {
                    name: config.name.as_str().into(),
                    issuer: config.issuer.clone(),
                    audiences: config.audiences.clone(),
                    leeway: config.leeway,
                    cache_ttl: introspection.cache_ttl,
                    claims: ClaimMapper::new(config),
                    endpoint: Endpoint::new(config, introspection, http.clone()),
                })
            })
            .collect();
        if issuers.is_empty() {
            return None;
        }
        let mut hash_key = [0u8; 32];
        rand::rng().fill_bytes(&mut hash_key);
        Some(Introspector {
            issuers,
            cache: cache(DEFAULT_CACHE_MEMORY),
            number: AtomicU64::new(next_owner()),
            hash_key,
            metrics,
        })
    }

    /// Bounds the verdict cache by `bytes` (`server.token_cache_memory`, a budget of its own
    /// beside the JWT cache's).
    pub fn with_cache_memory(mut self, bytes: u64) -> Introspector {
        self.cache = cache(bytes);
        self.number = AtomicU64::new(next_owner());
        self
    }

    /// Checks `token`: from this thread's latest verdicts or the cache, else at each issuer in
    /// turn (one round of calls for all concurrent requests with this token).
    pub async fn check(&self, token: &str) -> Checked {
        if token.len() > MAX_TOKEN_BYTES {
            return Checked::Invalid("token longer than 16 KiB".into());
        }
        let key = self.key(token);
        let number = self.number.load(Ordering::Acquire);
        let call = || self.introspect(token);
        match crate::remote::recent_cached_or_call(&RECENT_VERDICTS, number, &self.cache, key, call).await {
            Ok(Verdict::Active(identity)) => Checked::Valid(identity),
            Ok(Verdict::Refused(reason)) => Checked::Invalid(reason.to_string()),
            Err(reason) => Checked::Unavailable(reason.to_string()),
        }
    }

    /// Forgets every cached verdict (benchmarks of the uncached path).
    pub fn clear_cache(&self) {
        self.number.store(next_owner(), Ordering::Release);
        self.cache.invalidate_all();
    }

    /// The keyed hash of `token`.
    fn key(&self, token: &str) -> TokenKey {
        let mut hasher = Sha256::new();
        hasher.update(self.hash_key);
        hasher.update(token.as_bytes());
        hasher.finalize().into()
    }

    /// One round of calls: the first active answer decides; with none, any error makes the
    /// round an error (not cached), else the token is inactive.
    async fn introspect(&self, token: &str) -> Result<Kept<Verdict>, String> {
        let mut failed: Vec<&str> = Vec::new();
        for issuer in &self.issuers {
            match issuer.endpoint.introspect(token).await {
                Ok(Said::Active(answer)) => {
                    self.count(issuer, "active");
                    return Ok(issuer.verdict(answer));
                }
                Ok(Said::Inactive) => self.count(issuer, "inactive"),
                Err(reason) => {
                    self.count(issuer, "error");
                    tracing::warn!(
                        issuer = %issuer.name,
                        endpoint = %issuer.endpoint.describe(),
                        reason,
                        "token introspection failed"
                    );
                    failed.push(&issuer.name);
                }
            }
        }
        if failed.is_empty() {
            let reason = "no issuer knows the token as active";
            Ok(Kept::lasting(Verdict::Refused(reason.into()), INACTIVE_TTL))
        } else {
            Err(format!(
                "token introspection cannot answer (issuer {})",
                failed.join(", ")
            ))
        }
    }

    fn count(&self, issuer: &Introspecting, result: &str) {
        self.metrics
            .introspection_total
            .with_label_values(&[&*issuer.name, result])
            .inc();
    }
}

impl Introspecting {
    /// The verdict on an active answer: its identity, kept for the cache TTL but never past
    /// `exp`, or why it is refused.
    fn verdict(&self, answer: Map<String, Value>) -> Kept<Verdict> {
        let expected = Expected {
            issuer: &self.issuer,
            audiences: &self.audiences,
            leeway: self.leeway,
            without_exp: self.cache_ttl,
            claims: &self.claims,
        };
        let now = unix_now();
        match answer::identity(answer, &expected, now) {
            Ok(identity) => {
                let left = Duration::from_secs(identity.expires_at.saturating_sub(now));
                // Made once here for every request that shares the identity.
                identity.digest();
                Kept::lasting(Verdict::Active(Arc::new(identity)), self.cache_ttl.min(left))
            }
            Err(reason) => {
                tracing::info!(issuer = %self.name, reason, "active introspection answer refused");
                let reason = format!("issuer {}: {reason}", self.name);
                Kept::lasting(Verdict::Refused(reason.into()), INACTIVE_TTL)
            }
        }
    }
}

fn cache(budget: u64) -> Cache<TokenKey, Kept<Verdict>> {
    Cache::builder()
        .max_capacity(budget)
        .weigher(|_: &TokenKey, kept: &Kept<Verdict>| match &kept.answer {
            Verdict::Active(identity) => entry_weight(identity),
            Verdict::Refused(reason) => u32::try_from(400 + reason.len()).unwrap_or(u32::MAX),
        })
        .expire_after(UntilLapse)
        .build()
}

/// Whether `token` is a JWT (checked locally against the issuers' keys): three base64url parts
/// whose first decodes to a JSON object with `alg`. Anything else is an opaque token.
///
/// Asked of every bearer token when introspection is configured, so it is cheap: the dots are
/// found with `memchr`, a usual header decodes on the stack, and its JSON is
/// checked for an `alg` member without building a map.
pub fn looks_like_jwt(token: &str) -> bool {
    first_of_three_parts(token.as_bytes()).is_some_and(is_jwt_header)
}

/// Whether `header`, the first of a token's three parts, is a JWT header: base64url of a JSON
/// object with `alg`.
pub fn is_jwt_header(header: &[u8]) -> bool {
    let engine = &base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut on_stack = [0u8; 512];
    match engine.decode_slice(header, &mut on_stack) {
        Ok(length) => has_alg(&on_stack[..length]),
        // A header this long carries certificates (`x5c`) or the like: decoded on the heap.
        Err(base64::DecodeSliceError::OutputSliceTooSmall) => engine.decode(header).is_ok_and(|json| has_alg(&json)),
        Err(base64::DecodeSliceError::DecodeError(_)) => false,
    }
}

/// The first part of `token` when it has three parts separated by dots, as a JWT has.
pub fn first_of_three_parts(token: &[u8]) -> Option<&[u8]> {
    let first = memchr::memchr(b'.', token)?;
    let (header, rest) = (&token[..first], &token[first + 1..]);
    let second = memchr::memchr(b'.', rest)?;
    memchr::memchr(b'.', &rest[second + 1..]).is_none().then_some(header)
}

/// Whether `json` is one JSON object (and nothing after it but white space) with an `alg` member.
/// All of it UTF-8, as a map would need: skipped values are not checked for it otherwise.
fn has_alg(json: &[u8]) -> bool {
    let Ok(json) = std::str::from_utf8(json) else {
        return false;
    };
    let mut reader = serde_json::Deserializer::from_str(json);
    let found = serde::Deserializer::deserialize_map(&mut reader, HasAlg);
    found.is_ok_and(|found| found && reader.end().is_ok())
}

/// Visits a JSON object's members, keeping only whether one is named `alg`.
struct HasAlg;

impl<'de> serde::de::Visitor<'de> for HasAlg {
    type Value = bool;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut members: A) -> Result<bool, A::Error> {
        let mut found = false;
        while let Some(IsAlg(is_alg)) = members.next_key::<IsAlg>()? {
            found |= is_alg;
            members.next_value::<serde::de::IgnoredAny>()?;
        }
        Ok(found)
    }
}

/// A member name, read without a copy: whether it is `alg` (escaped or not).
struct IsAlg(bool);

impl<'de> serde::Deserialize<'de> for IsAlg {
    fn deserialize<D: serde::Deserializer<'de>>(names: D) -> Result<IsAlg, D::Error> {
        names.deserialize_str(IsAlgVisitor)
    }
}

struct IsAlgVisitor;

impl serde::de::Visitor<'_> for IsAlgVisitor {
    type Value = IsAlg;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("a member name")
    }

    fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<IsAlg, E> {
        Ok(IsAlg(name == "alg"))
    }
}
