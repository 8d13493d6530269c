//! Strings tokenized by the real tokenizers: matching ones are accepted and
//! end accepting; non-matching ones are rejected exactly at the first token
//! after which no completion exists.

use sluicegate_core::{CompileOptions, MatchError};
use sluicegate_grammars::{compile, Constraint};
use sluicegate_tests::{bit, load, regex_cases, Oracle, TOKENIZERS};

fn check_tokenizer(name: &'static str) {
    let loaded = load(name);
    let vocab = &loaded.vocab;
    let eos = vocab.eos_tokens()[0];
    for case in regex_cases() {
        let oracle = Oracle::new(&case.regex);
        let grammar = compile(&Constraint::Regex(case.regex.clone()), vocab.clone(), &CompileOptions::default())
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        for s in &case.matching {
            let tokens = loaded.encode(s);
            let mut m = grammar.matcher();
            for (i, &t) in tokens.iter().enumerate() {
                let mask = m.compute_mask_vec();
                assert!(bit(&mask, t), "{name} {}: {s:?} token #{i} {} masked out", case.name, vocab.token_display(t));
                m.consume_token(t).unwrap_or_else(|e| panic!("{name} {}: {s:?}: {e}", case.name));
            }
            assert!(m.is_accepting(), "{name} {}: {s:?} not accepting at the end", case.name);
            m.consume_token(eos).unwrap();
            assert!(m.is_finished());
        }
        for s in &case.nomatch {
            let tokens = loaded.encode(s);
            let mut bytes = Vec::new();
            let first_bad = tokens.iter().position(|&t| {
                bytes.extend_from_slice(vocab.token_bytes(t));
                oracle.run(oracle.start(), &bytes).is_none()
            });
            let mut m = grammar.matcher();
            for (i, &t) in tokens.iter().enumerate() {
                let mask = m.compute_mask_vec();
                if Some(i) == first_bad {
                    assert!(!bit(&mask, t), "{name} {}: {s:?} bad token #{i} allowed by the mask", case.name);
                    match m.consume_token(t) {
                        Err(MatchError::TokenRejected { token, consumed, .. }) => {
                            assert_eq!((token, consumed), (t, i));
                        }
                        other => panic!("{name} {}: {s:?} token #{i}: expected rejection, got {other:?}", case.name),
                    }
                    assert_eq!(m.num_steps(), i, "rejection must leave the state unchanged");
                    break;
                }
                assert!(bit(&mask, t), "{name} {}: {s:?} token #{i} masked out too early", case.name);
                m.consume_token(t).unwrap();
            }
            if first_bad.is_none() {
                assert!(!m.is_accepting(), "{name} {}: {s:?} must not be accepted", case.name);
                assert!(m.consume_token(eos).is_err());
            }
        }
    }
}

/// The byte-fallback vocabularies split rare characters into single-byte
/// tokens; the emoji case must exercise that, or the test proves nothing.
fn assert_splits_utf8(name: &'static str) {
    let loaded = load(name);
    let case = regex_cases().into_iter().find(|c| c.name == "emoji and rare characters").unwrap();
    let split = case.matching.iter().any(|s| {
        loaded.encode(s).iter().any(|&t| {
            let b = loaded.vocab.token_bytes(t);
            std::str::from_utf8(b).is_err()
        })
    });
    assert!(split, "{name}: no test string splits a UTF-8 character across tokens");
}

#[test]
fn tokenized_llama3_1() {
    check_tokenizer(TOKENIZERS[0]);
}

#[test]
fn tokenized_qwen3() {
    check_tokenizer(TOKENIZERS[1]);
}

#[test]
fn tokenized_llama2() {
    assert_splits_utf8(TOKENIZERS[2]);
    check_tokenizer(TOKENIZERS[2]);
}

#[test]
fn tokenized_gemma3() {
    assert_splits_utf8(TOKENIZERS[3]);
    check_tokenizer(TOKENIZERS[3]);
}
