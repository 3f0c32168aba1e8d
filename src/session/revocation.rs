//! What has ended, kept in this process: the cookie store's revocation list (a sealed cookie
//! cannot be deleted, so a signed-out or back-channel-revoked session is remembered until it could
//! no longer be valid anyway), and the logout tokens already used when there is no Redis.

use std::time::{Duration, Instant};

use super::Session;

/// Logout tokens remembered at most (a bound on memory; past it the oldest may be forgotten).
const USED_LOGOUT_TOKENS: u64 = 100_000;

/// The revocation list of the cookie store and the in-process logout-token replay cache.
pub struct Revocations {
    /// `id:<id>`, `sid:<issuer>:<sid>` or `sub:<issuer>:<sub>` to the Unix second of the
    /// revocation; sessions created until then are refused.
    revoked: moka::future::Cache<String, u64>,
    /// `jti`s of used logout tokens, each until the token itself could no longer be accepted.
    used_logout_tokens: moka::future::Cache<String, Instant>,
}

/// Each used logout token lives until its own deadline (the `Instant` it maps to).
struct UntilDeadline;

impl moka::Expiry<String, Instant> for UntilDeadline {
    fn expire_after_create(&self, _key: &String, deadline: &Instant, created_at: Instant) -> Option<Duration> {
        Some(deadline.saturating_duration_since(created_at))
    }
}

impl Revocations {
    /// An empty list whose entries are kept for `ttl` (the longest a session lasts).
    pub fn new(ttl: Duration) -> Revocations {
        Revocations {
            revoked: moka::future::Cache::builder()
                .max_capacity(1_000_000)
                .time_to_live(ttl)
                .build(),
            used_logout_tokens: moka::future::Cache::builder()
                .max_capacity(USED_LOGOUT_TOKENS)
                .expire_after(UntilDeadline)
                .build(),
        }
    }

    /// Remembers the session `id` as signed out at `at`.
    pub async fn revoke_id(&self, id: &str, at: u64) {
        self.revoked.insert(format!("id:{id}"), at).await;
    }

    /// Remembers every session of `issuer` with this `sid` or `sub` as revoked at `at`.
    pub async fn revoke(&self, issuer: &str, sid: Option<&str>, sub: Option<&str>, at: u64) {
        if let Some(sid) = sid {
            self.revoked.insert(format!("sid:{issuer}:{sid}"), at).await;
        }
        if let Some(sub) = sub {
            self.revoked.insert(format!("sub:{issuer}:{sub}"), at).await;
        }
    }

    /// Whether `session` was created before a revocation of its id, `sid` or `sub`.
    pub async fn is_revoked(&self, session: &Session) -> bool {
        let mut keys = vec![
            format!("id:{}", session.id),
            format!("sub:{}:{}", session.issuer, session.sub()),
        ];
        if let Some(sid) = session.sid() {
            keys.push(format!("sid:{}:{sid}", session.issuer));
        }
        for key in keys {
            if self.revoked.get(&key).await.is_some_and(|at| session.created_at <= at) {
                return true;
            }
        }
        false
    }

    /// Marks the logout token `key` as used until `ttl` from now; `false` when it already was.
    /// One atomic check-and-mark, so two deliveries of the same token cannot both pass.
    pub async fn first_use_of_logout_token(&self, key: &str, ttl: Duration) -> bool {
        self.used_logout_tokens
            .entry(key.to_string())
            .or_insert(Instant::now() + ttl)
            .await
            .is_fresh()
    }

    /// Forgets the logout token `key` (its logout failed; the provider may retry it).
    pub async fn forget_logout_token(&self, key: &str) {
        self.used_logout_tokens.invalidate(key).await;
    }
}
