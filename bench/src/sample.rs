//! Soundness sampling: random walks through sluicegate's masks (uniform over
//! the allowed tokens, ending as soon as the output is complete), each
//! completed output validated by the `jsonschema` crate (formats asserted).

use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use sluicegate_checks::walk::{reference_valid, reference_validator, sorted_keys};
use sluicegate_core::Vocabulary;

use crate::engines::Engine;
use crate::maskbench::{rss_mib, Case};

/// A walk stops when the process holds more than this (MiB): one runaway
/// schema must not take the machine down, and the run goes on.
const WALK_RSS_LIMIT_MIB: f64 = 4096.0;
/// Schemas slower than this (compile and walks) are named on stderr.
const SLOW_SCHEMA: Duration = Duration::from_secs(30);

/// The walks of one schema draw from their own generator, seeded from the
/// run's seed and the schema's id (FNV-1a), so a schema's walks are the
/// same whichever subset of the corpus is run.
fn schema_rng(seed: u64, id: &str) -> SmallRng {
    let h = id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3));
    SmallRng::seed_from_u64(seed ^ h)
}

/// Totals of a sampling run.
pub fn run(
    engine: &dyn Engine,
    vocab: &Vocabulary,
    cases: &[Case],
    walks: usize,
    max_tokens: usize,
    seed: u64,
) -> Value {
    let mut memory_stopped = 0;
    let (mut schemas, mut completed, mut incomplete, mut valid, mut invalid, mut no_validator, mut not_json) =
        (0, 0, 0, 0, 0, 0, 0);
    let mut failures = Vec::new();
    let started = Instant::now();
    for (i, case) in cases.iter().enumerate() {
        // A full-corpus run takes most of an hour: running totals on stderr
        // show where it is and keep partial figures if it is stopped.
        if i > 0 && i % 250 == 0 {
            eprintln!(
                "{i}/{} schemas read, {schemas} compiled, {completed} completed, {valid} valid, {invalid} invalid, {:.0} s",
                cases.len(),
                started.elapsed().as_secs_f64()
            );
        }
        let schema_started = Instant::now();
        let mut rng = schema_rng(seed, &case.id);
        let Ok(compiled) = engine.compile(&case.schema) else { continue };
        schemas += 1;
        let validator = reference_validator(&case.schema);
        for _ in 0..walks {
            let mut m = compiled.matcher();
            let mut out = Vec::new();
            let mut done = false;
            let deadline = Instant::now() + Duration::from_secs(10);
            for _ in 0..max_tokens {
                if m.accepting() {
                    done = true;
                    break;
                }
                let allowed = match m.allowed() {
                    Ok(a) => a,
                    Err(_) => break,
                };
                let text: Vec<u32> = allowed.into_iter().filter(|&t| !vocab.is_eos(t)).collect();
                if text.is_empty() || Instant::now() > deadline {
                    break;
                }
                if rss_mib().is_some_and(|r| r > WALK_RSS_LIMIT_MIB) {
                    memory_stopped += 1;
                    eprintln!("{}: walk stopped above {WALK_RSS_LIMIT_MIB} MiB", case.id);
                    break;
                }
                let t = text[rng.random_range(0..text.len())];
                if m.consume(t).is_err() {
                    break;
                }
                out.extend_from_slice(vocab.token_bytes(t));
            }
            if !done && m.accepting() {
                done = true;
            }
            if !done {
                incomplete += 1;
                continue;
            }
            completed += 1;
            let Ok(value) = serde_json::from_slice::<Value>(&out).map(|v| sorted_keys(&v)) else {
                not_json += 1;
                failures.push(json!({"id": case.id, "output": String::from_utf8_lossy(&out), "reason": "not JSON"}));
                continue;
            };
            match &validator {
                None => no_validator += 1,
                Some(v) if reference_valid(v, &value) => valid += 1,
                Some(v) => {
                    invalid += 1;
                    let why: Vec<String> =
                        v.iter_errors(&value).take(3).map(|e| format!("{} at {}", e, e.instance_path)).collect();
                    eprintln!("{}: INVALID output {:?}: {}", case.id, String::from_utf8_lossy(&out), why.join("; "));
                    failures.push(
                        json!({"id": case.id, "output": String::from_utf8_lossy(&out), "reason": why.join("; ")}),
                    );
                }
            }
        }
        if schema_started.elapsed() > SLOW_SCHEMA {
            eprintln!("{}: {:.0} s (compile and walks)", case.id, schema_started.elapsed().as_secs_f64());
        }
    }
    json!({
        "engine": engine.name(), "schemas": schemas, "walks": walks, "max_tokens": max_tokens,
        "completed": completed, "incomplete": incomplete, "valid": valid, "invalid": invalid, "not_json": not_json,
        "validator_unavailable": no_validator, "walks_stopped_for_memory": memory_stopped, "seconds": started.elapsed().as_secs_f64(), "failures": failures,
    })
}
