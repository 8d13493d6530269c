//! Automata of rules made only of calls, built directly.
//!
//! Some rules contain no text of their own: every leaf of their expression
//! is a call to another rule (the states of an object whose members come in
//! any order are such rules: "one of the remaining members, then the state
//! after it"). Through `regex-automata` each call is a three-byte marker
//! path that is determinised and cut out again, tens of microseconds per
//! rule, and an object with 10 members has 1,024 of them. Here the automaton
//! is the expression's position automaton (Glushkov): one state per call
//! occurrence plus the start, a call edge from a state to each occurrence
//! that can follow it, returning to that occurrence's state. It is used when
//! it is deterministic (no state calls one rule with two different return
//! states, which is what determinising the markers would merge); otherwise
//! the rule takes the usual path.
//!
//! The automaton depends only on the expression's shape and on which of its
//! leaves call the same rule, so it is built once per shape, with callees
//! numbered by rank (first occurrence first), kept process-wide, and handed
//! to each rule with the ranks renamed to its callees: the states of every
//! object with the same number of remaining members share one automaton
//! (member-set rules were two fifths of the automata time of the slowest
//! MaskBench schemas, about 3 µs each, nearly all of it allocation).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use rustc_hash::FxBuildHasher;

use crate::dfa::ByteDfa;
use crate::error::CompileError;
use crate::ir::{Expr, RuleId};

/// Shapes kept; past this the cache starts again (shapes are few: objects
/// of up to 16 members, block chains).
const MAX_SHAPES: usize = 4096;

/// Automata by shape, callees numbered by rank; `None`: the shape's
/// position automaton is not deterministic.
type ShapeCache = HashMap<Vec<u32>, Option<Arc<ByteDfa>>, FxBuildHasher>;

static SHAPES: LazyLock<Mutex<ShapeCache>> = LazyLock::new(Default::default);

/// The rank of `x` among `seen` in order of first occurrence, adding it at
/// the end when it is new. Calls are numbered this way wherever automata are
/// shared up to the numbering of calls (here and in `crate::shared`).
pub(crate) fn rank_of<T: PartialEq + Copy>(seen: &mut Vec<T>, x: T) -> u32 {
    match seen.iter().position(|&y| y == x) {
        Some(k) => k as u32,
        None => {
            seen.push(x);
            seen.len() as u32 - 1
        }
    }
}

/// The shape of `body` (node kinds, repetition bounds, callees by rank) and
/// its callees in order of first occurrence; `None` when a leaf is not a
/// call or a node is not one the position automaton handles.
fn shape(body: &Expr, is_call: &dyn Fn(RuleId) -> bool) -> Option<(Vec<u32>, Vec<RuleId>)> {
    fn visit(e: &Expr, is_call: &dyn Fn(RuleId) -> bool, out: &mut Vec<u32>, callees: &mut Vec<RuleId>) -> Option<()> {
        match e {
            Expr::Rule(r) if is_call(*r) => out.extend([0, rank_of(callees, *r)]),
            Expr::Seq(items) | Expr::Alt(items) => {
                out.extend([if matches!(e, Expr::Seq(_)) { 1 } else { 2 }, items.len() as u32]);
                for x in items {
                    visit(x, is_call, out, callees)?;
                }
            }
            Expr::Repeat { expr, min, max } if *min <= 1 && matches!(max, None | Some(1)) => {
                out.extend([3, *min, max.is_some() as u32]);
                visit(expr, is_call, out, callees)?;
            }
            _ => return None,
        }
        Some(())
    }
    let mut out = Vec::new();
    let mut callees = Vec::new();
    visit(body, is_call, &mut out, &mut callees)?;
    Some((out, callees))
}

/// The automaton of `body` in call edges only, when every leaf is a call
/// (`is_call`) and its position automaton is deterministic, with each call
/// edge's rule given by `index` (the callee's rule index; its errors are
/// passed on). `None` sends the rule down the regular-expression path.
pub(crate) fn call_only(
    body: &Expr,
    is_call: &dyn Fn(RuleId) -> bool,
    mut index: impl FnMut(RuleId) -> Result<u32, CompileError>,
) -> Result<Option<ByteDfa>, CompileError> {
    let Some((key, callees)) = shape(body, is_call) else { return Ok(None) };
    let cached = SHAPES.lock().unwrap_or_else(|p| p.into_inner()).get(&key).cloned();
    let ranked = match cached {
        Some(found) => found,
        None => {
            let built = match by_rank(body, &callees, is_call) {
                Some((accepting, edges)) => Some(Arc::new(ByteDfa::from_calls(accepting, edges)?)),
                None => None,
            };
            let mut shapes = SHAPES.lock().unwrap_or_else(|p| p.into_inner());
            if shapes.len() >= MAX_SHAPES {
                shapes.clear();
            }
            shapes.insert(key, built.clone());
            built
        }
    };
    let Some(ranked) = ranked else { return Ok(None) };
    let indices = callees.iter().map(|&c| index(c)).collect::<Result<Vec<u32>, _>>()?;
    Ok(Some(ranked.with_calls_renamed(|rank| indices[rank as usize])))
}

/// [`position_automaton`]'s acceptance and edges, with callees numbered by
/// rank among `callees`.
type RankedEdges = (Vec<bool>, Vec<Vec<(u32, u32)>>);

fn by_rank(body: &Expr, callees: &[RuleId], is_call: &dyn Fn(RuleId) -> bool) -> Option<RankedEdges> {
    let a = position_automaton(body, is_call)?;
    let rank = |r: RuleId| callees.iter().position(|&c| c == r).expect("every callee was ranked") as u32;
    let edges = a
        .edges
        .into_iter()
        .map(|out| {
            let mut out: Vec<(u32, u32)> = out.into_iter().map(|(r, ret)| (rank(r), ret)).collect();
            out.sort_unstable();
            out
        })
        .collect();
    Some((a.accepting, edges))
}

/// An expression over calls with its positions numbered from 1.
struct Positions {
    /// The callee of each position (index 0 unused: the start state).
    symbol: Vec<RuleId>,
    /// `follow[p]`: the positions that can come right after position `p`.
    follow: Vec<Vec<usize>>,
}

/// `(nullable, first, last)` of a sub-expression.
type Summary = (bool, Vec<usize>, Vec<usize>);

impl Positions {
    fn visit(&mut self, e: &Expr, is_call: &dyn Fn(RuleId) -> bool) -> Option<Summary> {
        Some(match e {
            Expr::Rule(r) if is_call(*r) => {
                self.symbol.push(*r);
                self.follow.push(Vec::new());
                let p = self.symbol.len() - 1;
                (false, vec![p], vec![p])
            }
            Expr::Seq(items) => {
                let mut acc: Summary = (true, Vec::new(), Vec::new());
                for x in items {
                    let (n, f, l) = self.visit(x, is_call)?;
                    for &p in &acc.2 {
                        self.follow[p].extend_from_slice(&f);
                    }
                    if acc.0 {
                        acc.1.extend_from_slice(&f);
                    }
                    if n {
                        acc.2.extend(l);
                    } else {
                        acc.2 = l;
                    }
                    acc.0 &= n;
                }
                acc
            }
            Expr::Alt(items) => {
                let mut acc: Summary = (false, Vec::new(), Vec::new());
                for x in items {
                    let (n, f, l) = self.visit(x, is_call)?;
                    acc.0 |= n;
                    acc.1.extend(f);
                    acc.2.extend(l);
                }
                acc
            }
            Expr::Repeat { expr, min, max } if *min <= 1 && matches!(max, None | Some(1)) => {
                let (n, f, l) = self.visit(expr, is_call)?;
                if max.is_none() {
                    for &p in &l {
                        self.follow[p].extend_from_slice(&f);
                    }
                }
                (n || *min == 0, f, l)
            }
            _ => return None,
        })
    }
}

/// A rule's automaton in call edges only: `accepting[s]`, and for each state
/// its `(callee, return state)` edges. State 0 is the start.
struct CallAutomaton {
    accepting: Vec<bool>,
    edges: Vec<Vec<(RuleId, u32)>>,
}

/// The position automaton of `body` when every leaf is a call (`is_call`)
/// and it is deterministic.
fn position_automaton(body: &Expr, is_call: &dyn Fn(RuleId) -> bool) -> Option<CallAutomaton> {
    let mut pos = Positions { symbol: vec![usize::MAX], follow: vec![Vec::new()] };
    let (nullable, first, last) = pos.visit(body, is_call)?;
    if pos.symbol.len() < 2 {
        return None;
    }
    pos.follow[0] = first;
    let n = pos.symbol.len();
    let mut accepting = vec![false; n];
    accepting[0] = nullable;
    for p in last {
        accepting[p] = true;
    }
    let mut edges: Vec<Vec<(RuleId, u32)>> = Vec::with_capacity(n);
    for f in &mut pos.follow {
        f.sort_unstable();
        f.dedup();
        let mut out: Vec<(RuleId, u32)> = f.iter().map(|&q| (pos.symbol[q], q as u32)).collect();
        out.sort_unstable();
        // Deterministic: one return state per callee.
        if out.windows(2).any(|w| w[0].0 == w[1].0) {
            return None;
        }
        edges.push(out);
    }
    Some(CallAutomaton { accepting, edges })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The automaton built directly, without the shape cache.
    fn direct(body: &Expr) -> ByteDfa {
        let a = position_automaton(body, &|_| true).unwrap();
        let edges = a
            .edges
            .into_iter()
            .map(|out| {
                let mut out: Vec<(u32, u32)> = out.into_iter().map(|(r, t)| (r as u32, t)).collect();
                out.sort_unstable();
                out
            })
            .collect();
        ByteDfa::from_calls(a.accepting, edges).unwrap()
    }

    #[test]
    fn one_shape_serves_every_numbering_of_its_callees() {
        // `a* (b c | d e)?`, with callees numbered two ways, and a shape whose
        // repeated callee makes it a different automaton.
        let body = |a, b, c, d, e| {
            Expr::Seq(vec![
                Expr::Repeat { expr: Box::new(Expr::Rule(a)), min: 0, max: None },
                Expr::Repeat {
                    expr: Box::new(Expr::Alt(vec![
                        Expr::Seq(vec![Expr::Rule(b), Expr::Rule(c)]),
                        Expr::Seq(vec![Expr::Rule(d), Expr::Rule(e)]),
                    ])),
                    min: 0,
                    max: Some(1),
                },
            ])
        };
        for rules in [[1, 2, 3, 4, 5], [90, 7, 8, 3, 1], [5, 4, 3, 2, 1], [1, 2, 3, 2, 5]] {
            let [a, b, c, d, e] = rules;
            let e_body = body(a, b, c, d, e);
            let built = call_only(&e_body, &|_| true, |r| Ok(r as u32)).unwrap();
            if b == d {
                // `b` with two return states: not deterministic.
                assert!(built.is_none());
                continue;
            }
            assert!(built.unwrap().equivalent(&direct(&e_body)), "callees {rules:?}");
        }
        // A leaf that is not a call: not this path.
        let text = Expr::Seq(vec![Expr::Rule(1), Expr::regular(regex_syntax::hir::Hir::literal(*b"x"))]);
        assert!(call_only(&text, &|_| true, |r| Ok(r as u32)).unwrap().is_none());
    }
}
