//! Per-thread memos: what a worker thread last worked out for a few keys, kept in a small
//! array in a `thread_local`, so the requests that repeat a question answer it without a lock,
//! a shared cache's bookkeeping or a hash of their own.
//!
//! Each value is kept under an *owner* (what worked it out: one compiled expression, one
//! identity-token signer, one remote check) and a 32-byte key that is already a digest (an
//! identity's [`digest`](crate::authn::Identity::digest), a remote check's cache key). Owners
//! are numbered by [`next_owner`], so what one owner kept is never read for another, even for
//! one made later at the same address (a reloaded rule, a new key).

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::LocalKey;

/// The last number [`next_owner`] gave.
static OWNERS: AtomicU64 = AtomicU64::new(0);

/// A number no other owner of per-thread kept values had in this process, never 0 (what an
/// empty slot has): a compiled expression, an identity-token signer, a generation of the JWT
/// token cache, a remote check.
pub fn next_owner() -> u64 {
    OWNERS.fetch_add(1, Ordering::Relaxed) + 1
}

/// What was last worked out for a few keys, each under an `owner`: a small array meant to live
/// in a `thread_local`, so it takes no lock and is shared by no other thread. A key picks one
/// of `N` slots by its first byte (keys are digests, so their bytes are evenly spread); a new
/// value replaces the slot's old one.
pub struct Memo<V, const N: usize> {
    slots: [Option<(u64, [u8; 32], V)>; N],
}

impl<V: Clone, const N: usize> Memo<V, N> {
    /// An empty memo.
    pub const fn new() -> Self {
        Memo {
            slots: [const { None }; N],
        }
    }

    fn slot(key: &[u8; 32]) -> usize {
        usize::from(key[0]) % N
    }

    /// The value kept for `owner` and `key`.
    pub fn get(&self, owner: u64, key: &[u8; 32]) -> Option<V> {
        self.find(owner, key, |value| Some(value.clone()))
    }

    /// What `read` makes of the value kept for `owner` and `key` (a part of it, or nothing when
    /// it does not serve), without a copy of the whole value.
    pub fn find<R>(&self, owner: u64, key: &[u8; 32], read: impl FnOnce(&V) -> Option<R>) -> Option<R> {
        match &self.slots[Self::slot(key)] {
            Some((kept_owner, kept, value)) if *kept_owner == owner && kept == key => read(value),
            _ => None,
        }
    }

    /// Keeps `value` for `owner` and `key`.
    pub fn put(&mut self, owner: u64, key: &[u8; 32], value: V) {
        self.slots[Self::slot(key)] = Some((owner, *key, value));
    }
}

/// The value this thread's `memo` keeps for `owner` and `key` (none while the memo is in use
/// further up this thread's stack).
pub fn kept<V: Clone, const N: usize>(
    memo: &'static LocalKey<RefCell<Memo<V, N>>>,
    owner: u64,
    key: &[u8; 32],
) -> Option<V> {
    read(memo, owner, key, |value| Some(value.clone()))
}

/// What `read` makes of the value this thread's `memo` keeps for `owner` and `key` (none while
/// the memo is in use further up this thread's stack).
pub fn read<V: Clone, R, const N: usize>(
    memo: &'static LocalKey<RefCell<Memo<V, N>>>,
    owner: u64,
    key: &[u8; 32],
    read: impl FnOnce(&V) -> Option<R>,
) -> Option<R> {
    memo.with(|memo| memo.try_borrow().ok()?.find(owner, key, read))
}

/// Keeps `value` in this thread's `memo` for `owner` and `key` (not while the memo is in use
/// further up this thread's stack).
pub fn keep<V: Clone, const N: usize>(
    memo: &'static LocalKey<RefCell<Memo<V, N>>>,
    owner: u64,
    key: &[u8; 32],
    value: V,
) {
    memo.with(|memo| {
        if let Ok(mut memo) = memo.try_borrow_mut() {
            memo.put(owner, key, value);
        }
    });
}

impl<V: Clone, const N: usize> Default for Memo<V, N> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::{Memo, next_owner};

    #[test]
    fn a_memo_answers_only_for_the_same_owner_and_key() {
        let mut memo: Memo<bool, 4> = Memo::new();
        let (one, two) = (next_owner(), next_owner());
        assert_ne!(one, two);
        let first = [7u8; 32];
        let mut other = first;
        other[5] ^= 1;
        memo.put(one, &first, true);
        assert_eq!(memo.get(one, &first), Some(true));
        assert_eq!(memo.get(two, &first), None, "another owner");
        assert_eq!(memo.get(one, &other), None, "another key in the same slot");
        // A key sharing the slot replaces the value there.
        memo.put(one, &other, false);
        assert_eq!(memo.get(one, &other), Some(false));
        assert_eq!(memo.get(one, &first), None);
        // A key in another slot does not.
        let mut elsewhere = first;
        elsewhere[0] = 8;
        memo.put(one, &elsewhere, true);
        assert_eq!(memo.get(one, &other), Some(false));
        assert_eq!(memo.get(one, &elsewhere), Some(true));
    }
}
