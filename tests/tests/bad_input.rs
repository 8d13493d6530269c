//! Bad input gets a clear, typed error; nothing panics.

use std::io::Write;

use serde_json::json;
use sluicegate_core::{
    CompileError, CompileOptions, HfLoadOptions, Limit, LimitExceeded, MatchError, VocabError, Vocabulary,
};
use sluicegate_grammars::json::{parse_schema, JsonSchemaOptions};
use sluicegate_grammars::{compile, Constraint};
use sluicegate_llama::{default_model_path, Error as LlamaError, Model, ModelOptions};
use sluicegate_tests::{load, tokenizer_path};

fn tmp_file(name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sluicegate-bad-input-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::File::create(&path).unwrap().write_all(bytes).unwrap();
    path
}

fn format_error(path: &std::path::Path) -> String {
    match Vocabulary::from_hf_file(path) {
        Err(VocabError::Format { reason, .. }) => reason,
        other => panic!("{}: expected a format error, got {other:?}", path.display()),
    }
}

#[test]
fn missing_tokenizer_file() {
    let err = Vocabulary::from_hf_file("/nonexistent/tokenizer.json").unwrap_err();
    assert!(matches!(err, VocabError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("/nonexistent/tokenizer.json"));
}

#[test]
fn truncated_and_corrupt_tokenizer_files() {
    let gz = std::fs::read(tokenizer_path("llama2")).unwrap();
    let truncated_gz = tmp_file("truncated.json.gz", &gz[..gz.len() / 2]);
    assert!(format_error(&truncated_gz).contains("gzip"));

    let json = r#"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1"#;
    assert!(format_error(&tmp_file("truncated.json", json.as_bytes())).contains("not valid JSON"));
    assert!(format_error(&tmp_file("garbage.json", b"\x00\x01garbage")).contains("not valid JSON"));
    assert!(format_error(&tmp_file("nomodel.json", b"{}")).contains("model"));
    let wordpiece = r#"{"model": {"type": "WordPiece", "vocab": {"a": 0}}, "decoder": {"type": "WordPiece"}}"#;
    assert!(format_error(&tmp_file("wordpiece.json", wordpiece.as_bytes())).contains("WordPiece"));
    let bad_id = r#"{"model": {"type": "BPE", "vocab": {"a": "zero"}}, "decoder": {"type": "ByteLevel"}}"#;
    assert!(format_error(&tmp_file("badid.json", bad_id.as_bytes())).contains("non-integer id"));
}

#[test]
fn minimal_tokenizer_without_verification() {
    // A hand-written byte-level file that the reference library would reject
    // (no merges) still loads when verification is off.
    let json = r#"{"model": {"type": "BPE", "vocab": {"a": 0, "Ġb": 1}, "merges": []},
                   "added_tokens": [{"id": 2, "content": "<|endoftext|>", "special": true}],
                   "decoder": {"type": "ByteLevel"}}"#;
    let opts = HfLoadOptions { verify: false, ..HfLoadOptions::default() };
    let v = Vocabulary::from_hf_bytes(json.as_bytes(), "inline", &opts).unwrap();
    assert_eq!(v.token_bytes(1), b" b");
    assert_eq!(v.eos_tokens(), &[2]);
}

#[test]
fn malformed_regex() {
    let vocab = load("llama3_1").vocab.clone();
    for bad in ["(", "[a-", "a{2,1}", "\\p{NotAClass}", "(?P<x>a)(?P<x>b)"] {
        match compile(&Constraint::Regex(bad.into()), vocab.clone(), &CompileOptions::default()) {
            Err(CompileError::Regex { pattern, message }) => {
                assert_eq!(pattern, bad);
                assert!(!message.is_empty());
            }
            other => panic!("{bad:?}: expected a regex error, got {other:?}"),
        }
    }
    let err = compile(&Constraint::Choice(vec![]), vocab.clone(), &CompileOptions::default()).unwrap_err();
    assert!(err.to_string().contains("at least one"));
    let err = compile(&Constraint::Regex("[^\\x00-\\x{10FFFF}]".into()), vocab, &CompileOptions::default());
    assert!(err.is_err(), "a regex matching nothing is an error");
}

#[test]
fn huge_regex_hits_limits() {
    let vocab = load("llama3_1").vocab.clone();
    let mut opts = CompileOptions::default();
    opts.limits.determinize_bytes = 1 << 20;
    let err = compile(&Constraint::Regex("(\\w{2,50}\\s){20}".into()), vocab, &opts).unwrap_err();
    assert!(matches!(err, CompileError::Limit(LimitExceeded { limit: Limit::AutomatonBytes, .. })), "{err:?}");
}

#[test]
fn out_of_range_tokens_and_rollback() {
    let vocab = load("qwen3").vocab.clone();
    let g = compile(&Constraint::Regex("[a-z]+".into()), vocab.clone(), &CompileOptions::default()).unwrap();
    let mut m = g.matcher();
    let width = vocab.mask_width();
    assert_eq!(m.consume_token(width as u32), Err(MatchError::TokenOutOfRange { token: width as u32, width }));
    assert_eq!(m.consume_token(u32::MAX), Err(MatchError::TokenOutOfRange { token: u32::MAX, width }));
    assert!(m.is_token_allowed(u32::MAX).is_err());
    assert_eq!(m.rollback(1), Err(MatchError::RollbackTooFar { requested: 1, available: 0 }));
    // A special, non-EOS token is never text.
    let im_start = vocab.special_token("<|im_start|>").unwrap();
    assert!(matches!(m.consume_token(im_start), Err(MatchError::TokenRejected { .. })));
}

fn compile_schema(schema: serde_json::Value, opts: &CompileOptions) -> Result<(), CompileError> {
    let c = Constraint::JsonSchema(schema, JsonSchemaOptions::default());
    compile(&c, load("llama3_1").vocab.clone(), opts).map(|_| ())
}

fn limit_of(r: Result<(), CompileError>) -> Limit {
    match r {
        Err(CompileError::Limit(LimitExceeded { limit, .. })) => limit,
        other => panic!("expected a limit error, got {other:?}"),
    }
}

#[test]
fn malformed_schema_text() {
    for (text, line, column) in [
        (&b"{\"type\": \"object\""[..], 1, 17),
        (b"{\"type\": \n  'string'}", 2, 3),
        (b"", 1, 0),
        (b"{\"pattern\": \"\xff\xfe\"}", 1, 14),
    ] {
        match parse_schema(text) {
            Err(CompileError::SchemaText { line: l, column: c, message }) => {
                assert_eq!((l, c), (line, column), "{text:?}: {message}");
                assert!(!message.contains(" at line "), "{message}");
            }
            other => panic!("{text:?}: expected a schema text error, got {other:?}"),
        }
    }
    assert_eq!(parse_schema(b" {\"type\": \"null\"} ").unwrap(), json!({"type": "null"}));
}

#[test]
fn reference_cycles_without_progress() {
    let opts = CompileOptions::default();
    for schema in [
        json!({"$ref": "#"}),
        json!({"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"}),
        json!({"$defs": {"a": {"allOf": [{"$ref": "#/$defs/a"}]}}, "$ref": "#/$defs/a"}),
        json!({"anyOf": [{"$ref": "#"}, {"$ref": "#"}]}),
    ] {
        // Refused while lowering (a `$ref` error, or no value) or by the
        // core's check for rules that reach themselves without input.
        let err = compile_schema(schema.clone(), &opts).expect_err("a cycle without progress admits nothing");
        eprintln!("{schema}: {err}");
        assert!(
            matches!(&err, CompileError::Schema { keyword, .. } if keyword == "$ref" || keyword == "allOf")
                || matches!(err, CompileError::Empty)
                || matches!(&err, CompileError::Unsupported(m) if m.contains("left-recursive")),
            "{schema}: {err:?}"
        );
    }
    // Recursion with progress is fine.
    compile_schema(json!({"type": "array", "items": {"$ref": "#"}}), &opts).unwrap();
}

#[test]
fn unsatisfiable_schemas_are_reported_as_such() {
    let opts = CompileOptions::default();
    for schema in [
        json!(false),
        json!({"not": {}}),
        json!({"enum": []}),
        json!({"type": "integer", "minimum": 5, "maximum": 1}),
        json!({"type": "string", "minLength": 5, "maxLength": 2}),
        json!({"allOf": [{"type": "string"}, {"type": "number"}]}),
        json!({"type": "object", "required": ["a"], "properties": {"a": false}}),
        json!({"type": "array", "minItems": 3, "maxItems": 1}),
        json!({"type": "string", "pattern": "^a$", "enum": ["b"]}),
    ] {
        let err = compile_schema(schema.clone(), &opts).expect_err("no value is valid");
        eprintln!("{schema}: {err}");
        assert!(matches!(err, CompileError::Empty), "{schema}: {err:?}");
        assert!(err.to_string().contains("admits no value"), "{err}");
    }
}

#[test]
fn invalid_and_non_utf8_patterns() {
    let vocab = load("llama3_1").vocab.clone();
    let opts = CompileOptions::default();
    for (schema, keyword) in [
        (json!({"type": "string", "pattern": "("}), "pattern"),
        (json!({"type": "string", "pattern": "(?<=a)b"}), "pattern"),
        (json!({"type": "string", "pattern": "(a)\\1"}), "pattern"),
        (json!({"type": "object", "patternProperties": {"[": {}}}), "patternProperties"),
    ] {
        match compile_schema(schema.clone(), &opts) {
            Err(CompileError::Schema { keyword: k, .. }) => assert_eq!(k, keyword, "{schema}"),
            other => panic!("{schema}: expected a schema error, got {other:?}"),
        }
    }
    // A regex that could match bytes outside UTF-8 is refused by the parser.
    for bad in ["(?-u:\\xFF)", "(?-u:[\\x80-\\xFF])+"] {
        let err = compile(&Constraint::Regex(bad.into()), vocab.clone(), &opts).unwrap_err();
        assert!(matches!(err, CompileError::Regex { .. }), "{bad}: {err:?}");
    }
}

#[test]
fn enormous_enums_and_counts_hit_limits_or_compile_in_bounds() {
    let opts = CompileOptions::default();
    let many: Vec<serde_json::Value> = (0..opts.resources.max_enum_values + 1).map(|i| json!(i)).collect();
    assert_eq!(limit_of(compile_schema(json!({"enum": many}), &opts)), Limit::EnumValues);
    let long = "x".repeat(opts.resources.max_literal_bytes);
    assert_eq!(limit_of(compile_schema(json!({"const": long}), &opts)), Limit::LiteralBytes);
    let mut small = CompileOptions::default();
    small.resources.max_enum_values = 10;
    let eleven: Vec<String> = (0..11).map(|i| format!("v{i}")).collect();
    assert_eq!(limit_of(compile_schema(json!({"enum": eleven}), &small)), Limit::EnumValues);
    // A large enum under the limit compiles.
    let words: Vec<String> = (0..5000).map(|i| format!("word{i}")).collect();
    compile_schema(json!({"enum": words}), &opts).unwrap();

    // Huge counts: a typed error (limit or unsupported keyword) or a small
    // automaton, within seconds; never a hang or an allocation of the count.
    // regex-automata's determiniser is not interruptible: its memory bound
    // is what stops `a{1000}{1000}` early (at 64 MiB it runs for seconds).
    let mut opts = CompileOptions { time_budget: std::time::Duration::from_secs(3), ..CompileOptions::default() };
    opts.limits.determinize_bytes = 8 << 20;
    for schema in [
        json!({"type": "string", "maxLength": 4_000_000_000u64}),
        json!({"type": "string", "minLength": 4_000_000_000u64}),
        json!({"type": "string", "minLength": 1_000_000, "maxLength": 1_000_001}),
        json!({"type": "string", "maxLength": u64::MAX}),
        json!({"type": "array", "maxItems": 4_000_000_000u64}),
        json!({"type": "array", "minItems": 1_000_000}),
        json!({"type": "object", "maxProperties": 4_000_000_000u64, "minProperties": 1_000_000}),
        json!({"type": "integer", "minimum": -1e300, "maximum": 1e300}),
        json!({"type": "number", "multipleOf": 1e-300}),
        json!({"type": "string", "pattern": "^a{1000}{1000}$"}),
        json!({"type": "string", "format": "date", "maxLength": 1e300}),
    ] {
        let started = std::time::Instant::now();
        let r = compile_schema(schema.clone(), &opts);
        let took = started.elapsed();
        eprintln!("{schema}: {took:?} {:?}", r.as_ref().map_err(|e| e.to_string()));
        assert!(took < std::time::Duration::from_secs(30), "{schema}: {took:?}");
        if let Err(e) = r {
            assert!(
                matches!(e, CompileError::Limit(_) | CompileError::Schema { .. } | CompileError::Empty),
                "{schema}: {e:?}"
            );
        }
    }
}

#[test]
fn wrong_mask_sizes_and_finished_matchers() {
    let vocab = load("llama3_1").vocab.clone();
    let g = compile(&Constraint::Regex("ab?".into()), vocab.clone(), &CompileOptions::default()).unwrap();
    let mut m = g.matcher();
    let words = vocab.mask_words();
    for len in [0, words - 1, words + 1] {
        let mut buf = vec![0u32; len];
        assert_eq!(m.compute_mask(&mut buf), Err(MatchError::BadMaskBuffer { got: len, expected: words }));
    }
    m.consume_bytes(b"a").unwrap();
    let eos = vocab.eos_tokens()[0];
    m.consume_token(eos).unwrap();
    assert_eq!(m.consume_bytes(b"b"), Err(MatchError::Finished));
    assert_eq!(m.rollback(3), Err(MatchError::RollbackTooFar { requested: 3, available: 2 }));
    m.rollback(1).unwrap();
    m.consume_bytes(b"b").unwrap();
}

#[test]
fn truncated_gguf_files() {
    let model = default_model_path().unwrap_or_else(|e| panic!("the default model is needed for this test: {e}"));
    let bytes = std::fs::read(&model).unwrap();
    for cut in [0, 3, 4, 64, 4096, 1 << 20, bytes.len() / 2] {
        let path = tmp_file(&format!("cut{cut}.gguf"), &bytes[..cut]);
        let err = Model::load(&path, ModelOptions::default()).expect_err("a truncated model does not load");
        assert!(matches!(err, LlamaError::ModelFile { .. } | LlamaError::ModelLoad { .. }), "cut at {cut}: {err:?}");
        std::fs::remove_file(path).unwrap();
    }
}
