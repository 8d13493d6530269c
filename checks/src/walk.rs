//! The differential walk: one path through a compiled constraint, chosen by
//! the fuzzer's bytes, checking at every step that every way of asking the
//! matcher about a token gives the same answer, and checking the finished
//! output against an independent reference.

use std::sync::Arc;

use serde_json::Value;
use sluicegate_core::{CompiledGrammar, MatchError, Matcher};

/// The reference that judges a finished output.
#[derive(Debug, Clone, Copy)]
pub enum Oracle<'a> {
    /// The output is JSON valid against this schema (`jsonschema`, formats asserted).
    Schema(&'a Value),
    /// The output fully matches this pattern (`regex-automata`'s meta engine).
    Regex(&'a str),
}

impl Oracle<'_> {
    /// Panics unless the reference accepts `output`. A schema or pattern the
    /// reference itself cannot compile is not judged.
    pub fn check(&self, output: &[u8]) {
        match self {
            Oracle::Schema(schema) => {
                let Some(validator) = reference_validator(schema) else { return };
                let text = std::str::from_utf8(output)
                    .unwrap_or_else(|e| panic!("accepted output is not UTF-8 ({e}): {output:?}"));
                let value: Value = serde_json::from_str(text)
                    .unwrap_or_else(|e| panic!("accepted output is not JSON ({e}): {text:?}\nschema: {schema}"));
                assert!(
                    reference_valid(&validator, &sorted_keys(&value)),
                    "accepted output fails the schema: {text:?}\nschema: {schema}"
                );
            }
            Oracle::Regex(pattern) => {
                let Ok(re) = regex_automata::meta::Regex::new(&format!(r"\A(?:{pattern})\z")) else { return };
                assert!(re.is_match(output), "accepted output does not match {pattern:?}: {output:?}");
            }
        }
    }
}

/// The reference validator for `schema` (formats asserted, keys sorted), if
/// the `jsonschema` crate can build one. Validate [`sorted_keys`] of a value.
pub fn reference_validator(schema: &Value) -> Option<jsonschema::Validator> {
    jsonschema::options().should_validate_formats(true).build(&ecma_whitespace(&sorted_keys(schema))).ok()
}

/// ECMA-262's `\s` (WhiteSpace and LineTerminator), as the characters themselves.
const ECMA_SPACE: &str =
    "\t\n\u{b}\u{c}\r \u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}\u{feff}";

/// `schema` with `\s` and `\S` in every `pattern` and `patternProperties`
/// name spelled out as ECMA-262 defines them: the `jsonschema` crate (0.33)
/// reads `\s` as a smaller class (no U+3000 ideographic space, among others),
/// so it rejected strings that JSON Schema's regex dialect accepts.
fn ecma_whitespace(schema: &Value) -> Value {
    match schema {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        ("pattern", Value::String(p)) => Value::String(spell_out_space(p)),
                        ("patternProperties", Value::Object(pp)) => Value::Object(
                            pp.iter().map(|(name, sub)| (spell_out_space(name), ecma_whitespace(sub))).collect(),
                        ),
                        _ => ecma_whitespace(v),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(ecma_whitespace).collect()),
        other => other.clone(),
    }
}

/// `\s` → `[...]` (or the bare ranges inside a class), `\S` → `[^...]`
/// (left alone inside a class, where it has no plain spelling).
fn spell_out_space(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut in_class = false;
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('s') if in_class => out.push_str(ECMA_SPACE),
                Some('s') => out.push_str(&format!("[{ECMA_SPACE}]")),
                Some('S') if !in_class => out.push_str(&format!("[^{ECMA_SPACE}]")),
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push('\\'),
            },
            '[' if !in_class => {
                in_class = true;
                out.push(c);
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// Whether `validator` accepts `value`, correcting one known error of the
/// `jsonschema` crate (0.33): it rejects every negative number under a
/// fractional `multipleOf` (`-508` under `0.01`; it tests `value < multiple`
/// before dividing). A failure made only of such `multipleOf` errors is
/// judged again on the number's magnitude, by the crate's own arithmetic.
/// (A failure inside `anyOf`/`oneOf` is reported there, not as `multipleOf`,
/// and is not corrected.)
pub fn reference_valid(validator: &jsonschema::Validator, value: &Value) -> bool {
    if validator.is_valid(value) {
        return true;
    }
    validator.iter_errors(value).all(|e| match (&e.kind, e.instance.as_ref()) {
        (jsonschema::error::ValidationErrorKind::MultipleOf { multiple_of }, Value::Number(n)) => {
            let magnitude = n.as_f64().filter(|x| *x < 0.0).map(|x| -x);
            magnitude.is_some_and(|m| {
                let schema = serde_json::json!({ "multipleOf": multiple_of });
                jsonschema::validator_for(&schema).is_ok_and(|v| v.is_valid(&serde_json::json!(m)))
            })
        }
        _ => false,
    })
}

/// `v` with object members sorted by name: the validator compares objects in
/// `enum`/`const` member by member in map order (`preserve_order`), and key
/// order asserts nothing in JSON (`{"b": 2, "a": 1}` equals `{"a": 1, "b": 2}`).
pub fn sorted_keys(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(keys.into_iter().map(|k| (k.clone(), sorted_keys(&m[k]))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted_keys).collect()),
        other => other.clone(),
    }
}

/// What a step of the walk ran into.
enum Stop {
    /// The configuration limit: a typed refusal, which ends the walk.
    ConfigLimit,
}

/// Turn the matcher's answer into the walk's control flow: the configuration
/// limit ends the walk; any other error is a bug (ids are in range, buffers sized).
fn ok<T>(r: Result<T, MatchError>, what: &str) -> Result<T, Stop> {
    match r {
        Ok(v) => Ok(v),
        Err(MatchError::ConfigLimit { .. }) => Err(Stop::ConfigLimit),
        Err(e) => panic!("{what}: unexpected error {e}"),
    }
}

fn bit(mask: &[u32], t: u32) -> bool {
    mask[(t >> 5) as usize] >> (t & 31) & 1 == 1
}

/// Walk at most `max_steps` tokens through `g`, each chosen by the next byte
/// of `choices` (cycled; a fixed sequence when empty) among the allowed ones,
/// checking the properties of the crate docs at every step. A walk that ends
/// with EOS has its output checked by `oracle`.
pub fn walk(g: &Arc<CompiledGrammar>, choices: &[u8], oracle: &Oracle, max_steps: usize) {
    let _ = try_walk(g, choices, oracle, max_steps);
}

fn try_walk(g: &Arc<CompiledGrammar>, choices: &[u8], oracle: &Oracle, max_steps: usize) -> Result<(), Stop> {
    let vocab = Arc::clone(g.vocab());
    let width = vocab.mask_width() as u32;
    let mut m = g.matcher();
    let mut tokens: Vec<u32> = Vec::new();
    for step in 0..max_steps {
        let mask = ok(m.try_compute_mask_vec(), "compute_mask")?;
        let mut allowed = Vec::new();
        for t in 0..width {
            let bit = bit(&mask, t);
            assert_eq!(ok(m.is_token_allowed(t), "is_token_allowed")?, bit, "token {t} after {tokens:?}");
            let accepting = m.is_accepting();
            if ok(m.try_consume_token(t), "try_consume_token")? {
                assert!(bit, "token {t} consumed but masked out after {tokens:?}");
                ok(m.rollback(1), "rollback")?;
            } else {
                assert!(!bit, "token {t} allowed but refused after {tokens:?}");
            }
            assert_eq!(m.num_steps(), tokens.len(), "a refused or rolled-back token changed the state");
            assert_eq!(m.is_accepting(), accepting);
            if bit {
                allowed.push(t);
            }
        }
        assert_eq!(ok(m.try_compute_mask_vec(), "compute_mask")?, mask, "rollback changed the mask after {tokens:?}");
        let mut fresh = g.matcher();
        ok(fresh.consume_tokens(&tokens), "replay")?;
        assert_eq!(
            ok(fresh.try_compute_mask_vec(), "compute_mask")?,
            mask,
            "a fresh matcher disagrees after {tokens:?}"
        );
        // Every live state can reach acceptance, and every byte is a token here.
        assert!(!allowed.is_empty(), "dead end after {tokens:?}");

        let c = if choices.is_empty() { step as u8 } else { choices[step % choices.len()] };
        let eos = allowed.iter().copied().find(|&t| vocab.is_eos(t));
        let text: Vec<u32> = allowed.iter().copied().filter(|&t| !vocab.is_eos(t)).collect();
        if let Some(eos) = eos {
            if c % 4 == 0 || text.is_empty() {
                ok(m.consume_token(eos), "consume EOS")?;
                oracle.check(&output(&m, &tokens));
                return Ok(());
            }
        }
        let t = text[c as usize % text.len()];
        ok(m.consume_token(t), "consume an allowed token")?;
        tokens.push(t);
        // Now and then, step back and check that the mask is the one seen before.
        if c % 7 == 3 {
            ok(m.rollback(1), "rollback")?;
            tokens.pop();
            assert_eq!(ok(m.try_compute_mask_vec(), "compute_mask")?, mask, "rollback(1) after {tokens:?}");
            ok(m.consume_token(t), "consume again")?;
            tokens.push(t);
        }
    }
    Ok(())
}

fn output(m: &Matcher, tokens: &[u32]) -> Vec<u8> {
    let vocab = m.grammar().vocab();
    tokens.iter().flat_map(|&t| vocab.token_bytes(t).to_vec()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_reads_ecma_whitespace() {
        assert_eq!(spell_out_space(r"a\sb"), format!("a[{ECMA_SPACE}]b"));
        assert_eq!(spell_out_space(r"[\s\d]\S\\s"), format!("[{ECMA_SPACE}\\d][^{ECMA_SPACE}]\\\\s"));
        let schema = serde_json::json!({"type": "string", "pattern": r"^\s*ok\s*$"});
        let v = reference_validator(&schema).expect("validator");
        assert!(reference_valid(&v, &serde_json::json!("\u{3000}ok\u{a0}")));
        assert!(!reference_valid(&v, &serde_json::json!("\u{3000}not ok")));
        let names = serde_json::json!({"type": "object", "patternProperties": {r"^\S+$": {"type": "integer"}}});
        let v = reference_validator(&names).expect("validator");
        assert!(reference_valid(&v, &serde_json::json!({"a": 1})));
        assert!(!reference_valid(&v, &serde_json::json!({"a": "x"})));
    }
}
