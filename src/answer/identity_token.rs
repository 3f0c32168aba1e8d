//! The signed identity token for upstreams (`[identity_token]`, a rule's `identity_token:`):
//! a JWT of the identity that upstreams verify against `GET /.well-known/jwks.json`, so they
//! trust a signature rather than a header anyone inside the network could set (Oathkeeper's
//! `id_token` mutator).
//!
//! Signing stays off the hot path: a token is reused for the same identity and audience while
//! more than half of its lifetime remains, from a bounded in-memory cache. Each thread also
//! keeps the tokens it answered with last, found by the identity's digest, so the requests of
//! one credential hash no reuse key and ask no shared cache.
//!
//! Which answers carry the header: a 200 of a rule with `identity_token:` carries the token (or
//! the header empty when the request has no identity, on an `allow` rule). With any header but
//! `Authorization`, every other 200 carries it empty too, so a proxy that copies it upstream
//! overwrites a client's copy. `Authorization` is left alone on rules without
//! `identity_token:`: blanking it there would strip the client's own bearer token from
//! upstreams that verify it themselves (bearer pass-through).

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::authn::Identity;
use crate::config::IdentityTokenConfig;
use crate::memo::{self, Memo, next_owner};
use crate::rules::IdentityTokenRule;
use crate::session::unix_now;

/// The memory the reused tokens may take (each entry weighs its token's length plus its key).
const CACHE_MEMORY: u64 = 32 * 1024 * 1024;
/// What one entry costs besides its token: the key, the times and moka's bookkeeping.
const ENTRY_OVERHEAD: u32 = 160;

thread_local! {
    /// The tokens this thread answered with last, by signer number and identity digest.
    static LAST_MINTED: RefCell<Memo<Arc<Minted>, 16>> = const { RefCell::new(Memo::new()) };
}

/// The identity token signer of the running service: the key, the published key set and the
/// tokens kept for reuse.
pub struct IdentityTokens {
    config: IdentityTokenConfig,
    /// This signer's number among the threads' kept tokens ([`next_owner`]): a reloaded key's
    /// signer never answers with the old one's tokens.
    number: u64,
    /// `{"keys": [...]}` of the signing key and the previous keys, serialised once.
    jwks: String,
    /// Tokens by the SHA-256 of what they say (see [`reuse_key`]), until half their lifetime.
    cache: moka::sync::Cache<[u8; 32], Arc<Minted>>,
}

impl std::fmt::Debug for IdentityTokens {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("IdentityTokens")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A signed token ready to send, its audience, and when to stop reusing it.
#[derive(Debug)]
struct Minted {
    value: HeaderValue,
    audience: Option<Box<str>>,
    /// Unix time after which fewer than half of the token's lifetime remains.
    reuse_until: u64,
}

/// Expires each token when half of its lifetime has passed.
struct HalfLife;

impl moka::Expiry<[u8; 32], Arc<Minted>> for HalfLife {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        minted: &Arc<Minted>,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(Duration::from_secs(minted.reuse_until.saturating_sub(unix_now())))
    }
}

impl IdentityTokens {
    /// The signer of `config`, with an empty reuse cache.
    pub fn new(config: &IdentityTokenConfig) -> IdentityTokens {
        let cache = moka::sync::Cache::builder()
            .max_capacity(CACHE_MEMORY)
            .weigher(|_key: &[u8; 32], minted: &Arc<Minted>| {
                let audience = minted.audience.as_ref().map_or(0, |audience| audience.len());
                u32::try_from(minted.value.len() + audience)
                    .unwrap_or(u32::MAX)
                    .saturating_add(ENTRY_OVERHEAD)
            })
            .expire_after(HalfLife)
            .build();
        IdentityTokens {
            jwks: key_set(config).to_string(),
            config: config.clone(),
            number: next_owner(),
            cache,
        }
    }

    /// The header that carries the token.
    pub fn header(&self) -> &HeaderName {
        &self.config.header
    }

    /// The JSON Web Key Set of `GET /.well-known/jwks.json`: the signing key, then the previous
    /// keys (public parts, `kid`, `alg`, `use: sig`).
    pub fn jwks(&self) -> &str {
        &self.jwks
    }

    /// The claims of a token for `identity` and `audience` minted at `now`: `iss`, `sub`,
    /// `aud` (when set), `iat`, `nbf`, `exp` (at most `ttl` ahead, never past the credential's
    /// own expiry), `jti`, `email` and `preferred_username` (when known), `groups`.
    pub fn claims(&self, identity: &Identity, audience: Option<&str>, now: u64) -> Map<String, Value> {
        let expires = now.saturating_add(self.config.ttl.as_secs()).min(identity.expires_at);
        let mut jti = [0u8; 16];
        rand::rng().fill_bytes(&mut jti);
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(self.config.issuer));
        claims.insert("sub".into(), json!(identity.user));
        if let Some(audience) = audience {
            claims.insert("aud".into(), json!(audience));
        }
        claims.insert("iat".into(), json!(now));
        claims.insert("nbf".into(), json!(now));
        claims.insert("exp".into(), json!(expires));
        claims.insert("jti".into(), json!(URL_SAFE_NO_PAD.encode(jti)));
        if let Some(email) = &identity.email {
            claims.insert("email".into(), json!(email));
        }
        claims.insert("groups".into(), json!(identity.groups));
        if let Some(name) = &identity.preferred_username {
            claims.insert("preferred_username".into(), json!(name));
        }
        claims
    }

    /// The header value for `identity` on a rule with `audience`: a token kept from an earlier
    /// answer while more than half its lifetime remains, else a freshly signed one.
    pub fn value(&self, identity: &Identity, audience: Option<&str>) -> Result<HeaderValue, String> {
        let now = unix_now();
        let usable = |minted: &Arc<Minted>| minted.reuse_until > now && minted.audience.as_deref() == audience;
        let digest = identity.digest();
        if let Some(minted) = memo::kept(&LAST_MINTED, self.number, digest).filter(usable) {
            return Ok(minted.value.clone());
        }
        let key = reuse_key(identity, audience);
        if let Some(minted) = self.cache.get(&key).filter(usable) {
            self.keep(digest, &minted);
            return Ok(minted.value.clone());
        }
        let claims = self.claims(identity, audience, now);
        let token = self.config.signer.sign(&claims)?;
        let text = if self.config.is_authorization() {
            format!("Bearer {token}")
        } else {
            token
        };
        let value = HeaderValue::try_from(text).map_err(|e| format!("the signed token is no header value: {e}"))?;
        let expires = claims["exp"].as_u64().unwrap_or(now);
        let reuse_until = now + expires.saturating_sub(now) / 2;
        if reuse_until > now {
            let minted = Arc::new(Minted {
                value: value.clone(),
                audience: audience.map(Box::from),
                reuse_until,
            });
            self.keep(digest, &minted);
            self.cache.insert(key, minted);
        }
        Ok(value)
    }

    /// Keeps `minted` as this thread's last token for the identity of `digest`.
    fn keep(&self, digest: &[u8; 32], minted: &Arc<Minted>) {
        memo::keep(&LAST_MINTED, self.number, digest, minted.clone());
    }

    /// How many tokens are kept for reuse (after pending evictions).
    pub fn kept(&self) -> u64 {
        self.cache.run_pending_tasks();
        self.cache.entry_count()
    }
}

/// The key set: the signing key first, then each previous key not already published.
fn key_set(config: &IdentityTokenConfig) -> Value {
    let mut keys: Vec<Value> = Vec::new();
    let mut kids: Vec<&str> = Vec::new();
    for signer in std::iter::once(&config.signer).chain(&config.previous) {
        if !kids.contains(&signer.kid()) {
            kids.push(signer.kid());
            keys.push(signer.public_jwk());
        }
    }
    json!({ "keys": keys })
}

/// What a token for `identity` and `audience` says besides its times and `jti`: two requests
/// with the same key get the same token. The identity enters by its [`Identity::digest`] (every
/// part, the credential's expiry among them, since it caps `exp`; made once per identity), the
/// audience after it with a marker, so no two different pairs hash the same text.
fn reuse_key(identity: &Identity, audience: Option<&str>) -> [u8; 32] {
    let mut digest = Sha256::new();
    digest.update(identity.digest());
    let mut part = |bytes: &[u8]| {
        digest.update((bytes.len() as u64).to_le_bytes());
        digest.update(bytes);
    };
    optional(&mut part, audience);
    digest.finalize().into()
}

/// An optional part: a marker byte, then the text when there is one.
fn optional(part: &mut impl FnMut(&[u8]), text: Option<&str>) {
    match text {
        Some(text) => {
            part(&[1]);
            part(text.as_bytes());
        }
        None => part(&[0]),
    }
}

/// The identity token side of one answer: the signer (none without `[identity_token]`) and the
/// matched rule's `identity_token:` (none on other rules and when no rule matched).
#[derive(Debug, Clone, Copy, Default)]
pub struct TokenContext<'a> {
    /// The service's signer, when `[identity_token]` is configured.
    pub tokens: Option<&'a IdentityTokens>,
    /// The matched rule's `identity_token:`.
    pub rule: Option<&'a IdentityTokenRule>,
}

impl TokenContext<'_> {
    /// The identity token header of a 200 for `identity`: the token on a rule with
    /// `identity_token:` and an identity; the header empty on its other 200s, and on every
    /// 200 when the header is not `Authorization` (see the module documentation); `None`
    /// when nothing is sent. `Err` when the token cannot be signed.
    pub fn header(&self, identity: Option<&Identity>) -> Result<Option<(HeaderName, HeaderValue)>, String> {
        let Some(tokens) = self.tokens else {
            return Ok(None);
        };
        let name = tokens.header().clone();
        let empty = || Ok(Some((name.clone(), HeaderValue::from_static(""))));
        match (self.rule, identity) {
            (Some(rule), Some(identity)) => Ok(Some((name.clone(), tokens.value(identity, rule.audience.as_deref())?))),
            (Some(_), None) => empty(),
            (None, _) if tokens.config.is_authorization() => Ok(None),
            (None, _) => empty(),
        }
    }
}

#[cfg(test)]
mod tests;
