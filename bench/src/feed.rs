//! Force-feeding instances through a matcher, as the published MaskBench
//! method does: serialise like Python's `json.dumps` (separators `", "` and
//! `": "`, non-ASCII kept, key order kept), tokenize with the real
//! tokenizer, and for every token compute the full mask, check the token's
//! bit, and consume it.

use std::io::Read;
use std::time::{Duration, Instant};

use serde_json::Value;
use sluicegate_core::Matcher;

/// `json.dumps(value, ensure_ascii=False)`.
pub fn python_dumps(v: &Value) -> String {
    let mut out = String::new();
    write_value(v, None, 0, &mut out);
    out
}

/// `json.dumps(value, ensure_ascii=False, indent=width)`: every item and
/// every closing bracket of a non-empty container on its own line, `","`
/// at line ends, `": "` after names, `[]` and `{}` when empty.
pub fn python_dumps_indent(v: &Value, width: usize) -> String {
    let mut out = String::new();
    write_value(v, Some(width), 0, &mut out);
    out
}

/// Writes `v` at nesting `level`; `indent`: `None` for one line.
fn write_value(v: &Value, indent: Option<usize>, level: usize, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if n.is_i64() || n.is_u64() {
                out.push_str(&n.to_string());
            } else {
                out.push_str(&python_float(n.as_f64().unwrap_or(f64::NAN)));
            }
        }
        Value::String(s) => out.push_str(&serde_json::to_string(s).expect("string")),
        Value::Array(a) => write_items(('[', ']'), a.iter().map(|x| (None, x)), a.is_empty(), indent, level, out),
        Value::Object(o) => {
            write_items(('{', '}'), o.iter().map(|(k, x)| (Some(k), x)), o.is_empty(), indent, level, out)
        }
    }
}

/// A container's items (with their names, in an object) between brackets.
fn write_items<'a>(
    (open, close): (char, char),
    items: impl Iterator<Item = (Option<&'a String>, &'a Value)>,
    empty: bool,
    indent: Option<usize>,
    level: usize,
    out: &mut String,
) {
    let newline = |out: &mut String, level: usize| {
        if let Some(w) = indent {
            out.push('\n');
            out.push_str(&" ".repeat(w * level));
        }
    };
    out.push(open);
    for (i, (name, x)) in items.enumerate() {
        if i > 0 {
            out.push_str(if indent.is_some() { "," } else { ", " });
        }
        newline(out, level + 1);
        if let Some(k) = name {
            out.push_str(&serde_json::to_string(k).expect("string"));
            out.push_str(": ");
        }
        write_value(x, indent, level + 1, out);
    }
    if !empty {
        newline(out, level);
    }
    out.push(close);
}

/// Python's `repr(float)`: shortest round-trip digits, fixed notation for
/// exponents in `-4..16`, otherwise `d.ddde+XX`.
pub fn python_float(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    let sci = format!("{x:e}"); // e.g. "-1.2345e-5"
    let (mant, exp) = sci.split_once('e').expect("exponent");
    let exp: i32 = exp.parse().expect("int");
    let (sign, mant) = match mant.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mant),
    };
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    if (-4..16).contains(&exp) {
        let point = exp + 1; // digits before the decimal point
        let s = if point <= 0 {
            format!("0.{}{}", "0".repeat((-point) as usize), digits)
        } else if point as usize >= digits.len() {
            format!("{}{}.0", digits, "0".repeat(point as usize - digits.len()))
        } else {
            format!("{}.{}", &digits[..point as usize], &digits[point as usize..])
        };
        format!("{sign}{s}")
    } else {
        let m = if digits.len() > 1 { format!("{}.{}", &digits[..1], &digits[1..]) } else { digits };
        format!("{sign}{m}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
    }
}

/// Load a HF tokenizer (plain or gzip) for encoding instances.
pub fn hf_tokenizer(path: &str) -> Result<tokenizers::Tokenizer, String> {
    let raw = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    let json = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..]).read_to_end(&mut out).map_err(|e| format!("{path}: {e}"))?;
        out
    } else {
        raw
    };
    tokenizers::Tokenizer::from_bytes(json).map_err(|e| format!("{path}: {e}"))
}

/// What happened when an instance was fed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fed {
    /// Every token was allowed.
    Accepted {
        /// Whether the output was complete at the end.
        accepting: bool,
    },
    /// A token was masked out.
    Rejected {
        /// Its index.
        at: usize,
    },
    /// The mask and `consume_token` disagreed (an engine bug).
    Inconsistent {
        /// The token index.
        at: usize,
    },
}

/// Feed `tokens`, timing each mask. Stops early when `deadline` passes.
pub fn feed(
    m: &mut Matcher,
    tokens: &[u32],
    mask: &mut [u32],
    times: &mut Vec<Duration>,
    deadline: Instant,
) -> Result<Fed, String> {
    for (i, &t) in tokens.iter().enumerate() {
        if Instant::now() > deadline {
            return Err("timeout".into());
        }
        let start = Instant::now();
        m.compute_mask(mask).map_err(|e| e.to_string())?;
        times.push(start.elapsed());
        let bit = mask[(t >> 5) as usize] >> (t & 31) & 1 == 1;
        let consumed = m.try_consume_token(t).map_err(|e| e.to_string())?;
        if bit != consumed {
            return Ok(Fed::Inconsistent { at: i });
        }
        if !consumed {
            return Ok(Fed::Rejected { at: i });
        }
    }
    Ok(Fed::Accepted { accepting: m.is_accepting() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_like_python() {
        for (x, s) in [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (1e-5, "1e-05"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (123.456, "123.456"),
            (-0.0001, "-0.0001"),
            (2.5e-7, "2.5e-07"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
        ] {
            assert_eq!(python_float(x), s);
        }
        let v: Value = serde_json::from_str(r#"{"a": [1, 2.5, "é\n"], "b": {}}"#).unwrap();
        assert_eq!(python_dumps(&v), r#"{"a": [1, 2.5, "é\n"], "b": {}}"#);
    }

    #[test]
    fn indent_like_python() {
        let v: Value =
            serde_json::from_str(r#"{"a": [1, 2.5, "é\n", [], {}], "b": {"c": [[true]], "d": null}}"#).unwrap();
        // Both strings printed by Python 3: json.dumps(v, ensure_ascii=False, indent=2) and indent=0.
        let two = "{\n  \"a\": [\n    1,\n    2.5,\n    \"é\\n\",\n    [],\n    {}\n  ],\n  \"b\": {\n    \"c\": [\n      [\n        true\n      ]\n    ],\n    \"d\": null\n  }\n}";
        let zero =
            "{\n\"a\": [\n1,\n2.5,\n\"é\\n\",\n[],\n{}\n],\n\"b\": {\n\"c\": [\n[\ntrue\n]\n],\n\"d\": null\n}\n}";
        assert_eq!(python_dumps_indent(&v, 2), two);
        assert_eq!(python_dumps_indent(&v, 0), zero);
        assert_eq!(python_dumps_indent(&v, 2), serde_json::to_string_pretty(&v).unwrap());
    }
}
