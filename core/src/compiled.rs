//! A compiled constraint: one byte automaton per grammar rule, with call
//! edges where rules recurse, bound to one vocabulary; plus a lazily filled,
//! shared cache of what each automaton state allows.
//!
//! Rules are inlined into their users except where inlining would recurse:
//! such a reference becomes a *call* (a pushdown step). A grammar without
//! recursion therefore compiles to a single DFA, whose masks are a cached
//! copy; recursion costs only at the points where it is used.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use rustc_hash::{FxHashMap, FxHashSet};

use crate::dfa::{ByteDfa, ByteSet, DfaLimits, DEAD};
use crate::error::CompileError;
use crate::ir::Grammar;
use crate::limits::{self, Budget, Limit, Limits};
use crate::matcher::Matcher;
use crate::pda::{Config, Stacks, ROOT};
use crate::rules::{BuildState, RuleBuilder, RuleSlot};
use crate::set_memo::{SetMemo, EMPTY, UNKNOWN};
use crate::slice::Cut;
use crate::tokens::{or_words, TokenSet};
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

/// A rule's automaton once built, with its global state ids and the cached
/// entries of its states.
#[derive(Debug)]
pub(crate) struct BuiltRule {
    /// Its rule index.
    index: u32,
    dfa: Arc<ByteDfa>,
    /// Global id of local state 0 (a multiple of [`CHUNK`]).
    base: u32,
    /// Whether some call edge enters this rule (so returns from it matter).
    called: bool,
    /// `base` of the first built rule with an equal automaton and `called`
    /// flag (its own if none): its states' entries are computed once and
    /// shared. Rules with calls have none.
    twin_base: u32,
    /// Time spent building this rule's automaton (its expression, nested
    /// products and determinisation).
    build_time: Duration,
    entries: Box<[OnceLock<Arc<StateEntry>>]>,
}

/// Global state ids are handed out as rules are built, each rule's from a
/// multiple of `CHUNK`, so that the rule of an id is found by its chunk.
const CHUNK_BITS: u32 = 6;
const CHUNK: u32 = 1 << CHUNK_BITS;

/// Grammars with at least this many IR rules and any-order states build
/// each rule on first use (a JSON Schema's objects with members in any
/// order make thousands of rules, of which one output enters a few
/// percent); smaller ones build every rule at compile time, so that their
/// size and left-recursion errors come from compilation.
pub const LAZY_MIN_RULES: usize = 256;

/// Rules of a grammar built on first use that weigh at least this much
/// (`RuleBuilder::heavy_rules`: thousands of automaton states, milliseconds
/// each) are built at compile time all the same, so that no mask waits for
/// one.
const HEAVY_RULE_WEIGHT: u64 = 1000;

/// A grammar whose start set has more configurations than this is built
/// whole at compile time (`CompiledGrammar::from_grammar`).
const WIDE_START: usize = 64;

/// Largest automaton that shares entries with an equal one (`BuiltRule::twin_base`).
const MAX_TWIN_STATES: usize = 1 << 16;

/// The rules not built yet of a grammar built on first use, and what
/// building them needs.
struct Unbuilt {
    grammar: Grammar,
    state: BuildState,
    opts: CompileOptions,
    /// Twins among the rules built so far: the `base` of the first rule
    /// built with each call-free automaton and `called` flag.
    twins: rustc_hash::FxHashMap<(Arc<ByteDfa>, bool), u32>,
    /// Rule indices whose build failed (the error is kept once).
    failed: Vec<u32>,
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

/// A token set built for one entry (one allocation: `collect` on an
/// iterator of known length writes straight into the `Arc`).
fn copied(words: &[u32]) -> Arc<[u32]> {
    words.iter().copied().collect()
}

/// The words of a token set not yet shared with anyone.
fn writable(tokens: &mut Arc<[u32]>) -> &mut [u32] {
    Arc::get_mut(tokens).expect("an entry's token set is shared only once finished")
}

/// What one automaton state allows, independently of the stack below it.
#[derive(Debug)]
pub(crate) struct StateEntry {
    /// Tokens whose bytes all step inside the state's own rule automaton
    /// (shared with twin states and with other constraints: `futures`).
    pub tokens: TokenSet,
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

/// `SLUICEGATE_TRACE_BUILDS=1`: write each rule built on first use, with
/// its build time and states, and each set warmed at compile time
/// ([`CompiledGrammar::warm_wide_sets`]), to standard error (which mask
/// pays for what).
static TRACE_BUILDS: std::sync::LazyLock<bool> =
    std::sync::LazyLock::new(|| std::env::var_os("SLUICEGATE_TRACE_BUILDS").is_some_and(|v| v == "1"));

/// A flag on automaton states in a class-cut walk ([`crate::slice::ClassCut`]):
/// the path so far is made only of the class. State ids stay below it
/// (`CompiledGrammar::new` refuses more than `u32::MAX / 2` states).
const IN_CLASS: u32 = 1 << 31;

/// Most exits of one state walked without remembered sets
/// ([`CompiledGrammar::walk_exits`]): interning every set costs more than
/// it saves where the walks are few (`minecraft-recipe` meets 895 object
/// states at once, each with a few exits).
const REMEMBERED_WALK_MIN_EXITS: usize = 256;

/// Most trie nodes below a node for the set walk to go on below it; below a
/// larger node each configuration is followed on its own
/// ([`CompiledGrammar::walk_configs`]). The set walk is cheaper on small
/// subtrees (one pass over a node's children for the whole set).
const FRAME_WALK_MIN_NODES: usize = 1024;

/// Fewest trie nodes below a node for a frame walk from it to look for a
/// slice covering its state: below smaller nodes the walk is short anyway.
const FRAME_SLICE_MIN_NODES: usize = 512;

/// Sets of at least this many configurations met within the first
/// [`WARM_BYTES`] bytes of the output have their entries computed at
/// compile time ([`CompiledGrammar::warm_wide_sets`]).
const WARM_CONFIGS_MIN: usize = 64;

/// How many bytes from the start [`CompiledGrammar::warm_wide_sets`] looks.
const WARM_BYTES: usize = 2;

/// Sets stepping on more bytes than this are not followed further by
/// [`CompiledGrammar::warm_wide_sets`] (inside a string every byte is
/// alive, and the sets there are small).
const WARM_MAX_BYTES: usize = 16;

/// Most sets whose entries [`CompiledGrammar::warm_wide_sets`] computes.
const WARM_MAX_SETS: usize = 16;

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
pub struct CompiledGrammar {
    vocab: Arc<Vocabulary>,
    /// Every rule index handed out so far, built or not.
    rules: boxcar::Vec<RuleSlot>,
    /// The built rule of each chunk of global state ids.
    chunks: boxcar::Vec<Arc<BuiltRule>>,
    /// Rules not built yet (`None` once every rule is built, as for
    /// grammars built at compile time).
    unbuilt: Mutex<Option<Unbuilt>>,
    /// The first error of a rule built on first use.
    build_error: Mutex<Option<CompileError>>,
    rules_built: AtomicUsize,
    states_built: AtomicUsize,
    cache_used: AtomicUsize,
    cache_limit: usize,
    max_configs: usize,
    /// The slice (its index in the vocabulary's list) covering each state a
    /// large frame walk started from, `None` where none does.
    frame_slices: Mutex<FxHashMap<u32, Option<usize>>>,
}

impl std::fmt::Debug for CompiledGrammar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledGrammar")
            .field("rules", &self.num_rules())
            .field("states", &self.num_states())
            .field("lazy", &self.unbuilt.lock().unwrap_or_else(|p| p.into_inner()).is_some())
            .finish_non_exhaustive()
    }
}

impl CompiledGrammar {
    fn empty(vocab: Arc<Vocabulary>, opts: &CompileOptions) -> Self {
        CompiledGrammar {
            vocab,
            rules: boxcar::Vec::new(),
            chunks: boxcar::Vec::new(),
            unbuilt: Mutex::new(None),
            build_error: Mutex::new(None),
            rules_built: AtomicUsize::new(0),
            states_built: AtomicUsize::new(0),
            cache_used: AtomicUsize::new(0),
            cache_limit: opts.mask_cache_bytes,
            max_configs: opts.resources.max_configs,
            frame_slices: Mutex::new(FxHashMap::default()),
        }
    }

    /// Compile `grammar` for `vocab`, building every rule now.
    pub fn new(grammar: &Grammar, vocab: Arc<Vocabulary>, opts: &CompileOptions) -> Result<Arc<Self>, CompileError> {
        let _budget = Budget::enter(&opts.resources, opts.time_budget);
        limits::check_grammar_size(grammar, &opts.resources)?;
        Self::build_whole(grammar, vocab, opts)
    }

    /// [`CompiledGrammar::new`] once the grammar's size is checked.
    fn build_whole(
        grammar: &Grammar,
        vocab: Arc<Vocabulary>,
        opts: &CompileOptions,
    ) -> Result<Arc<Self>, CompileError> {
        let mut g = CompiledGrammar::empty(vocab, opts);
        // A rule too large to inline everything into is retried with every
        // reference as a call; grammar-wide limits are final.
        if let Err((e, retry)) = g.build_all(grammar, &opts.limits, BuildState::new(&opts.resources, true)) {
            if !(retry && matches!(e, CompileError::TooLarge(_) | CompileError::Limit(_))) {
                return Err(e);
            }
            g.rules.clear();
            g.chunks.clear();
            g.build_all(grammar, &opts.limits, BuildState::new(&opts.resources, false)).map_err(|(e, _)| e)?;
        }
        g.check_left_recursion()?;
        g.start_set()?;
        Ok(Arc::new(g))
    }

    /// Compile `grammar` for `vocab`, keeping it: a grammar of at least
    /// [`LAZY_MIN_RULES`] rules (counting the states of its objects in any
    /// order) builds each rule on the first call that enters it; its start,
    /// its intersections and differences and its heavy rules are built now.
    /// Smaller grammars are built whole, as by [`CompiledGrammar::new`].
    ///
    /// A rule built on first use that fails (a size limit) makes the
    /// matcher step or mask that needed it fail with
    /// [`crate::MatchError::RuleBuild`]; left recursion there shows as
    /// [`crate::MatchError::ConfigLimit`].
    pub fn from_grammar(
        grammar: Grammar,
        vocab: Arc<Vocabulary>,
        opts: &CompileOptions,
    ) -> Result<Arc<Self>, CompileError> {
        let budget = Budget::enter(&opts.resources, opts.time_budget);
        let any_order_states = limits::check_grammar_size(&grammar, &opts.resources)?;
        if grammar.rules.len().saturating_add(any_order_states) < LAZY_MIN_RULES {
            return Self::build_whole(&grammar, vocab, opts);
        }
        let mut g = CompiledGrammar::empty(vocab.clone(), opts);
        let mut unbuilt = Unbuilt {
            grammar,
            state: BuildState::new(&opts.resources, true),
            opts: opts.clone(),
            twins: Default::default(),
            failed: Vec::new(),
        };
        // The start rule is index 0. Intersections and differences, and the
        // heavy rules, are built now: they are the costly automata, and
        // products are where a grammar can be refused for what it is.
        let prepared = {
            let mut b = RuleBuilder::new(&unbuilt.grammar, &opts.limits, &mut unbuilt.state, &g.rules);
            b.start().and_then(|start| {
                let mut now = vec![start];
                now.extend(b.build_products()?);
                for i in b.heavy_rules(HEAVY_RULE_WEIGHT)? {
                    if !now.contains(&i) {
                        now.push(i);
                    }
                }
                Ok(now)
            })
        };
        // (`build_rule` retries a rule too large to inline into with every
        // reference a call, as a whole build retries the whole grammar.)
        prepared.and_then(|now| now.into_iter().try_for_each(|i| g.build_rule(&mut unbuilt, i as u32)))?;
        *g.unbuilt.get_mut().unwrap_or_else(|p| p.into_inner()) = Some(unbuilt);
        match g.start_set() {
            // A start that fans out (an `anyOf` over a thousand objects)
            // enters most rules within the first tokens: building them
            // there would stall those steps, so the grammar is built whole,
            // and its IR freed for the masks to come.
            Ok((start, _)) if start.len() > WIDE_START => {
                let unbuilt = g.unbuilt.get_mut().unwrap_or_else(|p| p.into_inner()).take();
                drop(g);
                drop(budget);
                let grammar =
                    unbuilt.map(|un| un.grammar).ok_or_else(|| CompileError::Invalid("grammar lost".into()))?;
                return Self::new(&grammar, vocab, opts);
            }
            Ok((start, stacks)) => g.build_first_byte(&start, stacks),
            Err(e) => return Err(e),
        }
        if let Some(e) = g.build_error.get_mut().unwrap_or_else(|p| p.into_inner()).take() {
            return Err(e);
        }
        Ok(Arc::new(g))
    }

    /// Build every rule reachable from the start, then give them global ids.
    fn build_all(
        &mut self,
        grammar: &Grammar,
        limits: &DfaLimits,
        mut st: BuildState,
    ) -> Result<(), (CompileError, bool)> {
        let mut dfas = Vec::new();
        let mut times = Vec::new();
        {
            let mut b = RuleBuilder::new(grammar, limits, &mut st, &self.rules);
            b.start().map_err(|e| (e, false))?;
            while dfas.len() < self.rules.count() {
                let started = std::time::Instant::now();
                dfas.push(b.build_dfa(dfas.len())?);
                times.push(started.elapsed());
            }
        }
        let mut called = vec![false; dfas.len()];
        for d in &dfas {
            for s in 0..d.num_states() as u32 {
                for &(r, _) in d.calls(s) {
                    called[r as usize] = true;
                }
            }
        }
        let mut twins = Default::default();
        for (i, ((dfa, called), time)) in dfas.into_iter().zip(called).zip(times).enumerate() {
            self.publish(&mut twins, i, dfa, called, time).map_err(|e| (e, false))?;
        }
        Ok(())
    }

    /// Give rule `i`'s automaton its global ids and make it visible.
    fn publish(
        &self,
        twins: &mut rustc_hash::FxHashMap<(Arc<ByteDfa>, bool), u32>,
        i: usize,
        dfa: Arc<ByteDfa>,
        called: bool,
        build_time: Duration,
    ) -> Result<(), CompileError> {
        let base = (self.chunks.count() as u64) << CHUNK_BITS;
        let states = dfa.num_states();
        let chunks = states.div_ceil(CHUNK as usize).max(1);
        if base + ((chunks as u64) << CHUNK_BITS) >= u32::MAX as u64 / 2 {
            return Err(CompileError::TooLarge("too many automaton states".into()));
        }
        let base = base as u32;
        // Twins are looked for among automata without calls and of at most
        // `MAX_TWIN_STATES` states (hashing a product of 800,000 states took
        // tens of milliseconds for nothing).
        let twin_base = if dfa.has_calls() || states > MAX_TWIN_STATES {
            base
        } else {
            *twins.entry((Arc::clone(&dfa), called)).or_insert(base)
        };
        let built = Arc::new(BuiltRule {
            index: i as u32,
            dfa,
            base,
            called,
            twin_base,
            build_time,
            entries: (0..states).map(|_| OnceLock::new()).collect(),
        });
        for _ in 0..chunks {
            self.chunks.push(Arc::clone(&built));
        }
        self.rules[i].built.set(built).map_err(|_| CompileError::Invalid(format!("rule index {i} built twice")))?;
        self.rules_built.fetch_add(1, Ordering::Relaxed);
        self.states_built.fetch_add(states, Ordering::Relaxed);
        Ok(())
    }

    /// Rule `rule` of a grammar built on first use, built now (under the
    /// grammar's lock; `None` when its build failed, the error kept).
    #[cold]
    fn build_on_first_use(&self, rule: u32) -> Option<&Arc<BuiltRule>> {
        let mut guard = self.unbuilt.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(built) = self.rules[rule as usize].built.get() {
            return Some(built); // built by another thread meanwhile
        }
        let un = guard.as_mut()?;
        if un.failed.contains(&rule) {
            return None;
        }
        let _budget = Budget::enter(&un.opts.resources, un.opts.time_budget);
        match self.build_rule(un, rule) {
            Ok(()) => self.rules[rule as usize].built.get(),
            Err(e) => {
                un.failed.push(rule);
                self.build_error.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e);
                None
            }
        }
    }

    /// Build rule index `rule` of a grammar built on first use and publish
    /// it. A rule too large to inline into is built again with every
    /// reference a call.
    fn build_rule(&self, un: &mut Unbuilt, rule: u32) -> Result<(), CompileError> {
        let started = std::time::Instant::now();
        let i = rule as usize;
        let mut result = RuleBuilder::new(&un.grammar, &un.opts.limits, &mut un.state, &self.rules).build_dfa(i);
        if let Err((CompileError::TooLarge(_) | CompileError::Limit(_), true)) = &result {
            un.state.inline = false;
            result = RuleBuilder::new(&un.grammar, &un.opts.limits, &mut un.state, &self.rules).build_dfa(i);
            un.state.inline = true;
        }
        let dfa = result.map_err(|(e, _)| e)?;
        if *TRACE_BUILDS {
            let name = &self.rules[i].name;
            eprintln!(
                "sluicegate: built rule {name} on first use: {} states, {:?}",
                dfa.num_states(),
                started.elapsed()
            );
        }
        self.publish(&mut un.twins, i, dfa, true, started.elapsed())
    }

    /// The error of a rule that failed to build on first use, as text.
    pub(crate) fn build_error(&self) -> Option<String> {
        self.build_error.lock().unwrap_or_else(|p| p.into_inner()).as_ref().map(|e| e.to_string())
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
        self.warm_wide_sets();
    }

    /// Compute the entries of the wide sets met within the first
    /// [`WARM_BYTES`] bytes of the output: those of at least
    /// [`WARM_CONFIGS_MIN`] configurations, as an `anyOf` over hundreds of
    /// object shapes holds right after `{"` (one key state per shape). Their
    /// entries would otherwise be computed inside the second or third mask
    /// of every first generation, where a stall holds up a whole batch
    /// (`minecraft-recipe`: 908 uncached states, about 5 ms). Only sets
    /// reached from wide sets are stepped further, on at most
    /// [`WARM_MAX_BYTES`] bytes each, so that an ordinary constraint pays
    /// nothing here.
    fn warm_wide_sets(&self) {
        let Ok((start, mut stacks)) = self.start_set() else {
            return;
        };
        let mut level = vec![start];
        let mut warmed = 0;
        for _ in 0..WARM_BYTES {
            let mut next_level: Vec<Vec<Config>> = Vec::new();
            for set in level.iter().filter(|set| set.len() >= WARM_CONFIGS_MIN) {
                let bytes = self.first_bytes(set);
                if bytes.len() > WARM_MAX_BYTES {
                    continue;
                }
                for b in bytes.iter() {
                    // A rule built here (the sets' calls) under a nearly
                    // spent budget could fail for want of time or memory,
                    // and a failed rule stays failed: at mask time it would
                    // get a budget of its own.
                    if !limits::most_budget_left() {
                        return;
                    }
                    let mut next = Vec::new();
                    self.step(set, b, &mut next, &mut stacks);
                    if stacks.overflowed || stacks.build_failed {
                        return; // the matcher reports it where it matters
                    }
                    if next.len() < WARM_CONFIGS_MIN || next_level.contains(&next) {
                        continue;
                    }
                    if warmed == WARM_MAX_SETS {
                        return;
                    }
                    self.warm_set(&next);
                    warmed += 1;
                    next_level.push(next);
                }
            }
            level = next_level;
        }
    }

    /// Compute the entries of `set`'s states ([`Self::prefetch_entries`]),
    /// traced under `SLUICEGATE_TRACE_BUILDS=1`.
    fn warm_set(&self, set: &[Config]) {
        let started = std::time::Instant::now();
        let cached = self.cache_used.load(Ordering::Relaxed);
        self.prefetch_entries(set);
        if *TRACE_BUILDS {
            let added = self.cache_used.load(Ordering::Relaxed).saturating_sub(cached);
            eprintln!(
                "sluicegate: warmed a set of {} configurations at compile time: {added} bytes of entries, {:?}",
                set.len(),
                started.elapsed()
            );
        }
    }

    /// The closed start set, where matchers start, and its stacks; if that
    /// alone is over the configuration limit, no matcher could take a step.
    fn start_set(&self) -> Result<(Vec<Config>, Stacks), CompileError> {
        let mut stacks = Stacks::default();
        let mut start = vec![Config { top: self.start(), below: ROOT }];
        self.close(&mut start, &mut stacks);
        if stacks.overflowed && !stacks.build_failed {
            let detail = "configurations at the start of the output".to_string();
            return Err(limits::exceeded(Limit::Configurations, self.max_configs, detail));
        }
        Ok((start, stacks))
    }

    /// Build the rules that the first byte of the output enters from the
    /// closed `start` set.
    fn build_first_byte(&self, start: &[Config], mut stacks: Stacks) {
        let mut next = Vec::new();
        for b in self.first_bytes(start).iter() {
            self.step(start, b, &mut next, &mut stacks);
        }
    }

    /// A fresh matcher at the start of the output.
    pub fn matcher(self: &Arc<Self>) -> Matcher {
        Matcher::new(Arc::clone(self))
    }

    /// The vocabulary this constraint was compiled for.
    pub fn vocab(&self) -> &Arc<Vocabulary> {
        &self.vocab
    }

    /// Number of rule automata built (1 for a regular language; for a
    /// grammar built on first use, the rules built so far).
    pub fn num_rules(&self) -> usize {
        self.rules_built.load(Ordering::Relaxed)
    }

    /// Total automaton states over the rules built.
    pub fn num_states(&self) -> usize {
        self.states_built.load(Ordering::Relaxed)
    }

    /// Whether some rules are left to build on first use.
    pub fn is_partly_built(&self) -> bool {
        self.unbuilt.lock().unwrap_or_else(|p| p.into_inner()).is_some() && self.num_rules() < self.rules.count()
    }

    /// One line per rule automaton built: name, size, build time (for profiling).
    pub fn rule_summaries(&self) -> Vec<RuleSummary> {
        self.rules
            .iter()
            .filter_map(|(_, slot)| {
                let r = slot.built.get()?;
                Some(RuleSummary {
                    name: slot.name.clone(),
                    states: r.dfa.num_states(),
                    called: r.called,
                    has_calls: r.dfa.has_calls(),
                    build_time: r.build_time,
                })
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

    /// The built rule of global state `g`.
    #[inline]
    fn rule_of(&self, g: u32) -> &BuiltRule {
        &self.chunks[(g >> CHUNK_BITS) as usize]
    }

    #[inline]
    fn local(&self, g: u32) -> (&ByteDfa, u32, u32) {
        let r = self.rule_of(g);
        (&r.dfa, g - r.base, r.base)
    }

    /// The cache slot of `g`'s entry.
    #[inline]
    fn entry_slot(&self, g: u32) -> &OnceLock<Arc<StateEntry>> {
        let r = self.rule_of(g);
        &r.entries[(g - r.base) as usize]
    }

    /// The global start state.
    #[inline]
    pub(crate) fn start(&self) -> u32 {
        let r = self.rules[0].built.get().expect("the start rule is built at compile time");
        r.base + r.dfa.start()
    }

    /// The global start state of rule index `rule`, built first if it is
    /// not yet; `None` when that build failed.
    #[inline]
    fn rule_start(&self, rule: u32) -> Option<u32> {
        let r = match self.rules[rule as usize].built.get() {
            Some(r) => r,
            None => self.build_on_first_use(rule)?,
        };
        Some(r.base + r.dfa.start())
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
                let Some(start) = self.rule_start(rule) else {
                    stacks.build_failed = true;
                    continue;
                };
                let below = stacks.push(base + ret, c.below);
                let n = Config { top: start, below };
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
        let slot = self.entry_slot(g);
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
                    let bytes = twin.tokens.bytes() + exits.len() * 12;
                    (Arc::new(StateEntry { tokens: twin.tokens.clone(), exits, overflowed: twin.overflowed }), bytes)
                }
            }
            None => {
                let entry = Arc::new(self.shared_entry(g, stack).unwrap_or_else(|| self.compute_entry(g, stack)));
                let bytes = entry.tokens.bytes() + entry.exits.len() * 12;
                (entry, bytes)
            }
        };
        self.keep(g, &entry, bytes);
        entry
    }

    /// Cache `entry` as `g`'s, within the grammar's cache budget.
    fn keep(&self, g: u32, entry: &Arc<StateEntry>, bytes: usize) {
        let slot = self.entry_slot(g);
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
            if self.entry_slot(g).get().is_none() && self.twin_state(g).is_none() {
                candidates.push(g);
            }
        }
        // Sorted once rather than searched per push: `minecraft-recipe`
        // meets 1,298 configurations over 908 uncached states at once.
        candidates.sort_unstable();
        candidates.dedup();
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
        let bytes = entry.tokens.bytes() + entry.exits.len() * 12;
        self.keep(g, &Arc::new(entry), bytes);
    }

    /// The entries of `states` (at most [`WALK_TOGETHER`]) from one walk of
    /// the whole trie that follows every state's automaton at once.
    fn walk_together(&self, states: &[u32]) -> Vec<StateEntry> {
        let k = states.len();
        let trie = self.vocab.trie();
        let local: Vec<(&ByteDfa, u32, u32)> = states.iter().map(|&g| self.local(g)).collect();
        let called: Vec<bool> = states.iter().map(|&g| self.returns_matter(g)).collect();
        let mut tokens: Vec<Arc<[u32]>> = (0..k).map(|_| self.empty_tokens()).collect();
        let mut words: Vec<&mut [u32]> = tokens.iter_mut().map(writable).collect();
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
                    self.record_node(node, at, words[j], &mut calls_at[j], &mut exits[j]);
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
        let r = self.rule_of(g);
        (r.twin_base != r.base).then(|| {
            let shift = r.base - r.twin_base;
            (g - shift, shift)
        })
    }

    /// The entry of `g` from the vocabulary's shared entries, computing and
    /// sharing it on a miss; `None` when `g`'s future is not shareable (calls
    /// reachable, or too many states).
    fn shared_entry(&self, g: u32, stack: &mut Vec<u32>) -> Option<StateEntry> {
        let (key, order) = self.future_key(g)?;
        let base = self.rule_of(g).base;
        if let Some(shared) = self.vocab.futures().get(&key) {
            let exits = shared.exits.iter().map(|&(node, k)| (node, base + order[k as usize], false)).collect();
            return Some(StateEntry { tokens: shared.tokens.clone(), exits, overflowed: false });
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
        let base = self.rule_of(g).base;
        let exits = entry
            .exits
            .iter()
            .map(|&(node, d, _)| {
                let k = order.iter().position(|&o| o == d - base).expect("exits stay in the future's states");
                (node, k as u32)
            })
            .collect();
        let shared = crate::futures::SharedEntry { tokens: entry.tokens.clone(), exits };
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
            let rule = &self.rules[self.rule_of(g).index as usize].name;
            let words = self.vocab.mask_words();
            assert!(
                entry.tokens.to_words(words) == whole.tokens.to_words(words),
                "tokens of a cut entry differ from a whole walk's (rule {rule})"
            );
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
            None => self.empty_tokens(),
            Some(Cut::View { tokens, .. }) => copied(tokens),
            Some(Cut::Class(c)) => copied(c.tokens.mask(c.max_len)),
        };
        let tokens_mut = writable(&mut tokens);
        let step = |st: u32, b: u8| {
            let n = dfa.next(st, b);
            (n != DEAD).then_some(n)
        };
        let visit = |node: usize, st: u32| {
            let at = Walked { dfa, state: st & !IN_CLASS, base, called };
            self.record_node(node, at, tokens_mut, &mut calls_at, &mut exits)
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
        mark_tokens(tokens, trie.tokens_at(node));
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
        mut tokens: Arc<[u32]>,
        mut exits: Vec<(u32, u32, bool)>,
        calls_at: Vec<(u32, u32)>,
    ) -> StateEntry {
        let mut local = Stacks::default();
        let mut below = BelowScratch::default();
        let mut walk =
            BelowWalk { out: writable(&mut tokens), below: &mut below, stacks: &mut local, exits: &mut exits };
        for (node, d) in calls_at {
            self.walk_subtree(node as usize, Config { top: d, below: ROOT }, &mut walk);
        }
        exits.sort_unstable();
        exits.dedup();
        StateEntry { tokens: TokenSet::from_words(tokens), exits, overflowed: local.overflowed || local.build_failed }
    }

    /// A cleared token set for an entry being computed. Entries are built in
    /// their shared form (`Arc`) from the start: copying a finished 16 KB
    /// set into one was a sixth of the mask time of first visits.
    fn empty_tokens(&self) -> Arc<[u32]> {
        std::iter::repeat_n(0u32, self.vocab.mask_words()).collect()
    }

    /// Whether returning from `g`'s rule can happen (some call enters it).
    #[inline]
    fn returns_matter(&self, g: u32) -> bool {
        self.rule_of(g).called
    }

    /// Mark the tokens below `node` reachable from `seed` by first leaving
    /// its automaton (a call or a return) and then following bytes with the
    /// stack in `stacks`. When `stacks` is a walk-local arena (`exits` given
    /// a home), configurations back on the bottom frame that could return
    /// are recorded as exits instead of being popped.
    fn walk_subtree(&self, node: usize, seed: Config, walk: &mut BelowWalk<'_>) {
        let mut first = Vec::new();
        self.leave(seed, &mut first, walk.stacks);
        self.walk_below(node, &first, None, walk);
    }

    /// The bytes on which some configuration of `set` can step.
    fn first_bytes(&self, set: &[Config]) -> ByteSet {
        let mut bytes = ByteSet::EMPTY;
        for c in set {
            let (dfa, s, _) = self.local(c.top);
            bytes.union(&dfa.live_bytes(s));
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
    ///
    /// Two walks, one exact result. The *set walk* steps the whole closed set
    /// by each byte and closes it again at every node: one pass over a node's
    /// children serves every configuration, which is what small subtrees
    /// need. A set steps and closes configuration by configuration, though,
    /// so the tokens below a node are also the union of what each
    /// configuration reaches on its own: below a node of more than
    /// [`FRAME_WALK_MIN_NODES`] nodes the *frame walk* follows each
    /// configuration in its rule's automaton alone ([`Self::walk_frame`]), a
    /// table lookup per node, closing a set only where that automaton calls
    /// or returns, and a slice can serve it. A string body called in chunks
    /// of 256 characters (a `maxLength` over 1024) stepped and closed its
    /// sets over most of the trie where a token crosses a chunk's end: 16 ms
    /// for one mask. In the frame walk a configuration met again at the same
    /// node is not followed twice, and the set a configuration leaves is
    /// computed once: `below` remembers both until the caller clears it, once
    /// per output (`out` and `exits`) and stack arena, since a walk from one
    /// node and configuration always adds the same.
    fn walk_below(&self, node: usize, first: &[Config], first_bytes: Option<&ByteSet>, walk: &mut BelowWalk<'_>) {
        if first.is_empty() {
            return;
        }
        if *CHECK_ENTRIES {
            return self.walk_below_checked(node, first, walk);
        }
        self.walk_below_by_sets(node, first, first_bytes, walk);
    }

    /// [`Self::walk_below`] compared with a walk that steps and closes the
    /// whole set at every node (`SLUICEGATE_CHECK_ENTRIES=1`).
    fn walk_below_checked(&self, node: usize, first: &[Config], walk: &mut BelowWalk<'_>) {
        let mut by_frames = vec![0u32; walk.out.len()];
        let mut by_sets = vec![0u32; walk.out.len()];
        let (mut exits_frames, mut exits_sets) = (Vec::new(), Vec::new());
        let mut stacks_sets = walk.stacks.clone();
        let mut frames = BelowScratch { sizes: walk.below.sizes, ..BelowScratch::default() };
        self.walk_configs(
            node,
            first,
            &mut BelowWalk { out: &mut by_frames, below: &mut frames, stacks: walk.stacks, exits: &mut exits_frames },
        );
        let mut sets_only = BelowScratch { sizes: WalkSizes::SETS_ONLY, ..BelowScratch::default() };
        self.walk_below_by_sets(
            node,
            first,
            None,
            &mut BelowWalk {
                out: &mut by_sets,
                below: &mut sets_only,
                stacks: &mut stacks_sets,
                exits: &mut exits_sets,
            },
        );
        self.keep_checked(node, walk, (by_frames, exits_frames), (by_sets, exits_sets), "the frame walk", true);
    }

    /// Under the check: assert that a walk's result (`kept`: tokens marked,
    /// exits) agrees with the set walk's from the same node (`sets`): the
    /// same tokens, and the same exits (up to [`Self::exits_agree`] where
    /// `kept` comes from a frame walk), then add `kept` to `walk`.
    fn keep_checked(
        &self,
        node: usize,
        walk: &mut BelowWalk<'_>,
        kept: (Vec<u32>, Vec<(u32, u32, bool)>),
        sets: (Vec<u32>, Vec<(u32, u32, bool)>),
        what: &str,
        frames: bool,
    ) {
        let ((marked, mut exits), (by_sets, mut exits_sets)) = (kept, sets);
        for x in [&mut exits, &mut exits_sets] {
            x.sort_unstable();
            x.dedup();
        }
        assert!(marked == by_sets, "tokens below node {node} differ between {what} and the set walk");
        let agree = if frames { self.exits_agree(&exits, &exits_sets, &by_sets) } else { exits == exits_sets };
        assert!(agree, "exits below node {node} differ between {what} and the set walk");
        or_words(walk.out, &marked);
        walk.exits.extend(exits);
    }

    /// Whether the exits of a frame walk (`frames`) are those of the set
    /// walk (`sets`) from the same nodes, both sorted and deduplicated, given
    /// the tokens the walks marked (equal, checked by the caller). A frame
    /// walk served by a slice skips the nodes that lead only to the slice's
    /// tokens, and with them the exits there: an exit walk below such a node
    /// could only mark tokens already marked, so those may be missing.
    fn exits_agree(&self, frames: &[(u32, u32, bool)], sets: &[(u32, u32, bool)], marked: &[u32]) -> bool {
        let trie = self.vocab.trie();
        let is_marked = |t: u32| marked[(t >> 5) as usize] & (1 << (t & 31)) != 0;
        frames.iter().all(|x| sets.binary_search(x).is_ok())
            && sets
                .iter()
                .filter(|x| frames.binary_search(x).is_err())
                .all(|&(n, _, _)| trie.tokens_below(n as usize).iter().all(|&t| is_marked(t)))
    }

    /// Record as exits at `node` the configurations of `set` on the bottom
    /// frame that could return from it.
    fn push_exits(&self, node: usize, set: &[Config], exits: &mut Vec<(u32, u32, bool)>) {
        for c in set {
            if self.may_return(c) {
                exits.push((node as u32, c.top, false));
            }
        }
    }

    /// Record the exits of the closed set `set` at `node`, then follow each
    /// of its configurations below `node` that this walk has not followed
    /// from `node` yet.
    fn walk_configs(&self, node: usize, set: &[Config], walk: &mut BelowWalk<'_>) {
        // Leaving may itself end on the bottom frame, ready to return (a call
        // to a rule that accepts the empty string, at the end of this rule).
        self.push_exits(node, set, walk.exits);
        for &c in set {
            if walk.below.walked.insert((node as u32, c)) {
                self.walk_frame(node, c, walk);
            }
        }
    }

    /// Follow one configuration below `node` in its rule's automaton: mark
    /// the tokens it reaches, record its exits (returns from the bottom
    /// frame), and where it calls or returns into a real frame, go on from
    /// the closed set it leaves there.
    fn walk_frame(&self, node: usize, c: Config, walk: &mut BelowWalk<'_>) {
        let trie = self.vocab.trie();
        let (dfa, start, base) = self.local(c.top);
        let returns = self.returns_matter(c.top);
        // In free text nearly every node below is alive. When a slice covers
        // the state, its tokens below `node` are allowed (their bytes after
        // `node` are a string of the slice) and only the slice's view, the
        // nodes leading to other tokens, is walked; calls and returns met
        // outside the view could only add tokens already allowed. A slice
        // token's bytes after `node` are a string of the slice only where
        // `node` ends a character: no child may be a continuation byte.
        let mut view = None;
        if trie.skip(node) - node > walk.below.sizes.slice_min_nodes
            && !trie.children(node).any(|j| (0x80..0xC0).contains(&trie.byte(j)))
        {
            if let Some(slice) = self.frame_slice(c.top) {
                for &t in trie.tokens_below(node) {
                    if slice.tokens[(t >> 5) as usize] & (1 << (t & 31)) != 0 {
                        walk.out[(t >> 5) as usize] |= 1 << (t & 31);
                    }
                }
                view = Some(&slice.rest);
            }
        }
        // States by depth, one vector per frame being walked.
        let mut states = walk.below.states.pop().unwrap_or_default();
        let step = |s: u32, b: u8| {
            let n = dfa.next(s, b);
            (n != DEAD).then_some(n)
        };
        let visit = |i: usize, x: u32| {
            mark_tokens(walk.out, trie.tokens_at(i));
            if !trie.has_children(i) {
                return;
            }
            let accepting = dfa.is_accepting(x);
            if c.below == ROOT && accepting && returns {
                walk.exits.push((i as u32, base + x, false));
            }
            if !dfa.calls(x).is_empty() || accepting && c.below != ROOT {
                let seed = Config { top: base + x, below: c.below };
                let mut left = walk.below.sets.pop().unwrap_or_default();
                left.clear();
                match walk.below.left.get(&seed) {
                    Some(known) => left.extend_from_slice(known),
                    None => {
                        self.leave(seed, &mut left, walk.stacks);
                        walk.below.left.insert(seed, left.clone());
                    }
                }
                self.walk_below_by_sets(i, &left, None, walk);
                walk.below.sets.push(left);
            }
        };
        trie.walk_below(view, node, start, &mut states, step, visit);
        walk.below.states.push(states);
    }

    /// The slice covering `g` ([`crate::slice`]), looked up once per state.
    fn frame_slice(&self, g: u32) -> Option<&crate::slice::Slice> {
        let slices = self.vocab.slices();
        let mut known = self.frame_slices.lock().unwrap_or_else(|p| p.into_inner());
        let index = *known.entry(g).or_insert_with(|| {
            let (dfa, s, _) = self.local(g);
            slices.covering(dfa, s)
        });
        index.map(|i| slices.slice(i))
    }

    /// The set walk of [`Self::walk_below`]: the whole closed set is stepped
    /// by each byte and closed again at every node; below a node of more than
    /// `below.sizes.frame_min_nodes` nodes each configuration is followed on
    /// its own ([`Self::walk_configs`]).
    fn walk_below_by_sets(
        &self,
        node: usize,
        first: &[Config],
        first_bytes: Option<&ByteSet>,
        walk: &mut BelowWalk<'_>,
    ) {
        let trie = self.vocab.trie();
        // Taken for the walk: a frame walk below may start a set walk of its own.
        let mut levels = std::mem::take(&mut walk.below.levels);
        let base_depth = trie.depth(node);
        let max = trie.max_depth() - base_depth + 1;
        if levels.len() < max + 1 {
            levels.resize_with(max + 1, Vec::new);
        }
        levels[0].clear();
        levels[0].extend_from_slice(first);
        self.push_exits(node, first, walk.exits);
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
            self.step(&lower[d - 1], b, next, walk.stacks);
            if next.is_empty() {
                i = trie.skip(i);
                continue;
            }
            mark_tokens(walk.out, trie.tokens_at(i));
            if trie.has_children(i) {
                // Below a large node, each configuration is followed on its
                // own ([`Self::walk_configs`]).
                if trie.skip(i) - i > walk.below.sizes.frame_min_nodes {
                    self.walk_configs(i, next, walk);
                    i = trie.skip(i);
                    continue;
                }
                self.push_exits(i, next, walk.exits);
            }
            i += 1;
        }
        walk.below.levels = levels;
    }

    /// Write the mask of a closed configuration set into `out`.
    pub(crate) fn fill_mask(&self, set: &[Config], out: &mut [u32], scratch: &mut Scratch) {
        if set.len() > 1 {
            self.prefetch_entries(set);
        }
        if set.is_empty() {
            out.fill(0);
        }
        for (i, c) in set.iter().enumerate() {
            let entry = self.entry(c.top, &mut scratch.stack);
            scratch.stacks.overflowed |= entry.overflowed;
            if i == 0 {
                entry.tokens.write_into(out);
            } else {
                entry.tokens.or_into(out);
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
    /// rule into the real stack `below` (a mask-time walk). Exits share few
    /// returning states (a string body has one, at its closing quote, and
    /// tens of exit nodes), so the set after each return is computed once,
    /// with the bytes it can step on (children of an exit node on other
    /// bytes are skipped without stepping the set). Where a state has more
    /// than [`REMEMBERED_WALK_MIN_EXITS`] exits (the end of a chunk of a long
    /// string is an exit below thousands of nodes), the walks step
    /// remembered sets instead ([`Self::walk_exits_remembered`]).
    fn walk_exits(&self, exits: &[(u32, u32, bool)], below: u32, out: &mut [u32], scratch: &mut Scratch) {
        if exits.len() > REMEMBERED_WALK_MIN_EXITS {
            return self.walk_exits_remembered(exits, below, out, scratch);
        }
        // The sets of earlier masks stay in `scratch.firsts` (cleared, not
        // freed): the first `used` entries belong to this walk.
        let mut firsts = std::mem::take(&mut scratch.firsts);
        let mut used = 0;
        scratch.below.clear();
        for &(node, d, _) in exits {
            let k = match firsts[..used].iter().position(|(top, _, _)| *top == d) {
                Some(k) => k,
                None => {
                    if used == firsts.len() {
                        firsts.push((d, Vec::new(), ByteSet::EMPTY));
                    }
                    let (top, first, _) = &mut firsts[used];
                    *top = d;
                    self.leave(Config { top: d, below }, first, &mut scratch.stacks);
                    firsts[used].2 = self.first_bytes(&firsts[used].1);
                    used += 1;
                    used - 1
                }
            };
            let (_, first, bytes) = &firsts[k];
            let mut walk = BelowWalk {
                out: &mut *out,
                below: &mut scratch.below,
                stacks: &mut scratch.stacks,
                exits: &mut scratch.ignored,
            };
            self.walk_below(node as usize, first, Some(bytes), &mut walk);
            scratch.ignored.clear();
        }
        scratch.firsts = firsts;
    }

    /// [`Self::walk_exits`] for many exits: the walks below the exit nodes
    /// step remembered sets ([`Self::walk_below_memo`]), kept in the
    /// matcher's scratch from mask to mask.
    fn walk_exits_remembered(&self, exits: &[(u32, u32, bool)], below: u32, out: &mut [u32], scratch: &mut Scratch) {
        if scratch.memo.len() > SetMemo::MAX_SETS {
            scratch.memo.clear();
        }
        // The ids of the sets after each returning state, for this walk.
        let mut first_ids = std::mem::take(&mut scratch.first_ids);
        first_ids.clear();
        let mut first = std::mem::take(&mut scratch.first);
        scratch.below.clear();
        for &(node, d, _) in exits {
            let id = match first_ids.iter().find(|(top, _)| *top == d) {
                Some(&(_, id)) => id,
                None => {
                    self.leave(Config { top: d, below }, &mut first, &mut scratch.stacks);
                    let id = scratch.memo.intern(&first, |set| self.may_exit(set));
                    first_ids.push((d, id));
                    id
                }
            };
            if id == EMPTY {
                continue;
            }
            let mut walk = BelowWalk {
                out: &mut *out,
                below: &mut scratch.below,
                stacks: &mut scratch.stacks,
                exits: &mut scratch.ignored,
            };
            if *CHECK_ENTRIES {
                self.walk_below_memo_checked(node as usize, id, &mut scratch.memo, &mut walk);
            } else {
                self.walk_below_memo(node as usize, id, &mut scratch.memo, &mut walk);
            }
            scratch.ignored.clear();
        }
        scratch.first_ids = first_ids;
        scratch.first = first;
    }

    /// Whether a closed set has configurations on the bottom frame that
    /// could return from it (what [`Self::push_exits`] records).
    fn may_exit(&self, set: &[Config]) -> bool {
        set.iter().any(|c| self.may_return(c))
    }

    /// Whether `c` is on the bottom frame of a walk and could return from it.
    fn may_return(&self, c: &Config) -> bool {
        c.below == ROOT && self.returns_matter(c.top) && self.rule_accepting(c.top)
    }

    /// The set walk of [`Self::walk_below_by_sets`] from the interned set
    /// `first`, stepping sets through `memo`: a step met before is a table
    /// read, a new one is stepped, closed and remembered. Below a node of
    /// more than `frame_min_nodes` nodes each configuration is followed on
    /// its own, as in the set walk.
    fn walk_below_memo(&self, node: usize, first: u32, memo: &mut SetMemo, walk: &mut BelowWalk<'_>) {
        let trie = self.vocab.trie();
        let mut ids = std::mem::take(&mut walk.below.ids);
        let mut set = walk.below.sets.pop().unwrap_or_default();
        let base_depth = trie.depth(node);
        ids.resize(trie.max_depth() - base_depth + 2, EMPTY);
        ids[0] = first;
        if memo.may_exit(first) {
            self.push_exits(node, memo.set(first), walk.exits);
        }
        let end = trie.skip(node);
        let mut i = node + 1;
        while i < end {
            let d = trie.depth(i) - base_depth;
            let b = trie.byte(i);
            let from = ids[d - 1];
            let mut to = memo.next(from, b);
            if to == UNKNOWN {
                to = self.memo_step(memo, from, b, &mut set, walk.stacks);
            }
            if to == EMPTY {
                i = trie.skip(i);
                continue;
            }
            mark_tokens(walk.out, trie.tokens_at(i));
            if trie.has_children(i) {
                if trie.skip(i) - i > walk.below.sizes.frame_min_nodes {
                    set.clear();
                    set.extend_from_slice(memo.set(to));
                    self.walk_configs(i, &set, walk);
                    i = trie.skip(i);
                    continue;
                }
                if memo.may_exit(to) {
                    self.push_exits(i, memo.set(to), walk.exits);
                }
            }
            ids[d] = to;
            i += 1;
        }
        walk.below.ids = ids;
        walk.below.sets.push(set);
    }

    /// Step the interned set `from` by `b`, close it, and remember the step,
    /// unless the close cut the set or met a failed build: those flags must
    /// be raised again at every such step, so it is not remembered.
    fn memo_step(&self, memo: &mut SetMemo, from: u32, b: u8, set: &mut Vec<Config>, stacks: &mut Stacks) -> u32 {
        let raised = (stacks.overflowed, stacks.build_failed);
        stacks.overflowed = false;
        stacks.build_failed = false;
        self.step(memo.set(from), b, set, stacks);
        let to = memo.intern(set, |set| self.may_exit(set));
        if !stacks.overflowed && !stacks.build_failed {
            memo.record(from, b, to);
        }
        stacks.overflowed |= raised.0;
        stacks.build_failed |= raised.1;
        to
    }

    /// [`Self::walk_below_memo`] compared with the set walk from the same
    /// set and with the same sizes (`SLUICEGATE_CHECK_ENTRIES=1`).
    fn walk_below_memo_checked(&self, node: usize, first: u32, memo: &mut SetMemo, walk: &mut BelowWalk<'_>) {
        let mut by_memo = vec![0u32; walk.out.len()];
        let mut by_sets = vec![0u32; walk.out.len()];
        let (mut exits_memo, mut exits_sets) = (Vec::new(), Vec::new());
        let set = memo.set(first).to_vec();
        let mut plain = BelowScratch { sizes: walk.below.sizes, ..BelowScratch::default() };
        self.walk_below_by_sets(
            node,
            &set,
            None,
            &mut BelowWalk { out: &mut by_sets, below: &mut plain, stacks: walk.stacks, exits: &mut exits_sets },
        );
        let mut memo_scratch = BelowScratch { sizes: walk.below.sizes, ..BelowScratch::default() };
        self.walk_below_memo(
            node,
            first,
            memo,
            &mut BelowWalk { out: &mut by_memo, below: &mut memo_scratch, stacks: walk.stacks, exits: &mut exits_memo },
        );
        self.keep_checked(node, walk, (by_memo, exits_memo), (by_sets, exits_sets), "the remembered walk", false);
    }

    /// Left recursion would make a closure grow without end; refused when
    /// every rule is built (a grammar built on first use meets it as the
    /// configuration limit).
    fn check_left_recursion(&self) -> Result<(), CompileError> {
        let dfas: Vec<&ByteDfa> =
            self.rules.iter().map(|(_, r)| &*r.built.get().expect("every rule is built").dfa).collect();
        // Rules reachable from each rule's start without consuming a byte.
        let nullable: Vec<bool> = dfas.iter().map(|d| d.is_accepting(d.start())).collect();
        let mut edges: Vec<Vec<usize>> = vec![Vec::new(); dfas.len()];
        for (r, dfa) in dfas.iter().enumerate() {
            let mut seen = vec![dfa.start()];
            let mut i = 0;
            while i < seen.len() {
                for &(callee, ret) in dfa.calls(seen[i]) {
                    edges[r].push(callee as usize);
                    if nullable[callee as usize] && !seen.contains(&ret) {
                        seen.push(ret);
                    }
                }
                i += 1;
            }
        }
        // Depth-first search for a cycle.
        let mut color = vec![0u8; dfas.len()];
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
        for r in 0..dfas.len() {
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

/// Set the bits of `tokens` in the bitset `out`.
#[inline]
fn mark_tokens(out: &mut [u32], tokens: &[u32]) {
    for &t in tokens {
        out[(t >> 5) as usize] |= 1 << (t & 31);
    }
}

/// Per-matcher scratch space for mask computation.
#[derive(Debug, Clone, Default)]
pub(crate) struct Scratch {
    pub stack: Vec<u32>,
    pub below: BelowScratch,
    pub stacks: Stacks,
    pub ignored: Vec<(u32, u32, bool)>,
    /// The closed sets after each returning state of the exits of one
    /// configuration; entries past those of the current walk are kept only
    /// for their allocations.
    pub firsts: Vec<(u32, Vec<Config>, ByteSet)>,
    /// The returning states of the exits of one configuration, each with
    /// the id (in `memo`) of the closed set after it returns.
    pub first_ids: Vec<(u32, u32)>,
    /// The closed set after one return.
    pub first: Vec<Config>,
    /// Steps of the closed sets walked below exit nodes; valid with `stacks`.
    pub memo: SetMemo,
}

/// Where [`CompiledGrammar::walk_below`] changes method, in trie nodes below
/// a node: the constants, except in the check and the tests.
#[derive(Debug, Clone, Copy)]
struct WalkSizes {
    /// Above this, the set walk hands over to the frame walk.
    frame_min_nodes: usize,
    /// Above this, a frame walk looks for a slice covering its state.
    slice_min_nodes: usize,
}

impl WalkSizes {
    /// The set walk everywhere (what the frame walk is checked against).
    const SETS_ONLY: WalkSizes = WalkSizes { frame_min_nodes: usize::MAX, slice_min_nodes: usize::MAX };
}

impl Default for WalkSizes {
    fn default() -> Self {
        WalkSizes { frame_min_nodes: FRAME_WALK_MIN_NODES, slice_min_nodes: FRAME_SLICE_MIN_NODES }
    }
}

/// What a walk below a node ([`CompiledGrammar::walk_below`]) writes and
/// works with: the mask it marks, its scratch, the stack arena of its
/// configurations, and the exits it records (returns from the bottom frame).
pub(crate) struct BelowWalk<'a> {
    out: &'a mut [u32],
    below: &'a mut BelowScratch,
    stacks: &'a mut Stacks,
    exits: &'a mut Vec<(u32, u32, bool)>,
}

/// Scratch space of [`CompiledGrammar::walk_below`].
#[derive(Debug, Clone, Default)]
pub(crate) struct BelowScratch {
    sizes: WalkSizes,
    /// Automaton states by depth, one vector per frame being walked.
    states: Vec<Vec<u32>>,
    /// The closed sets left at a node, one per frame being walked.
    sets: Vec<Vec<Config>>,
    /// The `(node, configuration)` pairs this walk has followed.
    walked: FxHashSet<(u32, Config)>,
    /// The levels of the set walk ([`CompiledGrammar::walk_below_by_sets`]).
    levels: Vec<Vec<Config>>,
    /// The levels of the remembered set walk ([`CompiledGrammar::walk_below_memo`]), as set ids.
    ids: Vec<u32>,
    /// The closed set each configuration leaves (a call or a return),
    /// computed once per walk: the same value call follows every key.
    left: FxHashMap<Config, Vec<Config>>,
}

impl BelowScratch {
    /// Forget the configurations followed and the sets left, for a walk
    /// into a new output or over a different stack arena (the sizes stay).
    fn clear(&mut self) {
        self.walked.clear();
        self.left.clear();
    }
}

#[cfg(test)]
mod tests {
    use regex_syntax::parse;

    use super::*;
    use crate::ir::{Expr, Rule};

    fn regular(re: &str) -> Expr {
        Expr::regular(parse(re).unwrap())
    }

    /// The frame walk, and the set walk that switches to it below large
    /// nodes, mark the same tokens and record the same exits as the set walk
    /// alone: below the root and every node of up to two bytes, from the
    /// sets reached by the prefixes of a few outputs of grammars with calls
    /// and returns (recursive lists of called string bodies, long bodies
    /// served by a slice, a body that can return anywhere).
    #[test]
    fn frame_and_remembered_walks_mark_what_the_set_walk_marks() {
        let v = crate::slice::tests::vocab();
        let text = r#"[^"\\\x00-\x1F]"#;
        let grammars = [
            // value := "[" (value ("," value)*)? "]" | "\"" text "\""
            Grammar {
                rules: vec![
                    Rule::new(
                        "value",
                        Expr::Alt(vec![
                            Expr::Seq(vec![regular(r"\["), Expr::Rule(0), Expr::Rule(1), regular(r"\]")]),
                            regular(r"\[\]"),
                            Expr::Seq(vec![regular(r#"""#), Expr::Rule(2), regular(r#"""#)]),
                        ]),
                    ),
                    Rule::new(
                        "more",
                        Expr::Alt(vec![Expr::Seq(vec![regular(","), Expr::Rule(0), Expr::Rule(1)]), regular("")]),
                    ),
                    Rule { inline: false, ..Rule::new("text", regular(&format!("{text}{{0,40}}"))) },
                ],
                start: 0,
            },
            // A called body that can return anywhere inside free text.
            Grammar {
                rules: vec![
                    Rule::new("start", Expr::Seq(vec![Expr::Rule(1), regular(r#"""#), Expr::Rule(1), regular("}")])),
                    Rule { inline: false, ..Rule::new("text", regular(&format!("{text}*"))) },
                ],
                start: 0,
            },
        ];
        let outputs: [[&[u8]; 2]; 2] = [[b"[[\"ab\",\"\xc3\xa9\"],[]]", b"[\"a b,}\",[\"x\"]]"], [b"ab\"b}", b"\"}"]];
        let trie = v.trie();
        let nodes: Vec<usize> = (0..trie.num_nodes()).filter(|&n| trie.depth(n) <= 2 && trie.has_children(n)).collect();
        for (grammar, outputs) in grammars.iter().zip(outputs) {
            let g = CompiledGrammar::new(grammar, v.clone(), &CompileOptions::default()).unwrap();
            for output in outputs {
                let (mut set, mut stacks) = g.start_set().unwrap();
                let mut next = Vec::new();
                // Remembered steps live as long as the stack arena, across nodes and bytes.
                let mut memo = SetMemo::default();
                let mut seen_exits = false;
                for &b in output {
                    // The set, and its called configurations taken on the bottom frame
                    // (as an entry's walk takes them): where those may return, walks
                    // record exits.
                    let mut bottom: Vec<Config> = set
                        .iter()
                        .filter(|c| g.returns_matter(c.top))
                        .map(|c| Config { top: c.top, below: ROOT })
                        .collect();
                    g.close(&mut bottom, &mut stacks);
                    for (&node, set) in nodes.iter().flat_map(|n| [(n, &set), (n, &bottom)]) {
                        if set.is_empty() {
                            continue;
                        }
                        let first = memo.intern(set, |set| g.may_exit(set));
                        let mut marked = [(); 4].map(|_| vec![0u32; v.mask_words()]);
                        let mut exits: [Vec<(u32, u32, bool)>; 4] = Default::default();
                        // Sizes small enough for this vocabulary's trie: hand-overs and slices
                        // below nodes of a few bytes.
                        let small = WalkSizes { frame_min_nodes: 8, slice_min_nodes: 8 };
                        let sizes = [WalkSizes::SETS_ONLY, small, small, small];
                        for (k, (out, exits)) in marked.iter_mut().zip(&mut exits).enumerate() {
                            let mut below = BelowScratch { sizes: sizes[k], ..BelowScratch::default() };
                            let mut walk = BelowWalk { out, below: &mut below, stacks: &mut stacks, exits };
                            match k {
                                0 | 2 => g.walk_below_by_sets(node, set, None, &mut walk),
                                1 => g.walk_configs(node, set, &mut walk),
                                _ => g.walk_below_memo(node, first, &mut memo, &mut walk),
                            }
                            exits.sort_unstable();
                            exits.dedup();
                        }
                        seen_exits |= !exits[0].is_empty();
                        for (k, name) in [(1, "frame"), (2, "hybrid"), (3, "remembered")] {
                            assert_eq!(marked[k], marked[0], "{name} walk below node {node} after {b:?}");
                        }
                        // Where a walk hands over to the frame walk, it may skip exits
                        // below which every token is marked anyway.
                        for k in [1, 2, 3] {
                            assert!(
                                g.exits_agree(&exits[k], &exits[0], &marked[0]),
                                "exits below node {node} after {b:?}"
                            );
                        }
                    }
                    g.step(&set, b, &mut next, &mut stacks);
                    assert!(!next.is_empty(), "the output {output:?} is in the grammar");
                    std::mem::swap(&mut set, &mut next);
                }
                assert!(seen_exits, "the walks after {output:?} record exits");
            }
        }
    }
}
