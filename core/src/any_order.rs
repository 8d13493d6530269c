//! Members in any order, each at most once: the items of a JSON object
//! whose declared properties may come in any order, expanded into rules as
//! the compiler meets them.
//!
//! The state after some members is the set of declared members seen (a bit
//! mask) and, where `min`/`max` need it, the number of extra members
//! (capped). Each state is a rule made only of calls: one of the remaining
//! members (with its separator), then the state after it. An object of 12
//! members has 4,096 states, of which one output enters a handful, so a
//! state's rule is made when a built rule first calls it
//! ([`crate::rules::RuleBuilder`]), not when the grammar is written.

use crate::ir::{Expr, RuleId};

/// One member of an [`AnyOrder`] set.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AnyOrderMember {
    /// The rule of the member written first (no separator before it).
    pub first: RuleId,
    /// The rule of the member written after another (its separator first).
    pub later: RuleId,
    /// Whether the object must have it.
    pub required: bool,
}

/// Members in any order, each at most once, plus extra members that may
/// repeat, with bounds on how many members there are in all.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AnyOrder {
    /// A name for the state rules (`{name}:members{mask}.{extras}`).
    pub name: String,
    /// The declared members (at most [`AnyOrder::MAX_MEMBERS`]).
    pub members: Vec<AnyOrderMember>,
    /// The rules of an extra member written first and later, if extras are allowed.
    pub extra: Option<(RuleId, RuleId)>,
    /// Fewest members in all.
    pub min: u64,
    /// Most members in all.
    pub max: Option<u64>,
}

/// A state: the declared members seen (bit mask) and the extra members
/// counted (saturating at [`AnyOrder::cap`]; 0 when not counted).
pub type AnyOrderState = (u32, u64);

impl AnyOrder {
    /// Most declared members a set may have.
    pub const MAX_MEMBERS: usize = 16;

    /// The extra-member count saturates here (0: not counted).
    pub fn cap(&self) -> u64 {
        match (self.extra, self.max) {
            (None, _) => 0,
            (Some(_), Some(mx)) => mx,
            (Some(_), None) => self.min,
        }
    }

    /// How many states there can be at most.
    pub fn states_bound(&self) -> usize {
        (1usize << self.members.len().min(Self::MAX_MEMBERS)).saturating_mul(self.cap().saturating_add(1) as usize)
    }

    fn required(&self) -> u32 {
        self.members.iter().enumerate().filter(|(_, m)| m.required).fold(0, |a, (i, _)| a | 1 << i)
    }

    fn total(&self, (mask, e): AnyOrderState) -> u64 {
        mask.count_ones() as u64 + e
    }

    /// Whether the members of `s` make a complete object.
    pub fn accepting(&self, s: AnyOrderState) -> bool {
        let required = self.required();
        s.0 & required == required && self.total(s) >= self.min
    }

    /// Extra members repeat without changing the state.
    fn loops(&self, s: AnyOrderState) -> bool {
        self.extra.is_some() && self.max.is_none() && s.1 == self.cap()
    }

    fn room(&self, s: AnyOrderState) -> bool {
        self.max.is_none_or(|mx| self.total(s) < mx)
    }

    /// The state after one more extra member, when it is counted.
    fn after_extra(&self, s: AnyOrderState) -> Option<AnyOrderState> {
        (self.extra.is_some() && !self.loops(s) && self.room(s)).then(|| (s.0, (s.1 + 1).min(self.cap())))
    }

    fn after_member(&self, s: AnyOrderState, k: usize) -> Option<AnyOrderState> {
        (s.0 & (1 << k) == 0 && self.room(s)).then(|| (s.0 | 1 << k, s.1))
    }

    /// Whether the object can still be completed from `s` (a state whose
    /// members fit under `max`, as every state reached does): the required
    /// members missing fit under `max`, and with the optional members and
    /// the extras still countable, `min` can be reached.
    pub fn is_live(&self, s: AnyOrderState) -> bool {
        let n = self.members.len() as u64;
        let seen = s.0.count_ones() as u64;
        let missing_required = (self.required() & !s.0).count_ones() as u64;
        let missing_optional = n - seen - missing_required;
        let extras_left = if self.extra.is_some() { self.cap().saturating_sub(s.1) } else { 0 };
        let total = self.total(s);
        let least = total + missing_required;
        self.max.is_none_or(|mx| least.max(self.min) <= mx) && least + missing_optional + extras_left >= self.min
    }

    /// How many states can be entered: those after a first member (or
    /// extra) from which the object can still be completed, and the start
    /// itself where extras loop on it.
    pub fn live_states(&self) -> usize {
        let n = self.members.len();
        if self.max.is_none() && self.cap() == 0 && self.min <= n as u64 {
            // Every set of members can still be completed.
            return (1usize << n) - 1 + usize::from(self.loops((0, 0)));
        }
        let width = self.cap() as usize + 1;
        let index = |(mask, e): AnyOrderState| mask as usize * width + e as usize;
        let mut seen = vec![false; (1usize << n) * width];
        let mut todo = Vec::new();
        let mut enter = |t: AnyOrderState, todo: &mut Vec<AnyOrderState>| {
            if self.is_live(t) && !seen[index(t)] {
                seen[index(t)] = true;
                todo.push(t);
            }
        };
        // As `first` and `state_body` call them.
        let start = (0, 0);
        if let Some(t) = if self.loops(start) { Some(start) } else { self.after_extra(start) } {
            enter(t, &mut todo);
        }
        let mut count = 0;
        let mut s = start;
        loop {
            if s != start || count > 0 {
                if let Some(t) = self.after_extra(s) {
                    enter(t, &mut todo);
                }
            }
            for k in 0..n {
                if let Some(t) = self.after_member(s, k) {
                    enter(t, &mut todo);
                }
            }
            match todo.pop() {
                Some(t) => {
                    s = t;
                    count += 1;
                }
                None => return count,
            }
        }
    }

    /// The non-empty member lists from the start, as alternatives of a
    /// first member and a call to the state after it (`state` gives the
    /// rule of a state). Empty when the object can only be empty (or not
    /// be at all).
    pub fn first(&self, mut state: impl FnMut(AnyOrderState) -> RuleId) -> Vec<Expr> {
        let start = (0, 0);
        let mut alts = Vec::new();
        if let (Some((first, _)), true) = (self.extra, self.room(start)) {
            let t = if self.loops(start) { start } else { (0, 1.min(self.cap())) };
            if self.is_live(t) {
                alts.push(Expr::Seq(vec![Expr::Rule(first), Expr::Rule(state(t))]));
            }
        }
        for (k, m) in self.members.iter().enumerate() {
            if let Some(t) = self.after_member(start, k).filter(|&t| self.is_live(t)) {
                alts.push(Expr::Seq(vec![Expr::Rule(m.first), Expr::Rule(state(t))]));
            }
        }
        alts
    }

    /// The body of the rule of state `s`: the end of the object where it
    /// may end, or a later member and a call to the state after it.
    pub fn state_body(&self, s: AnyOrderState, mut state: impl FnMut(AnyOrderState) -> RuleId) -> Expr {
        let mut alts = Vec::new();
        if self.accepting(s) {
            alts.push(Expr::Seq(vec![]));
        }
        if let (Some((_, later)), Some(t)) = (self.extra, self.after_extra(s)) {
            if self.is_live(t) {
                alts.push(Expr::Seq(vec![Expr::Rule(later), Expr::Rule(state(t))]));
            }
        }
        for (k, m) in self.members.iter().enumerate() {
            if let Some(t) = self.after_member(s, k).filter(|&t| self.is_live(t)) {
                alts.push(Expr::Seq(vec![Expr::Rule(m.later), Expr::Rule(state(t))]));
            }
        }
        let body = Expr::Alt(alts);
        match self.extra {
            Some((_, later)) if self.loops(s) => {
                Expr::Seq(vec![Expr::Repeat { expr: Box::new(Expr::Rule(later)), min: 0, max: None }, body])
            }
            _ => body,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Liveness by search, as the definition says.
    fn live_by_search(set: &AnyOrder, s: AnyOrderState, memo: &mut HashMap<AnyOrderState, bool>) -> bool {
        if let Some(&l) = memo.get(&s) {
            return l;
        }
        let l = set.accepting(s)
            || set.after_extra(s).is_some_and(|t| live_by_search(set, t, memo))
            || (0..set.members.len()).any(|k| set.after_member(s, k).is_some_and(|t| live_by_search(set, t, memo)));
        memo.insert(s, l);
        l
    }

    /// The states `first` and `state_body` call, from the start on.
    fn states_called(set: &AnyOrder) -> usize {
        let mut called = std::collections::HashSet::new();
        let mut next = Vec::new();
        set.first(|t| {
            next.push(t);
            0
        });
        while let Some(s) = next.pop() {
            if called.insert(s) {
                set.state_body(s, |t| {
                    next.push(t);
                    0
                });
            }
        }
        called.len()
    }

    #[test]
    fn liveness_in_closed_form_equals_the_search() {
        let mut checked = 0;
        for n in 0..=4usize {
            for required in 0..(1u32 << n) {
                for extra in [false, true] {
                    for min in 0..=6u64 {
                        for max in [None, Some(0), Some(1), Some(2), Some(3), Some(5)] {
                            let set = AnyOrder {
                                name: "t".into(),
                                members: (0..n)
                                    .map(|k| AnyOrderMember {
                                        first: 2 * k,
                                        later: 2 * k + 1,
                                        required: required >> k & 1 == 1,
                                    })
                                    .collect(),
                                extra: extra.then_some((100, 101)),
                                min,
                                max,
                            };
                            assert_eq!(set.live_states(), states_called(&set), "{set:?}");
                            let mut memo = HashMap::new();
                            for mask in 0..(1u32 << n) {
                                for e in 0..=set.cap() {
                                    let s = (mask, e);
                                    if set.max.is_some_and(|mx| set.total(s) > mx) {
                                        continue; // never reached: every step checks the room
                                    }
                                    assert_eq!(set.is_live(s), live_by_search(&set, s, &mut memo), "{set:?} at {s:?}");
                                    checked += 1;
                                }
                            }
                        }
                    }
                }
            }
        }
        assert!(checked > 10_000, "{checked}");
    }
}
