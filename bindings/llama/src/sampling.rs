//! Sampling a token from masked logits.
//!
//! The mask is applied first, then temperature, top-k, min-p and top-p act on
//! the allowed tokens only, so the filters never leave nothing to sample.

/// How to pick each token.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingOptions {
    /// 0 picks the most likely allowed token (greedy); higher values flatten
    /// the distribution.
    pub temperature: f32,
    /// Keep only the `top_k` most likely tokens (0: off).
    pub top_k: usize,
    /// Keep the smallest set of most likely tokens whose probability reaches
    /// `top_p` (1.0: off).
    pub top_p: f32,
    /// Drop tokens less likely than `min_p` times the most likely one (0: off).
    pub min_p: f32,
    /// Seed of the random generator (runs with the same seed repeat).
    pub seed: u64,
}

impl Default for SamplingOptions {
    fn default() -> Self {
        SamplingOptions { temperature: 0.0, top_k: 0, top_p: 1.0, min_p: 0.0, seed: 0 }
    }
}

impl SamplingOptions {
    /// Greedy decoding.
    pub fn greedy() -> Self {
        Self::default()
    }

    /// Whether every step picks the arg-max.
    pub fn is_greedy(&self) -> bool {
        self.temperature <= 0.0 || self.top_k == 1
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        if !self.temperature.is_finite() || self.temperature < 0.0 {
            return Err(format!("temperature must be >= 0, got {}", self.temperature));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(format!("top_p must be in (0, 1], got {}", self.top_p));
        }
        if !(0.0..=1.0).contains(&self.min_p) {
            return Err(format!("min_p must be in [0, 1], got {}", self.min_p));
        }
        Ok(())
    }
}

/// A small, fast, seedable generator (SplitMix64); sampling needs
/// reproducibility, not cryptographic strength.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5851_f42d_4c95_7f2d)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The most likely token overall (no mask).
pub(crate) fn argmax(logits: &[f32]) -> Option<u32> {
    let mut best: Option<(usize, f32)> = None;
    for (i, &l) in logits.iter().enumerate() {
        if l.is_nan() {
            continue;
        }
        if best.is_none_or(|(_, b)| l > b) {
            best = Some((i, l));
        }
    }
    best.map(|(i, _)| i as u32)
}

/// The most likely allowed token, walking only the set bits of the mask.
pub(crate) fn masked_argmax(logits: &[f32], mask: &[u32]) -> Option<u32> {
    let mut best: Option<(usize, f32)> = None;
    for (w, &word) in mask.iter().enumerate() {
        let mut bits = word;
        while bits != 0 {
            let i = w * 32 + bits.trailing_zeros() as usize;
            bits &= bits - 1;
            let Some(&l) = logits.get(i) else { break };
            if !l.is_nan() && best.is_none_or(|(_, b)| l > b) {
                best = Some((i, l));
            }
        }
    }
    best.map(|(i, _)| i as u32)
}

/// Draw a token from the allowed part of `logits`. `None` when no token is
/// allowed.
pub(crate) fn sample(logits: &[f32], mask: Option<&[u32]>, opts: &SamplingOptions, rng: &mut Rng) -> Option<u32> {
    if opts.is_greedy() {
        return match mask {
            Some(m) => masked_argmax(logits, m),
            None => argmax(logits),
        };
    }
    let inv_t = 1.0 / opts.temperature as f64;
    let mut cands: Vec<(u32, f64)> = match mask {
        Some(m) => {
            let mut v = Vec::new();
            for (w, &word) in m.iter().enumerate() {
                let mut bits = word;
                while bits != 0 {
                    let i = w * 32 + bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    if let Some(&l) = logits.get(i) {
                        if l.is_finite() {
                            v.push((i as u32, l as f64 * inv_t));
                        }
                    }
                }
            }
            v
        }
        None => logits
            .iter()
            .enumerate()
            .filter(|(_, l)| l.is_finite())
            .map(|(i, &l)| (i as u32, l as f64 * inv_t))
            .collect(),
    };
    if cands.is_empty() {
        return None;
    }
    let desc = |a: &(u32, f64), b: &(u32, f64)| b.1.total_cmp(&a.1);
    if opts.top_k > 0 && opts.top_k < cands.len() {
        cands.select_nth_unstable_by(opts.top_k - 1, desc);
        cands.truncate(opts.top_k);
    }
    let max = cands.iter().map(|c| c.1).fold(f64::NEG_INFINITY, f64::max);
    if opts.min_p > 0.0 {
        // p_i >= min_p * p_max  <=>  s_i >= s_max + ln(min_p)
        let floor = max + (opts.min_p as f64).ln();
        cands.retain(|c| c.1 >= floor);
    }
    // Unnormalised probabilities.
    for c in cands.iter_mut() {
        c.1 = (c.1 - max).exp();
    }
    if opts.top_p < 1.0 {
        let total: f64 = cands.iter().map(|c| c.1).sum();
        let target = opts.top_p as f64 * total;
        // Sort only as much of the head as the nucleus needs: grow the sorted
        // prefix until its mass reaches the target.
        let mut k = 64.min(cands.len());
        loop {
            if k < cands.len() {
                cands.select_nth_unstable_by(k - 1, desc);
            }
            cands[..k].sort_unstable_by(desc);
            let mut acc = 0.0;
            let mut cut = None;
            for (i, c) in cands[..k].iter().enumerate() {
                acc += c.1;
                if acc >= target {
                    cut = Some(i + 1);
                    break;
                }
            }
            if let Some(cut) = cut {
                cands.truncate(cut);
                break;
            }
            if k == cands.len() {
                break;
            }
            k = (k * 4).min(cands.len());
        }
    }
    let total: f64 = cands.iter().map(|c| c.1).sum();
    let mut r = rng.next_f64() * total;
    for c in &cands {
        r -= c.1;
        if r < 0.0 {
            return Some(c.0);
        }
    }
    cands.last().map(|c| c.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask_of(ids: &[usize], n: usize) -> Vec<u32> {
        let mut m = vec![0u32; n.div_ceil(32)];
        for &i in ids {
            m[i / 32] |= 1 << (i % 32);
        }
        m
    }

    #[test]
    fn greedy_respects_the_mask() {
        let logits = [5.0, 1.0, 3.0, 9.0];
        let mask = mask_of(&[1, 2], 4);
        let mut rng = Rng::new(1);
        assert_eq!(sample(&logits, Some(&mask), &SamplingOptions::greedy(), &mut rng), Some(2));
        assert_eq!(sample(&logits, None, &SamplingOptions::greedy(), &mut rng), Some(3));
        assert_eq!(sample(&logits, Some(&mask_of(&[], 4)), &SamplingOptions::greedy(), &mut rng), None);
    }

    #[test]
    fn random_sampling_never_leaves_the_mask_and_follows_the_distribution() {
        let logits: Vec<f32> = (0..100).map(|i| (i % 7) as f32).collect();
        let allowed: Vec<usize> = (0..100).filter(|i| i % 3 == 0).collect();
        let mask = mask_of(&allowed, 100);
        let opts = SamplingOptions { temperature: 1.0, seed: 7, ..Default::default() };
        let mut rng = Rng::new(opts.seed);
        let mut counts = vec![0usize; 100];
        for _ in 0..20_000 {
            let t = sample(&logits, Some(&mask), &opts, &mut rng).unwrap() as usize;
            assert!(allowed.contains(&t), "sampled masked-out token {t}");
            counts[t] += 1;
        }
        // Token 6 (logit 6) against token 0 (logit 0): ratio e^6 ~ 403.
        let ratio = counts[6] as f64 / counts[0].max(1) as f64;
        assert!(counts[0] > 0 && ratio > 100.0, "ratio {ratio}");
    }

    #[test]
    fn filters_keep_the_head() {
        let logits = [0.0, 1.0, 2.0, 3.0, 10.0, 9.5];
        let mut rng = Rng::new(3);
        let top_k = SamplingOptions { temperature: 1.0, top_k: 2, ..Default::default() };
        let top_p = SamplingOptions { temperature: 1.0, top_p: 0.5, ..Default::default() };
        let min_p = SamplingOptions { temperature: 1.0, min_p: 0.5, ..Default::default() };
        for _ in 0..500 {
            assert!(matches!(sample(&logits, None, &top_k, &mut rng), Some(4 | 5)));
            assert_eq!(sample(&logits, None, &top_p, &mut rng), Some(4));
            assert!(matches!(sample(&logits, None, &min_p, &mut rng), Some(4 | 5)));
        }
    }

    #[test]
    fn same_seed_same_draws() {
        let logits: Vec<f32> = (0..1000).map(|i| ((i * 37) % 101) as f32 / 10.0).collect();
        let opts = SamplingOptions { temperature: 0.8, top_p: 0.9, seed: 42, ..Default::default() };
        let draw = |seed| {
            let mut rng = Rng::new(seed);
            (0..50).map(|_| sample(&logits, None, &opts, &mut rng).unwrap()).collect::<Vec<_>>()
        };
        assert_eq!(draw(42), draw(42));
        assert_ne!(draw(42), draw(43));
    }
}
