//! # sluicegate-core
//!
//! The token-level machinery of sluicegate, a structured-generation engine:
//! a constraint is compiled into an automaton over bytes, and at every
//! decoding step the [`Matcher`] writes the packed bitset of the tokens that
//! keep the output inside the constraint.
//!
//! The pipeline, one module per stage:
//! [`vocab`] (token ids → bytes) → [`trie`] (token trie) → [`ir`] (grammar)
//! → [`dfa`] (byte automata) → [`compiled`] (constraint + mask cache) →
//! [`matcher`] (per-request state).
//!
//! ```
//! use std::sync::Arc;
//! use sluicegate_core::{CompiledGrammar, CompileOptions, Grammar, TokenEntry, TokenKind, Vocabulary};
//!
//! // A toy vocabulary: digits, "10", and an EOS token.
//! let mut tokens: Vec<TokenEntry> = (0..10u32)
//!     .map(|d| TokenEntry { id: d, bytes: d.to_string().into_bytes(), kind: TokenKind::Text })
//!     .collect();
//! tokens.push(TokenEntry { id: 10, bytes: b"10".to_vec(), kind: TokenKind::Text });
//! tokens.push(TokenEntry { id: 11, bytes: b"</s>".to_vec(), kind: TokenKind::Special });
//! let vocab = Arc::new(Vocabulary::from_tokens(tokens, &[11], None).unwrap());
//!
//! // Constraint: a number from 1 to 3 digits.
//! let hir = regex_syntax::parse("[1-9][0-9]{0,2}").unwrap();
//! let grammar = CompiledGrammar::new(&Grammar::regular(hir), vocab, &CompileOptions::default()).unwrap();
//! let mut m = grammar.matcher();
//!
//! let mask = m.compute_mask_vec();
//! assert_eq!(mask[0] & 1, 0); // "0" cannot start the number
//! m.consume_token(10).unwrap(); // "10"
//! assert!(m.is_accepting());
//! m.consume_token(5).unwrap(); // "105"
//! assert!(m.is_finished()); // three digits: only EOS may follow
//! assert!(m.consume_token(1).is_err());
//! m.consume_token(11).unwrap();
//! ```
//!
//! Costs: a mask is one trie walk the first time an automaton state is seen
//! (inside free text, a precomputed token slice plus a walk of the few
//! thousand trie nodes outside it), then a copy of `ceil(n_vocab / 32)`
//! words from the shared cache. [`compute_masks`] computes a batch of
//! matchers' masks in parallel.
#![deny(missing_docs)]

pub mod any_order;
pub mod batch;
mod calls;
pub mod compiled;
mod counted;
pub mod dfa;
pub mod error;
mod futures;
mod glushkov;
#[cfg(feature = "hf")]
pub mod hf;
pub mod ir;
mod length;
pub mod limits;
pub mod matcher;
mod pda;
mod rules;
mod set_memo;
pub mod shared;
mod slice;
mod tokens;
pub mod trie;
pub mod vocab;

pub use any_order::{AnyOrder, AnyOrderMember};
pub use batch::compute_masks;
pub use compiled::{CompileOptions, CompiledGrammar};
pub use dfa::DfaLimits;
pub use error::{CompileError, GrammarErrorKind, MatchError, VocabError};
#[cfg(feature = "hf")]
pub use hf::HfLoadOptions;
pub use ir::{Expr, Grammar, Rule, RuleId};
pub use limits::{Limit, LimitExceeded, Limits};
pub use matcher::Matcher;
pub use regex_syntax;
pub use trie::TokenTrie;
pub use vocab::{LoadReport, TokenEntry, TokenKind, UnmappedToken, Vocabulary};
