//! The tokens each thread found last, kept with their identity, so the next request with the
//! same token is answered without hashing it or asking the shared cache.
//!
//! A client usually sends one token in bursts (a page and its assets, an API client's calls),
//! and the proxy's connections to Portcullis land on the same few threads. Finding a token
//! here costs a comparison of the token with the one kept, instead of its SHA-256 (about
//! 0.4 µs for a 700-byte token) and the shared cache's hit path (a lookup, and a read record
//! sent to a channel every thread writes to).
//!
//! - A token is kept when the shared cache answers for it (so it was verified and admitted),
//!   and served only while the cache still holds its entry ([`Entry::is_held`]): the cache's
//!   budget, expiry and clearing decide for the tokens kept here too.
//! - It is found again only by the whole token: its last eight bytes pick one of [`SLOTS`]
//!   slots, and the kept token must then equal the presented one byte for byte, compared in
//!   time that does not depend on where they differ (no timing tells a caller how much of
//!   someone's token it guessed).
//! - Each entry belongs to one generation of one cache (a [`next_owner`](crate::memo::next_owner) number): a new cache
//!   (config reload) or a cleared one takes a new number, and entries of the old one are
//!   never served again.
//! - Memory: [`SLOTS`] tokens (16 KiB at most each) per worker thread, beside the cache's
//!   budget. A slot whose entry the cache let go is emptied when it is next looked at.

use std::cell::RefCell;
use std::sync::Arc;

use super::cache::Entry;
use crate::authn::Identity;

/// Tokens kept per thread.
pub const SLOTS: usize = 16;

struct Slot {
    generation: u64,
    tag: u64,
    token: Vec<u8>,
    entry: Option<Arc<Entry>>,
}

impl Slot {
    const EMPTY: Slot = Slot {
        generation: 0,
        tag: 0,
        token: Vec::new(),
        entry: None,
    };
}

thread_local! {
    static RECENT: RefCell<[Slot; SLOTS]> = const { RefCell::new([const { Slot::EMPTY }; SLOTS]) };
}

/// The token's last eight bytes (fewer, zero-padded, for a shorter one): the end of a JWT's
/// signature, which differs between any two tokens.
fn tag(token: &[u8]) -> u64 {
    let tail = &token[token.len().saturating_sub(8)..];
    let mut word = [0u8; 8];
    word[..tail.len()].copy_from_slice(tail);
    u64::from_le_bytes(word)
}

fn slot_of(tag: u64) -> usize {
    // Fibonacci hashing: base64 characters carry six bits a byte, spread them over the index.
    (tag.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize % SLOTS
}

/// The identity this thread kept for `token` under `generation`, while the cache holds its
/// entry and unless it expired at or before `now`.
pub fn find(generation: u64, token: impl AsRef<[u8]>, now: u64) -> Option<Arc<Identity>> {
    let token = token.as_ref();
    let tag = tag(token);
    RECENT.with(|recent| {
        let mut recent = recent.try_borrow_mut().ok()?;
        let slot = &mut recent[slot_of(tag)];
        if slot.generation != generation || slot.tag != tag {
            return None;
        }
        if !crate::authn::constant_time_eq(&slot.token, token) {
            return None;
        }
        let entry = slot.entry.as_ref()?;
        if !entry.is_held() {
            // Let the identity go now, not when the slot is next reused.
            slot.entry = None;
            return None;
        }
        Some(entry.identity.clone()).filter(|identity| identity.expires_at > now)
    })
}

/// Keeps `entry` for `token` under `generation`, in the slot the token's tag picks.
pub fn keep(generation: u64, token: impl AsRef<[u8]>, entry: &Arc<Entry>) {
    let token = token.as_ref();
    let tag = tag(token);
    RECENT.with(|recent| {
        let Ok(mut recent) = recent.try_borrow_mut() else {
            return;
        };
        let slot = &mut recent[slot_of(tag)];
        slot.generation = generation;
        slot.tag = tag;
        // The slot's buffer is reused: once warm, keeping a token allocates nothing.
        slot.token.clear();
        slot.token.extend_from_slice(token);
        slot.entry = Some(entry.clone());
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authn::Claims;
    use crate::authn::jwt::unix_now;
    use crate::memo::next_owner;

    fn entry(user: &str, expires_at: u64) -> Arc<Entry> {
        Entry::new(Arc::new(Identity {
            issuer: "main".into(),
            user: user.into(),
            email: None,
            groups: Vec::new(),
            preferred_username: None,
            scopes: Vec::new(),
            claims: Claims::from_json("{}"),
            expires_at,
            digest: Default::default(),
        }))
    }

    #[test]
    fn a_kept_token_is_found_only_by_the_whole_token_and_its_generation() {
        let now = unix_now();
        let generation = next_owner();
        let alice = entry("alice", now + 60);
        let token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLW9mLWFsaWNl";
        keep(generation, token, &alice);
        let found = find(generation, token, now).expect("kept");
        assert!(Arc::ptr_eq(&found, &alice.identity));
        // The same last eight bytes (the same slot and tag), another token.
        let forged = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJtYWxsb3J5In0.c2lnbmF0dXJlLW9mLWFsaWNl";
        assert_eq!(tag(forged.as_bytes()), tag(token.as_bytes()));
        assert!(find(generation, forged, now).is_none(), "another payload");
        assert!(find(generation, &token[1..], now).is_none(), "a shorter token");
        assert!(find(generation, format!("{token}x"), now).is_none(), "a longer token");
        assert!(find(next_owner(), token, now).is_none(), "another cache's generation");
        assert!(find(generation, "", now).is_none());
    }

    #[test]
    fn a_kept_identity_is_never_served_at_or_after_its_expiry() {
        let now = unix_now();
        let generation = next_owner();
        keep(generation, "a.b.c", &entry("alice", now + 10));
        assert!(find(generation, "a.b.c", now + 9).is_some());
        assert!(find(generation, "a.b.c", now + 10).is_none());
    }

    #[test]
    fn an_entry_the_cache_let_go_is_not_served_and_not_kept_alive() {
        let now = unix_now();
        let generation = next_owner();
        let alice = entry("alice", now + 60);
        keep(generation, "x.y.z", &alice);
        assert!(find(generation, "x.y.z", now).is_some());
        alice.let_go();
        assert!(find(generation, "x.y.z", now).is_none());
        assert_eq!(Arc::strong_count(&alice), 1, "the slot let go of it");
    }

    #[test]
    fn a_slot_keeps_the_last_token_that_picked_it() {
        let now = unix_now();
        let generation = next_owner();
        let first = "header.payload.signature-00000001";
        // Find a second token for the same slot, with another tag.
        let second = (0..10_000)
            .map(|i| format!("header.payload.signature-{i:08}"))
            .find(|t| t != first && slot_of(tag(t.as_bytes())) == slot_of(tag(first.as_bytes())))
            .expect("a token for the same slot");
        keep(generation, first, &entry("alice", now + 60));
        keep(generation, &second, &entry("bob", now + 60));
        assert!(find(generation, first, now).is_none(), "replaced");
        assert_eq!(find(generation, &second, now).expect("kept").user, "bob");
    }

    #[test]
    fn threads_keep_their_own_tokens() {
        let now = unix_now();
        let generation = next_owner();
        keep(generation, "t.o.k", &entry("alice", now + 60));
        let elsewhere = std::thread::spawn(move || find(generation, "t.o.k", now).is_some())
            .join()
            .expect("thread");
        assert!(!elsewhere);
        assert!(find(generation, "t.o.k", now).is_some());
    }
}
