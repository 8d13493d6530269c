//! The per-request matcher: the decoding state of one output.

use std::sync::Arc;

use crate::compiled::{CompiledGrammar, Scratch};
use crate::error::{escape_bytes, MatchError};
use crate::pda::Config;
use crate::vocab::TokenKind;

/// Longest run of forced bytes reported by [`Matcher::forced_bytes`].
const MAX_FORCED_BYTES: usize = 4096;

/// Tracks one output against a [`CompiledGrammar`].
///
/// Cheap to clone (a shared pointer and a small state history). Every
/// consumed token or byte string is one *step*; [`Matcher::rollback`]
/// undoes steps.
#[derive(Debug, Clone)]
pub struct Matcher {
    grammar: Arc<CompiledGrammar>,
    /// `history[k]` is the closed configuration set after `k` steps.
    history: Vec<Vec<Config>>,
    /// The step at which EOS was consumed, if it was.
    eos_step: Option<usize>,
    scratch: Scratch,
    /// Reused buffers for stepping.
    buf_a: Vec<Config>,
    buf_b: Vec<Config>,
    /// Masks of configuration sets this matcher has seen. Stack ids are
    /// stable within a matcher, so a set that recurs (the loop state inside a
    /// string or a number, on the same stack) is answered with a copy.
    masks: MaskCache,
}

/// Configuration-set masks a matcher keeps before starting over.
const MATCHER_MASK_CACHE: usize = 64;

/// The masks of the last [`MATCHER_MASK_CACHE`] new configuration sets, in
/// buffers allocated once and reused: a fresh 16 KB copy per mask (freed
/// again when the cache started over) was a fifth of the time of masks
/// computed from cached entries, most of it page faults on the new memory.
#[derive(Debug, Default)]
struct MaskCache {
    index: rustc_hash::FxHashMap<Vec<Config>, usize>,
    slots: Vec<Box<[u32]>>,
    /// The slot the next mask goes into.
    next: usize,
}

impl MaskCache {
    fn get(&self, set: &[Config]) -> Option<&[u32]> {
        self.index.get(set).map(|&i| &*self.slots[i])
    }

    fn insert(&mut self, set: &[Config], mask: &[u32]) {
        if self.next == MATCHER_MASK_CACHE {
            self.index.clear();
            self.next = 0;
        }
        if self.next == self.slots.len() {
            self.slots.push(mask.into());
        } else {
            self.slots[self.next].copy_from_slice(mask);
        }
        self.index.insert(set.to_vec(), self.next);
        self.next += 1;
    }
}

/// A cloned matcher starts with no cached masks: the cache is only a
/// shortcut, and copying it would make a clone cost up to a megabyte.
impl Clone for MaskCache {
    fn clone(&self) -> Self {
        MaskCache::default()
    }
}

impl Matcher {
    pub(crate) fn new(grammar: Arc<CompiledGrammar>) -> Self {
        let mut scratch = Scratch::default();
        let mut start = vec![Config { top: grammar.start(), below: crate::pda::ROOT }];
        grammar.close(&mut start, &mut scratch.stacks);
        Matcher {
            grammar,
            history: vec![start],
            eos_step: None,
            scratch,
            buf_a: Vec::new(),
            buf_b: Vec::new(),
            masks: MaskCache::default(),
        }
    }

    /// The compiled constraint this matcher follows.
    pub fn grammar(&self) -> &Arc<CompiledGrammar> {
        &self.grammar
    }

    #[inline]
    fn current(&self) -> &[Config] {
        self.history.last().expect("history never empty")
    }

    /// Clear the configuration-limit flag before a step or a mask.
    fn arm_config_limit(&mut self) {
        self.scratch.stacks.overflowed = false;
        self.scratch.stacks.build_failed = false;
    }

    /// Whether the work since [`Matcher::arm_config_limit`] cut a
    /// configuration set: then its result must not be used.
    fn config_limit_hit(&self) -> Result<(), MatchError> {
        let stacks = &self.scratch.stacks;
        if stacks.build_failed || stacks.overflowed {
            // A cached entry is incomplete when a rule it needed failed to build.
            if let Some(message) = self.grammar.build_error() {
                return Err(MatchError::RuleBuild { message });
            }
        }
        if stacks.overflowed {
            return Err(MatchError::ConfigLimit { limit: self.grammar.max_configs() });
        }
        Ok(())
    }

    /// Number of steps consumed (tokens, byte strings and EOS).
    pub fn num_steps(&self) -> usize {
        self.history.len() - 1
    }

    /// Write the allowed-token bitset into `out`: bit `t % 32` of word
    /// `t / 32` is set iff token `t` is allowed now. `out` must have
    /// `ceil(mask_width / 32)` words. Fails with [`MatchError::ConfigLimit`]
    /// (the state unchanged, `out` unspecified) when the mask needs more
    /// configurations than the limit.
    pub fn compute_mask(&mut self, out: &mut [u32]) -> Result<(), MatchError> {
        let vocab = self.grammar.vocab();
        if out.len() != vocab.mask_words() {
            return Err(MatchError::BadMaskBuffer { got: out.len(), expected: vocab.mask_words() });
        }
        if self.eos_step.is_some() {
            out.fill(0);
            for &e in vocab.eos_tokens() {
                out[(e >> 5) as usize] |= 1 << (e & 31);
            }
            return Ok(());
        }
        self.arm_config_limit();
        let set = self.history.last().expect("history never empty");
        if let Some(m) = self.masks.get(set) {
            out.copy_from_slice(m);
            return Ok(());
        }
        self.grammar.fill_mask(set, out, &mut self.scratch);
        self.config_limit_hit()?;
        self.masks.insert(set, out);
        Ok(())
    }

    /// The mask as a fresh vector.
    ///
    /// # Panics
    /// When the configuration limit is hit (see [`Matcher::compute_mask`]);
    /// code that serves untrusted grammars uses [`Matcher::try_compute_mask_vec`].
    pub fn compute_mask_vec(&mut self) -> Vec<u32> {
        self.try_compute_mask_vec().unwrap_or_else(|e| panic!("{e}"))
    }

    /// The mask as a fresh vector, or the error of [`Matcher::compute_mask`].
    pub fn try_compute_mask_vec(&mut self) -> Result<Vec<u32>, MatchError> {
        let mut out = vec![0; self.grammar.vocab().mask_words()];
        self.compute_mask(&mut out)?;
        Ok(out)
    }

    /// Step the current set through `bytes`; the resulting closed set is in
    /// `buf_a`. Returns `Ok(Err(offset))` with the offset of the byte that
    /// killed every configuration, if one did, and an error when a set went
    /// over the configuration limit.
    fn run_bytes(&mut self, bytes: &[u8]) -> Result<Result<(), usize>, MatchError> {
        self.arm_config_limit();
        let run = self.run_bytes_unchecked(bytes);
        self.config_limit_hit()?;
        Ok(run)
    }

    fn run_bytes_unchecked(&mut self, bytes: &[u8]) -> Result<(), usize> {
        self.buf_a.clear();
        self.buf_a.extend_from_slice(self.history.last().expect("history never empty"));
        for (i, &b) in bytes.iter().enumerate() {
            self.grammar.step(&self.buf_a, b, &mut self.buf_b, &mut self.scratch.stacks);
            std::mem::swap(&mut self.buf_a, &mut self.buf_b);
            if self.buf_a.is_empty() {
                return Err(i);
            }
        }
        Ok(())
    }

    fn check_token(&self, token: u32) -> Result<(), MatchError> {
        let width = self.grammar.vocab().mask_width();
        if token as usize >= width {
            return Err(MatchError::TokenOutOfRange { token, width });
        }
        Ok(())
    }

    /// Whether `token` is allowed now (its mask bit), without consuming it.
    pub fn is_token_allowed(&mut self, token: u32) -> Result<bool, MatchError> {
        self.check_token(token)?;
        let vocab = Arc::clone(self.grammar.vocab());
        if vocab.is_eos(token) {
            return Ok(self.is_accepting());
        }
        if self.eos_step.is_some() || vocab.kind(token) != TokenKind::Text {
            return Ok(false);
        }
        Ok(self.run_bytes(vocab.token_bytes(token))?.is_ok())
    }

    /// Consume `token` if the constraint allows it; `Ok(false)` (state
    /// unchanged) if it does not.
    pub fn try_consume_token(&mut self, token: u32) -> Result<bool, MatchError> {
        self.check_token(token)?;
        let vocab = Arc::clone(self.grammar.vocab());
        if vocab.is_eos(token) {
            if !self.is_accepting() {
                return Ok(false);
            }
            if self.eos_step.is_none() {
                self.eos_step = Some(self.history.len());
            }
            let same = self.current().to_vec();
            self.history.push(same);
            return Ok(true);
        }
        if self.eos_step.is_some() {
            return Err(MatchError::Finished);
        }
        if vocab.kind(token) != TokenKind::Text {
            return Ok(false);
        }
        if self.run_bytes(vocab.token_bytes(token))?.is_err() {
            return Ok(false);
        }
        let next = self.buf_a.clone();
        self.history.push(next);
        Ok(true)
    }

    /// Consume `token`; a token the constraint does not allow is an error
    /// and leaves the state unchanged.
    pub fn consume_token(&mut self, token: u32) -> Result<(), MatchError> {
        if self.try_consume_token(token)? {
            Ok(())
        } else {
            Err(MatchError::TokenRejected {
                token,
                text: self.grammar.vocab().token_display(token),
                consumed: self.num_steps(),
            })
        }
    }

    /// Consume several tokens, all or none.
    pub fn consume_tokens(&mut self, tokens: &[u32]) -> Result<(), MatchError> {
        let before = self.num_steps();
        for &t in tokens {
            if let Err(e) = self.consume_token(t) {
                let done = self.num_steps() - before;
                self.rollback(done).expect("rolling back our own steps");
                return Err(e);
            }
        }
        Ok(())
    }

    /// How many leading tokens of `tokens` the constraint would accept, without consuming any.
    pub fn validate_tokens(&self, tokens: &[u32]) -> usize {
        let mut probe = self.clone();
        tokens.iter().take_while(|&&t| probe.try_consume_token(t).unwrap_or(false)).count()
    }

    /// Consume raw bytes as one step (e.g. a prompt-side prefix). Rejected
    /// bytes are an error and leave the state unchanged.
    pub fn consume_bytes(&mut self, bytes: &[u8]) -> Result<(), MatchError> {
        if self.eos_step.is_some() {
            return Err(MatchError::Finished);
        }
        match self.run_bytes(bytes)? {
            Ok(()) => {
                let next = self.buf_a.clone();
                self.history.push(next);
                Ok(())
            }
            Err(offset) => Err(MatchError::BytesRejected { offset, context: escape_bytes(&bytes[..=offset]) }),
        }
    }

    /// Undo the last `n` steps.
    pub fn rollback(&mut self, n: usize) -> Result<(), MatchError> {
        if n > self.num_steps() {
            return Err(MatchError::RollbackTooFar { requested: n, available: self.num_steps() });
        }
        self.history.truncate(self.history.len() - n);
        if self.eos_step.is_some_and(|s| s >= self.history.len()) {
            self.eos_step = None;
        }
        Ok(())
    }

    /// Back to the start, as if nothing had been consumed.
    pub fn reset(&mut self) {
        self.history.truncate(1);
        self.eos_step = None;
    }

    /// Whether the output so far is complete (EOS would be allowed).
    pub fn is_accepting(&self) -> bool {
        self.eos_step.is_some() || self.grammar.set_accepting(self.current())
    }

    /// Whether generation is over: EOS was consumed, or the output is
    /// complete and nothing may follow it.
    pub fn is_finished(&self) -> bool {
        self.eos_step.is_some() || (self.is_accepting() && !self.grammar.set_can_continue(self.current()))
    }

    /// The bytes the constraint forces next: the longest string that every
    /// completion of the current output starts with.
    pub fn forced_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.eos_step.is_some() {
            return out;
        }
        let mut stacks = self.scratch.stacks.clone();
        stacks.overflowed = false;
        stacks.build_failed = false;
        let mut set = self.current().to_vec();
        let mut next = Vec::new();
        let mut only = Vec::new();
        while out.len() < MAX_FORCED_BYTES && !self.grammar.set_accepting(&set) {
            let mut forced = None;
            for b in 0..=255u8 {
                self.grammar.step(&set, b, &mut next, &mut stacks);
                if !next.is_empty() {
                    if forced.is_some() {
                        forced = None;
                        only.clear();
                        break;
                    }
                    forced = Some(b);
                    std::mem::swap(&mut only, &mut next);
                }
            }
            // A cut set may look forced when it is not: stop before it.
            if stacks.overflowed || stacks.build_failed {
                break;
            }
            match forced {
                Some(b) => {
                    out.push(b);
                    std::mem::swap(&mut set, &mut only);
                }
                None => break,
            }
        }
        out
    }

    /// Tokens that spell a prefix of [`Matcher::forced_bytes`], chosen by
    /// greedy longest match, for fast-forwarding without a forward pass per
    /// token. The last token is held back when a longer token could start
    /// with it and run past the forced bytes (the model may prefer that
    /// merge), unless nothing can follow the forced bytes.
    pub fn forced_tokens(&self) -> Vec<u32> {
        let bytes = self.forced_bytes();
        let trie = self.grammar.vocab().trie();
        let mut tokens = Vec::new();
        let mut pos = 0;
        let mut last_node = None;
        while pos < bytes.len() {
            match trie.longest_prefix(&bytes[pos..]) {
                Some((len, node)) => {
                    tokens.push(trie.tokens_at(node)[0]);
                    pos += len;
                    last_node = Some(node);
                }
                None => break,
            }
        }
        if let Some(node) = last_node {
            let complete = pos == bytes.len() && {
                let mut probe = self.clone();
                probe.consume_bytes(&bytes).is_ok() && probe.is_finished()
            };
            if trie.has_children(node) && !complete {
                tokens.pop();
            }
        }
        tokens
    }
}
