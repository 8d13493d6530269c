//! Regular expressions, in the syntax of Rust's `regex` crate (Perl-like,
//! Unicode-aware: `\d` and `\w` are Unicode classes; write `[0-9]` for ASCII
//! digits).
//!
//! Semantics are full match: the whole output must match, as if the pattern
//! were wrapped in `\A(?:...)\z`.

use regex_syntax::hir::Hir;
use regex_syntax::ParserBuilder;
use sluicegate_core::{CompileError, Grammar};

/// Parse `pattern` into the IR node for its language.
pub fn parse(pattern: &str) -> Result<Hir, CompileError> {
    ParserBuilder::new()
        .utf8(true)
        .nest_limit(250)
        .build()
        .parse(pattern)
        .map_err(|e| CompileError::Regex { pattern: pattern.to_string(), message: e.to_string() })
}

/// A grammar whose whole output matches `pattern`.
pub fn grammar(pattern: &str) -> Result<Grammar, CompileError> {
    Ok(Grammar::regular(parse(pattern)?))
}
