//! Shared helpers for the integration tests: locating `../shared/data`,
//! loading each tokenizer once per test binary, reading the case files in
//! `tests/testdata/`, and an independent oracle for regex prefixes.
#![allow(missing_docs)]

pub mod earley;
pub mod generate;

use std::io::Read;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use regex_automata::dfa::{dense, Automaton};
use regex_automata::util::primitives::StateID;
use regex_automata::util::start;
use regex_automata::{Anchored, MatchKind};
use sluicegate_core::Vocabulary;

/// The four tokenizers in `../shared/data/tokenizers`.
pub const TOKENIZERS: &[&str] = &["llama3_1", "qwen3", "llama2", "gemma3"];

/// `../shared/data`, or `$SLUICEGATE_DATA`. Panics (fails the test) with a
/// clear message when it is missing: these tests never skip silently.
pub fn data_dir() -> PathBuf {
    let dir = std::env::var_os("SLUICEGATE_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"));
    assert!(
        dir.join("tokenizers").is_dir(),
        "test data not found at {} (expected ../shared/data beside the repository, or set SLUICEGATE_DATA)",
        dir.display()
    );
    dir
}

pub fn tokenizer_path(name: &str) -> PathBuf {
    data_dir().join("tokenizers").join(format!("{name}.tokenizer.json.gz"))
}

/// A vocabulary and the reference HF tokenizer for encoding test strings.
pub struct Loaded {
    pub name: &'static str,
    pub vocab: Arc<Vocabulary>,
    pub hf: tokenizers::Tokenizer,
}

impl Loaded {
    /// Token ids whose bytes concatenate to exactly `text`, as the real
    /// tokenizer splits it. SentencePiece tokenizers that prepend `▁` to
    /// the input get that space removed from the first token (re-spelled
    /// by greedy longest match), since generated output has no such prefix.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let enc = self.hf.encode(text, false).expect("tokenizer encodes");
        let mut ids: Vec<u32> = enc.get_ids().to_vec();
        let joined: Vec<u8> = ids.iter().flat_map(|&t| self.vocab.token_bytes(t).to_vec()).collect();
        if joined == text.as_bytes() {
            return ids;
        }
        let spaced = [b" ".as_slice(), text.as_bytes()].concat();
        assert_eq!(joined, spaced, "{}: tokens of {text:?} do not spell it", self.name);
        let first = self.vocab.token_bytes(ids[0])[1..].to_vec();
        let mut respelled = Vec::new();
        let mut pos = 0;
        while pos < first.len() {
            let (len, node) = self.vocab.trie().longest_prefix(&first[pos..]).expect("every byte is a token");
            respelled.push(self.vocab.trie().tokens_at(node)[0]);
            pos += len;
        }
        ids.splice(0..1, respelled);
        ids
    }
}

fn gunzip(path: &PathBuf) -> Vec<u8> {
    let raw = std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&raw[..]).read_to_end(&mut out).expect("gzip");
    out
}

/// Load (once per process) one of [`TOKENIZERS`].
pub fn load(name: &'static str) -> &'static Loaded {
    static CELLS: [OnceLock<Loaded>; 4] = [OnceLock::new(), OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let idx = TOKENIZERS.iter().position(|&n| n == name).expect("known tokenizer");
    CELLS[idx].get_or_init(|| {
        let path = tokenizer_path(name);
        let vocab = Vocabulary::from_hf_file(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let hf = tokenizers::Tokenizer::from_bytes(gunzip(&path)).expect("HF tokenizer loads");
        Loaded { name, vocab: Arc::new(vocab), hf }
    })
}

/// Regex cases from `tests/testdata/regex_cases.json`.
#[derive(Debug, serde::Deserialize)]
pub struct RegexCase {
    pub name: String,
    pub regex: String,
    #[serde(rename = "match")]
    pub matching: Vec<String>,
    pub nomatch: Vec<String>,
}

pub fn regex_cases() -> Vec<RegexCase> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/regex_cases.json");
    let text = std::fs::read_to_string(&path).expect("regex_cases.json");
    serde_json::from_str(&text).expect("regex_cases.json parses")
}

/// An oracle for "can this byte string still be completed to a match",
/// built independently of sluicegate's automaton: a *minimised*
/// `regex-automata` DFA, in which every state that cannot reach a match has
/// been merged into the dead state.
pub struct Oracle {
    dfa: dense::DFA<Vec<u32>>,
    start: StateID,
}

impl Oracle {
    pub fn new(pattern: &str) -> Oracle {
        let dfa = dense::Builder::new()
            .configure(
                dense::Config::new()
                    .match_kind(MatchKind::All)
                    .start_kind(regex_automata::dfa::StartKind::Anchored)
                    .minimize(true),
            )
            // `\z` so that no byte may follow a complete match: in a
            // minimised DFA every other non-dead state can then reach a match.
            .build(&format!("(?:{pattern})\\z"))
            .expect("oracle DFA builds");
        let start = dfa.start_state(&start::Config::new().anchored(Anchored::Yes)).expect("start");
        Oracle { dfa, start }
    }

    pub fn start(&self) -> StateID {
        self.start
    }

    /// The state after `bytes`, `None` once no match is reachable.
    pub fn run(&self, mut s: StateID, bytes: &[u8]) -> Option<StateID> {
        for &b in bytes {
            s = self.dfa.next_state(s, b);
            if self.dfa.is_dead_state(s) {
                return None;
            }
        }
        Some(s)
    }

    pub fn is_accepting(&self, s: StateID) -> bool {
        self.dfa.is_match_state(self.dfa.next_eoi_state(s))
    }

    /// Whether any byte may follow.
    pub fn can_continue(&self, s: StateID) -> bool {
        (0..=255u8).any(|b| !self.dfa.is_dead_state(self.dfa.next_state(s, b)))
    }
}

/// Bit `t` of a packed mask.
pub fn bit(mask: &[u32], t: u32) -> bool {
    mask[(t >> 5) as usize] >> (t & 31) & 1 == 1
}

/// A text token `mask` allows, chosen by `rng`; `None` when only EOS (or nothing) is allowed.
pub fn random_allowed(vocab: &Vocabulary, mask: &[u32], rng: &mut generate::Rng) -> Option<u32> {
    let allowed: Vec<u32> =
        (0..vocab.mask_width() as u32).filter(|&t| bit(mask, t) && !vocab.eos_tokens().contains(&t)).collect();
    (!allowed.is_empty()).then(|| allowed[rng.below(allowed.len())])
}
