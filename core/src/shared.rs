//! Automata shared by every compilation in the process.
//!
//! Determinisation is most of a compilation's time, and the same regular
//! expressions come back again and again: within one schema (the same
//! `$ref` shape under several `anyOf` branches) and across schemas (the
//! any-value container, additional-property members, a definition that
//! several documents copy). Each rule's automaton is therefore looked up
//! here by its expression before it is built, and stored after.
//!
//! The key is the expression itself: a structural hash of it selects a
//! bucket, and the stored [`Hir`] is compared for equality, so a hit is
//! always the automaton of an equal expression. Entries are immutable
//! (`Arc<ByteDfa>`), evicted oldest first once their tables pass the byte
//! budget ([`set_shared_automata_bytes`]; 0 turns the cache off).

use std::collections::{HashMap, VecDeque};
use std::hash::Hasher;
use std::sync::{Arc, LazyLock, Mutex};

use regex_syntax::hir::{Class, Hir, HirKind};

use crate::dfa::{ByteDfa, DfaLimits};
use crate::error::CompileError;

/// Default budget of the shared automata, in bytes of transition tables.
pub const DEFAULT_SHARED_AUTOMATA_BYTES: usize = 64 << 20;

/// Automata below this many states are rebuilt rather than shared (building
/// them costs about as much as the lookup).
const MIN_SHARED_STATES: usize = 8;

/// Automata whose expressions print to the same hash.
type Bucket = Vec<(Arc<Hir>, Arc<ByteDfa>)>;

struct Shared {
    buckets: HashMap<u64, Bucket>,
    /// Insertion order, for eviction.
    order: VecDeque<(u64, Arc<Hir>)>,
    bytes: usize,
    limit: usize,
}

static SHARED: LazyLock<Mutex<Shared>> = LazyLock::new(|| {
    Mutex::new(Shared {
        buckets: HashMap::new(),
        order: VecDeque::new(),
        bytes: 0,
        limit: DEFAULT_SHARED_AUTOMATA_BYTES,
    })
});

fn shared() -> std::sync::MutexGuard<'static, Shared> {
    // A panic while the lock was held cannot leave a half-written entry
    // (entries are inserted whole), so a poisoned lock is still usable.
    SHARED.lock().unwrap_or_else(|p| p.into_inner())
}

/// Set the byte budget of the shared automata (0: no sharing) and evict
/// down to it.
pub fn set_shared_automata_bytes(limit: usize) {
    let mut s = shared();
    s.limit = limit;
    s.evict();
}

/// Drop every shared automaton (for measuring cold compilations).
pub fn clear_shared_automata() {
    let mut s = shared();
    s.buckets.clear();
    s.order.clear();
    s.bytes = 0;
}

/// Bytes of transition tables held by the shared automata.
pub fn shared_automata_bytes() -> usize {
    shared().bytes
}

/// A structural hash of the expression (every node kind, literal byte,
/// class range and repetition bound). Printing the expression and hashing
/// the text, as before, cost as much as building a small automaton.
fn key(hir: &Hir) -> u64 {
    fn visit(h: &Hir, st: &mut rustc_hash::FxHasher) {
        match h.kind() {
            HirKind::Empty => st.write_u8(0),
            HirKind::Literal(l) => {
                st.write_u8(1);
                st.write(&l.0);
                st.write_usize(l.0.len());
            }
            HirKind::Class(Class::Unicode(c)) => {
                st.write_u8(2);
                for r in c.ranges() {
                    st.write_u32(r.start() as u32);
                    st.write_u32(r.end() as u32);
                }
                st.write_usize(c.ranges().len());
            }
            HirKind::Class(Class::Bytes(c)) => {
                st.write_u8(3);
                for r in c.ranges() {
                    st.write_u8(r.start());
                    st.write_u8(r.end());
                }
                st.write_usize(c.ranges().len());
            }
            HirKind::Look(l) => {
                st.write_u8(4);
                st.write_u32(l.as_repr());
            }
            HirKind::Repetition(r) => {
                st.write_u8(5);
                st.write_u32(r.min);
                st.write_u32(r.max.map_or(u32::MAX, |m| m));
                st.write_u8(r.max.is_some() as u8);
                st.write_u8(r.greedy as u8);
                visit(&r.sub, st);
            }
            HirKind::Capture(c) => {
                st.write_u8(6);
                visit(&c.sub, st);
            }
            HirKind::Concat(xs) | HirKind::Alternation(xs) => {
                st.write_u8(if matches!(h.kind(), HirKind::Concat(_)) { 7 } else { 8 });
                st.write_usize(xs.len());
                for x in xs {
                    visit(x, st);
                }
            }
        }
    }
    let mut st = rustc_hash::FxHasher::default();
    visit(hir, &mut st);
    st.finish()
}

impl Shared {
    fn get(&self, key: u64, hir: &Hir) -> Option<Arc<ByteDfa>> {
        self.buckets.get(&key)?.iter().find(|(h, _)| **h == *hir).map(|(_, d)| Arc::clone(d))
    }

    fn insert(&mut self, key: u64, hir: Hir, dfa: Arc<ByteDfa>) {
        let bytes = dfa.table_bytes();
        if bytes > self.limit || self.get(key, &hir).is_some() {
            return;
        }
        let hir = Arc::new(hir);
        self.buckets.entry(key).or_default().push((Arc::clone(&hir), dfa));
        self.order.push_back((key, hir));
        self.bytes += bytes;
        self.evict();
    }

    fn evict(&mut self) {
        while self.bytes > self.limit {
            let Some((key, hir)) = self.order.pop_front() else { break };
            if let Some(bucket) = self.buckets.get_mut(&key) {
                if let Some(i) = bucket.iter().position(|(h, _)| Arc::ptr_eq(h, &hir)) {
                    let (_, dfa) = bucket.swap_remove(i);
                    self.bytes -= dfa.table_bytes();
                }
                if bucket.is_empty() {
                    self.buckets.remove(&key);
                }
            }
        }
    }
}

/// The automaton of `hir`: a shared one built earlier from an equal
/// expression, or a new one (then shared, keeping `hir` as its key). Limits
/// are those of a fresh build: a shared automaton larger than `limits`
/// allows is rebuilt, which reports the limit.
pub fn automaton(hir: Hir, limits: &DfaLimits) -> Result<Arc<ByteDfa>, CompileError> {
    let key = key(&hir);
    let found = {
        let s = shared();
        if s.limit == 0 {
            drop(s);
            return ByteDfa::from_hir(&hir, limits).map(Arc::new);
        }
        s.get(key, &hir)
    };
    if let Some(dfa) = found {
        if dfa.num_states() <= limits.max_states && dfa.table_bytes() <= limits.dfa_bytes {
            return Ok(dfa);
        }
    }
    let dfa = Arc::new(ByteDfa::from_hir(&hir, limits)?);
    if dfa.num_states() >= MIN_SHARED_STATES {
        shared().insert(key, hir, Arc::clone(&dfa));
    }
    Ok(dfa)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(re: &str) -> Hir {
        regex_syntax::ParserBuilder::new().utf8(false).build().parse(re).unwrap()
    }

    #[test]
    fn equal_expressions_share_one_automaton_and_others_do_not() {
        let limits = DfaLimits::default();
        let a = automaton(parse("[a-z]{3,40}@example"), &limits).unwrap();
        let b = automaton(parse("[a-z]{3,40}@example"), &limits).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let c = automaton(parse("[a-z]{3,41}@example"), &limits).unwrap();
        assert!(!Arc::ptr_eq(&a, &c));
        assert_ne!(*a, *c);
        // A shared automaton over a caller's limit is rebuilt, so the limit is reported.
        let tight = DfaLimits { max_states: 10, ..DfaLimits::default() };
        assert!(automaton(parse("[a-z]{3,40}@example"), &tight).is_err());
    }
}
