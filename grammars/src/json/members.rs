//! Object members in any order, each declared property at most once, with
//! the member count tracked where `minProperties`/`maxProperties` need it.
//!
//! The state after some members is the set of declared properties seen so
//! far (a bit mask) and, where counted, the number of extra members (capped).
//! Every state is a small rule entered by a call at the end of the member
//! that leads to it: the rule holds a separator, then a call to one of the
//! remaining members (name, colon and value: one rule per member, shared by
//! every state) followed by a call to the next state. Only states from which
//! the object can still be completed are built, so a required property can
//! never be left out.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use sluicegate_core::{CompileError, Expr, Rule, RuleId};

use super::{seq, star, Builder, Items, Member, OBJECT_STATE_LIMIT, SMALL_OBJECT_RESERVE, SMALL_OBJECT_STATES};

/// The counts an object must meet.
pub(super) struct MemberSets {
    pub min_count: u64,
    pub max_count: Option<u64>,
    pub ptr: String,
}

/// An object built in any order: what identifies it, and its items. Its
/// members are not copied: each is compared with the body of its member
/// rule (name, colon, value), which holds them already.
pub(super) struct MemberSetObject {
    /// The rule of each member without a separator.
    member_rules: Vec<RuleId>,
    required: Vec<bool>,
    extra: Option<Expr>,
    min_count: u64,
    max_count: Option<u64>,
    level: u32,
    items: Items,
}

impl MemberSetObject {
    fn is(&self, rules: &[Rule], members: &[Member], extra: &Option<Expr>, c: &MemberSets, level: u32) -> bool {
        let same_member = |(m, (&r, &required)): (&Member, (&RuleId, &bool))| {
            m.required == required
                && matches!(&rules[r].body, Expr::Seq(body) if body.len() == 3 && body[0] == m.key && body[2] == m.value)
        };
        self.member_rules.len() == members.len()
            && self.min_count == c.min_count
            && self.max_count == c.max_count
            && self.level == level
            && self.extra == *extra
            && members.iter().zip(self.member_rules.iter().zip(&self.required)).all(same_member)
    }
}

/// A hash of what identifies an object (its names, which members are
/// required, its counts and nesting level); equal objects are then found
/// by comparing the rest.
fn object_hash(members: &[Member], c: &MemberSets, level: u32) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for m in members {
        if let Expr::Regular(hir) = &m.key {
            if let regex_syntax::hir::HirKind::Literal(l) = hir.kind() {
                h.write(&l.0);
            }
        }
        m.required.hash(&mut h);
    }
    (members.len(), c.min_count, c.max_count, level).hash(&mut h);
    h.finish()
}

/// A state: the declared properties seen (bit mask) and the extra members
/// counted (0 when not counted).
type State = (u32, u64);

struct Plan<'m> {
    members: &'m [Member],
    has_extra: bool,
    required: u32,
    min: u64,
    max: Option<u64>,
    /// The extra-member count saturates here (0: not counted).
    cap: u64,
    live: HashMap<State, bool>,
}

impl Plan<'_> {
    fn total(&self, (mask, e): State) -> u64 {
        mask.count_ones() as u64 + e
    }

    fn accepting(&self, s: State) -> bool {
        s.0 & self.required == self.required && self.total(s) >= self.min
    }

    /// Extra members repeat without changing the state.
    fn loops(&self, s: State) -> bool {
        self.has_extra && self.max.is_none() && s.1 == self.cap
    }

    fn room(&self, s: State) -> bool {
        self.max.is_none_or(|mx| self.total(s) < mx)
    }

    /// The state after one more extra member, when it is counted.
    fn after_extra(&self, s: State) -> Option<State> {
        (self.has_extra && !self.loops(s) && self.room(s)).then(|| (s.0, (s.1 + 1).min(self.cap)))
    }

    fn after_member(&self, s: State, k: usize) -> Option<State> {
        (s.0 & (1 << k) == 0 && self.room(s)).then(|| (s.0 | 1 << k, s.1))
    }

    /// Whether the object can still be completed from `s`.
    fn is_live(&mut self, s: State) -> bool {
        if let Some(&l) = self.live.get(&s) {
            return l;
        }
        let mut l = self.accepting(s);
        if !l {
            // A loop adds nothing: extras that repeat do not count.
            l = self.after_extra(s).is_some_and(|t| self.is_live(t))
                || (0..self.members.len()).any(|k| self.after_member(s, k).is_some_and(|t| self.is_live(t)));
        }
        self.live.insert(s, l);
        l
    }
}

/// A call to the rule of state `s`, made (and queued) on first use.
fn call(b: &mut Builder<'_>, rules: &mut HashMap<State, RuleId>, todo: &mut Vec<State>, s: State, ptr: &str) -> Expr {
    let r = *rules.entry(s).or_insert_with(|| {
        todo.push(s);
        b.add_rule(&format!("{ptr}:members{:x}.{}", s.0, s.1), None, false)
    });
    Expr::Rule(r)
}

impl Builder<'_> {
    /// The members between the braces, in any order; `None` when the object
    /// would need more than [`OBJECT_STATE_LIMIT`] states. Identical objects
    /// (the copies that `if`/`then` chains and `anyOf` branches make of one
    /// definition) share one set of rules: a schema with 1,249 copies of a
    /// two-member object spent its whole member-set budget on them.
    pub(super) fn member_sets(
        &mut self,
        members: &[Member],
        extra: &Option<Expr>,
        c: &MemberSets,
    ) -> Result<Option<Items>, CompileError> {
        let hash = object_hash(members, c, self.level);
        let level = self.level;
        let rules = &self.rules;
        if let Some(o) =
            self.member_set_objects.get(&hash).and_then(|v| v.iter().find(|o| o.is(rules, members, extra, c, level)))
        {
            return Ok(Some(o.items.clone()));
        }
        let Some((items, member_rules)) = self.new_member_sets(members, extra, c)? else { return Ok(None) };
        self.member_set_objects.entry(hash).or_default().push(MemberSetObject {
            member_rules,
            required: members.iter().map(|m| m.required).collect(),
            extra: extra.clone(),
            min_count: c.min_count,
            max_count: c.max_count,
            level,
            items: items.clone(),
        });
        Ok(Some(items))
    }

    fn new_member_sets(
        &mut self,
        members: &[Member],
        extra: &Option<Expr>,
        c: &MemberSets,
    ) -> Result<Option<(Items, Vec<RuleId>)>, CompileError> {
        let n = members.len();
        if n > 16 {
            return Ok(None);
        }
        let cap = match (extra, c.max_count) {
            (None, _) => 0,
            (Some(_), Some(mx)) => mx,
            (Some(_), None) => c.min_count,
        };
        let bound = (1usize << n).saturating_mul(cap as usize + 1);
        let reserve = if bound <= SMALL_OBJECT_STATES { 0 } else { SMALL_OBJECT_RESERVE };
        if bound > OBJECT_STATE_LIMIT || bound.saturating_add(reserve) > self.member_states_left {
            return Ok(None);
        }
        let required = members.iter().enumerate().filter(|(_, m)| m.required).fold(0u32, |a, (i, _)| a | 1 << i);
        let mut plan = Plan {
            members,
            has_extra: extra.is_some(),
            required,
            min: c.min_count,
            max: c.max_count,
            cap,
            live: HashMap::new(),
        };
        // Each member (name, colon, value) is one rule shared by every
        // state, with a twin that starts with the separator: a state is
        // only a few calls, and whitespace states are shared too.
        let colon = self.colon();
        let sep = self.comma();
        let mut member_rules = Vec::new();
        let mut laters = Vec::new();
        for (k, m) in members.iter().enumerate() {
            // Built as a sequence of three, which `MemberSetObject::is` reads.
            let body = Expr::Seq(vec![m.key.clone(), colon.clone(), m.value.clone()]);
            let later = seq(vec![sep.clone(), body.clone()]);
            member_rules.push(self.add_rule(&format!("{}:member{k}", c.ptr), Some(body), false));
            laters.push(Expr::Rule(self.add_rule(&format!("{}:member{k},", c.ptr), Some(later), false)));
        }
        let firsts: Vec<Expr> = member_rules.iter().map(|&r| Expr::Rule(r)).collect();
        let extra = self.extra_rule(extra.clone(), &c.ptr);
        let extra_later = extra
            .as_ref()
            .map(|x| Expr::Rule(self.add_rule(&format!("{}:extra,", c.ptr), Some(seq(vec![sep, x.clone()])), false)));
        let mut rules: HashMap<State, RuleId> = HashMap::new();
        let mut todo: Vec<State> = Vec::new();
        // The first member has no separator before it.
        let start: State = (0, 0);
        let mut first = Vec::new();
        if plan.accepting(start) {
            first.push(seq(vec![]));
        }
        if let (Some(x), true) = (&extra, plan.room(start)) {
            let t = if plan.loops(start) { start } else { (0, 1.min(cap)) };
            if plan.is_live(t) {
                first.push(seq(vec![x.clone(), call(self, &mut rules, &mut todo, t, &c.ptr)]));
            }
        }
        for (k, member) in firsts.iter().enumerate() {
            if let Some(t) = plan.after_member(start, k).filter(|t| plan.is_live(*t)) {
                first.push(seq(vec![member.clone(), call(self, &mut rules, &mut todo, t, &c.ptr)]));
            }
        }
        if first.is_empty() {
            return Err(CompileError::Empty);
        }
        while let Some(s) = todo.pop() {
            let mut alts = Vec::new();
            if plan.accepting(s) {
                alts.push(seq(vec![]));
            }
            if let (Some(x), Some(t)) = (&extra_later, plan.after_extra(s)) {
                if plan.is_live(t) {
                    alts.push(seq(vec![x.clone(), call(self, &mut rules, &mut todo, t, &c.ptr)]));
                }
            }
            for (k, member) in laters.iter().enumerate() {
                if let Some(t) = plan.after_member(s, k).filter(|t| plan.is_live(*t)) {
                    alts.push(seq(vec![member.clone(), call(self, &mut rules, &mut todo, t, &c.ptr)]));
                }
            }
            let mut body = Expr::Alt(alts);
            if let (Some(x), true) = (&extra_later, plan.loops(s)) {
                body = seq(vec![star(x.clone()), body]);
            }
            let r = rules[&s];
            self.rules[r].body = body;
        }
        self.member_states_left -= rules.len();
        Ok(Some((Items::from_alternatives(first), member_rules)))
    }
}
