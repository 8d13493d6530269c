//! The grammar IR: a context-free grammar whose terminals are regular
//! languages over bytes.
//!
//! Front ends (regex, choice, JSON Schema, GBNF) produce a [`Grammar`]; the
//! compiler turns it into byte automata. Terminals are `regex-syntax`
//! [`Hir`]s, so front ends build them structurally and never escape strings.

use regex_syntax::hir::{Hir, Repetition};

use crate::error::CompileError;

/// Index of a rule in a [`Grammar`].
pub type RuleId = usize;

/// A grammar expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// A regular language over bytes (a lexeme).
    Regular(Hir),
    /// Concatenation.
    Seq(Vec<Expr>),
    /// Alternation (union).
    Alt(Vec<Expr>),
    /// `min..=max` repetitions (`max: None` is unbounded).
    Repeat {
        /// The repeated expression.
        expr: Box<Expr>,
        /// Minimum count.
        min: u32,
        /// Maximum count, if bounded.
        max: Option<u32>,
    },
    /// A reference to another rule.
    Rule(RuleId),
}

impl Expr {
    /// The exact bytes `s`.
    pub fn literal(s: impl AsRef<[u8]>) -> Expr {
        Expr::Regular(Hir::literal(s.as_ref()))
    }
}

/// A named rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Name, for error messages.
    pub name: String,
    /// Body.
    pub body: Expr,
}

/// A grammar: rules and the start rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grammar {
    /// All rules.
    pub rules: Vec<Rule>,
    /// The rule the whole output must match.
    pub start: RuleId,
}

impl Grammar {
    /// A grammar of one regular language.
    pub fn regular(hir: Hir) -> Grammar {
        Grammar { rules: vec![Rule { name: "start".into(), body: Expr::Regular(hir) }], start: 0 }
    }

    /// Flatten a non-recursive grammar into one regular expression.
    ///
    /// Recursive grammars have no regular equivalent; they are an error here,
    /// never unrolled to a fixed depth.
    pub fn to_regular(&self) -> Result<Hir, CompileError> {
        let mut on_path = vec![false; self.rules.len()];
        self.rule_hir(self.start, &mut on_path)
    }

    fn rule_hir(&self, id: RuleId, on_path: &mut [bool]) -> Result<Hir, CompileError> {
        let rule =
            self.rules.get(id).ok_or_else(|| CompileError::Invalid(format!("reference to undefined rule #{id}")))?;
        if on_path[id] {
            return Err(CompileError::Unsupported(format!(
                "rule {:?} is recursive; recursive grammars need the pushdown engine",
                rule.name
            )));
        }
        on_path[id] = true;
        let hir = self.expr_hir(&rule.body, on_path);
        on_path[id] = false;
        hir
    }

    fn expr_hir(&self, e: &Expr, on_path: &mut [bool]) -> Result<Hir, CompileError> {
        Ok(match e {
            Expr::Regular(h) => h.clone(),
            Expr::Seq(items) => Hir::concat(items.iter().map(|x| self.expr_hir(x, on_path)).collect::<Result<_, _>>()?),
            Expr::Alt(items) => {
                Hir::alternation(items.iter().map(|x| self.expr_hir(x, on_path)).collect::<Result<_, _>>()?)
            }
            Expr::Repeat { expr, min, max } => {
                if let Some(max) = max {
                    if max < min {
                        return Err(CompileError::Invalid(format!("repetition {{{min},{max}}} has max < min")));
                    }
                }
                Hir::repetition(Repetition {
                    min: *min,
                    max: *max,
                    greedy: true,
                    sub: Box::new(self.expr_hir(expr, on_path)?),
                })
            }
            Expr::Rule(id) => self.rule_hir(*id, on_path)?,
        })
    }
}
