//! The grammar IR: a context-free grammar whose terminals are regular
//! languages over bytes.
//!
//! Front ends (regex, choice, JSON Schema, GBNF) produce a [`Grammar`]; the
//! compiler turns it into byte automata. Terminals are `regex-syntax`
//! [`Hir`]s, so front ends build them structurally and never escape strings.

use std::sync::Arc;

use regex_syntax::hir::{Hir, HirKind};

/// Index of a rule in a [`Grammar`].
pub type RuleId = usize;

/// A grammar expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// A regular language over bytes (a lexeme). Shared: front ends copy
    /// member values and key languages into several rules, and a deep copy
    /// of a `Hir` was a third of the JSON front end on large schemas.
    Regular(Arc<Hir>),
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
    /// A reference to another rule. References may be recursive; cycles
    /// become calls on the matcher's stack, never a fixed-depth unrolling.
    Rule(RuleId),
    /// The non-empty member lists of an object whose members come in any
    /// order ([`crate::any_order`]): its states become rules as the
    /// compiler meets them.
    AnyOrder(Arc<crate::any_order::AnyOrder>),
    /// Strings in every one of these (regular, non-recursive) languages.
    Intersect(Vec<Expr>),
    /// Strings in `base` but not in `excluded` (both regular, non-recursive).
    Exclude {
        /// The language to take strings from.
        base: Box<Expr>,
        /// The strings to leave out.
        excluded: Box<Expr>,
    },
}

impl Expr {
    /// The exact bytes `s`.
    pub fn literal(s: impl AsRef<[u8]>) -> Expr {
        Expr::regular(Hir::literal(s.as_ref()))
    }

    /// The regular language of `hir`.
    pub fn regular(hir: Hir) -> Expr {
        Expr::Regular(Arc::new(hir))
    }
}

/// A named rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Name, for error messages.
    pub name: String,
    /// Body.
    pub body: Expr,
    /// Whether references may be replaced by the body (non-recursive ones
    /// are, by default). `false` keeps the rule a separate automaton that
    /// is entered by a call: smaller automata for rules used in many places.
    pub inline: bool,
    /// Whether a grammar built on first use builds this rule's automaton
    /// at compile time all the same (when it is not inlined): for rules
    /// that are entered many at once (the blocks of a large object of
    /// optional members, all entered at its `{`), whose builds would
    /// otherwise stall one mask.
    pub eager: bool,
}

impl Rule {
    /// A rule that may be inlined.
    pub fn new(name: impl Into<String>, body: Expr) -> Rule {
        Rule { name: name.into(), body, inline: true, eager: false }
    }
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
        Grammar { rules: vec![Rule::new("start", Expr::regular(hir))], start: 0 }
    }
}

/// Unicode classes of more ranges than this weigh their ranges ([`hir_weight`]).
const MANY_RANGES: usize = 16;

/// A rough size of the automaton of `h`: its literal bytes and classes, with
/// counted repetitions multiplied out (an unbounded one counts its minimum,
/// at least once). Saturates instead of overflowing. A class weighs 1,
/// except a Unicode class of many ranges (a pattern's `\p{L}` written out
/// as hundreds of ranges), whose UTF-8 automaton grows with them: it weighs
/// its ranges (such a class counted to 200 characters was 34,000 states).
pub fn hir_weight(h: &Hir) -> u64 {
    match h.kind() {
        HirKind::Empty | HirKind::Look(_) => 0,
        HirKind::Literal(l) => l.0.len() as u64,
        HirKind::Class(regex_syntax::hir::Class::Unicode(c)) if c.ranges().len() > MANY_RANGES => {
            c.ranges().len() as u64
        }
        HirKind::Class(_) => 1,
        HirKind::Repetition(r) => hir_weight(&r.sub).saturating_mul(r.max.unwrap_or(r.min).max(1) as u64),
        HirKind::Capture(c) => hir_weight(&c.sub),
        HirKind::Concat(xs) | HirKind::Alternation(xs) => xs.iter().fold(0u64, |w, x| w.saturating_add(hir_weight(x))),
    }
}
