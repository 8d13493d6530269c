//! Constrained vs unconstrained generation speed on a real model, and the
//! gain from fast-forwarding forced tokens.
//!
//! For each prompt the constrained run goes first; the unconstrained run then
//! generates exactly as many tokens (EOS ignored) from the same prompt, so
//! both do the same number of forward passes over the same context lengths
//! unless fast-forward merges some of them.

use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sluicegate_grammars::Constraint;
use sluicegate_llama::{typed_options, GenerateOptions, Generation, Message, Model, Prompt, Request, Session};

/// Function-call schemas (GlaiveAI, BFCL) of the MaskBench corpus, every
/// `stride`-th, at most `n`.
pub fn function_call_schemas(path: &str, stride: usize, n: usize) -> Result<Vec<(String, Value)>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{path}: {e}"))?;
    let reader: Box<dyn BufRead> = if path.ends_with(".gz") {
        Box::new(BufReader::new(flate2::read::GzDecoder::new(file)))
    } else {
        Box::new(BufReader::new(file))
    };
    let mut out = Vec::new();
    let mut seen = 0usize;
    for line in reader.lines() {
        let line = line.map_err(|e| e.to_string())?;
        let v: Value = serde_json::from_str(&line).map_err(|e| e.to_string())?;
        let id = v["id"].as_str().unwrap_or_default();
        if id.starts_with("Glaiveai2K") || id.starts_with("BFCL") {
            if seen % stride.max(1) == 0 {
                out.push((id.to_string(), v["schema"].clone()));
                if out.len() == n {
                    break;
                }
            }
            seen += 1;
        }
    }
    Ok(out)
}

#[derive(Default)]
struct Totals {
    tokens: usize,
    passes: usize,
    forced: usize,
    wall: Duration,
    mask: Duration,
}

impl Totals {
    fn add(&mut self, g: &Generation, wall: Duration) {
        self.tokens += g.tokens.len();
        self.passes += g.decode_rounds;
        self.forced += g.forced_tokens;
        self.wall += wall;
        self.mask += g.mask_time;
    }

    fn report(&self) -> Value {
        let s = self.wall.as_secs_f64();
        json!({
            "tokens": self.tokens,
            "forward_passes": self.passes,
            "forced_tokens": self.forced,
            "seconds": s,
            "tokens_per_s": self.tokens as f64 / s.max(1e-9),
            "mask_ms_per_token": self.mask.as_secs_f64() * 1e3 / self.tokens.max(1) as f64,
        })
    }
}

fn run(session: &mut Session<'_>, request: Request) -> Result<(Generation, Duration), String> {
    let t0 = Instant::now();
    let g = session.generate(request, |_| {}).map_err(|e| e.to_string())?;
    Ok((g, t0.elapsed()))
}

/// Run the comparison over `schemas` and return the figures.
pub fn compare(model: &Model, schemas: &[(String, Value)], max_tokens: usize) -> Result<Value, String> {
    let mut session = model.session(1).map_err(|e| e.to_string())?;
    let (mut ff, mut plain, mut free) = (Totals::default(), Totals::default(), Totals::default());
    let mut skipped = 0;
    for (_, schema) in schemas {
        let Ok(grammar) = model.compile(&Constraint::JsonSchema(schema.clone(), typed_options())) else {
            skipped += 1;
            continue;
        };
        let prompt = Prompt::Chat(vec![
            Message::system("You call functions. Reply with the JSON arguments only."),
            Message::user(format!("Fill in plausible arguments for this JSON Schema:\n{schema}")),
        ]);
        let opts = GenerateOptions { max_tokens, ..GenerateOptions::default() };
        let request = |constraint, options| Request { prompt: prompt.clone(), constraint, options };
        let (g, wall) = run(&mut session, request(Some(grammar.clone()), opts.clone()))?;
        ff.add(&g, wall);
        let n = g.tokens.len();
        let (g2, wall) =
            run(&mut session, request(Some(grammar.clone()), GenerateOptions { fast_forward: false, ..opts.clone() }))?;
        plain.add(&g2, wall);
        let (g3, wall) =
            run(&mut session, request(None, GenerateOptions { max_tokens: n, ignore_eos: true, ..opts.clone() }))?;
        free.add(&g3, wall);
    }
    let ratio = |a: &Totals, b: &Totals| {
        (a.tokens as f64 / a.wall.as_secs_f64()) / (b.tokens as f64 / b.wall.as_secs_f64()).max(1e-9)
    };
    Ok(json!({
        "schemas": schemas.len() - skipped,
        "skipped_compile_errors": skipped,
        "threads": model.options().n_threads,
        "constrained_fast_forward": ff.report(),
        "constrained_no_fast_forward": plain.report(),
        "unconstrained_same_length": free.report(),
        "constrained_vs_unconstrained": ratio(&plain, &free),
        "fast_forward_vs_unconstrained": ratio(&ff, &free),
        "fast_forward_gain": ratio(&ff, &plain),
    }))
}
