//! Large grammars build their rules on first use
//! (`CompiledGrammar::from_grammar`): masks must be the same bit for bit as
//! those of the same grammar built whole (`CompiledGrammar::new`), along
//! random walks through schemas with objects in any order (whose states
//! become rules as they are met), nested objects, arrays and recursion.

use std::sync::Arc;

use serde_json::{json, Value};
use sluicegate_core::{CompileOptions, CompiledGrammar, Vocabulary};
use sluicegate_grammars::json::{self, JsonSchemaOptions};
use sluicegate_tests::generate::Rng;
use sluicegate_tests::{load, random_allowed};

fn fresh(v: &Vocabulary) -> Arc<Vocabulary> {
    // A copy with its own (empty) store of shared entries, so that neither
    // build takes entries the other computed.
    Arc::new(v.clone().with_mask_width(v.mask_width()).unwrap())
}

/// An object of `n` optional properties of assorted types (any order).
fn wide_object(n: usize, inner: Value) -> Value {
    let mut props = serde_json::Map::new();
    for k in 0..n {
        let v = match k % 5 {
            0 => json!({"type": "string", "maxLength": 8}),
            1 => json!({"type": "integer", "minimum": 0}),
            2 => json!({"enum": ["red", "green", "blue"]}),
            3 => inner.clone(),
            _ => json!({"type": "array", "items": {"type": "boolean"}, "maxItems": 3}),
        };
        props.insert(format!("p{k}"), v);
    }
    json!({"type": "object", "properties": props, "required": ["p0"], "additionalProperties": false})
}

#[test]
fn rules_built_on_first_use_give_the_masks_of_a_whole_build() {
    let llama = load("llama3_1");
    let schemas = [
        wide_object(12, wide_object(6, json!({"type": "null"}))),
        json!({
            "$defs": {"node": {"type": "object", "properties": {
                "name": {"type": "string"}, "size": {"type": "number"}, "kind": {"enum": ["a", "b"]},
                "flag": {"type": "boolean"}, "children": {"type": "array", "items": {"$ref": "#/$defs/node"}},
                "meta": {"type": "object", "additionalProperties": {"type": "integer"}, "maxProperties": 2},
                "x": {"type": "integer"}, "y": {"type": "integer"}
            }, "required": ["name"]}},
            "$ref": "#/$defs/node"
        }),
        json!({"type": "array", "items": wide_object(10, json!({"type": "string", "pattern": "^[a-z]+$"}))}),
    ];
    let opts = CompileOptions::default();
    let mut rng = Rng(11);
    let (mut steps, mut lazily_built) = (0, 0);
    for schema in &schemas {
        let ir = json::grammar(schema, &JsonSchemaOptions::default()).unwrap().grammar;
        let whole = CompiledGrammar::new(&ir, fresh(&llama.vocab), &opts).unwrap();
        for walk in 0..4 {
            let lazy = CompiledGrammar::from_grammar(ir.clone(), fresh(&llama.vocab), &opts).unwrap();
            assert!(lazy.is_partly_built(), "{schema}: built whole");
            let at_start = lazy.num_rules();
            assert!(at_start < whole.num_rules(), "{schema}: {at_start} rules built of {}", whole.num_rules());
            let (mut a, mut b) = (whole.matcher(), lazy.matcher());
            for _ in 0..60 {
                let (x, y) = (a.compute_mask_vec(), b.compute_mask_vec());
                assert_eq!(x, y, "{schema} walk {walk} after {} steps", a.num_steps());
                assert_eq!(a.is_accepting(), b.is_accepting());
                steps += 1;
                let Some(t) = random_allowed(&llama.vocab, &x, &mut rng) else { break };
                a.consume_token(t).unwrap();
                b.consume_token(t).unwrap();
            }
            lazily_built += lazy.num_rules() - at_start;
        }
    }
    assert!(steps > 500, "{steps} masks compared");
    assert!(lazily_built > 50, "{lazily_built} rules built on first use");
}

#[test]
fn blocks_entered_together_are_built_at_compile_time() {
    // An object of many optional members is built in blocks, all entered at
    // its `{`: a grammar built on first use builds them at compile time, so
    // that the object's first mask builds none of them. Many small objects
    // beside it make the grammar large enough to be built on first use.
    let llama = load("llama3_1");
    let mut props = serde_json::Map::new();
    for k in 0..60 {
        props.insert(format!("option_{k}"), json!({"type": "integer"}));
    }
    let mut defs = serde_json::Map::new();
    for k in 0..300 {
        defs.insert(format!("d{k}"), json!({"type": "object", "properties": {"v": {"const": k}}}));
    }
    let any: Vec<Value> = (0..300).map(|k| json!({"$ref": format!("#/$defs/d{k}")})).collect();
    let schema = json!({
        "$defs": defs,
        "type": "object",
        "properties": {"wide": {"type": "object", "properties": props}, "other": {"anyOf": any}}
    });
    let ir = json::grammar(&schema, &JsonSchemaOptions::default()).unwrap().grammar;
    let lazy = CompiledGrammar::from_grammar(ir.clone(), fresh(&llama.vocab), &CompileOptions::default()).unwrap();
    assert!(lazy.is_partly_built(), "built whole");
    let blocks = |g: &CompiledGrammar| {
        g.rule_summaries().iter().filter(|r| r.name.contains(":block") && !r.name.ends_with(',')).count()
    };
    // 60 optional members: ten blocks, every one entered at the `{`.
    assert_eq!(blocks(&lazy), 10, "{:?}", lazy.rule_summaries().iter().map(|r| &r.name).collect::<Vec<_>>());
    let before = lazy.num_rules();
    let mut m = lazy.matcher();
    for t in llama.encode(r#"{"wide": {"#) {
        m.compute_mask_vec();
        assert!(m.try_consume_token(t).unwrap());
    }
    m.compute_mask_vec();
    assert_eq!(blocks(&lazy), 10, "no block is built inside a mask");
    assert!(lazy.num_rules() > before, "the object's other rules are still built on first use");
}

#[test]
fn wide_sets_near_the_start_are_warmed_at_compile_time() {
    // An `anyOf` over many object shapes, each with its own property names:
    // right after `{"` the set holds one key state per shape. From 64
    // configurations on, compiling computes their entries, so the mask
    // there adds nothing to the cache; a narrower set is left for its mask.
    // Either way the mask is the one of a grammar that warmed nothing.
    let llama = load("llama3_1");
    let shapes = |n: usize| -> Value {
        let any: Vec<Value> = (0..n)
            .map(|k| {
                json!({"type": "object", "properties": {format!("key{k}_{}", k * 7919 % 1000): {"const": k}},
                       "required": [format!("key{k}_{}", k * 7919 % 1000)], "additionalProperties": false})
            })
            .collect();
        json!({"anyOf": any})
    };
    let opts = CompileOptions::default();
    let prefix = llama.encode(r#"{""#);
    for (n, warmed) in [(100, true), (20, false)] {
        let constraint = sluicegate_grammars::Constraint::JsonSchema(shapes(n), JsonSchemaOptions::default());
        let g = sluicegate_grammars::compile(&constraint, fresh(&llama.vocab), &opts).unwrap();
        let ir = json::grammar(&shapes(n), &JsonSchemaOptions::default()).unwrap().grammar;
        let plain = CompiledGrammar::new(&ir, fresh(&llama.vocab), &opts).unwrap();
        let (mut a, mut b) = (g.matcher(), plain.matcher());
        for &t in &prefix {
            assert_eq!(a.compute_mask_vec(), b.compute_mask_vec(), "{n} shapes");
            a.consume_token(t).unwrap();
            b.consume_token(t).unwrap();
        }
        let before = g.mask_cache_bytes();
        assert_eq!(a.compute_mask_vec(), b.compute_mask_vec(), "{n} shapes after {{\"");
        let added = g.mask_cache_bytes() - before;
        assert_eq!(added == 0, warmed, "{n} shapes: the mask after {{\" added {added} bytes of entries");
    }
}
