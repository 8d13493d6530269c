//! Load a tokenizer.json and print the load report: `cargo run --example load_vocab -- FILE`.
fn main() {
    let path = std::env::args().nth(1).expect("usage: load_vocab FILE");
    let t = std::time::Instant::now();
    match sluicegate_core::Vocabulary::from_hf_file(&path) {
        Ok(v) => {
            let r = v.load_report();
            println!(
                "{path}: {} ids, width {}, {} text, {} special, encoding {}, verified {}, unmapped {}, eos {:?}, trie {} nodes, {:?}",
                r.tokens, v.mask_width(), r.text_tokens, r.special_tokens, r.encoding, r.verified,
                r.unmapped.len(), v.eos_tokens(), v.trie().num_nodes(), t.elapsed()
            );
            for u in r.unmapped.iter().take(10) {
                println!("  unmapped {} {:?}: {}", u.id, u.piece, u.reason);
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
