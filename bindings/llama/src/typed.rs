//! Typed generation (`schemars` + `serde`) and tool calling.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::{json, Map, Value};
use sluicegate_core::CompiledGrammar;
use sluicegate_grammars::json::{AdditionalProperties, JsonSchemaOptions, Whitespace};
use sluicegate_grammars::Constraint;

use crate::error::{Error, Result};
use crate::generate::{GenerateOptions, Generation};
use crate::model::{Message, Model, Prompt};

/// The JSON Schema of a Rust type, ready for the JSON Schema compiler.
///
/// `schemars` marks Rust number types with `format` values (`uint8`,
/// `int64`, `double`...) that are not JSON Schema formats; they are turned
/// into the `minimum`/`maximum` bounds they stand for, so the generated
/// numbers always fit the Rust type.
pub fn schema_for<T: JsonSchema>() -> Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(T)).unwrap_or(Value::Bool(true));
    rewrite_rust_formats(&mut schema);
    schema
}

fn rewrite_rust_formats(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if let Some(format) = map.get("format").and_then(Value::as_str) {
                let bounds: Option<(i128, i128)> = match format {
                    "int8" => Some((i8::MIN.into(), i8::MAX.into())),
                    "int16" => Some((i16::MIN.into(), i16::MAX.into())),
                    "int32" => Some((i32::MIN.into(), i32::MAX.into())),
                    "int64" | "int" | "int128" => Some((i64::MIN.into(), i64::MAX.into())),
                    "uint8" => Some((0, u8::MAX.into())),
                    "uint16" => Some((0, u16::MAX.into())),
                    "uint32" => Some((0, u32::MAX.into())),
                    // The compiler's integers are 64-bit signed: the larger
                    // unsigned types are bounded to what it can enforce.
                    "uint64" | "uint" | "uint128" => Some((0, i64::MAX.into())),
                    _ => None,
                };
                if let Some((lo, hi)) = bounds {
                    map.remove("format");
                    tighten(map, "minimum", lo, true);
                    tighten(map, "maximum", hi, false);
                } else if matches!(format, "float" | "double") {
                    map.remove("format");
                }
            }
            for child in map.values_mut() {
                rewrite_rust_formats(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(rewrite_rust_formats),
        _ => {}
    }
}

fn tighten(map: &mut Map<String, Value>, key: &str, bound: i128, lower: bool) {
    let current = map.get(key).and_then(Value::as_f64);
    let keep_current = current.is_some_and(|c| if lower { c >= bound as f64 } else { c <= bound as f64 });
    if !keep_current {
        map.insert(key.into(), json!(bound as i64));
    }
}

/// JSON Schema options for generating typed outputs: no keys beyond those
/// the type declares (serde would ignore them), no whitespace (fewer
/// tokens), integers as serde reads them (no `2.0`), and keys in schema
/// order (the order serde writes them; each key is then forced, so it is
/// fast-forwarded instead of sampled).
pub fn typed_options() -> JsonSchemaOptions {
    JsonSchemaOptions {
        additional_properties: AdditionalProperties::Forbid,
        whitespace: Whitespace::Compact,
        integers_without_fraction: true,
        any_order_max: 0,
        ..JsonSchemaOptions::default()
    }
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    /// The name the model uses to call it.
    pub name: String,
    /// What it does (shown to the model).
    pub description: String,
    /// The JSON Schema of its arguments (an object schema).
    pub parameters: Value,
}

impl Tool {
    /// A tool with arguments given as a JSON Schema.
    pub fn new(name: impl Into<String>, description: impl Into<String>, parameters: Value) -> Self {
        Tool { name: name.into(), description: description.into(), parameters }
    }

    /// A tool whose arguments are the Rust type `A`.
    pub fn typed<A: JsonSchema>(name: impl Into<String>, description: impl Into<String>) -> Self {
        Tool::new(name, description, schema_for::<A>())
    }
}

/// A call the model made.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    /// The tool's name.
    pub name: String,
    /// Its arguments (valid against the tool's schema).
    pub arguments: Value,
}

impl ToolCall {
    /// The arguments as a Rust type.
    pub fn arguments_as<A: DeserializeOwned>(&self) -> Result<A> {
        serde_json::from_value(self.arguments.clone())
            .map_err(|e| Error::Deserialize { error: e.to_string(), text: self.arguments.to_string() })
    }
}

/// How [`Model::call_tools`] lets the model call.
#[derive(Debug, Clone)]
pub struct ToolOptions {
    /// Most calls in one answer (1: exactly one call).
    pub max_calls: usize,
    /// Generation settings.
    pub generate: GenerateOptions,
}

impl Default for ToolOptions {
    fn default() -> Self {
        ToolOptions { max_calls: 1, generate: GenerateOptions::default() }
    }
}

/// Rename `#/$defs/X` (and `#/definitions/X`) inside one tool's schema so
/// several tools' definitions can live side by side.
fn hoist_defs(schema: &Value, prefix: &str, defs: &mut Map<String, Value>) -> Value {
    fn rewrite(v: &Value, prefix: &str) -> Value {
        match v {
            Value::Object(map) => Value::Object(
                map.iter()
                    .filter(|(k, _)| k.as_str() != "$defs" && k.as_str() != "definitions" && k.as_str() != "$schema")
                    .map(|(k, v)| {
                        let v = match (k.as_str(), v.as_str()) {
                            ("$ref", Some(r)) => {
                                let r = r
                                    .strip_prefix("#/$defs/")
                                    .or_else(|| r.strip_prefix("#/definitions/"))
                                    .map_or_else(|| r.to_string(), |name| format!("#/$defs/{prefix}{name}"));
                                Value::String(r)
                            }
                            _ => rewrite(v, prefix),
                        };
                        (k.clone(), v)
                    })
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.iter().map(|i| rewrite(i, prefix)).collect()),
            other => other.clone(),
        }
    }
    for key in ["$defs", "definitions"] {
        if let Some(Value::Object(d)) = schema.get(key) {
            for (name, def) in d {
                defs.insert(format!("{prefix}{name}"), rewrite(def, prefix));
            }
        }
    }
    rewrite(schema, prefix)
}

/// The schema of a tool-call answer: `{"name": ..., "arguments": {...}}`,
/// or a list of them when several calls are allowed.
pub(crate) fn tool_call_schema(tools: &[Tool], max_calls: usize) -> Value {
    let mut defs = Map::new();
    let branches: Vec<Value> = tools
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let params = hoist_defs(&t.parameters, &format!("tool{i}_"), &mut defs);
            json!({
                "type": "object",
                "properties": { "name": { "const": t.name }, "arguments": params },
                "required": ["name", "arguments"],
                "additionalProperties": false
            })
        })
        .collect();
    let one = json!({ "anyOf": branches });
    let mut schema = if max_calls <= 1 {
        one
    } else {
        json!({ "type": "array", "items": one, "minItems": 1, "maxItems": max_calls })
    };
    if !defs.is_empty() {
        schema["$defs"] = Value::Object(defs);
    }
    schema
}

fn tools_system_prompt(tools: &[Tool], max_calls: usize) -> String {
    let list: Vec<Value> = tools
        .iter()
        .map(|t| json!({ "name": t.name, "description": t.description, "parameters": t.parameters }))
        .collect();
    let shape = if max_calls <= 1 {
        "Answer with one JSON object {\"name\": <tool name>, \"arguments\": {...}} that calls the best tool."
            .to_string()
    } else {
        format!("Answer with a JSON list of 1 to {max_calls} calls, each {{\"name\": <tool name>, \"arguments\": {{...}}}}.")
    };
    format!(
        "You are a function-calling assistant. These tools are available:\n{}\n{shape}",
        serde_json::to_string_pretty(&list).unwrap_or_default()
    )
}

fn parse_output<T: DeserializeOwned>(g: &Generation) -> Result<T> {
    serde_json::from_slice(&g.bytes).map_err(|e| Error::Deserialize { error: e.to_string(), text: g.text() })
}

impl Model {
    /// Compile a JSON Schema with the options used for typed outputs.
    pub fn compile_typed_schema(&self, schema: &Value) -> Result<Arc<CompiledGrammar>> {
        self.compile(&Constraint::JsonSchema(schema.clone(), typed_options()))
    }

    /// Generate a value of type `T`, constrained by its JSON Schema.
    /// Stopping early is an [`Error::Incomplete`], never a partial `T`.
    pub fn generate_typed<T: JsonSchema + DeserializeOwned>(
        &self,
        prompt: &Prompt,
        options: &GenerateOptions,
    ) -> Result<T> {
        let grammar = self.compile_typed_schema(&schema_for::<T>())?;
        let g = self.generate(prompt, Some(&grammar), options)?.complete()?;
        parse_output(&g)
    }

    /// Let the model call one of `tools` (or several, up to
    /// `options.max_calls`) in answer to `messages`.
    pub fn call_tools(&self, messages: &[Message], tools: &[Tool], options: &ToolOptions) -> Result<Vec<ToolCall>> {
        if tools.is_empty() {
            return Err(Error::InvalidArgument("no tools given".into()));
        }
        let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(Error::InvalidArgument(format!("two tools are named {:?}", w[0])));
        }
        let max_calls = options.max_calls.max(1);
        let grammar = self.compile_typed_schema(&tool_call_schema(tools, max_calls))?;
        let mut chat = vec![Message::system(tools_system_prompt(tools, max_calls))];
        chat.extend(messages.iter().filter(|m| m.role != "system").cloned());
        let g = self.generate(&Prompt::Chat(chat), Some(&grammar), &options.generate)?.complete()?;
        let value: Value = parse_output(&g)?;
        let calls = match value {
            Value::Array(items) => items,
            one => vec![one],
        };
        calls
            .into_iter()
            .map(|c| match (c.get("name").and_then(Value::as_str), c.get("arguments")) {
                (Some(name), Some(args)) => Ok(ToolCall { name: name.to_string(), arguments: args.clone() }),
                _ => Err(Error::Deserialize { error: "not a tool call".into(), text: c.to_string() }),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(JsonSchema, serde::Deserialize)]
    #[allow(dead_code)]
    struct Numbers {
        small: u8,
        signed: i16,
        big: u64,
        ratio: f64,
    }

    #[test]
    fn rust_number_formats_become_bounds() {
        let s = schema_for::<Numbers>();
        let props = &s["properties"];
        assert_eq!(props["small"]["minimum"], 0);
        assert_eq!(props["small"]["maximum"], 255);
        assert_eq!(props["signed"]["minimum"], -32768);
        assert_eq!(props["big"]["maximum"], i64::MAX);
        assert!(props["ratio"].get("format").is_none());
        assert!(!s.to_string().contains("\"format\""), "{s}");
    }

    #[test]
    fn tool_schemas_keep_their_definitions_apart() {
        let a =
            json!({"type": "object", "properties": {"x": {"$ref": "#/$defs/P"}}, "$defs": {"P": {"type": "integer"}}});
        let b =
            json!({"type": "object", "properties": {"x": {"$ref": "#/$defs/P"}}, "$defs": {"P": {"type": "string"}}});
        let s = tool_call_schema(&[Tool::new("a", "", a), Tool::new("b", "", b)], 1);
        assert_eq!(s["$defs"]["tool0_P"]["type"], "integer");
        assert_eq!(s["$defs"]["tool1_P"]["type"], "string");
        assert_eq!(s["anyOf"][1]["properties"]["arguments"]["properties"]["x"]["$ref"], "#/$defs/tool1_P");
        let many = tool_call_schema(&[Tool::new("a", "", json!({}))], 3);
        assert_eq!(many["maxItems"], 3);
    }
}
