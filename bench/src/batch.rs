//! Batch masks: many sequences decoded in lockstep, each step's masks
//! computed by one `compute_masks` call on a rayon pool of a given size.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sluicegate_core::{compute_masks, CompileOptions, CompiledGrammar, Matcher, Vocabulary};
use sluicegate_grammars::json::JsonSchemaOptions;
use sluicegate_grammars::{compile, Constraint};

use crate::maskbench::Case;

/// One sequence: a compiled schema and the tokens of one of its valid instances.
struct Lane {
    grammar: Arc<CompiledGrammar>,
    tokens: Vec<u32>,
}

/// Masks computed and the time spent in the batch calls.
#[derive(Debug, Clone, Copy, Default)]
pub struct Throughput {
    /// Masks computed.
    pub masks: usize,
    /// Time inside `compute_masks`.
    pub time: Duration,
}

impl Throughput {
    /// Masks per second.
    pub fn per_second(&self) -> f64 {
        self.masks as f64 / self.time.as_secs_f64().max(1e-9)
    }
}

/// Compile every case's schema (errors are skipped) and pair it with each
/// of its valid instances.
fn lanes(vocab: &Arc<Vocabulary>, cases: &[Case]) -> Vec<Lane> {
    let mut lanes = Vec::new();
    for case in cases {
        let c = Constraint::JsonSchema(case.schema.clone(), JsonSchemaOptions::default());
        let Ok(grammar) = compile(&c, vocab.clone(), &CompileOptions::default()) else { continue };
        for (valid, tokens) in &case.tests {
            if *valid {
                lanes.push(Lane { grammar: grammar.clone(), tokens: tokens.clone() });
            }
        }
    }
    lanes
}

/// Decode every lane in lockstep once: at each step one batch call for the
/// masks of the lanes still running, then each consumes its next token
/// (untimed). A lane whose token is refused stops (an invalid instance
/// for sluicegate; MaskBench counts those).
fn pass(lanes: &[Lane], pool: &rayon::ThreadPool) -> Result<Throughput, String> {
    let words = lanes.first().map_or(0, |l| l.grammar.vocab().mask_words());
    let mut ids: Vec<usize> = (0..lanes.len()).collect();
    let mut matchers: Vec<Matcher> = lanes.iter().map(|l| l.grammar.matcher()).collect();
    let mut out = Vec::new();
    let mut total = Throughput::default();
    let mut step = 0;
    while !matchers.is_empty() {
        out.resize(matchers.len() * words, 0);
        let t0 = Instant::now();
        pool.install(|| compute_masks(&mut matchers, &mut out)).map_err(|e| e.to_string())?;
        total.time += t0.elapsed();
        total.masks += matchers.len();
        let mut running = Vec::with_capacity(matchers.len());
        for (m, &lane) in matchers.iter_mut().zip(&ids) {
            let ok = match lanes[lane].tokens.get(step) {
                Some(&t) => m.try_consume_token(t).map_err(|e| e.to_string())?,
                None => false,
            };
            running.push(ok);
        }
        let mut flags = running.iter();
        matchers.retain(|_| *flags.next().expect("one flag per matcher"));
        let mut flags = running.iter();
        ids.retain(|_| *flags.next().expect("one flag per lane"));
        step += 1;
    }
    Ok(total)
}

/// For each thread count: compile afresh, then a cold pass (every state's
/// entry computed for the first time, shared by the threads) and a warm
/// pass (new matchers on the same compiled schemas).
pub fn run(
    vocab: &Arc<Vocabulary>,
    cases: &[Case],
    threads: &[usize],
) -> Result<Vec<(usize, usize, Throughput, Throughput)>, String> {
    let mut rows = Vec::new();
    for &n in threads {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(n).build().map_err(|e| e.to_string())?;
        let lanes = lanes(vocab, cases);
        let cold = pass(&lanes, &pool)?;
        let warm = pass(&lanes, &pool)?;
        rows.push((n, lanes.len(), cold, warm));
    }
    Ok(rows)
}
