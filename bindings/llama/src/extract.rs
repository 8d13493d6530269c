//! Prompts for schema-driven extraction: what the model is told about the
//! fields, and worked examples as earlier turns of the chat.

use serde_json::Value;

use crate::Message;

/// The prompt's description of the fields: names, types and descriptions.
fn describe_fields(schema: &Value) -> String {
    let mut lines = Vec::new();
    if let Some(Value::Object(props)) = schema.get("properties") {
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map_or(vec![], |r| r.iter().filter_map(Value::as_str).collect());
        for (name, p) in props {
            let mut kind = p.get("type").map_or_else(|| "value".to_string(), |t| t.to_string().replace('"', ""));
            if let Some(Value::Array(e)) = p.get("enum") {
                kind = format!("one of {}", Value::Array(e.clone()));
            }
            let desc = p.get("description").and_then(Value::as_str).unwrap_or("");
            let req = if required.contains(&name.as_str()) { "" } else { " (optional)" };
            lines.push(format!("- {name} ({kind}){req}: {desc}"));
        }
    }
    lines.join("\n")
}

/// The chat for extracting `schema` from `text`: a system turn with the
/// instructions and a description of the fields, each worked example as a
/// user turn (its text) and an assistant turn (its JSON), then `text`.
pub fn extraction_messages(
    schema: &Value,
    instructions: Option<&str>,
    examples: &[(String, Value)],
    text: &str,
) -> Vec<Message> {
    let mut system = String::from(instructions.unwrap_or("Extract structured data from the text."));
    let fields = describe_fields(schema);
    if !fields.is_empty() {
        system.push_str("\nFields:\n");
        system.push_str(&fields);
    }
    system.push_str("\nReply with one JSON object only.");
    let mut messages = vec![Message::system(system)];
    for (t, out) in examples {
        messages.push(Message::user(t.clone()));
        messages.push(Message::assistant(out.to_string()));
    }
    messages.push(Message::user(text));
    messages
}
