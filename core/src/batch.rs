//! Masks of many matchers at once, computed in parallel.
//!
//! A decoding batch needs one mask per sequence per step; a slow mask stalls
//! the whole batch, so the masks of a step are spread over rayon's threads.
//! Matchers share their compiled constraints' caches (entries are filled
//! once, whoever asks first), so the threads help each other warm up.

use rayon::prelude::*;

use crate::error::MatchError;
use crate::matcher::Matcher;

/// Write the mask of every matcher into `out`, back to back: matcher `i`'s
/// mask is `out[i * words..(i + 1) * words]`, with `words` the mask width
/// of the matchers' vocabulary (all must share it). Runs on the current
/// rayon thread pool (`ThreadPool::install` chooses the threads).
///
/// # Errors
/// [`MatchError::BadMaskBuffer`] when `out` is not `matchers.len() * words`
/// long, or when a matcher's vocabulary has another mask width.
pub fn compute_masks(matchers: &mut [Matcher], out: &mut [u32]) -> Result<(), MatchError> {
    let Some(first) = matchers.first() else {
        return if out.is_empty() { Ok(()) } else { Err(MatchError::BadMaskBuffer { got: out.len(), expected: 0 }) };
    };
    let words = first.grammar().vocab().mask_words();
    if out.len() != matchers.len() * words {
        return Err(MatchError::BadMaskBuffer { got: out.len(), expected: matchers.len() * words });
    }
    matchers.par_iter_mut().zip(out.par_chunks_mut(words)).try_for_each(|(m, mask)| m.compute_mask(mask))
}
