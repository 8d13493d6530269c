//! A compiled constraint: the byte automaton bound to one vocabulary, with
//! a lazily filled, shared cache of token masks per automaton state.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use crate::dfa::{ByteDfa, DfaLimits, DEAD};
use crate::error::CompileError;
use crate::ir::Grammar;
use crate::matcher::Matcher;
use crate::vocab::Vocabulary;

/// Options for compiling a grammar.
#[derive(Debug, Clone)]
pub struct CompileOptions {
    /// Limits on automaton construction.
    pub limits: DfaLimits,
    /// Bytes of token masks the shared cache may hold; states beyond it are
    /// computed on every visit.
    pub mask_cache_bytes: usize,
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions { limits: DfaLimits::default(), mask_cache_bytes: 512 << 20 }
    }
}

/// An immutable compiled constraint, shared by all matchers and threads.
///
/// # Cost
/// Compiling builds the automaton (milliseconds for ordinary regexes); each
/// automaton state's mask is computed by one trie walk the first time any
/// matcher reaches it and then served from the cache.
#[derive(Debug)]
pub struct CompiledGrammar {
    vocab: Arc<Vocabulary>,
    dfa: ByteDfa,
    masks: Vec<OnceLock<Box<[u32]>>>,
    cache_used: AtomicUsize,
    cache_limit: usize,
}

impl CompiledGrammar {
    /// Compile `grammar` for `vocab`.
    pub fn new(grammar: &Grammar, vocab: Arc<Vocabulary>, opts: &CompileOptions) -> Result<Arc<Self>, CompileError> {
        let hir = grammar.to_regular()?;
        let dfa = ByteDfa::from_hir(&hir, &opts.limits)?;
        let masks = (0..dfa.num_states()).map(|_| OnceLock::new()).collect();
        Ok(Arc::new(CompiledGrammar {
            vocab,
            dfa,
            masks,
            cache_used: AtomicUsize::new(0),
            cache_limit: opts.mask_cache_bytes,
        }))
    }

    /// A fresh matcher at the start of the output.
    pub fn matcher(self: &Arc<Self>) -> Matcher {
        Matcher::new(Arc::clone(self))
    }

    /// The vocabulary this constraint was compiled for.
    pub fn vocab(&self) -> &Arc<Vocabulary> {
        &self.vocab
    }

    /// The byte automaton.
    pub fn dfa(&self) -> &ByteDfa {
        &self.dfa
    }

    /// Bytes currently held by the mask cache.
    pub fn mask_cache_bytes(&self) -> usize {
        self.cache_used.load(Ordering::Relaxed)
    }

    /// Write the mask of `state` into `out` (exactly `vocab.mask_words()` words).
    pub(crate) fn fill_mask(&self, state: u32, out: &mut [u32], stack: &mut Vec<u32>) {
        let slot = &self.masks[state as usize];
        if let Some(mask) = slot.get() {
            out.copy_from_slice(mask);
            return;
        }
        self.walk_mask(state, out, stack);
        let bytes = std::mem::size_of_val(out);
        if self.cache_used.fetch_add(bytes, Ordering::Relaxed) + bytes <= self.cache_limit {
            if slot.set(out.to_vec().into_boxed_slice()).is_err() {
                // Another thread filled it first; ours is identical.
                self.cache_used.fetch_sub(bytes, Ordering::Relaxed);
            }
        } else {
            self.cache_used.fetch_sub(bytes, Ordering::Relaxed);
        }
    }

    fn walk_mask(&self, state: u32, out: &mut [u32], stack: &mut Vec<u32>) {
        out.fill(0);
        let trie = self.vocab.trie();
        let dfa = &self.dfa;
        trie.walk(
            state,
            stack,
            |s, b| {
                let n = dfa.next(s, b);
                (n != DEAD).then_some(n)
            },
            |node, _| {
                for &t in trie.tokens_at(node) {
                    out[(t >> 5) as usize] |= 1 << (t & 31);
                }
            },
        );
        if dfa.is_accepting(state) {
            for &e in self.vocab.eos_tokens() {
                out[(e >> 5) as usize] |= 1 << (e & 31);
            }
        }
    }
}
