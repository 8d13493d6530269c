//! Every rule automaton of every 20th MaskBench schema, built from the
//! expression's positions (`core::glushkov`), is compared with the one
//! `regex-automata` determinises from a Thompson NFA: same language, same
//! calls (`ByteDfa::equivalent`). A difference panics inside the build.

use std::io::{BufRead, BufReader};
use std::sync::Arc;

use serde_json::Value;
use sluicegate_core::{CompileOptions, TokenEntry, TokenKind, Vocabulary};
use sluicegate_grammars::json::JsonSchemaOptions;
use sluicegate_grammars::{compile, Constraint};
use sluicegate_tests::data_dir;

#[test]
fn position_automata_equal_the_nfa_path_on_the_corpus() {
    sluicegate_core::dfa::set_check_automata(true);
    sluicegate_core::shared::set_shared_automata_bytes(0);
    // Single bytes: the vocabulary does not matter here, only the automata.
    let tokens: Vec<TokenEntry> =
        (0..=255u32).map(|b| TokenEntry { id: b, bytes: vec![b as u8], kind: TokenKind::Text }).collect();
    let vocab = Arc::new(Vocabulary::from_tokens(tokens, &[], None).unwrap());
    let path = data_dir().join("maskbench/dev.jsonl.gz");
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (mut compiled, mut refused) = (0, 0);
    for (i, line) in BufReader::new(flate2::read::GzDecoder::new(file)).lines().enumerate() {
        if i % 20 != 0 {
            continue;
        }
        let v: Value = serde_json::from_str(&line.unwrap()).unwrap();
        let c = Constraint::JsonSchema(v["schema"].clone(), JsonSchemaOptions::default());
        match compile(&c, vocab.clone(), &CompileOptions::default()) {
            Ok(_) => compiled += 1,
            Err(_) => refused += 1,
        }
    }
    assert!(compiled > 400, "{compiled} schemas compiled, {refused} refused");
}
