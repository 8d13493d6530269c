//! Rust errors → the Python exception classes of `sluicegate.errors`.
//!
//! The classes live in Python (so they carry attributes such as a schema
//! error's JSON pointer and are easy to catch and document); this module
//! builds instances of them. A panic inside a call becomes an
//! `InternalError`, never a process abort or a `PanicException`.

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3::BoundObject;
use sluicegate_core::{CompileError, MatchError, VocabError};
use sluicegate_llama::{Error as LlamaError, Incomplete};

/// Which front end a compile error came from: schema errors are
/// `SchemaError`, the others `GrammarError`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    Schema,
    Grammar,
}

impl Source {
    /// The front end of `constraint`.
    pub(crate) fn of(constraint: &sluicegate_grammars::Constraint) -> Self {
        if matches!(constraint, sluicegate_grammars::Constraint::JsonSchema(..)) {
            Source::Schema
        } else {
            Source::Grammar
        }
    }
}

/// An instance of `sluicegate.errors.<class>(message, **attrs)` as a `PyErr`.
pub(crate) fn error(class: &str, message: impl Into<String>, attrs: &[(&str, Py<PyAny>)]) -> PyErr {
    let message = message.into();
    Python::attach(|py| {
        let build = || -> PyResult<PyErr> {
            let cls = py.import("sluicegate.errors")?.getattr(class)?;
            let kwargs = PyDict::new(py);
            for (k, v) in attrs {
                kwargs.set_item(*k, v.bind(py))?;
            }
            Ok(PyErr::from_value(cls.call((message.as_str(),), Some(&kwargs))?))
        };
        build().unwrap_or_else(|e| e)
    })
}

fn attr(value: impl for<'py> IntoPyObject<'py>) -> Py<PyAny> {
    Python::attach(|py| match value.into_pyobject(py) {
        Ok(v) => v.into_any().unbind(),
        Err(_) => py.None(),
    })
}

pub(crate) fn compile_error(e: CompileError, source: Source) -> PyErr {
    let message = e.to_string();
    match e {
        CompileError::Schema { pointer, keyword, .. } => {
            error("SchemaError", message, &[("pointer", attr(pointer)), ("keyword", attr(keyword))])
        }
        CompileError::Grammar { line, column, kind, .. } => error(
            if source == Source::Schema { "SchemaError" } else { "GrammarError" },
            message,
            &[("line", attr(line)), ("column", attr(column)), ("kind", attr(format!("{kind:?}")))],
        ),
        CompileError::TooLarge(_) | CompileError::Limit(_) => error("LimitError", message, &[]),
        CompileError::SchemaText { line, column, .. } => {
            error("SchemaError", message, &[("line", attr(line)), ("column", attr(column))])
        }
        _ if source == Source::Schema => error("SchemaError", message, &[]),
        _ => error("GrammarError", message, &[]),
    }
}

pub(crate) fn vocab_error(e: VocabError) -> PyErr {
    error("TokenizerError", e.to_string(), &[])
}

pub(crate) fn match_error(e: MatchError) -> PyErr {
    let message = e.to_string();
    match e {
        MatchError::TokenOutOfRange { token, .. } => {
            Python::attach(|_| pyo3::exceptions::PyIndexError::new_err(format!("{message} (token {token})")))
        }
        MatchError::TokenRejected { token, .. } => error("TokenRejected", message, &[("token", attr(token))]),
        MatchError::ConfigLimit { .. } | MatchError::RuleBuild { .. } => error("LimitError", message, &[]),
        _ => error("MatcherError", message, &[]),
    }
}

pub(crate) fn llama_error(e: LlamaError) -> PyErr {
    let message = e.to_string();
    match e {
        LlamaError::Compile(c) => compile_error(c, Source::Schema),
        LlamaError::Incomplete { reason, text, .. } => {
            let reason = match reason {
                Incomplete::MaxTokens => "max_tokens",
                Incomplete::ContextFull => "context_full",
            };
            error("GenerationIncomplete", message, &[("reason", attr(reason)), ("text", attr(text))])
        }
        LlamaError::ModelFile { .. } | LlamaError::ModelLoad { .. } | LlamaError::DefaultModelMissing(_) => {
            error("ModelError", message, &[])
        }
        LlamaError::Vocabulary(_) => error("TokenizerError", message, &[]),
        LlamaError::InvalidArgument(_) => Python::attach(|_| pyo3::exceptions::PyValueError::new_err(message)),
        _ => error("GenerationError", message, &[]),
    }
}

/// Run `f`, turning a panic into `sluicegate.errors.InternalError`.
pub(crate) fn guard<T>(f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(error("InternalError", format!("internal error in sluicegate (please report): {what}"), &[]))
        }
    }
}
