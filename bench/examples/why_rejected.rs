//! For each named MaskBench schema, feed every valid instance (as
//! `json.dumps` writes it) byte by byte and print where the matcher refuses.
//! `cargo run --release -p sluicegate-bench --example why_rejected -- CORPUS TOKENIZER ID...`
use std::io::BufRead;
use std::sync::Arc;

use sluicegate_core::{CompileOptions, Vocabulary};
use sluicegate_grammars::json::JsonSchemaOptions;
use sluicegate_grammars::{compile, Constraint};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let vocab = Arc::new(Vocabulary::from_hf_file(&args[2]).expect("tokenizer"));
    let ids = &args[3..];
    let file = std::fs::File::open(&args[1]).expect("corpus");
    let reader: Box<dyn BufRead> = Box::new(std::io::BufReader::new(flate2::read::GzDecoder::new(file)));
    for line in reader.lines() {
        let row: serde_json::Value = serde_json::from_str(&line.expect("line")).expect("json");
        let id = row["id"].as_str().unwrap_or_default();
        if !ids.iter().any(|x| x == id) {
            continue;
        }
        let c = Constraint::JsonSchema(row["schema"].clone(), JsonSchemaOptions::default());
        let g = match compile(&c, vocab.clone(), &CompileOptions::default()) {
            Ok(g) => g,
            Err(e) => {
                println!("{id}: compile error {e}");
                continue;
            }
        };
        for t in row["tests"].as_array().into_iter().flatten() {
            if t["valid"] != serde_json::Value::Bool(true) {
                continue;
            }
            let text = sluicegate_bench::feed::python_dumps(&t["data"]);
            let mut m = g.matcher();
            let mut at = None;
            for (i, b) in text.bytes().enumerate() {
                if m.consume_bytes(&[b]).is_err() {
                    at = Some(i);
                    break;
                }
            }
            match at {
                Some(i) => {
                    let lo = i.saturating_sub(120);
                    let hi = (i + 60).min(text.len());
                    let bytes = text.as_bytes();
                    let show = |a: usize, b: usize| String::from_utf8_lossy(&bytes[a..b]).into_owned();
                    println!("{id}: refused at byte {i}: ...{}[[{}]]{}", show(lo, i), show(i, i + 1), show(i + 1, hi));
                }
                None if !m.is_accepting() => println!("{id}: whole text fed, not accepting"),
                None => {}
            }
        }
    }
}
