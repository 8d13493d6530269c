//! Choice lists: the output is exactly one of N strings.

use regex_syntax::hir::Hir;
use sluicegate_core::{CompileError, Grammar};

/// The IR node for "exactly one of `items`".
pub fn hir<S: AsRef<str>>(items: &[S]) -> Result<Hir, CompileError> {
    if items.is_empty() {
        return Err(CompileError::Invalid("a choice needs at least one option".into()));
    }
    Ok(Hir::alternation(items.iter().map(|s| Hir::literal(s.as_ref().as_bytes())).collect()))
}

/// A grammar whose output is exactly one of `items`.
pub fn grammar<S: AsRef<str>>(items: &[S]) -> Result<Grammar, CompileError> {
    Ok(Grammar::regular(hir(items)?))
}
