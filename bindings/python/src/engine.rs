//! The engine API: tokenizers, grammars, compiled grammars, matchers and
//! bitmasks, for callers with their own inference loop.

use std::sync::Arc;
use std::time::Instant;

use numpy::{PyReadwriteArray2, PyUntypedArrayMethods};
use pyo3::exceptions::{PyIndexError, PyValueError};
use pyo3::prelude::*;
use rayon::prelude::*;
use serde_json::Value;
use sluicegate_core::{
    CompileOptions, CompiledGrammar as CoreGrammar, HfLoadOptions, Matcher as CoreMatcher, TokenEntry, TokenKind,
    Vocabulary,
};
use sluicegate_grammars::json::{AdditionalProperties, JsonSchemaOptions, Whitespace};
use sluicegate_grammars::{builtin, json, Constraint};
use sluicegate_llama::{Model, ModelOptions};

use crate::errors::{compile_error, guard, llama_error, match_error, vocab_error, Source};

/// A model's vocabulary: token ids, their bytes, and the EOS tokens.
#[pyclass(module = "sluicegate._native", frozen)]
pub struct Tokenizer {
    pub(crate) vocab: Arc<Vocabulary>,
}

fn hf_options(eos_token_ids: Option<Vec<u32>>, vocab_size: Option<usize>, verify: bool) -> HfLoadOptions {
    HfLoadOptions { verify, mask_width: vocab_size, eos: eos_token_ids }
}

/// The vocabulary with its per-vocabulary mask tables built (token slices),
/// so that the first masks of the first grammar do not pay for them.
fn prepared(vocab: Vocabulary) -> Vocabulary {
    vocab.prepare_masks();
    vocab
}

impl Tokenizer {
    fn check_id(&self, id: u32) -> PyResult<()> {
        if id as usize >= self.vocab.mask_width() {
            return Err(PyIndexError::new_err(format!(
                "token id {id} is out of range (vocab size {})",
                self.vocab.mask_width()
            )));
        }
        Ok(())
    }
}

#[pymethods]
impl Tokenizer {
    /// Load a Hugging Face `tokenizer.json` (or `.json.gz`).
    #[staticmethod]
    #[pyo3(signature = (path, *, eos_token_ids=None, vocab_size=None, verify=true))]
    fn from_file(
        py: Python<'_>,
        path: std::path::PathBuf,
        eos_token_ids: Option<Vec<u32>>,
        vocab_size: Option<usize>,
        verify: bool,
    ) -> PyResult<Self> {
        let opts = hf_options(eos_token_ids, vocab_size, verify);
        let vocab = py.detach(|| Vocabulary::from_hf_file_with(&path, &opts).map(prepared)).map_err(vocab_error)?;
        Ok(Tokenizer { vocab: Arc::new(vocab) })
    }

    /// Load from the text of a `tokenizer.json`.
    #[staticmethod]
    #[pyo3(signature = (text, *, eos_token_ids=None, vocab_size=None, verify=true))]
    fn from_json_str(
        py: Python<'_>,
        text: &str,
        eos_token_ids: Option<Vec<u32>>,
        vocab_size: Option<usize>,
        verify: bool,
    ) -> PyResult<Self> {
        let opts = hf_options(eos_token_ids, vocab_size, verify);
        let raw = text.as_bytes().to_vec();
        let vocab = py
            .detach(|| Vocabulary::from_hf_bytes(&raw, "<tokenizer.json text>", &opts).map(prepared))
            .map_err(vocab_error)?;
        Ok(Tokenizer { vocab: Arc::new(vocab) })
    }

    /// Read the vocabulary of a GGUF model file (weights are not loaded).
    #[staticmethod]
    fn from_gguf(py: Python<'_>, path: std::path::PathBuf) -> PyResult<Self> {
        let options = ModelOptions { vocab_only: true, ..ModelOptions::default() };
        let model = py.detach(|| guard(|| Model::load(&path, options).map_err(llama_error)))?;
        Ok(Tokenizer { vocab: Arc::clone(model.vocabulary()) })
    }

    /// Build from explicit token bytes: `tokens[i]` is the text of id `i`
    /// (`None` for an unused id). `special_token_ids` are never text.
    #[staticmethod]
    #[pyo3(signature = (tokens, eos_token_ids, *, special_token_ids=None, vocab_size=None))]
    fn from_vocab(
        tokens: Vec<Option<Vec<u8>>>,
        eos_token_ids: Vec<u32>,
        special_token_ids: Option<Vec<u32>>,
        vocab_size: Option<usize>,
    ) -> PyResult<Self> {
        let special = special_token_ids.unwrap_or_default();
        let entries = tokens.into_iter().enumerate().filter_map(|(id, bytes)| {
            let id = id as u32;
            let kind =
                if special.contains(&id) || eos_token_ids.contains(&id) { TokenKind::Special } else { TokenKind::Text };
            bytes.map(|bytes| TokenEntry { id, bytes, kind })
        });
        let vocab = Vocabulary::from_tokens(entries, &eos_token_ids, vocab_size).map_err(vocab_error)?;
        Ok(Tokenizer { vocab: Arc::new(prepared(vocab)) })
    }

    /// Width of a mask row: the number of logits the model produces.
    #[getter]
    fn vocab_size(&self) -> usize {
        self.vocab.mask_width()
    }

    /// 32-bit words in one bitmask row.
    #[getter]
    fn bitmask_words(&self) -> usize {
        self.vocab.mask_words()
    }

    /// The ids that end generation.
    #[getter]
    fn eos_token_ids(&self) -> Vec<u32> {
        self.vocab.eos_tokens().to_vec()
    }

    /// The bytes of token `id` (a special token's spelling; empty for unused ids).
    fn token_bytes<'py>(&self, py: Python<'py>, id: u32) -> PyResult<Bound<'py, pyo3::types::PyBytes>> {
        self.check_id(id)?;
        Ok(pyo3::types::PyBytes::new(py, self.vocab.token_bytes(id)))
    }

    /// The text bytes the tokens spell (special tokens are skipped).
    fn decode<'py>(&self, py: Python<'py>, ids: Vec<u32>) -> PyResult<Bound<'py, pyo3::types::PyBytes>> {
        let mut out = Vec::new();
        for id in ids {
            self.check_id(id)?;
            if self.vocab.kind(id) == TokenKind::Text {
                out.extend_from_slice(self.vocab.token_bytes(id));
            }
        }
        Ok(pyo3::types::PyBytes::new(py, &out))
    }

    fn __repr__(&self) -> String {
        format!("Tokenizer(vocab_size={}, eos_token_ids={:?})", self.vocab.mask_width(), self.vocab.eos_tokens())
    }
}

/// A constraint, checked but not yet compiled for a vocabulary.
#[pyclass(module = "sluicegate._native", frozen)]
pub struct Grammar {
    pub(crate) constraint: Constraint,
    kind: &'static str,
    /// Keywords lenient mode dropped: (pointer, keyword, reason).
    dropped: Vec<(String, String, String)>,
}

impl Grammar {
    /// Check a non-schema constraint by translating it once.
    fn checked(constraint: Constraint, kind: &'static str) -> PyResult<Self> {
        guard(|| constraint.to_grammar().map_err(|e| compile_error(e, Source::Grammar)))?;
        Ok(Grammar { constraint, kind, dropped: Vec::new() })
    }
}

/// JSON Schema options from the keyword arguments of `Grammar.json_schema`.
pub(crate) fn json_options(
    whitespace: &str,
    max_whitespace: Option<u32>,
    indent: u32,
    additional_properties: &str,
    lenient: bool,
    integers_without_fraction: bool,
    any_order_max: usize,
) -> PyResult<JsonSchemaOptions> {
    let whitespace = match whitespace {
        "flexible" => Whitespace::Flexible { max_run: max_whitespace },
        "compact" => Whitespace::Compact,
        "indent" => Whitespace::Indent { width: indent },
        other => {
            return Err(PyValueError::new_err(format!(
                "whitespace must be 'flexible', 'compact' or 'indent', not {other:?}"
            )))
        }
    };
    let additional_properties = match additional_properties {
        "spec" => AdditionalProperties::Spec,
        "forbid" => AdditionalProperties::Forbid,
        other => {
            return Err(PyValueError::new_err(format!(
                "additional_properties must be 'spec' or 'forbid', not {other:?}"
            )))
        }
    };
    Ok(JsonSchemaOptions { additional_properties, whitespace, lenient, integers_without_fraction, any_order_max })
}

pub(crate) fn parse_schema(schema_json: &str) -> PyResult<Value> {
    serde_json::from_str(schema_json)
        .map_err(|e| crate::errors::error("SchemaError", format!("the schema is not valid JSON: {e}"), &[]))
}

#[pymethods]
impl Grammar {
    /// A JSON value valid against a JSON Schema (given as JSON text).
    #[staticmethod]
    #[pyo3(signature = (schema_json, *, whitespace="flexible", max_whitespace=None, indent=2,
        additional_properties="spec", lenient=false, integers_without_fraction=false, any_order_max=12))]
    #[allow(clippy::too_many_arguments)]
    fn json_schema(
        schema_json: &str,
        whitespace: &str,
        max_whitespace: Option<u32>,
        indent: u32,
        additional_properties: &str,
        lenient: bool,
        integers_without_fraction: bool,
        any_order_max: usize,
    ) -> PyResult<Self> {
        let schema = parse_schema(schema_json)?;
        let opts = json_options(
            whitespace,
            max_whitespace,
            indent,
            additional_properties,
            lenient,
            integers_without_fraction,
            any_order_max,
        )?;
        let translated = guard(|| json::grammar(&schema, &opts).map_err(|e| compile_error(e, Source::Schema)))?;
        let dropped = translated.dropped.into_iter().map(|d| (d.pointer, d.keyword, d.reason)).collect();
        Ok(Grammar { constraint: Constraint::JsonSchema(schema, opts), kind: "json_schema", dropped })
    }

    /// The whole output matches this regular expression.
    #[staticmethod]
    fn regex(pattern: &str) -> PyResult<Self> {
        Self::checked(Constraint::Regex(pattern.to_string()), "regex")
    }

    /// The output is exactly one of these strings.
    #[staticmethod]
    fn choice(options: Vec<String>) -> PyResult<Self> {
        Self::checked(Constraint::Choice(options), "choice")
    }

    /// A GBNF grammar (llama.cpp's format, start rule `root`).
    #[staticmethod]
    fn gbnf(text: &str) -> PyResult<Self> {
        Self::checked(Constraint::Gbnf(text.to_string()), "gbnf")
    }

    /// A Lark grammar (start rule `start`).
    #[staticmethod]
    fn lark(text: &str) -> PyResult<Self> {
        Self::checked(Constraint::Lark(text.to_string()), "lark")
    }

    /// One of the bundled grammars (`Grammar.builtin_names()` lists them).
    #[staticmethod]
    fn builtin(name: &str) -> PyResult<Self> {
        let b = builtin::get(name).ok_or_else(|| {
            PyValueError::new_err(format!("no built-in grammar {name:?}; known: {}", Self::builtin_names().join(", ")))
        })?;
        Self::checked(b.constraint(), "builtin")
    }

    /// Names of the bundled grammars.
    #[staticmethod]
    fn builtin_names() -> Vec<&'static str> {
        builtin::ALL.iter().map(|b| b.name).collect()
    }

    /// `json_schema`, `regex`, `choice`, `gbnf`, `lark` or `builtin`.
    #[getter]
    fn kind(&self) -> &'static str {
        self.kind
    }

    /// Keywords dropped in lenient mode, as `(json_pointer, keyword, reason)`.
    #[getter]
    fn dropped(&self) -> Vec<(String, String, String)> {
        self.dropped.clone()
    }

    fn __repr__(&self) -> String {
        format!("Grammar(kind={:?})", self.kind)
    }
}

/// Compile `grammar` for `tokenizer`'s vocabulary.
#[pyfunction]
#[pyo3(signature = (grammar, tokenizer, *, time_budget_s=None))]
pub fn compile(
    py: Python<'_>,
    grammar: &Grammar,
    tokenizer: &Tokenizer,
    time_budget_s: Option<f64>,
) -> PyResult<CompiledGrammar> {
    let mut opts = CompileOptions::default();
    if let Some(s) = time_budget_s {
        opts.time_budget = std::time::Duration::try_from_secs_f64(s)
            .map_err(|_| PyValueError::new_err(format!("time_budget_s must be a positive number, not {s}")))?;
    }
    let source = Source::of(&grammar.constraint);
    let vocab = Arc::clone(&tokenizer.vocab);
    let constraint = &grammar.constraint;
    let inner = py.detach(|| {
        guard(|| sluicegate_grammars::compile(constraint, vocab, &opts).map_err(|e| compile_error(e, source)))
    })?;
    Ok(CompiledGrammar { inner })
}

/// A grammar compiled for one vocabulary: immutable, shared by any number of
/// matchers on any threads.
#[pyclass(module = "sluicegate._native", frozen)]
pub struct CompiledGrammar {
    pub(crate) inner: Arc<CoreGrammar>,
}

#[pymethods]
impl CompiledGrammar {
    /// A fresh matcher at the start of the output.
    fn matcher(&self) -> Matcher {
        Matcher { inner: self.inner.matcher() }
    }

    /// Width of a mask row.
    #[getter]
    fn vocab_size(&self) -> usize {
        self.inner.vocab().mask_width()
    }

    /// Automaton states (a measure of the constraint's size).
    #[getter]
    fn num_states(&self) -> usize {
        self.inner.num_states()
    }

    fn __repr__(&self) -> String {
        format!("CompiledGrammar(vocab_size={}, states={})", self.inner.vocab().mask_width(), self.inner.num_states())
    }
}

/// The state of one output being generated under a compiled grammar.
#[pyclass(module = "sluicegate._native")]
pub struct Matcher {
    pub(crate) inner: CoreMatcher,
}

/// All words of a bitmask, which must be C-contiguous.
fn contiguous_words<'a>(bitmask: &'a mut PyReadwriteArray2<'_, i32>) -> PyResult<&'a mut [i32]> {
    bitmask.as_slice_mut().map_err(|_| PyValueError::new_err("the bitmask must be a C-contiguous int32 array"))
}

/// The `index` row of a 2-D int32 bitmask (or the whole 1-D one) as mask words.
fn bitmask_row<'a>(bitmask: &'a mut PyReadwriteArray2<'_, i32>, index: usize, words: usize) -> PyResult<&'a mut [u32]> {
    let shape = bitmask.shape().to_vec();
    if index >= shape[0] {
        return Err(PyIndexError::new_err(format!("bitmask has {} rows; index {index} is out of range", shape[0])));
    }
    if shape[1] < words {
        return Err(PyValueError::new_err(format!(
            "bitmask rows have {} words; this vocabulary needs {words} (allocate_token_bitmask(batch, vocab_size))",
            shape[1]
        )));
    }
    let row_len = shape[1];
    let all = contiguous_words(bitmask)?;
    let row = &mut all[index * row_len..index * row_len + words];
    Ok(bytemuck::cast_slice_mut(row))
}

#[pymethods]
impl Matcher {
    /// Write the allowed-token bitmask into row `index` of `bitmask` (int32,
    /// shape `(batch, ceil(vocab_size / 32))`): bit `t % 32` of word `t / 32`
    /// is set when token `t` is allowed.
    #[pyo3(signature = (bitmask, index=0))]
    fn fill_next_token_bitmask(
        &mut self,
        py: Python<'_>,
        mut bitmask: PyReadwriteArray2<'_, i32>,
        index: usize,
    ) -> PyResult<()> {
        let words = self.inner.grammar().vocab().mask_words();
        let row = bitmask_row(&mut bitmask, index, words)?;
        let matcher = &mut self.inner;
        py.detach(|| guard(|| matcher.compute_mask(row).map_err(match_error)))
    }

    /// The allowed-token bitmask as a new 1-D int32 array.
    fn next_token_bitmask<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, numpy::PyArray1<i32>>> {
        let words = guard(|| self.inner.try_compute_mask_vec().map_err(match_error))?;
        let signed: Vec<i32> = words.into_iter().map(|w| w as i32).collect();
        Ok(numpy::PyArray1::from_vec(py, signed))
    }

    /// Whether `token` is allowed now (without consuming it).
    fn is_token_allowed(&mut self, token: u32) -> PyResult<bool> {
        self.inner.is_token_allowed(token).map_err(match_error)
    }

    /// Consume `token`; raises `TokenRejected` if the grammar forbids it.
    fn consume_token(&mut self, token: u32) -> PyResult<()> {
        self.inner.consume_token(token).map_err(match_error)
    }

    /// Consume `token` if allowed; returns whether it was.
    fn try_consume_token(&mut self, token: u32) -> PyResult<bool> {
        self.inner.try_consume_token(token).map_err(match_error)
    }

    /// Consume several tokens (all or none).
    fn consume_tokens(&mut self, tokens: Vec<u32>) -> PyResult<()> {
        self.inner.consume_tokens(&tokens).map_err(match_error)
    }

    /// Consume raw bytes (text the caller inserted outside the token stream).
    fn consume_bytes(&mut self, data: &[u8]) -> PyResult<()> {
        self.inner.consume_bytes(data).map_err(match_error)
    }

    /// Undo the last `n` consumed steps.
    #[pyo3(signature = (n=1))]
    fn rollback(&mut self, n: usize) -> PyResult<()> {
        self.inner.rollback(n).map_err(match_error)
    }

    /// Back to the start.
    fn reset(&mut self) {
        self.inner.reset();
    }

    /// Whether the output so far is complete (EOS would be allowed).
    fn is_accepting(&self) -> bool {
        self.inner.is_accepting()
    }

    /// Whether nothing but EOS (or nothing at all) may follow.
    fn is_finished(&self) -> bool {
        self.inner.is_finished()
    }

    /// Tokens the grammar forces next (may be empty), for fast-forwarding.
    fn forced_tokens(&self) -> Vec<u32> {
        self.inner.forced_tokens()
    }

    /// Bytes the grammar forces next.
    fn forced_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, pyo3::types::PyBytes> {
        pyo3::types::PyBytes::new(py, &self.inner.forced_bytes())
    }

    /// Steps consumed so far (what `rollback` can undo).
    #[getter]
    fn num_consumed(&self) -> usize {
        self.inner.num_steps()
    }

    /// Benchmark helper: `n` mask computations into `bitmask` row 0 inside
    /// Rust, returning the seconds they took (the Python-call overhead is the
    /// difference with `n` calls of `fill_next_token_bitmask`).
    fn _time_fill_in_rust(&mut self, mut bitmask: PyReadwriteArray2<'_, i32>, n: usize) -> PyResult<f64> {
        let words = self.inner.grammar().vocab().mask_words();
        let row = bitmask_row(&mut bitmask, 0, words)?;
        let start = Instant::now();
        for _ in 0..n {
            self.inner.compute_mask(row).map_err(match_error)?;
        }
        Ok(start.elapsed().as_secs_f64())
    }
}

/// Fill row `i` of `bitmask` with the mask of `matchers[i]` (`indices[i]` when
/// given), computing the rows in parallel without the GIL.
#[pyfunction]
#[pyo3(signature = (matchers, bitmask, indices=None))]
pub fn fill_next_token_bitmasks(
    py: Python<'_>,
    matchers: Vec<PyRefMut<'_, Matcher>>,
    mut bitmask: PyReadwriteArray2<'_, i32>,
    indices: Option<Vec<usize>>,
) -> PyResult<()> {
    let mut matchers = matchers;
    let shape = bitmask.shape().to_vec();
    let indices = indices.unwrap_or_else(|| (0..matchers.len()).collect());
    if indices.len() != matchers.len() {
        return Err(PyValueError::new_err(format!("{} matchers but {} indices", matchers.len(), indices.len())));
    }
    let mut seen = vec![false; shape[0]];
    for &i in &indices {
        if i >= shape[0] {
            return Err(PyIndexError::new_err(format!("bitmask has {} rows; index {i} is out of range", shape[0])));
        }
        if std::mem::replace(&mut seen[i], true) {
            return Err(PyValueError::new_err(format!("row {i} is named twice")));
        }
    }
    let row_len = shape[1];
    for m in matchers.iter() {
        let words = m.inner.grammar().vocab().mask_words();
        if words > row_len {
            return Err(PyValueError::new_err(format!(
                "bitmask rows have {row_len} words; a matcher's vocabulary needs {words}"
            )));
        }
    }
    let all = contiguous_words(&mut bitmask)?;
    // Pair each matcher with its own row: rows are disjoint chunks.
    let mut rows: Vec<Option<&mut [i32]>> = all.chunks_mut(row_len.max(1)).map(Some).collect();
    let mut jobs: Vec<(&mut CoreMatcher, &mut [u32])> = Vec::with_capacity(matchers.len());
    for (m, &i) in matchers.iter_mut().zip(&indices) {
        let row = rows[i].take().expect("indices are distinct");
        let words = m.inner.grammar().vocab().mask_words();
        jobs.push((&mut m.inner, bytemuck::cast_slice_mut(&mut row[..words])));
    }
    py.detach(|| guard(|| jobs.par_iter_mut().try_for_each(|(m, row)| m.compute_mask(row)).map_err(match_error)))
}
