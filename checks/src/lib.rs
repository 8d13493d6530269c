//! # sluicegate-checks
//!
//! The properties the fuzz targets in `fuzz/` check, written once so that the
//! stable regression test (`tests/replay.rs`, which replays every input in
//! `fuzz/regressions/<target>/`) runs exactly the same code:
//!
//! - compiling any input ends in `Ok` or a typed error, within the limits
//!   of [`fuzz_options`] (a panic, hang or abort is the failure);
//! - on a compiled constraint, "the mask allows `t`" agrees with
//!   "`is_token_allowed(t)`" and with "`try_consume_token(t)` succeeds",
//!   rollback restores the state, and a fresh matcher fed the same tokens
//!   computes the same mask ([`walk`]);
//! - every walk that ends with EOS spells an output that the independent
//!   reference accepts: the `jsonschema` crate for schemas, `regex-automata`'s
//!   own engine for regexes.
//!
//! Each target is a function from bytes to `()` that panics on a violated
//! property; [`Target::run`] dispatches by name.
#![deny(missing_docs)]

pub mod spec;
pub mod vocab;
pub mod walk;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use sluicegate_core::{CompileOptions, CompiledGrammar, DfaLimits};
use sluicegate_grammars::json::JsonSchemaOptions;
use sluicegate_grammars::{compile, Constraint};

pub use walk::{walk, Oracle};

/// The fuzz targets, named as the files in `fuzz/fuzz_targets/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Arbitrary bytes as JSON Schema text (compile only).
    SchemaText,
    /// Schemas generated from the bytes by [`spec::Spec`] (compile only).
    SchemaStructured,
    /// Arbitrary bytes as a regex, then a walk checked against `regex-automata`.
    Regex,
    /// Generated schemas, then a walk checked against `jsonschema`.
    Differential,
}

impl Target {
    /// Every target.
    pub const ALL: [Target; 4] = [Target::SchemaText, Target::SchemaStructured, Target::Regex, Target::Differential];

    /// The target's name (its file in `fuzz/fuzz_targets/` and its folder in `fuzz/regressions/`).
    pub fn name(self) -> &'static str {
        match self {
            Target::SchemaText => "schema_text",
            Target::SchemaStructured => "schema_structured",
            Target::Regex => "regex",
            Target::Differential => "differential",
        }
    }

    /// Check one input; panics when a property is violated.
    pub fn run(self, data: &[u8]) {
        match self {
            Target::SchemaText => schema_text(data),
            Target::SchemaStructured => schema_structured(data),
            Target::Regex => regex(data),
            Target::Differential => differential(data),
        }
    }
}

/// The saved inputs of `target` (`fuzz/regressions/<target>/`), sorted by
/// file name: crashes the fuzzers found and hand-written hostile inputs.
pub fn regression_inputs(target: Target) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions").join(target.name());
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != ".gitkeep"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|f| {
            let data = std::fs::read(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            (f, data)
        })
        .collect()
}

/// Limits small enough that one input takes well under a second, so that a
/// run that hangs is a bug and not a large but legal constraint.
pub fn fuzz_options() -> CompileOptions {
    CompileOptions {
        limits: DfaLimits {
            determinize_bytes: 4 << 20,
            dfa_bytes: 4 << 20,
            max_states: 20_000,
            max_total_bytes: 16 << 20,
        },
        mask_cache_bytes: 16 << 20,
        time_budget: Duration::from_secs(2),
        resources: sluicegate_core::Limits {
            max_rules: 5_000,
            max_expr_nodes: 200_000,
            max_enum_values: 1_000,
            max_literal_bytes: 1 << 16,
            max_configs: 512,
            max_memory_growth: 1 << 30,
        },
    }
}

/// Compile `schema`; any error is fine as long as it is returned, not thrown.
fn compile_schema(schema: &Value) -> Option<Arc<CompiledGrammar>> {
    let constraint = Constraint::JsonSchema(schema.clone(), JsonSchemaOptions::default());
    compile(&constraint, vocab::small(), &fuzz_options()).ok()
}

/// Split `data` at its first NUL: the constraint text, then the walk's choices.
fn split(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

fn schema_text(data: &[u8]) {
    let (text, choices) = split(data);
    let Ok(schema) = serde_json::from_slice::<Value>(text) else { return };
    if let Some(g) = compile_schema(&schema) {
        walk(&g, choices, &Oracle::Schema(&schema), 8);
    }
}

fn schema_structured(data: &[u8]) {
    let Some((schema, _)) = spec::schema_and_rest(data) else { return };
    compile_schema(&schema);
}

fn differential(data: &[u8]) {
    let Some((schema, choices)) = spec::schema_and_rest(data) else { return };
    if let Some(g) = compile_schema(&schema) {
        walk(&g, choices, &Oracle::Schema(&schema), 48);
    }
}

fn regex(data: &[u8]) {
    let (text, choices) = split(data);
    // A pattern is text: non-UTF-8 bytes cannot reach the front end.
    let Ok(pattern) = std::str::from_utf8(text) else { return };
    let Ok(g) = compile(&Constraint::Regex(pattern.into()), vocab::small(), &fuzz_options()) else { return };
    walk(&g, choices, &Oracle::Regex(pattern), 32);
}
