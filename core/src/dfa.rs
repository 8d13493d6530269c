//! Byte automata: a compact DFA over bytes with full-match semantics.
//!
//! Built with `regex-automata` (Thompson NFA, then dense determinisation) and
//! copied into our own table, so that we can:
//! - prune every state from which no accepting state is reachable (a token
//!   is allowed only if the output can still be completed, not merely if
//!   the regex engine has not died yet);
//! - decide acceptance at end of input once per state;
//! - index states densely (`0..n`) for per-state caches.

use std::collections::HashMap;

use regex_automata::dfa::{dense, Automaton};
use regex_automata::nfa::thompson;
use regex_automata::util::primitives::StateID;
use regex_automata::util::start;
use regex_automata::{Anchored, MatchKind};
use regex_syntax::hir::Hir;

use crate::error::CompileError;

/// The state id meaning "no continuation is possible".
pub const DEAD: u32 = u32::MAX;

/// Limits on automaton construction.
#[derive(Debug, Clone)]
pub struct DfaLimits {
    /// Bytes the determiniser may use (passed to `regex-automata`).
    pub determinize_bytes: usize,
    /// Bytes the finished dense DFA may use.
    pub dfa_bytes: usize,
    /// Maximum number of states in our table.
    pub max_states: usize,
}

impl Default for DfaLimits {
    fn default() -> Self {
        DfaLimits { determinize_bytes: 256 << 20, dfa_bytes: 256 << 20, max_states: 1 << 20 }
    }
}

/// A deterministic automaton over bytes. Every live state can reach acceptance.
#[derive(Debug, Clone)]
pub struct ByteDfa {
    classes: [u8; 256],
    stride: usize,
    /// `trans[state * stride + class]`, or [`DEAD`].
    trans: Vec<u32>,
    accepting: Vec<bool>,
    start: u32,
}

impl ByteDfa {
    /// Compile a regular expression (full-match semantics: the whole input
    /// must match, as if wrapped in `\A(?:...)\z`).
    pub fn from_hir(hir: &Hir, limits: &DfaLimits) -> Result<Self, CompileError> {
        let nfa = thompson::Compiler::new()
            .configure(thompson::Config::new().shrink(false))
            .build_from_hir(hir)
            .map_err(|e| CompileError::Invalid(format!("cannot build automaton: {e}")))?;
        let dense = dense::Builder::new()
            .configure(
                dense::Config::new()
                    .match_kind(MatchKind::All)
                    .start_kind(regex_automata::dfa::StartKind::Anchored)
                    .minimize(false)
                    .determinize_size_limit(Some(limits.determinize_bytes))
                    .dfa_size_limit(Some(limits.dfa_bytes)),
            )
            .build_from_nfa(&nfa)
            .map_err(|e| {
                let msg = e.to_string();
                if msg.contains("size limit") || msg.contains("exceeded") {
                    CompileError::TooLarge(format!("regular expression automaton: {msg}"))
                } else if msg.contains("word boundary") {
                    CompileError::Unsupported(format!("{msg} (use an ASCII word boundary, (?-u:\\b))"))
                } else {
                    CompileError::Invalid(format!("cannot build automaton: {msg}"))
                }
            })?;
        Self::from_dense(&dense, limits)
    }

    fn from_dense(dfa: &dense::DFA<Vec<u32>>, limits: &DfaLimits) -> Result<Self, CompileError> {
        let start = dfa
            .start_state(&start::Config::new().anchored(Anchored::Yes))
            .map_err(|e| CompileError::Invalid(format!("no anchored start state: {e}")))?;
        // One representative byte per equivalence class.
        let byte_classes = dfa.byte_classes();
        let mut classes = [0u8; 256];
        let mut first: [Option<u8>; 256] = [None; 256];
        for b in 0..=255u8 {
            let c = byte_classes.get(b);
            classes[b as usize] = c;
            first[c as usize].get_or_insert(b);
        }
        let stride = classes.iter().map(|&c| c as usize).max().unwrap_or(0) + 1;
        let reps: Vec<u8> = first[..stride].iter().map(|b| b.expect("class ids are dense")).collect();
        // Breadth-first numbering of the reachable states.
        let mut ids: HashMap<StateID, u32> = HashMap::new();
        let mut order: Vec<StateID> = Vec::new();
        let mut raw_trans: Vec<u32> = Vec::new();
        let mut accepting = Vec::new();
        if dfa.is_dead_state(start) {
            return Err(CompileError::Empty);
        }
        ids.insert(start, 0);
        order.push(start);
        let mut i = 0;
        while i < order.len() {
            let s = order[i];
            accepting.push(dfa.is_match_state(dfa.next_eoi_state(s)));
            for &b in &reps {
                let n = dfa.next_state(s, b);
                if dfa.is_dead_state(n) || dfa.is_quit_state(n) {
                    raw_trans.push(DEAD);
                    continue;
                }
                let next_id = ids.len() as u32;
                let id = *ids.entry(n).or_insert_with(|| {
                    order.push(n);
                    next_id
                });
                raw_trans.push(id);
            }
            if order.len() > limits.max_states {
                return Err(CompileError::TooLarge(format!("automaton has more than {} states", limits.max_states)));
            }
            i += 1;
        }
        // Co-reachability: keep states from which an accepting state is reachable.
        let n = order.len();
        let mut preds: Vec<Vec<u32>> = vec![Vec::new(); n];
        for s in 0..n {
            for &t in &raw_trans[s * stride..(s + 1) * stride] {
                if t != DEAD {
                    preds[t as usize].push(s as u32);
                }
            }
        }
        let mut live = accepting.clone();
        let mut queue: Vec<u32> = (0..n as u32).filter(|&s| live[s as usize]).collect();
        while let Some(s) = queue.pop() {
            for &p in &preds[s as usize] {
                if !live[p as usize] {
                    live[p as usize] = true;
                    queue.push(p);
                }
            }
        }
        if !live[0] {
            return Err(CompileError::Empty);
        }
        // Renumber live states densely.
        let mut new_id = vec![DEAD; n];
        let mut next = 0u32;
        for s in 0..n {
            if live[s] {
                new_id[s] = next;
                next += 1;
            }
        }
        let mut trans = Vec::with_capacity(next as usize * stride);
        let mut acc = Vec::with_capacity(next as usize);
        for s in 0..n {
            if !live[s] {
                continue;
            }
            acc.push(accepting[s]);
            for &t in &raw_trans[s * stride..(s + 1) * stride] {
                trans.push(if t == DEAD { DEAD } else { new_id[t as usize] });
            }
        }
        Ok(ByteDfa { classes, stride, trans, accepting: acc, start: 0 })
    }

    /// The start state.
    #[inline]
    pub fn start(&self) -> u32 {
        self.start
    }

    /// Number of live states.
    pub fn num_states(&self) -> usize {
        self.accepting.len()
    }

    /// The state after `b`, or [`DEAD`].
    #[inline]
    pub fn next(&self, state: u32, b: u8) -> u32 {
        self.trans[state as usize * self.stride + self.classes[b as usize] as usize]
    }

    /// The state after `bytes`, or [`DEAD`] (with the offset of the killing byte).
    pub fn run(&self, mut state: u32, bytes: &[u8]) -> Result<u32, usize> {
        for (i, &b) in bytes.iter().enumerate() {
            state = self.next(state, b);
            if state == DEAD {
                return Err(i);
            }
        }
        Ok(state)
    }

    /// Whether the input so far is a complete match.
    #[inline]
    pub fn is_accepting(&self, state: u32) -> bool {
        self.accepting[state as usize]
    }

    /// The bytes that lead to a live state, as `(byte, next)`; one per byte.
    pub fn live_bytes(&self, state: u32) -> impl Iterator<Item = (u8, u32)> + '_ {
        (0..=255u8).filter_map(move |b| {
            let n = self.next(state, b);
            (n != DEAD).then_some((b, n))
        })
    }

    /// Whether no byte can follow (only end of input is possible).
    pub fn is_terminal(&self, state: u32) -> bool {
        self.trans[state as usize * self.stride..(state as usize + 1) * self.stride].iter().all(|&t| t == DEAD)
    }

    /// If exactly one byte can follow and the state is not accepting, that byte.
    pub fn forced_byte(&self, state: u32) -> Option<(u8, u32)> {
        if self.is_accepting(state) {
            return None;
        }
        let row = &self.trans[state as usize * self.stride..(state as usize + 1) * self.stride];
        let mut live = row.iter().enumerate().filter(|(_, &t)| t != DEAD);
        let (class, &next) = live.next()?;
        if live.next().is_some() {
            return None;
        }
        let mut bytes = (0..=255u8).filter(|&b| self.classes[b as usize] as usize == class);
        let b = bytes.next()?;
        if bytes.next().is_some() {
            return None;
        }
        Some((b, next))
    }
}
