//! The token set of a cached entry, dense or sparse.
//!
//! Most states allow few tokens (a key's next letters, an enum's tail, the
//! whitespace before a member): a bitset over the whole vocabulary (16 KB
//! for 128k tokens) is mostly zeros there. A set whose non-zero words are
//! few keeps only those words with their indices. That is less to allocate
//! when hundreds of entries are computed in one mask (a configuration set
//! of 900 object states after an opening brace: the fresh 16 KB sets were
//! half of that mask's time), less to keep in the entry cache, and less to
//! OR into a mask.

use std::sync::Arc;

/// A set of token ids over a vocabulary of `words * 32` ids.
#[derive(Clone, Debug)]
pub(crate) enum TokenSet {
    /// One bit per token.
    Dense(Arc<[u32]>),
    /// The non-zero words of the bitset: `(word index, word)`, by index.
    Sparse(Arc<[(u32, u32)]>),
}

/// A set is kept sparse when its non-zero words take at most this share of
/// the bitset (`1 / SPARSE_SHARE`); each costs two words, so a sparse set
/// is at most a quarter of the dense one.
const SPARSE_SHARE: usize = 8;

impl TokenSet {
    /// The set of a finished bitset: sparse when few words are non-zero
    /// (the bitset is then dropped), else the bitset itself (no copy).
    pub fn from_words(words: Arc<[u32]>) -> TokenSet {
        let limit = words.len() / SPARSE_SHARE;
        let mut pairs = Vec::new();
        // Runs of zeros are skipped a chunk at a time (the OR of a chunk
        // vectorises); one pass, given up once the set is dense.
        for (c, chunk) in words.chunks(16).enumerate() {
            if chunk.iter().fold(0, |a, &w| a | w) == 0 {
                continue;
            }
            for (k, &w) in chunk.iter().enumerate() {
                if w != 0 {
                    if pairs.len() == limit {
                        return TokenSet::Dense(words);
                    }
                    pairs.push(((c * 16 + k) as u32, w));
                }
            }
        }
        TokenSet::Sparse(pairs.into())
    }

    /// OR the set into `out`, a bitset of the same vocabulary.
    #[inline]
    pub fn or_into(&self, out: &mut [u32]) {
        match self {
            TokenSet::Dense(words) => or_words(out, words),
            TokenSet::Sparse(pairs) => {
                for &(i, w) in pairs.iter() {
                    out[i as usize] |= w;
                }
            }
        }
    }

    /// Write the set into `out`, over what it held (a dense set is one
    /// copy, with no clearing first).
    #[inline]
    pub fn write_into(&self, out: &mut [u32]) {
        match self {
            TokenSet::Dense(words) => out.copy_from_slice(words),
            TokenSet::Sparse(_) => {
                out.fill(0);
                self.or_into(out)
            }
        }
    }

    /// Bytes the set holds.
    pub fn bytes(&self) -> usize {
        match self {
            TokenSet::Dense(words) => words.len() * 4,
            TokenSet::Sparse(pairs) => pairs.len() * 8,
        }
    }

    /// The set as a bitset of `words` words (for comparisons in checks).
    pub fn to_words(&self, words: usize) -> Vec<u32> {
        let mut out = vec![0; words];
        self.or_into(&mut out);
        out
    }
}

/// OR the bitset `words` into `out` (as far as the shorter reaches).
#[inline]
pub(crate) fn or_words(out: &mut [u32], words: &[u32]) {
    for (o, w) in out.iter_mut().zip(words) {
        *o |= *w;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits(ids: &[u32], words: usize) -> Arc<[u32]> {
        let mut out = vec![0u32; words];
        for &t in ids {
            out[(t >> 5) as usize] |= 1 << (t & 31);
        }
        out.into()
    }

    #[test]
    fn few_words_are_kept_sparse_and_read_back_the_same() {
        let ids = [0, 31, 32, 1000, 4095];
        let set = TokenSet::from_words(bits(&ids, 128));
        assert!(matches!(set, TokenSet::Sparse(ref p) if p.len() == 4), "{set:?}");
        assert_eq!(set.bytes(), 32);
        assert_eq!(&set.to_words(128)[..], &bits(&ids, 128)[..]);
        let mut out = vec![0u32; 128];
        out[5] = 1;
        set.or_into(&mut out);
        assert_eq!(out[5], 1);
        assert_eq!(out[0], 1 | (1 << 31));
    }

    #[test]
    fn many_words_stay_dense() {
        // 17 non-zero words of 128: over an eighth.
        let ids: Vec<u32> = (0..17).map(|i| i * 32).collect();
        let set = TokenSet::from_words(bits(&ids, 128));
        assert!(matches!(set, TokenSet::Dense(_)));
        // Written over what `out` held.
        let mut out = vec![u32::MAX; 128];
        set.write_into(&mut out);
        assert_eq!(&out[..], &bits(&ids, 128)[..]);
        // 16 is an eighth: sparse.
        let set = TokenSet::from_words(bits(&ids[..16], 128));
        assert!(matches!(set, TokenSet::Sparse(_)));
        let mut out = vec![u32::MAX; 128];
        set.write_into(&mut out);
        assert_eq!(&out[..], &bits(&ids[..16], 128)[..]);
    }
}
