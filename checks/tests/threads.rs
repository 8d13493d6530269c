//! One compiled grammar shared by many matchers on many threads at once gives
//! exactly the masks of single-threaded use. The shared grammars start with a
//! cold mask cache, so the threads race to fill the same entries; the
//! reference masks come from separately compiled copies, walked on one thread.

use std::path::PathBuf;
use std::sync::{Arc, Barrier};

use serde_json::json;
use sluicegate_core::{CompileOptions, CompiledGrammar, Vocabulary};
use sluicegate_grammars::json::JsonSchemaOptions;
use sluicegate_grammars::{compile, Constraint};

const THREADS: usize = 8;
const WALKS_PER_THREAD: u64 = 3;
const STEPS: usize = 40;

fn vocab() -> Arc<Vocabulary> {
    let data = std::env::var_os("SLUICEGATE_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"));
    let path = data.join("tokenizers/llama3_1.tokenizer.json.gz");
    Arc::new(Vocabulary::from_hf_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

fn constraints() -> Vec<Constraint> {
    let schema = |s| Constraint::JsonSchema(s, JsonSchemaOptions::default());
    vec![
        // Recursion (calls, stacks, exits walked at mask time).
        schema(json!({
            "$defs": {"node": {"type": "object", "properties": {
                "name": {"type": "string", "maxLength": 12},
                "children": {"type": "array", "items": {"$ref": "#/$defs/node"}, "maxItems": 3}},
                "required": ["name"]}},
            "$ref": "#/$defs/node"
        })),
        // Members in any order, formats, enums, numbers with bounds.
        schema(json!({"type": "object", "properties": {
            "id": {"type": "string", "format": "uuid"},
            "kind": {"enum": ["a", "b", "long value", 3, null]},
            "score": {"type": "number", "minimum": -5, "exclusiveMaximum": 100.5},
            "when": {"type": "string", "format": "date-time"}},
            "required": ["id", "kind"], "additionalProperties": false})),
        schema(json!({"type": "array", "items": {"anyOf": [
            {"type": "string", "pattern": "^[a-z]{2,6}$"},
            {"type": "integer", "multipleOf": 3},
            {"type": "boolean"}]}, "minItems": 1})),
        Constraint::Gbnf(
            r#"root ::= expr
expr ::= term (("+" | "-") term)*
term ::= [0-9]+ | "(" expr ")""#
                .into(),
        ),
    ]
}

/// A deterministic walk: at each step the mask, then a token chosen from it
/// by a seeded generator, sometimes a rollback. Returns every mask seen.
fn walk(g: &Arc<CompiledGrammar>, seed: u64) -> Vec<Vec<u32>> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let vocab = g.vocab();
    let mut m = g.matcher();
    let mut masks = Vec::new();
    for _ in 0..STEPS {
        let mask = m.try_compute_mask_vec().expect("mask within limits");
        let allowed: Vec<u32> = (0..vocab.mask_width() as u32)
            .filter(|&t| mask[(t >> 5) as usize] >> (t & 31) & 1 == 1 && !vocab.is_eos(t))
            .collect();
        masks.push(mask);
        if allowed.is_empty() {
            break;
        }
        let r = next();
        m.consume_token(allowed[(r >> 8) as usize % allowed.len()]).expect("allowed token");
        if r % 5 == 0 && m.num_steps() > 1 {
            m.rollback(2).expect("two steps to undo");
            masks.push(m.try_compute_mask_vec().expect("mask within limits"));
        }
    }
    masks
}

#[test]
fn shared_grammars_give_single_threaded_masks() {
    let vocab = vocab();
    let opts = CompileOptions::default();
    let build = || -> Vec<Arc<CompiledGrammar>> {
        constraints().iter().map(|c| compile(c, vocab.clone(), &opts).expect("compiles")).collect()
    };
    let seeds: Vec<u64> = (0..THREADS as u64 * WALKS_PER_THREAD).collect();
    let reference_grammars = build();
    let reference: Vec<Vec<Vec<Vec<u32>>>> =
        reference_grammars.iter().map(|g| seeds.iter().map(|&s| walk(g, s)).collect()).collect();

    let shared = build();
    let barrier = Barrier::new(THREADS);
    let compared: usize = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (shared, reference, barrier) = (&shared, &reference, &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    let mut compared = 0;
                    // Each thread visits the grammars in its own order, so several
                    // threads work on one grammar's cold cache at the same time.
                    for k in 0..shared.len() {
                        let gi = (k + t) % shared.len();
                        for w in 0..WALKS_PER_THREAD {
                            let seed = t as u64 * WALKS_PER_THREAD + w;
                            let masks = walk(&shared[gi], seed);
                            assert_eq!(masks, reference[gi][seed as usize], "grammar {gi}, seed {seed}, thread {t}");
                            compared += masks.len();
                        }
                    }
                    compared
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("thread finished")).sum()
    });
    assert!(compared > THREADS * shared.len() * 10, "walks too short to mean anything: {compared} masks");
}
