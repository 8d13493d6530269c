//! # sluicegate-grammars
//!
//! Front ends that turn user constraints into sluicegate's grammar IR
//! ([`sluicegate_core::Grammar`]):
//! - [`regex`]: a regular expression that the whole output must match;
//! - [`choice`]: the output is exactly one of N strings;
//! - [`json`]: a JSON value valid against a JSON Schema;
//! - [`gbnf`] and [`lark`]: context-free grammars (llama.cpp's GBNF, Lark),
//!   sharing one syntax tree and lowering ([`ebnf`]); [`builtin`] holds
//!   ready-made grammars (JSON, arithmetic, CSV, SQL, ISO 8601, function calls).
//!
//! ```
//! use std::sync::Arc;
//! use sluicegate_core::{CompileOptions, TokenEntry, TokenKind, Vocabulary};
//! use sluicegate_grammars::{compile, Constraint};
//!
//! let tokens = ["yes", "no", "y", "n", "o", "e", "s"].iter().enumerate().map(|(i, t)| TokenEntry {
//!     id: i as u32, bytes: t.as_bytes().to_vec(), kind: TokenKind::Text,
//! });
//! let vocab = Arc::new(Vocabulary::from_tokens(tokens, &[], None).unwrap());
//! let c = Constraint::Choice(vec!["yes".into(), "no".into()]);
//! let mut m = compile(&c, vocab, &CompileOptions::default()).unwrap().matcher();
//! m.consume_token(3).unwrap(); // "n"
//! assert_eq!(m.forced_bytes(), b"o");
//! ```
#![deny(missing_docs)]

pub mod builtin;
pub mod choice;
pub mod ebnf;
pub mod gbnf;
pub mod json;
pub mod lark;
pub mod regex;

use std::sync::Arc;

use sluicegate_core::{CompileError, CompileOptions, CompiledGrammar, Grammar, Vocabulary};

/// A user constraint, in any of the supported front-end languages.
#[derive(Debug, Clone)]
pub enum Constraint {
    /// The whole output matches this regular expression.
    Regex(String),
    /// The output is exactly one of these strings.
    Choice(Vec<String>),
    /// The output is a JSON value valid against this schema.
    JsonSchema(serde_json::Value, json::JsonSchemaOptions),
    /// The output matches this GBNF grammar (llama.cpp's format; rule `root`).
    Gbnf(String),
    /// The output matches this Lark grammar (rule `start`).
    Lark(String),
}

impl Constraint {
    /// Translate into the grammar IR.
    pub fn to_grammar(&self) -> Result<Grammar, CompileError> {
        match self {
            Constraint::Regex(p) => regex::grammar(p),
            Constraint::Choice(items) => choice::grammar(items),
            Constraint::JsonSchema(schema, opts) => json::grammar(schema, opts).map(|g| g.grammar),
            Constraint::Gbnf(text) => gbnf::grammar(text),
            Constraint::Lark(text) => lark::grammar(text),
        }
    }
}

/// Translate and compile a constraint for a vocabulary. `opts.time_budget`
/// and `opts.resources` cover the translation too.
pub fn compile(
    constraint: &Constraint,
    vocab: Arc<Vocabulary>,
    opts: &CompileOptions,
) -> Result<Arc<CompiledGrammar>, CompileError> {
    let _budget = sluicegate_core::limits::Budget::enter(&opts.resources, opts.time_budget);
    let grammar = constraint.to_grammar()?;
    // Large grammars keep their IR and build rules on first use.
    let compiled = CompiledGrammar::from_grammar(grammar, vocab, opts)?;
    compiled.prepare_start();
    Ok(compiled)
}
