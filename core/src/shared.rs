//! Automata shared by every compilation in the process.
//!
//! Determinisation is most of a compilation's time, and the same regular
//! expressions come back again and again: within one schema (the same
//! `$ref` shape under several `anyOf` branches) and across schemas (the
//! any-value container, additional-property members, a definition that
//! several documents copy). Each rule's automaton is therefore looked up
//! here before it is built, and stored after.
//!
//! The key is the expression spelled out as words ([`Key`]): every node,
//! literal byte, class range and repetition bound, so equal words are equal
//! expressions. The compiler writes the key from its grammar IR with rules
//! inlined ([`KeyWriter`]), before building any `Hir`: on a hit nothing is
//! built at all (building the `Hir` was a third of a small schema's
//! automata time). Equality is **up to the numbering of calls**: a call
//! names the called rule's index in its own grammar, and the same member or
//! object shape calls rules of other indices in another schema; a call is
//! therefore written as its rank among the expression's calls (first
//! occurrence first), and a hit whose calls are numbered otherwise is
//! handed out with its call edges renamed (a copy of its tables, not a
//! determinisation). This is exact: the automaton of a renamed expression
//! accepts the same strings with the calls renamed. Entries are immutable
//! (`Arc<ByteDfa>`), evicted once their tables and keys pass the byte
//! budget ([`set_shared_automata_bytes`]; 0 turns the cache off): oldest
//! first, except that an automaton found since it was last passed over goes
//! back to the end of the queue (second chance), so the automata every
//! schema uses (the any-value container, common members) stay while the
//! one-off automata of large schemas make room.

use std::collections::{HashMap, VecDeque};
use std::hash::Hasher;
use std::sync::{Arc, LazyLock, Mutex};

use regex_syntax::hir::{Class, Hir, HirKind};

use crate::calls::rank_of;
use crate::dfa::{ByteDfa, DfaLimits, CALL_MARKER};
use crate::error::CompileError;

/// Default budget of the shared automata, in bytes of transition tables and keys.
pub const DEFAULT_SHARED_AUTOMATA_BYTES: usize = 64 << 20;

/// One shared automaton, keyed by its expression.
struct Entry {
    words: Arc<[u32]>,
    /// The expression's calls, by rank.
    calls: Vec<u32>,
    dfa: Arc<ByteDfa>,
    /// Found since eviction last passed over it.
    used: bool,
}

impl Entry {
    fn bytes(&self) -> usize {
        self.dfa.table_bytes() + self.words.len() * 4
    }
}

/// Automata whose keys hash alike.
type Bucket = Vec<Entry>;

struct Shared {
    buckets: HashMap<u64, Bucket>,
    /// Eviction queue: insertion order, with second chances.
    order: VecDeque<(u64, Arc<[u32]>)>,
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

/// Bytes of transition tables and keys held by the shared automata.
pub fn shared_automata_bytes() -> usize {
    shared().bytes
}

// Words of a key. Bytes and ranks are small numbers; tags are large ones,
// and every node starts with its tag, so the spelling is unambiguous.
const TAG_IR: u32 = 0xF000_0000;
const TAG_HIR: u32 = 0xF000_0001;
const TAG_EMPTY: u32 = 0xF000_0010;
const TAG_LITERAL: u32 = 0xF000_0011;
const TAG_LITERAL_END: u32 = 0xF000_0012;
const TAG_UNICODE: u32 = 0xF000_0013;
const TAG_BYTES: u32 = 0xF000_0014;
const TAG_LOOK: u32 = 0xF000_0015;
const TAG_REPEAT: u32 = 0xF000_0016;
const TAG_CAPTURE: u32 = 0xF000_0017;
const TAG_CONCAT: u32 = 0xF000_0018;
const TAG_ALTERNATION: u32 = 0xF000_0019;
const TAG_REGULAR: u32 = 0xF000_0020;
const TAG_SEQ: u32 = 0xF000_0021;
const TAG_ALT: u32 = 0xF000_0022;
const TAG_CALL: u32 = 0xF000_0023;
const TAG_FAIL: u32 = 0xF000_0024;
const TAG_INTERSECT: u32 = 0xF000_0025;
const TAG_EXCLUDE: u32 = 0xF000_0026;
const TAG_UNION: u32 = 0xF000_0027;
/// A call inside a literal: this plus its rank.
const CALL_IN_LITERAL: u32 = 0x100;

/// An expression as the store knows it: words that spell it exactly, with
/// each call written as its rank, and the calls themselves (rule indices,
/// first occurrence first).
pub(crate) struct Key {
    words: Vec<u32>,
    calls: Vec<u32>,
}

impl Key {
    /// The key of a regular expression whose calls are marker bytes inside
    /// its literals; `None` when a marker is not whole inside one literal
    /// (then the expression is not shared).
    fn of_hir(hir: &Hir) -> Option<Key> {
        let mut words = vec![TAG_HIR];
        let mut calls = Vec::new();
        spell(hir, &mut words, Some(&mut calls)).then_some(Key { words, calls })
    }

    fn hash(&self) -> u64 {
        let mut st = rustc_hash::FxHasher::default();
        for &w in &self.words {
            st.write_u32(w);
        }
        st.finish()
    }
}

/// Writes a [`Key`] node by node, in the order the compiler builds the
/// expression (`RuleBuilder::write_key`).
pub(crate) struct KeyWriter {
    words: Vec<u32>,
    calls: Vec<u32>,
    shareable: bool,
}

impl KeyWriter {
    pub(crate) fn new() -> KeyWriter {
        KeyWriter { words: vec![TAG_IR], calls: Vec::new(), shareable: true }
    }

    /// A regular leaf. A leaf that holds marker bytes itself would hide
    /// calls from the renaming: such an expression is not shared.
    pub(crate) fn regular(&mut self, hir: &Hir) {
        self.words.push(TAG_REGULAR);
        self.shareable &= spell(hir, &mut self.words, None);
    }

    /// A sequence or an alternation of `n` items (written next).
    pub(crate) fn list(&mut self, alternation: bool, n: usize) {
        self.words.push(if alternation { TAG_ALT } else { TAG_SEQ });
        self.words.push(n as u32);
    }

    /// A repetition of the item written next.
    pub(crate) fn repeat(&mut self, min: u32, max: Option<u32>) {
        self.words.extend([TAG_REPEAT, min, max.unwrap_or(0), max.is_some() as u32]);
    }

    /// A call of rule `index`.
    pub(crate) fn call(&mut self, index: u32) {
        let rank = rank_of(&mut self.calls, index);
        self.words.extend([TAG_CALL, rank]);
    }

    /// An intersection of `n` operands, or a difference (`exclude`: two
    /// operands, the second taken out of the first), written next.
    pub(crate) fn product(&mut self, exclude: bool, n: usize) {
        self.words.push(if exclude { TAG_EXCLUDE } else { TAG_INTERSECT });
        self.words.push(n as u32);
    }

    /// A union of `n` products, built as one automaton.
    pub(crate) fn union(&mut self, n: usize) {
        self.words.push(TAG_UNION);
        self.words.push(n as u32);
    }

    /// An empty language (an intersection with nothing in it).
    pub(crate) fn fail(&mut self) {
        self.words.push(TAG_FAIL);
    }

    /// The key, unless the expression is not shareable.
    pub(crate) fn finish(self) -> Option<Key> {
        self.shareable.then_some(Key { words: self.words, calls: self.calls })
    }
}

/// A literal's bytes as symbols: plain bytes, and whole call markers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Symbol {
    Byte(u8),
    Call(u32),
}

/// The symbols of a literal; `None` at a marker that is cut short.
fn symbols(bytes: &[u8]) -> impl Iterator<Item = Option<Symbol>> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        let b = *bytes.get(i)?;
        if b != CALL_MARKER {
            i += 1;
            return Some(Some(Symbol::Byte(b)));
        }
        let idx = match (bytes.get(i + 1), bytes.get(i + 2)) {
            (Some(&hi), Some(&lo)) if hi < 0x80 && lo < 0x80 => (hi as u32) << 7 | lo as u32,
            _ => {
                i = bytes.len();
                return Some(None);
            }
        };
        i += 3;
        Some(Some(Symbol::Call(idx)))
    })
}

/// Spell `hir` into `words`. With `calls`, markers inside literals are
/// calls, written by rank (collected in `calls`); without, a marker byte
/// anywhere makes the expression unshareable. Returns whether it is
/// shareable: a marker cut short, or a byte class reaching the marker byte,
/// is not.
fn spell(hir: &Hir, words: &mut Vec<u32>, mut calls: Option<&mut Vec<u32>>) -> bool {
    match hir.kind() {
        HirKind::Empty => words.push(TAG_EMPTY),
        HirKind::Literal(l) => {
            words.push(TAG_LITERAL);
            match calls.as_deref_mut() {
                Some(calls) => {
                    for sym in symbols(&l.0) {
                        match sym {
                            Some(Symbol::Byte(b)) => words.push(b as u32),
                            Some(Symbol::Call(r)) => words.push(CALL_IN_LITERAL + rank_of(calls, r)),
                            None => return false,
                        }
                    }
                }
                None => {
                    if l.0.contains(&CALL_MARKER) {
                        return false;
                    }
                    words.extend(l.0.iter().map(|&b| b as u32));
                }
            }
            words.push(TAG_LITERAL_END);
        }
        HirKind::Class(Class::Unicode(c)) => {
            words.extend([TAG_UNICODE, c.ranges().len() as u32]);
            words.extend(c.ranges().iter().flat_map(|r| [r.start() as u32, r.end() as u32]));
        }
        HirKind::Class(Class::Bytes(c)) => {
            if c.ranges().last().is_some_and(|r| r.end() == CALL_MARKER) {
                return false;
            }
            words.extend([TAG_BYTES, c.ranges().len() as u32]);
            words.extend(c.ranges().iter().flat_map(|r| [r.start() as u32, r.end() as u32]));
        }
        HirKind::Look(l) => words.extend([TAG_LOOK, l.as_repr()]),
        HirKind::Repetition(r) => {
            words.extend([TAG_REPEAT, r.min, r.max.unwrap_or(0), r.max.is_some() as u32, r.greedy as u32]);
            return spell(&r.sub, words, calls);
        }
        HirKind::Capture(c) => {
            words.push(TAG_CAPTURE);
            return spell(&c.sub, words, calls);
        }
        HirKind::Concat(xs) | HirKind::Alternation(xs) => {
            let tag = if matches!(hir.kind(), HirKind::Concat(_)) { TAG_CONCAT } else { TAG_ALTERNATION };
            words.extend([tag, xs.len() as u32]);
            for x in xs {
                if !spell(x, words, calls.as_deref_mut()) {
                    return false;
                }
            }
        }
    }
    true
}

/// The rank of call `r` among `calls`.
fn rank(calls: &[u32], r: u32) -> u32 {
    calls.iter().position(|&c| c == r).expect("every call was collected") as u32
}

impl Shared {
    /// The entry of an expression equal to `key`'s up to the numbering of calls.
    fn find(&mut self, hash: u64, key: &Key) -> Option<&mut Entry> {
        self.buckets.get_mut(&hash)?.iter_mut().find(|e| *e.words == *key.words)
    }

    /// The automaton of an expression equal to `key`'s up to the numbering
    /// of calls, with its calls numbered as `key`'s are.
    fn get(&mut self, hash: u64, key: &Key) -> Option<Arc<ByteDfa>> {
        let entry = self.find(hash, key)?;
        entry.used = true;
        if entry.calls == key.calls {
            return Some(Arc::clone(&entry.dfa));
        }
        let (stored, wanted) = (&entry.calls, &key.calls);
        Some(Arc::new(entry.dfa.with_calls_renamed(|r| wanted[rank(stored, r) as usize])))
    }

    fn insert(&mut self, hash: u64, key: Key, dfa: Arc<ByteDfa>) {
        if self.find(hash, &key).is_some() {
            return;
        }
        let entry = Entry { words: key.words.into(), calls: key.calls, dfa, used: false };
        let bytes = entry.bytes();
        if bytes > self.limit {
            return;
        }
        self.order.push_back((hash, Arc::clone(&entry.words)));
        self.buckets.entry(hash).or_default().push(entry);
        self.bytes += bytes;
        self.evict();
    }

    fn evict(&mut self) {
        while self.bytes > self.limit {
            let Some((hash, words)) = self.order.pop_front() else { break };
            let Some(bucket) = self.buckets.get_mut(&hash) else { continue };
            let Some(i) = bucket.iter().position(|e| Arc::ptr_eq(&e.words, &words)) else { continue };
            if std::mem::take(&mut bucket[i].used) {
                // Its flag is now clear: the next pass over it evicts it
                // unless it is found again, so the loop ends.
                self.order.push_back((hash, words));
                continue;
            }
            let entry = bucket.swap_remove(i);
            self.bytes -= entry.bytes();
            if bucket.is_empty() {
                self.buckets.remove(&hash);
            }
        }
    }
}

/// The automaton of `hir`: a shared one built earlier from an equal
/// expression, or a new one (then shared). Limits are those of a fresh
/// build: a shared automaton larger than `limits` allows is rebuilt, which
/// reports the limit.
pub fn automaton(hir: Hir, limits: &DfaLimits) -> Result<Arc<ByteDfa>, CompileError> {
    match Key::of_hir(&hir) {
        Some(key) => automaton_for(key, limits, || Ok(hir)),
        None => ByteDfa::from_hir(&hir, limits).map(Arc::new),
    }
}

/// The automaton of the expression `key` spells: a shared one, or one
/// built from `build`'s expression (then shared).
pub(crate) fn automaton_for(
    key: Key,
    limits: &DfaLimits,
    build: impl FnOnce() -> Result<Hir, CompileError>,
) -> Result<Arc<ByteDfa>, CompileError> {
    dfa_for(key, limits, || ByteDfa::from_hir(&build()?, limits).map(Arc::new))
}

/// The shared automaton of `key`, built by `build` and stored on a miss
/// (products, and expressions through [`automaton_for`]).
pub(crate) fn dfa_for(
    key: Key,
    limits: &DfaLimits,
    build: impl FnOnce() -> Result<Arc<ByteDfa>, CompileError>,
) -> Result<Arc<ByteDfa>, CompileError> {
    let hash = key.hash();
    let found = {
        let mut s = shared();
        if s.limit == 0 {
            drop(s);
            return build();
        }
        s.get(hash, &key)
    };
    if let Some(dfa) = found {
        if dfa.num_states() <= limits.max_states && dfa.table_bytes() <= limits.dfa_bytes {
            if crate::dfa::CHECK_AUTOMATA.load(std::sync::atomic::Ordering::Relaxed) {
                // A hit may be another expression's automaton with its calls
                // renamed: it must equal this expression's own.
                let fresh = build()?;
                assert!(dfa.equivalent(&fresh), "shared automaton differs from a fresh build");
            }
            return Ok(dfa);
        }
    }
    // Small automata are shared too: a hit costs less than building even
    // their expression.
    let dfa = build()?;
    shared().insert(hash, key, Arc::clone(&dfa));
    Ok(dfa)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(re: &str) -> Hir {
        regex_syntax::ParserBuilder::new().utf8(false).build().parse(re).unwrap()
    }

    fn key(h: &Hir) -> Key {
        Key::of_hir(h).expect("shareable")
    }

    fn store(limit: usize) -> Shared {
        Shared { buckets: HashMap::new(), order: VecDeque::new(), bytes: 0, limit }
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

    #[test]
    fn automata_equal_up_to_call_numbering_are_shared_with_calls_renamed() {
        let limits = DfaLimits::default();
        // Calls 5 then 7 ...
        let a = parse(r"\{(?-u:\xFF)\x00\x05(?:,(?-u:\xFF)\x00\x07)*q[a-z]{2,9}\}");
        // ... the same shape calling 130 then 5 ...
        let b = parse(r"\{(?-u:\xFF)\x01\x02(?:,(?-u:\xFF)\x00\x05)*q[a-z]{2,9}\}");
        // ... and one whose calls repeat differently.
        let c = parse(r"\{(?-u:\xFF)\x00\x05(?:,(?-u:\xFF)\x00\x05)*q[a-z]{2,9}\}");
        assert_eq!(key(&a).calls, vec![5, 7]);
        assert_eq!(key(&b).calls, vec![130, 5]);
        assert_eq!(key(&a).words, key(&b).words);
        assert_ne!(key(&a).words, key(&c).words);
        let mut s = store(1 << 20);
        let built = Arc::new(ByteDfa::from_hir(&a, &limits).unwrap());
        s.insert(key(&a).hash(), key(&a), Arc::clone(&built));
        let found = s.get(key(&b).hash(), &key(&b)).expect("shared up to call numbering");
        assert!(!Arc::ptr_eq(&found, &built), "renamed, not the same table");
        assert!(found.equivalent(&ByteDfa::from_hir(&b, &limits).unwrap()));
        assert!(!found.equivalent(&built));
        assert!(Arc::ptr_eq(&s.get(key(&a).hash(), &key(&a)).unwrap(), &built));
        assert!(s.get(key(&c).hash(), &key(&c)).is_none());
        // A marker cut short (an alternation lifted a common prefix) is not shared.
        assert!(Key::of_hir(&parse(r"(?-u:\xFF)\x00")).is_none());
    }

    #[test]
    fn keys_written_from_the_grammar_rank_calls_and_refuse_hidden_markers() {
        let mut a = KeyWriter::new();
        a.list(false, 3);
        a.call(9);
        a.regular(&parse("x"));
        a.call(9);
        let mut b = KeyWriter::new();
        b.list(false, 3);
        b.call(4);
        b.regular(&parse("x"));
        b.call(4);
        let (a, b) = (a.finish().unwrap(), b.finish().unwrap());
        assert_eq!(a.words, b.words);
        assert_eq!((a.calls, b.calls), (vec![9], vec![4]));
        let mut hidden = KeyWriter::new();
        hidden.regular(&parse(r"(?-u:\xFF)\x00\x05"));
        assert!(hidden.finish().is_none());
    }

    #[test]
    fn automata_found_again_outlive_older_unused_ones() {
        let limits = DfaLimits::default();
        // Four automata of one shape, so of one size.
        let exprs: Vec<Hir> = (1..=4).map(|n| parse(&format!("{n}[a-z]{{3,20}}"))).collect();
        let dfas: Vec<Arc<ByteDfa>> = exprs.iter().map(|h| Arc::new(ByteDfa::from_hir(h, &limits).unwrap())).collect();
        let size = dfas[0].table_bytes() + key(&exprs[0]).words.len() * 4;
        let mut s = store(3 * size);
        for (h, d) in exprs.iter().zip(&dfas).take(3) {
            s.insert(key(h).hash(), key(h), Arc::clone(d));
        }
        assert_eq!(s.bytes, 3 * size);
        assert!(s.get(key(&exprs[0]).hash(), &key(&exprs[0])).is_some());
        // The fourth pushes out the oldest automaton not found since: the second.
        s.insert(key(&exprs[3]).hash(), key(&exprs[3]), Arc::clone(&dfas[3]));
        assert!(s.get(key(&exprs[1]).hash(), &key(&exprs[1])).is_none());
        for i in [0, 2, 3] {
            assert!(s.get(key(&exprs[i]).hash(), &key(&exprs[i])).is_some(), "automaton {i} was evicted");
        }
        assert_eq!(s.bytes, 3 * size);
    }
}
