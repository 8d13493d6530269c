//! User grammars (GBNF and Lark): the shared syntax tree, its checks, and
//! its lowering into the grammar IR.
//!
//! Both front ends ([`crate::gbnf`], [`crate::lark`]) parse into a
//! [`UserGrammar`]: rules whose bodies are [`Node`] trees over character
//! level terminals. The engine is scannerless: a terminal (a literal, a
//! class, a Lark regex or named terminal) is just a sub-language of the
//! output, spliced into the rules that use it. There is no lexer, so there
//! are no lexeme conflicts to resolve: where two terminals overlap, every
//! split of the text that the grammar allows is kept alive at once (Lark's
//! longest-match lexer may reject some texts that the grammar as a language
//! accepts; sluicegate accepts the language).
//!
//! Before lowering, [`UserGrammar::to_ir`] checks that every reference is
//! defined, that every reachable rule can terminate and that the language is
//! not empty (each a [`CompileError::Grammar`] with the line and column),
//! and rewrites left recursion, direct and indirect, into iteration
//! (`a ::= a x | y` becomes `a ::= y x*`), which the pushdown automaton
//! runs without looping.

mod leftrec;
pub(crate) mod scan;

use std::collections::HashMap;

use regex_syntax::hir::{Class, ClassUnicode, ClassUnicodeRange, Dot, Hir};
use serde_json::Value;
use sluicegate_core::{CompileError, Expr, Grammar, GrammarErrorKind, Rule, RuleId};

use crate::json;

/// A position in the grammar text: 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    /// Line, from 1.
    pub line: u32,
    /// Column in characters, from 1.
    pub column: u32,
}

/// A grammar expression over characters.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// Exactly this text (`ci`: ASCII and Unicode simple case folding).
    Literal {
        /// The text.
        text: String,
        /// Case-insensitive (Lark `"..."i`).
        ci: bool,
    },
    /// One character in (or, `negated`, not in) these inclusive ranges.
    Class {
        /// Inclusive character ranges.
        ranges: Vec<(char, char)>,
        /// Whether the class is complemented.
        negated: bool,
    },
    /// Any one character (GBNF `.`).
    AnyChar,
    /// A regular expression (Lark `/.../` and the common terminals), full match.
    Regex(Hir),
    /// A reference to a rule or terminal.
    Ref {
        /// The name referred to.
        name: String,
        /// Where the reference is written.
        pos: Pos,
    },
    /// Concatenation.
    Seq(Vec<Node>),
    /// Alternation.
    Alt(Vec<Node>),
    /// `min..=max` repetitions (`max: None`: unbounded).
    Repeat {
        /// The repeated expression.
        node: Box<Node>,
        /// Least count.
        min: u32,
        /// Greatest count, if bounded.
        max: Option<u32>,
    },
    /// A JSON value valid against this schema (Lark `%json { ... }`).
    Json {
        /// The schema.
        schema: Value,
        /// Where `%json` is written.
        pos: Pos,
    },
}

impl Node {
    /// The empty string.
    pub fn empty() -> Node {
        Node::Seq(Vec::new())
    }

    /// Whether this node is a terminal (a leaf that consumes text).
    pub fn is_leaf_terminal(&self) -> bool {
        matches!(self, Node::Literal { .. } | Node::Class { .. } | Node::AnyChar | Node::Regex(_) | Node::Json { .. })
    }
}

/// A rule (or Lark terminal) definition.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleDef {
    /// The rule's name.
    pub name: String,
    /// Its body.
    pub body: Node,
    /// Where the definition starts.
    pub pos: Pos,
    /// A Lark terminal (upper-case name): matched as a unit, ignored text is
    /// never inserted inside it.
    pub terminal: bool,
}

/// A parsed GBNF or Lark grammar.
#[derive(Debug, Clone, PartialEq)]
pub struct UserGrammar {
    /// Rules and terminals, in definition order.
    pub rules: Vec<RuleDef>,
    /// The start rule's name (`root` in GBNF, `start` in Lark).
    pub start: String,
    /// Lark `%ignore`: text allowed before every terminal of a rule and at
    /// the end of the output.
    pub ignore: Vec<Node>,
}

pub(crate) fn gerr(kind: GrammarErrorKind, pos: Pos, message: impl Into<String>) -> CompileError {
    CompileError::Grammar { kind, line: pos.line, column: pos.column, message: message.into() }
}

impl UserGrammar {
    /// The index of each rule by name.
    pub fn index(&self) -> HashMap<&str, usize> {
        self.rules.iter().enumerate().map(|(i, r)| (r.name.as_str(), i)).collect()
    }

    /// Check the grammar and translate it into the IR.
    pub fn to_ir(&self) -> Result<Grammar, CompileError> {
        let index = self.index();
        let start = *index.get(self.start.as_str()).ok_or_else(|| {
            gerr(
                GrammarErrorKind::UndefinedRule,
                Pos { line: 1, column: 1 },
                format!("the grammar has no start rule `{}`", self.start),
            )
        })?;
        for r in &self.rules {
            check_refs(&r.body, &index, &self.rules, r.terminal)?;
        }
        for n in &self.ignore {
            check_refs(n, &index, &self.rules, true)?;
        }
        check_terminal_recursion(self, &index)?;
        check_productive(self, &index, start)?;
        match leftrec::eliminate(self, &index) {
            Ok(bodies) => Lowering::new(self, &index).run(&bodies, start),
            // Left recursion through rules that can be empty: split the
            // empty string off every such rule and try again.
            Err(first @ CompileError::Grammar { kind: GrammarErrorKind::LeftRecursion, .. }) => {
                let g = leftrec::split_empty(self, &index).map_err(|_| first)?;
                let index = g.index();
                let bodies = leftrec::eliminate(&g, &index)?;
                Lowering::new(&g, &index).run(&bodies, start)
            }
            Err(e) => Err(e),
        }
    }
}

fn check_refs(
    n: &Node,
    index: &HashMap<&str, usize>,
    rules: &[RuleDef],
    in_terminal: bool,
) -> Result<(), CompileError> {
    match n {
        Node::Ref { name, pos } => match index.get(name.as_str()) {
            None => Err(gerr(GrammarErrorKind::UndefinedRule, *pos, format!("undefined rule `{name}`"))),
            Some(&i) if in_terminal && !rules[i].terminal => Err(gerr(
                GrammarErrorKind::Syntax,
                *pos,
                format!("a terminal cannot refer to the rule `{name}` (terminals are upper-case and refer only to terminals)"),
            )),
            _ => Ok(()),
        },
        Node::Seq(xs) | Node::Alt(xs) => xs.iter().try_for_each(|x| check_refs(x, index, rules, in_terminal)),
        Node::Repeat { node, .. } => check_refs(node, index, rules, in_terminal),
        _ => Ok(()),
    }
}

fn refs<'a>(n: &'a Node, out: &mut Vec<&'a str>) {
    match n {
        Node::Ref { name, .. } => out.push(name),
        Node::Seq(xs) | Node::Alt(xs) => xs.iter().for_each(|x| refs(x, out)),
        Node::Repeat { node, .. } => refs(node, out),
        _ => {}
    }
}

/// Terminals are regular: a terminal that refers back to itself is an error.
fn check_terminal_recursion(g: &UserGrammar, index: &HashMap<&str, usize>) -> Result<(), CompileError> {
    for (i, r) in g.rules.iter().enumerate().filter(|(_, r)| r.terminal) {
        let mut seen = vec![false; g.rules.len()];
        let mut todo = vec![i];
        while let Some(j) = todo.pop() {
            let mut out = Vec::new();
            refs(&g.rules[j].body, &mut out);
            for name in out {
                let k = index[name];
                if k == i {
                    return Err(gerr(
                        GrammarErrorKind::Syntax,
                        r.pos,
                        format!("terminal `{}` is recursive (terminals must be regular; make it a rule)", r.name),
                    ));
                }
                if !seen[k] {
                    seen[k] = true;
                    todo.push(k);
                }
            }
        }
    }
    Ok(())
}

/// Whether a leaf can match at least one string.
fn leaf_nonempty(n: &Node) -> bool {
    match n {
        Node::Class { ranges, negated } => {
            let class = ClassUnicode::new(ranges.iter().map(|&(a, b)| ClassUnicodeRange::new(a, b)));
            let mut c = class;
            if *negated {
                c.negate();
            }
            !c.ranges().is_empty()
        }
        Node::Regex(h) => h.properties().minimum_len().is_some(),
        _ => true,
    }
}

fn productive(n: &Node, index: &HashMap<&str, usize>, prod: &[bool]) -> bool {
    match n {
        Node::Ref { name, .. } => prod[index[name.as_str()]],
        Node::Seq(xs) => xs.iter().all(|x| productive(x, index, prod)),
        Node::Alt(xs) => xs.iter().any(|x| productive(x, index, prod)),
        Node::Repeat { node, min, max } => *min == 0 || max == &Some(0) || productive(node, index, prod),
        leaf => leaf_nonempty(leaf),
    }
}

/// Every rule reachable from the start must be able to end.
fn check_productive(g: &UserGrammar, index: &HashMap<&str, usize>, start: usize) -> Result<(), CompileError> {
    let mut prod = vec![false; g.rules.len()];
    loop {
        let mut changed = false;
        for (i, r) in g.rules.iter().enumerate() {
            if !prod[i] && productive(&r.body, index, &prod) {
                prod[i] = true;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    // Reachable rules, in order of discovery from the start.
    let mut reach = vec![start];
    let mut seen = vec![false; g.rules.len()];
    seen[start] = true;
    let mut i = 0;
    while i < reach.len() {
        let mut out = Vec::new();
        refs(&g.rules[reach[i]].body, &mut out);
        for name in out {
            let k = index[name];
            if !seen[k] {
                seen[k] = true;
                reach.push(k);
            }
        }
        i += 1;
    }
    for n in &g.ignore {
        if !productive(n, index, &prod) {
            return Err(gerr(
                GrammarErrorKind::EmptyLanguage,
                Pos { line: 1, column: 1 },
                "an %ignore pattern matches nothing",
            ));
        }
    }
    // A rule that cannot end because it always refers back to itself (or to
    // a rule in the same cycle) is named; otherwise the language is empty.
    for &r in &reach {
        if prod[r] {
            continue;
        }
        let mut out = Vec::new();
        refs(&g.rules[r].body, &mut out);
        let cyclic = reaches(g, index, r, r);
        if cyclic {
            return Err(gerr(
                GrammarErrorKind::NeverTerminates,
                g.rules[r].pos,
                format!("rule `{}` can never terminate: every expansion refers back to it", g.rules[r].name),
            ));
        }
    }
    if !prod[start] {
        let culprit = reach.iter().rev().find(|&&r| !prod[r]).copied().unwrap_or(start);
        return Err(gerr(
            GrammarErrorKind::EmptyLanguage,
            g.rules[culprit].pos,
            format!("the grammar matches no string: rule `{}` matches nothing", g.rules[culprit].name),
        ));
    }
    Ok(())
}

/// Whether rule `from` refers (transitively) to rule `to`.
fn reaches(g: &UserGrammar, index: &HashMap<&str, usize>, from: usize, to: usize) -> bool {
    let mut seen = vec![false; g.rules.len()];
    let mut todo = vec![from];
    while let Some(j) = todo.pop() {
        let mut out = Vec::new();
        refs(&g.rules[j].body, &mut out);
        for name in out {
            let k = index[name];
            if k == to {
                return true;
            }
            if !seen[k] {
                seen[k] = true;
                todo.push(k);
            }
        }
    }
    false
}

/// A class as an IR terminal.
pub(crate) fn class_hir(ranges: &[(char, char)], negated: bool) -> Hir {
    let mut c = ClassUnicode::new(ranges.iter().map(|&(a, b)| ClassUnicodeRange::new(a, b)));
    if negated {
        c.negate();
    }
    Hir::class(Class::Unicode(c))
}

/// A literal as an IR terminal.
pub(crate) fn literal_hir(text: &str, ci: bool) -> Hir {
    if !ci {
        return Hir::literal(text.as_bytes());
    }
    Hir::concat(
        text.chars()
            .map(|ch| {
                let mut c = ClassUnicode::new([ClassUnicodeRange::new(ch, ch)]);
                c.case_fold_simple();
                Hir::class(Class::Unicode(c))
            })
            .collect(),
    )
}

struct Lowering<'g> {
    g: &'g UserGrammar,
    index: &'g HashMap<&'g str, usize>,
    rules: Vec<Rule>,
    /// The `%ignore` rule, when the grammar has one.
    ignore: Option<RuleId>,
}

impl<'g> Lowering<'g> {
    fn new(g: &'g UserGrammar, index: &'g HashMap<&'g str, usize>) -> Self {
        Lowering { g, index, rules: Vec::new(), ignore: None }
    }

    fn run(mut self, bodies: &[Node], start: usize) -> Result<Grammar, CompileError> {
        // User rules keep their indices; helper rules come after them.
        for r in &self.g.rules {
            self.rules.push(Rule::new(r.name.clone(), Expr::Seq(Vec::new())));
        }
        if !self.g.ignore.is_empty() {
            let alts = self.g.ignore.iter().map(|n| self.expr(n, true)).collect::<Result<Vec<_>, _>>()?;
            self.rules.push(Rule::new("%ignore", Expr::Alt(alts)));
            self.ignore = Some(self.rules.len() - 1);
        }
        for (i, body) in bodies.iter().enumerate() {
            let e = self.expr(body, self.g.rules[i].terminal)?;
            self.rules[i].body = e;
        }
        let start = match self.ignore {
            Some(ign) => {
                self.rules.push(Rule::new("%start", Expr::Seq(vec![Expr::Rule(start), ign_star(ign)])));
                self.rules.len() - 1
            }
            None => start,
        };
        Ok(Grammar { rules: self.rules, start })
    }

    /// The IR of `n`; `in_terminal` is true inside terminal definitions
    /// (no ignored text between their parts).
    fn expr(&mut self, n: &Node, in_terminal: bool) -> Result<Expr, CompileError> {
        let e = match n {
            Node::Literal { text, ci } => Expr::regular(literal_hir(text, *ci)),
            Node::Class { ranges, negated } => Expr::regular(class_hir(ranges, *negated)),
            Node::AnyChar => Expr::regular(Hir::dot(Dot::AnyChar)),
            Node::Regex(h) => Expr::regular(h.clone()),
            Node::Ref { name, .. } => {
                let i = self.index[name.as_str()];
                let e = Expr::Rule(i);
                return Ok(match self.ignore {
                    Some(ign) if !in_terminal && self.g.rules[i].terminal => Expr::Seq(vec![ign_star(ign), e]),
                    _ => e,
                });
            }
            Node::Seq(xs) => {
                return Ok(Expr::Seq(xs.iter().map(|x| self.expr(x, in_terminal)).collect::<Result<_, _>>()?))
            }
            Node::Alt(xs) => {
                return Ok(Expr::Alt(xs.iter().map(|x| self.expr(x, in_terminal)).collect::<Result<_, _>>()?))
            }
            Node::Repeat { node, min, max } => {
                return Ok(Expr::Repeat { expr: Box::new(self.expr(node, in_terminal)?), min: *min, max: *max })
            }
            Node::Json { schema, pos } => self.json(schema, *pos)?,
        };
        // A terminal written inline in a rule: ignored text may precede it.
        Ok(match self.ignore {
            Some(ign) if !in_terminal => Expr::Seq(vec![ign_star(ign), e]),
            _ => e,
        })
    }

    /// Compile an embedded schema and append its rules to the grammar.
    fn json(&mut self, schema: &Value, pos: Pos) -> Result<Expr, CompileError> {
        let g = json::grammar(schema, &json::JsonSchemaOptions::default()).map_err(|e| match e {
            CompileError::Empty => {
                gerr(GrammarErrorKind::EmptyLanguage, pos, "the embedded JSON Schema matches no value")
            }
            e => gerr(GrammarErrorKind::Schema, pos, format!("embedded JSON Schema: {e}")),
        })?;
        let offset = self.rules.len();
        for mut r in g.grammar.rules {
            shift_rules(&mut r.body, offset);
            r.name = format!("%json@{}:{}/{}", pos.line, pos.column, r.name);
            self.rules.push(r);
        }
        Ok(Expr::Rule(g.grammar.start + offset))
    }
}

fn ign_star(ign: RuleId) -> Expr {
    Expr::Repeat { expr: Box::new(Expr::Rule(ign)), min: 0, max: None }
}

fn shift_rules(e: &mut Expr, offset: usize) {
    match e {
        Expr::Rule(r) => *r += offset,
        Expr::Seq(xs) | Expr::Alt(xs) | Expr::Intersect(xs) => xs.iter_mut().for_each(|x| shift_rules(x, offset)),
        Expr::Repeat { expr, .. } => shift_rules(expr, offset),
        Expr::Exclude { base, excluded } => {
            shift_rules(base, offset);
            shift_rules(excluded, offset);
        }
        Expr::AnyOrder(set) => {
            let set = std::sync::Arc::make_mut(set);
            for m in &mut set.members {
                m.first += offset;
                m.later += offset;
            }
            if let Some((first, later)) = &mut set.extra {
                *first += offset;
                *later += offset;
            }
        }
        Expr::Regular(_) => {}
    }
}

#[cfg(test)]
mod tests;
