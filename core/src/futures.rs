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
/// stay alive in their constraints). Emptying the whole store at once freed
/// 64 MiB inside one mask: about 10 ms.
const MAX_BYTES: usize = 64 << 20;

/// An entry with its states as indices into the future's order.
pub(crate) struct SharedEntry {
    pub tokens: Arc<[u32]>,
    /// `(trie node, index of the returning state in the order)`.
    pub exits: Vec<(u32, u32)>,
}

#[derive(Default)]
struct Store {
    map: HashMap<Vec<u32>, Arc<SharedEntry>, FxBuildHasher>,
    /// Keys in insertion order, with each entry's bytes, for eviction.
    order: VecDeque<(Vec<u32>, usize)>,
    bytes: usize,
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
        self.store().map.get(key).cloned()
    }

    pub(crate) fn insert(&self, key: Vec<u32>, entry: Arc<SharedEntry>) {
        let bytes = entry.tokens.len() * 4 + entry.exits.len() * 8 + key.len() * 8;
        let mut s = self.store();
        if s.map.contains_key(&key) {
            return;
        }
        while s.bytes + bytes > MAX_BYTES {
            let Some((old, old_bytes)) = s.order.pop_front() else { break };
            s.map.remove(&old);
            s.bytes -= old_bytes;
        }
        s.map.insert(key.clone(), entry);
        s.order.push_back((key, bytes));
        s.bytes += bytes;
    }
}
