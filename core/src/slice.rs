//! Token slices: precomputed token sets for the free-text lexemes that many
//! automaton states share.
//!
//! A cold mask is one trie walk, and inside free text nearly the whole trie
//! is alive (a JSON string body allows 123,000 of Llama 3's 128,000 tokens):
//! that walk is the slow tail of the masks. A *slice* is a prefix-closed byte
//! language (JSON string-body characters, at most N of them or unbounded)
//! with, per vocabulary, the set of tokens inside it and a view of the trie
//! that holds only the nodes leading to some token outside it.
//!
//! When every string of a slice, up to its longest token, keeps an automaton
//! state alive, the state allows every token of the slice, and only the
//! tokens outside it need a walk: the view has about 11,000 nodes instead
//! of the whole trie's 274,000 (Llama 3). The check is a small product
//! search on the automata, so the result is the same as the full walk's, bit
//! for bit. Calls and returns met inside the slice need no record either:
//! what they could add below a node whose tokens are all in the slice is
//! already allowed, and every other node is in the view and walked.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

use crate::dfa::{ByteDfa, DfaLimits, DEAD};
use crate::trie::TrieView;
use crate::vocab::Vocabulary;

/// One JSON string-body character written without an escape.
const BODY_CHAR: &str = r#"[^"\\\x00-\x1F]"#;

/// Slices in order of inclusion (each contains the previous one): a state
/// that is not covered by one is not covered by the next. Bounded slices
/// serve strings with a `maxLength` that still have room for that many
/// characters.
const MAX_CHARS: [Option<u32>; 3] = [Some(16), Some(32), None];

/// One slice over one vocabulary.
#[derive(Debug)]
pub(crate) struct Slice {
    /// Most characters a string of the slice may have (`None`: unbounded).
    /// Shown in `Debug` output and read by the tests.
    #[allow(dead_code)]
    max_chars: Option<u32>,
    /// The slice's language: a byte string is in it while this automaton is alive.
    dfa: ByteDfa,
    /// Bytes of the longest token in the slice (how deep the check must look).
    max_len: usize,
    /// The slice's tokens, as a mask.
    pub tokens: Box<[u32]>,
    /// The trie nodes that lead to a token outside the slice.
    pub rest: TrieView,
}

/// The slices of one vocabulary, smallest first.
#[derive(Debug)]
pub(crate) struct Slices {
    list: Vec<Slice>,
}

impl Slices {
    /// Compute every slice's tokens and view (a few trie walks; once per vocabulary).
    pub(crate) fn build(vocab: &Vocabulary) -> Slices {
        let list = MAX_CHARS.iter().filter_map(|&max| Slice::build(vocab, max)).collect();
        Slices { list }
    }

    /// The largest slice that `start` covers in `dfa` (see the module notes).
    /// Largest first: in free text the first check succeeds, and the bounded
    /// slices, whose searches pair every automaton state with every
    /// character count, are only tried where it fails.
    pub(crate) fn best_for(&self, dfa: &ByteDfa, start: u32) -> Option<&Slice> {
        self.list.iter().rev().find(|slice| slice.covers(dfa, start))
    }
}

impl Slice {
    fn build(vocab: &Vocabulary, max_chars: Option<u32>) -> Option<Slice> {
        let pattern = match max_chars {
            Some(n) => format!("{BODY_CHAR}{{0,{n}}}"),
            None => format!("{BODY_CHAR}*"),
        };
        // Fixed patterns over a few hundred states: failure would be a bug in
        // this file, and then the engine simply works without the slice.
        let hir = regex_syntax::parse(&pattern).ok()?;
        let dfa = ByteDfa::from_hir(&hir, &DfaLimits::default()).ok()?;
        let trie = vocab.trie();
        let mut tokens = vec![0u32; vocab.mask_words()].into_boxed_slice();
        let mut inside = vec![false; trie.num_nodes()];
        let mut max_len = 0;
        let mut stack = Vec::new();
        trie.walk(
            dfa.start(),
            &mut stack,
            |s, b| {
                let n = dfa.next(s, b);
                (n != DEAD).then_some(n)
            },
            |node, _| {
                inside[node] = true;
                for &t in trie.tokens_at(node) {
                    tokens[(t >> 5) as usize] |= 1 << (t & 31);
                    max_len = max_len.max(trie.depth(node));
                }
            },
        );
        let rest = trie.view(|node| !inside[node] && trie.has_tokens(node));
        Some(Slice { max_chars, dfa, max_len, tokens, rest })
    }

    /// Whether every string of the slice no longer than its longest token
    /// keeps `start` alive in `dfa`. A
    /// breadth-first search over pairs of states, each pair met first at its
    /// smallest depth.
    #[inline(never)]
    fn covers(&self, dfa: &ByteDfa, start: u32) -> bool {
        // One byte per pair of byte classes (ours, theirs) is enough; the
        // pairs are marked in a 65,536-bit set.
        let mut joint = [0u64; 1024];
        let bytes: Vec<u8> = (0..=255u8)
            .filter(|&b| {
                let key = (self.dfa.class_of(b) as usize) << 8 | dfa.class_of(b) as usize;
                let fresh = joint[key >> 6] & 1 << (key & 63) == 0;
                joint[key >> 6] |= 1 << (key & 63);
                fresh
            })
            .collect();
        let mut seen: HashSet<(u32, u32), BuildHasherDefault<PairHasher>> = HashSet::default();
        let mut level = vec![(self.dfa.start(), start)];
        seen.insert(level[0]);
        let mut next = Vec::new();
        for depth in 0..self.max_len {
            for &(own, theirs) in &level {
                for &b in &bytes {
                    let own_next = self.dfa.next(own, b);
                    if own_next == DEAD {
                        continue;
                    }
                    let their_next = dfa.next(theirs, b);
                    if their_next == DEAD {
                        return false;
                    }
                    if depth + 1 < self.max_len && seen.insert((own_next, their_next)) {
                        // An automaton that tracks many things at once (a
                        // pattern counted to a length) can meet so many pairs
                        // that the search costs more than the trie walk it
                        // would save: give up, the walk is exact anyway.
                        if seen.len() > MAX_PAIRS {
                            return false;
                        }
                        next.push((own_next, their_next));
                    }
                }
            }
            if next.is_empty() {
                break;
            }
            std::mem::swap(&mut level, &mut next);
            next.clear();
        }
        true
    }
}

/// Most pairs of states a coverage search visits (a free string body takes
/// tens, a string counted to a length a few hundred).
const MAX_PAIRS: usize = 4096;

/// A multiplicative hash for pairs of state ids: the search inserts a pair
/// per automaton transition it follows, and SipHash was most of its cost.
#[derive(Default)]
struct PairHasher(u64);

impl Hasher for PairHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(b as u64);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(n as u64);
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use regex_syntax::parse;

    use crate::compiled::CompiledGrammar;
    use crate::ir::{Expr, Grammar, Rule};
    use crate::vocab::{TokenEntry, TokenKind, Vocabulary};
    use crate::CompileOptions;

    use super::*;

    const EOS: u32 = 0;

    /// Every string of up to three pieces (ASCII, quote, backslash, control,
    /// 2-, 3- and 4-byte characters, a lone lead byte), plus long runs that
    /// exceed the bounded slices.
    fn vocab() -> Arc<Vocabulary> {
        let pieces: [&[u8]; 12] =
            [b"a", b"b", b" ", b",", b"}", b"\"", b"\\", b"n", b"\x01", "é".as_bytes(), "中".as_bytes(), b"\xF0\x9F"];
        let mut texts: Vec<Vec<u8>> = Vec::new();
        for a in pieces {
            texts.push(a.to_vec());
            for b in pieces {
                texts.push([a, b].concat());
                for c in pieces {
                    texts.push([a, b, c].concat());
                }
            }
        }
        texts.push("😀".as_bytes().to_vec());
        texts.push(vec![0x98, 0x80]);
        for n in [15, 16, 17, 31, 33, 40] {
            texts.push(b"x".repeat(n));
            texts.push("é".repeat(n).into_bytes());
        }
        texts.sort();
        texts.dedup();
        let mut tokens = vec![TokenEntry { id: EOS, bytes: b"</s>".to_vec(), kind: TokenKind::Special }];
        for (i, t) in texts.into_iter().enumerate() {
            tokens.push(TokenEntry { id: i as u32 + 1, bytes: t, kind: TokenKind::Text });
        }
        Arc::new(Vocabulary::from_tokens(tokens, &[EOS], None).unwrap())
    }

    fn regular(re: &str) -> Expr {
        Expr::Regular(parse(re).unwrap())
    }

    /// Walk `steps` tokens (chosen by `seed`); at every step the mask must
    /// be exactly the tokens that consuming accepts.
    fn check_masks(grammar: &Grammar, seed: usize, steps: usize) {
        let v = vocab();
        let g = CompiledGrammar::new(grammar, v.clone(), &CompileOptions::default()).unwrap();
        let mut m = g.matcher();
        for step in 0..steps {
            let mask = m.compute_mask_vec();
            let mut allowed = Vec::new();
            for t in 1..v.mask_width() as u32 {
                let bit = mask[(t >> 5) as usize] >> (t & 31) & 1 == 1;
                let mut probe = m.clone();
                assert_eq!(bit, probe.try_consume_token(t).unwrap(), "token {:?} at step {step}", v.token_display(t));
                if bit {
                    allowed.push(t);
                }
            }
            if allowed.is_empty() {
                break;
            }
            m.consume_token(allowed[(seed * 7919 + step * 104_729) % allowed.len()]).unwrap();
        }
    }

    #[test]
    fn masks_with_slices_equal_consuming() {
        let body = r#"(?:[^"\\\x00-\x1F]|\\["\\n])"#;
        let grammars = [
            // A free string, then more text: the unbounded slice.
            Grammar::regular(parse(&format!(r#""{body}*", ?\}}"#)).unwrap()),
            // A bounded string: the bounded slices while it has room.
            Grammar::regular(parse(&format!(r#""{body}{{0,40}}"\}}"#)).unwrap()),
            // A key that excludes declared names (a difference automaton).
            Grammar {
                rules: vec![Rule::new(
                    "key",
                    Expr::Seq(vec![
                        Expr::Exclude {
                            base: Box::new(regular(&format!(r#""{body}*""#))),
                            excluded: Box::new(regular(r#""(?:ab|a b|中)""#)),
                        },
                        regular(":"),
                    ]),
                )],
                start: 0,
            },
            // A called rule that can return anywhere inside free text (calls
            // and returns inside slice tokens).
            Grammar {
                rules: vec![
                    Rule::new("start", Expr::Seq(vec![Expr::Rule(1), regular(r#"""#), Expr::Rule(1), regular("}")])),
                    Rule { inline: false, ..Rule::new("text", regular(r#"[^"\\\x00-\x1F]*"#)) },
                ],
                start: 0,
            },
        ];
        for (i, g) in grammars.iter().enumerate() {
            for seed in 0..4 {
                check_masks(g, seed + i, 12);
            }
        }
    }

    #[test]
    fn the_largest_covering_slice_is_chosen() {
        let v = vocab();
        let slices = v.slices();
        let after_quote = |re: &str| {
            let dfa = ByteDfa::from_hir(&parse(re).unwrap(), &DfaLimits::default()).unwrap();
            let s = dfa.next(dfa.start(), b'"');
            slices.best_for(&dfa, s).map(|slice| slice.max_chars)
        };
        assert_eq!(after_quote(r#""[^"\\\x00-\x1F]*""#), Some(None));
        // No token is longer than 40 characters: 100 characters of room is as good as unbounded.
        assert_eq!(after_quote(r#""[^"\\\x00-\x1F]{0,100}""#), Some(None));
        assert_eq!(after_quote(r#""[^"\\\x00-\x1F]{0,35}""#), Some(Some(32)));
        assert_eq!(after_quote(r#""[^"\\\x00-\x1F]{0,20}""#), Some(Some(16)));
        assert_eq!(after_quote(r#""[^"\\\x00-\x1F]{0,10}""#), None);
        assert_eq!(after_quote(r#""[a-z]*""#), None);
    }
}
