//! A compiled constraint: one byte automaton per grammar rule, with call
//! edges where rules recurse, bound to one vocabulary; plus a lazily filled,
//! shared cache of what each automaton state allows.
//!
//! Rules are inlined into their users except where inlining would recurse:
//! such a reference becomes a *call* (a pushdown step). A grammar without
//! recursion therefore compiles to a single DFA, whose masks are a cached
//! copy; recursion costs only at the points where it is used.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use regex_syntax::hir::{Hir, Repetition};

use crate::dfa::{call_marker, ByteDfa, ByteSet, DfaLimits, DEAD};
use crate::error::CompileError;
use crate::ir::{Expr, Grammar, RuleId};
use crate::limits::{self, Budget, Limit, Limits};
use crate::matcher::Matcher;
use crate::pda::{Config, Stacks, ROOT};
use crate::shared::KeyWriter;
use crate::slice::Cut;
use crate::vocab::Vocabulary;

/// Options for compiling a grammar.
#[derive(Debug, Clone)]
pub struct CompileOptions {
    /// Limits on automaton construction.
    pub limits: DfaLimits,
    /// Bytes of token masks the shared cache may hold; states beyond it are
    /// computed on every visit.
    pub mask_cache_bytes: usize,
    /// Wall-clock time compilation may take (checked cooperatively while
    /// automata are built and schemas lowered; see [`crate::limits`]).
    pub time_budget: std::time::Duration,
    /// Grammar size, literal sets and configurations per matcher step.
    pub resources: Limits,
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions {
            limits: DfaLimits::default(),
            mask_cache_bytes: 512 << 20,
            time_budget: std::time::Duration::from_secs(20),
            resources: Limits::default(),
        }
    }
}

#[derive(Debug)]
struct CompiledRule {
    name: String,
    dfa: Arc<ByteDfa>,
    /// Whether some call edge enters this rule (so returns from it matter).
    called: bool,
    /// Time spent building this rule's automaton (its expression, nested
    /// products and determinisation).
    build_time: std::time::Duration,
}

/// What one rule automaton of a compiled constraint is (for profiling).
#[derive(Debug, Clone)]
pub struct RuleSummary {
    /// The grammar rule's name (or `product#N` for an intersection or difference).
    pub name: String,
    /// Automaton states.
    pub states: usize,
    /// Whether some call edge enters the rule.
    pub called: bool,
    /// Whether the rule's automaton calls other rules.
    pub has_calls: bool,
    /// Time spent building the automaton, nested products included.
    pub build_time: std::time::Duration,
}

/// What one automaton state allows, independently of the stack below it.
#[derive(Debug)]
pub(crate) struct StateEntry {
    /// Tokens whose bytes all step inside the state's own rule automaton
    /// (shared with twin states and with other constraints: `futures`).
    pub tokens: Arc<[u32]>,
    /// Trie nodes (below the root) where the walk reaches a state with calls
    /// or a returning state: `(node, global_state, has_calls)`. Tokens
    /// through such nodes may also be allowed by way of the stack.
    pub exits: Vec<(u32, u32, bool)>,
    /// A walk inside a token hit the configuration limit: `tokens` may be
    /// incomplete, and a mask built from it is refused.
    pub overflowed: bool,
}

/// `SLUICEGATE_CHECK_ENTRIES=1`: compute every entry that a slice, a length
/// cut or a class cut serves again with a walk of the whole trie, and panic
/// if the tokens differ or the cut entry has an exit the walk has not.
static CHECK_ENTRIES: std::sync::LazyLock<bool> =
    std::sync::LazyLock::new(|| std::env::var_os("SLUICEGATE_CHECK_ENTRIES").is_some_and(|v| v == "1"));

/// A flag on automaton states in a class-cut walk ([`crate::slice::ClassCut`]):
/// the path so far is made only of the class. State ids stay below it
/// (`CompiledGrammar::new` refuses more than `u32::MAX / 2` states).
const IN_CLASS: u32 = 1 << 31;

/// Most states whose entries one trie walk computes together.
const WALK_TOGETHER: usize = 8;

/// A state's key among the shared entries and the order of its future's
/// states ([`ByteDfa::future`]).
type FutureKey = (Vec<u32>, Vec<u32>);

/// An immutable compiled constraint, shared by all matchers and threads.
///
/// # Cost
/// Compiling builds one automaton per recursive rule (milliseconds for
/// ordinary constraints). The first visit of an automaton state walks the
/// token trie once; later visits copy the cached result.
#[derive(Debug)]
pub struct CompiledGrammar {
    vocab: Arc<Vocabulary>,
    rules: Vec<CompiledRule>,
    /// Global state id of each rule's local state 0.
    base: Vec<u32>,
    /// The rule of each global state.
    owner: Vec<u32>,
    entries: Vec<OnceLock<Arc<StateEntry>>>,
    /// For each rule, the first rule with the same automaton (itself if
    /// none): its states' entries are computed once and shared.
    twin: Vec<u32>,
    cache_used: AtomicUsize,
    cache_limit: usize,
    max_configs: usize,
}

impl CompiledGrammar {
    /// Compile `grammar` for `vocab`.
    pub fn new(grammar: &Grammar, vocab: Arc<Vocabulary>, opts: &CompileOptions) -> Result<Arc<Self>, CompileError> {
        let _budget = Budget::enter(&opts.resources, opts.time_budget);
        limits::check_grammar_size(grammar, &opts.resources)?;
        // A rule too large to inline everything into is retried with every
        // reference as a call; grammar-wide limits are final.
        let rules = match RuleBuilder::build(grammar, &opts.limits, &opts.resources, true) {
            Err((CompileError::TooLarge(_) | CompileError::Limit(_), true)) => {
                RuleBuilder::build(grammar, &opts.limits, &opts.resources, false).map_err(|(e, _)| e)?
            }
            other => other.map_err(|(e, _)| e)?,
        };
        let mut base = Vec::with_capacity(rules.len());
        let mut owner = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            base.push(owner.len() as u32);
            owner.extend(std::iter::repeat_n(i as u32, r.dfa.num_states()));
        }
        if owner.len() >= u32::MAX as usize / 2 {
            return Err(CompileError::TooLarge("too many automaton states".into()));
        }
        let entries = (0..owner.len()).map(|_| OnceLock::new()).collect();
        let twin = twin_rules(&rules);
        let g = CompiledGrammar {
            vocab,
            rules,
            base,
            owner,
            entries,
            twin,
            cache_used: AtomicUsize::new(0),
            cache_limit: opts.mask_cache_bytes,
            max_configs: opts.resources.max_configs,
        };
        g.check_left_recursion()?;
        g.check_start_configs()?;
        Ok(Arc::new(g))
    }

    /// Compute the first mask of a fresh matcher, so that the entries it
    /// needs are cached. `sluicegate_grammars::compile` calls it last,
    /// after the grammar's intermediate forms are freed: the first sizeable
    /// allocation after many small frees pays for the allocator sorting them
    /// (glibc: milliseconds after a large schema), and that belongs to
    /// compilation, not to the first decoding step. An error (the
    /// configuration limit) is left for the matcher to report.
    pub fn prepare_start(self: &Arc<Self>) {
        let mut mask = vec![0u32; self.vocab.mask_words()];
        let _ = self.matcher().compute_mask(&mut mask);
    }

    /// Matchers start from the closed start set; if that alone is over the
    /// configuration limit, no matcher could take a step.
    fn check_start_configs(&self) -> Result<(), CompileError> {
        let mut stacks = Stacks::default();
        let mut start = vec![Config { top: self.start(), below: ROOT }];
        self.close(&mut start, &mut stacks);
        if stacks.overflowed {
            let detail = "configurations at the start of the output".to_string();
            return Err(limits::exceeded(Limit::Configurations, self.max_configs, detail));
        }
        Ok(())
    }

    /// A fresh matcher at the start of the output.
    pub fn matcher(self: &Arc<Self>) -> Matcher {
        Matcher::new(Arc::clone(self))
    }

    /// The vocabulary this constraint was compiled for.
    pub fn vocab(&self) -> &Arc<Vocabulary> {
        &self.vocab
    }

    /// Number of rule automata (1 for a regular language).
    pub fn num_rules(&self) -> usize {
        self.rules.len()
    }

    /// Total automaton states over all rules.
    pub fn num_states(&self) -> usize {
        self.owner.len()
    }

    /// One line per rule automaton: name, size, build time (for profiling).
    pub fn rule_summaries(&self) -> Vec<RuleSummary> {
        self.rules
            .iter()
            .map(|r| RuleSummary {
                name: r.name.clone(),
                states: r.dfa.num_states(),
                called: r.called,
                has_calls: r.dfa.has_calls(),
                build_time: r.build_time,
            })
            .collect()
    }

    /// The configuration limit of its matchers (`Limits::max_configs`).
    pub fn max_configs(&self) -> usize {
        self.max_configs
    }

    /// Bytes currently held by the mask cache.
    pub fn mask_cache_bytes(&self) -> usize {
        self.cache_used.load(Ordering::Relaxed)
    }

    // ---- global-state primitives -------------------------------------------------------

    #[inline]
    fn local(&self, g: u32) -> (&ByteDfa, u32, u32) {
        let r = self.owner[g as usize];
        let base = self.base[r as usize];
        (&self.rules[r as usize].dfa, g - base, base)
    }

    /// The global start state.
    #[inline]
    pub(crate) fn start(&self) -> u32 {
        self.base[0] + self.rules[0].dfa.start()
    }

    #[inline]
    pub(crate) fn next_byte(&self, g: u32, b: u8) -> u32 {
        let (dfa, s, base) = self.local(g);
        let n = dfa.next(s, b);
        if n == DEAD {
            DEAD
        } else {
            base + n
        }
    }

    #[inline]
    fn rule_accepting(&self, g: u32) -> bool {
        let (dfa, s, _) = self.local(g);
        dfa.is_accepting(s)
    }

    /// Close a configuration set under calls and returns, in place.
    pub(crate) fn close(&self, set: &mut Vec<Config>, stacks: &mut Stacks) {
        let mut i = 0;
        while i < set.len() {
            let c = set[i];
            let (dfa, s, base) = self.local(c.top);
            for &(rule, ret) in dfa.calls(s) {
                let below = stacks.push(base + ret, c.below);
                let r = rule as usize;
                let n = Config { top: self.base[r] + self.rules[r].dfa.start(), below };
                if !set.contains(&n) {
                    set.push(n);
                }
            }
            if c.below != ROOT && dfa.is_accepting(s) {
                let (ret, parent) = stacks.pop(c.below);
                let n = Config { top: ret, below: parent };
                if !set.contains(&n) {
                    set.push(n);
                }
            }
            i += 1;
            // The set is cut to bound memory; the flag makes the matcher
            // refuse the step (or the mask) rather than use the cut set.
            if set.len() > self.max_configs {
                stacks.overflowed = true;
                set.truncate(self.max_configs);
                break;
            }
        }
    }

    /// Step a closed set by one byte; the result is closed too.
    pub(crate) fn step(&self, set: &[Config], b: u8, out: &mut Vec<Config>, stacks: &mut Stacks) {
        out.clear();
        for c in set {
            let n = self.next_byte(c.top, b);
            if n != DEAD {
                let n = Config { top: n, below: c.below };
                if !out.contains(&n) {
                    out.push(n);
                }
            }
        }
        self.close(out, stacks);
    }

    /// Whether a closed set contains a complete output.
    pub(crate) fn set_accepting(&self, set: &[Config]) -> bool {
        set.iter().any(|c| c.below == ROOT && self.rule_accepting(c.top))
    }

    /// Whether any byte can extend a closed set.
    pub(crate) fn set_can_continue(&self, set: &[Config]) -> bool {
        set.iter().any(|c| {
            let (dfa, s, _) = self.local(c.top);
            (0..=255u8).any(|b| dfa.next(s, b) != DEAD)
        })
    }

    // ---- masks -------------------------------------------------------------------------

    fn entry(&self, g: u32, stack: &mut Vec<u32>) -> Arc<StateEntry> {
        let slot = &self.entries[g as usize];
        if let Some(e) = slot.get() {
            return Arc::clone(e);
        }
        let (entry, bytes) = match self.twin_state(g) {
            Some((t, shift)) => {
                let twin = self.entry(t, stack);
                if twin.exits.is_empty() {
                    // Nothing rule-specific: the same entry, no new bytes.
                    (twin, 0)
                } else {
                    let exits = twin.exits.iter().map(|&(node, d, c)| (node, d + shift, c)).collect::<Vec<_>>();
                    let bytes = twin.tokens.len() * 4 + exits.len() * 12;
                    (Arc::new(StateEntry { tokens: twin.tokens.clone(), exits, overflowed: twin.overflowed }), bytes)
                }
            }
            None => {
                let entry = Arc::new(self.shared_entry(g, stack).unwrap_or_else(|| self.compute_entry(g, stack)));
                let bytes = entry.tokens.len() * 4 + entry.exits.len() * 12;
                (entry, bytes)
            }
        };
        self.keep(g, &entry, bytes);
        entry
    }

    /// Cache `entry` as `g`'s, within the grammar's cache budget.
    fn keep(&self, g: u32, entry: &Arc<StateEntry>, bytes: usize) {
        let slot = &self.entries[g as usize];
        if self.cache_used.fetch_add(bytes, Ordering::Relaxed) + bytes <= self.cache_limit {
            if slot.set(Arc::clone(entry)).is_err() {
                self.cache_used.fetch_sub(bytes, Ordering::Relaxed);
            }
        } else {
            self.cache_used.fetch_sub(bytes, Ordering::Relaxed);
        }
    }

    /// Compute in one trie walk the entries of the states of `set` that
    /// would each walk the whole trie: not cached, without a twin, not in
    /// the shared entries, not covered by a token slice. A set holding
    /// several such states (the branches of a `oneOf` over patterns, right
    /// after the opening quote) otherwise walks the trie once per state,
    /// a millisecond each on a 128k-token vocabulary.
    fn prefetch_entries(&self, set: &[Config]) {
        if self.cache_used.load(Ordering::Relaxed) >= self.cache_limit {
            return; // entries are no longer kept: each is computed where used
        }
        // The cheap tests first: most sets have at most one uncached state,
        // and then the tests below would only be repeated by `entry`.
        let mut candidates: Vec<u32> = Vec::new();
        for c in set {
            let g = c.top;
            if self.entries[g as usize].get().is_none() && self.twin_state(g).is_none() && !candidates.contains(&g) {
                candidates.push(g);
            }
        }
        if candidates.len() < 2 {
            return;
        }
        let mut batch: Vec<(u32, Option<FutureKey>)> = Vec::new();
        let mut stack = Vec::new();
        for g in candidates {
            let (dfa, s, _) = self.local(g);
            let future = self.future_key(g);
            if future.as_ref().is_some_and(|(key, _)| self.vocab.futures().get(key).is_some()) {
                continue;
            }
            // A state a cut serves is cheap on its own: computed here, with
            // the cut just found, rather than searched for again later.
            match self.vocab.slices().cut(&self.vocab, dfa, s, self.returns_matter(g)) {
                Some(cut) => {
                    let entry = self.entry_with(g, &mut stack, Some(cut));
                    self.keep_computed(g, future, entry);
                }
                None => batch.push((g, future)),
            }
        }
        if let [(g, future)] = batch.as_slice() {
            let entry = self.entry_with(*g, &mut stack, None);
            self.keep_computed(*g, future.clone(), entry);
            return;
        }
        for chunk in batch.chunks(WALK_TOGETHER) {
            let states: Vec<u32> = chunk.iter().map(|(g, _)| *g).collect();
            for ((g, future), entry) in chunk.iter().zip(self.walk_together(&states)) {
                self.keep_computed(*g, future.clone(), entry);
            }
        }
    }

    /// Share (when `future` is its key) and keep a freshly computed entry of `g`.
    fn keep_computed(&self, g: u32, future: Option<FutureKey>, entry: StateEntry) {
        if let Some((key, order)) = future {
            self.share(g, key, &order, &entry);
        }
        let bytes = entry.tokens.len() * 4 + entry.exits.len() * 12;
        self.keep(g, &Arc::new(entry), bytes);
    }

    /// The entries of `states` (at most [`WALK_TOGETHER`]) from one walk of
    /// the whole trie that follows every state's automaton at once.
    fn walk_together(&self, states: &[u32]) -> Vec<StateEntry> {
        let k = states.len();
        let trie = self.vocab.trie();
        let local: Vec<(&ByteDfa, u32, u32)> = states.iter().map(|&g| self.local(g)).collect();
        let called: Vec<bool> = states.iter().map(|&g| self.returns_matter(g)).collect();
        let mut tokens: Vec<Box<[u32]>> = vec![vec![0u32; self.vocab.mask_words()].into_boxed_slice(); k];
        let mut exits: Vec<Vec<(u32, u32, bool)>> = vec![Vec::new(); k];
        let mut calls_at: Vec<Vec<(u32, u32)>> = vec![Vec::new(); k];
        let mut start = [DEAD; WALK_TOGETHER];
        for (j, &(_, s, _)) in local.iter().enumerate() {
            start[j] = s;
        }
        let step = |st: [u32; WALK_TOGETHER], b: u8| {
            let mut next = [DEAD; WALK_TOGETHER];
            let mut alive = false;
            for j in 0..k {
                if st[j] != DEAD {
                    next[j] = local[j].0.next(st[j], b);
                    alive |= next[j] != DEAD;
                }
            }
            alive.then_some(next)
        };
        let visit = |node: usize, st: [u32; WALK_TOGETHER]| {
            for j in 0..k {
                if st[j] != DEAD {
                    let (dfa, _, base) = local[j];
                    let at = Walked { dfa, state: st[j], base, called: called[j] };
                    self.record_node(node, at, &mut tokens[j], &mut calls_at[j], &mut exits[j]);
                }
            }
        };
        let mut stack = Vec::new();
        trie.walk(start, &mut stack, step, visit);
        tokens
            .into_iter()
            .zip(exits)
            .zip(calls_at)
            .map(|((tokens, exits), calls_at)| self.finish_entry(tokens, exits, calls_at))
            .collect()
    }

    /// The same state in the twin rule of `g`'s rule, with the distance
    /// between the two rules' global ids, if the rule has a twin.
    fn twin_state(&self, g: u32) -> Option<(u32, u32)> {
        let r = self.owner[g as usize] as usize;
        let t = self.twin[r] as usize;
        (t != r).then(|| {
            let shift = self.base[r] - self.base[t];
            (g - shift, shift)
        })
    }

    /// The entry of `g` from the vocabulary's shared entries, computing and
    /// sharing it on a miss; `None` when `g`'s future is not shareable (calls
    /// reachable, or too many states).
    fn shared_entry(&self, g: u32, stack: &mut Vec<u32>) -> Option<StateEntry> {
        let (key, order) = self.future_key(g)?;
        let base = self.base[self.owner[g as usize] as usize];
        if let Some(shared) = self.vocab.futures().get(&key) {
            let exits = shared.exits.iter().map(|&(node, k)| (node, base + order[k as usize], false)).collect();
            return Some(StateEntry { tokens: Arc::clone(&shared.tokens), exits, overflowed: false });
        }
        let entry = self.compute_entry(g, stack);
        self.share(g, key, &order, &entry);
        Some(entry)
    }

    /// The key of `g`'s entry among the shared entries, and the order of its
    /// future's states; `None` when calls are reachable or the future is large.
    fn future_key(&self, g: u32) -> Option<FutureKey> {
        let (dfa, s, _) = self.local(g);
        if dfa.has_calls() {
            return None;
        }
        let (mut key, order) = dfa.future(s, crate::futures::MAX_FUTURE_STATES)?;
        key.push(self.returns_matter(g) as u32);
        Some((key, order))
    }

    /// Add `g`'s freshly computed entry to the shared entries.
    fn share(&self, g: u32, key: Vec<u32>, order: &[u32], entry: &StateEntry) {
        let base = self.base[self.owner[g as usize] as usize];
        let exits = entry
            .exits
            .iter()
            .map(|&(node, d, _)| {
                let k = order.iter().position(|&o| o == d - base).expect("exits stay in the future's states");
                (node, k as u32)
            })
            .collect();
        let shared = crate::futures::SharedEntry { tokens: Arc::clone(&entry.tokens), exits };
        self.vocab.futures().insert(key, Arc::new(shared));
    }

    fn compute_entry(&self, g: u32, stack: &mut Vec<u32>) -> StateEntry {
        let (dfa, s, _) = self.local(g);
        let cut = self.vocab.slices().cut(&self.vocab, dfa, s, self.returns_matter(g));
        self.entry_with(g, stack, cut)
    }

    /// The entry of `g` from a walk of the trie, served by `cut` where there
    /// is one (and then, under `SLUICEGATE_CHECK_ENTRIES=1`, compared with a
    /// walk of the whole trie).
    fn entry_with(&self, g: u32, stack: &mut Vec<u32>, cut: Option<Cut<'_>>) -> StateEntry {
        let was_cut = cut.is_some();
        let entry = self.walk_entry(g, stack, cut);
        if was_cut && *CHECK_ENTRIES {
            let whole = self.walk_entry(g, stack, None);
            let rule = &self.rules[self.owner[g as usize] as usize].name;
            assert!(entry.tokens == whole.tokens, "tokens of a cut entry differ from a whole walk's (rule {rule})");
            // Exits below nodes whose tokens are all allowed may be left out.
            assert!(
                entry.exits.iter().all(|x| whole.exits.binary_search(x).is_ok()),
                "a cut entry has an exit a whole walk has not (rule {rule})"
            );
        }
        entry
    }

    /// The entry of `g` from one walk: of the whole trie, or, with a `cut`,
    /// of a slice's view (the rest of the tokens given), or of the trie
    /// without the subtrees made only of a class (their tokens given).
    fn walk_entry(&self, g: u32, stack: &mut Vec<u32>, cut: Option<Cut<'_>>) -> StateEntry {
        let (dfa, s, base) = self.local(g);
        let called = self.returns_matter(g);
        let trie = self.vocab.trie();
        let mut exits = Vec::new();
        let mut calls_at = Vec::new();
        let mut tokens = match &cut {
            None => vec![0u32; self.vocab.mask_words()].into_boxed_slice(),
            Some(Cut::View { tokens, .. }) => Box::from(*tokens),
            Some(Cut::Class(c)) => Box::from(c.tokens.mask(c.max_len)),
        };
        let step = |st: u32, b: u8| {
            let n = dfa.next(st, b);
            (n != DEAD).then_some(n)
        };
        let visit = |node: usize, st: u32| {
            let at = Walked { dfa, state: st & !IN_CLASS, base, called };
            self.record_node(node, at, &mut tokens, &mut calls_at, &mut exits)
        };
        // Fast pass: bytes inside this rule's automaton.
        match &cut {
            Some(Cut::View { view, .. }) => trie.walk_view(view, s, stack, step, visit),
            Some(Cut::Class(c)) => {
                let class = c.class;
                // The flag `IN_CLASS` marks a path made only of the class so far.
                let below = self.vocab.slices().bytes_below();
                let step = |st: u32, node: usize, b: u8| {
                    let n = dfa.next(st & !IN_CLASS, b);
                    if n == DEAD {
                        None
                    } else if st & IN_CLASS != 0 && crate::slice::in_class(class, b) {
                        // A subtree made only of the class is decided by the mask.
                        (below[node] & !class != 0).then_some(n | IN_CLASS)
                    } else {
                        Some(n)
                    }
                };
                trie.walk_nodes(s | IN_CLASS, stack, step, visit)
            }
            None => trie.walk(s, stack, step, visit),
        }
        self.finish_entry(tokens, exits, calls_at)
    }

    /// What an entry's walk records at a trie `node` reached in rule state
    /// `at = (automaton, state, base)`: the node's tokens, and, where longer
    /// tokens continue, whether the rule can call (`calls_at`) or return
    /// (`exits`) there.
    #[inline(always)]
    fn record_node(
        &self,
        node: usize,
        Walked { dfa, state, base, called }: Walked<'_>,
        tokens: &mut [u32],
        calls_at: &mut Vec<(u32, u32)>,
        exits: &mut Vec<(u32, u32, bool)>,
    ) {
        let trie = self.vocab.trie();
        for &t in trie.tokens_at(node) {
            tokens[(t >> 5) as usize] |= 1 << (t & 31);
        }
        // Leaving the automaton only matters for longer tokens.
        if !trie.has_children(node) {
            return;
        }
        if !dfa.calls(state).is_empty() {
            calls_at.push((node as u32, base + state));
        }
        if called && dfa.is_accepting(state) {
            exits.push((node as u32, base + state, false));
        }
    }

    /// An entry from the result of its state's walk: calls made inside a
    /// token are context-independent too, so they are followed with a stack
    /// local to this walk, whose bottom is the state's own frame. Only
    /// returns below that frame depend on the real stack; they are recorded
    /// as exits.
    fn finish_entry(
        &self,
        mut tokens: Box<[u32]>,
        mut exits: Vec<(u32, u32, bool)>,
        calls_at: Vec<(u32, u32)>,
    ) -> StateEntry {
        let mut local = Stacks::default();
        let mut levels: Vec<Vec<Config>> = Vec::new();
        for (node, d) in calls_at {
            self.walk_subtree(
                node as usize,
                Config { top: d, below: ROOT },
                &mut tokens,
                &mut levels,
                &mut local,
                &mut exits,
            );
        }
        exits.sort_unstable();
        exits.dedup();
        StateEntry { tokens: tokens.into(), exits, overflowed: local.overflowed }
    }

    /// Whether returning from `g`'s rule can happen (some call enters it).
    #[inline]
    fn returns_matter(&self, g: u32) -> bool {
        self.rules[self.owner[g as usize] as usize].called
    }

    /// Mark the tokens below `node` reachable from `seed` by first leaving
    /// its automaton (a call or a return) and then following bytes with the
    /// stack in `stacks`. When `stacks` is a walk-local arena (`exits` given
    /// a home), configurations back on the bottom frame that could return
    /// are recorded as exits instead of being popped.
    fn walk_subtree(
        &self,
        node: usize,
        seed: Config,
        out: &mut [u32],
        levels: &mut Vec<Vec<Config>>,
        stacks: &mut Stacks,
        exits: &mut Vec<(u32, u32, bool)>,
    ) {
        let mut first = Vec::new();
        self.leave(seed, &mut first, stacks);
        self.walk_below(node, &first, None, out, levels, stacks, exits);
    }

    /// The bytes on which some configuration of `set` can step.
    fn first_bytes(&self, set: &[Config]) -> ByteSet {
        let mut bytes = ByteSet::EMPTY;
        for c in set {
            for b in 0..=255u8 {
                if self.next_byte(c.top, b) != DEAD {
                    bytes.insert(b);
                }
            }
        }
        bytes
    }

    /// The closed set right after `seed` leaves its automaton (a call or a
    /// return), without `seed` itself, in `first`.
    fn leave(&self, seed: Config, first: &mut Vec<Config>, stacks: &mut Stacks) {
        first.clear();
        first.push(seed);
        self.close(first, stacks);
        first.retain(|c| *c != seed);
    }

    /// Mark the tokens below `node` reachable by following bytes from the
    /// closed set `first` (see [`Self::walk_subtree`]). `first_bytes`, when
    /// given, holds the bytes `first` can step on: other children of `node`
    /// are skipped without stepping the set.
    #[allow(clippy::too_many_arguments)]
    fn walk_below(
        &self,
        node: usize,
        first: &[Config],
        first_bytes: Option<&ByteSet>,
        out: &mut [u32],
        levels: &mut Vec<Vec<Config>>,
        stacks: &mut Stacks,
        exits: &mut Vec<(u32, u32, bool)>,
    ) {
        if first.is_empty() {
            return;
        }
        let trie = self.vocab.trie();
        let base_depth = trie.depth(node);
        let max = trie.max_depth() - base_depth + 1;
        if levels.len() < max + 1 {
            levels.resize_with(max + 1, Vec::new);
        }
        levels[0].clear();
        levels[0].extend_from_slice(first);
        // Leaving may itself end on the bottom frame, ready to return (a call
        // to a rule that accepts the empty string, at the end of this rule).
        for c in first.iter() {
            if c.below == ROOT && self.returns_matter(c.top) && self.rule_accepting(c.top) {
                exits.push((node as u32, c.top, false));
            }
        }
        let end = trie.skip(node);
        let mut i = node + 1;
        while i < end {
            let d = trie.depth(i) - base_depth;
            let b = trie.byte(i);
            if d == 1 && first_bytes.is_some_and(|f| !f.contains(b)) {
                i = trie.skip(i);
                continue;
            }
            let (lower, upper) = levels.split_at_mut(d);
            let next = &mut upper[0];
            self.step(&lower[d - 1], b, next, stacks);
            if next.is_empty() {
                i = trie.skip(i);
                continue;
            }
            for &t in trie.tokens_at(i) {
                out[(t >> 5) as usize] |= 1 << (t & 31);
            }
            if trie.has_children(i) {
                for c in next.iter() {
                    if c.below == ROOT && self.returns_matter(c.top) && self.rule_accepting(c.top) {
                        exits.push((i as u32, c.top, false));
                    }
                }
            }
            i += 1;
        }
    }

    /// Write the mask of a closed configuration set into `out`.
    pub(crate) fn fill_mask(&self, set: &[Config], out: &mut [u32], scratch: &mut Scratch) {
        if set.len() > 1 {
            self.prefetch_entries(set);
        }
        out.fill(0);
        for (i, c) in set.iter().enumerate() {
            let entry = self.entry(c.top, &mut scratch.stack);
            scratch.stacks.overflowed |= entry.overflowed;
            if i == 0 {
                out.copy_from_slice(&entry.tokens);
            } else {
                for (o, t) in out.iter_mut().zip(entry.tokens.iter()) {
                    *o |= *t;
                }
            }
            if c.below != ROOT && !entry.exits.is_empty() {
                self.walk_exits(&entry.exits, c.below, out, scratch);
            }
        }
        if self.set_accepting(set) {
            for &e in self.vocab.eos_tokens() {
                out[(e >> 5) as usize] |= 1 << (e & 31);
            }
        }
    }

    /// Mark the tokens below each exit node that return from its state's
    /// rule into the real stack `below` (a mask-time walk; the subtrees after
    /// a rule's end are small). Exits share few returning states (a string
    /// body has one, at its closing quote, and tens of exit nodes), so the
    /// set after each return is computed once.
    fn walk_exits(&self, exits: &[(u32, u32, bool)], below: u32, out: &mut [u32], scratch: &mut Scratch) {
        // The sets of earlier masks stay in `scratch.firsts` (cleared, not
        // freed): the first `used` entries belong to this walk.
        let mut firsts = std::mem::take(&mut scratch.firsts);
        let mut used = 0;
        for &(node, d, _) in exits {
            let k = match firsts[..used].iter().position(|(top, _, _)| *top == d) {
                Some(k) => k,
                None => {
                    if used == firsts.len() {
                        firsts.push((d, Vec::new(), ByteSet::EMPTY));
                    }
                    let (top, first, _) = &mut firsts[used];
                    *top = d;
                    first.clear();
                    self.leave(Config { top: d, below }, first, &mut scratch.stacks);
                    firsts[used].2 = self.first_bytes(&firsts[used].1);
                    used += 1;
                    used - 1
                }
            };
            let (_, first, bytes) = &firsts[k];
            self.walk_below(
                node as usize,
                first,
                Some(bytes),
                out,
                &mut scratch.levels,
                &mut scratch.stacks,
                &mut scratch.ignored,
            );
            scratch.ignored.clear();
        }
        scratch.firsts = firsts;
    }

    fn check_left_recursion(&self) -> Result<(), CompileError> {
        // Rules reachable from each rule's start without consuming a byte.
        let nullable: Vec<bool> = self.rules.iter().map(|r| r.dfa.is_accepting(r.dfa.start())).collect();
        let mut edges: Vec<Vec<usize>> = vec![Vec::new(); self.rules.len()];
        for (r, rule) in self.rules.iter().enumerate() {
            let mut seen = vec![rule.dfa.start()];
            let mut i = 0;
            while i < seen.len() {
                for &(callee, ret) in rule.dfa.calls(seen[i]) {
                    edges[r].push(callee as usize);
                    if nullable[callee as usize] && !seen.contains(&ret) {
                        seen.push(ret);
                    }
                }
                i += 1;
            }
        }
        // Depth-first search for a cycle.
        let mut color = vec![0u8; self.rules.len()];
        fn visit(r: usize, edges: &[Vec<usize>], color: &mut [u8]) -> Option<usize> {
            color[r] = 1;
            for &n in &edges[r] {
                if color[n] == 1 {
                    return Some(n);
                }
                if color[n] == 0 {
                    if let Some(c) = visit(n, edges, color) {
                        return Some(c);
                    }
                }
            }
            color[r] = 2;
            None
        }
        for r in 0..self.rules.len() {
            if color[r] == 0 {
                if let Some(c) = visit(r, &edges, &mut color) {
                    return Err(CompileError::Unsupported(format!(
                        "rule {:?} is left-recursive (it can reach itself without consuming input)",
                        self.rules[c].name
                    )));
                }
            }
        }
        Ok(())
    }
}

/// For each rule, the first rule with an equal automaton and the same
/// `called` flag, among rules without calls: their entries differ only by
/// the offset of their global state ids (a schema often repeats one
/// property-name difference or one member shape many times). Rules with
/// calls keep their own entries, whose exits may lie in other rules.
fn twin_rules(rules: &[CompiledRule]) -> Vec<u32> {
    let mut first: rustc_hash::FxHashMap<(&ByteDfa, bool), u32> = Default::default();
    let mut twin = Vec::with_capacity(rules.len());
    for (i, r) in rules.iter().enumerate() {
        if r.dfa.has_calls() {
            twin.push(i as u32);
        } else {
            twin.push(*first.entry((&r.dfa, r.called)).or_insert(i as u32));
        }
    }
    twin
}

/// Where an entry's trie walk is, for [`CompiledGrammar::record_node`]: the
/// rule's automaton and state, the rule's first global id, and whether the
/// rule is called (taken once per walk, not per node).
#[derive(Clone, Copy)]
struct Walked<'a> {
    dfa: &'a ByteDfa,
    state: u32,
    base: u32,
    called: bool,
}

/// Per-matcher scratch space for mask computation.
#[derive(Debug, Clone, Default)]
pub(crate) struct Scratch {
    pub stack: Vec<u32>,
    pub levels: Vec<Vec<Config>>,
    pub stacks: Stacks,
    pub ignored: Vec<(u32, u32, bool)>,
    /// The closed sets after each returning state of the exits of one
    /// configuration; entries past those of the current walk are kept only
    /// for their allocations.
    pub firsts: Vec<(u32, Vec<Config>, ByteSet)>,
}

// ---- rule construction -----------------------------------------------------------------

/// Whether a reference to `rule` is a call rather than inlined: it would
/// recurse, or the rule is marked not to inline, or the build calls every
/// reference (`inline` false).
fn wants_call(rule: &crate::ir::Rule, recursive: bool, inline: bool) -> bool {
    recursive || !rule.inline || !inline
}

enum Source {
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

struct RuleBuilder<'g> {
    grammar: &'g Grammar,
    limits: &'g DfaLimits,
    /// Expression nodes left before inlining has made the expressions of
    /// this build too large (inlining copies a rule into every use).
    nodes_left: usize,
    max_nodes: usize,
    inline: bool,
    sources: Vec<(String, Source)>,
    by_rule: HashMap<RuleId, usize>,
    /// Products already built, by expression: an intersection used in many
    /// places (the key language of extra members, in every member slot of
    /// an object) is one rule (`None`: the product is empty).
    products: Vec<(Expr, Option<usize>)>,
    /// Whether [`RuleBuilder::hir`] counts the nodes it visits: not after
    /// [`RuleBuilder::write_key`] has counted them for the same expression.
    counting: bool,
}

impl<'g> RuleBuilder<'g> {
    /// Build every rule's automaton. The error's flag says whether building
    /// with every reference as a call might succeed.
    fn build(
        grammar: &'g Grammar,
        limits: &'g DfaLimits,
        resources: &Limits,
        inline: bool,
    ) -> Result<Vec<CompiledRule>, (CompileError, bool)> {
        let max_nodes = resources.max_expr_nodes;
        let mut b = RuleBuilder {
            grammar,
            limits,
            nodes_left: max_nodes,
            max_nodes,
            inline,
            sources: Vec::new(),
            by_rule: HashMap::new(),
            products: Vec::new(),
            counting: true,
        };
        b.rule_index(grammar.start).map_err(|e| (e, false))?;
        let mut dfas = Vec::new();
        let mut times = Vec::new();
        let mut total_bytes = 0usize;
        let mut i = 0;
        while i < b.sources.len() {
            limits::check_time().map_err(|e| (e, false))?;
            let started = std::time::Instant::now();
            let dfa = match &mut b.sources[i].1 {
                Source::Rule(r) => {
                    let r = *r;
                    let body = &b.grammar.rules[r].body;
                    let built = match b.call_only(r, body).map_err(|e| (e, false))? {
                        Some(dfa) => Some(dfa),
                        None => b.joined(r, body).map_err(|e| (e, true))?,
                    };
                    match built {
                        Some(dfa) => Arc::new(dfa),
                        None => b.automaton(body, &mut vec![r], true).map_err(|e| (e, true))?,
                    }
                }
                Source::Product(dfa) => dfa.take().expect("product computed once"),
            };
            total_bytes += dfa.table_bytes();
            if total_bytes > b.limits.max_total_bytes {
                let detail = format!("automaton tables of {} rules: {total_bytes} bytes", dfas.len() + 1);
                return Err((limits::exceeded(Limit::GrammarTableBytes, b.limits.max_total_bytes, detail), false));
            }
            dfas.push(dfa);
            times.push(started.elapsed());
            i += 1;
        }
        let mut called = vec![false; dfas.len()];
        for d in &dfas {
            for s in 0..d.num_states() as u32 {
                for &(r, _) in d.calls(s) {
                    called[r as usize] = true;
                }
            }
        }
        Ok(dfas
            .into_iter()
            .zip(b.sources)
            .zip(called)
            .zip(times)
            .map(|(((dfa, (name, _)), called), build_time)| CompiledRule { name, dfa, called, build_time })
            .collect())
    }

    fn rule_index(&mut self, r: RuleId) -> Result<usize, CompileError> {
        let rule = self
            .grammar
            .rules
            .get(r)
            .ok_or_else(|| CompileError::Invalid(format!("reference to undefined rule #{r}")))?;
        if let Some(&i) = self.by_rule.get(&r) {
            return Ok(i);
        }
        let i = self.sources.len();
        if i >= crate::dfa::MAX_CALLED_RULES {
            return Err(CompileError::TooLarge(format!("more than {} called rules", crate::dfa::MAX_CALLED_RULES)));
        }
        self.sources.push((rule.name.clone(), Source::Rule(r)));
        self.by_rule.insert(r, i);
        Ok(i)
    }

    /// The regular expression of `e`, with calls (as marker bytes) where
    /// inlining would recurse. `calls_ok` is false inside intersections.
    fn hir(&mut self, e: &Expr, path: &mut Vec<RuleId>, calls_ok: bool) -> Result<Hir, CompileError> {
        if self.counting {
            self.count_node()?;
        }
        Ok(match e {
            Expr::Regular(h) => h.clone(),
            Expr::Seq(items) => {
                Hir::concat(items.iter().map(|x| self.hir(x, path, calls_ok)).collect::<Result<_, _>>()?)
            }
            Expr::Alt(items) => {
                Hir::alternation(items.iter().map(|x| self.hir(x, path, calls_ok)).collect::<Result<_, _>>()?)
            }
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
            Expr::Intersect(_) | Expr::Exclude { .. } => match self.product_index(e, calls_ok)? {
                Some(idx) => Hir::literal(call_marker(idx).to_vec()),
                // An empty intersection contributes nothing to its context.
                None => Hir::fail(),
            },
        })
    }

    /// Count one expression node against the build's limit.
    fn count_node(&mut self) -> Result<(), CompileError> {
        if self.nodes_left == 0 {
            let detail = "expressions after inlining rules into their uses".to_string();
            return Err(limits::exceeded(Limit::ExprNodes, self.max_nodes, detail));
        }
        self.nodes_left -= 1;
        Ok(())
    }

    /// What a reference to rule `r` becomes at this point of the inlining
    /// `path`: a call, or the rule's body inlined.
    fn reference(&mut self, r: RuleId, path: &[RuleId], calls_ok: bool) -> Result<Reference<'g>, CompileError> {
        let grammar = self.grammar;
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
        if let Some((_, idx)) = self.products.iter().find(|(x, _)| x == e) {
            return Ok(*idx);
        }
        let idx = self.sources.len();
        if idx >= crate::dfa::MAX_CALLED_RULES {
            return Err(CompileError::TooLarge(format!("more than {} called rules", crate::dfa::MAX_CALLED_RULES)));
        }
        let idx = match self.product(e) {
            Err(CompileError::Empty) => None,
            Err(err) => return Err(err),
            Ok(dfa) => {
                self.sources.push((format!("product#{idx}"), Source::Product(Some(dfa))));
                Some(idx)
            }
        };
        self.products.push((e.clone(), idx));
        Ok(idx)
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
        self.count_node()?;
        match e {
            Expr::Regular(h) => key.regular(h),
            Expr::Seq(items) | Expr::Alt(items) => {
                key.list(matches!(e, Expr::Alt(_)), items.len());
                for x in items {
                    self.write_key(x, path, calls_ok, key)?;
                }
            }
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
            Expr::Intersect(_) | Expr::Exclude { .. } => match self.product_index(e, calls_ok)? {
                Some(idx) => key.call(idx as u32),
                None => key.fail(),
            },
        }
        Ok(())
    }

    /// The automaton of `e` at inlining `path`: looked up among the shared
    /// automata by its key first, so that on a hit no expression is built.
    fn automaton(&mut self, e: &Expr, path: &mut Vec<RuleId>, calls_ok: bool) -> Result<Arc<ByteDfa>, CompileError> {
        let mut key = KeyWriter::new();
        self.write_key(e, path, calls_ok, &mut key)?;
        let limits = self.limits;
        // The key walk counted the nodes; building them again does not.
        self.counting = false;
        let built = match key.finish() {
            Some(key) => crate::shared::automaton_for(key, limits, || self.hir(e, path, calls_ok)),
            None => self.hir(e, path, calls_ok).and_then(|h| ByteDfa::from_hir(&h, limits).map(Arc::new)),
        };
        self.counting = true;
        built
    }

    /// [`wants_call`] with this build's inlining.
    fn wants_call(&self, rule: &crate::ir::Rule, recursive: bool) -> bool {
        wants_call(rule, recursive, self.inline)
    }

    /// The automaton of rule `r` built from its call edges alone, when its
    /// body is made only of calls ([`crate::calls`]).
    fn call_only(&mut self, r: RuleId, body: &Expr) -> Result<Option<ByteDfa>, CompileError> {
        // At the top of `r`'s body the inlining path is `[r]`.
        // (`RuleBuilder::wants_call`, without borrowing `self`, which `rule_index` needs.)
        let (grammar, inline) = (self.grammar, self.inline);
        let is_call = |x: RuleId| grammar.rules.get(x).is_some_and(|rule| wants_call(rule, x == r, inline));
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

    fn product(&mut self, e: &Expr) -> Result<Arc<ByteDfa>, CompileError> {
        match e {
            Expr::Intersect(items) => {
                let mut it = items.iter();
                let first = it.next().ok_or_else(|| CompileError::Invalid("empty intersection".into()))?;
                let mut acc = self.regular_dfa(first)?;
                for x in it {
                    let d = self.regular_dfa(x)?;
                    acc = Arc::new(ByteDfa::product(&acc, &d, false, self.limits)?);
                }
                Ok(acc)
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
            other => self.regular_dfa(other),
        }
    }
}
