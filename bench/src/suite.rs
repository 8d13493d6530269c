//! The JSON-Schema-Test-Suite runner: per test case, compile the schema and
//! force-feed the instance; record pass, compile error, valid rejected or
//! invalid accepted.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sluicegate_core::{CompileOptions, Vocabulary};
use sluicegate_grammars::json::JsonSchemaOptions;
use sluicegate_grammars::{compile, Constraint};

use crate::feed::{feed, python_dumps, Fed};

/// One case's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// Valid accepted (and complete), or invalid rejected.
    Pass,
    /// The schema did not compile.
    CompileError,
    /// A valid instance was rejected.
    ValidRejected,
    /// An invalid instance was accepted: a soundness bug.
    InvalidAccepted,
}

impl Outcome {
    /// The name used in result files.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::CompileError => "compile_error",
            Outcome::ValidRejected => "valid_rejected",
            Outcome::InvalidAccepted => "invalid_accepted",
        }
    }
}

/// Per-case results, keyed `file::group#index::description`.
pub struct SuiteResult {
    /// Outcome of every case.
    pub cases: BTreeMap<String, Outcome>,
    /// The compile error of each schema that failed, keyed `file::group#index`.
    pub errors: BTreeMap<String, String>,
}

/// Run every `*.json` file directly in `dir` (sub-folders such as
/// `optional/` are not included).
pub fn run(dir: &Path, vocab: Arc<Vocabulary>, tok: &tokenizers::Tokenizer) -> Result<SuiteResult, String> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut cases = BTreeMap::new();
    let mut errors = BTreeMap::new();
    let mut mask = vec![0u32; vocab.mask_words()];
    let mut times: Vec<Duration> = Vec::new();
    for file in files {
        let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("?").to_string();
        let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let groups: Vec<Value> = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
        for (gi, group) in groups.iter().enumerate() {
            let gname = format!("{stem}::{}#{gi}", group["description"].as_str().unwrap_or(""));
            let schema = group["schema"].clone();
            let constraint = Constraint::JsonSchema(schema, JsonSchemaOptions::default());
            let compiled = compile(&constraint, vocab.clone(), &CompileOptions::default());
            let tests = group["tests"].as_array().cloned().unwrap_or_default();
            for (ti, test) in tests.iter().enumerate() {
                let key = format!("{gname}::{}#{ti}", test["description"].as_str().unwrap_or(""));
                let valid = test["valid"].as_bool().unwrap_or(false);
                let outcome = match &compiled {
                    Err(e) => {
                        errors.insert(gname.clone(), e.to_string());
                        Outcome::CompileError
                    }
                    Ok(g) => {
                        let text = python_dumps(&test["data"]);
                        let enc = tok.encode(text.as_str(), false).map_err(|e| e.to_string())?;
                        let mut m = g.matcher();
                        let deadline = Instant::now() + Duration::from_secs(30);
                        let fed = feed(&mut m, enc.get_ids(), &mut mask, &mut times, deadline)?;
                        match (fed, valid) {
                            (Fed::Accepted { accepting: true }, true) => Outcome::Pass,
                            (_, true) => Outcome::ValidRejected,
                            (Fed::Accepted { accepting: true }, false) => Outcome::InvalidAccepted,
                            (Fed::Inconsistent { at }, false) => {
                                return Err(format!("{key}: mask and consume disagree at token {at}"));
                            }
                            (_, false) => Outcome::Pass,
                        }
                    }
                };
                cases.insert(key, outcome);
            }
        }
    }
    Ok(SuiteResult { cases, errors })
}

impl SuiteResult {
    /// Totals and per-file counts, as written by `sluicegate-bench suite`.
    pub fn summary(&self) -> Value {
        let mut per_file: BTreeMap<String, BTreeMap<&'static str, usize>> = BTreeMap::new();
        let mut totals: BTreeMap<&'static str, usize> = BTreeMap::new();
        for (k, o) in &self.cases {
            let file = k.split("::").next().unwrap_or("?").to_string();
            let f = per_file.entry(file).or_default();
            *f.entry("cases").or_default() += 1;
            *f.entry(o.name()).or_default() += 1;
            *totals.entry("cases").or_default() += 1;
            *totals.entry(o.name()).or_default() += 1;
        }
        let get = |m: &BTreeMap<&'static str, usize>, k: &str| m.get(k).copied().unwrap_or(0);
        let files: BTreeMap<String, Value> = per_file
            .iter()
            .map(|(f, m)| {
                (
                    f.clone(),
                    json!({"cases": get(m, "cases"), "pass": get(m, "pass"), "compile_error": get(m, "compile_error"),
                    "valid_rejected": get(m, "valid_rejected"), "invalid_accepted": get(m, "invalid_accepted")}),
                )
            })
            .collect();
        json!({
            "cases": get(&totals, "cases"),
            "pass": get(&totals, "pass"),
            "compile_error": get(&totals, "compile_error"),
            "valid_rejected": get(&totals, "valid_rejected"),
            "invalid_accepted": get(&totals, "invalid_accepted"),
            "files": files,
            "results": self.cases.iter().map(|(k, o)| (k.clone(), Value::String(o.name().into()))).collect::<serde_json::Map<_, _>>(),
            "compile_errors": self.errors,
        })
    }
}
