//! Soundness sampling: random walks through sluicegate's masks (uniform over
//! the allowed tokens, ending as soon as the output is complete), each
//! completed output validated by the `jsonschema` crate (formats asserted).

use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use sluicegate_checks::walk::{reference_validator, sorted_keys};
use sluicegate_core::Vocabulary;

use crate::engines::Engine;
use crate::maskbench::Case;

/// Totals of a sampling run.
pub fn run(
    engine: &dyn Engine,
    vocab: &Vocabulary,
    cases: &[Case],
    walks: usize,
    max_tokens: usize,
    seed: u64,
) -> Value {
    let mut rng = SmallRng::seed_from_u64(seed);
    let (mut schemas, mut completed, mut incomplete, mut valid, mut invalid, mut no_validator, mut not_json) =
        (0, 0, 0, 0, 0, 0, 0);
    let mut failures = Vec::new();
    let started = Instant::now();
    for case in cases {
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
                Some(v) if v.is_valid(&value) => valid += 1,
                Some(v) => {
                    invalid += 1;
                    let why: Vec<String> =
                        v.iter_errors(&value).take(3).map(|e| format!("{} at {}", e, e.instance_path)).collect();
                    failures.push(
                        json!({"id": case.id, "output": String::from_utf8_lossy(&out), "reason": why.join("; ")}),
                    );
                }
            }
        }
    }
    json!({
        "engine": engine.name(), "schemas": schemas, "walks": walks, "max_tokens": max_tokens,
        "completed": completed, "incomplete": incomplete, "valid": valid, "invalid": invalid, "not_json": not_json,
        "validator_unavailable": no_validator, "seconds": started.elapsed().as_secs_f64(), "failures": failures,
    })
}
