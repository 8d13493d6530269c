//! Per-state entries shared by every constraint compiled for a vocabulary.
//!
//! A state's entry (the tokens that stay inside its rule, and the trie
//! nodes where the rule could return) depends only on what its automaton
//! accepts from that state, when no call is reachable from it. Many states
//! of different schemas accept the same thing: the body of a free string
//! at the end of an object member (`body* "`), a number ending a member, an
//! enum value's tail. Their entries are computed once per vocabulary and
//! shared, keyed by [`crate::dfa::ByteDfa::future`]'s description of the
//! reachable part (and whether the rule is called, which decides whether
//! returns are recorded). A first visit of such a state in a new schema is
//! then a lookup instead of a trie walk.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use rustc_hash::FxBuildHasher;

/// States reachable from a state whose entry is shared (larger futures are
/// rarely equal and cost more to describe).
pub(crate) const MAX_FUTURE_STATES: usize = 48;

/// Bytes of shared token sets kept per vocabulary; past this the oldest
/// entries are dropped, one or two per insertion (entries already handed out
/// stay alive in their constraints), except that an entry found since
/// eviction last passed over it goes back to the end of the queue (second
/// chance): the futures every schema has (a free string body ending a
/// member) stay while one-off ones make room. Emptying the whole store at
/// once freed 64 MiB inside one mask: about 10 ms.
const MAX_BYTES: usize = 64 << 20;

/// An entry with its states as indices into the future's order.
pub(crate) struct SharedEntry {
    pub tokens: crate::tokens::TokenSet,
    /// `(trie node, index of the returning state in the order)`.
    pub exits: Vec<(u32, u32)>,
}

#[derive(Default)]
struct Store {
    /// Each entry with whether it was found since eviction last passed over it.
    map: HashMap<Vec<u32>, (Arc<SharedEntry>, bool), FxBuildHasher>,
    /// Eviction queue: keys in insertion order (with second chances), with
    /// each entry's bytes.
    order: VecDeque<(Vec<u32>, usize)>,
    bytes: usize,
}

impl Store {
    fn get(&mut self, key: &[u32]) -> Option<Arc<SharedEntry>> {
        let (entry, used) = self.map.get_mut(key)?;
        *used = true;
        Some(Arc::clone(entry))
    }

    fn insert(&mut self, key: Vec<u32>, entry: Arc<SharedEntry>, limit: usize) {
        let bytes = entry.tokens.bytes() + entry.exits.len() * 8 + key.len() * 8;
        if self.map.contains_key(&key) {
            return;
        }
        while self.bytes + bytes > limit {
            let Some((old, old_bytes)) = self.order.pop_front() else { break };
            match self.map.get_mut(&old) {
                Some((_, used)) if *used => {
                    // Cleared: the next pass evicts it unless it is found
                    // again, so the loop ends.
                    *used = false;
                    self.order.push_back((old, old_bytes));
                }
                _ => {
                    self.map.remove(&old);
                    self.bytes -= old_bytes;
                }
            }
        }
        self.map.insert(key.clone(), (entry, false));
        self.order.push_back((key, bytes));
        self.bytes += bytes;
    }
}

/// The shared entries of one vocabulary.
#[derive(Default)]
pub(crate) struct FutureEntries {
    store: Mutex<Store>,
}

impl std::fmt::Debug for FutureEntries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FutureEntries").finish_non_exhaustive()
    }
}

impl FutureEntries {
    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        // Entries are inserted whole, so a poisoned lock is still consistent.
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn get(&self, key: &[u32]) -> Option<Arc<SharedEntry>> {
        self.store().get(key)
    }

    pub(crate) fn insert(&self, key: Vec<u32>, entry: Arc<SharedEntry>) {
        self.store().insert(key, entry, MAX_BYTES);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(tokens: usize) -> Arc<SharedEntry> {
        Arc::new(SharedEntry { tokens: crate::tokens::TokenSet::Dense(vec![0; tokens].into()), exits: Vec::new() })
    }

    #[test]
    fn entries_found_again_outlive_older_unused_ones() {
        // Each entry: 10 tokens (40 bytes) and a key of one word (8 bytes).
        let limit = 3 * 48;
        let mut s = Store::default();
        s.insert(vec![1], entry(10), limit);
        s.insert(vec![2], entry(10), limit);
        s.insert(vec![3], entry(10), limit);
        assert!(s.get(&[1]).is_some());
        // Full: the oldest unused entry (2) makes room, not the older 1.
        s.insert(vec![4], entry(10), limit);
        assert!(s.map.contains_key(&vec![1]));
        assert!(!s.map.contains_key(&vec![2]));
        // 1's second chance is spent: it goes next unless found again.
        s.insert(vec![5], entry(10), limit);
        s.insert(vec![6], entry(10), limit);
        assert!(!s.map.contains_key(&vec![1]));
        assert!(!s.map.contains_key(&vec![3]));
        assert_eq!(s.map.len(), 3);
        assert_eq!(s.bytes, 3 * 48);
    }
}
