//! The `indent N` whitespace option: exactly what `json.dumps(v, indent=N)`
//! writes, nothing else; schemas that nest without bound are refused.

use std::sync::Arc;

use serde_json::{json, Value};
use sluicegate_bench::feed::{python_dumps, python_dumps_indent};
use sluicegate_core::{CompileError, CompileOptions, CompiledGrammar, TokenEntry, TokenKind, Vocabulary};
use sluicegate_grammars::json::{grammar, AdditionalProperties, JsonSchemaOptions, Whitespace};
use sluicegate_grammars::{compile, Constraint};
use sluicegate_tests::{data_dir, load};

fn indent(width: u32) -> JsonSchemaOptions {
    JsonSchemaOptions { whitespace: Whitespace::Indent { width }, ..JsonSchemaOptions::default() }
}

fn compiled(schema: &Value, opts: &JsonSchemaOptions) -> Result<Arc<CompiledGrammar>, CompileError> {
    let loaded = load("llama3_1");
    compile(&Constraint::JsonSchema(schema.clone(), opts.clone()), loaded.vocab.clone(), &CompileOptions::default())
}

/// Feeds `text` as the Llama 3.1 tokenizer splits it; `check_masks` also
/// compares every token's mask bit with `try_consume_token`.
fn accepts(g: &Arc<CompiledGrammar>, text: &str, check_masks: bool) -> bool {
    let loaded = load("llama3_1");
    let mut m = g.matcher();
    let mut mask = vec![0u32; loaded.vocab.mask_words()];
    for t in loaded.encode(text) {
        let ok = m.try_consume_token(t).unwrap();
        if check_masks {
            if ok {
                m.rollback(1).unwrap();
            }
            m.compute_mask(&mut mask).unwrap();
            assert_eq!(mask[(t >> 5) as usize] >> (t & 31) & 1 == 1, ok, "mask and consume disagree on {text:?}");
            if ok {
                m.consume_token(t).unwrap();
            }
        }
        if !ok {
            return false;
        }
    }
    m.is_accepting()
}

fn has_nonempty_container(v: &Value) -> bool {
    match v {
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => false,
    }
}

#[test]
fn only_the_exact_indentation_is_accepted() {
    let schema = json!({
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "points": {"type": "array", "items": {
                "type": "object",
                "properties": {"x": {"type": "integer"}, "y": {"type": "number"}},
                "required": ["x"],
                "additionalProperties": false
            }},
            "mode": {"enum": [{"kind": "fixed", "at": [1, 2]}, "auto", []]},
            "meta": {"type": "object", "properties": {"deep": {"type": "array", "items": {"type": "array", "items": {"type": "boolean"}}}}, "additionalProperties": false}
        },
        "required": ["name", "tags"],
        "additionalProperties": false
    });
    let values = [
        json!({"name": "a", "tags": []}),
        json!({"name": "é\n", "tags": ["x", "y"], "points": [{"x": 1, "y": 2.5}, {"x": -3}], "mode": {"kind": "fixed", "at": [1, 2]}}),
        json!({"tags": [], "name": "b", "mode": [], "meta": {"deep": [[], [true, false]]}}),
        json!({"name": "c", "tags": ["z"], "mode": "auto", "points": [], "meta": {}}),
    ];
    for width in [2u32, 4] {
        let g = compiled(&schema, &indent(width)).unwrap();
        let other = if width == 2 { 4 } else { 2 };
        for v in &values {
            let text = python_dumps_indent(v, width as usize);
            assert!(accepts(&g, &text, true), "indent {width} refused {text}");
            assert!(!accepts(&g, &python_dumps_indent(v, other), false), "indent {width} took indent {other} of {v}");
            assert!(!accepts(&g, &python_dumps(v), false), "indent {width} took json.dumps {v}");
            assert!(!accepts(&g, &serde_json::to_string(v).unwrap(), false), "indent {width} took compact {v}");
            assert!(!accepts(&g, &text.replacen('\n', "\n ", 1), false), "one space too many");
            assert!(!accepts(&g, &format!("{text}\n"), false), "a trailing newline");
            if width == 2 {
                assert!(accepts(&g, &serde_json::to_string_pretty(v).unwrap(), false), "serde's pretty printer");
            }
        }
        // Invalid values stay invalid when indented.
        let bad = json!({"name": "a", "tags": [1]});
        assert!(!accepts(&g, &python_dumps_indent(&bad, width as usize), false));
    }
}

#[test]
fn empty_containers_are_two_brackets() {
    let schema = json!({"type": "array", "items": {"type": "object", "properties": {"a": {"type": "integer"}}, "additionalProperties": false}});
    let g = compiled(&schema, &indent(2)).unwrap();
    assert!(accepts(&g, "[]", true));
    assert!(accepts(&g, "[\n  {}\n]", true));
    assert!(accepts(&g, "[\n  {\n    \"a\": 1\n  },\n  {}\n]", true));
    assert!(!accepts(&g, "[\n]", false));
    assert!(!accepts(&g, "[\n  {\n  }\n]", false));
    assert!(!accepts(&g, "[ ]", false));
    // Width 0 still breaks lines, as Python does.
    let g0 = compiled(&schema, &indent(0)).unwrap();
    assert!(accepts(&g0, "[\n{\n\"a\": 1\n}\n]", true));
    assert!(!accepts(&g0, "[{\"a\": 1}]", false));
}

/// The error for a schema whose values nest without bound.
fn depth_error(schema: &Value, opts: &JsonSchemaOptions) -> (String, String, String) {
    match grammar(schema, opts) {
        Err(CompileError::Schema { pointer, keyword, message }) => (pointer, keyword, message),
        Err(e) => panic!("{schema}: unexpected error {e}"),
        Ok(_) => panic!("{schema}: compiled with indentation"),
    }
}

#[test]
fn unbounded_nesting_is_refused() {
    let tree = json!({
        "$defs": {"node": {"type": "object", "properties": {
            "v": {"type": "integer"},
            "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}
        }, "additionalProperties": false}},
        "$ref": "#/$defs/node"
    });
    let (pointer, keyword, message) = depth_error(&tree, &indent(2));
    assert_eq!(keyword, "$ref");
    assert_eq!(pointer, "#/$defs/node/properties/children/items");
    assert!(message.contains("indent 2") && message.contains("#/$defs/node"), "{message}");
    // Lenient mode cannot drop it: there is nothing exact to fall back to.
    let (_, keyword, _) = depth_error(&tree, &JsonSchemaOptions { lenient: true, ..indent(2) });
    assert_eq!(keyword, "$ref");
    // Other whitespace compiles the recursion as before.
    assert!(grammar(&tree, &JsonSchemaOptions::default()).is_ok());

    // Unconstrained values can nest to any depth as well.
    for (schema, pointer) in [
        (json!({"type": "object", "properties": {"a": {"type": "integer"}}}), "#/additionalProperties"),
        (json!({"type": "array"}), "#/items"),
        (json!({"type": "object", "properties": {"a": true}, "additionalProperties": false}), "#/properties/a"),
    ] {
        let (p, keyword, message) = depth_error(&schema, &indent(4));
        assert_eq!((p.as_str(), keyword.as_str()), (pointer, "schema"), "{schema}");
        assert!(message.contains("indent 4"), "{message}");
    }
    // Forbidding extra properties bounds the first one.
    let forbid = JsonSchemaOptions { additional_properties: AdditionalProperties::Forbid, ..indent(4) };
    assert!(grammar(&json!({"type": "object", "properties": {"a": {"type": "integer"}}}), &forbid).is_ok());

    // A reference used at several depths without recursion is fine.
    let shared = json!({
        "$defs": {"p": {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"], "additionalProperties": false}},
        "type": "object",
        "properties": {"a": {"$ref": "#/$defs/p"}, "b": {"type": "array", "items": {"$ref": "#/$defs/p"}}},
        "required": ["a", "b"],
        "additionalProperties": false
    });
    let g = compiled(&shared, &indent(2)).unwrap();
    let v = json!({"a": {"x": 1}, "b": [{"x": 2}]});
    assert!(accepts(&g, &python_dumps_indent(&v, 2), true));
}

/// A vocabulary of the 256 single bytes (and an end token): compiling for it
/// is cheap, and feeding bytes checks the grammar's language itself.
fn bytes_vocab() -> Arc<Vocabulary> {
    let mut tokens: Vec<TokenEntry> =
        (0..=255u8).map(|b| TokenEntry { id: b as u32, bytes: vec![b], kind: TokenKind::Text }).collect();
    tokens.push(TokenEntry { id: 256, bytes: b"</s>".to_vec(), kind: TokenKind::Special });
    Arc::new(Vocabulary::from_tokens(tokens, &[256], None).unwrap())
}

fn accepts_bytes(g: &Arc<CompiledGrammar>, text: &str) -> bool {
    let mut m = g.matcher();
    m.consume_bytes(text.as_bytes()).is_ok() && m.is_accepting()
}

/// MaskBench's valid instances, indented: for every 100th schema, each
/// valid instance that the flexible compile accepts as `json.dumps` writes
/// it is accepted indented by 2 and by 4 spaces, and refused compact or with
/// the other width.
#[test]
fn maskbench_instances_indented() {
    let path = data_dir().join("maskbench/dev.jsonl.gz");
    let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&raw[..]), &mut text).expect("gzip");
    let vocab = bytes_vocab();
    let build = |schema: &Value, opts: JsonSchemaOptions| {
        compile(&Constraint::JsonSchema(schema.clone(), opts), vocab.clone(), &CompileOptions::default())
    };
    // Forbidding extra properties bounds the depth of most objects; the
    // flexible compile uses the same option, so the two agree on what is valid.
    let base =
        JsonSchemaOptions { additional_properties: AdditionalProperties::Forbid, ..JsonSchemaOptions::default() };
    let with_indent = |width| JsonSchemaOptions { whitespace: Whitespace::Indent { width }, ..base.clone() };
    let (mut schemas, mut refused, mut checked) = (0, 0, 0);
    for line in text.lines().step_by(100) {
        let case: Value = serde_json::from_str(line).unwrap();
        let (id, schema) = (&case["id"], &case["schema"]);
        let Ok(flexible) = build(schema, base.clone()) else { continue };
        let (two, four) = match (build(schema, with_indent(2)), build(schema, with_indent(4))) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(CompileError::Schema { message, .. }), _) if message.contains("indent 2") => {
                refused += 1;
                continue;
            }
            (a, b) => panic!("{id}: {:?} / {:?}", a.err(), b.err()),
        };
        schemas += 1;
        for t in case["tests"].as_array().unwrap() {
            let v = &t["data"];
            if t["valid"] != json!(true) || !accepts_bytes(&flexible, &python_dumps(v)) {
                continue;
            }
            checked += 1;
            let (i2, i4) = (python_dumps_indent(v, 2), python_dumps_indent(v, 4));
            assert!(accepts_bytes(&two, &i2), "{id}: indent 2 refused {i2}");
            assert!(accepts_bytes(&four, &i4), "{id}: indent 4 refused {i4}");
            if has_nonempty_container(v) {
                assert!(!accepts_bytes(&two, &i4), "{id}: indent 2 took {i4}");
                assert!(!accepts_bytes(&two, &python_dumps(v)), "{id}: indent 2 took json.dumps");
                assert!(!accepts_bytes(&four, &serde_json::to_string(v).unwrap()), "{id}: indent 4 took compact");
            }
        }
    }
    eprintln!("{schemas} schemas compiled indented ({refused} refused: unbounded depth), {checked} valid instances");
    assert!(schemas >= 40 && checked >= 50, "too few cases to mean anything: {schemas} schemas, {checked} instances");
}
