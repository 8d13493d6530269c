//! JSON strings: patterns (ECMA-262), formats and lengths, expressed over
//! the *encoded* string body (what appears between the quotes).
//!
//! A pattern describes the decoded string; each character it allows is
//! written as `json.dumps` writes it (`\"`, `\\`, `\n`, `\u001f`...), so a
//! pattern-constrained string is always valid JSON and decodes to a string
//! the pattern matches. Free string bodies accept every valid encoding
//! except lone surrogate escapes, so each escape is exactly one code point
//! and lengths are exact.

use regex_syntax::hir::{Class, ClassUnicode, ClassUnicodeRange, Hir, HirKind, Look, Repetition};
use regex_syntax::ParserBuilder;
use sluicegate_core::Expr;
use std::sync::Arc;

/// One encoded character of a JSON string body, spelled as `json.dumps`
/// spells it (non-ASCII kept): `\"`, `\\`, the short escapes of control
/// characters and `\u00xx` for the other control characters. One spelling
/// per character keeps lengths exact and lets a string be excluded by its
/// single spelling (`not`, declared property names).
pub const ENC_CHAR: &str = r#"(?:[^"\\\x00-\x1F]|\\["\\bfnrt]|\\u00(?:0[0-7bef]|1[0-9a-f]))"#;

/// Parse a regex (Rust syntax) in UTF-8 mode.
pub fn parse(re: &str) -> Result<Hir, String> {
    parse_shared(re).map(|h| Hir::clone(&h))
}

/// [`parse`], shared: the front end parses the same few expressions
/// (string bodies, number forms, whitespace) for every schema (parsing was
/// half of its time), and an `Expr` takes them without a deep copy.
pub fn parse_shared(re: &str) -> Result<Arc<Hir>, String> {
    thread_local! {
        static PARSED: std::cell::RefCell<std::collections::HashMap<String, Result<Arc<Hir>, String>>> =
            Default::default();
    }
    const MAX_PARSED: usize = 1024;
    if let Some(hit) = PARSED.with(|p| p.borrow().get(re).cloned()) {
        return hit;
    }
    let parsed =
        ParserBuilder::new().utf8(true).nest_limit(250).build().parse(re).map(Arc::new).map_err(|e| e.to_string());
    PARSED.with(|p| {
        let mut p = p.borrow_mut();
        if p.len() >= MAX_PARSED {
            p.clear();
        }
        p.insert(re.to_string(), parsed.clone());
    });
    parsed
}

/// A rough size of the automaton of a body ([`sluicegate_core::ir::hir_weight`]).
pub use sluicegate_core::ir::hir_weight as weight;

/// [`weight`] of a body made of expressions (`Builder::long_length_body`:
/// called chunks of 256 characters around counted
/// tails); a call weighs 1.
pub fn expr_weight(e: &Expr) -> u64 {
    match e {
        Expr::Regular(h) => weight(h),
        Expr::Rule(_) | Expr::AnyOrder(_) => 1,
        Expr::Seq(xs) | Expr::Alt(xs) | Expr::Intersect(xs) => {
            xs.iter().fold(0u64, |w, x| w.saturating_add(expr_weight(x)))
        }
        Expr::Repeat { expr, min, max } => expr_weight(expr).saturating_mul(max.unwrap_or(*min).max(1) as u64),
        Expr::Exclude { base, .. } => expr_weight(base),
    }
}

/// Any string body.
pub fn any_body() -> Hir {
    Hir::clone(&any_body_shared())
}

/// [`any_body`], shared.
pub fn any_body_shared() -> Arc<Hir> {
    parse_shared(&format!("{ENC_CHAR}*")).expect("valid")
}

/// Bodies of `min..=max` code points.
pub fn length_body(min: u64, max: Option<u64>) -> Result<Hir, String> {
    let limit = u32::MAX as u64;
    if min > limit || max.is_some_and(|m| m > limit) {
        return Err(format!("length bound too large ({min}..{max:?})"));
    }
    let ch = parse(ENC_CHAR).expect("valid");
    Ok(Hir::repetition(Repetition { min: min as u32, max: max.map(|m| m as u32), greedy: true, sub: Box::new(ch) }))
}

/// The most code points an encoded body of `body` can have (its most
/// bytes: every encoded character is at least one byte), `None` if unbounded.
pub fn max_chars(body: &Hir) -> Option<u64> {
    body.properties().maximum_len().map(|n| n as u64)
}

/// The fewest code points an encoded body of `body` has: its fewest bytes
/// over the most bytes one of its characters can be spelled with.
pub fn min_chars(body: &Hir) -> u64 {
    body.properties().minimum_len().map_or(u64::MAX, |n| (n as u64).div_ceil(max_char_bytes(body)))
}

/// The most bytes one character of a body of `h` can take: 1 when it holds
/// only ASCII and no backslash (a format such as `email`), 4 with other
/// UTF-8, 6 with escapes (`\u001f`).
fn max_char_bytes(h: &Hir) -> u64 {
    // A range of code points (or bytes) `lo..=hi`.
    let of_range = |lo: u32, hi: u32| match hi {
        _ if lo <= 0x5C && 0x5C <= hi => 6,
        0x80.. => 4,
        _ => 1,
    };
    match h.kind() {
        HirKind::Empty | HirKind::Look(_) => 1,
        HirKind::Literal(lit) => lit.0.iter().map(|&b| of_range(b as u32, b as u32)).max().unwrap_or(1),
        HirKind::Class(Class::Unicode(c)) => {
            c.ranges().iter().map(|r| of_range(r.start() as u32, r.end() as u32)).max().unwrap_or(1)
        }
        HirKind::Class(Class::Bytes(c)) => {
            c.ranges().iter().map(|r| of_range(r.start() as u32, r.end() as u32)).max().unwrap_or(1)
        }
        HirKind::Repetition(r) => max_char_bytes(&r.sub),
        HirKind::Capture(c) => max_char_bytes(&c.sub),
        HirKind::Concat(xs) | HirKind::Alternation(xs) => xs.iter().map(max_char_bytes).max().unwrap_or(1),
    }
}

/// How `json.dumps` writes `c` inside a string.
fn encode_char(c: char, out: &mut String) {
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
        c => out.push(c),
    }
}

fn needs_escape(c: u32) -> bool {
    c < 0x20 || c == '"' as u32 || c == '\\' as u32
}

/// Rewrite a regex over decoded text into one over the encoded body.
/// Look-around assertions must have been removed.
pub fn encode_hir(h: &Hir) -> Result<Hir, String> {
    Ok(match h.kind() {
        HirKind::Empty => Hir::empty(),
        HirKind::Literal(lit) => {
            let s = std::str::from_utf8(&lit.0).map_err(|_| "pattern matches invalid UTF-8".to_string())?;
            let mut out = String::new();
            for c in s.chars() {
                encode_char(c, &mut out);
            }
            Hir::literal(out.into_bytes())
        }
        HirKind::Class(Class::Unicode(cls)) => encode_class(cls),
        HirKind::Class(Class::Bytes(cls)) => {
            let mut ranges = Vec::new();
            for r in cls.ranges() {
                if r.end() >= 0x80 {
                    return Err("pattern matches raw bytes".into());
                }
                ranges.push(ClassUnicodeRange::new(r.start() as char, r.end() as char));
            }
            encode_class(&ClassUnicode::new(ranges))
        }
        HirKind::Look(l) => return Err(format!("assertion {l:?} inside a pattern is not supported")),
        HirKind::Repetition(rep) => Hir::repetition(Repetition {
            min: rep.min,
            max: rep.max,
            greedy: true,
            sub: Box::new(encode_hir(&rep.sub)?),
        }),
        HirKind::Capture(cap) => encode_hir(&cap.sub)?,
        HirKind::Concat(items) => Hir::concat(items.iter().map(encode_hir).collect::<Result<_, _>>()?),
        HirKind::Alternation(items) => Hir::alternation(items.iter().map(encode_hir).collect::<Result<_, _>>()?),
    })
}

fn encode_class(cls: &ClassUnicode) -> Hir {
    let mut specials = ClassUnicode::new([
        ClassUnicodeRange::new('\0', '\u{1f}'),
        ClassUnicodeRange::new('"', '"'),
        ClassUnicodeRange::new('\\', '\\'),
    ]);
    specials.intersect(cls);
    if specials.ranges().is_empty() {
        return Hir::class(Class::Unicode(cls.clone()));
    }
    let mut plain = cls.clone();
    plain.difference(&specials);
    let mut alts = Vec::new();
    if !plain.ranges().is_empty() {
        alts.push(Hir::class(Class::Unicode(plain)));
    }
    for r in specials.ranges() {
        for c in r.start()..=r.end() {
            if needs_escape(c as u32) {
                let mut s = String::new();
                encode_char(c, &mut s);
                alts.push(Hir::literal(s.into_bytes()));
            }
        }
    }
    Hir::alternation(alts)
}

/// A branch of a pattern's top-level alternation with its anchors.
struct Branch {
    start: bool,
    end: bool,
    body: Hir,
}

fn is_start(h: &Hir) -> bool {
    matches!(h.kind(), HirKind::Look(Look::Start))
}

fn is_end(h: &Hir) -> bool {
    matches!(h.kind(), HirKind::Look(Look::End))
}

fn branches(h: &Hir, out: &mut Vec<Branch>) {
    match h.kind() {
        HirKind::Alternation(items) => {
            for i in items {
                branches(i, out);
            }
        }
        HirKind::Capture(c) if matches!(c.sub.kind(), HirKind::Alternation(_)) => branches(&c.sub, out),
        HirKind::Look(Look::Start) => out.push(Branch { start: true, end: false, body: Hir::empty() }),
        HirKind::Look(Look::End) => out.push(Branch { start: false, end: true, body: Hir::empty() }),
        HirKind::Concat(items) => {
            let mut items: &[Hir] = items;
            let start = items.first().is_some_and(is_start);
            if start {
                items = &items[1..];
            }
            let end = items.last().is_some_and(is_end);
            if end {
                items = &items[..items.len() - 1];
            }
            // `^(a|b)$` style: anchors around one alternation distribute over it.
            if let [only] = items {
                let inner = match only.kind() {
                    HirKind::Capture(c) => &*c.sub,
                    _ => only,
                };
                if (start || end) && matches!(inner.kind(), HirKind::Alternation(_)) {
                    let mut sub = Vec::new();
                    branches(inner, &mut sub);
                    for b in sub {
                        out.push(Branch { start: start || b.start, end: end || b.end, body: b.body });
                    }
                    return;
                }
            }
            out.push(Branch { start, end, body: Hir::concat(items.to_vec()) });
        }
        _ => out.push(Branch { start: false, end: false, body: h.clone() }),
    }
}

/// The body of a string matching the ECMA-262 `pattern` (search semantics:
/// unanchored unless the pattern anchors itself).
pub fn pattern_body(pattern: &str) -> Result<Hir, String> {
    let translated = super::ecma::translate(pattern)?;
    let hir = parse(&translated)?;
    let mut bs = Vec::new();
    branches(&hir, &mut bs);
    let free = any_body();
    // Branches with the same anchors share their free text: `x*(a|b)x*`
    // rather than `x*ax*|x*bx*`, whose automaton tracks every branch's
    // progress separately (`^list|date|time|...|number$`, ten words, was
    // 24,583 states instead of about a hundred).
    let mut groups: Vec<((bool, bool), Vec<Hir>)> = Vec::new();
    for b in bs {
        let mut body = b.body;
        if !b.end {
            body = least_repetition(body, true);
        }
        if !b.start {
            body = least_repetition(body, false);
        }
        let body = encode_hir(&body)?;
        match groups.iter_mut().find(|(anchors, _)| *anchors == (b.start, b.end)) {
            Some((_, bodies)) => bodies.push(body),
            None => groups.push(((b.start, b.end), vec![body])),
        }
    }
    let mut alts = Vec::new();
    for ((start, end), bodies) in groups {
        let mut parts = Vec::new();
        if !start {
            parts.push(free.clone());
        }
        parts.push(Hir::alternation(bodies));
        if !end {
            parts.push(free.clone());
        }
        alts.push(Hir::concat(parts));
    }
    Ok(Hir::alternation(alts))
}

/// `h` with its last (`at_end`) or first repetition cut to its minimum,
/// for a branch with free text on that side: a string contains
/// `a x{m,n}` exactly when it contains `a x{m}`, the free text taking the
/// rest. `[A-Za-z0-9-_.:]{1,255}` unanchored is "contains one such
/// character", not 255 counted copies (19 ms of automaton for 284 states).
fn least_repetition(h: Hir, at_end: bool) -> Hir {
    match h.kind() {
        HirKind::Repetition(r) if r.min == 0 => Hir::empty(),
        HirKind::Repetition(r) => Hir::repetition(Repetition { max: Some(r.min), ..r.clone() }),
        HirKind::Capture(c) => least_repetition(Hir::clone(&c.sub), at_end),
        HirKind::Concat(xs) => {
            let mut xs = xs.clone();
            let i = if at_end { xs.len().saturating_sub(1) } else { 0 };
            if let Some(x) = xs.get_mut(i) {
                *x = least_repetition(std::mem::replace(x, Hir::empty()), at_end);
            }
            Hir::concat(xs)
        }
        HirKind::Alternation(xs) => Hir::alternation(xs.iter().map(|x| least_repetition(x.clone(), at_end)).collect()),
        _ => h,
    }
}

/// Regexes (over decoded text) for the enforced `format` values. Each
/// accepts a subset of what a conforming validator accepts.
pub fn format_regex(format: &str) -> Option<String> {
    const DATE: &str = concat!(
        "(?:[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))",
        "|(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)-02-29)"
    );
    const TIME: &str =
        "(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\\.[0-9]{1,9})?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])";
    // Labels of at most 32 characters, at most 7 of them: within the 253
    // characters a hostname may have, whatever the combination.
    const LABEL: &str = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?";
    const OCTET: &str = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])";
    let h16 = "[0-9A-Fa-f]{1,4}";
    Some(match format {
        "date" => DATE.to_string(),
        "time" => TIME.to_string(),
        "date-time" => format!("{DATE}T{TIME}"),
        "duration" => {
            let time = "T(?:[0-9]+H(?:[0-9]+M(?:[0-9]+S)?)?|[0-9]+M(?:[0-9]+S)?|[0-9]+S)";
            let date = "(?:[0-9]+D|[0-9]+M(?:[0-9]+D)?|[0-9]+Y(?:[0-9]+M(?:[0-9]+D)?)?)";
            format!("P(?:{date}(?:{time})?|{time}|[0-9]+W)")
        }
        // A local part of at most 64 characters (two dot-separated atoms).
        "email" | "idn-email" => {
            format!("[A-Za-z0-9_%+-]{{1,32}}(?:\\.[A-Za-z0-9_%+-]{{1,31}})?@{LABEL}(?:\\.{LABEL}){{1,6}}")
        }
        "hostname" | "idn-hostname" => format!("{LABEL}(?:\\.{LABEL}){{0,6}}"),
        // RFC 6570 with ASCII literals and the operators of levels 2 and 3
        // (the reserved ones, `= , ! @ |`, are left out).
        "uri-template" => {
            let pct = "%[0-9A-Fa-f]{2}";
            let literal = format!("(?:[!#$&()*+,./0-9:;=?@A-Z\\[\\]_a-z~-]|{pct})");
            let varchar = format!("(?:[A-Za-z0-9_]|{pct})");
            let varspec = format!("{varchar}(?:\\.?{varchar})*(?::[1-9][0-9]{{0,3}}|\\*)?");
            format!("(?:{literal}|\\{{[+#./;?&]?{varspec}(?:,{varspec})*\\}})*")
        }
        "ipv4" => format!("{OCTET}(?:\\.{OCTET}){{3}}"),
        "ipv6" => {
            let forms = [
                format!("(?:{h16}:){{7}}{h16}"),
                format!("(?:{h16}:){{1,7}}:"),
                format!("(?:{h16}:){{1,6}}:{h16}"),
                format!("(?:{h16}:){{1,5}}(?::{h16}){{1,2}}"),
                format!("(?:{h16}:){{1,4}}(?::{h16}){{1,3}}"),
                format!("(?:{h16}:){{1,3}}(?::{h16}){{1,4}}"),
                format!("(?:{h16}:){{1,2}}(?::{h16}){{1,5}}"),
                format!("{h16}:(?::{h16}){{1,6}}"),
                format!(":(?:(?::{h16}){{1,7}}|:)"),
            ];
            format!("(?:{})", forms.join("|"))
        }
        "uuid" => "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}".to_string(),
        // IRIs, international emails and hostnames: their ASCII subsets.
        "uri" | "iri" | "uri-reference" | "iri-reference" => {
            // RFC 3986, without IP literals: an authority only after `//`
            // (a port is digits), one `?` query, one `#` fragment. Relative
            // references have no colon at all (a first segment must not).
            let pct = "%[0-9A-Fa-f]{2}";
            let sub = "\\-A-Za-z0-9._~!$&'()*+,;=";
            let pchar = format!("(?:[{sub}:@]|{pct})");
            let nc = format!("(?:[{sub}@]|{pct})");
            let query = format!("(?:[{sub}:@/?]|{pct})*");
            let query_nc = format!("(?:[{sub}@/?]|{pct})*");
            let host = format!("(?:[{sub}]|{pct})*");
            let authority = format!("(?:(?:[{sub}:]|{pct})*@)?{host}(?::[0-9]*)?");
            let authority_nc = format!("(?:{host}@)?{host}");
            let path = |p: &str, a: &str| format!("(?://{a}(?:/{p}*)*|/(?:{p}+(?:/{p}*)*)?|{p}+(?:/{p}*)*)?");
            let uri = format!("[A-Za-z][A-Za-z0-9+.-]*:{}(?:\\?{query})?(?:#{query})?", path(&pchar, &authority));
            if format.ends_with("reference") {
                let relative = format!("{}(?:\\?{query_nc})?(?:#{query_nc})?", path(&nc, &authority_nc));
                format!("(?:{uri}|{relative})")
            } else {
                uri
            }
        }
        "json-pointer" => "(?:/(?:[^/~]|~[01])*)*".to_string(),
        "relative-json-pointer" => "(?:0|[1-9][0-9]*)(?:#|(?:/(?:[^/~]|~[01])*)*)".to_string(),
        _ => return None,
    })
}

/// The body of a string in `format` (for the enforced formats).
pub fn format_body(format: &str) -> Option<Result<Hir, String>> {
    format_regex(format).map(|re| parse(&re).and_then(|h| encode_hir(&h)))
}
