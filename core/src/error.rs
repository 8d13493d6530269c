//! Error types. Build-time errors (loading a vocabulary, compiling a grammar)
//! and run-time errors (feeding a matcher) are separate types so callers can
//! tell "my constraint is wrong" from "my decoding loop is wrong".

use std::fmt;

/// A vocabulary could not be built or loaded.
#[derive(Debug, thiserror::Error)]
pub enum VocabError {
    /// The tokenizer file could not be read.
    #[error("cannot read tokenizer file {path}: {source}")]
    Io {
        /// The path that was opened.
        path: String,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a usable tokenizer (bad JSON, truncated, missing fields...).
    #[error("unusable tokenizer file {path}: {reason}")]
    Format {
        /// The path that was opened (or `<memory>`).
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An explicit token list is inconsistent.
    #[error("invalid vocabulary: {0}")]
    Invalid(String),
}

/// A constraint could not be compiled.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// The regular expression does not parse.
    #[error("invalid regex {pattern:?}: {message}")]
    Regex {
        /// The pattern as given.
        pattern: String,
        /// The parser's explanation, with position.
        message: String,
    },
    /// The constraint exceeds one of the engine's fixed capacities (called
    /// rules, state ids); configurable limits are [`CompileError::Limit`].
    #[error("constraint too large: {0}")]
    TooLarge(String),
    /// A configured resource limit was exceeded (see [`crate::limits`]).
    #[error("resource limit exceeded: {0}")]
    Limit(crate::limits::LimitExceeded),
    /// The constraint uses something the engine cannot enforce exactly.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The constraint matches no string at all: a regex or grammar with an
    /// empty language, or a JSON Schema that admits no value.
    #[error("the constraint matches no string (its language is empty; for a JSON Schema: the schema admits no value)")]
    Empty,
    /// A JSON Schema given as text is not valid JSON (or not UTF-8).
    #[error("schema text is not valid JSON at line {line}, column {column}: {message}")]
    SchemaText {
        /// 1-based line.
        line: usize,
        /// 1-based column (in bytes).
        column: usize,
        /// The parser's explanation.
        message: String,
    },
    /// Any other invalid constraint.
    #[error("invalid constraint: {0}")]
    Invalid(String),
    /// A schema keyword that is invalid, or that cannot be enforced exactly.
    #[error("{keyword} at {pointer}: {message}")]
    Schema {
        /// JSON pointer of the schema object holding the keyword (`#` is the root).
        pointer: String,
        /// The keyword.
        keyword: String,
        /// What is wrong.
        message: String,
    },
    /// A user grammar (GBNF, Lark) is malformed or defines no usable language.
    #[error("grammar error at line {line}, column {column}: {message}")]
    Grammar {
        /// What kind of problem it is.
        kind: GrammarErrorKind,
        /// 1-based line of the offending construct.
        line: u32,
        /// 1-based column (in characters) of the offending construct.
        column: u32,
        /// What is wrong, naming the rule or construct.
        message: String,
    },
}

/// The kinds of [`CompileError::Grammar`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GrammarErrorKind {
    /// The text does not parse.
    Syntax,
    /// A reference to a rule or terminal that is not defined.
    UndefinedRule,
    /// A rule or terminal defined twice.
    DuplicateRule,
    /// A rule none of whose expansions ever ends (every one refers back to it).
    NeverTerminates,
    /// The grammar matches no string at all.
    EmptyLanguage,
    /// Left recursion the front end cannot rewrite (through an empty-matching prefix).
    LeftRecursion,
    /// A construct that the engine cannot enforce (token-level terminals, look-around...).
    Unsupported,
    /// An embedded JSON Schema that does not compile.
    Schema,
}

/// A matcher was fed something it cannot accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatchError {
    /// The token id is not below the mask width.
    #[error("token id {token} is out of range (mask width {width})")]
    TokenOutOfRange {
        /// The offending id.
        token: u32,
        /// The number of valid ids.
        width: usize,
    },
    /// The token is valid but the constraint does not allow it here.
    #[error("token {token} ({text}) is not allowed after {consumed} consumed tokens")]
    TokenRejected {
        /// The token id.
        token: u32,
        /// Its text, escaped for display.
        text: String,
        /// How many tokens had been consumed before it.
        consumed: usize,
    },
    /// Raw bytes the constraint does not allow.
    #[error("byte {offset} of the input ({context}) is not allowed by the constraint")]
    BytesRejected {
        /// Offset of the first rejected byte in the given input.
        offset: usize,
        /// The input up to and including the rejected byte, escaped.
        context: String,
    },
    /// `rollback(n)` asked for more steps than were consumed.
    #[error("cannot roll back {requested} steps: only {available} were consumed")]
    RollbackTooFar {
        /// Steps asked for.
        requested: usize,
        /// Steps available.
        available: usize,
    },
    /// Something was fed after the matcher finished (EOS consumed).
    #[error("the matcher is finished (EOS was consumed); roll back to continue")]
    Finished,
    /// The step (or mask) would need more parser configurations than
    /// `Limits::max_configs`: the grammar is too ambiguous here. The state
    /// is unchanged; dropping configurations silently would lose parses.
    #[error("more than {limit} parser configurations would be live (CompileOptions::resources.max_configs = {limit})")]
    ConfigLimit {
        /// The configured limit.
        limit: usize,
    },
    /// A rule of a grammar built on first use
    /// ([`crate::CompiledGrammar::from_grammar`]) could not be built when
    /// the output first entered it (a size limit); the state is unchanged.
    #[error("a rule needed here could not be built: {message}")]
    RuleBuild {
        /// The build error.
        message: String,
    },
    /// The caller's mask buffer has the wrong length.
    #[error("mask buffer has {got} words, expected {expected}")]
    BadMaskBuffer {
        /// Words given.
        got: usize,
        /// Words required (`ceil(mask_width / 32)`).
        expected: usize,
    },
}

/// Escape bytes for inclusion in an error message.
pub(crate) fn escape_bytes(bytes: &[u8]) -> String {
    struct Esc<'a>(&'a [u8]);
    impl fmt::Display for Esc<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            for chunk in self.0.utf8_chunks() {
                for c in chunk.valid().chars() {
                    write!(f, "{}", c.escape_debug())?;
                }
                for b in chunk.invalid() {
                    write!(f, "\\x{b:02X}")?;
                }
            }
            Ok(())
        }
    }
    format!("\"{}\"", Esc(bytes))
}
