//! A small vocabulary for the checks: every single byte (so every output can
//! be spelled, including partial UTF-8 characters), a few dozen multi-byte
//! tokens that cross JSON token boundaries (`{"`, `":`, `"}`, `true`, `\u00`,
//! indentation), and one EOS token. Small enough that a mask over it costs
//! microseconds; multi-byte tokens make the trie walks non-trivial.

use std::sync::{Arc, OnceLock};

use sluicegate_core::{TokenEntry, TokenKind, Vocabulary};

const MULTI: &[&str] = &[
    "{\"", "\":", "\": ", "\",", "\"}", "\"]", "[{", "}]", "},", "],", ", ", ",\n  ", "\n  ", "    ", "true", "false",
    "null", "\\u00", "\\\"", "\\n", "12", "0.", ".5", "e+", "-1", "é", "€", "😀", "ab", "a\"", "\":\"", "[]", "{}",
    "\"\"", "http://", "2024-", "T12:", "@", ".com", "00",
];

/// The id of the EOS token of [`small`].
pub fn eos() -> u32 {
    (256 + MULTI.len()) as u32
}

/// The shared small vocabulary (built once).
pub fn small() -> Arc<Vocabulary> {
    static VOCAB: OnceLock<Arc<Vocabulary>> = OnceLock::new();
    VOCAB
        .get_or_init(|| {
            let singles = (0..=255u8).map(|b| vec![b]);
            let multi = MULTI.iter().map(|s| s.as_bytes().to_vec());
            let mut tokens: Vec<TokenEntry> = singles
                .chain(multi)
                .enumerate()
                .map(|(id, bytes)| TokenEntry { id: id as u32, bytes, kind: TokenKind::Text })
                .collect();
            tokens.push(TokenEntry { id: eos(), bytes: b"</s>".to_vec(), kind: TokenKind::Special });
            Arc::new(Vocabulary::from_tokens(tokens, &[eos()], None).expect("the small vocabulary is consistent"))
        })
        .clone()
}
