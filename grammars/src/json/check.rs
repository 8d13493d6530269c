//! A small direct validator for single values, used where the compiler must
//! decide a constant at compile time: filtering `enum`/`const` values by the
//! rest of their schema, and testing declared property names against
//! `propertyNames`. Keywords it cannot evaluate are an error, never a guess.

use serde_json::Value;

use super::number_value;
use super::refs::Resolver;

pub fn check(s: &Value, v: &Value, r: &Resolver, base: &str, depth: usize) -> Result<bool, String> {
    if depth > 64 {
        return Err("schema nesting too deep to evaluate".into());
    }
    let m = match s {
        Value::Bool(b) => return Ok(*b),
        Value::Object(m) => m,
        _ => return Err("schema must be an object or a boolean".into()),
    };
    for (k, kv) in m {
        let ok = match k.as_str() {
            "type" => {
                let types: Vec<&str> = match kv {
                    Value::String(t) => vec![t.as_str()],
                    Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                    _ => return Err("bad type".into()),
                };
                types.iter().any(|t| type_matches(t, v))
            }
            "enum" => kv.as_array().is_some_and(|a| a.iter().any(|x| json_eq(x, v))),
            "const" => json_eq(kv, v),
            "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum" => match (number_value(v), kv) {
                (Some(x), Value::Number(b)) => {
                    let b = b.as_f64().ok_or("bad bound")?;
                    match k.as_str() {
                        "minimum" => {
                            if m.get("exclusiveMinimum") == Some(&Value::Bool(true)) {
                                x > b
                            } else {
                                x >= b
                            }
                        }
                        "maximum" => {
                            if m.get("exclusiveMaximum") == Some(&Value::Bool(true)) {
                                x < b
                            } else {
                                x <= b
                            }
                        }
                        "exclusiveMinimum" => x > b,
                        _ => x < b,
                    }
                }
                (_, Value::Bool(_)) => true,
                _ => true,
            },
            "multipleOf" => match (number_value(v), kv.as_f64()) {
                (Some(x), Some(d)) => {
                    let q = x / d;
                    (q - q.round()).abs() < 1e-9
                }
                _ => true,
            },
            "minLength" | "maxLength" | "minItems" | "maxItems" | "minProperties" | "maxProperties" => {
                let n = match (k.as_str(), v) {
                    ("minLength" | "maxLength", Value::String(st)) => Some(st.chars().count()),
                    ("minItems" | "maxItems", Value::Array(a)) => Some(a.len()),
                    ("minProperties" | "maxProperties", Value::Object(o)) => Some(o.len()),
                    _ => None,
                };
                match n {
                    None => true,
                    Some(n) => {
                        let b = kv.as_u64().ok_or("bad count")?;
                        if k.starts_with("min") {
                            n as u64 >= b
                        } else {
                            n as u64 <= b
                        }
                    }
                }
            }
            "pattern" => match v {
                Value::String(st) => {
                    let p = kv.as_str().ok_or("bad pattern")?;
                    super::ecma::is_match(p, st)?
                }
                _ => true,
            },
            "format" => match (v, kv.as_str().and_then(super::string::format_regex)) {
                (Value::String(st), Some(re)) => {
                    let re = regex_automata::meta::Regex::new(&format!("^(?:{re})$")).map_err(|e| e.to_string())?;
                    re.is_match(st.as_str())
                }
                _ => true,
            },
            "properties" => match (v, kv) {
                (Value::Object(o), Value::Object(props)) => {
                    let mut ok = true;
                    for (name, ps) in props {
                        if let Some(x) = o.get(name) {
                            ok &= check(ps, x, r, base, depth + 1)?;
                        }
                    }
                    ok
                }
                _ => true,
            },
            "required" => match (v, kv) {
                (Value::Object(o), Value::Array(req)) => {
                    req.iter().filter_map(Value::as_str).all(|n| o.contains_key(n))
                }
                _ => true,
            },
            "additionalProperties" => match v {
                Value::Object(o) => {
                    if m.contains_key("patternProperties") {
                        return Err("patternProperties in a constant check".into());
                    }
                    let props = m.get("properties").and_then(Value::as_object);
                    let mut ok = true;
                    for (name, x) in o {
                        if props.is_none_or(|p| !p.contains_key(name)) {
                            ok &= check(kv, x, r, base, depth + 1)?;
                        }
                    }
                    ok
                }
                _ => true,
            },
            "items" => match (v, kv) {
                (Value::Array(a), s @ (Value::Object(_) | Value::Bool(_))) => {
                    let mut ok = true;
                    for x in a {
                        ok &= check(s, x, r, base, depth + 1)?;
                    }
                    ok
                }
                (Value::Array(_), _) => return Err("tuple items in a constant check".into()),
                _ => true,
            },
            "uniqueItems" => match v {
                Value::Array(a) if kv == &Value::Bool(true) => {
                    let mut ok = true;
                    for i in 0..a.len() {
                        for j in i + 1..a.len() {
                            ok &= !json_eq(&a[i], &a[j]);
                        }
                    }
                    ok
                }
                _ => true,
            },
            "anyOf" | "oneOf" | "allOf" => {
                let items = kv.as_array().ok_or("composition must be an array")?;
                let mut n = 0;
                for s in items {
                    n += check(s, v, r, base, depth + 1)? as usize;
                }
                match k.as_str() {
                    "anyOf" => n > 0,
                    "oneOf" => n == 1,
                    _ => n == items.len(),
                }
            }
            "not" => !check(kv, v, r, base, depth + 1)?,
            "$ref" => {
                let reference = kv.as_str().ok_or("$ref must be a string")?;
                let (_, b, target) = r.resolve(base, reference)?;
                check(target, v, r, &b, depth + 1)?
            }
            // The compiler's own exclusions (see `Builder::apply_not`).
            "x-sluicegate-not-types" => {
                let types = kv.as_array().ok_or("bad exclusion")?;
                !types.iter().filter_map(Value::as_str).any(|t| type_matches(t, v))
            }
            "x-sluicegate-not-values" => !kv.as_array().ok_or("bad exclusion")?.iter().any(|x| json_eq(x, v)),
            "x-sluicegate-not-patterns" => {
                let mut ok = true;
                for p in kv.as_array().ok_or("bad exclusion")? {
                    let mut single = serde_json::Map::new();
                    single.insert("pattern".into(), p.clone());
                    ok &= !matches!(v, Value::String(_)) || !check(&Value::Object(single), v, r, base, depth + 1)?;
                }
                ok
            }
            "x-sluicegate-oneOf" => {
                let mut ok = true;
                for list in kv.as_array().ok_or("bad oneOf")? {
                    let mut single = serde_json::Map::new();
                    single.insert("oneOf".into(), list.clone());
                    ok &= check(&Value::Object(single), v, r, base, depth + 1)?;
                }
                ok
            }
            k if k.starts_with("x-sluicegate") => return Err(format!("keyword {k} in a constant check")),
            k if super::is_assertion(k) => return Err(format!("keyword {k} in a constant check")),
            _ => true,
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

pub fn type_matches(t: &str, v: &Value) -> bool {
    match (t, v) {
        ("null", Value::Null) | ("boolean", Value::Bool(_)) | ("string", Value::String(_)) => true,
        ("object", Value::Object(_)) | ("array", Value::Array(_)) | ("number", Value::Number(_)) => true,
        ("integer", Value::Number(n)) => n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0),
        _ => false,
    }
}

/// JSON equality (numbers by value).
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}
