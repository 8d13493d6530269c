//! `sluicegate`: the command-line front door.
//!
//! `sluicegate mask` prints the allowed tokens of a constraint after a
//! prefix, for debugging constraints against a real vocabulary.

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use sluicegate_core::{CompileOptions, Vocabulary};
use sluicegate_grammars::{compile, Constraint};

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
}

#[derive(Args)]
struct MaskArgs {
    /// HF tokenizer.json (plain or .gz).
    #[arg(long)]
    tokenizer: String,
    /// Regular expression the whole output must match.
    #[arg(long, conflicts_with = "choice")]
    regex: Option<String>,
    /// One allowed output (repeat for each option).
    #[arg(long)]
    choice: Vec<String>,
    /// Text the constraint consumes before the mask is computed.
    #[arg(long, default_value = "")]
    prefix: String,
    /// Also print each allowed token's text.
    #[arg(long)]
    show_text: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Mask(args) => mask(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("error: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn mask(args: MaskArgs) -> Result<(), String> {
    let constraint = match (args.regex, args.choice.is_empty()) {
        (Some(r), true) => Constraint::Regex(r),
        (None, false) => Constraint::Choice(args.choice),
        _ => return Err("give exactly one of --regex or --choice".into()),
    };
    let vocab = Arc::new(Vocabulary::from_hf_file(&args.tokenizer).map_err(|e| e.to_string())?);
    let unmapped = &vocab.load_report().unmapped;
    if !unmapped.is_empty() {
        eprintln!("warning: {} tokens could not be mapped to bytes and are never allowed", unmapped.len());
    }
    let grammar = compile(&constraint, Arc::clone(&vocab), &CompileOptions::default()).map_err(|e| e.to_string())?;
    let mut m = grammar.matcher();
    m.consume_bytes(args.prefix.as_bytes()).map_err(|e| format!("the prefix is rejected: {e}"))?;
    let mask = m.compute_mask_vec();
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
