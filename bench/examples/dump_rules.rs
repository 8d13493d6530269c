use sluicegate_grammars::json::{grammar, JsonSchemaOptions};
fn main() {
    let path = std::env::args().nth(1).unwrap();
    let filter = std::env::args().nth(2).unwrap_or_default();
    let schema: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let g = grammar(&schema, &JsonSchemaOptions::default()).unwrap().grammar;
    for r in &g.rules {
        if r.name.contains(&filter) {
            println!("== {} (inline {})\n{:?}\n", r.name, r.inline, r.body);
        }
    }
}
