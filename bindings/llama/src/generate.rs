//! The masked decoding loop: one or many sequences in one llama.cpp context.
//!
//! Each round puts every running sequence's pending tokens into one batch
//! (prompt chunks, the last sampled token, and fast-forwarded tokens the
//! constraint forces), runs one forward pass, then samples the next token
//! of every sequence whose logits came out, under its own mask. A finished
//! sequence frees its slot for the next request (continuous batching).

use std::sync::Arc;
use std::time::{Duration, Instant};

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::token::LlamaToken;
use rayon::prelude::*;
use sluicegate_core::{CompiledGrammar, Matcher};

use crate::error::{Error, Incomplete, Result};
use crate::model::{Model, Prompt};
use crate::sampling::{self, Rng, SamplingOptions};

/// Per-generation settings.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// Most tokens to generate (forced tokens count too). Reaching it before
    /// the constraint is complete makes the result incomplete.
    pub max_tokens: usize,
    /// Token selection.
    pub sampling: SamplingOptions,
    /// Feed tokens the constraint forces straight to the model in the same
    /// forward pass instead of sampling them one by one.
    pub fast_forward: bool,
    /// Never stop on an end-of-generation token in free generation (for
    /// benchmarks that need a fixed output length).
    pub ignore_eos: bool,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions { max_tokens: 512, sampling: SamplingOptions::default(), fast_forward: true, ignore_eos: false }
    }
}

/// Why a generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// The constraint is satisfied (complete and nothing may follow, or the
    /// model chose EOS where the constraint allowed it).
    Complete,
    /// Unconstrained generation: the model emitted an end-of-generation token.
    Eos,
    /// Stopped early; the output is not complete.
    Incomplete(Incomplete),
}

/// The result of one generation.
#[derive(Debug, Clone)]
pub struct Generation {
    /// The output bytes (without any EOS token).
    pub bytes: Vec<u8>,
    /// The output tokens (without EOS).
    pub tokens: Vec<u32>,
    /// How it ended.
    pub finish: Finish,
    /// Tokens in the rendered prompt.
    pub prompt_tokens: usize,
    /// Output tokens that were forced by the constraint and fast-forwarded.
    pub forced_tokens: usize,
    /// Forward passes that produced a token for this sequence.
    pub decode_rounds: usize,
    /// Time spent computing masks and checking tokens for this sequence.
    pub mask_time: Duration,
    /// Wall time from the start of this sequence to its end.
    pub elapsed: Duration,
}

impl Generation {
    /// The output as text (invalid UTF-8, possible only without a
    /// constraint, is replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    /// Whether the output ended normally (constraint satisfied, or EOS).
    pub fn is_complete(&self) -> bool {
        !matches!(self.finish, Finish::Incomplete(_))
    }

    /// `Ok(self)` when complete, else [`Error::Incomplete`] carrying the
    /// partial output.
    pub fn complete(self) -> Result<Generation> {
        match self.finish {
            Finish::Incomplete(reason) => {
                Err(Error::Incomplete { reason, tokens: self.tokens.len(), text: self.text() })
            }
            _ => Ok(self),
        }
    }
}

/// One generation to run.
#[derive(Debug, Clone)]
pub struct Request {
    /// What the model reads first.
    pub prompt: Prompt,
    /// The constraint on the output (`None`: free generation).
    pub constraint: Option<Arc<CompiledGrammar>>,
    /// Settings.
    pub options: GenerateOptions,
}

impl Request {
    /// A request with default options.
    pub fn new(prompt: Prompt, constraint: Option<Arc<CompiledGrammar>>) -> Self {
        Request { prompt, constraint, options: GenerateOptions::default() }
    }
}

/// What [`Session::generate_many`] reports as it goes.
#[derive(Debug)]
pub enum Event<'a> {
    /// New output text of request `index` (whole UTF-8 characters).
    Text {
        /// The request's position in the input order.
        index: usize,
        /// The new text.
        text: &'a str,
    },
    /// Request `index` ended.
    Done {
        /// The request's position in the input order.
        index: usize,
        /// Its result.
        result: Result<Generation>,
    },
}

/// A llama.cpp context with room for `n_seq` sequences, reusable across
/// generations.
pub struct Session<'m> {
    model: &'m Model,
    ctx: LlamaContext<'m>,
    n_seq: usize,
    batch: LlamaBatch<'static>,
    batch_cap: usize,
    overlap_masks: bool,
}

/// A running sequence in a slot.
struct Running {
    index: usize,
    matcher: Option<Matcher>,
    options: GenerateOptions,
    rng: Rng,
    /// Tokens to feed to the model, from `fed` on.
    feed: Vec<u32>,
    fed: usize,
    /// Next position in this sequence.
    pos: usize,
    /// Batch index of this sequence's logits after the coming decode.
    logits_at: Option<i32>,
    tokens: Vec<u32>,
    bytes: Vec<u8>,
    streamed: usize,
    prompt_tokens: usize,
    forced: usize,
    rounds: usize,
    mask: Vec<u32>,
    /// Whether `mask` holds the mask of the current state.
    mask_ready: bool,
    mask_time: Duration,
    started: Instant,
}

enum Step {
    Continue,
    Finished(Finish),
}

impl Model {
    /// A session for `n_seq` parallel sequences (each with the model's
    /// `n_ctx` tokens of context).
    pub fn session(&self, n_seq: usize) -> Result<Session<'_>> {
        let n_seq = n_seq.clamp(1, 256);
        let ctx = self.new_context(n_seq as u32)?;
        let batch_cap = (self.options.n_batch.max(1) as usize).max(n_seq);
        let overlap_masks = self.options.n_gpu_layers > 0;
        Ok(Session { model: self, ctx, n_seq, batch: LlamaBatch::new(batch_cap, 1), batch_cap, overlap_masks })
    }

    /// Generate one output (a new context is made for it; use a
    /// [`Session`] to reuse one).
    pub fn generate(
        &self,
        prompt: &Prompt,
        constraint: Option<&Arc<CompiledGrammar>>,
        options: &GenerateOptions,
    ) -> Result<Generation> {
        let request = Request { prompt: prompt.clone(), constraint: constraint.cloned(), options: options.clone() };
        self.session(1)?.generate(request, |_| {})
    }
}

impl<'m> Session<'m> {
    /// The model.
    pub fn model(&self) -> &'m Model {
        self.model
    }

    /// Run one request; `on_text` receives the output as it is produced.
    pub fn generate(&mut self, request: Request, mut on_text: impl FnMut(&str)) -> Result<Generation> {
        let mut out = None;
        self.generate_many(std::iter::once(request), |ev| match ev {
            Event::Text { text, .. } => on_text(text),
            Event::Done { result, .. } => out = Some(result),
        })?;
        out.unwrap_or_else(|| Err(Error::Backend("the request produced no result".into())))
    }

    /// Run several requests, up to `n_seq` at a time, and return their
    /// results in input order.
    pub fn generate_batch(&mut self, requests: Vec<Request>) -> Result<Vec<Result<Generation>>> {
        let mut results: Vec<Option<Result<Generation>>> = (0..requests.len()).map(|_| None).collect();
        self.generate_many(requests, |ev| {
            if let Event::Done { index, result } = ev {
                results[index] = Some(result);
            }
        })?;
        Ok(results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(Error::Backend("the request produced no result".into()))))
            .collect())
    }

    /// Run requests as they come from `requests`, up to `n_seq` at a time;
    /// every request gets exactly one [`Event::Done`], in order of completion.
    /// A failed forward pass fails the requests in flight (each reported) and
    /// the session goes on with the rest.
    pub fn generate_many(
        &mut self,
        requests: impl IntoIterator<Item = Request>,
        mut on_event: impl FnMut(Event<'_>),
    ) -> Result<()> {
        let mut pending = requests.into_iter().enumerate();
        let mut slots: Vec<Option<Running>> = (0..self.n_seq).map(|_| None).collect();
        let mut exhausted = false;
        self.ctx.clear_kv_cache();
        let n_ctx = self.model.options.n_ctx.max(64) as usize;
        loop {
            // Fill free slots.
            for (slot, entry) in slots.iter_mut().enumerate() {
                while entry.is_none() && !exhausted {
                    let Some((index, request)) = pending.next() else {
                        exhausted = true;
                        break;
                    };
                    let _ = self.ctx.clear_kv_cache_seq(Some(slot as u32), None, None);
                    match self.start(index, request, n_ctx) {
                        Ok(run) => *entry = Some(run),
                        Err(e) => on_event(Event::Done { index, result: Err(e) }),
                    }
                }
            }
            if slots.iter().all(Option::is_none) {
                return Ok(());
            }
            // Build the batch.
            self.batch.clear();
            let mut room = self.batch_cap;
            for (slot, run) in slots.iter_mut().enumerate() {
                let Some(run) = run else { continue };
                run.logits_at = None;
                let take = (run.feed.len() - run.fed).min(room);
                for k in 0..take {
                    let last = run.fed + k + 1 == run.feed.len();
                    let token = LlamaToken(run.feed[run.fed + k] as i32);
                    self.batch
                        .add(token, run.pos as i32, &[slot as i32], last)
                        .map_err(|e| Error::Backend(format!("batch: {e}")))?;
                    if last {
                        run.logits_at = Some(self.batch.n_tokens() - 1);
                    }
                    run.pos += 1;
                }
                run.fed += take;
                room -= take;
            }
            let decoded = if self.overlap_masks {
                // Compute the masks of the states being decoded while the
                // forward pass runs (on a GPU the CPU is otherwise idle).
                let ctx = &mut self.ctx;
                let batch = &mut self.batch;
                std::thread::scope(|s| {
                    s.spawn(|| {
                        for run in slots.iter_mut().flatten().filter(|r| r.logits_at.is_some()) {
                            run.prepare_mask();
                        }
                    });
                    ctx.decode(batch)
                })
            } else {
                self.ctx.decode(&mut self.batch)
            };
            if let Err(e) = decoded {
                // Fail everything in flight, free the cache, carry on.
                for entry in slots.iter_mut() {
                    if let Some(run) = entry.take() {
                        on_event(Event::Done { index: run.index, result: Err(Error::Decode(e.to_string())) });
                    }
                }
                self.ctx.clear_kv_cache();
                continue;
            }
            let vocab = self.model.vocabulary().clone();
            // Sample every sequence whose logits came out; masks are computed
            // in parallel across sequences.
            let mut outcomes: Vec<(usize, Result<Step>)> = {
                let mut work: Vec<(usize, &mut Running, &[f32])> = Vec::new();
                for (slot, entry) in slots.iter_mut().enumerate() {
                    if let Some(run) = entry {
                        if let Some(at) = run.logits_at {
                            work.push((slot, run, self.ctx.get_logits_ith(at)));
                        }
                    }
                }
                let step = |(slot, run, logits): &mut (usize, &mut Running, &[f32])| {
                    run.rounds += 1;
                    (*slot, run.step(logits, &vocab, n_ctx))
                };
                if work.len() > 1 {
                    work.par_iter_mut().map(step).collect()
                } else {
                    work.iter_mut().map(step).collect()
                }
            };
            for (slot, outcome) in outcomes.drain(..) {
                let entry = &mut slots[slot];
                let Some(run) = entry else { continue };
                run.stream(&mut on_event);
                match outcome {
                    Ok(Step::Continue) => {}
                    Ok(Step::Finished(finish)) => {
                        let run = entry.take().expect("slot is occupied");
                        let index = run.index;
                        on_event(Event::Done { index, result: Ok(run.finish(finish)) });
                    }
                    Err(e) => {
                        let index = run.index;
                        *entry = None;
                        on_event(Event::Done { index, result: Err(e) });
                    }
                }
            }
        }
    }

    fn start(&self, index: usize, request: Request, n_ctx: usize) -> Result<Running> {
        request.options.sampling.validate().map_err(Error::InvalidArgument)?;
        if let Some(g) = &request.constraint {
            if !Arc::ptr_eq(g.vocab(), self.model.vocabulary())
                && g.vocab().mask_width() != self.model.vocab.mask_width()
            {
                return Err(Error::InvalidArgument(
                    "the constraint was compiled for another vocabulary; compile it with Model::compile".into(),
                ));
            }
        }
        let started = Instant::now();
        let text = self.model.render_prompt(&request.prompt)?;
        let prompt = self.model.tokenize(&text);
        if prompt.is_empty() {
            return Err(Error::InvalidArgument("the prompt is empty".into()));
        }
        if prompt.len() >= n_ctx {
            return Err(Error::PromptTooLong { prompt_tokens: prompt.len(), n_ctx });
        }
        let words = self.model.vocabulary().mask_words();
        Ok(Running {
            index,
            matcher: request.constraint.as_ref().map(|g| g.matcher()),
            rng: Rng::new(request.options.sampling.seed),
            options: request.options,
            prompt_tokens: prompt.len(),
            feed: prompt,
            fed: 0,
            pos: 0,
            logits_at: None,
            tokens: Vec::new(),
            bytes: Vec::new(),
            streamed: 0,
            forced: 0,
            rounds: 0,
            mask: vec![0; words],
            mask_ready: false,
            mask_time: Duration::ZERO,
            started,
        })
    }
}

impl Running {
    /// Pick the next token from `logits` and advance.
    fn step(&mut self, logits: &[f32], vocab: &sluicegate_core::Vocabulary, n_ctx: usize) -> Result<Step> {
        let token = self.pick(logits, vocab)?;
        self.mask_ready = false;
        if vocab.is_eos(token) {
            return Ok(Step::Finished(match &mut self.matcher {
                Some(m) => {
                    m.consume_token(token)?;
                    Finish::Complete
                }
                None => Finish::Eos,
            }));
        }
        if let Some(m) = &mut self.matcher {
            m.consume_token(token)?;
        }
        self.push(token, vocab);
        self.feed.clear();
        self.fed = 0;
        self.feed.push(token);
        if let Some(m) = &mut self.matcher {
            if m.is_finished() {
                return Ok(Step::Finished(Finish::Complete));
            }
            if self.options.fast_forward && self.tokens.len() < self.options.max_tokens {
                let t0 = Instant::now();
                let mut forced = m.forced_tokens();
                forced.truncate(self.options.max_tokens - self.tokens.len());
                if !forced.is_empty() {
                    m.consume_tokens(&forced)?;
                }
                let finished = m.is_finished();
                for &t in &forced {
                    self.push(t, vocab);
                }
                self.forced += forced.len();
                self.feed.extend_from_slice(&forced);
                self.mask_time += t0.elapsed();
                if finished {
                    return Ok(Step::Finished(Finish::Complete));
                }
            }
        }
        if self.tokens.len() >= self.options.max_tokens {
            return Ok(Step::Finished(Finish::Incomplete(Incomplete::MaxTokens)));
        }
        if self.pos + self.feed.len() >= n_ctx {
            return Ok(Step::Finished(Finish::Incomplete(Incomplete::ContextFull)));
        }
        Ok(Step::Continue)
    }

    /// Compute the mask of the current state ahead of sampling.
    fn prepare_mask(&mut self) {
        if let (Some(m), false) = (&mut self.matcher, self.mask_ready) {
            let t0 = Instant::now();
            // An error here resurfaces when `pick` computes the mask itself.
            self.mask_ready = m.compute_mask(&mut self.mask).is_ok();
            self.mask_time += t0.elapsed();
        }
    }

    fn pick(&mut self, logits: &[f32], vocab: &sluicegate_core::Vocabulary) -> Result<u32> {
        let Some(m) = &mut self.matcher else {
            if self.options.ignore_eos {
                let mut no_eos = std::borrow::Cow::Borrowed(logits);
                for &e in vocab.eos_tokens() {
                    if let Some(l) = no_eos.to_mut().get_mut(e as usize) {
                        *l = f32::NEG_INFINITY;
                    }
                }
                return sampling::sample(&no_eos, None, &self.options.sampling, &mut self.rng)
                    .ok_or_else(|| self.dead_end());
            }
            return sampling::sample(logits, None, &self.options.sampling, &mut self.rng)
                .ok_or_else(|| self.dead_end());
        };
        let t0 = Instant::now();
        // Greedy: the model's own favourite is usually allowed, and checking
        // one token is far cheaper than a full mask.
        if self.options.sampling.is_greedy() && !self.mask_ready {
            if let Some(t) = sampling::argmax(logits) {
                if m.is_token_allowed(t)? {
                    self.mask_time += t0.elapsed();
                    return Ok(t);
                }
            }
        }
        if !self.mask_ready {
            m.compute_mask(&mut self.mask)?;
            self.mask_ready = true;
        }
        self.mask_time += t0.elapsed();
        sampling::sample(logits, Some(&self.mask), &self.options.sampling, &mut self.rng).ok_or_else(|| self.dead_end())
    }

    fn dead_end(&self) -> Error {
        Error::DeadEnd { generated: self.tokens.len(), text: String::from_utf8_lossy(&self.bytes).into_owned() }
    }

    fn push(&mut self, token: u32, vocab: &sluicegate_core::Vocabulary) {
        self.tokens.push(token);
        self.bytes.extend_from_slice(vocab.token_bytes(token));
    }

    /// Report the new complete UTF-8 text.
    fn stream(&mut self, on_event: &mut impl FnMut(Event<'_>)) {
        let rest = &self.bytes[self.streamed..];
        if rest.is_empty() {
            return;
        }
        let (text, used) = match std::str::from_utf8(rest) {
            Ok(s) => (std::borrow::Cow::Borrowed(s), rest.len()),
            Err(e) => match e.error_len() {
                // An incomplete character at the end: wait for its next bytes.
                None => match std::str::from_utf8(&rest[..e.valid_up_to()]) {
                    Ok(s) => (std::borrow::Cow::Borrowed(s), e.valid_up_to()),
                    Err(_) => return,
                },
                // Invalid bytes (free generation only): replace them.
                Some(bad) => {
                    let n = e.valid_up_to() + bad;
                    (String::from_utf8_lossy(&rest[..n]), n)
                }
            },
        };
        if !text.is_empty() {
            on_event(Event::Text { index: self.index, text: &text });
        }
        self.streamed += used;
    }

    fn finish(self, finish: Finish) -> Generation {
        Generation {
            bytes: self.bytes,
            tokens: self.tokens,
            finish,
            prompt_tokens: self.prompt_tokens,
            forced_tokens: self.forced,
            decode_rounds: self.rounds,
            mask_time: self.mask_time,
            elapsed: self.started.elapsed(),
        }
    }
}
