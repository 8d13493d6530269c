//! Generation with the default model (SmolLM2-135M-Instruct) under 200
//! function-call schemas of the MaskBench corpus (GlaiveAI and BFCL): every
//! completed output must validate against its schema (`jsonschema`, formats
//! on). Fails, never skips, when the model or the data is missing.

use std::io::{BufRead, BufReader};

use serde_json::Value;
use sluicegate_grammars::Constraint;
use sluicegate_llama::{typed_options, Event, GenerateOptions, Message, Model, ModelOptions, Prompt, Request};
use sluicegate_tests::data_dir;

/// How many schemas to generate with, and the stride through the ~2,200
/// function-call schemas of the corpus.
const SCHEMAS: usize = 200;
const STRIDE: usize = 10;

fn function_call_schemas() -> Vec<(String, Value)> {
    let path = data_dir().join("maskbench/dev.jsonl.gz");
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    let mut seen = 0usize;
    for line in BufReader::new(flate2::read::GzDecoder::new(file)).lines() {
        let line = line.unwrap();
        let v: Value = serde_json::from_str(&line).unwrap();
        let id = v["id"].as_str().unwrap_or_default().to_string();
        if id.starts_with("Glaiveai2K") || id.starts_with("BFCL") {
            if seen % STRIDE == 0 {
                out.push((id, v["schema"].clone()));
            }
            seen += 1;
        }
    }
    out
}

/// The top-level property names, comma-separated.
fn property_names(schema: &Value) -> String {
    let names = schema["properties"].as_object().map(|m| m.keys().cloned().collect::<Vec<_>>()).unwrap_or_default();
    names.join(", ")
}

#[test]
fn two_hundred_function_call_schemas_give_only_valid_outputs() {
    let model = Model::load_default(ModelOptions { n_ctx: 2048, ..ModelOptions::default() })
        .unwrap_or_else(|e| panic!("the default model is needed for this test: {e}"));
    let mut requests = Vec::new();
    let mut schemas = Vec::new();
    let mut compile_errors = Vec::new();
    for (id, schema) in function_call_schemas() {
        if requests.len() == SCHEMAS {
            break;
        }
        match model.compile(&Constraint::JsonSchema(schema.clone(), typed_options())) {
            Ok(g) => {
                // The constraint carries the schema; the prompt names only its
                // keys. With the whole schema in it, the prompts were three
                // times the generated tokens and most of the test's time.
                let prompt = Prompt::Chat(vec![
                    Message::system("You call functions. Reply with the JSON arguments only."),
                    Message::user(format!("Fill in plausible arguments ({}).", property_names(&schema))),
                ]);
                requests.push(Request {
                    prompt,
                    constraint: Some(g),
                    options: GenerateOptions { max_tokens: 200, ..GenerateOptions::default() },
                });
                schemas.push((id, schema));
            }
            Err(e) => compile_errors.push(format!("{id}: {e}")),
        }
    }
    assert_eq!(requests.len(), SCHEMAS, "too few schemas compiled; errors: {compile_errors:?}");
    let mut session = model.session(4).unwrap();
    let (mut complete, mut incomplete, mut invalid) = (0, 0, Vec::new());
    let mut tokens = 0usize;
    session
        .generate_many(requests, |ev| {
            let Event::Done { index, result } = ev else { return };
            let g = result.unwrap_or_else(|e| panic!("{}: {e}", schemas[index].0));
            tokens += g.tokens.len();
            if !g.is_complete() {
                incomplete += 1;
                return;
            }
            complete += 1;
            let (id, schema) = &schemas[index];
            let validator = jsonschema::options().should_validate_formats(true).build(schema).unwrap();
            match serde_json::from_slice::<Value>(&g.bytes) {
                Ok(v) if validator.is_valid(&v) => {}
                _ => invalid.push(format!("{id}: {}", g.text())),
            }
        })
        .unwrap();
    eprintln!(
        "{SCHEMAS} schemas ({} skipped: compile errors): {complete} complete, {incomplete} hit max_tokens, \
         {} invalid, {tokens} tokens",
        compile_errors.len(),
        invalid.len()
    );
    assert!(invalid.is_empty(), "outputs that do not validate: {invalid:#?}");
    // Not a vacuous pass: most outputs must be complete.
    assert!(complete >= SCHEMAS * 8 / 10, "only {complete} of {SCHEMAS} outputs complete");
}
