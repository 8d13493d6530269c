//! Object members in any order, each declared property at most once, with
//! the member count tracked where `minProperties`/`maxProperties` need it.
//!
//! Each member (name, colon, value) is one rule, with a twin that starts
//! with the separator; the object's items are an [`AnyOrder`] set over
//! them, whose states (the properties seen, and the extra members counted)
//! the compiler turns into rules as it meets them. Only states from which
//! the object can still be completed are made, so a required property can
//! never be left out.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use sluicegate_core::{AnyOrder, AnyOrderMember, CompileError, Expr, Rule, RuleId};

use super::{seq, Builder, Items, Member, OBJECT_STATE_LIMIT, SMALL_OBJECT_RESERVE, SMALL_OBJECT_STATES};

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
        if members.len() > AnyOrder::MAX_MEMBERS {
            return Ok(None);
        }
        // Each member (name, colon, value) is one rule shared by every
        // state, with a twin that starts with the separator: a state is
        // only a few calls, and whitespace states are shared too.
        let colon = self.colon();
        let sep = self.comma();
        let mut rules = Vec::new();
        for (k, m) in members.iter().enumerate() {
            // Built as a sequence of three, which `MemberSetObject::is` reads.
            let body = Expr::Seq(vec![m.key.clone(), colon.clone(), m.value.clone()]);
            let later = seq(vec![sep.clone(), body.clone()]);
            rules.push(AnyOrderMember {
                first: self.add_rule(&format!("{}:member{k}", c.ptr), Some(body), false),
                later: self.add_rule(&format!("{}:member{k},", c.ptr), Some(later), false),
                required: m.required,
            });
        }
        let extra = self.extra_rule_id(extra.clone(), &c.ptr).map(|first| {
            let later = seq(vec![sep, Expr::Rule(first)]);
            (first, self.add_rule(&format!("{}:extra,", c.ptr), Some(later), false))
        });
        let set = AnyOrder { name: c.ptr.clone(), members: rules, extra, min: c.min_count, max: c.max_count };
        let bound = set.states_bound();
        let reserve = if bound <= SMALL_OBJECT_STATES { 0 } else { SMALL_OBJECT_RESERVE };
        if bound > OBJECT_STATE_LIMIT || bound.saturating_add(reserve) > self.member_states_left {
            return Ok(None);
        }
        let start = (0, 0);
        if !set.is_live(start) {
            return Err(CompileError::Empty);
        }
        self.member_states_left -= set.live_states();
        // Its states become rules as the compiler meets them.
        let member_rules = set.members.iter().map(|m| m.first).collect();
        let has_members = !set.first(|_| 0).is_empty();
        let items =
            Items { some: has_members.then(|| Expr::AnyOrder(Arc::new(set.clone()))), empty: set.accepting(start) };
        Ok(Some((items, member_rules)))
    }
}
