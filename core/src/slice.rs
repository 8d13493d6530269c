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
//!
//! A string near its `maxLength` (a few characters of room left) is not
//! covered by any slice, yet its walk reaches every trie node of up to that
//! many characters: about a millisecond. Such a state is decided by the
//! *length* of a string body alone: every body string of at most `k`
//! characters keeps it alive and every longer one kills it. Then the string
//! body tokens it allows are exactly those of at most `k` characters (a
//! per-vocabulary mask for each `k` up to [`MAX_LENGTH_SLICE`]), and only
//! the unbounded slice's view (tokens with a quote, an escape, a control
//! byte...) is walked ([`Slices::by_length`]).
//!
//! Patterns and formats give the same problem over an ASCII class (an
//! identifier `[A-Za-z0-9_-]{1,64}`, the local part of an e-mail address):
//! the walk reaches every token made of the class, tens of thousands, yet
//! almost none of them have a descendant outside the class (a tokenizer
//! splits words from punctuation). A state where every string of the class
//! stays alive up to `k` bytes and dies after (or never dies) allows exactly
//! the class's tokens of at most `k` bytes (cached per class and
//! vocabulary), and the walk skips every subtree made only of the class
//! ([`Slices::by_class`], [`TokenTrie::bytes_below`]).

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex, OnceLock};

use crate::dfa::{ByteDfa, ByteSet, DfaLimits, DEAD};
use crate::trie::{ascii_bit, TrieView};
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
    max_chars: Option<u32>,
    /// The slice's language: a byte string is in it while this automaton is alive.
    dfa: ByteDfa,
    /// Bytes of the longest token in the slice (how deep the check must look).
    max_len: usize,
    /// The bytes its strings may start with.
    first: ByteSet,
    /// The slice's tokens, as a mask.
    pub tokens: Box<[u32]>,
    /// The trie nodes that lead to a token outside the slice.
    pub rest: TrieView,
}

/// The slices of one vocabulary, smallest first.
#[derive(Debug)]
pub(crate) struct Slices {
    list: Vec<Slice>,
    /// String-body tokens by character count, when the unbounded slice exists.
    lengths: Option<Lengths>,
    /// [`TokenTrie::bytes_below`] of the vocabulary's trie.
    below: Vec<u128>,
    /// Each token's bytes as a set in the same form (bit 0 for every
    /// token that is not text), and its length: a class's tokens are a scan.
    token_bytes: Vec<(u128, u32)>,
    /// The tokens of each ASCII class met so far, by class.
    classes: Mutex<HashMap<u128, Arc<ClassTokens>>>,
}

/// Most ASCII classes whose tokens a vocabulary keeps (a class holds its
/// tokens' ids and the masks asked of it, up to about 400 KB on Llama 3).
const MAX_CLASSES: usize = 64;

/// Fewest bytes in a class for a class cut: the walk of a narrower class
/// (digits, hexadecimal) is short already.
const MIN_CLASS_BYTES: u32 = 16;

/// The tokens made only of the bytes of one ASCII class.
#[derive(Debug)]
pub(crate) struct ClassTokens {
    /// Their ids, shortest first.
    ids: Vec<u32>,
    /// `ends[n]`: how many of `ids` have at most `n` bytes (`n` up to the longest).
    ends: Vec<usize>,
    /// `masks[n]`: the first `ends[n]` ids as a mask, built when first asked.
    masks: Vec<OnceLock<Box<[u32]>>>,
    mask_words: usize,
}

impl ClassTokens {
    /// From every token's byte set and length ([`Slices::token_bytes`]):
    /// one scan, about a tenth of a walk of the class's part of the trie.
    fn build(token_bytes: &[(u128, u32)], mask_words: usize, class: u128) -> ClassTokens {
        let mut by_len: Vec<Vec<u32>> = vec![Vec::new()];
        for (t, &(set, len)) in token_bytes.iter().enumerate() {
            if set & !class == 0 {
                let len = len as usize;
                if by_len.len() <= len {
                    by_len.resize_with(len + 1, Vec::new);
                }
                by_len[len].push(t as u32);
            }
        }
        let longest = by_len.len() - 1;
        let mut ids = Vec::with_capacity(by_len.iter().map(Vec::len).sum());
        let mut ends = Vec::with_capacity(longest + 1);
        for same in &by_len {
            ids.extend_from_slice(same);
            ends.push(ids.len());
        }
        ClassTokens { ids, ends, masks: (0..=longest).map(|_| OnceLock::new()).collect(), mask_words }
    }

    /// The class's tokens of at most `len` bytes, as a mask.
    pub(crate) fn mask(&self, len: usize) -> &[u32] {
        let n = len.min(self.masks.len() - 1);
        self.masks[n].get_or_init(|| {
            let mut mask = vec![0u32; self.mask_words].into_boxed_slice();
            for &t in &self.ids[..self.ends[n]] {
                mask[(t >> 5) as usize] |= 1 << (t & 31);
            }
            mask
        })
    }
}

/// A state decided by an ASCII class ([`Slices::by_class`]).
pub(crate) struct ClassCut {
    /// The class, as a bit set of bytes.
    pub class: u128,
    /// The class's tokens that the state allows: those of at most this many bytes.
    pub max_len: usize,
    pub tokens: Arc<ClassTokens>,
}

/// Whether byte `b` is in the ASCII class `class`.
#[inline]
pub(crate) fn in_class(class: u128, b: u8) -> bool {
    b < 128 && class >> b & 1 == 1
}

/// Most characters of room for which a state is served by a length mask
/// ([`Slices::by_length`]); with more room the bounded slices apply.
pub(crate) const MAX_LENGTH_SLICE: usize = 16;

/// The tokens of the unbounded slice (string bodies) by their character count.
#[derive(Debug)]
struct Lengths {
    /// `upto[k]`: the slice's tokens of at most `k` characters (a
    /// character cut short by the token's end counts as one).
    upto: Vec<Box<[u32]>>,
}

impl Slices {
    /// Compute every slice's tokens and view (a few trie walks; once per vocabulary).
    pub(crate) fn build(vocab: &Vocabulary) -> Slices {
        let list: Vec<Slice> = MAX_CHARS.iter().filter_map(|&max| Slice::build(vocab, max)).collect();
        let lengths = list.last().filter(|slice| slice.max_chars.is_none()).map(|any| Lengths::build(vocab, any));
        let below = vocab.trie().bytes_below();
        let token_bytes = (0..vocab.mask_width() as u32)
            .map(|t| {
                let bytes = vocab.token_bytes(t);
                // Never in a class: not text, or not in the trie (empty, or too long).
                if vocab.kind(t) != crate::vocab::TokenKind::Text || bytes.is_empty() || bytes.len() > u16::MAX as usize
                {
                    return (1, 0);
                }
                let set = bytes.iter().fold(0u128, |set, &b| set | ascii_bit(b));
                (set, bytes.len() as u32)
            })
            .collect();
        Slices { list, lengths, below, token_bytes, classes: Mutex::new(HashMap::new()) }
    }

    /// [`TokenTrie::bytes_below`] of the vocabulary's trie.
    pub(crate) fn bytes_below(&self) -> &[u128] {
        &self.below
    }

    /// For a state decided by an ASCII class, the class and its tokens: the
    /// class is the largest set of ASCII bytes (at least
    /// [`MIN_CLASS_BYTES`]) that step `start` to one state, and every string
    /// of it (up to the longest token) must keep `start` alive while it has
    /// at most `max_len` bytes and kill it after. A call or a return met
    /// inside the class is allowed only where no string of it dies.
    fn by_class(&self, vocab: &Vocabulary, dfa: &ByteDfa, start: u32, returns_matter: bool) -> Option<ClassCut> {
        let (class, max_len) = class_bound(dfa, start, returns_matter, vocab.trie().max_depth())?;
        let tokens = {
            let mut known = self.classes.lock().unwrap_or_else(|p| p.into_inner());
            match known.get(&class) {
                Some(t) => Arc::clone(t),
                None => {
                    let t = Arc::new(ClassTokens::build(&self.token_bytes, vocab.mask_words(), class));
                    // Past the limit each state scans again (still a fraction of a walk).
                    if known.len() < MAX_CLASSES {
                        known.insert(class, Arc::clone(&t));
                    }
                    t
                }
            }
        };
        Some(ClassCut { class, max_len, tokens })
    }

    /// For a state decided by the length of a string body alone, the tokens
    /// it allows among the unbounded slice's and that slice's view (which
    /// must still be walked from the state): `Some` when, for every body
    /// string no longer than the slice's longest token, `start` stays alive
    /// exactly while the string has at most `k <= MAX_LENGTH_SLICE`
    /// characters. `returns_matter`: whether the state's rule is called
    /// (then an accepting state met inside a body would be a return, which
    /// the search does not follow, so it gives up there, as at a call).
    fn by_length(&self, dfa: &ByteDfa, start: u32, returns_matter: bool) -> Option<(&[u32], &TrieView)> {
        let lengths = self.lengths.as_ref()?;
        let any = self.list.last()?;
        let k = any.length_bound(dfa, start, returns_matter)?;
        Some((&lengths.upto[k], &any.rest))
    }

    /// The index of the largest slice that covers `start` in `dfa`.
    pub(crate) fn covering(&self, dfa: &ByteDfa, start: u32) -> Option<usize> {
        // A slice's first bytes must all keep `start` alive: checked once
        // here before any slice's search (most states a set holds, a key
        // or a value's first byte, fail it).
        let live = dfa.live_bytes(start);
        self.list.iter().rposition(|slice| slice.first.is_subset(&live) && slice.covers(dfa, start))
    }

    /// The slice at `index` of [`Slices::covering`].
    pub(crate) fn slice(&self, index: usize) -> &Slice {
        &self.list[index]
    }

    /// The largest slice that `start` covers in `dfa` (see the module notes).
    /// Largest first: in free text the first check succeeds, and the bounded
    /// slices, whose searches pair every automaton state with every
    /// character count, are only tried where it fails.
    fn best_for(&self, dfa: &ByteDfa, start: u32) -> Option<&Slice> {
        self.covering(dfa, start).map(|i| &self.list[i])
    }

    /// What serves `start`'s entry without a walk of the whole trie: a
    /// slice, else a length cut, else a class cut (the cheaper searches
    /// first; see the module notes).
    pub(crate) fn cut(&self, vocab: &Vocabulary, dfa: &ByteDfa, start: u32, returns_matter: bool) -> Option<Cut<'_>> {
        if let Some(slice) = self.best_for(dfa, start) {
            return Some(Cut::View { tokens: &slice.tokens, view: &slice.rest });
        }
        if let Some((tokens, view)) = self.by_length(dfa, start, returns_matter) {
            return Some(Cut::View { tokens, view });
        }
        self.by_class(vocab, dfa, start, returns_matter).map(Cut::Class)
    }
}

/// How a state's entry is computed without a walk of the whole trie
/// ([`Slices::cut`]).
pub(crate) enum Cut<'a> {
    /// These tokens, and a walk of this view (a slice or a length cut).
    View { tokens: &'a [u32], view: &'a TrieView },
    /// The class's tokens, and a walk that skips subtrees made only of the class.
    Class(ClassCut),
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
        let first = dfa.live_bytes(dfa.start());
        Some(Slice { max_chars, dfa, max_len, first, tokens, rest })
    }

    /// Whether every string of the slice no longer than its longest token
    /// keeps `start` alive in `dfa`. A
    /// breadth-first search over pairs of states, each pair met first at its
    /// smallest depth.
    #[inline(never)]
    fn covers(&self, dfa: &ByteDfa, start: u32) -> bool {
        let bytes = self.joint_bytes(dfa);
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

/// The class of [`Slices::by_class`] for `start`, and how many bytes of it
/// keep `start` alive (`usize::MAX`: any number, up to `max_depth`). A
/// breadth-first search by string length; the states of one length are
/// few (a counted class is one state per count).
fn class_bound(dfa: &ByteDfa, start: u32, returns_matter: bool, max_depth: usize) -> Option<(u128, usize)> {
    let mut groups: Vec<(u32, u128, u32)> = Vec::new();
    for b in 1..128u8 {
        let n = dfa.next(start, b);
        if n == DEAD {
            continue;
        }
        match groups.iter_mut().find(|g| g.0 == n) {
            Some(g) => {
                g.1 |= 1 << b;
                g.2 += 1;
            }
            None => groups.push((n, 1 << b, 1)),
        }
    }
    let (_, class, size) = groups.into_iter().max_by_key(|g| g.2)?;
    if size < MIN_CLASS_BYTES {
        return None;
    }
    // One byte per byte class of the automaton within the class.
    let mut reps: Vec<u8> = Vec::new();
    let mut seen = [false; 256];
    for b in (1..128u8).filter(|&b| in_class(class, b)) {
        let c = dfa.class_of(b) as usize;
        if !std::mem::replace(&mut seen[c], true) {
            reps.push(b);
        }
    }
    // States that also take bytes outside ASCII are cut as well: subtrees
    // holding such bytes are walked (a class is ASCII only), and the pure
    // ASCII ones below them are still skipped (free text that a few words
    // kill: the walk of a `oneOf` branch's pattern visited 100,000 of the
    // 274,000 nodes of Llama 3's trie).
    let leaves = |s: u32| !dfa.calls(s).is_empty() || returns_matter && dfa.is_accepting(s);
    let (mut most_alive, mut fewest_dead) = (0usize, usize::MAX);
    let mut left = false;
    let mut work = 0;
    let mut level = vec![start];
    let mut next = Vec::new();
    for len in 1..=max_depth {
        for &q in &level {
            for &b in &reps {
                let n = dfa.next(q, b);
                if n == DEAD {
                    fewest_dead = fewest_dead.min(len);
                } else {
                    most_alive = len;
                    left |= leaves(n);
                    if !next.contains(&n) {
                        next.push(n);
                    }
                }
                if most_alive >= fewest_dead {
                    return None;
                }
            }
        }
        // Automata that track many things at once cost more to search than to walk.
        work += level.len() * reps.len();
        if work > MAX_PAIRS {
            return None;
        }
        // The same states again: every longer string behaves alike.
        if next.is_empty() || next.len() == level.len() && next.iter().all(|n| level.contains(n)) {
            break;
        }
        std::mem::swap(&mut level, &mut next);
        next.clear();
    }
    if fewest_dead == usize::MAX {
        // Every string of the class is alive: its tokens are all allowed,
        // whatever calls and returns add below them.
        return Some((class, usize::MAX));
    }
    // Returns and calls could bring back strings the automaton alone kills.
    (!left).then_some((class, most_alive))
}

impl Lengths {
    /// One walk of the unbounded slice, counting characters.
    fn build(vocab: &Vocabulary, any: &Slice) -> Lengths {
        let trie = vocab.trie();
        let mut upto = vec![vec![0u32; vocab.mask_words()].into_boxed_slice(); MAX_LENGTH_SLICE + 1];
        let mut stack = Vec::new();
        let dfa = &any.dfa;
        trie.walk(
            (dfa.start(), 0usize),
            &mut stack,
            |(s, chars), b| {
                let n = dfa.next(s, b);
                // A byte read at a character boundary starts a character.
                (n != DEAD).then(|| (n, chars + dfa.is_accepting(s) as usize))
            },
            |node, (_, chars)| {
                if chars <= MAX_LENGTH_SLICE {
                    for &t in trie.tokens_at(node) {
                        upto[chars][(t >> 5) as usize] |= 1 << (t & 31);
                    }
                }
            },
        );
        for k in 1..upto.len() {
            let (lower, upper) = upto.split_at_mut(k);
            for (w, p) in upper[0].iter_mut().zip(lower[k - 1].iter()) {
                *w |= *p;
            }
        }
        Lengths { upto }
    }
}

impl Slice {
    /// The `k` of [`Slices::by_length`] for this (unbounded) slice: a
    /// breadth-first search over triples (slice state, characters read,
    /// automaton state), each met first at its smallest depth. It gives up
    /// as soon as a string is alive with more characters than another that
    /// is dead, at a call, or at a return.
    #[inline(never)]
    fn length_bound(&self, dfa: &ByteDfa, start: u32, returns_matter: bool) -> Option<usize> {
        let leaves = |s: u32| !dfa.calls(s).is_empty() || returns_matter && dfa.is_accepting(s);
        if leaves(start) {
            return None;
        }
        let bytes = self.joint_bytes(dfa);
        let mut seen: HashSet<(u32, u32, u32), BuildHasherDefault<PairHasher>> = HashSet::default();
        let mut level = vec![(self.dfa.start(), 0u32, start)];
        seen.insert(level[0]);
        let mut next = Vec::new();
        // Most characters of a living string, fewest of a dead one.
        let (mut most_alive, mut fewest_dead) = (0u32, u32::MAX);
        for depth in 0..self.max_len {
            for &(own, chars, theirs) in &level {
                let chars = chars + self.dfa.is_accepting(own) as u32;
                for &b in &bytes {
                    let own_next = self.dfa.next(own, b);
                    if own_next == DEAD {
                        continue; // not a string body: such tokens are in the view
                    }
                    let their_next = dfa.next(theirs, b);
                    if their_next == DEAD {
                        fewest_dead = fewest_dead.min(chars);
                    } else {
                        most_alive = most_alive.max(chars);
                        if most_alive as usize > MAX_LENGTH_SLICE || leaves(their_next) {
                            return None;
                        }
                        if depth + 1 < self.max_len && seen.insert((own_next, chars, their_next)) {
                            if seen.len() > MAX_PAIRS {
                                return None;
                            }
                            next.push((own_next, chars, their_next));
                        }
                    }
                    if most_alive >= fewest_dead {
                        return None;
                    }
                }
            }
            if next.is_empty() {
                break;
            }
            std::mem::swap(&mut level, &mut next);
            next.clear();
        }
        Some(most_alive as usize)
    }

    /// One byte per pair of byte classes (this slice's, `dfa`'s): bytes of
    /// one pair step both automata alike everywhere.
    fn joint_bytes(&self, dfa: &ByteDfa) -> Vec<u8> {
        // The pairs are marked in a 65,536-bit set.
        let mut joint = [0u64; 1024];
        (0..=255u8)
            .filter(|&b| {
                let key = (self.dfa.class_of(b) as usize) << 8 | dfa.class_of(b) as usize;
                let fresh = joint[key >> 6] & 1 << (key & 63) == 0;
                joint[key >> 6] |= 1 << (key & 63);
                fresh
            })
            .collect()
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
pub(crate) mod tests {
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
    pub(crate) fn vocab() -> Arc<Vocabulary> {
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
        Expr::regular(parse(re).unwrap())
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
            // Strings near their end: the length masks (a string closed by
            // a quote, one whose body may also end in a digit run, and a
            // member after a short key).
            Grammar::regular(parse(&format!(r#""{body}{{0,5}}"\}}"#)).unwrap()),
            Grammar::regular(parse(&format!(r#""{body}{{0,3}}[0-9]*"\}}"#)).unwrap()),
            Grammar::regular(parse(&format!(r#"\{{"a":"{body}{{2,7}}",?\}}"#)).unwrap()),
            // ASCII classes: counted, unbounded, and counted after a fixed part.
            Grammar::regular(parse(r#""[A-Za-z0-9_ -]{1,6}"\}"#).unwrap()),
            // Free text that some words kill, non-ASCII included (the class
            // is its ASCII part; subtrees with other bytes are walked).
            Grammar::regular(parse(r#""(?:[^"\\\x00-\x1FN]|N[^"\\\x00-\x1FE])*"\}"#).unwrap()),
            Grammar::regular(parse(r#"[a-z0-9._%+ -]+@[a-z]+,"#).unwrap()),
            Grammar::regular(parse(r#"(?:ab[a-z ]{0,3}|b[a-z]{2})\}"#).unwrap()),
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
            // Called class rules: a return inside the class (allowed where no
            // string of the class dies, refused otherwise).
            Grammar {
                rules: vec![
                    Rule::new("start", Expr::Seq(vec![Expr::Rule(1), regular(","), Expr::Rule(2), regular("}")])),
                    Rule { inline: false, ..Rule::new("free", regular(r#"[a-z ]*"#)) },
                    Rule { inline: false, ..Rule::new("short", regular(r#"[a-z ]{0,3}"#)) },
                ],
                start: 0,
            },
            // The same with a bounded called body: returns inside a short
            // string end the length search.
            Grammar {
                rules: vec![
                    Rule::new("start", Expr::Seq(vec![Expr::Rule(1), regular(r#"""#), Expr::Rule(1), regular("}")])),
                    Rule { inline: false, ..Rule::new("text", regular(r#"[^"\\\x00-\x1F]{0,4}"#)) },
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
    fn states_decided_by_length_alone_get_their_length() {
        let v = vocab();
        let slices = v.slices();
        let any = slices.list.last().unwrap();
        let after_quote = |re: &str, returns_matter: bool| {
            let dfa = ByteDfa::from_hir(&parse(re).unwrap(), &DfaLimits::default()).unwrap();
            let s = dfa.next(dfa.start(), b'"');
            any.length_bound(&dfa, s, returns_matter)
        };
        assert_eq!(after_quote(r#""[^"\\\x00-\x1F]{0,10}""#, false), Some(10));
        assert_eq!(after_quote(r#""[^"\\\x00-\x1F]{0,10}""#, true), Some(10));
        assert_eq!(after_quote(r#""[^"\\\x00-\x1F]{0,1}"x"#, false), Some(1));
        // Room for more than the length masks hold, or for every length.
        assert_eq!(after_quote(r#""[^"\\\x00-\x1F]{0,17}""#, false), None);
        assert_eq!(after_quote(r#""[^"\\\x00-\x1F]*""#, false), None);
        // Not every body character keeps it alive.
        assert_eq!(after_quote(r#""[a-z]{0,5}""#, false), None);
        assert_eq!(after_quote(r#""(?:[^"\\\x00-\x1F]{0,3}|abcde)""#, false), None);
        // A return (acceptance in a called rule) inside the body.
        assert_eq!(after_quote(r#""[^"\\\x00-\x1F]{0,3}"#, true), None);
        assert_eq!(after_quote(r#""[^"\\\x00-\x1F]{0,3}"#, false), Some(3));
        // The masks: body tokens of at most k characters, a cut character counting as one.
        let upto = &slices.lengths.as_ref().unwrap().upto;
        let has = |k: usize, text: &[u8]| {
            let t = (1..v.mask_width() as u32).find(|&t| v.token_bytes(t) == text).unwrap();
            upto[k][(t >> 5) as usize] >> (t & 31) & 1 == 1
        };
        assert!(has(2, b"ab") && !has(1, b"ab"));
        assert!(has(2, "中a".as_bytes()) && !has(1, "中a".as_bytes()));
        assert!(has(1, b"\xF0\x9F") && !has(0, b"\xF0\x9F"));
        assert!(!has(16, b"a\"") && !has(16, b"\\"));
    }

    #[test]
    fn states_decided_by_an_ascii_class_get_the_class_and_its_length() {
        let at_start = |re: &str, returns_matter: bool| {
            let dfa = ByteDfa::from_hir(&parse(re).unwrap(), &DfaLimits::default()).unwrap();
            class_bound(&dfa, dfa.start(), returns_matter, 50).map(|(class, n)| (class.count_ones(), n))
        };
        assert_eq!(at_start(r"[A-Za-z0-9_-]{1,20}", false), Some((64, 20)));
        assert_eq!(at_start(r"[A-Za-z0-9_-]{1,20}!", false), Some((64, 20)));
        assert_eq!(at_start(r"[A-Za-z0-9_-]{1,20}x", false), None);
        assert_eq!(at_start(r"[a-z0-9.%+-]+@", false), Some((40, usize::MAX)));
        // A return inside: fine while every string of the class lives, not when some die.
        assert_eq!(at_start(r"[a-z ]*", true), Some((27, usize::MAX)));
        assert_eq!(at_start(r"[a-z ]{0,3}", true), None);
        assert_eq!(at_start(r"[a-z ]{0,3}", false), Some((27, 3)));
        // Narrow classes, and classes whose strings live or die by more than their length.
        assert_eq!(at_start(r"[0-9]{1,5}", false), None);
        assert_eq!(at_start(r"[a-z]{1,5}|[a-z]{8}", false), Some((26, 8)));
        // The class is the bytes that lead to one state: `z` is not in it here.
        assert_eq!(at_start(r"[a-z]{1,5}|[a-y]{8}", false), Some((25, 8)));
        assert_eq!(at_start(r"[a-z]{1,5}(?:ab)?", false), None);
        // Non-ASCII bytes alive too: the class is still its ASCII part.
        assert_eq!(at_start(r"[^<>]*", false), Some((125, usize::MAX)));
        assert_eq!(at_start(r"[a-z]{1,3}é", false), Some((26, 3)));
    }

    #[test]
    fn class_tokens_by_length() {
        let v = vocab();
        let class: u128 = (b'a'..=b'z').fold(0, |c, b| c | 1 << b);
        let tokens = ClassTokens::build(&v.slices().token_bytes, v.mask_words(), class);
        let has = |n: usize, text: &[u8]| {
            let t = (1..v.mask_width() as u32).find(|&t| v.token_bytes(t) == text).unwrap();
            tokens.mask(n)[(t >> 5) as usize] >> (t & 31) & 1 == 1
        };
        assert!(has(1, b"a") && has(2, b"ab") && !has(1, b"ab") && has(3, b"abn"));
        assert!(has(40, &b"x".repeat(40)) && !has(39, &b"x".repeat(40)));
        assert!(!has(100, b"a b") && !has(100, b"a,"));
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
