//! Bad input gets a clear, typed error; nothing panics.

use std::io::Write;

use sluicegate_core::{
    CompileError, CompileOptions, HfLoadOptions, Limit, LimitExceeded, MatchError, VocabError, Vocabulary,
};
use sluicegate_grammars::{compile, Constraint};
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
