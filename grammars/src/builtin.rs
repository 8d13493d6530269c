//! Built-in grammars: readable files in `grammars/builtin/` that users can
//! use as they are or copy and edit.

use crate::Constraint;

/// The language a built-in grammar is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// llama.cpp's GBNF.
    Gbnf,
    /// Lark.
    Lark,
}

/// A built-in grammar.
#[derive(Debug, Clone, Copy)]
pub struct Builtin {
    /// The file name in `grammars/builtin/`, e.g. `json.gbnf`.
    pub name: &'static str,
    /// Its language.
    pub format: Format,
    /// The grammar text.
    pub text: &'static str,
    /// One output the grammar accepts (for demos and benchmarks).
    pub example: &'static str,
}

impl Builtin {
    /// The grammar as a constraint.
    pub fn constraint(&self) -> Constraint {
        match self.format {
            Format::Gbnf => Constraint::Gbnf(self.text.to_string()),
            Format::Lark => Constraint::Lark(self.text.to_string()),
        }
    }
}

macro_rules! builtin {
    ($name:literal, $format:ident, $example:expr) => {
        Builtin {
            name: $name,
            format: Format::$format,
            text: include_str!(concat!("../builtin/", $name)),
            example: $example,
        }
    };
}

/// Every built-in grammar.
pub const ALL: &[Builtin] = &[
    builtin!(
        "json.gbnf",
        Gbnf,
        r#"{"name": "Ada Lovelace", "born": 1815, "tags": ["math", "poetry"], "alive": false, "score": -1.5e3}"#
    ),
    builtin!("json.lark", Lark, r#"{"id": 7, "items": [{"sku": "A-1", "qty": 2}, {"sku": "B-9", "qty": 1}], "note": null}"#),
    builtin!("function_call.gbnf", Gbnf, r#"get_weather(city="Paris", days=3, units=["C", "F"], detailed=true)"#),
    builtin!("arithmetic.gbnf", Gbnf, "(1 + 2.5) * -3 / (4 - 12)"),
    builtin!("arithmetic.lark", Lark, "2 ^ 3 ^ 2 - (1 + 2) * 4 / -8"),
    builtin!("csv.gbnf", Gbnf, "name,age,city\n\"Lovelace, Ada\",36,London\nAlan,41,\"\"\"Wilmslow\"\"\"\n"),
    builtin!(
        "sql_select.lark",
        Lark,
        "SELECT name, age * 2 AS double_age FROM people p WHERE age > 30 AND city = 'Paris' ORDER BY age DESC LIMIT 10;"
    ),
    builtin!("iso8601.gbnf", Gbnf, "2026-11-29T06:07:22.123+05:30"),
    builtin!(
        "extraction.lark",
        Lark,
        "Reasoning: the review praises the battery and the screen.\nResult: {\"label\": \"positive\", \"confidence\": 0.9}"
    ),
];

/// The built-in grammar with this file name.
pub fn get(name: &str) -> Option<&'static Builtin> {
    ALL.iter().find(|b| b.name == name)
}
