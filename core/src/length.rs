//! Intersection with a count of units: the strings of an automaton `A` that
//! are `lo..=hi` strings of a prefix-free `unit` (a JSON string body under
//! `maxLength`, its unit one encoded character).
//!
//! The plain product pairs each state of `A` with the counter's position, so
//! `format: email` with `maxLength: 255` had 68,000 states and took 60 ms,
//! half of it pruning pairs that could not finish. Here the count is kept as
//! the window of lengths the rest of the string may still have, cut down to
//! the lengths that `A` can still produce from its state (`remaining`, one
//! bit set per state): two counts whose cut windows agree are the same state.
//! Once every length `A` can still produce fits, the count stops mattering
//! and the state is `A`'s own (the email: 17,522 states instead of 68,682).
//! No state is built that cannot finish, so nothing is pruned afterwards.

use rustc_hash::FxHashMap;

use crate::dfa::{classes_by, joint_classes, predecessors, ByteDfa, DfaLimits, DEAD};
use crate::error::CompileError;

/// Most units a count may have here (windows are kept in 16 bits).
pub(crate) const MAX_COUNT: u32 = u16::MAX as u32 - 1;

/// The strings of `a` made of `lo..=hi` strings of `unit`, between the
/// literal `prefix` and `suffix` (a JSON string's quotes). `None` when the
/// shapes do not allow this construction (calls, a unit that matches the
/// empty string or is a prefix of another, a count above [`MAX_COUNT`], a
/// suffix whose first byte could also continue the body): the caller then
/// takes the plain product.
pub(crate) fn product_counted(
    a: &ByteDfa,
    unit: &ByteDfa,
    (lo, hi): (u32, u32),
    (prefix, suffix): (&[u8], &[u8]),
    limits: &DfaLimits,
) -> Result<Option<ByteDfa>, CompileError> {
    if a.has_calls() || unit.has_calls() || hi > MAX_COUNT || lo > hi || !prefix_free(unit) {
        return Ok(None);
    }
    let pairs = Pairs::new(a, unit, limits)?;
    let remaining = pairs.remaining(hi as usize);
    let words = remaining.words;
    // A body state is (pair, lo, hi): the lengths still allowed, cut to
    // those the pair can produce (`canonical`).
    let canonical = |pair: u32, lo: u32, hi: u32| -> Option<(u32, u32)> {
        let bits = &remaining.bits[pair as usize * words..(pair as usize + 1) * words];
        let first = next_set(bits, lo as usize)?;
        let last = prev_set(bits, hi as usize)?;
        (first <= last).then_some((first as u32, last as u32))
    };
    let key = |pair: u32, (lo, hi): (u32, u32)| (pair as u64) << 32 | (lo as u64) << 16 | hi as u64;
    let Some(start) = canonical(0, lo, hi) else { return Err(CompileError::Empty) };

    // Byte classes: the pairs' classes, with each byte of the ends apart.
    let (classes, reps) = classes_by(|byte| {
        let apart = prefix.contains(&byte) || suffix.contains(&byte);
        (pairs.classes[byte as usize], if apart { byte as u16 } else { 256 })
    });
    let stride = reps.len();
    let literal_row = |byte: u8, to: u32| reps.iter().map(move |&r| if r == byte { to } else { DEAD });

    // The prefix's states come first (the last one is the body's start),
    // then the body's, then the suffix's; the body's way into the suffix is
    // written as TO_SUFFIX and numbered at the end.
    const TO_SUFFIX: u32 = DEAD - 1;
    let base = prefix.len() as u32;
    let mut trans: Vec<u32> = Vec::new();
    let mut accepting: Vec<bool> = Vec::new();
    for (i, &byte) in prefix.iter().enumerate() {
        trans.extend(literal_row(byte, i as u32 + 1));
        accepting.push(false);
    }
    let mut ids: FxHashMap<u64, u32> = FxHashMap::default();
    let mut order: Vec<(u32, u32, u32)> = vec![(0, start.0, start.1)];
    ids.insert(key(0, start), base);
    // The targets of one row, found once however many classes lead there.
    let mut row_targets: Vec<(u32, u32)> = Vec::new();
    let mut i = 0;
    while i < order.len() {
        let (pair, wlo, whi) = order[i];
        let ends = pairs.accepting[pair as usize] && wlo == 0;
        accepting.push(ends && suffix.is_empty());
        row_targets.clear();
        for &rep in &reps {
            let step = pairs.trans[pair as usize * pairs.stride + pairs.classes[rep as usize] as usize];
            if ends && suffix.first() == Some(&rep) {
                if step != DEAD {
                    return Ok(None);
                }
                trans.push(TO_SUFFIX);
                continue;
            }
            if step == DEAD {
                trans.push(DEAD);
                continue;
            }
            if let Some(&(_, id)) = row_targets.iter().find(|(s, _)| *s == step) {
                trans.push(id);
                continue;
            }
            let (to, counted) = (step >> 1, step & 1);
            let window = (whi >= counted).then(|| canonical(to, wlo.saturating_sub(counted), whi - counted)).flatten();
            let id = match window {
                None => DEAD,
                Some(window) => {
                    let next_id = base + order.len() as u32;
                    *ids.entry(key(to, window)).or_insert_with(|| {
                        order.push((to, window.0, window.1));
                        next_id
                    })
                }
            };
            row_targets.push((step, id));
            trans.push(id);
        }
        limits.check_growth(i, order.len(), "length-bounded automaton")?;
        i += 1;
    }
    // Suffix state j: its first j + 1 bytes read.
    let first_suffix = base + order.len() as u32;
    for t in trans.iter_mut().filter(|t| **t == TO_SUFFIX) {
        *t = first_suffix;
    }
    for j in 0..suffix.len() {
        match suffix.get(j + 1) {
            Some(&byte) => trans.extend(literal_row(byte, first_suffix + j as u32 + 1)),
            None => trans.extend(std::iter::repeat_n(DEAD, stride)),
        }
        accepting.push(j + 1 == suffix.len());
    }
    Ok(Some(ByteDfa::from_live_table(classes, stride, trans, accepting)))
}

/// Whether no string of `unit` is empty or a proper prefix of another: then
/// a string splits into units in at most one way, and a state where a unit
/// ends has no way on (states that cannot reach acceptance are pruned).
pub(crate) fn prefix_free(unit: &ByteDfa) -> bool {
    if unit.is_accepting(unit.start()) {
        return false;
    }
    (0..unit.num_states() as u32)
        .filter(|&s| unit.is_accepting(s))
        .all(|s| (0..=255u8).all(|b| unit.next(s, b) == DEAD))
}

/// The automaton of `A` run beside `unit*`: states are pairs (state of `A`,
/// position in the current unit), the position going to a boundary where a
/// unit ends. The boundary steps as the unit's start but is a position of its
/// own: a unit such as `a*b` comes back to its start state in the middle.
/// Transitions are `to << 1 | counted`, `counted` being 1 where the byte ends
/// a unit.
struct Pairs {
    classes: [u8; 256],
    stride: usize,
    trans: Vec<u32>,
    /// `A` accepts and no unit is left half-read.
    accepting: Vec<bool>,
}

impl Pairs {
    fn new(a: &ByteDfa, unit: &ByteDfa, limits: &DfaLimits) -> Result<Pairs, CompileError> {
        let (classes, reps) = joint_classes(a, unit);
        let stride = reps.len();
        let boundary = unit.num_states() as u32;
        let width = unit.num_states() + 1;
        // Dense ids: both automata are small (a format, one character).
        let mut ids = vec![DEAD; a.num_states() * width];
        let mut order: Vec<(u32, u32)> = vec![(a.start(), boundary)];
        ids[a.start() as usize * width + boundary as usize] = 0;
        let mut trans = Vec::new();
        let mut accepting = Vec::new();
        let mut i = 0;
        while i < order.len() {
            let (sa, su) = order[i];
            accepting.push(a.is_accepting(sa) && su == boundary);
            let su = if su == boundary { unit.start() } else { su };
            for &byte in &reps {
                let (na, nu) = (a.next(sa, byte), unit.next(su, byte));
                if na == DEAD || nu == DEAD {
                    trans.push(DEAD);
                    continue;
                }
                let ends = unit.is_accepting(nu);
                let nu = if ends { boundary } else { nu };
                let slot = &mut ids[na as usize * width + nu as usize];
                if *slot == DEAD {
                    *slot = order.len() as u32;
                    order.push((na, nu));
                }
                trans.push(*slot << 1 | ends as u32);
            }
            limits.check_growth(i, order.len(), "length-bounded automaton")?;
            i += 1;
        }
        Ok(Pairs { classes, stride, trans, accepting })
    }

    /// For every pair, the numbers of units (up to `max`) in which it can
    /// still reach acceptance: a fixpoint over the reversed transitions.
    fn remaining(&self, max: usize) -> Remaining {
        let n = self.accepting.len();
        let words = max / 64 + 1;
        let mut bits = vec![0u64; n * words];
        // Predecessors with the count of the step: `from << 1 | counted`.
        let (start, preds) = predecessors(n, || {
            let stride = self.stride;
            self.trans
                .iter()
                .enumerate()
                .filter(|&(_, &t)| t != DEAD)
                .map(move |(i, &t)| ((t >> 1) as usize, ((i / stride) as u32) << 1 | (t & 1)))
        });
        let mut queued = vec![false; n];
        let mut queue: Vec<u32> = Vec::new();
        for s in 0..n {
            if self.accepting[s] {
                bits[s * words] |= 1;
                queued[s] = true;
                queue.push(s as u32);
            }
        }
        let last_mask = if (max + 1) % 64 == 0 { u64::MAX } else { (1u64 << ((max + 1) % 64)) - 1 };
        let mut scratch = vec![0u64; words];
        while let Some(t) = queue.pop() {
            let t = t as usize;
            queued[t] = false;
            for &p in &preds[start[t] as usize..start[t + 1] as usize] {
                let (from, counted) = ((p >> 1) as usize, p & 1);
                // scratch = remaining(t) shifted by the step's count.
                let src = &bits[t * words..(t + 1) * words];
                if counted == 1 {
                    let mut carry = 0u64;
                    for (d, &w) in scratch.iter_mut().zip(src) {
                        *d = w << 1 | carry;
                        carry = w >> 63;
                    }
                } else {
                    scratch.copy_from_slice(src);
                }
                scratch[words - 1] &= last_mask;
                let dst = &mut bits[from * words..(from + 1) * words];
                let mut grew = false;
                for (d, &w) in dst.iter_mut().zip(&scratch) {
                    grew |= w & !*d != 0;
                    *d |= w;
                }
                if grew && !queued[from] {
                    queued[from] = true;
                    queue.push(from as u32);
                }
            }
        }
        Remaining { bits, words }
    }
}

/// Per pair, a bit set of the unit counts it can still finish in.
struct Remaining {
    bits: Vec<u64>,
    words: usize,
}

/// The first set bit at or after `from`.
fn next_set(bits: &[u64], from: usize) -> Option<usize> {
    let mut w = from / 64;
    if w >= bits.len() {
        return None;
    }
    let mut word = bits[w] & (u64::MAX << (from % 64));
    loop {
        if word != 0 {
            return Some(w * 64 + word.trailing_zeros() as usize);
        }
        w += 1;
        if w == bits.len() {
            return None;
        }
        word = bits[w];
    }
}

/// The last set bit at or before `to`.
fn prev_set(bits: &[u64], to: usize) -> Option<usize> {
    let to = to.min(bits.len() * 64 - 1);
    let mut w = to / 64;
    let shift = 63 - to % 64;
    let mut word = bits[w] << shift >> shift;
    loop {
        if word != 0 {
            return Some(w * 64 + 63 - word.leading_zeros() as usize);
        }
        if w == 0 {
            return None;
        }
        w -= 1;
        word = bits[w];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex_syntax::ParserBuilder;

    fn dfa(pattern: &str) -> ByteDfa {
        let hir = ParserBuilder::new().utf8(false).build().parse(pattern).unwrap();
        ByteDfa::from_hir(&hir, &DfaLimits::default()).unwrap()
    }

    /// The counted product against the plain product with a counter; their
    /// state counts (0 for an empty language).
    fn check(a: &str, unit: &str, lo: u32, hi: u32) -> (usize, usize) {
        let limits = DfaLimits::default();
        let (da, du) = (dfa(a), dfa(unit));
        let counter = dfa(&format!("(?:{unit}){{{lo},{hi}}}"));
        let plain = ByteDfa::product(&da, &counter, false, &limits);
        let counted = product_counted(&da, &du, (lo, hi), (b"", b""), &limits);
        match (plain, counted) {
            (Ok(p), Ok(Some(c))) => {
                assert!(p.equivalent(&c), "{a} with {lo}..={hi} of {unit}");
                (p.num_states(), c.num_states())
            }
            (Err(CompileError::Empty), Err(CompileError::Empty)) => (0, 0),
            (p, c) => panic!("{a} with {lo}..={hi} of {unit}: plain {p:?}, counted {c:?}"),
        }
    }

    #[test]
    fn agrees_with_the_plain_product() {
        let char_unit = r#"(?:[^"\\\x00-\x1F]|\\["\\bfnrt]|\\u00(?:0[0-7bef]|1[0-9a-f]))"#;
        let email = r"[A-Za-z0-9_%+-]{1,32}(?:\.[A-Za-z0-9_%+-]{1,31})?@[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?){1,6}";
        // The e-mail under `maxLength: 255`: the count stops once the
        // address's own bounds settle it.
        let (plain, counted) = check(email, char_unit, 3, 255);
        assert!(counted * 2 < plain, "{counted} states, against {plain} for the plain product");
        for (a, lo, hi) in [
            (email, 0, 20),
            (email, 100, 120),
            (r"(?s:.)+@(?s:.)+\.___", 10, 200),
            (r"[a-z]+:/[a-z/]*", 1, 64),
            (r"(?:ab|c)*", 0, 9),
            (r"(?:ab|c)*", 5, 5),
            (r"[0-9]{4}-[0-9]{2}", 0, 6),
            (r"é+x?", 2, 7),
            (r#"\\n(?:[^"\\\x00-\x1F])*"#, 2, 40),
        ] {
            check(a, char_unit, lo, hi);
        }
        // Units of several bytes where a string splits only one way.
        check(r"(?:ab|abc|c)*", "ab|c", 0, 6);
        // A unit whose automaton comes back to its start inside a unit.
        check(r"[ab]*", "a*b", 1, 3);
        check(r"a*b?a*", "a", 2, 70);
        check(r"a*b?a*", "a", 64, 130);
    }

    #[test]
    fn literal_ends_are_joined_on() {
        let limits = DfaLimits::default();
        let unit = r#"(?:[^"\\\x00-\x1F]|\\["\\bfnrt]|\\u00(?:0[0-7bef]|1[0-9a-f]))"#;
        for (a, lo, hi) in [(r"[a-z]+:/[a-z/]*", 1, 64), (r#"\\n(?:[^"\\\x00-\x1F])*"#, 2, 40), ("x*", 0, 3)] {
            for (prefix, suffix) in [("\"", "\""), ("", "\""), ("<<", ""), ("[", "\"]]")] {
                let quoted =
                    |e: &str| dfa(&format!("{}(?:{e}){}", regex_syntax::escape(prefix), regex_syntax::escape(suffix)));
                let plain =
                    ByteDfa::product(&quoted(a), &quoted(&format!("(?:{unit}){{{lo},{hi}}}")), false, &limits).unwrap();
                let ends = (prefix.as_bytes(), suffix.as_bytes());
                let counted = product_counted(&dfa(a), &dfa(unit), (lo, hi), ends, &limits).unwrap();
                let counted = counted.unwrap_or_else(|| panic!("refused: {prefix}{a}{suffix}"));
                assert!(plain.equivalent(&counted), "{prefix}{a}{suffix} with {lo}..={hi}");
            }
        }
        // A suffix that could continue the body: refused.
        let r = product_counted(&dfa("x*"), &dfa("x"), (0, 3), (b"", b"x"), &limits).unwrap();
        assert!(r.is_none());
    }

    #[test]
    fn refuses_units_that_split_two_ways() {
        let limits = DfaLimits::default();
        let a = dfa("a*");
        assert!(product_counted(&a, &dfa("a|aa"), (0, 4), (b"", b""), &limits).unwrap().is_none());
        assert!(product_counted(&a, &dfa("a*"), (0, 4), (b"", b""), &limits).unwrap().is_none());
    }

    #[test]
    fn an_impossible_count_is_empty() {
        let limits = DfaLimits::default();
        let r = product_counted(&dfa("[0-9]{4}"), &dfa("[0-9]"), (5, 9), (b"", b""), &limits);
        assert!(matches!(r, Err(CompileError::Empty)), "{r:?}");
    }

    #[test]
    fn bit_scans() {
        let bits = [0b1010u64, 0, 1 << 63];
        assert_eq!(next_set(&bits, 0), Some(1));
        assert_eq!(next_set(&bits, 2), Some(3));
        assert_eq!(next_set(&bits, 4), Some(191));
        assert_eq!(prev_set(&bits, 190), Some(3));
        assert_eq!(prev_set(&bits, 500), Some(191));
        assert_eq!(prev_set(&bits, 0), None);
        assert_eq!(next_set(&bits, 192), None);
    }
}
