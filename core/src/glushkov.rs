//! Byte automata built straight from the positions of a regular expression.
//!
//! Determinising a Thompson NFA (`regex-automata`) computes an epsilon
//! closure for every state and byte class and hashes every new state with
//! SipHash; it was about 60% of the time to first mask of a typical schema.
//! Here the expression's positions (one per byte class of a literal or a
//! UTF-8 sequence) and their `follow` sets are computed once (Glushkov), and
//! the subset construction runs over them with no epsilon moves.
//!
//! A state is keyed by what can come next, not by where the input has been:
//! the union of the `follow` sets of the positions just read, plus whether
//! one of them ends the expression. Positions with equal futures then share
//! a state: the ten last bytes of the UTF-8 forms of a string character, or
//! the closing quotes of `"HIGH"`, `"LOW"` and `"MEDIUM"`.
//!
//! Expressions with look-around (never produced by the front ends for JSON,
//! GBNF or Lark; possible in a user regex) or too many positions return
//! `None` and take the `regex-automata` path.

use regex_syntax::hir::{Class, Hir, HirKind};
use regex_syntax::utf8::Utf8Sequences;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::dfa::{ByteSet, DfaLimits, DEAD};
use crate::error::CompileError;
use crate::limits::{self, Limit};

/// Most positions before the expression is handed to `regex-automata`.
const MAX_POSITIONS: usize = 1 << 20;
/// Most `follow` entries before the same.
const MAX_FOLLOW_ENTRIES: usize = 1 << 24;

/// `(nullable, first, last)` of a sub-expression.
struct Summary {
    nullable: bool,
    first: Vec<u32>,
    last: Vec<u32>,
}

impl Summary {
    /// The empty string only.
    fn empty() -> Summary {
        Summary { nullable: true, first: Vec::new(), last: Vec::new() }
    }

    /// No string at all (before branches are added to it).
    fn never() -> Summary {
        Summary { nullable: false, first: Vec::new(), last: Vec::new() }
    }
}

/// The positions of an expression: position 0 is the start.
struct Positions {
    label: Vec<ByteSet>,
    follow: Vec<Vec<u32>>,
    follow_entries: usize,
    /// Some sub-expression matches nothing (an empty class or alternation).
    /// Without one, every position lies on some accepted string, so every
    /// state of the subset construction can reach acceptance.
    void: bool,
}

impl Positions {
    fn position(&mut self, label: ByteSet) -> Option<u32> {
        if self.label.len() >= MAX_POSITIONS {
            return None;
        }
        self.label.push(label);
        self.follow.push(Vec::new());
        Some(self.label.len() as u32 - 1)
    }

    fn add_follow(&mut self, from: &[u32], to: &[u32]) -> Option<()> {
        if to.is_empty() {
            return Some(());
        }
        self.follow_entries += from.len() * to.len();
        if self.follow_entries > MAX_FOLLOW_ENTRIES {
            return None;
        }
        for &p in from {
            self.follow[p as usize].extend_from_slice(to);
        }
        Some(())
    }

    /// `a` then `b`.
    fn seq(&mut self, a: Summary, b: Summary) -> Option<Summary> {
        self.add_follow(&a.last, &b.first)?;
        let mut first = a.first;
        if a.nullable {
            first.extend_from_slice(&b.first);
        }
        let mut last = b.last;
        if b.nullable {
            last.extend_from_slice(&a.last);
        }
        Some(Summary { nullable: a.nullable && b.nullable, first, last })
    }

    fn visit(&mut self, hir: &Hir) -> Option<Summary> {
        match hir.kind() {
            HirKind::Empty => Some(Summary::empty()),
            HirKind::Literal(lit) => {
                let mut prev = None;
                let mut first = Vec::new();
                for &b in lit.0.iter() {
                    let p = self.position(ByteSet::range(b, b))?;
                    match prev {
                        None => first.push(p),
                        Some(q) => self.follow[q as usize].push(p),
                    }
                    prev = Some(p);
                }
                Some(match prev {
                    None => Summary::empty(),
                    Some(p) => Summary { nullable: false, first, last: vec![p] },
                })
            }
            HirKind::Class(Class::Bytes(c)) => {
                let mut s = ByteSet::EMPTY;
                for r in c.ranges() {
                    s.add_range(r.start(), r.end());
                }
                if s == ByteSet::EMPTY {
                    self.void = true;
                    return Some(Summary::never());
                }
                let p = self.position(s)?;
                Some(Summary { nullable: false, first: vec![p], last: vec![p] })
            }
            HirKind::Class(Class::Unicode(c)) => {
                // The UTF-8 forms of the class, with equal suffixes shared
                // (one position reads the last continuation byte of every
                // multi-byte form): otherwise "one continuation byte to go"
                // would be a different state after each lead byte, and
                // products of such automata multiply those states.
                let mut out = Summary::never();
                let mut shared: FxHashMap<(u8, u8, u32), u32> = FxHashMap::default();
                for r in c.ranges() {
                    for seq in Utf8Sequences::new(r.start(), r.end()) {
                        let mut next = u32::MAX;
                        for br in seq.as_slice().iter().rev() {
                            next = match shared.get(&(br.start, br.end, next)) {
                                Some(&p) => p,
                                None => {
                                    let p = self.position(ByteSet::range(br.start, br.end))?;
                                    if next == u32::MAX {
                                        out.last.push(p);
                                    } else {
                                        self.add_follow(&[p], &[next])?;
                                    }
                                    shared.insert((br.start, br.end, next), p);
                                    p
                                }
                            };
                        }
                        out.first.push(next);
                    }
                }
                out.first.sort_unstable();
                out.first.dedup();
                self.void |= out.first.is_empty();
                Some(out)
            }
            HirKind::Look(_) => None,
            HirKind::Capture(c) => self.visit(&c.sub),
            HirKind::Concat(items) => {
                let mut out = Summary::empty();
                for x in items {
                    let s = self.visit(x)?;
                    out = self.seq(out, s)?;
                }
                Some(out)
            }
            HirKind::Alternation(items) => {
                self.void |= items.is_empty();
                let mut out = Summary::never();
                for x in items {
                    let s = self.visit(x)?;
                    out.nullable |= s.nullable;
                    out.first.extend(s.first);
                    out.last.extend(s.last);
                }
                Some(out)
            }
            HirKind::Repetition(rep) => {
                // Copies of the sub-expression: `min` required ones, then
                // one repeating copy (`x{0,}`) or `max - min` optional ones.
                let copies = rep.min as usize
                    + match rep.max {
                        None if rep.min == 0 => 1,
                        None => 0,
                        Some(max) => max.saturating_sub(rep.min) as usize,
                    };
                if copies == 0 {
                    return Some(Summary::empty());
                }
                // The sub-expression is visited once; the other copies are
                // its positions shifted (before anything outside it adds
                // `follow` entries to them), which for `x{0,255}` over a
                // Unicode class skips 254 walks of its UTF-8 forms.
                let from = self.label.len();
                let proto = self.visit(&rep.sub)?;
                let to = self.label.len();
                if to == from {
                    // No positions: the empty string only, or nothing at all
                    // (`x{0,15000000}` of either must not make 15 million copies).
                    let nullable = proto.nullable || rep.min == 0;
                    return Some(Summary { nullable, first: Vec::new(), last: Vec::new() });
                }
                if copies.saturating_mul(to - from) > MAX_POSITIONS {
                    return None;
                }
                let mut all = Vec::with_capacity(copies);
                for _ in 1..copies {
                    all.push(self.shifted_copy(from, to, &proto)?);
                }
                all.insert(0, proto);
                let mut all = all.into_iter();
                let mut out = Summary::empty();
                for i in 0..rep.min {
                    let copy = all.next().expect("counted");
                    if rep.max.is_none() && i + 1 == rep.min {
                        // `x{n,}`: the last required copy repeats.
                        self.add_follow(&copy.last, &copy.first)?;
                    }
                    out = self.seq(out, copy)?;
                }
                match rep.max {
                    None if rep.min == 0 => {
                        let copy = all.next().expect("counted");
                        self.add_follow(&copy.last, &copy.first)?;
                        out = self.seq(out, Summary { nullable: true, ..copy })?;
                    }
                    None => {}
                    Some(_) => {
                        // `x{0,k}` as `(x(x(...)?)?)?`, built from the inside out.
                        let mut tail = Summary::empty();
                        for copy in all.rev() {
                            let s = self.seq(copy, tail)?;
                            tail = Summary { nullable: true, ..s };
                        }
                        out = self.seq(out, tail)?;
                    }
                }
                Some(out)
            }
        }
    }

    /// A new copy of positions `from..to` (one sub-expression, whose
    /// `follow` entries all point inside it), with `summary` shifted to it.
    fn shifted_copy(&mut self, from: usize, to: usize, summary: &Summary) -> Option<Summary> {
        if self.label.len() + (to - from) > MAX_POSITIONS {
            return None;
        }
        let shift = (self.label.len() - from) as u32;
        for p in from..to {
            self.label.push(self.label[p]);
            let f: Vec<u32> = self.follow[p].iter().map(|&q| q + shift).collect();
            self.follow_entries += f.len();
            self.follow.push(f);
        }
        if self.follow_entries > MAX_FOLLOW_ENTRIES {
            return None;
        }
        let moved = |v: &[u32]| v.iter().map(|&q| q + shift).collect();
        Some(Summary { nullable: summary.nullable, first: moved(&summary.first), last: moved(&summary.last) })
    }
}

/// The byte classes of a set of labels: bytes in the same labels share a
/// class. Returns each byte's class and the number of classes. Each label
/// splits the classes it cuts, in time proportional to its size.
fn byte_classes(labels: &FxHashSet<ByteSet>) -> ([u8; 256], usize) {
    let mut classes = [0u8; 256];
    let mut size = [0u16; 256];
    size[0] = 256;
    let mut count = 1usize;
    let mut hits = [0u16; 256];
    let mut moved_to = [u16::MAX; 256];
    let mut touched: Vec<u8> = Vec::new();
    for label in labels {
        for b in label.iter() {
            let c = classes[b as usize];
            if hits[c as usize] == 0 {
                touched.push(c);
            }
            hits[c as usize] += 1;
        }
        // A class that the label cuts (holds some of its bytes, not all)
        // gives the bytes inside the label a new class.
        for &c in &touched {
            if hits[c as usize] < size[c as usize] {
                moved_to[c as usize] = count as u16;
                size[count] = hits[c as usize];
                size[c as usize] -= hits[c as usize];
                count += 1;
            }
        }
        for b in label.iter() {
            let c = classes[b as usize] as usize;
            if moved_to[c] != u16::MAX {
                classes[b as usize] = moved_to[c] as u8;
            }
        }
        for &c in &touched {
            hits[c as usize] = 0;
            moved_to[c as usize] = u16::MAX;
        }
        touched.clear();
    }
    (classes, count)
}

/// The raw table of `hir`'s automaton (state 0 the start, `DEAD` where no
/// position continues, call markers still as bytes): `(classes, stride,
/// transitions, accepting)`, and whether every state is known to reach
/// acceptance (no sub-expression matches nothing). `None` when the
/// expression is not supported here (look-around, too many positions).
#[allow(clippy::type_complexity)]
pub(crate) fn table(
    hir: &Hir,
    limits: &DfaLimits,
) -> Option<(Result<([u8; 256], usize, Vec<u32>, Vec<bool>), CompileError>, bool)> {
    let mut pos = Positions { label: vec![ByteSet::EMPTY], follow: vec![Vec::new()], follow_entries: 0, void: false };
    let root = pos.visit(hir)?;
    let n = pos.label.len();
    let mut is_last = vec![false; n];
    for &p in &root.last {
        is_last[p as usize] = true;
    }
    // Follow sets are unioned with marks, so they need no order and may
    // repeat a position (sorting them all was a twentieth of the
    // construction); the start key is a set, as every other key is.
    pos.follow[0] = root.first;
    pos.follow[0].sort_unstable();
    pos.follow[0].dedup();
    let distinct: FxHashSet<ByteSet> = pos.label[1..].iter().copied().collect();
    let (classes, stride) = byte_classes(&distinct);
    // The classes each position reads, shared between equal labels.
    let mut lists: Vec<Vec<u8>> = Vec::new();
    let mut list_of: FxHashMap<ByteSet, u32> = FxHashMap::default();
    let class_list: Vec<u32> = pos
        .label
        .iter()
        .map(|label| {
            *list_of.entry(*label).or_insert_with(|| {
                let mut l: Vec<u8> = label.iter().map(|b| classes[b as usize]).collect();
                l.sort_unstable();
                l.dedup();
                lists.push(l);
                lists.len() as u32 - 1
            })
        })
        .collect();
    Some((subsets(&pos.follow, &is_last, &class_list, &lists, classes, stride, root.nullable, limits), !pos.void))
}

/// Marks the key of an accepting state (after its positions).
const ACCEPTS: u32 = u32::MAX;

/// A hash of a subset key that does not depend on the order of its
/// positions (a sum of mixed positions; `ACCEPTS` is one of them).
fn key_hash(key: &[u32]) -> u64 {
    key.iter().fold(0u64, |h, &p| {
        let x = (p as u64 ^ 0x5851_F42D_4C95_7F2D).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        h.wrapping_add(x ^ (x >> 31))
    })
}

/// The subset construction over `follow` sets.
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn subsets(
    follow: &[Vec<u32>],
    is_last: &[bool],
    class_list: &[u32],
    lists: &[Vec<u8>],
    classes: [u8; 256],
    stride: usize,
    start_accepts: bool,
    limits: &DfaLimits,
) -> Result<([u8; 256], usize, Vec<u32>, Vec<bool>), CompileError> {
    // Keys live in one arena (`arena[spans[id].0..spans[id].1]`); `first`
    // maps a key's hash to the newest state with that hash and `older`
    // chains the earlier ones, so a new state costs no allocation.
    let mut arena: Vec<u32> = Vec::new();
    let mut spans: Vec<(u32, u32)> = Vec::new();
    let mut first: FxHashMap<u64, u32> = FxHashMap::default();
    let mut older: Vec<u32> = Vec::new();
    let mut start: Vec<u32> = follow[0].clone();
    if start_accepts {
        start.push(ACCEPTS);
    }
    arena.extend_from_slice(&start);
    spans.push((0, arena.len() as u32));
    first.insert(key_hash(&start), 0);
    older.push(u32::MAX);
    let mut trans: Vec<u32> = Vec::new();
    let mut accepting: Vec<bool> = Vec::new();
    let mut buckets: Vec<Vec<u32>> = vec![Vec::new(); stride];
    let mut touched: Vec<usize> = Vec::new();
    let mut mark = vec![0u32; follow.len()];
    let mut stamp = 0u32;
    let mut next: Vec<u32> = Vec::new();
    let mut i = 0;
    while i < spans.len() {
        if i % 1024 == 1023 {
            limits::check_time()?;
        }
        let (lo, hi) = spans[i];
        let key = &arena[lo as usize..hi as usize];
        let accepts = key.last() == Some(&ACCEPTS);
        let here = if accepts { &key[..key.len() - 1] } else { key };
        accepting.push(accepts);
        for &q in here {
            for &c in &lists[class_list[q as usize] as usize] {
                let b = &mut buckets[c as usize];
                if b.is_empty() {
                    touched.push(c as usize);
                }
                b.push(q);
            }
        }
        let row = trans.len();
        trans.resize(row + stride, DEAD);
        // Classes read by the same positions go to the same state: a wide
        // label touches tens of classes in a row with one bucket.
        let mut last_bucket = usize::MAX;
        for &c in &touched {
            if last_bucket != usize::MAX && buckets[c] == buckets[last_bucket] {
                trans[row + c] = trans[row + last_bucket];
                continue;
            }
            last_bucket = c;
            stamp = stamp.wrapping_add(1);
            if stamp == 0 {
                mark.fill(0);
                stamp = 1;
            }
            next.clear();
            let mut ends = false;
            for &q in &buckets[c] {
                ends |= is_last[q as usize];
                for &r in &follow[q as usize] {
                    if mark[r as usize] != stamp {
                        mark[r as usize] = stamp;
                        next.push(r);
                    }
                }
            }
            if next.is_empty() && !ends {
                continue;
            }
            // Keys are sets in the order their positions were met (sorting
            // them was a sixth of the construction): the hash does not
            // depend on the order, and a key equals `next` when it has as
            // many positions, all marked with this stamp.
            if ends {
                next.push(ACCEPTS);
            }
            let h = key_hash(&next);
            let mut found = first.get(&h).copied().unwrap_or(u32::MAX);
            while found != u32::MAX {
                let (a, b) = spans[found as usize];
                let key = &arena[a as usize..b as usize];
                if key.len() == next.len()
                    && key.last() == next.last()
                    && key.iter().all(|&r| r == ACCEPTS || mark[r as usize] == stamp)
                {
                    break;
                }
                found = older[found as usize];
            }
            let id = if found != u32::MAX {
                found
            } else {
                let id = spans.len() as u32;
                if spans.len() >= limits.max_states {
                    let detail = format!("automaton states: more than {}", limits.max_states);
                    return Err(limits::exceeded(Limit::AutomatonStates, limits.max_states, detail));
                }
                if (arena.len() + next.len()) * 4 + (spans.len() + 1) * stride * 4 > limits.determinize_bytes {
                    let detail = format!("regular expression automaton: more than {} bytes", limits.determinize_bytes);
                    return Err(limits::exceeded(Limit::AutomatonBytes, limits.determinize_bytes, detail));
                }
                let lo = arena.len() as u32;
                arena.extend_from_slice(&next);
                spans.push((lo, arena.len() as u32));
                older.push(first.insert(h, id).unwrap_or(u32::MAX));
                id
            };
            trans[row + c] = id;
        }
        for &c in &touched {
            buckets[c].clear();
        }
        touched.clear();
        i += 1;
    }
    Ok((classes, stride, trans, accepting))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dfa::ByteDfa;

    fn parse(re: &str) -> Hir {
        regex_syntax::ParserBuilder::new().utf8(false).build().parse(re).unwrap()
    }

    fn same_as_nfa(hir: &Hir) {
        let limits = DfaLimits::default();
        let ours = ByteDfa::from_hir(hir, &limits);
        let reference = ByteDfa::from_hir_via_nfa(hir, &limits);
        match (ours, reference) {
            (Ok(a), Ok(b)) => assert!(a.equivalent(&b), "{hir}: {} vs {} states", a.num_states(), b.num_states()),
            (Err(CompileError::Empty), Err(CompileError::Empty)) => {}
            (a, b) => panic!("{hir}: {a:?} vs {b:?}"),
        }
    }

    #[test]
    fn position_automata_equal_the_nfa_path() {
        for re in [
            "",
            "a",
            "abc|abd|a",
            "(a|)*b",
            "(a*)*b*",
            "(ab|a)(bc|c)",
            "x{0,0}y",
            "x{3}",
            "x{2,5}",
            "(xy?){2,}",
            "[a-c]{0,7}d",
            "(?s:.)*",
            "(?-u:[\\x00-\\xFF])*",
            "[^\"\\\\\\x00-\\x1F]*",
            "\\S+(\\s+\\S+){0,3}",
            "\\p{L}{1,3}",
            "[\\u{80}-\\u{10FFFF}]",
            "\"(?:[^\"\\\\]|\\\\.){0,12}\"",
            "-?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][+-]?[0-9]+)?",
            "(?-u:\\xFF\\x00\\x05)(?-u:\\xFF\\x00\\x06)?,",
            "[a&&b]",
            "a[a&&b]|c",
            "(\\[(?-u:\\xFF\\x00\\x01)(,(?-u:\\xFF\\x00\\x01))*\\])?",
        ] {
            same_as_nfa(&parse(re));
        }
    }

    #[test]
    fn random_expressions_equal_the_nfa_path() {
        // A small deterministic generator of nested expressions over a few bytes.
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut rand = move |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        fn gen(depth: u32, rand: &mut dyn FnMut(u64) -> u64) -> String {
            let leaf = ["a", "b", "ab", "[ab]", "[b-d]", "é", "[^a]", "(?-u:\\xFF)"];
            if depth == 0 {
                return leaf[rand(leaf.len() as u64) as usize].to_string();
            }
            match rand(7) {
                0 | 1 => format!("{}{}", gen(depth - 1, rand), gen(depth - 1, rand)),
                2 | 3 => format!("(?:{}|{})", gen(depth - 1, rand), gen(depth - 1, rand)),
                4 => format!("(?:{})*", gen(depth - 1, rand)),
                5 => {
                    let min = rand(3);
                    format!("(?:{}){{{min},{}}}", gen(depth - 1, rand), min + rand(3))
                }
                _ => format!("(?:{})?", gen(depth - 1, rand)),
            }
        }
        for _ in 0..400 {
            let re = gen(4, &mut rand);
            same_as_nfa(&parse(&re));
        }
    }

    #[test]
    fn huge_counts_stay_small_or_are_refused() {
        // A sub-expression without positions is not copied per count.
        let empty = ByteDfa::from_hir(&parse("(?:){5,15000000}x(?:[a&&b]){0,15000000}"), &DfaLimits::default());
        assert_eq!(empty.map(|d| d.num_states()).ok(), Some(2));
        // Too many positions: handed to the other path, which reports the size.
        assert!(table(&parse("(?:ab){0,15000000}"), &DfaLimits::default()).is_none());
        assert!(ByteDfa::from_hir(&parse("(?:ab){0,15000000}"), &DfaLimits::default()).is_err());
        same_as_nfa(&parse("(?:){3}a(?:[a&&b]){2}|b"));
    }

    #[test]
    fn look_around_takes_the_nfa_path() {
        assert!(table(&parse("a\\b"), &DfaLimits::default()).is_none());
        same_as_nfa(&parse("(?-u:\\b)a"));
    }

    #[test]
    fn byte_classes_split_exactly_by_membership() {
        let mut state = 7u64;
        let mut rand = move |n: u64| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 33) % n
        };
        for _ in 0..50 {
            let mut labels = FxHashSet::default();
            for _ in 0..rand(12) + 1 {
                let mut s = ByteSet::EMPTY;
                for _ in 0..rand(4) + 1 {
                    let lo = rand(256) as u8;
                    let hi = lo.saturating_add(rand(40) as u8);
                    s.add_range(lo, hi);
                }
                labels.insert(s);
            }
            let (classes, count) = byte_classes(&labels);
            let member: Vec<Vec<bool>> =
                (0..=255u8).map(|b| labels.iter().map(|l| l.iter().any(|x| x == b)).collect()).collect();
            let mut seen = FxHashSet::default();
            for a in 0..256 {
                seen.insert(classes[a]);
                for b in 0..256 {
                    assert_eq!(classes[a] == classes[b], member[a] == member[b], "{a} {b}");
                }
            }
            assert_eq!(seen.len(), count);
        }
    }
}
