//! Negation of a schema as a schema: `not`, the `else` side of `if`, the
//! "no other branch" side of an overlapping `oneOf`, and the items that do not
//! count for `maxContains` all need the values a schema rejects.
//!
//! A schema holds when every one of its assertions holds, so its complement
//! is the union of "this assertion fails", one branch per assertion. Each
//! branch is written with keywords the compiler enforces exactly (a bound
//! flipped, a length flipped, a property present with a negated value, ...);
//! an assertion whose failure has no such form is an error, never dropped.
//! A keyword that applies to one JSON type fails only on values of that type,
//! so every branch carries its type.

use serde_json::{json, Map, Value};
use sluicegate_core::CompileError;

use super::{err, is_assertion, merge, Builder};

/// Most branches a negation may produce before it is refused (each branch is
/// merged with its siblings and compiled on its own).
const MAX_BRANCHES: usize = 64;

/// The schema accepting exactly what every branch of `branches` accepts...
/// as a union: `false` for none, the branch itself for one.
pub(super) fn any_of(mut branches: Vec<Value>) -> Value {
    match branches.len() {
        0 => Value::Bool(false),
        1 => branches.pop().expect("one"),
        _ => json!({ "anyOf": branches }),
    }
}

impl Builder<'_> {
    /// A schema accepting exactly the values `s` rejects.
    pub(super) fn negate(&mut self, s: &Value, ptr: &str, base: &str, depth: usize) -> Result<Value, CompileError> {
        if depth > 16 {
            return Err(err(ptr, "not", "negation nested too deeply"));
        }
        let m = match s {
            Value::Bool(b) => return Ok(Value::Bool(!b)),
            Value::Object(_) => self.flatten(s, ptr, base, 0)?,
            _ => return Err(err(ptr, "not", "must be a schema")),
        };
        let branches = self.negate_map(m, ptr, base, depth)?;
        if branches.len() > MAX_BRANCHES {
            return Err(err(ptr, "not", "the negation of this schema has too many cases"));
        }
        Ok(any_of(branches))
    }

    /// The union branches of the complement of a flattened schema object.
    fn negate_map(
        &mut self,
        m: Map<String, Value>,
        ptr: &str,
        base: &str,
        depth: usize,
    ) -> Result<Vec<Value>, CompileError> {
        let m = merge::normalize(m);
        let unsupported = |k: &str, why: &str| err(ptr, "not", format!("the negation of {k} {why}"));
        let mut out: Vec<Value> = Vec::new();
        let typed = |t: &str, mut v: Value| -> Value {
            v["type"] = json!(t);
            v
        };
        for (k, v) in &m {
            if k.starts_with("x-sluicegate") {
                return Err(unsupported(k, "is not supported"));
            }
            if !is_assertion(k) {
                continue;
            }
            match k.as_str() {
                "type" => out.push(json!({ "not": { "type": v } })),
                // Values outside the list (apply_not decides which constants
                // can be excluded exactly).
                "enum" => out.push(json!({ "not": { "enum": v } })),
                "minimum" => out.push(json!({ "type": "number", "exclusiveMaximum": v })),
                "exclusiveMinimum" => out.push(json!({ "type": "number", "maximum": v })),
                "maximum" => out.push(json!({ "type": "number", "exclusiveMinimum": v })),
                "exclusiveMaximum" => out.push(json!({ "type": "number", "minimum": v })),
                "multipleOf" => {
                    if v.as_f64() == Some(1.0) {
                        out.push(json!({ "type": "number", "not": { "type": "integer" } }));
                    } else {
                        return Err(unsupported(k, "is only supported for multipleOf 1"));
                    }
                }
                "minLength" | "minItems" | "minProperties" => {
                    let n = super::count(&m, k, ptr)?.unwrap_or(0);
                    if n > 0 {
                        let (t, max) = match k.as_str() {
                            "minLength" => ("string", "maxLength"),
                            "minItems" => ("array", "maxItems"),
                            _ => ("object", "maxProperties"),
                        };
                        out.push(json!({ "type": t, max: n - 1 }));
                    }
                }
                "maxLength" | "maxItems" | "maxProperties" => {
                    let n = super::count(&m, k, ptr)?.unwrap_or(0);
                    let (t, min) = match k.as_str() {
                        "maxLength" => ("string", "minLength"),
                        "maxItems" => ("array", "minItems"),
                        _ => ("object", "minProperties"),
                    };
                    out.push(json!({ "type": t, min: n + 1 }));
                }
                "pattern" => {
                    let ps = match v {
                        Value::Array(a) => a.clone(),
                        p => vec![p.clone()],
                    };
                    for p in ps {
                        out.push(json!({ "not": { "pattern": p } }));
                    }
                }
                "required" => {
                    for name in v.as_array().into_iter().flatten() {
                        let name = name.as_str().ok_or_else(|| err(ptr, "required", "names must be strings"))?;
                        out.push(json!({ "type": "object", "properties": { name: false } }));
                    }
                }
                "properties" => {
                    for (name, ps) in v.as_object().into_iter().flatten() {
                        if ps == &Value::Bool(true) {
                            continue;
                        }
                        let pp = format!("{ptr}/properties/{}", name.replace('~', "~0").replace('/', "~1"));
                        let bad = self.negate(ps, &pp, base, depth + 1)?;
                        if bad != Value::Bool(false) {
                            out.push(json!({ "type": "object", "required": [name], "properties": { name: bad } }));
                        }
                    }
                }
                "additionalProperties" | "patternProperties" | "propertyNames" => {
                    let trivial = match v {
                        Value::Bool(true) => true,
                        Value::Object(o) if k == "patternProperties" => o.values().all(|s| s == &Value::Bool(true)),
                        Value::Object(o) => o.keys().all(|k| !is_assertion(k)),
                        _ => false,
                    };
                    if !trivial {
                        return Err(unsupported(k, "is not supported"));
                    }
                }
                "dependentRequired" => {
                    for (name, list) in v.as_object().into_iter().flatten() {
                        for d in list.as_array().into_iter().flatten() {
                            let d = d.as_str().ok_or_else(|| err(ptr, k, "names must be strings"))?;
                            out.push(json!({ "type": "object", "required": [name], "properties": { d: false } }));
                        }
                    }
                }
                "dependentSchemas" => {
                    for (name, ds) in v.as_object().into_iter().flatten() {
                        let bad = self.negate(ds, &format!("{ptr}/dependentSchemas/{name}"), base, depth + 1)?;
                        if bad != Value::Bool(false) {
                            out.push(json!({ "allOf": [{ "type": "object", "required": [name] }, bad] }));
                        }
                    }
                }
                "items" => {
                    if m.contains_key("prefixItems") || v.is_array() {
                        if v != &Value::Bool(true) {
                            return Err(unsupported(k, "beside positional items is not supported"));
                        }
                        continue;
                    }
                    let bad = self.negate(v, &format!("{ptr}/items"), base, depth + 1)?;
                    if bad != Value::Bool(false) {
                        out.push(json!({ "type": "array", "contains": bad }));
                    }
                }
                "prefixItems" => {
                    for (i, p) in v.as_array().into_iter().flatten().enumerate() {
                        let bad = self.negate(p, &format!("{ptr}/prefixItems/{i}"), base, depth + 1)?;
                        if bad != Value::Bool(false) {
                            let mut prefix = vec![Value::Bool(true); i];
                            prefix.push(bad);
                            out.push(json!({ "type": "array", "minItems": i + 1, "prefixItems": prefix }));
                        }
                    }
                }
                "contains" => {
                    let counted = m.contains_key("minContains") || m.contains_key("maxContains");
                    if counted {
                        return Err(unsupported(k, "with minContains or maxContains is not supported"));
                    }
                    let bad = self.negate(v, &format!("{ptr}/contains"), base, depth + 1)?;
                    out.push(typed("array", json!({ "items": bad })));
                }
                "minContains" | "maxContains" => {}
                "uniqueItems" => {
                    if v == &Value::Bool(true) {
                        return Err(unsupported(k, "is not supported"));
                    }
                }
                "not" => {
                    // not (not N) = N
                    out.push(v.clone());
                }
                "anyOf" => {
                    let items = v.as_array().ok_or_else(|| err(ptr, "anyOf", "must be an array"))?;
                    let mut all = Vec::new();
                    for (i, item) in items.iter().enumerate() {
                        all.push(self.negate(item, &format!("{ptr}/anyOf/{i}"), base, depth + 1)?);
                    }
                    out.push(json!({ "allOf": all }));
                }
                "oneOf" => {
                    // Not exactly one: none, or two at once.
                    let items = v.as_array().ok_or_else(|| err(ptr, "oneOf", "must be an array"))?;
                    let mut all = Vec::new();
                    for (i, item) in items.iter().enumerate() {
                        all.push(self.negate(item, &format!("{ptr}/oneOf/{i}"), base, depth + 1)?);
                    }
                    out.push(json!({ "allOf": all }));
                    for i in 0..items.len() {
                        for j in i + 1..items.len() {
                            out.push(json!({ "allOf": [items[i], items[j]] }));
                        }
                    }
                }
                "if" if !m.contains_key("then") && !m.contains_key("else") => {}
                "if" => {
                    let then = m.get("then").cloned().unwrap_or(Value::Bool(true));
                    let otherwise = m.get("else").cloned().unwrap_or(Value::Bool(true));
                    let bad_then = self.negate(&then, &format!("{ptr}/then"), base, depth + 1)?;
                    let bad_else = self.negate(&otherwise, &format!("{ptr}/else"), base, depth + 1)?;
                    let bad_if = self.negate(v, &format!("{ptr}/if"), base, depth + 1)?;
                    out.push(json!({ "allOf": [v, bad_then] }));
                    out.push(json!({ "allOf": [bad_if, bad_else] }));
                }
                "then" | "else" => {}
                _ => return Err(unsupported(k, "is not supported")),
            }
        }
        Ok(out)
    }
}
