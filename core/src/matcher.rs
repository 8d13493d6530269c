//! The per-request matcher: the decoding state of one output.

use std::sync::Arc;

use crate::compiled::CompiledGrammar;
use crate::dfa::DEAD;
use crate::error::{escape_bytes, MatchError};
use crate::vocab::TokenKind;

/// Longest run of forced bytes reported by [`Matcher::forced_bytes`].
const MAX_FORCED_BYTES: usize = 1 << 16;

/// Tracks one output against a [`CompiledGrammar`].
///
/// Cheap to clone (a shared pointer and a small state history). Every
/// consumed token or byte string is one *step*; [`Matcher::rollback`]
/// undoes steps.
#[derive(Debug, Clone)]
pub struct Matcher {
    grammar: Arc<CompiledGrammar>,
    /// `states[k]` is the automaton state after `k` steps.
    states: Vec<u32>,
    /// The step at which EOS was consumed, if it was.
    eos_step: Option<usize>,
    /// Scratch for trie walks.
    stack: Vec<u32>,
}

impl Matcher {
    pub(crate) fn new(grammar: Arc<CompiledGrammar>) -> Self {
        let start = grammar.dfa().start();
        Matcher { grammar, states: vec![start], eos_step: None, stack: Vec::new() }
    }

    /// The compiled constraint this matcher follows.
    pub fn grammar(&self) -> &Arc<CompiledGrammar> {
        &self.grammar
    }

    #[inline]
    fn state(&self) -> u32 {
        *self.states.last().expect("states never empty")
    }

    /// Number of steps consumed (tokens, byte strings and EOS).
    pub fn num_steps(&self) -> usize {
        self.states.len() - 1
    }

    /// Write the allowed-token bitset into `out`: bit `t % 32` of word
    /// `t / 32` is set iff token `t` is allowed now. `out` must have
    /// `ceil(mask_width / 32)` words.
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
        let state = self.state();
        self.grammar.fill_mask(state, out, &mut self.stack);
        Ok(())
    }

    /// The mask as a fresh vector.
    pub fn compute_mask_vec(&mut self) -> Vec<u32> {
        let mut out = vec![0; self.grammar.vocab().mask_words()];
        self.compute_mask(&mut out).expect("buffer has the right size");
        out
    }

    /// Whether `token` is allowed now (the mask bit, without computing the mask).
    pub fn is_token_allowed(&self, token: u32) -> Result<bool, MatchError> {
        Ok(self.next_state(token)?.is_some())
    }

    /// The state after `token`, `None` if not allowed.
    fn next_state(&self, token: u32) -> Result<Option<u32>, MatchError> {
        let vocab = self.grammar.vocab();
        if token as usize >= vocab.mask_width() {
            return Err(MatchError::TokenOutOfRange { token, width: vocab.mask_width() });
        }
        let state = self.state();
        if vocab.is_eos(token) {
            let ok = self.eos_step.is_some() || self.grammar.dfa().is_accepting(state);
            return Ok(ok.then_some(state));
        }
        if self.eos_step.is_some() {
            return Err(MatchError::Finished);
        }
        if vocab.kind(token) != TokenKind::Text {
            return Ok(None);
        }
        Ok(self.grammar.dfa().run(state, vocab.token_bytes(token)).ok())
    }

    /// Consume `token` if the constraint allows it; `Ok(false)` (state
    /// unchanged) if it does not.
    pub fn try_consume_token(&mut self, token: u32) -> Result<bool, MatchError> {
        match self.next_state(token)? {
            Some(next) => {
                if self.grammar.vocab().is_eos(token) && self.eos_step.is_none() {
                    self.eos_step = Some(self.states.len());
                }
                self.states.push(next);
                Ok(true)
            }
            None => Ok(false),
        }
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
        match self.grammar.dfa().run(self.state(), bytes) {
            Ok(next) => {
                self.states.push(next);
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
        self.states.truncate(self.states.len() - n);
        if self.eos_step.is_some_and(|s| s >= self.states.len()) {
            self.eos_step = None;
        }
        Ok(())
    }

    /// Back to the start, as if nothing had been consumed.
    pub fn reset(&mut self) {
        self.states.truncate(1);
        self.eos_step = None;
    }

    /// Whether the output so far is complete (EOS would be allowed).
    pub fn is_accepting(&self) -> bool {
        self.eos_step.is_some() || self.grammar.dfa().is_accepting(self.state())
    }

    /// Whether generation is over: EOS was consumed, or the output is
    /// complete and nothing may follow it.
    pub fn is_finished(&self) -> bool {
        self.eos_step.is_some() || {
            let dfa = self.grammar.dfa();
            dfa.is_accepting(self.state()) && dfa.is_terminal(self.state())
        }
    }

    /// The bytes the constraint forces next: the longest string that every
    /// completion of the current output starts with.
    pub fn forced_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.eos_step.is_some() {
            return out;
        }
        let dfa = self.grammar.dfa();
        let mut state = self.state();
        while out.len() < MAX_FORCED_BYTES {
            match dfa.forced_byte(state) {
                Some((b, next)) => {
                    out.push(b);
                    state = next;
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
            let dfa = self.grammar.dfa();
            let end_state = dfa.run(self.state(), &bytes[..pos]).unwrap_or(DEAD);
            let complete = pos == bytes.len() && end_state != DEAD && dfa.is_terminal(end_state);
            if trie.has_children(node) && !complete {
                tokens.pop();
            }
        }
        tokens
    }
}
