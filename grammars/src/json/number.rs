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

/// The smallest integer an unbounded `integer` reaches: 18 digits, so
/// every value is read exactly as a signed 64-bit integer.
pub const INT_MIN: i128 = -(10i128.pow(18) - 1);
/// The largest integer an unbounded `integer` reaches: 19 digits, so every
/// value is read exactly as an unsigned 64-bit integer. (The exact 64-bit
/// limits, `-9223372036854775808` and `18446744073709551615`, would make the
/// automaton of every integer about 400 states instead of 40: each digit of a
/// limit starts its own chain of free digits, and determinisation does not
/// merge equal chains.)
pub const INT_MAX: i128 = 10i128.pow(19) - 1;

/// Any integer in `INT_MIN..=INT_MAX`.
pub fn any_int() -> String {
    int_range(Some(INT_MIN), Some(INT_MAX)).expect("non-empty range")
}

/// `lo..=hi` with `lo <= hi`.
fn bounded(lo: u128, hi: u128) -> String {
    let mut alts = Vec::new();
    let (mut lo, hi) = (lo, hi);
    // Whole lengths `a..=b` (every number of those lengths, 0 included
    // when the flag says so), written as one piece: an automaton with one
    // chain of digits instead of one per length.
    let mut whole: Option<(u32, u32, bool)> = None;
    let flush = |whole: &mut Option<(u32, u32, bool)>, alts: &mut Vec<String>| {
        if let Some((a, b, zero)) = whole.take() {
            if zero {
                alts.push("0".into());
            }
            alts.push(if a == b {
                format!("[1-9][0-9]{{{}}}", a - 1)
            } else {
                format!("[1-9][0-9]{{{},{}}}", a - 1, b - 1)
            });
        }
    };
    // Split by number of digits: each piece has a fixed length.
    while lo <= hi {
        let d = digits(lo);
        let top = if d >= 39 { u128::MAX } else { (10u128.pow(d) - 1).min(hi) };
        let first = if d == 1 { 1 } else { 10u128.pow(d - 1) };
        if d < 39 && lo <= first && top == 10u128.pow(d) - 1 {
            whole = Some(whole.map_or((d, d, lo == 0), |(a, _, zero)| (a, d, zero)));
        } else {
            flush(&mut whole, &mut alts);
            same_len(&lo.to_string(), &top.to_string(), &mut alts);
        }
        if top == hi {
            break;
        }
        lo = top + 1;
    }
    flush(&mut whole, &mut alts);
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

/// Spellings `sign I.F` with integer part `I` in `lo..=hi` and fraction
/// `frac`; at an end marked tight, that integer part gets the `capped`
/// fraction instead.
fn range_with_fraction(
    (lo, hi): (i128, Option<i128>),
    (lo_tight, hi_tight): (bool, bool),
    sign: &str,
    frac: &str,
    capped: &dyn Fn(u128) -> String,
    alts: &mut Vec<String>,
) {
    if hi.is_some_and(|h| h < lo) {
        return;
    }
    let (mut a, mut b) = (lo, hi);
    if lo_tight {
        alts.push(format!("{sign}{lo}{}", capped(lo as u128)));
        a += 1;
    }
    if let (true, Some(h)) = (hi_tight, hi) {
        if h >= a {
            alts.push(format!("{sign}{h}{}", capped(h as u128)));
        }
        b = Some(h - 1);
    }
    if b.is_none_or(|h| h >= a) {
        alts.push(format!("{sign}{}{frac}", nat_range(a as u128, b.map(|h| h as u128))));
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
        // Next to a strict bound, a long fraction may read as the bound
        // itself (1.00000000000000000001 is the double 1.0): there the
        // fraction is kept short enough for a double to tell them apart.
        let capped = |int: u128| {
            let c = DECIMAL_DIGITS.saturating_sub(digits(int) as usize).max(1);
            let c = max_frac_digits.map_or(c, |k| c.min(k as usize));
            format!("\\.[0-9]{{0,{}}}[1-9]0*", c - 1)
        };
        let strict = |b: Option<Bound>| b.is_some_and(|b| b.exclusive);
        let plo = lo.map_or(0, |b| b.value.max(0));
        let phi = hi.map(|b| b.value - 1);
        let tight = (strict(lo) && lo.is_some_and(|b| b.value >= 0), strict(hi));
        range_with_fraction((plo, phi), tight, "", &frac, &capped, &mut alts);
        // x = -(I + f): x >= m <=> I <= -m - 1; x <= M <=> I >= -M.
        let nlo = hi.map_or(0, |b| (-b.value).max(0));
        let nhi = lo.map(|b| -b.value - 1);
        let tight = (strict(hi) && hi.is_some_and(|b| b.value <= 0), strict(lo));
        range_with_fraction((nlo, nhi), tight, "-", &frac, &capped, &mut alts);
        alts.extend(exponent_forms(lo, hi));
    }
    if alts.is_empty() {
        None
    } else {
        Some(format!("(?:{})", alts.join("|")))
    }
}

/// Spellings with an exponent, as `json.dumps` writes very small and very
/// large floats (`1e-06`, `2.5e+16`: one digit before the point), that lie
/// inside integer bounds whatever their digits: magnitudes below 1 (a
/// negative exponent) between bounds on either side of them, and magnitudes
/// of at least 10^10 (a two-digit positive exponent) where that side is
/// unbounded. Other exponent spellings stay out of bounded numbers (a subset,
/// never a wrong value).
fn exponent_forms(lo: Option<Bound>, hi: Option<Bound>) -> Vec<String> {
    let mantissa = "[1-9](?:\\.[0-9]*[1-9])?[eE]";
    let small = format!("{mantissa}-(?:0?[1-9]|[1-9][0-9])");
    let large = format!("{mantissa}\\+?[1-9][0-9]");
    let at_most = |b: Option<Bound>, v: i128| b.is_none_or(|b| b.value <= v);
    let at_least = |b: Option<Bound>, v: i128| b.is_none_or(|b| b.value >= v);
    let mut out = Vec::new();
    // 0 < x < 1: above any lo <= 0, below any hi >= 1.
    if at_most(lo, 0) && at_least(hi, 1) {
        out.push(small.clone());
    }
    // -1 < x < 0.
    if at_most(lo, -1) && at_least(hi, 0) {
        out.push(format!("-{small}"));
    }
    // x >= 10^10 with no upper bound; x <= -10^10 with no lower bound.
    let big = 10i128.pow(10);
    if hi.is_none() && at_most(lo, big - 1) {
        out.push(large.clone());
    }
    if lo.is_none() && at_least(hi, 1 - big) {
        out.push(format!("-{large}"));
    }
    out
}

/// Most significant digits of a non-integer bound: decimals of at most 15
/// significant digits are distinct doubles, so comparing spellings as
/// decimals agrees with a validator comparing doubles.
const DECIMAL_DIGITS: usize = 15;

/// Spellings (without exponent) of the numbers `x >= v` (`lower`) or
/// `x <= v`, strict when `exclusive`, for a non-integer `v`. Spellings are
/// compared as decimals; where a strict bound could meet a spelling that a
/// double cannot tell from `v`, fraction digits are limited so that the two
/// stay more than a few units in the last place apart. `None` when `v` has
/// more than 15 significant digits.
pub fn decimal_bound(v: f64, lower: bool, exclusive: bool) -> Option<String> {
    let text = format!("{}", v.abs());
    let (int, frac) = text.split_once('.')?;
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sig = format!("{}{frac}", int.trim_start_matches('0')).trim_start_matches('0').len();
    if sig > DECIMAL_DIGITS {
        return None;
    }
    let cap = exclusive.then_some(frac.len() + DECIMAL_DIGITS - sig);
    let any = r"(?:0|[1-9][0-9]*)(?:\.[0-9]+)?";
    let greater = |strict| magnitude(int, frac, true, strict, cap);
    let lesser = |strict| magnitude(int, frac, false, strict, cap);
    Some(match (lower, v > 0.0) {
        (true, true) => greater(exclusive),
        (true, false) => format!("(?:{any}|-{})", lesser(exclusive)),
        (false, true) => format!("(?:-{any}|{})", lesser(exclusive)),
        (false, false) => format!("-{}", greater(exclusive)),
    })
}

/// Magnitudes above (or below) `int.frac`, spelled without sign.
fn magnitude(int: &str, frac: &str, greater: bool, strict: bool, cap: Option<usize>) -> String {
    let i: u128 = int.parse().unwrap_or(0);
    let mut alts = Vec::new();
    if greater {
        alts.push(format!("{}(?:\\.[0-9]+)?", nat_range(i + 1, None)));
        alts.push(format!("{int}\\.{}", fraction(frac, true, strict, cap)));
    } else {
        if i > 0 {
            alts.push(format!("{}(?:\\.[0-9]+)?", nat_range(0, Some(i - 1))));
        }
        alts.push(format!("{int}(?:\\.{})?", fraction(frac, false, strict, cap)));
    }
    format!("(?:{})", alts.join("|"))
}

/// Fraction digit strings (at least one digit, at most `cap`) whose value
/// is above (or below) `0.f`; `f` has no trailing zero.
fn fraction(f: &str, greater: bool, strict: bool, cap: Option<usize>) -> String {
    let digits = f.as_bytes();
    let free = |used: usize| match cap {
        Some(c) => format!("[0-9]{{0,{}}}", c.saturating_sub(used)),
        None => "[0-9]*".to_string(),
    };
    let mut alts = Vec::new();
    for (k, &d) in digits.iter().enumerate() {
        let prefix = &f[..k];
        let d = d - b'0';
        if greater && d < 9 {
            alts.push(format!("{prefix}[{}-9]{}", d + 1, free(k + 1)));
        }
        if !greater && d > 0 {
            alts.push(format!("{prefix}[0-{}]{}", d - 1, free(k + 1)));
        }
        if !greater && k > 0 {
            // A proper prefix: the rest of `f` is missing, so it is smaller.
            alts.push(prefix.to_string());
        }
    }
    match (greater, strict) {
        (true, false) => alts.push(format!("{f}{}", free(f.len()))),
        // `f`, then more digits of which one is not zero.
        (true, true) => match cap {
            None => alts.push(format!("{f}0*[1-9][0-9]*")),
            Some(c) => {
                for zeros in 0..c.saturating_sub(f.len()) {
                    alts.push(format!("{f}0{{{zeros}}}[1-9]{}", free(f.len() + zeros + 1)));
                }
            }
        },
        (false, false) => {
            let zeros = match cap {
                Some(c) => format!("0{{0,{}}}", c.saturating_sub(f.len())),
                None => "0*".to_string(),
            };
            alts.push(format!("{f}{zeros}"));
        }
        (false, true) => {}
    }
    format!("(?:{})", alts.join("|"))
}

/// Spellings (no exponent) with at most 15 digits in all: every validator
/// reads them as a double that keeps their value's integer-ness, and
/// comparing them as decimals agrees with comparing doubles. With
/// `non_integer`, only those with a non-zero fraction.
pub fn short_number(non_integer: bool) -> String {
    let mut alts = Vec::new();
    for i in 1..=DECIMAL_DIGITS {
        let int = if i == 1 { "[0-9]".to_string() } else { format!("[1-9][0-9]{{{}}}", i - 1) };
        let n = DECIMAL_DIGITS - i;
        match (non_integer, n) {
            (true, 0) => {}
            (true, n) => alts.push(format!("{int}\\.[0-9]{{0,{}}}[1-9]0*", n - 1)),
            (false, 0) => alts.push(format!("{int}(?:\\.0+)?")),
            (false, n) => alts.push(format!("{int}(?:\\.[0-9]{{1,{n}}}0*)?")),
        }
    }
    format!("-?(?:{})", alts.join("|"))
}

/// Longest regex a `multipleOf` condition may become.
const MULTIPLE_REGEX_LIMIT: usize = 100_000;

/// Languages whose intersection is the spellings (optional sign, no
/// exponent) of the multiples of `d`, for `d = n / 10^k` where `n` is
/// `2^a 5^b` or three times that: `x 10^k` must end in a multiple of
/// `2^a 5^b` (its last `max(a, b)` digits tell) and, for 3, its digit sum
/// must be a multiple of 3 (which the decimal point does not change).
/// `None` otherwise (the regex for 9 is already too large).
pub fn multiples(d: f64) -> Option<Vec<String>> {
    let text = format!("{d}");
    let (int, frac) = text.split_once('.').unwrap_or((text.as_str(), ""));
    let frac = frac.trim_end_matches('0');
    let k = frac.len();
    let n: u64 = format!("{int}{frac}").parse().ok()?;
    if n == 0 || k > 15 {
        return None;
    }
    let (mut m, mut a, mut b) = (n, 0u32, 0u32);
    while m % 2 == 0 {
        m /= 2;
        a += 1;
    }
    while m % 5 == 0 {
        m /= 5;
        b += 1;
    }
    if !matches!(m, 1 | 3) {
        return None;
    }
    let q = 2u64.pow(a) * 5u64.pow(b);
    let big_k = a.max(b) as usize;
    if big_k > 6 || 10u64.pow(big_k as u32) / q > 1000 {
        return None;
    }
    let mut parts = vec![last_digits(q, big_k, k)];
    if m > 1 {
        parts.push(format!("-?(?:{})", digit_sum_multiple(m as usize)?));
    }
    Some(parts)
}

/// Spellings of `x` such that `x 10^k` is an integer whose last `big_k`
/// digits (zero-padded) are a multiple of `q`.
fn last_digits(q: u64, big_k: usize, k: usize) -> String {
    let int = "(?:0|[1-9][0-9]*)";
    let tails: Vec<String> =
        (0..10u64.pow(big_k as u32)).filter(|v| v % q == 0).map(|v| format!("{v:0big_k$}")).collect();
    let mut alts = Vec::new();
    if big_k <= k {
        // The last digits are fraction digits; the first k - K are free.
        for t in &tails {
            let t = t.trim_end_matches('0');
            if t.is_empty() {
                alts.push(format!("[0-9]{{0,{}}}0*", k - big_k));
            } else {
                alts.push(format!("[0-9]{{{}}}{t}0*", k - big_k));
            }
        }
        return format!("-?{int}(?:\\.(?:{}))?", alts.join("|"));
    }
    let j = big_k - k;
    for t in &tails {
        let (ti, tf) = t.split_at(j);
        let short = ti.trim_start_matches('0');
        let short = if short.is_empty() { "0" } else { short };
        let ip = if short == ti { format!("[0-9]*{ti}") } else { format!("(?:[0-9]*{ti}|{short})") };
        let tf = tf.trim_end_matches('0');
        let fp = if tf.is_empty() { "(?:\\.0*)?".to_string() } else { format!("\\.{tf}0*") };
        alts.push(format!("{ip}{fp}"));
    }
    format!("-?(?:{})", alts.join("|"))
}

/// Digit strings (a decimal point anywhere is ignored) whose digit sum is a
/// multiple of `m` (for 3, then so is the number), by eliminating the
/// states of the residue automaton.
fn digit_sum_multiple(m: usize) -> Option<String> {
    let class = |step: usize| -> String {
        let mut c: String = (0..10).filter(|d| d % m == step).map(|d| char::from(b'0' + d as u8)).collect();
        if step == 0 {
            c.push_str("\\.");
        }
        format!("[{c}]")
    };
    // r[p][q]: the regex from state p to state q; start m, final m + 1.
    let size = m + 2;
    let mut r: Vec<Vec<Option<String>>> = vec![vec![None; size]; size];
    for p in 0..m {
        for step in 0..m {
            let c = class(step);
            if c != "[]" {
                r[p][(p + step) % m] = Some(c);
            }
        }
    }
    r[m][0] = Some(String::new());
    r[0][m + 1] = Some(String::new());
    let mut alive: Vec<usize> = (0..size).collect();
    for q in (0..m).rev() {
        alive.retain(|&x| x != q);
        let lp = r[q][q].take().map(|l| format!("(?:{l})*")).unwrap_or_default();
        for &p in &alive {
            let Some(pq) = r[p][q].clone() else { continue };
            for &t in &alive {
                let Some(qt) = r[q][t].clone() else { continue };
                let path = format!("{pq}{lp}{qt}");
                let new = match r[p][t].take() {
                    Some(old) => format!("(?:{old}|{path})"),
                    None => path,
                };
                if new.len() > MULTIPLE_REGEX_LIMIT {
                    return None;
                }
                r[p][t] = Some(new);
            }
        }
        for row in r.iter_mut() {
            row[q] = None;
        }
    }
    r[m][m + 1].take()
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
    fn decimal_bounds_against_exact_comparison() {
        // Spellings -?I(.F)? with I < 30 and up to three fraction digits,
        // compared as integers in units of 10^-4.
        let mut spellings = Vec::new();
        for i in 0..30i64 {
            spellings.push((i.to_string(), i * 10_000));
            for len in 1..=3u32 {
                for f in 0..10i64.pow(len) {
                    let frac = format!("{f:0width$}", width = len as usize);
                    spellings.push((format!("{i}.{frac}"), i * 10_000 + f * 10i64.pow(4 - len)));
                }
            }
        }
        for (v, units) in
            [(1.1, 11_000i64), (0.05, 500), (-1.5, -15_000), (-0.25, -2_500), (12.375, 123_750), (0.5, 5_000)]
        {
            for (lower, exclusive) in [(true, false), (true, true), (false, false), (false, true)] {
                let re = decimal_bound(v, lower, exclusive).unwrap();
                let m = matcher(&re);
                for (text, x) in &spellings {
                    for (t, x) in [(text.clone(), *x), (format!("-{text}"), -*x)] {
                        let want = match (lower, exclusive) {
                            (true, false) => x >= units,
                            (true, true) => x > units,
                            (false, false) => x <= units,
                            (false, true) => x < units,
                        };
                        assert_eq!(m(&t), want, "{t} against {v} (lower {lower}, exclusive {exclusive}): {re}");
                    }
                }
            }
        }
        assert!(decimal_bound(0.1 + 0.2, true, false).is_none(), "17 significant digits");
    }

    #[test]
    fn multiples_against_arithmetic() {
        for (d, units) in [
            (3.0, 30_000i64),
            (6.0, 60_000),
            (30.0, 300_000),
            (1.5, 15_000),
            (0.75, 7_500),
            (12.0, 120_000),
            (0.3, 3_000),
        ] {
            let parts = multiples(d).unwrap_or_else(|| panic!("{d}"));
            let ms: Vec<_> = parts.iter().map(|p| matcher(p)).collect();
            for x in 0..20_000i64 {
                // x in units of 10^-4, spelled with up to four fraction digits.
                let (i, f) = (x / 10_000, x % 10_000);
                let frac = format!("{f:04}");
                let frac = frac.trim_end_matches('0');
                let text = if frac.is_empty() { i.to_string() } else { format!("{i}.{frac}") };
                let want = x % units == 0;
                for t in [text.clone(), format!("-{text}")] {
                    let got = ms.iter().all(|m| m(&t));
                    assert_eq!(got, want, "{t} multiple of {d}: {parts:?}");
                }
            }
        }
        assert!(multiples(7.0).is_none() && multiples(9.0).is_none());
        assert!(multiples(0.123456789).is_none());
    }

    #[test]
    fn strict_bounds_keep_fractions_a_double_can_tell_apart() {
        let b = |value, exclusive| Some(Bound { value, exclusive });
        let m = matcher(&number_range(b(1, true), b(3, true), None).unwrap());
        assert!(m("1.5") && m("1.00000000000001") && m("2.99999999999999") && m("2.5"));
        assert!(!m("1.00000000000000000001"), "reads as 1.0");
        assert!(!m("2.99999999999999999999"), "reads as 3.0");
        let n = matcher(&number_range(b(-3, true), b(0, true), None).unwrap());
        assert!(n("-2.5") && n("-0.5") && !n("-2.99999999999999999999") && !n("-0.00000000000000000001"));
        // Inclusive bounds need no care: rounding never crosses them.
        let i = matcher(&number_range(b(1, false), None, None).unwrap());
        assert!(i("1.00000000000000000001"));
    }

    #[test]
    fn short_numbers() {
        let any = matcher(&short_number(false));
        let frac = matcher(&short_number(true));
        for t in ["0", "-7", "123456789012345", "1.5", "12345678901234.5", "0.00000000000001", "2.50"] {
            assert!(any(t), "{t}");
        }
        for t in ["1234567890123456", "1.234567890123456", "1e5", "01", "1."] {
            assert!(!any(t), "{t}");
        }
        assert!(frac("1.5") && frac("-0.25") && !frac("2") && !frac("2.0") && !frac("123456789012345.5"));
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
        // Ranges made of whole lengths (one chain of digits for several lengths).
        for (lo, hi) in [(0u128, 99_999u128), (10, 99_999), (100, 9_999), (1, 99), (0, 12_345), (1_000, 100_000)] {
            let m = matcher(&nat_range(lo, Some(hi)));
            for n in 0..120_000u128 {
                assert_eq!(m(&n.to_string()), n >= lo && n <= hi, "{n} in {lo}..={hi}: {}", nat_range(lo, Some(hi)));
            }
            assert!(!m("00") && !m("01"));
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
        // Exponent spellings, as json.dumps writes small and large floats.
        let exp_cases = [
            (Some(Bound { value: 0, exclusive: false }), None),
            (Some(Bound { value: 0, exclusive: true }), Some(Bound { value: 1, exclusive: false })),
            (Some(Bound { value: 0, exclusive: false }), Some(Bound { value: 1, exclusive: true })),
            (Some(Bound { value: -1, exclusive: false }), Some(Bound { value: 1, exclusive: false })),
            (None, Some(Bound { value: 0, exclusive: true })),
            (Some(Bound { value: 5, exclusive: false }), None),
            (Some(Bound { value: 20_000_000_000, exclusive: false }), None),
            (None, Some(Bound { value: 100, exclusive: false })),
        ];
        for (lo, hi) in exp_cases {
            let m = matcher(&number_range(lo, hi, None).unwrap());
            for sign in ["", "-"] {
                for mant in ["1", "2.5", "9.75"] {
                    for e in ["-06", "-5", "-10", "-99", "+10", "+16", "+99", "16", "-0", "+05"] {
                        let s = format!("{sign}{mant}e{e}");
                        let x: f64 = s.parse().unwrap();
                        let ok = lo.is_none_or(|b| if b.exclusive { x > b.value as f64 } else { x >= b.value as f64 })
                            && hi.is_none_or(|b| if b.exclusive { x < b.value as f64 } else { x <= b.value as f64 });
                        // Accepted only if inside the bounds (some valid ones are left out).
                        assert!(!m(&s) || ok, "{s} accepted outside {lo:?}..{hi:?}");
                    }
                }
            }
        }
        let nonneg = matcher(&number_range(Some(Bound { value: 0, exclusive: false }), None, None).unwrap());
        assert!(nonneg("1e-06") && nonneg("2.5e+16") && !nonneg("-1e-06") && !nonneg("1e-6.5"));
        let unit = matcher(
            &number_range(Some(Bound { value: 0, exclusive: false }), Some(Bound { value: 1, exclusive: false }), None)
                .unwrap(),
        );
        assert!(unit("1e-06") && unit("9.5e-05") && !unit("1e+16") && !unit("-1e-06"));
        let two = matcher(&number_range(None, None, Some(2)).unwrap());
        assert!(two("1.25") && two("1.5") && two("3") && two("1.20") && !two("1.255"));
    }
}
