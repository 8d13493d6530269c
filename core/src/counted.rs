//! Automata of expressions with long counted repetitions (`x{0,1024}`, a
//! string of at most 1,024 characters), built from their parts.
//!
//! The position automaton (`crate::glushkov`) copies the repeated
//! sub-expression once per count and runs the subset construction over all
//! the copies: about a microsecond per state, 17 ms for the 14,000 states of
//! a `maxLength: 1024` string. Here the sub-expression's automaton is built
//! once and laid out in layers ([`ByteDfa::repeat`]), and the parts of a
//! sequence around it are joined on ([`ByteDfa::concat_disjoint`]): a table
//! copy per state instead of a subset construction.
//!
//! Only where that is deterministic as it stands: the repeated part and its
//! neighbours must never both accept the next byte where one could end
//! (true of string characters, which are prefix-free, and of the quotes
//! around them). Anything else takes the general path, which also reports
//! every error (an empty language, a size limit).

use regex_syntax::hir::{Hir, HirKind, Repetition};

use crate::dfa::{counts_apart, ByteDfa, DfaLimits};

/// Repetitions counted at least this high are laid out in layers; below,
/// the subset construction is as fast.
const LAYERED_MIN_COUNT: u32 = 16;

/// The automaton of `hir` built from its parts when it has a long counted
/// repetition (alone, in a sequence, or in an optional part of one: an
/// array's items); `None` when it has not, or when the parts cannot be
/// joined without determinising.
pub(crate) fn dfa(hir: &Hir, limits: &DfaLimits) -> Option<ByteDfa> {
    if !has_long_repetition(hir) || !hir.properties().look_set().is_empty() {
        return None;
    }
    // Past a size limit, the general path reports it as it always has.
    build(hir, limits).filter(|d| d.table_bytes() <= limits.determinize_bytes)
}

/// [`dfa`] of an expression [`has_long_repetition`] says has one.
fn build(hir: &Hir, limits: &DfaLimits) -> Option<ByteDfa> {
    match hir.kind() {
        HirKind::Capture(c) => build(&c.sub, limits),
        HirKind::Concat(items) => sequence(items, limits),
        HirKind::Repetition(rep) if is_long(rep) => sequence(std::slice::from_ref(hir), limits),
        // `x?` around a part that has one.
        HirKind::Repetition(rep) => ByteDfa::repeat(&build(&rep.sub, limits)?, rep.min, rep.max, limits),
        HirKind::Alternation(branches) => counted_branches(branches, limits),
        _ => None,
    }
}

/// Branches that each count the same `x` and go on differently:
/// `x{0,q-1} y | x{q} z`, a string longer than 1024 characters (`x` a
/// called chunk, `y` and `z` its tails). [`ByteDfa::repeat_then`] lays the
/// copies out once with each tail joined on at its counts, where the
/// subset construction copied the tails' positions per branch.
fn counted_branches(branches: &[Hir], limits: &DfaLimits) -> Option<ByteDfa> {
    let split = branches.iter().map(counted_head).collect::<Option<Vec<_>>>()?;
    let (sub, _, _) = split.first()?;
    if split.iter().any(|(s, _, _)| s != sub) {
        return None;
    }
    // Bounded counts in ranges apart, checked before anything is built.
    let ranges = split.iter().map(|(_, rep, _)| Some((rep.min, rep.max?))).collect::<Option<Vec<_>>>()?;
    if !counts_apart(ranges.clone()) {
        return None;
    }
    let x = ByteDfa::from_hir(sub, limits).ok()?;
    let mut exits = Vec::with_capacity(split.len());
    for ((_, _, rest), (lo, hi)) in split.iter().zip(ranges) {
        exits.push((lo, hi, ByteDfa::from_hir(&Hir::concat(rest.to_vec()), limits).ok()?));
    }
    ByteDfa::repeat_then(&x, &exits, limits)
}

/// A branch as (what it counts, the count, what follows), when it starts
/// with a counted repetition.
fn counted_head(branch: &Hir) -> Option<(&Hir, &Repetition, &[Hir])> {
    match branch.kind() {
        HirKind::Capture(c) => counted_head(&c.sub),
        HirKind::Repetition(rep) => Some((&rep.sub, rep, &[])),
        HirKind::Concat(items) => match items.first()?.kind() {
            HirKind::Repetition(rep) => Some((&rep.sub, rep, &items[1..])),
            _ => None,
        },
        _ => None,
    }
}

/// [`build`] of a sequence: its parts built apart and joined.
fn sequence(parts: &[Hir], limits: &DfaLimits) -> Option<ByteDfa> {
    let mut joined: Option<ByteDfa> = None;
    let mut pending: Vec<Hir> = Vec::new();
    // `next` joined on after what is built so far.
    let join = |next: ByteDfa, joined: &mut Option<ByteDfa>| -> Option<()> {
        *joined = Some(match joined.take() {
            None => next,
            Some(before) => ByteDfa::concat_disjoint(&before, &next)?,
        });
        Some(())
    };
    let mut i = 0;
    while i < parts.len() {
        let part = &parts[i];
        i += 1;
        if !has_long_repetition(part) {
            pending.push(part.clone());
            continue;
        }
        let built = match long_repetition(part) {
            Some(rep) => {
                // `(w x){n} w y` is `w (x w){n} y`: when what follows a
                // repetition starts as each copy does (whitespace before the
                // separator of array items and before the closing bracket),
                // the copies are turned so that each ends with it, and where
                // a copy ends the next byte tells whether another begins.
                let mut copy: Vec<Hir> = match rep.sub.kind() {
                    HirKind::Concat(items) => items.clone(),
                    _ => vec![(*rep.sub).clone()],
                };
                if copy.len() > 1 && parts.get(i) == copy.first() {
                    pending.push(copy[0].clone());
                    copy.rotate_left(1);
                    i += 1;
                }
                let copy = ByteDfa::from_hir(&Hir::concat(copy), limits).ok()?;
                if copy.has_calls() {
                    // Called copies (chunks of a long string): what follows
                    // is joined on at the counts it may follow, with the
                    // copies laid out.
                    let rest = ByteDfa::from_hir(&Hir::concat(parts[i..].to_vec()), limits).ok()?;
                    i = parts.len();
                    ByteDfa::repeat_then(&copy, &[(rep.min, rep.max?, rest)], limits)?
                } else {
                    ByteDfa::repeat(&copy, rep.min, rep.max, limits)?
                }
            }
            None => build(part, limits)?,
        };
        if !pending.is_empty() {
            let before = ByteDfa::from_hir(&Hir::concat(std::mem::take(&mut pending)), limits).ok()?;
            join(before, &mut joined)?;
        }
        join(built, &mut joined)?;
    }
    if !pending.is_empty() {
        let after = ByteDfa::from_hir(&Hir::concat(pending), limits).ok()?;
        join(after, &mut joined)?;
    }
    joined
}

/// Counted at least [`LAYERED_MIN_COUNT`] times.
fn is_long(rep: &Repetition) -> bool {
    rep.max.unwrap_or(rep.min) >= LAYERED_MIN_COUNT
}

/// `hir` as a long repetition (a group around it is looked through).
fn long_repetition(hir: &Hir) -> Option<&Repetition> {
    match hir.kind() {
        HirKind::Capture(c) => long_repetition(&c.sub),
        HirKind::Repetition(rep) if is_long(rep) => Some(rep),
        _ => None,
    }
}

/// Whether `hir` is a long repetition, or a sequence or an optional part
/// (`x?`) with one, or branches that count one thing (the count or what
/// follows it long): the shapes [`build`] takes apart.
fn has_long_repetition(hir: &Hir) -> bool {
    match hir.kind() {
        HirKind::Capture(c) => has_long_repetition(&c.sub),
        HirKind::Repetition(rep) => {
            is_long(rep) || (rep.min == 0 && rep.max == Some(1) && has_long_repetition(&rep.sub))
        }
        HirKind::Concat(items) => items.iter().any(has_long_repetition),
        HirKind::Alternation(branches) => {
            let heads: Option<Vec<_>> = branches.iter().map(counted_head).collect();
            heads.is_some_and(|heads| {
                heads.iter().any(|(_, rep, rest)| is_long(rep) || rest.iter().any(has_long_repetition))
            })
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex_syntax::ParserBuilder;

    fn parse(re: &str) -> Hir {
        ParserBuilder::new().utf8(true).build().parse(re).unwrap()
    }

    /// Built in layers, and the same language as the NFA path's automaton.
    fn layered(re: &str) -> ByteDfa {
        let hir = parse(re);
        let limits = DfaLimits::default();
        let d = dfa(&hir, &limits).unwrap_or_else(|| panic!("{re} was not built in layers"));
        let reference = ByteDfa::from_hir_via_nfa(&hir, &limits).unwrap();
        assert!(d.equivalent(&reference), "{re}: the layered automaton differs from the NFA's");
        d
    }

    fn accepts(d: &ByteDfa, s: &str) -> bool {
        let mut state = d.start();
        for &b in s.as_bytes() {
            state = d.next(state, b);
            if state == crate::dfa::DEAD {
                return false;
            }
        }
        d.is_accepting(state)
    }

    #[test]
    fn counted_repetitions_in_layers_match_the_general_path() {
        for re in [
            "[a-z]{0,20}",
            "[a-z]{3,40}",
            "[a-z]{16}",
            "[a-z]{20,}",
            "\"(?:[^\"\\\\]|\\\\[\"\\\\n]){0,30}\"",
            "\"(?:[^\"\\\\\\x00-\\x1F]|\\\\[\"\\\\bfnrt]|\\\\u00(?:0[0-7bef]|1[0-9a-f])){2,300}\"",
            // A copy that ends where the next may not begin: words and spaces.
            "(?:[a-z]+ +){1,30}",
            r"(?:ab|c){1,17}d",
            // The copy returns to its own start.
            "(?:a(?:ba)*c){0,20}",
            "x(?:[0-9]{16})y",
            "(?:é|[a-z]){5,25}",
            // Items with whitespace around their separators: the copies are turned.
            r#"\[ *"[0-9a-f]{24}"(?: *, *"[0-9a-f]{24}"){0,99} *\]"#,
            // ...and optional, as an array that may be empty: `[ (items )?]`.
            r#"\[ *(?:"[0-9a-f]{24}"(?: *, *"[0-9a-f]{24}"){0,99} *)?\]"#,
        ] {
            layered(re);
        }
    }

    #[test]
    fn branches_that_count_one_thing_share_the_copies() {
        let limits = DfaLimits::default();
        for re in
            [r"(?:ab){0,19}x|(?:ab){20}y", r"[0-9]{0,30}z|[0-9]{40,44}(?:[a-c]{0,5})?", r#""(?:é{0,16}"|é{17}!")"#]
        {
            layered(re);
        }
        // A string longer than 1024 characters: called chunks, then a tail
        // whose length depends on how many chunks came.
        let chunk = Hir::literal(crate::dfa::call_marker(3).to_vec());
        let chunks =
            |min, max| Hir::repetition(Repetition { min, max: Some(max), greedy: true, sub: Box::new(chunk.clone()) });
        let tail = |n: u32| parse(&format!("[a-z]{{0,{n}}}"));
        let hir = Hir::concat(vec![
            Hir::literal(b"\"".to_vec()),
            Hir::alternation(vec![
                Hir::concat(vec![chunks(0, 19), tail(7)]),
                Hir::concat(vec![chunks(20, 20), tail(3)]),
            ]),
            Hir::literal(b"\"".to_vec()),
        ]);
        let d = dfa(&hir, &limits).expect("built in layers");
        assert!(d.has_calls());
        let reference = ByteDfa::from_hir_via_nfa(&hir, &limits).unwrap();
        assert!(d.equivalent(&reference), "the layered automaton with calls differs from the NFA's");
        // Not deterministic as laid out, or ranges that meet: the general path.
        for re in [r"[a-z]{0,19}a|[a-z]{20}b", r"a{0,20}b|a{18,30}c", r"(?:ab){0,19}a|(?:ab){20}y"] {
            assert!(dfa(&parse(re), &limits).is_none(), "{re}");
        }
    }

    #[test]
    fn counts_are_exact() {
        let d = layered("\"[a-z]{2,17}\"");
        assert!(!accepts(&d, "\"a\""));
        assert!(accepts(&d, "\"ab\""));
        assert!(accepts(&d, &format!("\"{}\"", "a".repeat(17))));
        assert!(!accepts(&d, &format!("\"{}\"", "a".repeat(18))));
        let open = layered("[a-z]{17,}");
        assert!(!accepts(&open, &"a".repeat(16)));
        assert!(accepts(&open, &"a".repeat(17)));
        assert!(accepts(&open, &"a".repeat(400)));
    }

    #[test]
    fn ambiguous_joins_take_the_general_path() {
        let limits = DfaLimits::default();
        // A copy of `a+` may continue or start the next one.
        assert!(dfa(&parse("(?:a+){0,20}"), &limits).is_none());
        // The repetition may end where `a` follows.
        assert!(dfa(&parse("[a-z]{0,20}a"), &limits).is_none());
        // The empty string as a copy.
        assert!(dfa(&parse("(?:a?){0,20}"), &limits).is_none());
        // Where the words end is not known until the last one has.
        assert!(dfa(&parse(r"(?:\S+\s+){0,99}\S+"), &limits).is_none());
        // Short counts.
        assert!(dfa(&parse("[a-z]{0,15}"), &limits).is_none());
        // ...and each builds on the general path all the same.
        for re in ["(?:a+){0,20}", "[a-z]{0,20}a", "(?:a?){0,20}", r"(?:\S+\s+){0,99}\S+"] {
            let d = ByteDfa::from_hir(&parse(re), &limits).unwrap();
            assert!(d.equivalent(&ByteDfa::from_hir_via_nfa(&parse(re), &limits).unwrap()), "{re}");
        }
    }
}
