//! Per-state entries are shared across the constraints compiled for one
//! vocabulary (`core::futures`): a state whose future another constraint
//! has already seen takes that entry. Masks must be the same bit for bit as
//! with a vocabulary whose store is empty, along random walks through
//! schemas that share string, number and enum tails.

use std::sync::Arc;

use serde_json::json;
use sluicegate_core::{CompileOptions, Vocabulary};
use sluicegate_grammars::json::JsonSchemaOptions;
use sluicegate_grammars::{compile, Constraint};
use sluicegate_tests::generate::Rng;
use sluicegate_tests::{bit, load, random_allowed};

fn fresh(v: &Vocabulary) -> Arc<Vocabulary> {
    // A copy with its own (empty) store of shared entries.
    Arc::new(v.clone().with_mask_width(v.mask_width()).unwrap())
}

#[test]
fn shared_entries_give_the_masks_of_fresh_ones() {
    let llama = load("llama3_1");
    let shared = fresh(&llama.vocab);
    let schemas = [
        json!({"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}}, "required": ["name"]}),
        json!({"type": "object", "properties": {"city": {"type": "string"}, "zip": {"type": "string", "maxLength": 5}}}),
        json!({"type": "array", "items": {"type": "string"}}),
        json!({"type": "object", "properties": {"tags": {"type": "array", "items": {"type": "string"}}, "n": {"type": "number"}}}),
        json!({"type": "object", "properties": {"level": {"enum": ["LOW", "HIGH"]}, "note": {"type": "string"}}, "required": ["level"]}),
        json!({"type": "object", "additionalProperties": {"type": "integer"}}),
        json!({"anyOf": [{"type": "string"}, {"type": "object", "properties": {"name": {"type": "string"}}}]}),
    ];
    let mut rng = Rng(7);
    let mut steps = 0;
    for round in 0..3 {
        for schema in &schemas {
            let c = Constraint::JsonSchema(schema.clone(), JsonSchemaOptions::default());
            let a = compile(&c, shared.clone(), &CompileOptions::default()).unwrap();
            let b = compile(&c, fresh(&llama.vocab), &CompileOptions::default()).unwrap();
            let (mut ma, mut mb) = (a.matcher(), b.matcher());
            for _ in 0..40 {
                let (x, y) = (ma.compute_mask_vec(), mb.compute_mask_vec());
                assert_eq!(x, y, "{schema} round {round} after {:?}", ma.num_steps());
                steps += 1;
                let Some(t) = random_allowed(&llama.vocab, &x, &mut rng) else { break };
                ma.consume_token(t).unwrap();
                mb.consume_token(t).unwrap();
            }
        }
    }
    assert!(steps > 300, "{steps} masks compared");
}

/// Sets of several configurations whose states no token slice covers (the
/// branches of a `oneOf` over unanchored patterns, right after the opening
/// quote) have their entries computed in one walk of the trie; every mask
/// bit must agree with the token's own check.
#[test]
fn entries_walked_together_agree_with_token_checks() {
    let llama = load("llama3_1");
    let vocab = fresh(&llama.vocab);
    let schema = json!({"type": "object", "properties": {
        "role": {"oneOf": [{"pattern": "APPROVER"}, {"pattern": "SIGNER"}, {"pattern": "^[A-Z]+-[0-9]{2}$"}]},
        "code": {"anyOf": [{"type": "string", "pattern": "^x[0-9a-f]+$"}, {"type": "string", "maxLength": 3}]}
    }});
    let c = Constraint::JsonSchema(schema, JsonSchemaOptions::default());
    let g = compile(&c, vocab.clone(), &CompileOptions::default()).unwrap();
    let mut rng = Rng(11);
    let mut checked = 0;
    for prefix in [r#"{"role": "#, r#"{"code": "#, r#"{"role": "SIGN"#] {
        let mut m = g.matcher();
        m.consume_bytes(prefix.as_bytes()).unwrap();
        for _ in 0..12 {
            let mask = m.compute_mask_vec();
            let mut allowed = Vec::new();
            for t in 0..vocab.mask_width() as u32 {
                assert_eq!(bit(&mask, t), m.is_token_allowed(t).unwrap(), "token {t} after {prefix:?}");
                if bit(&mask, t) && !vocab.eos_tokens().contains(&t) {
                    allowed.push(t);
                }
                checked += 1;
            }
            if allowed.is_empty() {
                break;
            }
            m.consume_token(allowed[rng.below(allowed.len())]).unwrap();
        }
    }
    assert!(checked > 1_000_000, "{checked} bits checked");
}
