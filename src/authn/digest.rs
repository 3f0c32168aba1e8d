//! One SHA-256 over every part of an [`Identity`], made at its first use and kept with it: an
//! identity is shared by every request with its credential (the caches hold it behind an
//! `Arc`), so this is done once per identity instead of on every request.
//!
//! Caches keyed by who asked (the `http` authorizer's answers, the reused identity tokens)
//! hash the digest instead of the identity's parts (the claims text is often hundreds of
//! bytes), and per-thread memos ([`crate::memo::Memo`]) find what was last worked out for an
//! identity by it (an expression's verdict, its header values). The credential caches make it
//! when they take an identity in, so every identity that requests share has one.

use std::fmt;
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use super::Identity;

/// The digest slot of an [`Identity`]: empty until [`Identity::digest`] first fills it.
///
/// It is derived data: it compares equal to any other (two identities are equal by their
/// parts), and a clone starts empty, so a copy whose parts are then changed is hashed anew.
#[derive(Default)]
pub struct IdentityDigest(OnceLock<[u8; 32]>);

impl Clone for IdentityDigest {
    fn clone(&self) -> IdentityDigest {
        IdentityDigest::default()
    }
}

impl PartialEq for IdentityDigest {
    fn eq(&self, _: &IdentityDigest) -> bool {
        true
    }
}

impl fmt::Debug for IdentityDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdentityDigest")
    }
}

impl Identity {
    /// The SHA-256 of every part of the identity, each length-prefixed (and lists counted,
    /// absent parts marked), so two identities that differ in any part have different digests.
    /// Made at the first call; an identity is not changed once it is used.
    pub fn digest(&self) -> &[u8; 32] {
        self.digest.0.get_or_init(|| {
            let mut hash = Sha256::new();
            let mut part = |bytes: &[u8]| {
                hash.update((bytes.len() as u64).to_le_bytes());
                hash.update(bytes);
            };
            part(self.issuer.as_bytes());
            part(self.user.as_bytes());
            for optional in [&self.email, &self.preferred_username] {
                match optional {
                    Some(text) => {
                        part(b"+");
                        part(text.as_bytes());
                    }
                    None => part(b"-"),
                }
            }
            for list in [&self.groups, &self.scopes] {
                part(&(list.len() as u64).to_le_bytes());
                list.iter().for_each(|item| part(item.as_bytes()));
            }
            part(self.claims.json_text().as_bytes());
            part(&self.expires_at.to_le_bytes());
            hash.finalize().into()
        })
    }

    /// [`Identity::digest`] if it was made: an identity without one is not shared by requests
    /// (the credential caches make it), so a memo by digest would not pay for its hashing.
    pub fn digest_if_made(&self) -> Option<&[u8; 32]> {
        self.digest.0.get()
    }
}

#[cfg(test)]
mod tests {
    use crate::authn::{Claims, Identity};

    fn alice() -> Identity {
        Identity {
            issuer: "main".into(),
            user: "alice".into(),
            email: Some("alice@example.com".into()),
            groups: vec!["admins".into(), "dev".into()],
            preferred_username: None,
            scopes: vec!["read".into()],
            claims: Claims::from_json(r#"{"sub":"alice","tenant":"acme"}"#),
            expires_at: 2_000_000_000,
            digest: Default::default(),
        }
    }

    #[test]
    fn identities_that_differ_in_any_part_have_different_digests() {
        let base = alice();
        let changed = [
            Identity {
                issuer: "other".into(),
                ..alice()
            },
            Identity {
                user: "alicf".into(),
                ..alice()
            },
            Identity { email: None, ..alice() },
            Identity {
                email: Some(String::new()),
                ..alice()
            },
            Identity {
                preferred_username: Some("alice".into()),
                ..alice()
            },
            Identity {
                groups: vec!["admins,dev".into()],
                ..alice()
            },
            Identity {
                groups: vec!["admin".into(), "sdev".into()],
                ..alice()
            },
            Identity {
                scopes: Vec::new(),
                ..alice()
            },
            // A group moved to the scopes: the counts tell the lists apart.
            Identity {
                groups: vec!["admins".into()],
                scopes: vec!["dev".into(), "read".into()],
                ..alice()
            },
            Identity {
                claims: Claims::from_json(r#"{"sub":"alice","tenant":"acmf"}"#),
                ..alice()
            },
            Identity {
                expires_at: 2_000_000_001,
                ..alice()
            },
        ];
        let mut seen = vec![*base.digest()];
        for identity in &changed {
            assert_ne!(identity, &base);
            assert!(!seen.contains(identity.digest()), "{identity:?}");
            seen.push(*identity.digest());
        }
        assert_eq!(alice().digest(), base.digest(), "the same parts, the same digest");
    }

    #[test]
    fn a_clone_is_hashed_anew() {
        let base = alice();
        let first = *base.digest();
        let mut copy = base.clone();
        copy.user = "bob".into();
        assert_ne!(copy.digest(), &first);
        assert_eq!(base.digest(), &first);
    }

    #[test]
    fn a_digest_is_there_once_made() {
        let identity = alice();
        assert!(identity.digest_if_made().is_none());
        let digest = *identity.digest();
        assert_eq!(identity.digest_if_made(), Some(&digest));
        assert!(identity.clone().digest_if_made().is_none(), "a clone starts empty");
    }
}
