//! Keywords by draft. A schema that declares an older draft in its root `$schema` is compiled as
//! that draft's validators read it, not as 2020-12 reads it:
//!
//! - up to draft 7, `$ref` stands alone: the assertions beside it are ignored;
//! - up to draft 6, `if`/`then`/`else` are not keywords (draft 7 added them);
//! - up to draft 4, neither are `const`, `contains` and `propertyNames` (draft 6 added them).
//!
//! Applying them anyway refused valid documents: a draft-4 object whose `if`/`then` would have
//! required a member, a draft-7 `{"$ref": ..., "type": "object"}` whose target allows strings.
//! A schema without `$schema`, or with a later one, is read as 2020-12.

use serde_json::{Map, Value};

use super::is_assertion;

/// The draft a schema declares, as far as the keywords read here differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Draft {
    /// Draft 3 or 4.
    Four,
    /// Draft 6.
    Six,
    /// Draft 7.
    Seven,
    /// 2019-09, 2020-12, or none declared.
    Later,
}

impl Draft {
    /// The draft named by the root's `$schema`.
    pub(crate) fn declared_by(schema: &Value) -> Draft {
        let uri = schema.get("$schema").and_then(Value::as_str).unwrap_or("");
        if uri.contains("draft-03") || uri.contains("draft-04") {
            Draft::Four
        } else if uri.contains("draft-06") {
            Draft::Six
        } else if uri.contains("draft-07") {
            Draft::Seven
        } else {
            Draft::Later
        }
    }
}

/// `schema` without the keywords `draft` does not read; `None` when there are none (always for
/// 2020-12), so that most documents are not copied.
pub(crate) fn as_read_by(schema: &Value, draft: Draft) -> Option<Value> {
    if draft == Draft::Later || !has_ignored(schema, draft) {
        return None;
    }
    let mut doc = schema.clone();
    strip_schema(&mut doc, draft);
    Some(doc)
}

/// Whether `draft` ignores keyword `k` of the schema object `m`.
fn ignored(m: &Map<String, Value>, k: &str, draft: Draft) -> bool {
    (draft <= Draft::Seven && k != "$ref" && m.contains_key("$ref") && is_assertion(k))
        || (draft <= Draft::Six && matches!(k, "if" | "then" | "else"))
        || (draft <= Draft::Four && matches!(k, "const" | "contains" | "propertyNames"))
}

/// Whether a schema object at or below `v` has a keyword `draft` ignores, walking what
/// [`strip_schema`] walks (read only: most documents have none and are not copied).
fn has_ignored(v: &Value, draft: Draft) -> bool {
    match v {
        Value::Object(m) => {
            m.keys().any(|k| ignored(m, k, draft))
                || m.iter().any(|(k, sub)| match sub {
                    _ if holds_data(k) => false,
                    Value::Object(children) if holds_named_schemas(k) => {
                        children.values().any(|c| has_ignored(c, draft))
                    }
                    _ => has_ignored(sub, draft),
                })
        }
        Value::Array(items) => items.iter().any(|c| has_ignored(c, draft)),
        _ => false,
    }
}

/// Keywords whose values are data, never schemas: nothing below them is stripped.
fn holds_data(k: &str) -> bool {
    matches!(k, "enum" | "const" | "default" | "examples" | "example" | "required" | "dependentRequired")
}

/// Keywords whose values map names to schemas (a member named `if` is not the keyword).
fn holds_named_schemas(k: &str) -> bool {
    matches!(k, "properties" | "patternProperties" | "definitions" | "$defs" | "dependentSchemas" | "dependencies")
}

/// Strip the [`ignored`] keywords of one schema object and of everything below it that may be a
/// schema. Values of keywords this does not know are walked as schemas too: a `$ref` may point
/// into any container (`#/components/schemas/X`), and an annotation that is stripped is never
/// compiled anyway.
fn strip_schema(v: &mut Value, draft: Draft) {
    match v {
        Value::Object(m) => {
            let gone: Vec<String> = m.keys().filter(|k| ignored(m, k, draft)).cloned().collect();
            m.retain(|k, _| !gone.contains(k));
            for (k, sub) in m.iter_mut() {
                if holds_data(k) {
                    continue;
                }
                match sub {
                    Value::Object(children) if holds_named_schemas(k) => {
                        children.values_mut().for_each(|c| strip_schema(c, draft));
                    }
                    _ => strip_schema(sub, draft),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|c| strip_schema(c, draft)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn ref_siblings_go_up_to_draft_7_and_stay_after() {
        let s = json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "properties": {"a": {"$ref": "#/definitions/x", "type": "object", "description": "kept"}},
            "definitions": {"x": {"type": ["string", "object"]}}
        });
        let read = as_read_by(&s, Draft::declared_by(&s)).expect("draft 7 strips");
        assert_eq!(read["properties"]["a"], json!({"$ref": "#/definitions/x", "description": "kept"}));
        assert_eq!(read["definitions"], s["definitions"]);
        let later = json!({"$schema": "https://json-schema.org/draft/2020-12/schema", "$ref": "#/$defs/x"});
        assert_eq!(Draft::declared_by(&later), Draft::Later);
        assert!(as_read_by(&later, Draft::Later).is_none());
    }

    #[test]
    fn a_document_with_nothing_to_strip_is_not_copied() {
        let s = json!({
            "$schema": "http://json-schema.org/draft-04/schema#",
            "properties": {"if": {"type": "string"}, "a": {"$ref": "#/definitions/x", "description": "d"}},
            "enum": [{"$ref": "#/x", "type": "string", "if": true}],
            "definitions": {"x": {"type": "integer"}}
        });
        assert!(as_read_by(&s, Draft::Four).is_none());
        let mut t = s.clone();
        t["definitions"]["x"]["const"] = json!(1);
        assert!(as_read_by(&t, Draft::Four).is_some());
        assert!(as_read_by(&t, Draft::Six).is_none());
    }

    #[test]
    fn if_then_else_go_before_draft_7_and_const_before_draft_6() {
        let s = json!({
            "$schema": "http://json-schema.org/draft-04/schema#",
            "properties": {
                "if": {"type": "string", "const": "x"},
                "b": {"items": {"if": {"type": "string"}, "then": {"minLength": 2}, "contains": {}}}
            },
            "enum": [{"if": 1, "const": 2}]
        });
        let read = as_read_by(&s, Draft::Four).expect("draft 4 strips");
        // A property named `if` stays; the keywords inside schemas go; data is untouched.
        assert_eq!(read["properties"]["if"], json!({"type": "string"}));
        assert_eq!(read["properties"]["b"]["items"], json!({}));
        assert_eq!(read["enum"], s["enum"]);
        let six = as_read_by(&s, Draft::Six).expect("draft 6 strips");
        assert_eq!(six["properties"]["if"], json!({"type": "string", "const": "x"}));
        assert_eq!(six["properties"]["b"]["items"], json!({"contains": {}}));
        // Draft 7 reads every keyword here: no copy.
        assert!(as_read_by(&s, Draft::Seven).is_none());
    }
}
