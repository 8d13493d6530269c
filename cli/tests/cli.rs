//! The `sluicegate` binary, run as a user would.

use std::path::PathBuf;
use std::process::Command;

fn tokenizer() -> PathBuf {
    let data = std::env::var_os("SLUICEGATE_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"));
    let path = data.join("tokenizers/llama3_1.tokenizer.json.gz");
    assert!(path.exists(), "test data not found: {} (set SLUICEGATE_DATA)", path.display());
    path
}

fn run(args: &[&str]) -> (bool, serde_json::Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sluicegate")).args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let json = serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null);
    (out.status.success(), json, String::from_utf8_lossy(&out.stderr).to_string())
}

#[test]
fn mask_choice() {
    let tok = tokenizer();
    let (ok, json, err) = run(&["mask", "--tokenizer", tok.to_str().unwrap(), "--choice", "yes", "--choice", "no"]);
    assert!(ok, "{err}");
    assert_eq!(json["accepting"], false);
    let tokens: Vec<u64> = json["tokens"].as_array().unwrap().iter().map(|t| t.as_u64().unwrap()).collect();
    assert_eq!(json["allowed"].as_u64().unwrap() as usize, tokens.len());
    // "yes", "no" and their proper prefixes "y", "ye", "n" in the Llama 3.1 vocabulary.
    assert_eq!(tokens, vec![77, 88, 2201, 9188, 9891]);
}

#[test]
fn mask_regex_after_prefix_accepting_lists_eos() {
    let tok = tokenizer();
    let (ok, json, err) =
        run(&["mask", "--tokenizer", tok.to_str().unwrap(), "--regex", "[0-9]{1,3}", "--prefix", "12"]);
    assert!(ok, "{err}");
    assert_eq!(json["accepting"], true);
    let tokens: Vec<u64> = json["tokens"].as_array().unwrap().iter().map(|t| t.as_u64().unwrap()).collect();
    // Ten digits plus the two EOS tokens (<|end_of_text|>, <|eot_id|>).
    assert_eq!(tokens.len(), 12, "{tokens:?}");
    assert!(tokens.contains(&128001) && tokens.contains(&128009));
}

#[test]
fn errors_are_messages_not_crashes() {
    let tok = tokenizer();
    let tok = tok.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["mask", "--tokenizer", tok, "--regex", "abc", "--prefix", "abd"], "prefix is rejected"),
        (&["mask", "--tokenizer", tok, "--regex", "("], "invalid regex"),
        (&["mask", "--tokenizer", "/nonexistent.json", "--regex", "a"], "cannot read tokenizer file"),
        (&["mask", "--tokenizer", tok], "exactly one of --regex, --choice, --schema, --gbnf, --lark or --builtin"),
    ];
    for (args, expected) in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_sluicegate")).args(*args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

/// A fresh temporary folder (named after `tag`) holding `schema.json`: an
/// object with one required boolean `ok` and nothing else.
fn ok_schema_file(tag: &str) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("sluicegate-cli-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let schema = dir.join("schema.json");
    std::fs::write(&schema, r#"{"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"], "additionalProperties": false}"#)
        .unwrap();
    (dir, schema)
}

#[test]
fn mask_schema_and_bad_schema_files() {
    let tok = tokenizer();
    let tok = tok.to_str().unwrap();
    let (dir, schema) = ok_schema_file("schema");
    let (ok, json, err) =
        run(&["mask", "--tokenizer", tok, "--schema", schema.to_str().unwrap(), "--prefix", r#"{"ok": tr"#]);
    assert!(ok, "{err}");
    let tokens: Vec<u64> = json["tokens"].as_array().unwrap().iter().map(|t| t.as_u64().unwrap()).collect();
    assert_eq!(tokens, vec![84, 361], "\"u\" and \"ue\" complete true");
    let broken = dir.join("broken.json");
    std::fs::write(&broken, r#"{"type": "object", "properties": "#).unwrap();
    let unsupported = dir.join("unsupported.json");
    std::fs::write(&unsupported, r#"{"type": "array", "uniqueItems": true}"#).unwrap();
    for (path, expected) in [(&broken, "not valid JSON"), (&unsupported, "uniqueItems at #")] {
        let out = Command::new(env!("CARGO_BIN_EXE_sluicegate"))
            .args(["mask", "--tokenizer", tok, "--schema", path.to_str().unwrap()])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_sluicegate"))
        .args(["mask", "--tokenizer", tok, "--schema", unsupported.to_str().unwrap(), "--lenient"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("dropped uniqueItems"));
}

#[test]
fn mask_schema_indented() {
    let tok = tokenizer();
    let tok = tok.to_str().unwrap();
    let (dir, schema) = ok_schema_file("indent");
    let schema = schema.to_str().unwrap();
    let (ok, json, err) =
        run(&["mask", "--tokenizer", tok, "--schema", schema, "--indent", "2", "--prefix", "{\n  \"ok\": true"]);
    assert!(ok, "{err}");
    // Only the newline before the closing brace can follow (as "\n" or "\n}").
    assert!(json["allowed"].as_u64().unwrap() >= 1 && json["accepting"] == false, "{json}");
    for prefix in [r#"{"ok": true"#, "{\n    \"ok\""] {
        let (ok, _, err) = run(&["mask", "--tokenizer", tok, "--schema", schema, "--indent", "2", "--prefix", prefix]);
        assert!(!ok && err.contains("prefix is rejected"), "{prefix:?}: {err}");
    }
    let (ok, json, _) =
        run(&["mask", "--tokenizer", tok, "--schema", schema, "--indent", "2", "--prefix", "{\n  \"ok\": true\n}"]);
    assert!(ok && json["accepting"] == true, "{json}");
    let tree = dir.join("tree.json");
    std::fs::write(&tree, r##"{"type": "array", "items": {"$ref": "#"}}"##).unwrap();
    let (ok, _, err) = run(&["mask", "--tokenizer", tok, "--schema", tree.to_str().unwrap(), "--indent", "4"]);
    assert!(!ok && err.contains("$ref at #/items") && err.contains("indent 4"), "{err}");
    let (ok, _, err) = run(&["mask", "--tokenizer", tok, "--schema", schema, "--indent", "2", "--compact"]);
    assert!(!ok && err.contains("cannot be used with"), "{err}");
}

#[test]
fn mask_user_grammars() {
    let tok = tokenizer();
    let tok = tok.to_str().unwrap();
    let dir = std::env::temp_dir().join(format!("sluicegate-cli-grammars-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let builtin = concat!(env!("CARGO_MANIFEST_DIR"), "/../grammars/builtin/iso8601.gbnf");
    let (ok, json, err) = run(&["mask", "--tokenizer", tok, "--gbnf", builtin, "--prefix", "2026-1", "--show-text"]);
    assert!(ok, "{err}");
    assert_eq!(json["text"], serde_json::json!(["\"0\"", "\"1\"", "\"2\""]), "months 10 to 12");
    let lark = dir.join("yesno.lark");
    std::fs::write(&lark, "start: ANSWER\nANSWER: \"yes\"i | \"no\"i\n").unwrap();
    let (ok, json, err) = run(&["mask", "--tokenizer", tok, "--lark", lark.to_str().unwrap(), "--prefix", "YE"]);
    assert!(ok, "{err}");
    // "S", "s", and the first byte of "ſ" (U+017F folds to "s", as in Python's re.IGNORECASE).
    assert_eq!(json["tokens"], serde_json::json!([50, 82, 129]), "{json}");
    let (ok, json, err) = run(&["mask", "--tokenizer", tok, "--builtin", "arithmetic.lark", "--prefix", "(1 + 2)"]);
    assert!(ok && json["accepting"] == true, "{err}");
    let bad = dir.join("bad.gbnf");
    std::fs::write(&bad, "root ::= \"a\" (b\nb ::= \"x\"\n").unwrap();
    let (ok, _, err) = run(&["mask", "--tokenizer", tok, "--gbnf", bad.to_str().unwrap()]);
    assert!(
        !ok && err.contains("bad.gbnf: ") && err.contains("line 2, column 3") && err.contains("line 1, column 14"),
        "{err}"
    );
    let (ok, _, err) = run(&["mask", "--tokenizer", tok, "--builtin", "nope.gbnf"]);
    assert!(!ok && err.contains("json.gbnf"), "{err}");
}
