//! Regular expressions for JSON numbers within bounds.
//!
//! Bounds are handled exactly for integer-valued bounds, any magnitude that
//! fits in 38 digits: the integer part is constrained by a digit-range
//! expression, and the fraction (for `number`) by reasoning on its sign.

use std::fmt::Write;

/// Canonical natural numbers `lo..=hi` (`hi = None`: unbounded) as a regex
/// (no leading zeros).
pub fn nat_range(lo: u128, hi: Option<u128>) -> String {
    match hi {
        Some(h) if h < lo => "[^\\x00-\\x{10FFFF}]".into(), // empty; callers avoid it
        Some(h) => bounded(lo, h),
        None => {
            // lo..=(10^d - 1) where d = digits(lo), then any number with more digits.
            let d = digits(lo);
            let top = 10u128.pow(d) - 1;
            format!("(?:{}|[1-9][0-9]{{{},}})", bounded(lo, top), d)
        }
    }
}

fn digits(n: u128) -> u32 {
    if n == 0 {
        1
    } else {
        n.ilog10() + 1
    }
}

/// `lo..=hi` with `lo <= hi`.
fn bounded(lo: u128, hi: u128) -> String {
    let mut alts = Vec::new();
    let (mut lo, hi) = (lo, hi);
    // Split by number of digits: each piece has a fixed length.
    while lo <= hi {
        let d = digits(lo);
        let top = if d >= 39 { u128::MAX } else { (10u128.pow(d) - 1).min(hi) };
        same_len(&lo.to_string(), &top.to_string(), &mut alts);
        if top == hi {
            break;
        }
        lo = top + 1;
    }
    format!("(?:{})", alts.join("|"))
}

/// Digit strings of equal length between `a` and `b` (inclusive, `a <= b`), as alternatives.
fn same_len(a: &str, b: &str, out: &mut Vec<String>) {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let p = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let prefix = std::str::from_utf8(&a[..p]).expect("ascii").to_string();
    if p == a.len() {
        out.push(prefix);
        return;
    }
    let rest = a.len() - p - 1;
    let (da, db) = (a[p] - b'0', b[p] - b'0');
    let a_tail = std::str::from_utf8(&a[p + 1..]).expect("ascii");
    let b_tail = std::str::from_utf8(&b[p + 1..]).expect("ascii");
    let a_tail_zero = a_tail.bytes().all(|c| c == b'0');
    let b_tail_nine = b_tail.bytes().all(|c| c == b'9');
    let lo_d = if a_tail_zero { da } else { da + 1 };
    let hi_d = if b_tail_nine { db as i32 } else { db as i32 - 1 };
    if !a_tail_zero {
        let mut sub = Vec::new();
        same_len(a_tail, &"9".repeat(rest), &mut sub);
        out.push(format!("{prefix}{da}(?:{})", sub.join("|")));
    }
    if lo_d as i32 <= hi_d {
        let mut s = prefix.clone();
        if lo_d as i32 == hi_d {
            let _ = write!(s, "{lo_d}");
        } else {
            let _ = write!(s, "[{lo_d}-{hi_d}]");
        }
        if rest > 0 {
            let _ = write!(s, "[0-9]{{{rest}}}");
        }
        out.push(s);
    }
    if !b_tail_nine {
        let mut sub = Vec::new();
        same_len(&"0".repeat(rest), b_tail, &mut sub);
        out.push(format!("{prefix}{db}(?:{})", sub.join("|")));
    }
}

/// An integer bound: `value` and whether it is exclusive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bound {
    /// The bound.
    pub value: i128,
    /// Exclusive (`<`/`>`) rather than inclusive.
    pub exclusive: bool,
}

/// Integers in `[lo, hi]` (inclusive, `None` = unbounded) as a regex over
/// canonical JSON integers.
pub fn int_range(lo: Option<i128>, hi: Option<i128>) -> Option<String> {
    if let (Some(l), Some(h)) = (lo, hi) {
        if l > h {
            return None;
        }
    }
    let mut alts = Vec::new();
    // Non-negative part.
    if hi.is_none_or(|h| h >= 0) {
        let l = lo.map_or(0, |l| l.max(0)) as u128;
        alts.push(nat_range(l, hi.map(|h| h as u128)));
    }
    // Negative part: -n with n in [max(1, -hi), -lo].
    if lo.is_none_or(|l| l < 0) {
        let nlo = hi.map_or(1, |h| (-h).max(1)) as u128;
        let nhi = lo.map(|l| (-l) as u128);
        if nhi.is_none_or(|h| h >= nlo) {
            alts.push(format!("-{}", nat_range(nlo, nhi)));
        }
    }
    if alts.is_empty() {
        None
    } else {
        Some(format!("(?:{})", alts.join("|")))
    }
}

/// Decimal numbers `x` with `lo <= x <= hi` (bounds possibly exclusive),
/// without exponent. `frac` is the regex of a fractional part's digits after
/// the dot that are allowed (e.g. `[0-9]*[1-9]` for any non-zero fraction).
/// Returns `None` when the range is empty.
pub fn number_range(lo: Option<Bound>, hi: Option<Bound>, max_frac_digits: Option<u32>) -> Option<String> {
    // Integer-valued x: inclusive integer range.
    let ilo = lo.map(|b| if b.exclusive { b.value + 1 } else { b.value });
    let ihi = hi.map(|b| if b.exclusive { b.value - 1 } else { b.value });
    let mut alts = Vec::new();
    if let Some(ints) = int_range(ilo, ihi) {
        alts.push(format!("{ints}(?:\\.0+)?"));
    }
    let nonzero_frac = match max_frac_digits {
        Some(0) => None,
        Some(k) => Some(format!("\\.(?:[0-9]{{0,{}}}[1-9])0*", k - 1)),
        None => Some("\\.[0-9]*[1-9][0-9]*".to_string()),
    };
    if let Some(frac) = nonzero_frac {
        // x = I + f, 0 < f < 1, I >= 0: x > m <=> I >= m (m integer), x >= m likewise;
        // x < M and x <= M <=> I <= M - 1.
        let plo = lo.map_or(0, |b| b.value.max(0));
        let phi = hi.map(|b| b.value - 1);
        if phi.is_none_or(|h| h >= plo) {
            alts.push(format!("{}{frac}", nat_range(plo as u128, phi.map(|h| h as u128))));
        }
        // x = -(I + f): x >= m <=> I <= -m - 1; x <= M <=> I >= -M.
        let nlo = hi.map_or(0, |b| (-b.value).max(0));
        let nhi = lo.map(|b| -b.value - 1);
        if nhi.is_none_or(|h| h >= nlo) {
            alts.push(format!("-{}{frac}", nat_range(nlo as u128, nhi.map(|h| h as u128))));
        }
    }
    if alts.is_empty() {
        None
    } else {
        Some(format!("(?:{})", alts.join("|")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex_syntax::parse;

    fn matcher(re: &str) -> impl Fn(&str) -> bool {
        let hir = parse(&format!("^(?:{re})$")).unwrap();
        let re = regex_automata::meta::Regex::builder().build_from_hir(&hir).unwrap();
        move |s: &str| re.is_match(s)
    }

    #[test]
    fn nat_ranges_exhaustive() {
        for (lo, hi) in [(0u128, 0u128), (0, 9), (3, 17), (10, 99), (5, 1234), (99, 101), (0, 1000), (120, 129), (7, 7)]
        {
            let m = matcher(&nat_range(lo, Some(hi)));
            for n in 0..3000u128 {
                assert_eq!(m(&n.to_string()), n >= lo && n <= hi, "{n} in {lo}..={hi}: {}", nat_range(lo, Some(hi)));
            }
            assert!(!m("007"));
        }
        let m = matcher(&nat_range(37, None));
        for n in 0..3000u128 {
            assert_eq!(m(&n.to_string()), n >= 37);
        }
    }

    #[test]
    fn int_ranges_exhaustive() {
        for (lo, hi) in
            [(Some(-15i128), Some(27i128)), (None, Some(-3)), (Some(-100), None), (Some(5), Some(4)), (None, None)]
        {
            let re = int_range(lo, hi);
            for n in -300i128..300 {
                let expected = lo.is_none_or(|l| n >= l) && hi.is_none_or(|h| n <= h);
                let got = re.as_ref().is_some_and(|r| matcher(r)(&n.to_string()));
                assert_eq!(got, expected, "{n} in {lo:?}..={hi:?}");
            }
        }
    }

    #[test]
    fn number_ranges_sampled() {
        let cases = [
            (Some(Bound { value: 0, exclusive: false }), Some(Bound { value: 1, exclusive: false })),
            (Some(Bound { value: -2, exclusive: true }), Some(Bound { value: 3, exclusive: true })),
            (None, Some(Bound { value: -1, exclusive: false })),
            (Some(Bound { value: 10, exclusive: true }), None),
        ];
        for (lo, hi) in cases {
            let m = matcher(&number_range(lo, hi, None).unwrap());
            for i in -400i32..400 {
                for s in [format!("{}", i as f64 / 100.0), format!("{}", i / 100), format!("{:.1}", i as f64 / 10.0)] {
                    let x: f64 = s.parse().unwrap();
                    let ok = lo.is_none_or(|b| if b.exclusive { x > b.value as f64 } else { x >= b.value as f64 })
                        && hi.is_none_or(|b| if b.exclusive { x < b.value as f64 } else { x <= b.value as f64 });
                    // "-0.0" style strings: JSON allows -0; skip formatting artefacts.
                    if s.starts_with("-0") && x == 0.0 {
                        continue;
                    }
                    assert_eq!(m(&s), ok, "{s} in {lo:?}..{hi:?}");
                }
            }
        }
        let two = matcher(&number_range(None, None, Some(2)).unwrap());
        assert!(two("1.25") && two("1.5") && two("3") && two("1.20") && !two("1.255"));
    }
}
