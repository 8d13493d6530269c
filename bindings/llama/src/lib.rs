//! # sluicegate-llama
//!
//! Constrained generation with GGUF models through llama.cpp: every token is
//! sampled under sluicegate's mask, so the output always satisfies the
//! constraint (a JSON Schema, a regex, a choice list) or is reported as
//! incomplete, never returned as valid when it is not.
//!
//! - [`Model`]: load a GGUF file (or the default model), read its vocabulary,
//!   compile constraints for it, render chat prompts.
//! - [`Session`]: a context for one or many parallel sequences, with
//!   continuous batching and streaming ([`Session::generate_many`]).
//! - [`Model::generate_typed`]: typed outputs for `T: JsonSchema + DeserializeOwned`.
//! - [`Model::call_tools`]: tool calling with typed arguments.
#![deny(missing_docs)]

mod error;
mod extract;
mod generate;
mod model;
mod sampling;
mod typed;

pub use error::{Error, Incomplete, Result};
pub use extract::extraction_messages;
pub use generate::{Event, Finish, GenerateOptions, Generation, Request, Session};
pub use model::{default_model_path, Message, Model, ModelOptions, Prompt, MODEL_ENV};
pub use sampling::SamplingOptions;
pub use sluicegate_grammars::Constraint;
pub use typed::{schema_for, typed_options, Tool, ToolCall, ToolOptions};

/// The `llama-cpp-2` crate this backend is built on (the version that
/// [`Model::llama_model`] returns a model of), for callers who need
/// llama.cpp's own APIs next to sluicegate's.
pub use llama_cpp_2;
