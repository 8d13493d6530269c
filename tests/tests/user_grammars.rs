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
use sluicegate_grammars::{compile, gbnf, lark};
use sluicegate_tests::earley::Earley;
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

fn reference(b: &Builtin) -> Earley {
    let ast = match b.format {
        Format::Gbnf => gbnf::parse(b.text),
        Format::Lark => lark::parse(b.text),
    }
    .unwrap_or_else(|e| panic!("{}: {e}", b.name));
    Earley::new(&ast)
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

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
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
            if !ended && std::env::var_os("WALK_DEBUG").is_some() {
                eprintln!("unfinished: {:?}", String::from_utf8_lossy(&text));
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
