//! `sluicegate`: the command-line front door.
//!
//! `sluicegate mask` prints the allowed tokens of a constraint after a
//! prefix, for debugging constraints against a real vocabulary.

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use sluicegate_core::{CompileOptions, Vocabulary};
use sluicegate_grammars::json::{AdditionalProperties, JsonSchemaOptions, Whitespace};
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
    /// JSON Schema file the output must validate against.
    #[arg(long, conflicts_with_all = ["regex", "choice"])]
    schema: Option<String>,
    /// JSON Schema: drop keywords that cannot be enforced exactly (listed on stderr).
    #[arg(long)]
    lenient: bool,
    /// JSON Schema: no whitespace between tokens.
    #[arg(long)]
    compact: bool,
    /// JSON Schema: forbid properties the schema does not declare, unless it allows them explicitly.
    #[arg(long)]
    forbid_additional: bool,
    /// JSON Schema: objects with at most this many declared properties accept them in any order;
    /// larger ones take them in schema order (0: schema order everywhere).
    #[arg(long, default_value_t = sluicegate_grammars::json::DEFAULT_ANY_ORDER_MAX)]
    any_order_max: usize,
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
    let constraint = match (args.regex, args.choice.is_empty(), args.schema) {
        (Some(r), true, None) => Constraint::Regex(r),
        (None, false, None) => Constraint::Choice(args.choice),
        (None, true, Some(path)) => {
            let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read schema {path}: {e}"))?;
            let schema: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| format!("schema {path} is not valid JSON: {e}"))?;
            let mut opts = JsonSchemaOptions {
                lenient: args.lenient,
                any_order_max: args.any_order_max,
                ..JsonSchemaOptions::default()
            };
            if args.compact {
                opts.whitespace = Whitespace::Compact;
            }
            if args.forbid_additional {
                opts.additional_properties = AdditionalProperties::Forbid;
            }
            if args.lenient {
                let g = sluicegate_grammars::json::grammar(&schema, &opts).map_err(|e| e.to_string())?;
                for d in &g.dropped {
                    eprintln!("warning: dropped {} at {}: {}", d.keyword, d.pointer, d.reason);
                }
            }
            Constraint::JsonSchema(schema, opts)
        }
        _ => return Err("give exactly one of --regex, --choice or --schema".into()),
    };
    let vocab = Arc::new(Vocabulary::from_hf_file(&args.tokenizer).map_err(|e| e.to_string())?);
    let unmapped = &vocab.load_report().unmapped;
    if !unmapped.is_empty() {
        eprintln!("warning: {} tokens could not be mapped to bytes and are never allowed", unmapped.len());
    }
    let grammar = compile(&constraint, Arc::clone(&vocab), &CompileOptions::default()).map_err(|e| e.to_string())?;
    if std::env::var_os("SLUICEGATE_STATS").is_some() {
        eprintln!("rules {}, automaton states {}", grammar.num_rules(), grammar.num_states());
    }
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
