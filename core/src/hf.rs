//! Loading a vocabulary from a Hugging Face `tokenizer.json` (plain or gzip).
//!
//! The token spellings are turned into bytes by the rule the tokenizer's
//! decoder uses: the GPT-2 byte map for byte-level BPE (Llama 3, Qwen,
//! SmolLM), or `▁` for space and `<0xNN>` for single bytes for
//! SentencePiece-style vocabularies (Llama 2, Gemma). Every text token is then
//! checked against the tokenizer's own decoder (the `tokenizers` crate);
//! disagreements are reported and the token is made unusable, so a mask can
//! never allow a token whose bytes we got wrong.

use std::io::Read;
use std::path::Path;

use serde_json::Value;

use crate::error::VocabError;
use crate::vocab::{LoadReport, TokenEntry, TokenKind, UnmappedToken, Vocabulary, KNOWN_EOS_NAMES};

/// How token spellings map to bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    ByteLevel,
    SentencePiece,
}

/// Options for [`Vocabulary::from_hf_file`].
#[derive(Debug, Clone)]
pub struct HfLoadOptions {
    /// Check every token against the reference decoder (default: true).
    pub verify: bool,
    /// Mask width, when the model's logit vector is larger than the vocabulary.
    pub mask_width: Option<usize>,
    /// EOS ids; `None` picks the special tokens with well-known EOS names.
    pub eos: Option<Vec<u32>>,
}

impl Default for HfLoadOptions {
    fn default() -> Self {
        HfLoadOptions { verify: true, mask_width: None, eos: None }
    }
}

impl Vocabulary {
    /// Load a HF `tokenizer.json` (or `tokenizer.json.gz`) with default options.
    pub fn from_hf_file(path: impl AsRef<Path>) -> Result<Self, VocabError> {
        Self::from_hf_file_with(path, &HfLoadOptions::default())
    }

    /// Load a HF `tokenizer.json` (or `.gz`) with explicit options.
    pub fn from_hf_file_with(path: impl AsRef<Path>, opts: &HfLoadOptions) -> Result<Self, VocabError> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let raw = std::fs::read(path).map_err(|source| VocabError::Io { path: shown.clone(), source })?;
        Self::from_hf_bytes(&raw, &shown, opts)
    }

    /// Load from the bytes of a `tokenizer.json` (gzip is detected).
    /// `name` is used in error messages.
    pub fn from_hf_bytes(raw: &[u8], name: &str, opts: &HfLoadOptions) -> Result<Self, VocabError> {
        let fmt_err = |reason: String| VocabError::Format { path: name.to_string(), reason };
        let json: Vec<u8> = if raw.starts_with(&[0x1f, 0x8b]) {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(raw)
                .read_to_end(&mut out)
                .map_err(|e| fmt_err(format!("gzip stream is corrupt or truncated: {e}")))?;
            out
        } else {
            raw.to_vec()
        };
        let doc: Value = serde_json::from_slice(&json).map_err(|e| fmt_err(format!("not valid JSON: {e}")))?;
        let (entries, encoding, mut unmapped) = parse_tokens(&doc).map_err(fmt_err)?;
        let mut entries = entries;
        let mut verified = 0;
        if opts.verify {
            let tok = tokenizers::Tokenizer::from_bytes(&json)
                .map_err(|e| fmt_err(format!("the tokenizers library cannot load it: {e}")))?;
            let strip = leading_strip(&doc);
            for e in entries.iter_mut().filter(|e| e.kind == TokenKind::Text) {
                let reference = tok
                    .decode(&[e.id], false)
                    .map_err(|err| fmt_err(format!("decoding token {} failed: {err}", e.id)))?;
                let ours = String::from_utf8_lossy(&e.bytes);
                let ours = strip_leading_spaces(&ours, strip);
                if ours != reference {
                    unmapped.push(UnmappedToken {
                        id: e.id,
                        piece: String::from_utf8_lossy(&e.bytes).into_owned(),
                        reason: format!("decoder says {reference:?}, mapped bytes say {ours:?}"),
                    });
                    e.kind = TokenKind::Unusable;
                } else {
                    verified += 1;
                }
            }
        }
        let eos: Vec<u32> = match &opts.eos {
            Some(ids) => ids.clone(),
            None => entries
                .iter()
                .filter(|e| e.kind == TokenKind::Special)
                .filter(|e| KNOWN_EOS_NAMES.iter().any(|n| n.as_bytes() == e.bytes.as_slice()))
                .map(|e| e.id)
                .collect(),
        };
        let n_tokens = entries.len();
        let mut vocab = Vocabulary::from_tokens(entries, &eos, opts.mask_width).map_err(|e| fmt_err(e.to_string()))?;
        let text_tokens = (0..vocab.mask_width() as u32).filter(|&i| vocab.kind(i) == TokenKind::Text).count();
        if text_tokens == 0 {
            return Err(fmt_err("no usable text tokens".into()));
        }
        unmapped.sort_by_key(|u| u.id);
        let special_tokens = (0..vocab.mask_width() as u32).filter(|&i| vocab.kind(i) == TokenKind::Special).count();
        vocab.set_report(LoadReport {
            tokens: n_tokens,
            text_tokens,
            special_tokens,
            encoding: match encoding {
                Encoding::ByteLevel => "byte-level".into(),
                Encoding::SentencePiece => "sentencepiece".into(),
            },
            verified,
            unmapped,
        });
        Ok(vocab)
    }
}

type Parsed = (Vec<TokenEntry>, Encoding, Vec<UnmappedToken>);

fn parse_tokens(doc: &Value) -> Result<Parsed, String> {
    let model = doc.get("model").ok_or("no \"model\" section")?;
    let model_type = model.get("type").and_then(Value::as_str).unwrap_or("BPE");
    let vocab = model.get("vocab").ok_or("no \"model.vocab\" section")?;
    let mut pieces: Vec<(u32, String)> = match (model_type, vocab) {
        ("BPE" | "WordLevel", Value::Object(map)) => map
            .iter()
            .map(|(k, v)| {
                let id = v.as_u64().ok_or_else(|| format!("token {k:?} has a non-integer id"))?;
                let id = u32::try_from(id).map_err(|_| format!("token id {id} does not fit in 32 bits"))?;
                Ok((id, k.clone()))
            })
            .collect::<Result<_, String>>()?,
        ("Unigram", Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let piece =
                    item.get(0).and_then(Value::as_str).ok_or_else(|| format!("unigram entry {i} has no piece"))?;
                Ok((i as u32, piece.to_string()))
            })
            .collect::<Result<_, String>>()?,
        ("WordPiece", _) => return Err("WordPiece tokenizers are not supported (no byte-exact decoding)".into()),
        (other, _) => return Err(format!("unsupported model type {other:?} or malformed vocab")),
    };
    let encoding = detect_encoding(doc)?;
    let byte_map = gpt2_char_to_byte();
    let mut entries = Vec::with_capacity(pieces.len() + 256);
    let mut unmapped = Vec::new();
    let mut special_ids = std::collections::HashMap::new();
    if let Some(Value::Array(added)) = doc.get("added_tokens") {
        for a in added {
            let id = a.get("id").and_then(Value::as_u64).ok_or("added token without an id")?;
            let id = u32::try_from(id).map_err(|_| format!("added token id {id} does not fit in 32 bits"))?;
            let content = a.get("content").and_then(Value::as_str).ok_or("added token without content")?;
            let special = a.get("special").and_then(Value::as_bool).unwrap_or(false);
            special_ids.insert(id, (content.to_string(), special));
        }
    }
    // Added tokens override model tokens with the same id.
    pieces.retain(|(id, _)| !special_ids.contains_key(id));
    for (id, (content, special)) in &special_ids {
        if *special {
            entries.push(TokenEntry { id: *id, bytes: content.as_bytes().to_vec(), kind: TokenKind::Special });
        } else {
            pieces.push((*id, content.clone()));
        }
    }
    for (id, piece) in pieces {
        match piece_to_bytes(&piece, encoding, &byte_map) {
            Ok(bytes) => entries.push(TokenEntry { id, bytes, kind: TokenKind::Text }),
            Err(reason) => {
                unmapped.push(UnmappedToken { id, piece: piece.clone(), reason });
                entries.push(TokenEntry { id, bytes: piece.into_bytes(), kind: TokenKind::Unusable });
            }
        }
    }
    Ok((entries, encoding, unmapped))
}

fn decoder_types(v: &Value, out: &mut Vec<String>) {
    if let Some(t) = v.get("type").and_then(Value::as_str) {
        out.push(t.to_string());
    }
    if let Some(Value::Array(list)) = v.get("decoders") {
        for d in list {
            decoder_types(d, out);
        }
    }
}

fn detect_encoding(doc: &Value) -> Result<Encoding, String> {
    let mut types = Vec::new();
    if let Some(d) = doc.get("decoder") {
        decoder_types(d, &mut types);
    }
    let has = |t: &str| types.iter().any(|x| x == t);
    if has("ByteLevel") {
        return Ok(Encoding::ByteLevel);
    }
    if has("ByteFallback") || has("Metaspace") || has("Replace") {
        return Ok(Encoding::SentencePiece);
    }
    if has("WordPiece") || has("BPEDecoder") || has("CTC") {
        return Err(format!("decoder {types:?} is not supported (no byte-exact decoding)"));
    }
    // No decoder: guess from the pre-tokenizer.
    let pre = doc.get("pre_tokenizer").map(|p| p.to_string()).unwrap_or_default();
    if pre.contains("\"ByteLevel\"") {
        Ok(Encoding::ByteLevel)
    } else if doc.pointer("/model/byte_fallback").and_then(Value::as_bool) == Some(true) {
        Ok(Encoding::SentencePiece)
    } else {
        Err("cannot tell how tokens map to bytes: no ByteLevel, ByteFallback or Metaspace decoder".into())
    }
}

/// Number of leading spaces the decoder strips from a decoded string (Llama 2's `Strip`).
fn leading_strip(doc: &Value) -> usize {
    fn find(v: &Value) -> usize {
        if v.get("type").and_then(Value::as_str) == Some("Strip")
            && v.get("content").and_then(Value::as_str) == Some(" ")
        {
            return v.get("start").and_then(Value::as_u64).unwrap_or(0) as usize;
        }
        if v.get("type").and_then(Value::as_str) == Some("Metaspace")
            && v.get("prepend_scheme").and_then(Value::as_str) != Some("never")
        {
            return 1;
        }
        match v.get("decoders") {
            Some(Value::Array(list)) => list.iter().map(find).max().unwrap_or(0),
            _ => 0,
        }
    }
    doc.get("decoder").map(find).unwrap_or(0)
}

fn strip_leading_spaces(s: &str, n: usize) -> &str {
    let mut out = s;
    for _ in 0..n {
        match out.strip_prefix(' ') {
            Some(rest) => out = rest,
            None => break,
        }
    }
    out
}

fn piece_to_bytes(piece: &str, enc: Encoding, byte_map: &[Option<u8>]) -> Result<Vec<u8>, String> {
    match enc {
        Encoding::ByteLevel => {
            let mut out = Vec::with_capacity(piece.len());
            for c in piece.chars() {
                match byte_map.get(c as usize).copied().flatten() {
                    Some(b) => out.push(b),
                    // The reference decoder keeps such a token's UTF-8 as is.
                    None => return Ok(piece.as_bytes().to_vec()),
                }
            }
            Ok(out)
        }
        Encoding::SentencePiece => {
            if let Some(hex) = piece.strip_prefix("<0x").and_then(|r| r.strip_suffix('>')) {
                if hex.len() == 2 {
                    return u8::from_str_radix(hex, 16)
                        .map(|b| vec![b])
                        .map_err(|_| format!("bad byte token {piece:?}"));
                }
            }
            Ok(piece.replace('\u{2581}', " ").into_bytes())
        }
    }
}

/// The inverse of GPT-2's `bytes_to_unicode`: for each char (by code point),
/// the byte it stands for.
fn gpt2_char_to_byte() -> Vec<Option<u8>> {
    let mut map = vec![None; 512];
    let mut n = 0u32;
    for b in 0u32..256 {
        let printable = (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
        let c = if printable {
            b
        } else {
            n += 1;
            255 + n
        };
        map[c as usize] = Some(b as u8);
    }
    map
}
