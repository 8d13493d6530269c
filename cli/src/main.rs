//! `sluicegate`: the command-line front door.
//!
//! - `sluicegate mask` prints the allowed tokens of a constraint (a regex, a
//!   choice list, a JSON Schema, a GBNF or Lark grammar) after a prefix, for
//!   debugging constraints against a real vocabulary;
//! - `sluicegate generate` runs a model (llama.cpp) under a constraint;
//! - `sluicegate extract` runs a JSON Schema over many documents.

/// mimalloc, without huge pages (`sluicegate-alloc`; ARCHITECTURE.md, "Allocator").
#[global_allocator]
static ALLOCATOR: sluicegate_alloc::Allocator = sluicegate_alloc::Allocator;

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use sluicegate_core::{CompileOptions, Vocabulary};
use sluicegate_grammars::compile;

mod constraint;
mod extract;
mod generate;

use constraint::ConstraintArgs;

#[derive(Parser)]
#[command(
    name = "sluicegate",
    version,
    about = "Structured generation: constrain model output to a regex, a choice list or a schema"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the tokens a constraint allows after a prefix, as one JSON object.
    Mask(MaskArgs),
    /// Generate text with a model under a constraint.
    Generate(generate::GenerateArgs),
    /// Run a JSON Schema over many documents (JSONL, CSV or a folder of .txt), one JSONL record each.
    Extract(extract::ExtractArgs),
}

#[derive(Args)]
struct MaskArgs {
    /// HF tokenizer.json (plain or .gz).
    #[arg(long)]
    tokenizer: String,
    #[command(flatten)]
    constraint: ConstraintArgs,
    /// Text the constraint consumes before the mask is computed.
    #[arg(long, default_value = "")]
    prefix: String,
    /// Also print each allowed token's text.
    #[arg(long)]
    show_text: bool,
}

fn main() -> ExitCode {
    // Before any thread starts: mimalloc's option table is not synchronised.
    sluicegate_alloc::keep_freed_memory();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Mask(args) => mask(args).map(|()| ExitCode::SUCCESS),
        Command::Generate(args) => generate::run(args),
        Command::Extract(args) => extract::run(args),
    };
    match result {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("error: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn mask(args: MaskArgs) -> Result<(), String> {
    let constraint = args.constraint.to_constraint(false)?;
    let vocab = Arc::new(Vocabulary::from_hf_file(&args.tokenizer).map_err(|e| e.to_string())?);
    let unmapped = &vocab.load_report().unmapped;
    if !unmapped.is_empty() {
        eprintln!("warning: {} tokens could not be mapped to bytes and are never allowed", unmapped.len());
    }
    let grammar = compile(&constraint, Arc::clone(&vocab), &CompileOptions::default())
        .map_err(|e| args.constraint.name_error(e))?;
    if std::env::var_os("SLUICEGATE_STATS").is_some() {
        eprintln!("rules {}, automaton states {}", grammar.num_rules(), grammar.num_states());
    }
    let mut m = grammar.matcher();
    m.consume_bytes(args.prefix.as_bytes()).map_err(|e| format!("the prefix is rejected: {e}"))?;
    let mask = m.try_compute_mask_vec().map_err(|e| format!("cannot compute the mask: {e}"))?;
    let tokens: Vec<u32> =
        (0..vocab.mask_width() as u32).filter(|&t| mask[(t >> 5) as usize] >> (t & 31) & 1 == 1).collect();
    let mut out = serde_json::json!({
        "allowed": tokens.len(),
        "accepting": m.is_accepting(),
        "tokens": tokens,
    });
    if args.show_text {
        out["text"] = tokens.iter().map(|&t| vocab.token_display(t)).collect();
    }
    println!("{out}");
    Ok(())
}
