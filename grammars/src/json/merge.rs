//! `allOf` as a true intersection: two schema objects are merged keyword by
//! keyword into one that accepts exactly the values both accept. A pair of
//! keywords whose intersection has no schema form here is an error.

use serde_json::{Map, Value};

use super::check::json_eq;

const TYPES: &[&str] = &["null", "boolean", "object", "array", "number", "string", "integer"];

/// The normal form used by the merger and the compiler: `const` becomes a
/// one-value `enum`, `then`/`else` without `if` are dropped, draft-4 boolean
/// `exclusiveMinimum`/`exclusiveMaximum` become numeric ones.
pub fn normalize(mut m: Map<String, Value>) -> Map<String, Value> {
    // `then`/`else` without `if` assert nothing; dropped, so that merging
    // never pairs them with another schema's `if`.
    if !m.contains_key("if") {
        m.remove("then");
        m.remove("else");
    }
    if let Some(c) = m.remove("const") {
        let merged = match m.remove("enum") {
            Some(Value::Array(vals)) => vals.into_iter().filter(|v| json_eq(v, &c)).collect(),
            _ => vec![c],
        };
        m.insert("enum".into(), Value::Array(merged));
    }
    for (flag, bound) in [("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")] {
        match m.get(flag) {
            Some(Value::Bool(true)) => {
                m.remove(flag);
                if let Some(b) = m.remove(bound) {
                    m.insert(flag.into(), b);
                }
            }
            Some(Value::Bool(false)) => {
                m.remove(flag);
            }
            _ => {}
        }
    }
    m
}

fn type_set(v: Option<&Value>) -> Option<Vec<String>> {
    match v? {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(a) => Some(a.iter().filter_map(Value::as_str).map(String::from).collect()),
        _ => None,
    }
}

fn intersect_types(a: &[String], b: &[String]) -> Vec<String> {
    let has = |set: &[String], t: &str| set.iter().any(|x| x == t);
    let mut out = Vec::new();
    for t in TYPES {
        let in_a = has(a, t) || (*t == "integer" && has(a, "number"));
        let in_b = has(b, t) || (*t == "integer" && has(b, "number"));
        if in_a && in_b && !(*t == "integer" && out.iter().any(|x: &String| x == "number")) {
            out.push(t.to_string());
        }
    }
    out
}

fn all_of(a: Value, b: Value) -> Value {
    if a == Value::Bool(true) || a == b {
        return b;
    }
    if b == Value::Bool(true) {
        return a;
    }
    serde_json::json!({ "allOf": [a, b] })
}

/// Property-name patterns of a schema that apply to `name`.
fn matching_patterns(m: &Map<String, Value>, name: &str) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    if let Some(Value::Object(pp)) = m.get("patternProperties") {
        for (p, s) in pp {
            if super::ecma::is_match(p, name)? {
                out.push(s.clone());
            }
        }
    }
    Ok(out)
}

/// What schema `m` applies to a property `name` it does not declare.
fn undeclared_schema(m: &Map<String, Value>, name: &str) -> Result<Value, String> {
    let pats = matching_patterns(m, name)?;
    if !pats.is_empty() {
        return Ok(pats.into_iter().fold(Value::Bool(true), all_of));
    }
    Ok(m.get("additionalProperties").cloned().unwrap_or(Value::Bool(true)))
}

/// Turn `unevaluatedProperties`/`unevaluatedItems` into their `additional`
/// counterparts once a schema object has absorbed every in-place applicator
/// (`$ref`, `allOf`): the properties and items it declares are exactly the
/// evaluated ones, and an `additional*` keyword evaluates everything else.
pub fn resolve_unevaluated(mut m: Map<String, Value>) -> Result<Map<String, Value>, String> {
    if let Some(u) = m.remove("unevaluatedProperties") {
        if m.contains_key("dependentSchemas") || m.contains_key("if") || m.contains_key("not") {
            return Err("unevaluatedProperties with dependentSchemas, if or not is not supported".into());
        }
        match m.get("additionalProperties") {
            Some(_) => {}
            None => {
                m.insert("additionalProperties".into(), u);
            }
        }
    }
    if let Some(u) = m.remove("unevaluatedItems") {
        if m.contains_key("contains") || m.contains_key("if") || m.contains_key("not") {
            return Err("unevaluatedItems with contains, if or not is not supported".into());
        }
        let items_all = match m.get("items") {
            Some(Value::Array(_)) => m.contains_key("additionalItems"),
            Some(_) => true,
            None => false,
        };
        if !items_all {
            if matches!(m.get("items"), Some(Value::Array(_))) {
                m.insert("additionalItems".into(), u);
            } else {
                m.insert("items".into(), u);
            }
        }
    }
    Ok(m)
}

/// Merge two normalised schema objects.
pub fn merge(a: Map<String, Value>, b: Map<String, Value>) -> Result<Map<String, Value>, String> {
    // A side's own unevaluated* were resolved into additional* when it was
    // flattened (see `resolve_unevaluated`); any left here belong to the
    // outer schema and are resolved after all parts are merged.
    // `items` without `prefixItems` applies to every element, so it must
    // meet the other side's positional items too.
    let a2 = spread_items(a.clone(), &b);
    let mut b = spread_items(b, &a);
    let a = a2;
    // A second `oneOf` or `if` waits in a list; the compiler applies them
    // one after the other.
    if a.contains_key("oneOf") && b.contains_key("oneOf") {
        let one = b.remove("oneOf").expect("present");
        push_pending(&mut b, "x-sluicegate-oneOf", one);
    }
    if a.contains_key("if") && b.contains_key("if") {
        let mut triple = Map::new();
        for k in ["if", "then", "else"] {
            if let Some(v) = b.remove(k) {
                triple.insert(k.into(), v);
            }
        }
        push_pending(&mut b, "x-sluicegate-if", Value::Object(triple));
    }
    let mut out = Map::new();
    // Properties, with each side's additional/pattern schemas applied to the other's names.
    let pa = a.get("properties").and_then(Value::as_object).cloned().unwrap_or_default();
    let pb = b.get("properties").and_then(Value::as_object).cloned().unwrap_or_default();
    if !pa.is_empty() || !pb.is_empty() {
        let mut props = Map::new();
        for (k, v) in &pa {
            let other = match pb.get(k) {
                Some(w) => w.clone(),
                None => undeclared_schema(&b, k)?,
            };
            props.insert(k.clone(), all_of(v.clone(), other));
        }
        for (k, v) in &pb {
            if !pa.contains_key(k) {
                props.insert(k.clone(), all_of(undeclared_schema(&a, k)?, v.clone()));
            }
        }
        out.insert("properties".into(), Value::Object(props));
    }
    let keys: Vec<String> = a.keys().chain(b.keys()).cloned().collect();
    for k in keys {
        if out.contains_key(&k) {
            continue;
        }
        let (va, vb) = (a.get(&k), b.get(&k));
        let merged = match (va, vb) {
            (Some(v), None) | (None, Some(v)) => v.clone(),
            (Some(x), Some(y)) => merge_keyword(&k, x, y)?,
            (None, None) => continue,
        };
        out.insert(k, merged);
    }
    Ok(out)
}

fn push_pending(m: &mut Map<String, Value>, key: &str, v: Value) {
    let mut list = m.remove(key).and_then(|l| l.as_array().cloned()).unwrap_or_default();
    list.push(v);
    m.insert(key.into(), Value::Array(list));
}

/// The next pending `oneOf` list or `if` triple (see [`merge`]), moved into
/// place once the previous one has been taken out of `m`.
pub fn next_pending(m: &mut Map<String, Value>, key: &str) -> Option<Value> {
    let mut list = m.remove(key)?.as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        return None;
    }
    let next = list.remove(0);
    if !list.is_empty() {
        m.insert(key.into(), Value::Array(list));
    }
    Some(next)
}

/// When `other` has positional items and `m` does not, restate `m`'s
/// `items` as positional items plus the same `items` for the rest.
/// Positional items shorter than the other side's are extended the same way,
/// with this side's `items` (or `true`) at the missing positions.
fn spread_items(mut m: Map<String, Value>, other: &Map<String, Value>) -> Map<String, Value> {
    let other_prefix = other.get("prefixItems").and_then(Value::as_array).map(Vec::len);
    let rest = match m.get("items") {
        Some(Value::Array(_)) => None,
        Some(i) => Some(i.clone()),
        None => Some(Value::Bool(true)),
    };
    match (other_prefix, m.get("prefixItems").and_then(Value::as_array).cloned(), rest) {
        (Some(n), None, Some(items)) if m.contains_key("items") => {
            m.insert("prefixItems".into(), Value::Array(vec![items; n]));
        }
        (Some(n), Some(mut own), Some(items)) if own.len() < n => {
            own.resize(n, items);
            m.insert("prefixItems".into(), Value::Array(own));
        }
        _ => {}
    }
    m
}

fn num(v: &Value) -> Option<f64> {
    v.as_f64()
}

fn merge_keyword(k: &str, x: &Value, y: &Value) -> Result<Value, String> {
    if json_eq(x, y) && k != "anyOf" && k != "oneOf" {
        return Ok(x.clone());
    }
    Ok(match k {
        "type" => {
            let (ta, tb) = (type_set(Some(x)).ok_or("bad type")?, type_set(Some(y)).ok_or("bad type")?);
            Value::Array(intersect_types(&ta, &tb).into_iter().map(Value::String).collect())
        }
        "enum" => {
            let (ea, eb) = (x.as_array().ok_or("bad enum")?, y.as_array().ok_or("bad enum")?);
            Value::Array(ea.iter().filter(|v| eb.iter().any(|w| json_eq(v, w))).cloned().collect())
        }
        "required" => {
            let mut r: Vec<Value> = x.as_array().cloned().unwrap_or_default();
            for v in y.as_array().cloned().unwrap_or_default() {
                if !r.contains(&v) {
                    r.push(v);
                }
            }
            Value::Array(r)
        }
        "minimum" | "exclusiveMinimum" | "minLength" | "minItems" | "minProperties" | "minContains" => {
            if num(x) >= num(y) {
                x.clone()
            } else {
                y.clone()
            }
        }
        "maximum" | "exclusiveMaximum" | "maxLength" | "maxItems" | "maxProperties" | "maxContains" => {
            if num(x) <= num(y) {
                x.clone()
            } else {
                y.clone()
            }
        }
        "pattern" => {
            let mut ps = Vec::new();
            for v in [x, y] {
                match v {
                    Value::Array(a) => ps.extend(a.iter().cloned()),
                    other => ps.push(other.clone()),
                }
            }
            Value::Array(ps)
        }
        "multipleOf" => {
            let (a, b) = (num(x).ok_or("bad multipleOf")?, num(y).ok_or("bad multipleOf")?);
            let ratio = a.max(b) / a.min(b);
            if (ratio - ratio.round()).abs() < 1e-9 {
                serde_json::json!(a.max(b))
            } else if a.fract() == 0.0 && b.fract() == 0.0 {
                let (mut p, mut q) = (a as u64, b as u64);
                while q != 0 {
                    (p, q) = (q, p % q);
                }
                serde_json::json!((a as u64) / p * (b as u64))
            } else {
                return Err(format!("multipleOf {a} and {b} cannot be combined"));
            }
        }
        "items"
        | "additionalProperties"
        | "additionalItems"
        | "propertyNames"
        | "unevaluatedProperties"
        | "unevaluatedItems" => {
            if x.is_array() || y.is_array() {
                return Err(format!("two tuple-form {k} cannot be combined"));
            }
            all_of(x.clone(), y.clone())
        }
        "patternProperties" | "dependentSchemas" => {
            let mut m = x.as_object().cloned().unwrap_or_default();
            for (p, s) in y.as_object().cloned().unwrap_or_default() {
                let v = match m.remove(&p) {
                    Some(old) => all_of(old, s),
                    None => s,
                };
                m.insert(p, v);
            }
            Value::Object(m)
        }
        "dependentRequired" => {
            let mut m = x.as_object().cloned().unwrap_or_default();
            for (p, s) in y.as_object().cloned().unwrap_or_default() {
                let mut list = m.remove(&p).and_then(|v| v.as_array().cloned()).unwrap_or_default();
                list.extend(s.as_array().cloned().unwrap_or_default());
                m.insert(p, Value::Array(list));
            }
            Value::Object(m)
        }
        // Internal exclusions (see `Builder::apply_not`) and pending
        // applicators: both apply.
        "x-sluicegate-not-types"
        | "x-sluicegate-not-values"
        | "x-sluicegate-not-patterns"
        | "x-sluicegate-oneOf"
        | "x-sluicegate-if" => {
            let mut all = x.as_array().cloned().unwrap_or_default();
            all.extend(y.as_array().cloned().unwrap_or_default());
            Value::Array(all)
        }
        "uniqueItems" => Value::Bool(x == &Value::Bool(true) || y == &Value::Bool(true)),
        // not A and not B = not (A or B)
        "not" => serde_json::json!({ "anyOf": [x, y] }),
        "anyOf" => {
            let (xa, ya) = (x.as_array().ok_or("bad anyOf")?, y.as_array().ok_or("bad anyOf")?);
            if xa.len() * ya.len() > 64 {
                return Err("two anyOf lists too large to combine".into());
            }
            let mut branches = Vec::new();
            for p in xa {
                for q in ya {
                    branches.push(serde_json::json!({ "allOf": [p, q] }));
                }
            }
            Value::Array(branches)
        }
        "format" => return Err(format!("formats {x} and {y} cannot be combined")),
        "prefixItems" => {
            let (xa, ya) = (x.as_array().ok_or("bad prefixItems")?, y.as_array().ok_or("bad prefixItems")?);
            let n = xa.len().max(ya.len());
            let mut items = Vec::new();
            for i in 0..n {
                match (xa.get(i), ya.get(i)) {
                    (Some(p), Some(q)) => items.push(all_of(p.clone(), q.clone())),
                    _ => return Err("prefixItems of different lengths cannot be combined".into()),
                }
            }
            Value::Array(items)
        }
        "oneOf" | "if" | "then" | "else" | "contains" | "dependencies" => {
            return Err(format!("two {k} keywords cannot be combined"))
        }
        // Annotations and unknown keywords: keep one, they assert nothing.
        _ => x.clone(),
    })
}
