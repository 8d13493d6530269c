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

use crate::ir::{Expr, RuleId};

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
pub(crate) struct CallAutomaton {
    pub accepting: Vec<bool>,
    pub edges: Vec<Vec<(RuleId, u32)>>,
}

/// The automaton of `body` when every leaf is a call (`is_call`) and its
/// position automaton is deterministic; `None` sends the rule down the
/// regular-expression path.
pub(crate) fn call_only(body: &Expr, is_call: &dyn Fn(RuleId) -> bool) -> Option<CallAutomaton> {
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
