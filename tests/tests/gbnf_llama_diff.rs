//! Differential test: sluicegate's GBNF masks against llama.cpp's own
//! grammar sampler (through `llama-cpp-2`), on the default model's
//! vocabulary (SmolLM2-135M, 49,152 tokens, loaded vocabulary-only).
//!
//! For every built-in `.gbnf` grammar, the token sequences compared are the
//! prefixes of the tokenizations (the model's own tokenizer, no BOS) of the
//! grammar's example and of the accepted strings of its table in
//! `testdata/user_grammars.json`, plus seeded random walks through the tokens
//! that both engines allow. At each prefix the allowed sets are compared over
//! the whole vocabulary: sluicegate's `Matcher::compute_mask` bit against
//! "the logit stayed finite" after llama.cpp's grammar sampler `apply` on an
//! array holding every token.
//!
//! llama.cpp aborts the process (`GGML_ABORT`, or a C++ exception through the
//! C API) when it is made to accept a token its grammar rejects, so a token is
//! only ever accepted after llama.cpp's own mask allowed it (and sluicegate's),
//! and end-of-generation tokens are never accepted.
//!
//! Known, documented semantic differences (also in ARCHITECTURE.md, "User
//! grammars"); each difference found is put in one of these categories, and
//! any other difference fails the test with the token id, its bytes and the
//! prefix:
//!
//! - **special**: control tokens (`<|im_start|>` ...) that are not
//!   end-of-generation. llama.cpp matches their spelled-out text against the
//!   grammar (its pieces are rendered with `special = true`), so a JSON string
//!   may contain `<|im_start|>` as one token; sluicegate never allows a special
//!   token as text (GBNF token terminals `<[id]>` are refused at compile time).
//! - **unusable**: tokens that sluicegate's vocabulary marks unusable (unknown
//!   or unused attributes, or an empty piece); llama.cpp rejects empty pieces
//!   but matches any other piece as text.
//! - **invalid-utf8**: the prefix's bytes followed by the token's are not
//!   valid UTF-8 (not even a prefix of it). llama.cpp deviates from its
//!   documented semantics (grammars over Unicode code points) here: its
//!   decoder checks neither overlong forms nor surrogates, and its test for a
//!   partial character assumes a 3-byte sequence whenever two bytes are
//!   missing, so after a 4-byte lead `\xF0` it allows `\x80`..`\x8F`, the start
//!   of an overlong encoding (observed on `json.gbnf`). Completed, such bytes
//!   decode to a code point the class accepts, so llama.cpp can emit invalid
//!   UTF-8. sluicegate's automata accept only well-formed UTF-8.
//! - **partial-utf8**: the token's bytes, after the prefix's, end inside a
//!   UTF-8 character (or the prefix itself does). llama.cpp keeps a partial
//!   character and allows the token when the range of code points it could
//!   still complete to overlaps the character class at the grammar position
//!   (one position only, an approximation); sluicegate walks bytes through a
//!   UTF-8 automaton and allows exactly the byte prefixes that can still be
//!   completed. Both allow tokens that end inside a character.
//! - **nul**: pieces containing a NUL byte. llama.cpp handles pieces as C
//!   strings: a piece starting with NUL is rejected and decoding stops at the
//!   first NUL; sluicegate matches every byte.
//! - **eog-partial**: end-of-generation while the prefix ends inside a UTF-8
//!   character. llama.cpp allows EOG when one of its stacks is empty, which
//!   it checks on whole code points only; sluicegate's state is not accepting
//!   in the middle of a character. (Elsewhere both allow the EOG tokens exactly
//!   where the grammar can end, so any other EOG difference fails the test.)

use std::collections::{BTreeMap, HashSet};

use sluicegate_grammars::builtin::{self, Format};
use sluicegate_grammars::Constraint;
use sluicegate_llama::llama_cpp_2::model::LlamaModel;
use sluicegate_llama::llama_cpp_2::sampling::LlamaSampler;
use sluicegate_llama::llama_cpp_2::token::data::LlamaTokenData;
use sluicegate_llama::llama_cpp_2::token::data_array::LlamaTokenDataArray;
use sluicegate_llama::llama_cpp_2::token::LlamaToken;
use sluicegate_llama::{default_model_path, Model, ModelOptions};

/// Random walks per grammar, and their length in tokens. Every other step of
/// a walk picks a token with a non-ASCII byte when one is allowed, so that
/// walks go through multi-byte characters split across tokens.
const WALKS: usize = 12;
const WALK_LEN: usize = 32;

#[derive(serde::Deserialize)]
struct Case {
    grammar: String,
    accept: Vec<String>,
}

fn accept_tables() -> Vec<Case> {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/user_grammars.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("user_grammars.json")).expect("parses")
}

/// llama.cpp's allowed set: every token whose logit stays finite after the
/// grammar sampler's `apply` on an array of the whole vocabulary.
fn llama_allowed(sampler: &mut LlamaSampler, n_vocab: usize) -> Vec<bool> {
    let mut array = LlamaTokenDataArray::from_iter(
        (0..n_vocab as i32).map(|id| LlamaTokenData::new(LlamaToken(id), 0.0, 0.0)),
        false,
    );
    sampler.apply(&mut array);
    let mut allowed = vec![false; n_vocab];
    for d in &array.data {
        if d.logit().is_finite() {
            allowed[d.id().0 as usize] = true;
        }
    }
    allowed
}

fn bit(mask: &[u32], t: usize) -> bool {
    (mask[t >> 5] >> (t & 31)) & 1 == 1
}

/// Whether `bytes` ends inside a UTF-8 character (a lead byte whose
/// continuation bytes are not all there yet).
fn ends_mid_char(bytes: &[u8]) -> bool {
    for back in 1..=bytes.len().min(4) {
        let b = bytes[bytes.len() - back];
        if b & 0xC0 == 0x80 {
            continue; // a continuation byte: look further back
        }
        let need = match b {
            0x00..=0x7F => 1,
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => return false,
        };
        return back < need;
    }
    false
}

/// The documented categories of differences (see the module comment).
const CATEGORIES: [&str; 6] = ["special", "unusable", "nul", "invalid-utf8", "partial-utf8", "eog-partial"];

#[derive(Default)]
struct Tally {
    prefixes: usize,
    /// Prefixes whose bytes end inside a UTF-8 character.
    partial_prefixes: usize,
    compared: usize,
    allowed_both: usize,
    categories: BTreeMap<&'static str, (usize, usize)>,
    /// The first few differences of each category, for the summary.
    examples: BTreeMap<&'static str, Vec<String>>,
    unexplained: Vec<String>,
}

struct Vocab<'a> {
    llama: &'a LlamaModel,
    model: &'a Model,
    /// llama.cpp's piece of each token (rendered with `special = true`, as its
    /// grammar code does).
    pieces: Vec<Vec<u8>>,
    eog: Vec<bool>,
}

impl Vocab<'_> {
    fn describe(&self, t: usize) -> String {
        format!("token {t} {:?} ({})", String::from_utf8_lossy(&self.pieces[t]), escape(&self.pieces[t]))
    }
}

fn escape(b: &[u8]) -> String {
    b.iter().flat_map(|&c| std::ascii::escape_default(c)).map(char::from).collect()
}

/// Which documented category explains a difference at token `t` after the
/// bytes `text`, if one does.
fn categorize(v: &Vocab, text: &[u8], t: usize) -> Option<&'static str> {
    let vocab = v.model.vocabulary();
    let piece = &v.pieces[t];
    if v.eog[t] {
        return ends_mid_char(text).then_some("eog-partial");
    }
    match vocab.kind(t as u32) {
        sluicegate_core::TokenKind::Special => return Some("special"),
        sluicegate_core::TokenKind::Unusable => return Some("unusable"),
        sluicegate_core::TokenKind::Text => {}
    }
    if piece.contains(&0) {
        return Some("nul");
    }
    let mut all = text.to_vec();
    all.extend_from_slice(piece);
    if matches!(std::str::from_utf8(&all), Err(e) if e.error_len().is_some()) {
        return Some("invalid-utf8");
    }
    if ends_mid_char(text) || ends_mid_char(&all) {
        return Some("partial-utf8");
    }
    None
}

/// Compare the two allowed sets at the current prefix; returns both.
fn compare(
    v: &Vocab,
    grammar: &str,
    sampler: &mut LlamaSampler,
    matcher: &mut sluicegate_core::Matcher,
    prefix: &[u32],
    text: &[u8],
    tally: &mut Tally,
) -> (Vec<bool>, Vec<u32>) {
    let n = v.pieces.len();
    let llama = llama_allowed(sampler, n);
    let mask = matcher.compute_mask_vec();
    tally.prefixes += 1;
    tally.partial_prefixes += usize::from(ends_mid_char(text));
    tally.compared += n;
    for (t, &l) in llama.iter().enumerate() {
        let s = bit(&mask, t);
        if s && l {
            tally.allowed_both += 1;
        }
        if s == l {
            continue;
        }
        let what = || {
            format!(
                "{grammar}: {} allowed by {} only, after prefix {prefix:?} = {:?} (ending {})",
                v.describe(t),
                if l { "llama.cpp" } else { "sluicegate" },
                String::from_utf8_lossy(text),
                escape(&text[text.len().saturating_sub(4)..]),
            )
        };
        match categorize(v, text, t) {
            Some(cat) => {
                let ex = tally.examples.entry(cat).or_default();
                if ex.len() < 3 {
                    ex.push(what());
                }
                let e = tally.categories.entry(cat).or_default();
                if l {
                    e.0 += 1;
                } else {
                    e.1 += 1;
                }
            }
            None => tally.unexplained.push(what()),
        }
    }
    (llama, mask)
}

/// A small deterministic generator (xorshift64*) for the walks.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
    }
}

/// The default model's vocabulary (no weights); fails, never skips, when missing.
fn vocab_only_model() -> Model {
    Model::load(
        default_model_path().unwrap_or_else(|e| panic!("the default model is needed for this test: {e}")),
        ModelOptions { vocab_only: true, ..ModelOptions::default() },
    )
    .expect("load the default model (vocabulary only)")
}

#[test]
fn builtin_gbnf_masks_match_llama_cpp_grammar_sampler() {
    let model = vocab_only_model();
    let llama = model.llama_model();
    let lv = llama.vocab();
    let n = lv.n_tokens() as usize;
    assert_eq!(n, model.vocabulary().mask_width());
    let vocab = Vocab {
        llama,
        model: &model,
        pieces: (0..n as i32).map(|t| lv.token_to_piece(LlamaToken(t), true, None)).collect(),
        eog: (0..n as i32).map(|t| lv.is_eog(LlamaToken(t))).collect(),
    };
    let bos = lv.bos().0 as u32;
    let tables = accept_tables();

    let mut tally = Tally::default();
    let mut per_grammar = Vec::new();
    for b in builtin::ALL.iter().filter(|b| b.format == Format::Gbnf) {
        let before = (tally.prefixes, tally.unexplained.len(), tally.categories.clone());
        let compiled = model.compile(&Constraint::Gbnf(b.text.to_string())).expect("sluicegate compiles it");
        let new_sampler = || {
            LlamaSampler::grammar(vocab.llama, b.text, "root")
                .unwrap_or_else(|e| panic!("{}: llama.cpp refuses the grammar: {e}", b.name))
        };

        // Prefixes of the example and of the table's accepted strings.
        let mut strings = vec![b.example.to_string()];
        if let Some(c) = tables.iter().find(|c| c.grammar == b.name) {
            strings.extend(c.accept.iter().cloned());
        }
        let mut seen: HashSet<Vec<u32>> = HashSet::new();
        for s in &strings {
            let mut tokens = model.tokenize(s);
            if tokens.first() == Some(&bos) {
                tokens.remove(0);
            }
            let mut sampler = new_sampler();
            let mut matcher = compiled.matcher();
            let mut text = Vec::new();
            for k in 0..=tokens.len() {
                let fresh = seen.insert(tokens[..k].to_vec());
                let (llama_ok, mask) = if fresh {
                    compare(&vocab, b.name, &mut sampler, &mut matcher, &tokens[..k], &text, &mut tally)
                } else {
                    (llama_allowed(&mut sampler, n), matcher.compute_mask_vec())
                };
                if k == tokens.len() {
                    assert!(llama_ok.iter().zip(&vocab.eog).any(|(a, e)| *a && *e), "{}: {s:?}: no EOG at end", b.name);
                    assert!(matcher.is_accepting(), "{}: {s:?}: sluicegate not accepting at the end", b.name);
                    break;
                }
                let t = tokens[k] as usize;
                // Accept only what both engines allow (llama.cpp aborts on a rejected token).
                if !llama_ok[t] || !bit(&mask, t) {
                    tally.unexplained.push(format!(
                        "{}: {s:?}: its own token {} is not allowed by {} after {:?}",
                        b.name,
                        vocab.describe(t),
                        if llama_ok[t] { "sluicegate" } else { "llama.cpp" },
                        &tokens[..k]
                    ));
                    break;
                }
                sampler.accept(LlamaToken(t as i32));
                matcher.consume_token(t as u32).expect("allowed token consumed");
                text.extend_from_slice(&vocab.pieces[t]);
            }
        }

        // Random walks through the tokens both allow (no EOG).
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ b.name.len() as u64);
        for _ in 0..WALKS {
            let mut sampler = new_sampler();
            let mut matcher = compiled.matcher();
            let mut prefix = Vec::new();
            let mut text = Vec::new();
            for step in 0..WALK_LEN {
                let (llama_ok, mask) = compare(&vocab, b.name, &mut sampler, &mut matcher, &prefix, &text, &mut tally);
                let both: Vec<usize> = (0..n).filter(|&t| llama_ok[t] && bit(&mask, t) && !vocab.eog[t]).collect();
                let wide: Vec<usize> =
                    both.iter().copied().filter(|&t| vocab.pieces[t].iter().any(|&c| c >= 0x80)).collect();
                let pool = if step % 2 == 1 && !wide.is_empty() { &wide } else { &both };
                if pool.is_empty() {
                    break;
                }
                let t = pool[rng.below(pool.len())];
                sampler.accept(LlamaToken(t as i32));
                matcher.consume_token(t as u32).expect("allowed token consumed");
                prefix.push(t as u32);
                text.extend_from_slice(&vocab.pieces[t]);
            }
        }
        let cats: Vec<String> = tally
            .categories
            .iter()
            .map(|(cat, (l, s))| {
                let (l0, s0) = before.2.get(cat).copied().unwrap_or_default();
                format!("{cat} {} / {}", l - l0, s - s0)
            })
            .collect();
        per_grammar.push(format!(
            "{}: {} prefixes, {} unexplained; {}",
            b.name,
            tally.prefixes - before.0,
            tally.unexplained.len() - before.1,
            cats.join(", ")
        ));
    }

    println!("vocabulary: {n} tokens; {} prefixes, {} token comparisons", tally.prefixes, tally.compared);
    println!(
        "allowed by both: {} (prefix, token) pairs; {} prefixes end inside a UTF-8 character",
        tally.allowed_both, tally.partial_prefixes
    );
    for line in &per_grammar {
        println!("  {line}");
    }
    println!("documented differences (category: allowed by llama.cpp only / by sluicegate only):");
    for cat in CATEGORIES {
        let (l, s) = tally.categories.get(cat).copied().unwrap_or_default();
        println!("  {cat}: {l} / {s}");
        for e in tally.examples.get(cat).into_iter().flatten() {
            println!("    e.g. {e}");
        }
    }
    let shown: Vec<&String> = tally.unexplained.iter().take(40).collect();
    assert!(
        tally.unexplained.is_empty(),
        "{} unexplained differences (first {}):\n{}",
        tally.unexplained.len(),
        shown.len(),
        shown.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n")
    );
    assert!(tally.prefixes >= 100, "too few prefixes compared: {}", tally.prefixes);
}

/// The `invalid-utf8` category, followed to its end: inside a `json.gbnf`
/// string, the single-byte tokens `\xF0 \x80 \xA0 \x80` (an overlong 4-byte
/// form of U+0800) then `"`. sluicegate refuses `\x80` after `\xF0`; what
/// llama.cpp does at each byte is printed (each byte is accepted only if its
/// own mask allowed it), not asserted: it is llama.cpp's behaviour.
#[test]
fn overlong_utf8_in_a_json_string() {
    let model = vocab_only_model();
    let llama = model.llama_model();
    let lv = llama.vocab();
    let n = lv.n_tokens() as usize;
    let pieces: Vec<Vec<u8>> = (0..n as i32).map(|t| lv.token_to_piece(LlamaToken(t), true, None)).collect();
    let token_of = |bytes: &[u8]| pieces.iter().position(|p| p == bytes).expect("a token for these bytes") as u32;
    let json = builtin::get("json.gbnf").expect("json.gbnf");
    let compiled = model.compile(&Constraint::Gbnf(json.text.to_string())).expect("compiles");
    let mut matcher = compiled.matcher();
    let mut sampler = LlamaSampler::grammar(llama, json.text, "root").expect("llama.cpp parses json.gbnf");

    let quote = token_of(b"\"");
    assert!(llama_allowed(&mut sampler, n)[quote as usize] && bit(&matcher.compute_mask_vec(), quote as usize));
    sampler.accept(LlamaToken(quote as i32));
    matcher.consume_token(quote).unwrap();
    let mut sluicegate_alive = true;
    let mut trace = Vec::new();
    for bytes in [&b"\xF0"[..], b"\x80", b"\xA0", b"\x80", b"\""] {
        let t = token_of(bytes);
        let l = llama_allowed(&mut sampler, n)[t as usize];
        let s = sluicegate_alive && bit(&matcher.compute_mask_vec(), t as usize);
        trace.push(format!("{}: llama.cpp {l}, sluicegate {s}", escape(bytes)));
        if bytes == b"\x80" && trace.len() == 2 {
            assert!(!s, "sluicegate allows an overlong UTF-8 form");
        }
        if s {
            matcher.consume_token(t).unwrap();
        } else {
            sluicegate_alive = false;
        }
        if !l {
            break;
        }
        sampler.accept(LlamaToken(t as i32));
    }
    println!("after `\"` in json.gbnf, byte by byte (allowed?):\n  {}", trace.join("\n  "));
}
