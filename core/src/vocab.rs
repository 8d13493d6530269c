//! The token layer: every token id and the exact bytes it stands for.
//!
//! This module knows nothing about grammars. A [`Vocabulary`] is built once
//! per model (from a HF `tokenizer.json`, a GGUF file's token list, or an
//! explicit list) and shared by every constraint compiled for that model.

use std::sync::{Arc, OnceLock};

use crate::error::{escape_bytes, VocabError};
use crate::slice::Slices;
use crate::trie::TokenTrie;

/// What a token id may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// Ordinary text: its bytes are output text.
    Text,
    /// A special/control token (`<|eot_id|>`, `<s>`...). Never allowed as
    /// text; EOS tokens among them are allowed only where the constraint is
    /// complete.
    Special,
    /// An id with no usable bytes (a gap in the id space, padding up to the
    /// logit count, or a token whose bytes could not be determined). Never
    /// allowed.
    Unusable,
}

/// One entry of an explicit token list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenEntry {
    /// The token id.
    pub id: u32,
    /// The exact bytes the token decodes to (for special tokens, their name).
    pub bytes: Vec<u8>,
    /// How the token may be used.
    pub kind: TokenKind,
}

/// A token that the loader could not map exactly, kept for the load report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnmappedToken {
    /// The token id.
    pub id: u32,
    /// The token's spelling in the tokenizer file.
    pub piece: String,
    /// Why it was not mapped (the token is then [`TokenKind::Unusable`]).
    pub reason: String,
}

/// What happened while loading a vocabulary from a tokenizer file.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    /// Number of ids in the file.
    pub tokens: usize,
    /// Text tokens.
    pub text_tokens: usize,
    /// Special tokens.
    pub special_tokens: usize,
    /// How the token spellings were turned into bytes (`byte-level`, `sentencepiece`).
    pub encoding: String,
    /// Tokens checked against the tokenizer's own decoder (0 when not verified).
    pub verified: usize,
    /// Tokens that could not be mapped, or whose bytes disagree with the
    /// tokenizer's own decoder; each is marked unusable.
    pub unmapped: Vec<UnmappedToken>,
}

/// Token ids and their bytes, the EOS set, and the mask width.
///
/// Immutable once built; share it behind an `Arc`.
#[derive(Debug, Clone)]
pub struct Vocabulary {
    /// All token bytes, concatenated; token `i` is `bytes[offsets[i]..offsets[i+1]]`.
    bytes: Vec<u8>,
    offsets: Vec<u32>,
    kinds: Vec<TokenKind>,
    eos: Vec<u32>,
    mask_width: usize,
    trie: TokenTrie,
    report: LoadReport,
    /// Token slices for free-text lexemes, computed on first use (they
    /// depend on the trie and the mask width, so changing either resets them).
    slices: OnceLock<Arc<Slices>>,
    /// Per-state entries shared by the constraints compiled for this
    /// vocabulary (`futures`); a copy that changes tokens gets a new store.
    futures: Arc<crate::futures::FutureEntries>,
}

/// Names that tokenizers use for end-of-sequence / end-of-turn tokens.
pub const KNOWN_EOS_NAMES: &[&str] = &[
    "</s>",
    "<eos>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<|eot_id|>",
    "<|eom_id|>",
    "<|im_end|>",
    "<end_of_turn>",
    "<|end|>",
    "<|return|>",
];

impl Vocabulary {
    /// Build from an explicit list of tokens.
    ///
    /// Ids need not be contiguous: gaps become [`TokenKind::Unusable`]. The
    /// mask width is one past the largest id unless `mask_width` is larger
    /// (models whose logit vector is padded past the tokenizer's size).
    /// `eos` lists the ids that end generation; each must be in range.
    pub fn from_tokens(
        tokens: impl IntoIterator<Item = TokenEntry>,
        eos: &[u32],
        mask_width: Option<usize>,
    ) -> Result<Self, VocabError> {
        let mut entries: Vec<TokenEntry> = tokens.into_iter().collect();
        if entries.is_empty() {
            return Err(VocabError::Invalid("the token list is empty".into()));
        }
        entries.sort_by_key(|e| e.id);
        for pair in entries.windows(2) {
            if pair[0].id == pair[1].id {
                return Err(VocabError::Invalid(format!("token id {} is listed twice", pair[0].id)));
            }
        }
        let n_ids = entries.last().map_or(0, |e| e.id as usize + 1);
        let width = mask_width.unwrap_or(n_ids);
        if width < n_ids {
            return Err(VocabError::Invalid(format!(
                "mask width {width} is smaller than the token id space ({n_ids})"
            )));
        }
        if width >= u32::MAX as usize {
            return Err(VocabError::Invalid(format!("mask width {width} is too large")));
        }
        let mut bytes = Vec::new();
        let mut offsets = Vec::with_capacity(width + 1);
        let mut kinds = Vec::with_capacity(width);
        offsets.push(0u32);
        let mut eos_sorted = eos.to_vec();
        eos_sorted.sort_unstable();
        eos_sorted.dedup();
        if let Some(&bad) = eos_sorted.iter().find(|&&e| e as usize >= width) {
            return Err(VocabError::Invalid(format!("EOS id {bad} is out of range (mask width {width})")));
        }
        let mut next = entries.into_iter().peekable();
        for id in 0..width as u32 {
            match next.peek() {
                Some(e) if e.id == id => {
                    let e = next.next().expect("peeked");
                    let kind =
                        if e.kind == TokenKind::Text && e.bytes.is_empty() { TokenKind::Unusable } else { e.kind };
                    bytes.extend_from_slice(&e.bytes);
                    kinds.push(kind);
                }
                _ => kinds.push(TokenKind::Unusable),
            }
            let end = u32::try_from(bytes.len()).map_err(|_| VocabError::Invalid("token bytes exceed 4 GiB".into()))?;
            offsets.push(end);
        }
        // An EOS token is never text, whatever the list said.
        for &e in &eos_sorted {
            if kinds[e as usize] == TokenKind::Text {
                kinds[e as usize] = TokenKind::Special;
            }
        }
        let text_tokens = kinds.iter().filter(|k| **k == TokenKind::Text).count();
        let special_tokens = kinds.iter().filter(|k| **k == TokenKind::Special).count();
        let mut vocab = Vocabulary {
            bytes,
            offsets,
            kinds,
            eos: eos_sorted,
            mask_width: width,
            trie: TokenTrie::default(),
            slices: OnceLock::new(),
            futures: Default::default(),
            report: LoadReport {
                tokens: n_ids,
                text_tokens,
                special_tokens,
                encoding: "explicit".into(),
                ..LoadReport::default()
            },
        };
        vocab.trie = TokenTrie::build(&vocab);
        Ok(vocab)
    }

    /// Return a copy whose EOS set is `eos` instead.
    pub fn with_eos(mut self, eos: &[u32]) -> Result<Self, VocabError> {
        let mut eos = eos.to_vec();
        eos.sort_unstable();
        eos.dedup();
        if let Some(&bad) = eos.iter().find(|&&e| e as usize >= self.mask_width) {
            return Err(VocabError::Invalid(format!("EOS id {bad} is out of range (mask width {})", self.mask_width)));
        }
        for &e in &eos {
            if self.kinds[e as usize] == TokenKind::Text {
                self.kinds[e as usize] = TokenKind::Special;
            }
        }
        self.eos = eos;
        self.trie = TokenTrie::build(&self);
        self.slices = OnceLock::new();
        self.futures = Default::default();
        Ok(self)
    }

    /// Return a copy with a wider mask (padded logits). Padding ids are never allowed.
    pub fn with_mask_width(mut self, width: usize) -> Result<Self, VocabError> {
        if width < self.mask_width {
            return Err(VocabError::Invalid(format!(
                "mask width {width} is smaller than the vocabulary ({})",
                self.mask_width
            )));
        }
        let end = *self.offsets.last().expect("offsets never empty");
        self.offsets.resize(width + 1, end);
        self.kinds.resize(width, TokenKind::Unusable);
        self.mask_width = width;
        self.slices = OnceLock::new();
        self.futures = Default::default();
        Ok(self)
    }

    pub(crate) fn set_report(&mut self, report: LoadReport) {
        self.report = report;
    }

    /// The number of token ids a mask covers (the model's logit count).
    #[inline]
    pub fn mask_width(&self) -> usize {
        self.mask_width
    }

    /// Words in a packed mask: `ceil(mask_width / 32)`.
    #[inline]
    pub fn mask_words(&self) -> usize {
        self.mask_width.div_ceil(32)
    }

    /// The bytes of a token (the name, for special tokens). Empty for
    /// out-of-range ids.
    #[inline]
    pub fn token_bytes(&self, id: u32) -> &[u8] {
        let i = id as usize;
        if i >= self.mask_width {
            return &[];
        }
        &self.bytes[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }

    /// What the token may be used for ([`TokenKind::Unusable`] when out of range).
    #[inline]
    pub fn kind(&self, id: u32) -> TokenKind {
        self.kinds.get(id as usize).copied().unwrap_or(TokenKind::Unusable)
    }

    /// The EOS ids, sorted.
    pub fn eos_tokens(&self) -> &[u32] {
        &self.eos
    }

    /// Whether `id` ends generation.
    #[inline]
    pub fn is_eos(&self, id: u32) -> bool {
        self.eos.binary_search(&id).is_ok()
    }

    /// The token trie over all text tokens.
    pub fn trie(&self) -> &TokenTrie {
        &self.trie
    }

    /// Build the per-vocabulary tables that cold masks use (token slices for
    /// free text) now, rather than in the first cold mask that needs them.
    ///
    /// # Cost
    /// A few walks of the token trie (milliseconds at 128k tokens), once.
    pub fn prepare_masks(&self) {
        self.slices();
    }

    /// The entries shared by the constraints compiled for this vocabulary.
    pub(crate) fn futures(&self) -> &crate::futures::FutureEntries {
        &self.futures
    }

    /// The token slices of this vocabulary (built on the first call: a few trie walks).
    pub(crate) fn slices(&self) -> &Slices {
        self.slices.get_or_init(|| Arc::new(Slices::build(self)))
    }

    /// How the vocabulary was loaded, and what could not be mapped.
    pub fn load_report(&self) -> &LoadReport {
        &self.report
    }

    /// A token's text for display and error messages (escaped).
    pub fn token_display(&self, id: u32) -> String {
        match self.kind(id) {
            TokenKind::Special => String::from_utf8_lossy(self.token_bytes(id)).into_owned(),
            _ => escape_bytes(self.token_bytes(id)),
        }
    }

    /// Find a special token by name (e.g. `<|eot_id|>`).
    pub fn special_token(&self, name: &str) -> Option<u32> {
        (0..self.mask_width as u32)
            .find(|&id| self.kinds[id as usize] == TokenKind::Special && self.token_bytes(id) == name.as_bytes())
    }
}
