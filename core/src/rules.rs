//! Rule construction: the automaton of each grammar rule, from its IR
//! expression with the rules it references inlined or called.
//!
//! A rule gets its index when a built rule first calls it (or, for the
//! start rule, first of all); its automaton is built later, all at once
//! ([`crate::compiled::CompiledGrammar::new`]) or on the first call that
//! enters it (large grammars: most of their rules are never used by one
//! output). [`BuildState`] is what carries over from one build to the next.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use regex_syntax::hir::{Hir, Repetition};

use crate::any_order::{AnyOrder, AnyOrderState};
use crate::compiled::BuiltRule;
use crate::dfa::{call_marker, ByteDfa, DfaLimits};
use crate::error::CompileError;
use crate::ir::{Expr, Grammar, RuleId};
use crate::limits::{self, Limit, Limits};
use crate::shared::KeyWriter;

/// A rule index: its name, and its automaton once built.
#[derive(Debug)]
pub(crate) struct RuleSlot {
    pub name: String,
    pub built: OnceLock<Arc<BuiltRule>>,
}

/// Whether a reference to `rule` is a call rather than inlined: it would
/// recurse, or the rule is marked not to inline, or the build calls every
/// reference (`inline` false).
fn wants_call(rule: &crate::ir::Rule, recursive: bool, inline: bool) -> bool {
    recursive || !rule.inline || !inline
}

/// Where a rule's automaton comes from.
pub(crate) enum Source {
    Rule(RuleId),
    /// An intersection or difference, computed when it was first met.
    Product(Option<Arc<ByteDfa>>),
}

/// What a reference to a rule becomes ([`RuleBuilder::reference`]).
enum Reference<'g> {
    /// A call of the rule with this index.
    Call(usize),
    /// The rule's body, inlined.
    Inline(&'g Expr),
}

/// What carries over between the builds of one grammar's rules.
pub(crate) struct BuildState {
    /// Expression nodes left before inlining has made the expressions of
    /// this grammar too large (inlining copies a rule into every use).
    nodes_left: usize,
    max_nodes: usize,
    /// Whether references are inlined where they do not recurse (a build
    /// that failed for size is tried again with every reference a call).
    pub inline: bool,
    /// The source of each rule index.
    pub sources: Vec<Source>,
    by_rule: HashMap<RuleId, usize>,
    /// Products already built, by expression: an intersection used in many
    /// places (the key language of extra members, in every member slot of
    /// an object) is one rule (`None`: the product is empty).
    products: Vec<(Expr, Option<usize>)>,
    /// Alternations of products whose union was too large for one
    /// automaton: their products stay rules of their own.
    unions_apart: Vec<Expr>,
    /// Alternations of members keyed by products, by expression: what
    /// [`RuleBuilder::keyed_members`] made of each (`None`: kept apart).
    keyed: Vec<(Expr, Option<Option<usize>>)>,
    /// Bytes of the automaton tables built so far.
    pub total_bytes: usize,
    /// The states of [`AnyOrder`] sets met so far: rule `grammar.rules.len() + k`
    /// is state `k` here (made on first reference, never inlined).
    states: Vec<(Arc<AnyOrder>, AnyOrderState)>,
    state_ids: HashMap<(usize, AnyOrderState), RuleId>,
    /// The intersections and differences [`RuleBuilder::build_products`]
    /// found empty, by address in the grammar.
    empty_products: std::collections::HashSet<usize>,
}

impl BuildState {
    pub fn new(resources: &Limits, inline: bool) -> Self {
        BuildState {
            nodes_left: resources.max_expr_nodes,
            max_nodes: resources.max_expr_nodes,
            inline,
            sources: Vec::new(),
            by_rule: HashMap::new(),
            products: Vec::new(),
            unions_apart: Vec::new(),
            keyed: Vec::new(),
            total_bytes: 0,
            states: Vec::new(),
            state_ids: HashMap::new(),
            empty_products: Default::default(),
        }
    }
}

/// One build: the grammar, the state carried over and the rule indices
/// handed out so far.
pub(crate) struct RuleBuilder<'g> {
    grammar: &'g Grammar,
    limits: &'g DfaLimits,
    st: &'g mut BuildState,
    slots: &'g boxcar::Vec<RuleSlot>,
    /// Whether [`RuleBuilder::hir`] counts the nodes it visits: not after
    /// [`RuleBuilder::write_key`] has counted them for the same expression.
    counting: bool,
}

impl<'g> RuleBuilder<'g> {
    pub fn new(
        grammar: &'g Grammar,
        limits: &'g DfaLimits,
        st: &'g mut BuildState,
        slots: &'g boxcar::Vec<RuleSlot>,
    ) -> Self {
        RuleBuilder { grammar, limits, st, slots, counting: true }
    }

    /// The index of the start rule (the first one handed out).
    pub fn start(&mut self) -> Result<usize, CompileError> {
        self.rule_index(self.grammar.start)
    }

    /// Build the automaton of rule index `i`, handing out indices to the
    /// rules it calls. The error's flag says whether building with every
    /// reference as a call might succeed.
    pub fn build_dfa(&mut self, i: usize) -> Result<Arc<ByteDfa>, (CompileError, bool)> {
        limits::check_time().map_err(|e| (e, false))?;
        let dfa = match &mut self.st.sources[i] {
            Source::Rule(r) if *r >= self.grammar.rules.len() => {
                let r = *r;
                let (set, state) = self.st.states[r - self.grammar.rules.len()].clone();
                let body = set.state_body(state, |t| self.state_rule(&set, t));
                match self.call_only(r, &body).map_err(|e| (e, false))? {
                    Some(dfa) => Arc::new(dfa),
                    None => self.automaton(&body, &mut vec![r], true).map_err(|e| (e, true))?,
                }
            }
            Source::Rule(r) => {
                let r = *r;
                let body = &self.grammar.rules[r].body;
                let built = match self.call_only(r, body).map_err(|e| (e, false))? {
                    Some(dfa) => Some(dfa),
                    None => self.joined(r, body).map_err(|e| (e, true))?,
                };
                match built {
                    Some(dfa) => Arc::new(dfa),
                    None => self.automaton(body, &mut vec![r], true).map_err(|e| (e, true))?,
                }
            }
            Source::Product(dfa) => {
                dfa.take().ok_or_else(|| (CompileError::Invalid("product built twice".into()), false))?
            }
        };
        self.st.total_bytes += dfa.table_bytes();
        if self.st.total_bytes > self.limits.max_total_bytes {
            let detail = format!("automaton tables of {} rules: {} bytes", i + 1, self.st.total_bytes);
            return Err((limits::exceeded(Limit::GrammarTableBytes, self.limits.max_total_bytes, detail), false));
        }
        Ok(dfa)
    }

    /// Build every intersection and difference of the grammar now (they
    /// are its costly automata, and the ones a grammar cannot be refused
    /// for later: a nested one, or one that recurses, is an error here);
    /// their rule indices.
    pub fn build_products(&mut self) -> Result<Vec<usize>, CompileError> {
        let grammar = self.grammar;
        let mut built = Vec::new();
        let mut todo: Vec<&Expr> = grammar.rules.iter().map(|r| &r.body).collect();
        while let Some(e) = todo.pop() {
            match e {
                Expr::Regular(_) | Expr::Rule(_) | Expr::AnyOrder(_) => {}
                Expr::Alt(items) => {
                    limits::check_time()?;
                    match self.union_rule(e, true)? {
                        Some(Some(i)) if !built.contains(&i) => built.push(i),
                        Some(Some(_)) => {}
                        Some(None) => {
                            self.st.empty_products.insert(e as *const Expr as usize);
                        }
                        None if keyed_alternation(items) => {
                            // Keyed members: their keys become one rule with
                            // their values when the alternation is built
                            // (`keyed_members`), not rules of their own.
                            for x in items {
                                let Some((head, rest)) = product_head(x) else {
                                    todo.push(x);
                                    continue;
                                };
                                match self.shared_product(head) {
                                    Ok(_) => {}
                                    Err(CompileError::Empty) => {
                                        self.st.empty_products.insert(head as *const Expr as usize);
                                    }
                                    Err(err) => return Err(err),
                                }
                                todo.extend(rest);
                            }
                        }
                        None => todo.extend(items),
                    }
                }
                Expr::Seq(items) => todo.extend(items),
                Expr::Repeat { expr, .. } => todo.push(expr),
                Expr::Intersect(_) | Expr::Exclude { .. } => {
                    limits::check_time()?;
                    match self.product_index(e, true)? {
                        Some(i) if !built.contains(&i) => built.push(i),
                        Some(_) => {}
                        None => {
                            self.st.empty_products.insert(e as *const Expr as usize);
                        }
                    }
                }
            }
        }
        Ok(built)
    }

    /// The rule indices of the rules that would be built as automata of
    /// their own (not inlined: marked so, or the start) and weigh at least
    /// `min_weight` with what they inline ([`crate::ir::hir_weight`], calls
    /// weighing 1), or are marked [`crate::ir::Rule::eager`]: their automata
    /// are large, or built many at once, so a grammar built on first use
    /// builds them at compile time rather than inside a mask. Fails
    /// with [`CompileError::Empty`] when one of those rules matches nothing
    /// whatever its calls match (as building it would: a grammar built
    /// whole is refused for it too). Call after [`RuleBuilder::build_products`].
    pub fn heavy_rules(&mut self, min_weight: u64) -> Result<Vec<usize>, CompileError> {
        let grammar = self.grammar;
        let mut survey =
            Survey { grammar, empty_products: &self.st.empty_products, memo: vec![None; grammar.rules.len()] };
        let mut heavy = Vec::new();
        for (r, rule) in grammar.rules.iter().enumerate() {
            if rule.inline && r != grammar.start {
                continue;
            }
            let (weight, empty) = survey.expr(&rule.body);
            if empty {
                return Err(CompileError::Empty);
            }
            if weight >= min_weight || rule.eager {
                heavy.push(r);
            }
        }
        heavy.into_iter().map(|r| self.rule_index(r)).collect()
    }

    /// Hand out the next rule index, for `name` built from `source`.
    fn new_index(&mut self, name: String, source: Source) -> Result<usize, CompileError> {
        let i = self.st.sources.len();
        if i >= crate::dfa::MAX_CALLED_RULES {
            return Err(CompileError::TooLarge(format!("more than {} called rules", crate::dfa::MAX_CALLED_RULES)));
        }
        self.st.sources.push(source);
        let slot = self.slots.push(RuleSlot { name, built: OnceLock::new() });
        debug_assert_eq!(slot, i, "rule indices and their slots are handed out together");
        Ok(i)
    }

    fn rule_index(&mut self, r: RuleId) -> Result<usize, CompileError> {
        if let Some(&i) = self.st.by_rule.get(&r) {
            return Ok(i);
        }
        let name = match self.grammar.rules.get(r) {
            Some(rule) => rule.name.clone(),
            None => match self.st.states.get(r - self.grammar.rules.len()) {
                Some((set, (mask, extras))) => format!("{}:members{mask:x}.{extras}", set.name),
                None => return Err(CompileError::Invalid(format!("reference to undefined rule #{r}"))),
            },
        };
        let i = self.new_index(name, Source::Rule(r))?;
        self.st.by_rule.insert(r, i);
        Ok(i)
    }

    /// The rule id of state `s` of `set` (past the grammar's own rules),
    /// made on first use.
    fn state_rule(&mut self, set: &Arc<AnyOrder>, s: AnyOrderState) -> RuleId {
        let st = &mut *self.st;
        let n = self.grammar.rules.len();
        *st.state_ids.entry((Arc::as_ptr(set) as usize, s)).or_insert_with(|| {
            st.states.push((Arc::clone(set), s));
            n + st.states.len() - 1
        })
    }

    /// The non-empty member lists of `set` from its start, as an expression
    /// that calls its state rules.
    fn any_order_items(&mut self, set: &Arc<AnyOrder>) -> Expr {
        Expr::Alt(set.first(|t| self.state_rule(set, t)))
    }

    /// The regular expression of `e`, with calls (as marker bytes) where
    /// inlining would recurse. `calls_ok` is false inside intersections.
    fn hir(&mut self, e: &Expr, path: &mut Vec<RuleId>, calls_ok: bool) -> Result<Hir, CompileError> {
        if self.counting {
            self.count_node()?;
        }
        if let Some(union) = self.union_rule(e, calls_ok)? {
            return Ok(call_hir(union));
        }
        Ok(match e {
            Expr::Regular(h) => Hir::clone(h),
            Expr::Seq(items) => {
                Hir::concat(items.iter().map(|x| self.hir(x, path, calls_ok)).collect::<Result<_, _>>()?)
            }
            Expr::Alt(items) => match self.keyed_members(e, path, calls_ok)? {
                Some(keyed) => {
                    let mut alts = vec![call_hir(keyed)];
                    for x in items.iter().filter(|x| product_head(x).is_none()) {
                        alts.push(self.hir(x, path, calls_ok)?);
                    }
                    Hir::alternation(alts)
                }
                None => Hir::alternation(items.iter().map(|x| self.hir(x, path, calls_ok)).collect::<Result<_, _>>()?),
            },
            Expr::Repeat { expr, min, max } => {
                if max.is_some_and(|m| m < *min) {
                    return Err(CompileError::Invalid(format!("repetition {{{min},{max:?}}} has max < min")));
                }
                Hir::repetition(Repetition {
                    min: *min,
                    max: *max,
                    greedy: true,
                    sub: Box::new(self.hir(expr, path, calls_ok)?),
                })
            }
            Expr::Rule(r) => match self.reference(*r, path, calls_ok)? {
                Reference::Call(idx) => Hir::literal(call_marker(idx).to_vec()),
                Reference::Inline(body) => {
                    path.push(*r);
                    let h = self.hir(body, path, calls_ok);
                    path.pop();
                    h?
                }
            },
            Expr::AnyOrder(set) => {
                let items = self.any_order_items(set);
                self.hir(&items, path, calls_ok)?
            }
            // An empty intersection contributes nothing to its context.
            Expr::Intersect(_) | Expr::Exclude { .. } => call_hir(self.product_index(e, calls_ok)?),
        })
    }

    /// Count one expression node against the build's limit.
    fn count_node(&mut self) -> Result<(), CompileError> {
        if self.st.nodes_left == 0 {
            let detail = "expressions after inlining rules into their uses".to_string();
            return Err(limits::exceeded(Limit::ExprNodes, self.st.max_nodes, detail));
        }
        self.st.nodes_left -= 1;
        Ok(())
    }

    /// What a reference to rule `r` becomes at this point of the inlining
    /// `path`: a call, or the rule's body inlined.
    fn reference(&mut self, r: RuleId, path: &[RuleId], calls_ok: bool) -> Result<Reference<'g>, CompileError> {
        let grammar = self.grammar;
        if r >= grammar.rules.len() && r - grammar.rules.len() < self.st.states.len() {
            // A state of an `AnyOrder` set: always a call.
            return match calls_ok {
                true => Ok(Reference::Call(self.rule_index(r)?)),
                false => Err(CompileError::Unsupported("object members inside an intersection or exclusion".into())),
            };
        }
        let rule =
            grammar.rules.get(r).ok_or_else(|| CompileError::Invalid(format!("reference to undefined rule #{r}")))?;
        let recursive = path.contains(&r);
        if self.wants_call(rule, recursive) && calls_ok {
            Ok(Reference::Call(self.rule_index(r)?))
        } else if recursive {
            Err(CompileError::Unsupported(format!(
                "rule {:?} is recursive inside an intersection or exclusion",
                rule.name
            )))
        } else {
            Ok(Reference::Inline(&rule.body))
        }
    }

    /// The rule index of the product `e` (built on first use), or `None`
    /// when it is empty.
    fn product_index(&mut self, e: &Expr, calls_ok: bool) -> Result<Option<usize>, CompileError> {
        if !calls_ok {
            // Nested products are computed inside the outer product.
            return Err(CompileError::Unsupported("nested intersections".into()));
        }
        if let Some((_, idx)) = self.st.products.iter().find(|(x, _)| x == e) {
            return Ok(*idx);
        }
        let idx = match self.shared_product(e) {
            Err(CompileError::Empty) => None,
            Err(err) => return Err(err),
            Ok(dfa) => {
                let idx = self.st.sources.len();
                Some(self.new_index(format!("product#{idx}"), Source::Product(Some(dfa)))?)
            }
        };
        self.st.products.push((e.clone(), idx));
        Ok(idx)
    }

    /// An alternation of two or more products (the branches of a `oneOf`
    /// over overlapping strings: each without the others) as one product
    /// rule, the union of their automata: `Some(index)`, or `Some(None)`
    /// when it matches nothing. `None` for any other expression, inside a
    /// product, or where the union would be too large
    /// ([`MAX_UNION_GROWTH`]; the products then stay rules of their own).
    /// A configuration set there holds one state instead of one per branch,
    /// so a mask computes one entry instead of one per branch.
    fn union_rule(&mut self, e: &Expr, calls_ok: bool) -> Result<Option<Option<usize>>, CompileError> {
        let Expr::Alt(items) = e else { return Ok(None) };
        if !calls_ok || !product_union(items) || self.st.unions_apart.contains(e) {
            return Ok(None);
        }
        match self.product_index(e, calls_ok) {
            Ok(idx) => Ok(Some(idx)),
            Err(CompileError::Unsupported(m)) if m == UNION_TOO_LARGE => {
                self.st.unions_apart.push(e.clone());
                Ok(None)
            }
            Err(err) => Err(err),
        }
    }

    /// An alternation in which two or more items are a product followed by
    /// more (the members of an object whose keys are intersections or
    /// differences: one per set of `patternProperties` a name matches, and
    /// the names none matches, each followed by its own value): those items
    /// as one rule, the union of their keys with each key's rest joined on
    /// where it accepts ([`ByteDfa::union_then`]). A configuration set at a
    /// key's start then holds one state instead of one per key, so a mask
    /// walks the trie once instead of once per key. `None` for any other
    /// expression, inside a product, or where the keys overlap or their
    /// union would be too large (the items then stay as they are).
    /// `Some(rule)` (`Some(None)`: every key is empty) stands for the items
    /// with a product head; the others stay items of the alternation.
    fn keyed_members(
        &mut self,
        e: &Expr,
        path: &mut Vec<RuleId>,
        calls_ok: bool,
    ) -> Result<Option<Option<usize>>, CompileError> {
        let Expr::Alt(items) = e else { return Ok(None) };
        if !calls_ok || !keyed_alternation(items) {
            return Ok(None);
        }
        if let Some(&(_, known)) = self.st.keyed.iter().find(|(x, _)| x == e) {
            return Ok(known);
        }
        let built = self.build_keyed_members(items, path)?;
        self.st.keyed.push((e.clone(), built));
        Ok(built)
    }

    /// The rule of [`RuleBuilder::keyed_members`] for the items of `items`
    /// with a product head.
    fn build_keyed_members(
        &mut self,
        items: &[Expr],
        path: &mut Vec<RuleId>,
    ) -> Result<Option<Option<usize>>, CompileError> {
        let (mut heads, mut tails) = (Vec::new(), Vec::new());
        for (head, rest) in items.iter().filter_map(product_head) {
            let head = match self.shared_product(head) {
                Ok(d) => d,
                Err(CompileError::Empty) => continue,
                Err(err) => return Err(err),
            };
            let tail = match self.automaton(&Expr::Seq(rest.to_vec()), path, true) {
                Ok(d) => d,
                Err(CompileError::Empty) => continue,
                Err(err) => return Err(err),
            };
            heads.push(head);
            tails.push(tail);
        }
        if heads.is_empty() {
            return Ok(Some(None));
        }
        let tail_states: usize = tails.iter().map(|d| d.num_states()).sum();
        let max = self.union_max_states(&heads, tail_states);
        let head_refs: Vec<&ByteDfa> = heads.iter().map(|d| &**d).collect();
        let tail_refs: Vec<&ByteDfa> = tails.iter().map(|d| &**d).collect();
        let Some(dfa) = ByteDfa::union_then(&head_refs, &tail_refs, max, self.limits.max_total_bytes)? else {
            return Ok(None);
        };
        let idx = self.st.sources.len();
        let rule = self.new_index(format!("members#{idx}"), Source::Product(Some(Arc::new(dfa))))?;
        Ok(Some(Some(rule)))
    }

    /// Most states a union of `parts` may have ([`MAX_UNION_GROWTH`] per
    /// state of the parts), with `more` states laid out beside them.
    fn union_max_states(&self, parts: &[Arc<ByteDfa>], more: usize) -> usize {
        let states: usize = parts.iter().map(|d| d.num_states()).sum();
        (states * MAX_UNION_GROWTH + more).min(self.limits.max_states)
    }

    /// Spell `e` as [`RuleBuilder::hir`] would build it, into a key of the
    /// shared automata: the same nodes in the same order, so the same
    /// references become calls, the same products are built and the same
    /// nodes are counted, but no expression is built.
    fn write_key(
        &mut self,
        e: &Expr,
        path: &mut Vec<RuleId>,
        calls_ok: bool,
        key: &mut KeyWriter,
    ) -> Result<(), CompileError> {
        if self.counting {
            self.count_node()?;
        }
        if let Some(union) = self.union_rule(e, calls_ok)? {
            write_call(key, union);
            return Ok(());
        }
        match e {
            Expr::Regular(h) => key.regular(h),
            Expr::Alt(items) => match self.keyed_members(e, path, calls_ok)? {
                Some(keyed) => {
                    let others: Vec<&Expr> = items.iter().filter(|x| product_head(x).is_none()).collect();
                    key.list(true, 1 + others.len());
                    write_call(key, keyed);
                    for x in others {
                        self.write_key(x, path, calls_ok, key)?;
                    }
                }
                None => self.write_list(true, items, path, calls_ok, key)?,
            },
            Expr::Seq(items) => self.write_list(false, items, path, calls_ok, key)?,
            Expr::Repeat { expr, min, max } => {
                if max.is_some_and(|m| m < *min) {
                    return Err(CompileError::Invalid(format!("repetition {{{min},{max:?}}} has max < min")));
                }
                key.repeat(*min, *max);
                self.write_key(expr, path, calls_ok, key)?;
            }
            Expr::Rule(r) => match self.reference(*r, path, calls_ok)? {
                Reference::Call(idx) => key.call(idx as u32),
                Reference::Inline(body) => {
                    path.push(*r);
                    let written = self.write_key(body, path, calls_ok, key);
                    path.pop();
                    written?
                }
            },
            Expr::AnyOrder(set) => {
                let items = self.any_order_items(set);
                self.write_key(&items, path, calls_ok, key)?
            }
            Expr::Intersect(_) | Expr::Exclude { .. } => write_call(key, self.product_index(e, calls_ok)?),
        }
        Ok(())
    }

    /// [`RuleBuilder::write_key`] of a sequence or an alternation of `items`.
    fn write_list(
        &mut self,
        alternation: bool,
        items: &[Expr],
        path: &mut Vec<RuleId>,
        calls_ok: bool,
        key: &mut KeyWriter,
    ) -> Result<(), CompileError> {
        key.list(alternation, items.len());
        items.iter().try_for_each(|x| self.write_key(x, path, calls_ok, key))
    }

    /// The automaton of `e` at inlining `path`: looked up among the shared
    /// automata by its key first, so that on a hit no expression is built.
    fn automaton(&mut self, e: &Expr, path: &mut Vec<RuleId>, calls_ok: bool) -> Result<Arc<ByteDfa>, CompileError> {
        let mut key = KeyWriter::new();
        self.write_key(e, path, calls_ok, &mut key)?;
        let limits = self.limits;
        // The key walk counted the nodes; building them again does not.
        let counting = std::mem::replace(&mut self.counting, false);
        let built = match key.finish() {
            Some(key) => crate::shared::automaton_for(key, limits, || self.hir(e, path, calls_ok)),
            None => self.hir(e, path, calls_ok).and_then(|h| ByteDfa::from_hir(&h, limits).map(Arc::new)),
        };
        self.counting = counting;
        built
    }

    /// The product `e` ([`RuleBuilder::product`]), looked up among the
    /// shared automata by its operands first: the same object definitions
    /// recur across schemas, each with the key language of its extra
    /// members.
    fn shared_product(&mut self, e: &Expr) -> Result<Arc<ByteDfa>, CompileError> {
        let mut key = KeyWriter::new();
        self.write_product_key(e, &mut key)?;
        let Some(key) = key.finish() else { return self.product(e) };
        let limits = self.limits;
        // The key walk counted the nodes; building them again does not.
        let counting = std::mem::replace(&mut self.counting, false);
        let built = crate::shared::dfa_for(key, limits, || self.product(e));
        self.counting = counting;
        built
    }

    /// Spell a product and its operands as [`RuleBuilder::product`] builds them.
    fn write_product_key(&mut self, e: &Expr, key: &mut KeyWriter) -> Result<(), CompileError> {
        match e {
            Expr::Intersect(items) => {
                key.product(false, items.len());
                items.iter().try_for_each(|x| self.write_product_key(x, key))
            }
            Expr::Exclude { base, excluded } => {
                key.product(true, 2);
                self.write_product_key(base, key)?;
                self.write_product_key(excluded, key)
            }
            Expr::Alt(items) if product_union(items) => {
                key.union(items.len());
                items.iter().try_for_each(|x| self.write_product_key(x, key))
            }
            other => self.write_key(other, &mut Vec::new(), false, key),
        }
    }

    /// [`wants_call`] with this build's inlining.
    fn wants_call(&self, rule: &crate::ir::Rule, recursive: bool) -> bool {
        wants_call(rule, recursive, self.st.inline)
    }

    /// The automaton of rule `r` built from its call edges alone, when its
    /// body is made only of calls ([`crate::calls`]).
    fn call_only(&mut self, r: RuleId, body: &Expr) -> Result<Option<ByteDfa>, CompileError> {
        // At the top of `r`'s body the inlining path is `[r]`.
        // (`RuleBuilder::wants_call`, without borrowing `self`, which `rule_index` needs.)
        let (grammar, inline) = (self.grammar, self.st.inline);
        let states = grammar.rules.len()..grammar.rules.len() + self.st.states.len();
        let is_call = |x: RuleId| match grammar.rules.get(x) {
            Some(rule) => wants_call(rule, x == r, inline),
            None => states.contains(&x),
        };
        crate::calls::call_only(body, &is_call, |callee| self.rule_index(callee).map(|i| i as u32))
    }

    /// A rule `prefix · rest` whose `rest` is a sequence, typically an
    /// object member after its separator: `rest` alone is often built
    /// already (the member without a separator), so it comes from the shared
    /// automata and the prefix is joined on ([`ByteDfa::concat_disjoint`])
    /// instead of determinising the whole rule again.
    fn joined(&mut self, r: RuleId, body: &Expr) -> Result<Option<ByteDfa>, CompileError> {
        let Expr::Seq(items) = body else { return Ok(None) };
        let [prefix, rest @ Expr::Seq(_)] = items.as_slice() else { return Ok(None) };
        let a = self.automaton(prefix, &mut vec![r], true)?;
        let b = self.automaton(rest, &mut vec![r], true)?;
        Ok(ByteDfa::concat_disjoint(&a, &b))
    }

    fn regular_dfa(&mut self, e: &Expr) -> Result<Arc<ByteDfa>, CompileError> {
        match e {
            Expr::Intersect(_) | Expr::Exclude { .. } => self.product(e),
            _ => self.automaton(e, &mut Vec::new(), false),
        }
    }

    /// An intersection where one operand is a count of units (a string body
    /// under `minLength`/`maxLength`: `"` then 3 to 255 characters then `"`)
    /// built by [`crate::length::product_counted`] from the other operands'
    /// product, without a state per count where the count no longer
    /// matters. Literal ends every operand shares (the quotes) are taken off
    /// and joined back on. `None` where the shapes do not fit.
    fn counted_product(&mut self, items: &[Expr]) -> Result<Option<ByteDfa>, CompileError> {
        if items.len() < 2 {
            return Ok(None);
        }
        let split: Vec<_> = items.iter().map(literal_ends).collect();
        let (prefix, _, suffix) = split[0];
        if split.iter().any(|&(p, _, s)| p != prefix || s != suffix) {
            return Ok(None);
        }
        let counter = split.iter().enumerate().find_map(|(i, (_, body, _))| match body {
            Expr::Regular(h) => match h.kind() {
                regex_syntax::hir::HirKind::Repetition(r) if r.max.is_some_and(|m| m <= crate::length::MAX_COUNT) => {
                    Some((i, r))
                }
                _ => None,
            },
            _ => None,
        });
        let Some((counter, rep)) = counter else { return Ok(None) };
        let unit = ByteDfa::from_hir(&rep.sub, self.limits)?;
        if !crate::length::prefix_free(&unit) {
            return Ok(None);
        }
        let others: Vec<Expr> =
            split.iter().enumerate().filter(|&(i, _)| i != counter).map(|(_, x)| x.1.clone()).collect();
        let rest = match others.len() {
            1 => self.regular_dfa(&others[0])?,
            _ => self.product(&Expr::Intersect(others))?,
        };
        let (count, ends) = ((rep.min, rep.max.unwrap_or(0)), (prefix, suffix));
        crate::length::product_counted(&rest, &unit, count, ends, self.limits)
    }

    /// The product of every operand with the next.
    fn plain_intersection(&mut self, items: &[Expr]) -> Result<Arc<ByteDfa>, CompileError> {
        let mut it = items.iter();
        let first = it.next().ok_or_else(|| CompileError::Invalid("empty intersection".into()))?;
        let mut acc = self.regular_dfa(first)?;
        for x in it {
            let d = self.regular_dfa(x)?;
            acc = Arc::new(ByteDfa::product(&acc, &d, false, self.limits)?);
        }
        Ok(acc)
    }

    fn product(&mut self, e: &Expr) -> Result<Arc<ByteDfa>, CompileError> {
        match e {
            Expr::Intersect(items) => {
                if let Some(dfa) = self.counted_product(items)? {
                    if crate::dfa::CHECK_AUTOMATA.load(std::sync::atomic::Ordering::Relaxed) {
                        let plain = self.plain_intersection(items)?;
                        assert!(dfa.equivalent(&plain), "counted product differs from the plain one: {e:?}");
                    }
                    return Ok(Arc::new(dfa));
                }
                self.plain_intersection(items)
            }
            Expr::Exclude { base, excluded } => {
                let a = self.regular_dfa(base)?;
                let b = match self.regular_dfa(excluded) {
                    Ok(b) => b,
                    Err(CompileError::Empty) => return Ok(a),
                    Err(e) => return Err(e),
                };
                ByteDfa::product(&a, &b, true, self.limits).map(Arc::new)
            }
            Expr::Alt(items) if product_union(items) => {
                let mut parts = Vec::new();
                for x in items {
                    match self.product(x) {
                        Ok(d) => parts.push(d),
                        Err(CompileError::Empty) => {}
                        Err(err) => return Err(err),
                    }
                }
                match parts.as_slice() {
                    [] => Err(CompileError::Empty),
                    [one] => Ok(Arc::clone(one)),
                    _ => {
                        let max = self.union_max_states(&parts, 0);
                        let refs: Vec<&ByteDfa> = parts.iter().map(|d| &**d).collect();
                        match ByteDfa::union(&refs, max, self.limits.max_total_bytes)? {
                            Some(d) => Ok(Arc::new(d)),
                            None => Err(CompileError::Unsupported(UNION_TOO_LARGE.into())),
                        }
                    }
                }
            }
            other => self.regular_dfa(other),
        }
    }
}

/// Whether the items of an alternation are two or more intersections or
/// differences: one product rule, their union ([`RuleBuilder::union_rule`]).
fn product_union(items: &[Expr]) -> bool {
    items.len() > 1 && items.iter().all(|x| matches!(x, Expr::Intersect(_) | Expr::Exclude { .. }))
}

/// A sequence that starts with an intersection or difference and goes on
/// (an object member whose key is a product): the product and the rest.
fn product_head(e: &Expr) -> Option<(&Expr, &[Expr])> {
    match e {
        Expr::Seq(parts) => match parts.split_first() {
            Some((head @ (Expr::Intersect(_) | Expr::Exclude { .. }), rest)) if !rest.is_empty() => Some((head, rest)),
            _ => None,
        },
        _ => None,
    }
}

/// Whether two or more items of an alternation have a product head
/// ([`RuleBuilder::keyed_members`]).
fn keyed_alternation(items: &[Expr]) -> bool {
    items.iter().filter(|x| product_head(x).is_some()).nth(1).is_some()
}

/// The regular expression of a call of rule `idx`, or of nothing (`None`:
/// an empty product or union, which contributes nothing to its context).
fn call_hir(idx: Option<usize>) -> Hir {
    match idx {
        Some(idx) => Hir::literal(call_marker(idx).to_vec()),
        None => Hir::fail(),
    }
}

/// [`call_hir`] spelt into a key of the shared automata.
fn write_call(key: &mut KeyWriter, idx: Option<usize>) {
    match idx {
        Some(idx) => key.call(idx as u32),
        None => key.fail(),
    }
}

/// Most states a union of products may have, per state of its parts
/// ([`RuleBuilder::union_rule`]); the branches of a `oneOf` over patterns
/// track the same words, so their union is about as large as one of them.
const MAX_UNION_GROWTH: usize = 4;

/// The error a union too large for one automaton fails with, inside this module.
const UNION_TOO_LARGE: &str = "union of products too large for one automaton";

/// The bytes of `e` when it is one literal string.
fn literal_bytes(e: &Expr) -> Option<&[u8]> {
    match e {
        Expr::Regular(h) => match h.kind() {
            regex_syntax::hir::HirKind::Literal(lit) => Some(&lit.0),
            regex_syntax::hir::HirKind::Empty => Some(&[]),
            _ => None,
        },
        _ => None,
    }
}

/// `e` as `prefix body suffix` with literal ends (a JSON string: its quotes
/// and its body); the ends are empty for any other expression.
fn literal_ends(e: &Expr) -> (&[u8], &Expr, &[u8]) {
    if let Expr::Seq(parts) = e {
        if let [first, body, last] = parts.as_slice() {
            if let (Some(p), Some(s)) = (literal_bytes(first), literal_bytes(last)) {
                return (p, body, s);
            }
        }
    }
    (&[], e, &[])
}

/// The weight and emptiness of expressions with the rules they would
/// inline ([`RuleBuilder::heavy_rules`]), memoised per inlined rule.
struct Survey<'g> {
    grammar: &'g Grammar,
    /// The intersections and differences found empty, by address in the grammar.
    empty_products: &'g std::collections::HashSet<usize>,
    /// Per rule: `Some((weight, empty))` once surveyed, `Some((1, false))`
    /// while it is (a recursive reference is a call).
    memo: Vec<Option<(u64, bool)>>,
}

impl Survey<'_> {
    /// The weight of `e` and whether it matches nothing (calls are assumed
    /// to match something, as building its automaton does).
    fn expr(&mut self, e: &Expr) -> (u64, bool) {
        match e {
            Expr::Regular(h) => (crate::ir::hir_weight(h), h.properties().minimum_len().is_none()),
            Expr::Seq(xs) | Expr::Alt(xs) => {
                let alternation = matches!(e, Expr::Alt(_));
                let (mut weight, mut empty) = (0u64, alternation);
                for x in xs {
                    let (w, x_empty) = self.expr(x);
                    weight = weight.saturating_add(w);
                    empty = if alternation { empty && x_empty } else { empty || x_empty };
                }
                (weight, empty)
            }
            Expr::Repeat { expr, min, max } => {
                let (w, empty) = self.expr(expr);
                (w.saturating_mul(max.unwrap_or(*min).max(1) as u64), empty && *min > 0)
            }
            Expr::Rule(r) => match self.grammar.rules.get(*r) {
                Some(rule) if rule.inline => match self.memo[*r] {
                    Some(known) => known,
                    None => {
                        self.memo[*r] = Some((1, false));
                        let found = self.expr(&rule.body);
                        self.memo[*r] = Some(found);
                        found
                    }
                },
                _ => (1, false),
            },
            Expr::Intersect(_) | Expr::Exclude { .. } => {
                (1, self.empty_products.contains(&(e as *const Expr as usize)))
            }
            Expr::AnyOrder(_) => (1, false),
        }
    }
}
