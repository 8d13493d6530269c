//! JSON Schema options meant for generation, checked on the real Llama 3.1
//! tokenizer.

use serde_json::json;
use sluicegate_core::CompileOptions;
use sluicegate_grammars::json::{JsonSchemaOptions, Whitespace};
use sluicegate_grammars::{compile, Constraint};
use sluicegate_tests::load;

fn accepts(opts: &JsonSchemaOptions, text: &str) -> bool {
    let loaded = load("llama3_1");
    let schema = json!({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]});
    let g = compile(&Constraint::JsonSchema(schema, opts.clone()), loaded.vocab.clone(), &CompileOptions::default())
        .unwrap();
    let mut m = g.matcher();
    m.consume_bytes(text.as_bytes()).is_ok() && m.is_accepting()
}

#[test]
fn integers_without_fraction_refuses_2_point_0() {
    let spec = JsonSchemaOptions { whitespace: Whitespace::Compact, ..JsonSchemaOptions::default() };
    let strict = JsonSchemaOptions { integers_without_fraction: true, ..spec.clone() };
    for (text, spec_ok, strict_ok) in [
        (r#"{"n":2}"#, true, true),
        (r#"{"n":2.0}"#, true, false),
        (r#"{"n":-7.00}"#, true, false),
        (r#"{"n":2.5}"#, false, false),
    ] {
        assert_eq!(accepts(&spec, text), spec_ok, "spec {text}");
        assert_eq!(accepts(&strict, text), strict_ok, "strict {text}");
    }
}
