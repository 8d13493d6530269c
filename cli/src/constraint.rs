//! The constraint flags shared by every subcommand.

use clap::Args;
use sluicegate_grammars::json::{AdditionalProperties, JsonSchemaOptions, Whitespace};
use sluicegate_grammars::Constraint;

/// Exactly one constraint, with the JSON Schema options.
#[derive(Args, Debug)]
pub struct ConstraintArgs {
    /// Regular expression the whole output must match.
    #[arg(long, conflicts_with = "choice")]
    pub regex: Option<String>,
    /// One allowed output (repeat for each option).
    #[arg(long)]
    pub choice: Vec<String>,
    /// JSON Schema file the output must validate against.
    #[arg(long, conflicts_with_all = ["regex", "choice"])]
    pub schema: Option<String>,
    /// GBNF grammar file (llama.cpp's format; the output matches rule `root`).
    #[arg(long, conflicts_with_all = ["regex", "choice", "schema"])]
    pub gbnf: Option<String>,
    /// Lark grammar file (the output matches rule `start`).
    #[arg(long, conflicts_with_all = ["regex", "choice", "schema", "gbnf"])]
    pub lark: Option<String>,
    /// A built-in grammar by file name (json.gbnf, json.lark, arithmetic.lark, csv.gbnf, ...).
    #[arg(long, conflicts_with_all = ["regex", "choice", "schema", "gbnf", "lark"])]
    pub builtin: Option<String>,
    /// JSON Schema: drop keywords that cannot be enforced exactly (listed on stderr).
    #[arg(long)]
    pub lenient: bool,
    /// JSON Schema: no whitespace between tokens (the default when generating).
    #[arg(long)]
    pub compact: bool,
    /// JSON Schema: allow whitespace between tokens (the default for `mask`).
    #[arg(long, conflicts_with = "compact")]
    pub flexible_whitespace: bool,
    /// JSON Schema: with flexible whitespace, at most N whitespace characters in a row (default:
    /// any number, as JSON allows). A bound keeps a freely sampling model from looping on
    /// whitespace, at the cost of larger automata.
    #[arg(long, value_name = "N", conflicts_with_all = ["compact", "indent"])]
    pub max_whitespace: Option<u32>,
    /// JSON Schema: exactly the layout of Python's `json.dumps(v, indent=N)` (N = 2 is serde's
    /// `to_string_pretty`). Schemas whose values can nest to any depth are refused.
    #[arg(long, value_name = "N", conflicts_with_all = ["compact", "flexible_whitespace"])]
    pub indent: Option<u32>,
    /// JSON Schema: forbid properties the schema does not declare, unless it allows them explicitly.
    #[arg(long)]
    pub forbid_additional: bool,
    /// JSON Schema: objects with at most this many declared properties accept them in any order;
    /// larger ones take them in schema order (0: schema order everywhere). Default: 12 for `mask`,
    /// 0 when generating (a fixed key order lets keys be fast-forwarded).
    #[arg(long)]
    pub any_order_max: Option<usize>,
}

impl ConstraintArgs {
    /// Whether any constraint was given.
    pub fn is_given(&self) -> bool {
        self.regex.is_some()
            || !self.choice.is_empty()
            || self.schema.is_some()
            || self.gbnf.is_some()
            || self.lark.is_some()
            || self.builtin.is_some()
    }

    /// A compile error, prefixed with the grammar file it came from.
    pub fn name_error(&self, e: impl std::fmt::Display) -> String {
        match self.gbnf.as_ref().or(self.lark.as_ref()).or(self.builtin.as_ref()) {
            Some(source) => format!("{source}: {e}"),
            None => e.to_string(),
        }
    }

    /// The constraint the flags describe. `for_generation`: JSON without
    /// whitespace unless `--flexible-whitespace` (small models otherwise
    /// spend tokens on indentation), integers without a fraction part, and
    /// keys in schema order unless `--any-order-max` says otherwise.
    pub fn to_constraint(&self, for_generation: bool) -> Result<Constraint, String> {
        match (&self.regex, self.choice.is_empty(), &self.schema) {
            (None, true, None) if self.gbnf.is_some() => {
                Ok(Constraint::Gbnf(read(self.gbnf.as_deref().unwrap_or_default())?))
            }
            (None, true, None) if self.lark.is_some() => {
                Ok(Constraint::Lark(read(self.lark.as_deref().unwrap_or_default())?))
            }
            (None, true, None) if self.builtin.is_some() => {
                let name = self.builtin.as_deref().unwrap_or_default();
                let b = sluicegate_grammars::builtin::get(name).ok_or_else(|| {
                    let names: Vec<&str> = sluicegate_grammars::builtin::ALL.iter().map(|b| b.name).collect();
                    format!("no built-in grammar {name:?} (there are: {})", names.join(", "))
                })?;
                Ok(b.constraint())
            }
            (Some(r), true, None) => Ok(Constraint::Regex(r.clone())),
            (None, false, None) => Ok(Constraint::Choice(self.choice.clone())),
            (None, true, Some(path)) => {
                let schema = read_schema(path)?;
                let mut opts = JsonSchemaOptions {
                    lenient: self.lenient,
                    integers_without_fraction: for_generation,
                    any_order_max: self.any_order_max.unwrap_or(if for_generation {
                        0
                    } else {
                        sluicegate_grammars::json::DEFAULT_ANY_ORDER_MAX
                    }),
                    ..JsonSchemaOptions::default()
                };
                if let Some(width) = self.indent {
                    opts.whitespace = Whitespace::Indent { width };
                } else if self.compact || (for_generation && !self.flexible_whitespace && self.max_whitespace.is_none())
                {
                    opts.whitespace = Whitespace::Compact;
                } else {
                    opts.whitespace = Whitespace::Flexible { max_run: self.max_whitespace };
                }
                if self.forbid_additional {
                    opts.additional_properties = AdditionalProperties::Forbid;
                }
                if self.lenient {
                    let g = sluicegate_grammars::json::grammar(&schema, &opts).map_err(|e| e.to_string())?;
                    for d in &g.dropped {
                        eprintln!("warning: dropped {} at {}: {}", d.keyword, d.pointer, d.reason);
                    }
                }
                Ok(Constraint::JsonSchema(schema, opts))
            }
            _ => Err("give exactly one of --regex, --choice, --schema, --gbnf, --lark or --builtin".into()),
        }
    }
}

fn read(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))
}

/// Read and parse a JSON Schema file.
pub fn read_schema(path: &str) -> Result<serde_json::Value, String> {
    let text = std::fs::read(path).map_err(|e| format!("cannot read schema {path}: {e}"))?;
    sluicegate_grammars::json::parse_schema(&text).map_err(|e| format!("schema {path}: {e}"))
}
