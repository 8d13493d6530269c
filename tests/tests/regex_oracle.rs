//! Brute-force oracle: for every regex case, every tokenizer and a set of
//! reachable states, the mask bit of every token in the vocabulary equals
//! "this token's bytes keep the output completable", decided by an
//! independent minimised DFA.

use sluicegate_core::{CompileOptions, TokenKind};
use sluicegate_grammars::{compile, Constraint};
use sluicegate_tests::{bit, load, regex_cases, Oracle, TOKENIZERS};

/// Byte prefixes of the matching strings at which the mask is checked: every
/// byte offset for short strings (mid-UTF-8 offsets included), sampled for
/// longer ones.
fn prefixes(case: &sluicegate_tests::RegexCase) -> Vec<Vec<u8>> {
    let mut out = vec![Vec::new()];
    for s in &case.matching {
        let b = s.as_bytes();
        let step = (b.len() / 6).max(1);
        let mut i = 1;
        while i <= b.len() {
            out.push(b[..i].to_vec());
            i += step;
        }
        out.push(b.to_vec());
    }
    out.sort();
    out.dedup();
    out
}

fn check_tokenizer(name: &'static str) {
    let loaded = load(name);
    let vocab = &loaded.vocab;
    let mut checked_states = 0;
    for case in regex_cases() {
        let oracle = Oracle::new(&case.regex);
        let grammar = compile(&Constraint::Regex(case.regex.clone()), vocab.clone(), &CompileOptions::default())
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        for prefix in prefixes(&case) {
            let o = oracle.run(oracle.start(), &prefix).expect("prefix of a matching string is live");
            let mut m = grammar.matcher();
            m.consume_bytes(&prefix).unwrap();
            let mask = m.compute_mask_vec();
            assert_eq!(m.is_accepting(), oracle.is_accepting(o), "{name} {}: accepting after {prefix:?}", case.name);
            let mut allowed = 0;
            for t in 0..vocab.mask_width() as u32 {
                let expected = if vocab.is_eos(t) {
                    oracle.is_accepting(o)
                } else if vocab.kind(t) == TokenKind::Text {
                    oracle.run(o, vocab.token_bytes(t)).is_some()
                } else {
                    false
                };
                allowed += expected as usize;
                assert_eq!(
                    bit(&mask, t),
                    expected,
                    "{name} {}: after {:?}, token {t} {}",
                    case.name,
                    String::from_utf8_lossy(&prefix),
                    vocab.token_display(t)
                );
                if expected != m.is_token_allowed(t).unwrap() {
                    panic!("{name} {}: is_token_allowed disagrees with the mask for token {t}", case.name);
                }
            }
            // Either some token continues the output, or it is complete.
            assert!(allowed > 0 || !oracle.can_continue(o), "{name} {}: empty mask after {prefix:?}", case.name);
            // A second visit is served from the cache and must be identical.
            assert_eq!(m.compute_mask_vec(), mask);
            checked_states += 1;
        }
    }
    assert!(checked_states > 50, "{name}: only {checked_states} states checked");
}

#[test]
fn oracle_llama3_1() {
    check_tokenizer(TOKENIZERS[0]);
}

#[test]
fn oracle_qwen3() {
    check_tokenizer(TOKENIZERS[1]);
}

#[test]
fn oracle_llama2() {
    check_tokenizer(TOKENIZERS[2]);
}

#[test]
fn oracle_gemma3() {
    check_tokenizer(TOKENIZERS[3]);
}
