//! Errors of the llama.cpp backend.

use std::path::PathBuf;

use sluicegate_core::{CompileError, MatchError};

/// Why a generation stopped before the constraint was complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Incomplete {
    /// `max_tokens` tokens were generated.
    MaxTokens,
    /// The model's context window is full.
    ContextFull,
}

/// Everything that can go wrong loading a model or generating with it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The model file does not exist or cannot be read.
    #[error("cannot read model file {path}: {reason}")]
    ModelFile {
        /// The path given.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// llama.cpp refused to load the model file.
    #[error("llama.cpp could not load model {path}: {reason}")]
    ModelLoad {
        /// The path given.
        path: PathBuf,
        /// What llama.cpp reported.
        reason: String,
    },
    /// No model was given and the default model is not installed.
    #[error("{0}")]
    DefaultModelMissing(String),
    /// The model's token list could not be turned into a vocabulary.
    #[error("the model's vocabulary is unusable: {0}")]
    Vocabulary(String),
    /// The llama.cpp backend or a context could not be created.
    #[error("llama.cpp: {0}")]
    Backend(String),
    /// The chat template could not be applied.
    #[error("chat template: {0}")]
    ChatTemplate(String),
    /// The prompt does not fit in the context window.
    #[error("the prompt has {prompt_tokens} tokens but the context holds {n_ctx}")]
    PromptTooLong {
        /// Tokens in the prompt.
        prompt_tokens: usize,
        /// The context size.
        n_ctx: usize,
    },
    /// A forward pass failed.
    #[error("llama.cpp decode failed: {0}")]
    Decode(String),
    /// The constraint could not be compiled.
    #[error(transparent)]
    Compile(#[from] CompileError),
    /// The matcher refused a step (a bug if it happens during masked sampling).
    #[error(transparent)]
    Match(#[from] MatchError),
    /// Every token was masked out: the constraint has no continuation. This
    /// cannot happen for a compiled constraint with a non-empty language
    /// unless the vocabulary cannot spell the remaining bytes.
    #[error("no token can continue the output (after {generated} tokens: {text:?})")]
    DeadEnd {
        /// Tokens generated so far.
        generated: usize,
        /// The output so far.
        text: String,
    },
    /// Generation stopped before the constraint was satisfied; the partial
    /// output is kept so nothing is lost, and it is never returned as valid.
    #[error("generation stopped ({reason:?}) after {tokens} tokens before the output was complete")]
    Incomplete {
        /// Why it stopped.
        reason: Incomplete,
        /// Tokens generated.
        tokens: usize,
        /// The partial output.
        text: String,
    },
    /// The output satisfied the constraint but did not deserialise into the
    /// requested type (a schema/type mismatch in the caller's types).
    #[error("the output does not deserialise into the requested type: {error} (output: {text})")]
    Deserialize {
        /// The serde error.
        error: String,
        /// The output.
        text: String,
    },
    /// An argument was out of range.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
