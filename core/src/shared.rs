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
//! always the automaton of an equal expression, **up to the numbering of
//! calls**. A call is a marker naming the called rule's index in its own
//! grammar, and the same member or object shape calls rules of other
//! indices in another schema; expressions are therefore compared with each
//! call replaced by its rank among the expression's calls (first
//! occurrence first), and a hit whose calls are numbered otherwise is
//! handed out with its call edges renamed (a copy of its tables, not a
//! determinisation). Entries are immutable
//! (`Arc<ByteDfa>`), evicted once their tables pass the byte budget
//! ([`set_shared_automata_bytes`]; 0 turns the cache off): oldest first,
//! except that an automaton found since it was last passed over goes back
//! to the end of the queue (second chance), so the automata every schema
//! uses (the any-value container, common members) stay while the one-off
//! automata of large schemas make room.

use std::collections::{HashMap, VecDeque};
use std::hash::Hasher;
use std::sync::{Arc, LazyLock, Mutex};

use regex_syntax::hir::{Class, Hir, HirKind};

use crate::dfa::{ByteDfa, DfaLimits, CALL_MARKER};
use crate::error::CompileError;

/// Default budget of the shared automata, in bytes of transition tables.
pub const DEFAULT_SHARED_AUTOMATA_BYTES: usize = 64 << 20;

/// Automata below this many states are rebuilt rather than shared (building
/// them costs about as much as the lookup).
const MIN_SHARED_STATES: usize = 8;

/// One shared automaton, keyed by its expression.
struct Entry {
    hir: Arc<Hir>,
    /// The expression's calls ([`calls_of`]).
    calls: Calls,
    dfa: Arc<ByteDfa>,
    /// Found since eviction last passed over it.
    used: bool,
}

/// Automata whose expressions hash alike.
type Bucket = Vec<Entry>;

struct Shared {
    buckets: HashMap<u64, Bucket>,
    /// Eviction queue: insertion order, with second chances.
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

/// The rules an expression calls, by index, in order of first occurrence;
/// `None` when some marker byte is not followed by its two index bytes in
/// the same literal (then calls are not renamed: the expression is shared
/// only with equal ones).
type Calls = Option<Vec<u32>>;

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

fn calls_of(hir: &Hir) -> Calls {
    fn visit(h: &Hir, out: &mut Vec<u32>) -> Option<()> {
        match h.kind() {
            HirKind::Literal(l) => {
                for sym in symbols(&l.0) {
                    if let Symbol::Call(r) = sym? {
                        if !out.contains(&r) {
                            out.push(r);
                        }
                    }
                }
            }
            HirKind::Class(Class::Bytes(c)) if c.ranges().last().is_some_and(|r| r.end() == CALL_MARKER) => {
                return None;
            }
            HirKind::Repetition(r) => visit(&r.sub, out)?,
            HirKind::Capture(c) => visit(&c.sub, out)?,
            HirKind::Concat(xs) | HirKind::Alternation(xs) => {
                for x in xs {
                    visit(x, out)?;
                }
            }
            _ => {}
        }
        Some(())
    }
    let mut out = Vec::new();
    visit(hir, &mut out)?;
    Some(out)
}

/// The rank of call `r` among `calls`.
fn rank(calls: &[u32], r: u32) -> u32 {
    calls.iter().position(|&c| c == r).expect("every call was collected") as u32
}

/// Whether two expressions are equal once each call is replaced by its
/// rank among its own expression's calls.
fn equal_up_to_calls(a: &Hir, a_calls: &[u32], b: &Hir, b_calls: &[u32]) -> bool {
    match (a.kind(), b.kind()) {
        (HirKind::Literal(x), HirKind::Literal(y)) => {
            let mut xs = symbols(&x.0);
            let mut ys = symbols(&y.0);
            loop {
                match (xs.next(), ys.next()) {
                    (None, None) => return true,
                    (Some(Some(Symbol::Byte(p))), Some(Some(Symbol::Byte(q)))) if p == q => {}
                    (Some(Some(Symbol::Call(p))), Some(Some(Symbol::Call(q))))
                        if rank(a_calls, p) == rank(b_calls, q) => {}
                    _ => return false,
                }
            }
        }
        (HirKind::Repetition(x), HirKind::Repetition(y)) => {
            x.min == y.min
                && x.max == y.max
                && x.greedy == y.greedy
                && equal_up_to_calls(&x.sub, a_calls, &y.sub, b_calls)
        }
        (HirKind::Capture(x), HirKind::Capture(y)) => {
            x.index == y.index && x.name == y.name && equal_up_to_calls(&x.sub, a_calls, &y.sub, b_calls)
        }
        (HirKind::Concat(xs), HirKind::Concat(ys)) | (HirKind::Alternation(xs), HirKind::Alternation(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| equal_up_to_calls(x, a_calls, y, b_calls))
        }
        (HirKind::Concat(_), _) | (HirKind::Alternation(_), _) => false,
        (x, y) => x == y,
    }
}

/// A structural hash of the expression (every node kind, literal byte,
/// class range and repetition bound; calls by rank when `calls` is known).
/// Printing the expression and hashing the text, as before, cost as much
/// as building a small automaton.
fn key(hir: &Hir, calls: &Calls) -> u64 {
    fn visit(h: &Hir, calls: &Calls, st: &mut rustc_hash::FxHasher) {
        match h.kind() {
            HirKind::Empty => st.write_u8(0),
            HirKind::Literal(l) => {
                st.write_u8(1);
                match calls {
                    Some(calls) => {
                        for sym in symbols(&l.0) {
                            match sym {
                                Some(Symbol::Byte(b)) => st.write_u8(b),
                                Some(Symbol::Call(r)) => {
                                    st.write_u8(CALL_MARKER);
                                    st.write_u32(rank(calls, r));
                                }
                                None => st.write_u8(CALL_MARKER),
                            }
                        }
                    }
                    None => st.write(&l.0),
                }
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
                visit(&r.sub, calls, st);
            }
            HirKind::Capture(c) => {
                st.write_u8(6);
                visit(&c.sub, calls, st);
            }
            HirKind::Concat(xs) | HirKind::Alternation(xs) => {
                st.write_u8(if matches!(h.kind(), HirKind::Concat(_)) { 7 } else { 8 });
                st.write_usize(xs.len());
                for x in xs {
                    visit(x, calls, st);
                }
            }
        }
    }
    let mut st = rustc_hash::FxHasher::default();
    st.write_u8(calls.is_some() as u8);
    visit(hir, calls, &mut st);
    st.finish()
}

impl Shared {
    /// The entry of an expression equal to `hir` up to the numbering of calls.
    fn find(&mut self, key: u64, hir: &Hir, calls: &Calls) -> Option<&mut Entry> {
        self.buckets.get_mut(&key)?.iter_mut().find(|e| match (&e.calls, calls) {
            (Some(ec), Some(c)) => ec.len() == c.len() && equal_up_to_calls(&e.hir, ec, hir, c),
            (None, None) => *e.hir == *hir,
            _ => false,
        })
    }

    /// The automaton of an expression equal to `hir` up to the numbering
    /// of calls, with its calls numbered as `hir`'s are.
    fn get(&mut self, key: u64, hir: &Hir, calls: &Calls) -> Option<Arc<ByteDfa>> {
        let entry = self.find(key, hir, calls)?;
        entry.used = true;
        match (&entry.calls, calls) {
            (Some(ec), Some(c)) if ec != c => {
                let renamed = entry.dfa.with_calls_renamed(|r| c[rank(ec, r) as usize]);
                Some(Arc::new(renamed))
            }
            _ => Some(Arc::clone(&entry.dfa)),
        }
    }

    fn insert(&mut self, key: u64, hir: Hir, calls: Calls, dfa: Arc<ByteDfa>) {
        let bytes = dfa.table_bytes();
        if bytes > self.limit || self.find(key, &hir, &calls).is_some() {
            return;
        }
        let hir = Arc::new(hir);
        self.buckets.entry(key).or_default().push(Entry { hir: Arc::clone(&hir), calls, dfa, used: false });
        self.order.push_back((key, hir));
        self.bytes += bytes;
        self.evict();
    }

    fn evict(&mut self) {
        while self.bytes > self.limit {
            let Some((key, hir)) = self.order.pop_front() else { break };
            let Some(bucket) = self.buckets.get_mut(&key) else { continue };
            let Some(i) = bucket.iter().position(|e| Arc::ptr_eq(&e.hir, &hir)) else { continue };
            if std::mem::take(&mut bucket[i].used) {
                // Its flag is now clear: the next pass over it evicts it
                // unless it is found again, so the loop ends.
                self.order.push_back((key, hir));
                continue;
            }
            let entry = bucket.swap_remove(i);
            self.bytes -= entry.dfa.table_bytes();
            if bucket.is_empty() {
                self.buckets.remove(&key);
            }
        }
    }
}

/// The automaton of `hir`: a shared one built earlier from an equal
/// expression, or a new one (then shared, keeping `hir` as its key). Limits
/// are those of a fresh build: a shared automaton larger than `limits`
/// allows is rebuilt, which reports the limit.
pub fn automaton(hir: Hir, limits: &DfaLimits) -> Result<Arc<ByteDfa>, CompileError> {
    let calls = calls_of(&hir);
    let key = key(&hir, &calls);
    let found = {
        let mut s = shared();
        if s.limit == 0 {
            drop(s);
            return ByteDfa::from_hir(&hir, limits).map(Arc::new);
        }
        s.get(key, &hir, &calls)
    };
    if let Some(dfa) = found {
        if dfa.num_states() <= limits.max_states && dfa.table_bytes() <= limits.dfa_bytes {
            if crate::dfa::CHECK_AUTOMATA.load(std::sync::atomic::Ordering::Relaxed) {
                // A hit may be another expression's automaton with its calls
                // renamed: it must equal this expression's own.
                let fresh = ByteDfa::from_hir(&hir, limits)?;
                assert!(dfa.equivalent(&fresh), "shared automaton differs from a fresh build for {hir}");
            }
            return Ok(dfa);
        }
    }
    let dfa = Arc::new(ByteDfa::from_hir(&hir, limits)?);
    if dfa.num_states() >= MIN_SHARED_STATES {
        shared().insert(key, hir, calls, Arc::clone(&dfa));
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

    #[test]
    fn automata_equal_up_to_call_numbering_are_shared_with_calls_renamed() {
        let limits = DfaLimits::default();
        // Calls 5 then 7 ...
        let a = parse(r"\{(?-u:\xFF)\x00\x05(?:,(?-u:\xFF)\x00\x07)*q[a-z]{2,9}\}");
        // ... the same shape calling 130 then 5 ...
        let b = parse(r"\{(?-u:\xFF)\x01\x02(?:,(?-u:\xFF)\x00\x05)*q[a-z]{2,9}\}");
        // ... and one whose calls repeat differently.
        let c = parse(r"\{(?-u:\xFF)\x00\x05(?:,(?-u:\xFF)\x00\x05)*q[a-z]{2,9}\}");
        assert_eq!(calls_of(&a), Some(vec![5, 7]));
        assert_eq!(calls_of(&b), Some(vec![130, 5]));
        assert_eq!(key(&a, &calls_of(&a)), key(&b, &calls_of(&b)));
        assert!(equal_up_to_calls(&a, &[5, 7], &b, &[130, 5]));
        assert!(!equal_up_to_calls(&a, &[5, 7], &c, &[5]));
        let mut s = Shared { buckets: HashMap::new(), order: VecDeque::new(), bytes: 0, limit: 1 << 20 };
        let built = Arc::new(ByteDfa::from_hir(&a, &limits).unwrap());
        s.insert(key(&a, &calls_of(&a)), a.clone(), calls_of(&a), Arc::clone(&built));
        let found = s.get(key(&b, &calls_of(&b)), &b, &calls_of(&b)).expect("shared up to call numbering");
        assert!(!Arc::ptr_eq(&found, &built), "renamed, not the same table");
        assert!(found.equivalent(&ByteDfa::from_hir(&b, &limits).unwrap()));
        assert!(!found.equivalent(&built));
        assert!(Arc::ptr_eq(&s.get(key(&a, &calls_of(&a)), &a, &calls_of(&a)).unwrap(), &built));
        assert!(s.get(key(&c, &calls_of(&c)), &c, &calls_of(&c)).is_none());
        // A marker cut short (an alternation lifted a common prefix) is not
        // renamed: such expressions are shared only with equal ones.
        let cut = parse(r"(?-u:\xFF)\x00");
        assert_eq!(calls_of(&cut), None);
    }

    #[test]
    fn automata_found_again_outlive_older_unused_ones() {
        let limits = DfaLimits::default();
        // Four automata of one shape, so of one size.
        let exprs: Vec<Hir> = (1..=4).map(|n| parse(&format!("{n}[a-z]{{3,20}}"))).collect();
        let dfas: Vec<Arc<ByteDfa>> = exprs.iter().map(|h| Arc::new(ByteDfa::from_hir(h, &limits).unwrap())).collect();
        let size = dfas[0].table_bytes();
        assert!(dfas.iter().all(|d| d.table_bytes() == size));
        let mut s = Shared { buckets: HashMap::new(), order: VecDeque::new(), bytes: 0, limit: 3 * size };
        let k = |h: &Hir| key(h, &calls_of(h));
        for (h, d) in exprs.iter().zip(&dfas).take(3) {
            s.insert(k(h), h.clone(), calls_of(h), Arc::clone(d));
        }
        assert!(s.get(k(&exprs[0]), &exprs[0], &calls_of(&exprs[0])).is_some());
        // The fourth pushes out the oldest automaton not found since: the second.
        s.insert(k(&exprs[3]), exprs[3].clone(), calls_of(&exprs[3]), Arc::clone(&dfas[3]));
        assert!(s.get(k(&exprs[1]), &exprs[1], &calls_of(&exprs[1])).is_none());
        for i in [0, 2, 3] {
            assert!(s.get(k(&exprs[i]), &exprs[i], &calls_of(&exprs[i])).is_some(), "automaton {i} was evicted");
        }
        assert_eq!(s.bytes, 3 * size);
    }
}
