//! What has ended, kept in this process: the cookie store's revocation list (a sealed cookie
//! cannot be deleted, so a signed-out or back-channel-revoked session is remembered until it could
//! no longer be valid anyway).

use std::time::Duration;

use super::Session;

/// The revocation list of the cookie store.
pub struct Revocations {
    /// `id:<id>`, `sid:<issuer>:<sid>` or `sub:<issuer>:<sub>` to the Unix second of the
    /// revocation; sessions created until then are refused.
    revoked: moka::future::Cache<String, u64>,
}

impl Revocations {
    /// An empty list whose entries are kept for `ttl` (the longest a session lasts).
    pub fn new(ttl: Duration) -> Revocations {
        Revocations {
            revoked: moka::future::Cache::builder()
                .max_capacity(1_000_000)
                .time_to_live(ttl)
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
}
