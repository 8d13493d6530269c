//! User grammars (GBNF, Lark): the built-in grammars on the four real
//! vocabularies.
//!
//! - The accept/reject tables of `tests/testdata/user_grammars.json` are
//!   checked against the reference recogniser (an Earley parser over the
//!   parsed grammar, `sluicegate_tests::earley`), then fed token by token as
//!   the real tokenizers split them: accepted strings stay inside the mask
//!   and end accepting; rejected ones are cut by the mask (the mask bit and
//!   `consume_token` agree) or end non-accepting.
//! - Random walks through the masks (random allowed tokens, then a bias
//!   towards closing bytes so that walks end) must end in outputs that the
//!   reference recogniser accepts.

use sluicegate_core::{CompileOptions, CompiledGrammar};
use sluicegate_grammars::builtin::{self, Builtin, Format};
use sluicegate_grammars::ebnf::UserGrammar;
use sluicegate_grammars::{compile, gbnf, lark};
use sluicegate_tests::earley::Earley;
use sluicegate_tests::generate::{Generator, Rng};
use sluicegate_tests::{bit, load, TOKENIZERS};
use std::sync::Arc;

#[derive(serde::Deserialize)]
struct Case {
    grammar: String,
    accept: Vec<String>,
    reject: Vec<String>,
}

fn cases() -> Vec<Case> {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/user_grammars.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("user_grammars.json")).expect("parses")
}

fn ast(b: &Builtin) -> UserGrammar {
    match b.format {
        Format::Gbnf => gbnf::parse(b.text),
        Format::Lark => lark::parse(b.text),
    }
    .unwrap_or_else(|e| panic!("{}: {e}", b.name))
}

fn reference(b: &Builtin) -> Earley {
    Earley::new(&ast(b))
}

#[test]
fn every_builtin_has_a_table_and_the_reference_agrees_with_it() {
    let cases = cases();
    for b in builtin::ALL {
        let case = cases.iter().find(|c| c.grammar == b.name).unwrap_or_else(|| panic!("no table for {}", b.name));
        assert!(case.accept.len() >= 3 && case.reject.len() >= 3, "{}: table too small", b.name);
        let r = reference(b);
        assert!(r.accepts(b.example.as_bytes()), "{}: reference rejects the example", b.name);
        for s in &case.accept {
            assert!(r.accepts(s.as_bytes()), "{}: reference rejects {s:?}", b.name);
        }
        for s in &case.reject {
            assert!(!r.accepts(s.as_bytes()), "{}: reference accepts {s:?}", b.name);
        }
    }
    assert_eq!(cases.len(), builtin::ALL.len(), "a table names an unknown grammar");
}

fn compiled(b: &Builtin, name: &'static str) -> Arc<CompiledGrammar> {
    compile(&b.constraint(), load(name).vocab.clone(), &CompileOptions::default())
        .unwrap_or_else(|e| panic!("{name} {}: {e}", b.name))
}

fn tables(name: &'static str) {
    let loaded = load(name);
    let vocab = &loaded.vocab;
    let eos = vocab.eos_tokens()[0];
    for case in cases() {
        let b = builtin::get(&case.grammar).expect("known grammar");
        let g = compiled(b, name);
        let mut all_accept = case.accept.clone();
        all_accept.push(b.example.to_string());
        for s in &all_accept {
            let mut m = g.matcher();
            for (i, &t) in loaded.encode(s).iter().enumerate() {
                let mask = m.compute_mask_vec();
                assert!(bit(&mask, t), "{name} {}: {s:?} token #{i} {} masked out", b.name, vocab.token_display(t));
                m.consume_token(t).unwrap_or_else(|e| panic!("{name} {}: {s:?}: {e}", b.name));
            }
            assert!(m.is_accepting(), "{name} {}: {s:?} not accepting at the end", b.name);
            m.consume_token(eos).unwrap();
        }
        for s in &case.reject {
            let mut m = g.matcher();
            let mut cut = false;
            for &t in &loaded.encode(s) {
                let mask = m.compute_mask_vec();
                let allowed = bit(&mask, t);
                assert_eq!(
                    allowed,
                    m.try_consume_token(t).unwrap(),
                    "{name} {}: {s:?}: mask and consume disagree",
                    b.name
                );
                if !allowed {
                    cut = true;
                    break;
                }
            }
            if !cut {
                assert!(!m.is_accepting(), "{name} {}: {s:?} accepted", b.name);
                assert!(!bit(&m.compute_mask_vec(), eos), "{name} {}: {s:?}: EOS allowed", b.name);
            }
        }
    }
}

const WALKS: usize = 10;
const MAX_TOKENS: usize = 240;

fn walks(name: &'static str) {
    let loaded = load(name);
    let vocab = &loaded.vocab;
    let single = |set: &[u8]| -> Vec<u32> {
        (0..vocab.mask_width() as u32)
            .filter(|&t| {
                matches!(vocab.token_bytes(t), [b] if set.contains(b))
                    && vocab.kind(t) == sluicegate_core::TokenKind::Text
            })
            .collect()
    };
    // Bytes that tend to end things or move on to the next part.
    let closing = single(b"\"'}])\n;,");
    for (gi, b) in builtin::ALL.iter().enumerate() {
        let g = compiled(b, name);
        let reference = reference(b);
        let mut done = 0;
        for w in 0..WALKS {
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (((gi as u64) << 32) | (w as u64 + 1)));
            let explore = rng.below(MAX_TOKENS / 4);
            let mut m = g.matcher();
            let mut text = Vec::new();
            let mut ended = false;
            for step in 0..MAX_TOKENS {
                let mask = m.compute_mask_vec();
                let allowed: Vec<u32> = (0..vocab.mask_width() as u32).filter(|&t| bit(&mask, t)).collect();
                assert!(!allowed.is_empty(), "{name} {}: dead end after {:?}", b.name, String::from_utf8_lossy(&text));
                let eos = allowed.iter().copied().find(|&t| vocab.is_eos(t));
                let t = if let Some(e) = eos.filter(|_| step >= explore || rng.below(4) == 0) {
                    e
                } else if step < explore {
                    allowed[rng.below(allowed.len())]
                } else {
                    // Finishing: mostly closing bytes, else single bytes.
                    let short: Vec<u32> =
                        allowed.iter().copied().filter(|&t| vocab.token_bytes(t).len() == 1).collect();
                    let close: Vec<u32> = closing.iter().copied().filter(|&t| bit(&mask, t)).collect();
                    if !close.is_empty() && rng.below(3) != 0 {
                        close[rng.below(close.len())]
                    } else if !short.is_empty() {
                        short[rng.below(short.len())]
                    } else {
                        allowed[rng.below(allowed.len())]
                    }
                };
                m.consume_token(t).unwrap_or_else(|e| panic!("{name} {}: allowed token refused: {e}", b.name));
                if vocab.is_eos(t) {
                    ended = true;
                    break;
                }
                text.extend_from_slice(vocab.token_bytes(t));
            }
            if !ended {
                assert!(
                    reference.viable_prefix(&text),
                    "{name} {}: the reference cannot complete a walk cut at {MAX_TOKENS} tokens: {:?}",
                    b.name,
                    String::from_utf8_lossy(&text)
                );
            }
            if ended {
                done += 1;
                assert!(std::str::from_utf8(&text).is_ok(), "{name} {}: output is not UTF-8: {text:?}", b.name);
                assert!(
                    reference.accepts(&text),
                    "{name} {}: the reference rejects a finished walk: {:?}",
                    b.name,
                    String::from_utf8_lossy(&text)
                );
            }
        }
        eprintln!("{name} {}: {done} of {WALKS} walks finished", b.name);
        assert!(done * 3 >= WALKS, "{name} {}: only {done} of {WALKS} walks finished", b.name);
    }
}

#[test]
fn tables_llama3_1() {
    tables(TOKENIZERS[0]);
}

#[test]
fn tables_qwen3() {
    tables(TOKENIZERS[1]);
}

#[test]
fn tables_llama2() {
    tables(TOKENIZERS[2]);
}

#[test]
fn tables_gemma3() {
    tables(TOKENIZERS[3]);
}

#[test]
fn walks_llama3_1() {
    walks(TOKENIZERS[0]);
}

#[test]
fn walks_qwen3() {
    walks(TOKENIZERS[1]);
}

#[test]
fn walks_llama2() {
    walks(TOKENIZERS[2]);
}

#[test]
fn walks_gemma3() {
    walks(TOKENIZERS[3]);
}

/// Sentences drawn from each grammar's syntax tree are accepted byte by
/// byte and token by token (completeness, the other half of the walks).
#[test]
fn generated_sentences_are_accepted() {
    let loaded = load(TOKENIZERS[0]);
    for (gi, b) in builtin::ALL.iter().enumerate() {
        let ast = ast(b);
        let gen = Generator::new(&ast, 6);
        let reference = Earley::new(&ast);
        let g = compiled(b, TOKENIZERS[0]);
        let mut rng = Rng(0x5EED ^ (gi as u64 + 1) << 20);
        let mut drawn = 0;
        for _ in 0..40 {
            let Some(s) = gen.sentence(&mut rng) else { break };
            drawn += 1;
            if std::env::var_os("SHOW_SENTENCES").is_some() && drawn <= 3 {
                eprintln!("{}: {s:?}", b.name);
            }
            assert!(reference.accepts(s.as_bytes()), "{}: the generator drew a non-sentence {s:?}", b.name);
            let mut m = g.matcher();
            m.consume_bytes(s.as_bytes()).unwrap_or_else(|e| panic!("{}: {s:?}: {e}", b.name));
            assert!(m.is_accepting(), "{}: {s:?} not accepting", b.name);
            let mut m = g.matcher();
            for &t in &loaded.encode(&s) {
                assert!(
                    bit(&m.compute_mask_vec(), t),
                    "{}: {s:?}: token {} masked out",
                    b.name,
                    loaded.vocab.token_display(t)
                );
                m.consume_token(t).unwrap();
            }
            assert!(m.is_accepting());
        }
        eprintln!("{}: {drawn} generated sentences accepted", b.name);
        if b.name != "extraction.lark" {
            assert_eq!(drawn, 40, "{}", b.name);
        }
    }
}
