//! A reference recogniser for user grammars, independent of the engine: an
//! Earley parser over bytes that reads the parsed syntax tree
//! ([`UserGrammar`]) directly (not the IR, not the automata), so that it
//! checks the lowering, the left-recursion rewrite and the masks together.
//! Earley handles ambiguity and left recursion natively.
//!
//! Terminals are matched by small independent routines: literals and
//! classes character by character, regexes by a `regex-automata` DFA, and
//! embedded JSON Schemas by `serde_json` plus the `jsonschema` validator.

use std::collections::HashSet;

use regex_automata::dfa::{dense, Automaton};
use regex_automata::nfa::thompson;
use regex_automata::util::primitives::StateID;
use regex_automata::util::start;
use regex_automata::{Anchored, MatchKind};
use sluicegate_grammars::ebnf::{Node, UserGrammar};

enum Term {
    Lit(Vec<u8>),
    LitCi(Vec<char>),
    Class(Vec<(char, char)>, bool),
    Any,
    Regex(Box<dense::DFA<Vec<u32>>>, StateID),
    Json(Box<jsonschema::Validator>),
}

#[derive(Clone, Copy)]
enum Sym {
    T(usize),
    N(usize),
}

/// An Earley recogniser for one grammar.
pub struct Earley {
    lhs: Vec<usize>,
    rhs: Vec<Vec<Sym>>,
    by_lhs: Vec<Vec<usize>>,
    terms: Vec<Term>,
    nullable: Vec<bool>,
    top: usize,
}

fn decode(text: &[u8], i: usize) -> Option<(char, usize)> {
    let b = *text.get(i)?;
    let len = match b {
        0x00..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => return None,
    };
    let s = std::str::from_utf8(text.get(i..i + len)?).ok()?;
    s.chars().next().map(|c| (c, len))
}

fn same_ci(a: char, b: char) -> bool {
    a == b || a.to_lowercase().eq(b.to_lowercase()) || a.to_uppercase().eq(b.to_uppercase())
}

impl Earley {
    pub fn new(g: &UserGrammar) -> Earley {
        let index = g.index();
        let mut e = Earley {
            lhs: Vec::new(),
            rhs: Vec::new(),
            by_lhs: vec![Vec::new(); g.rules.len()],
            terms: Vec::new(),
            nullable: Vec::new(),
            top: 0,
        };
        // Lark %ignore: ign_star -> ε | ign ign_star.
        let ign_star = if g.ignore.is_empty() {
            None
        } else {
            let ign = e.fresh();
            let star = e.fresh();
            for n in &g.ignore {
                let rhs = e.conv(n, g, &index, true, None);
                e.prod(ign, rhs);
            }
            e.prod(star, vec![]);
            e.prod(star, vec![Sym::N(ign), Sym::N(star)]);
            Some(star)
        };
        for (i, r) in g.rules.iter().enumerate() {
            let rhs = e.conv(&r.body, g, &index, r.terminal, ign_star);
            e.prod(i, rhs);
        }
        let top = e.fresh();
        let mut rhs = vec![Sym::N(index[g.start.as_str()])];
        if let Some(s) = ign_star {
            rhs.push(Sym::N(s));
        }
        e.prod(top, rhs);
        e.top = top;
        e.compute_nullable();
        e
    }

    fn fresh(&mut self) -> usize {
        self.by_lhs.push(Vec::new());
        self.by_lhs.len() - 1
    }

    fn prod(&mut self, lhs: usize, rhs: Vec<Sym>) {
        self.by_lhs[lhs].push(self.lhs.len());
        self.lhs.push(lhs);
        self.rhs.push(rhs);
    }

    fn term(&mut self, t: Term, in_terminal: bool, ign: Option<usize>) -> Vec<Sym> {
        self.terms.push(t);
        let t = Sym::T(self.terms.len() - 1);
        match ign {
            Some(s) if !in_terminal => vec![Sym::N(s), t],
            _ => vec![t],
        }
    }

    fn conv(
        &mut self,
        n: &Node,
        g: &UserGrammar,
        index: &std::collections::HashMap<&str, usize>,
        in_terminal: bool,
        ign: Option<usize>,
    ) -> Vec<Sym> {
        match n {
            Node::Literal { text, .. } if text.is_empty() => vec![],
            Node::Literal { text, ci: false } => self.term(Term::Lit(text.as_bytes().to_vec()), in_terminal, ign),
            Node::Literal { text, ci: true } => self.term(Term::LitCi(text.chars().collect()), in_terminal, ign),
            Node::Class { ranges, negated } => self.term(Term::Class(ranges.clone(), *negated), in_terminal, ign),
            Node::AnyChar => self.term(Term::Any, in_terminal, ign),
            Node::Regex(h) => {
                let nfa = thompson::Compiler::new().build_from_hir(h).expect("regex NFA");
                let dfa = dense::Builder::new()
                    .configure(
                        dense::Config::new()
                            .match_kind(MatchKind::All)
                            .start_kind(regex_automata::dfa::StartKind::Anchored),
                    )
                    .build_from_nfa(&nfa)
                    .expect("regex DFA");
                let s = dfa.start_state(&start::Config::new().anchored(Anchored::Yes)).expect("start");
                self.term(Term::Regex(Box::new(dfa), s), in_terminal, ign)
            }
            Node::Json { schema, .. } => {
                let v = jsonschema::validator_for(schema).expect("schema compiles in the validator");
                self.term(Term::Json(Box::new(v)), in_terminal, ign)
            }
            Node::Ref { name, .. } => {
                let i = index[name.as_str()];
                match ign {
                    Some(s) if !in_terminal && g.rules[i].terminal => vec![Sym::N(s), Sym::N(i)],
                    _ => vec![Sym::N(i)],
                }
            }
            Node::Seq(xs) => xs.iter().flat_map(|x| self.conv(x, g, index, in_terminal, ign)).collect(),
            Node::Alt(xs) => {
                let a = self.fresh();
                for x in xs {
                    let rhs = self.conv(x, g, index, in_terminal, ign);
                    self.prod(a, rhs);
                }
                vec![Sym::N(a)]
            }
            Node::Repeat { node, min, max } => {
                let x = self.fresh();
                let rhs = self.conv(node, g, index, in_terminal, ign);
                self.prod(x, rhs);
                let r = self.fresh();
                let fixed = vec![Sym::N(x); *min as usize];
                match max {
                    Some(m) => {
                        for k in *min..=*m {
                            self.prod(r, vec![Sym::N(x); k as usize]);
                        }
                    }
                    None => {
                        let t = self.fresh();
                        self.prod(t, vec![]);
                        self.prod(t, vec![Sym::N(x), Sym::N(t)]);
                        let mut rhs = fixed;
                        rhs.push(Sym::N(t));
                        self.prod(r, rhs);
                    }
                }
                vec![Sym::N(r)]
            }
        }
    }

    fn term_nullable(&self, t: usize) -> bool {
        match &self.terms[t] {
            Term::Regex(dfa, s) => dfa.is_match_state(dfa.next_eoi_state(*s)),
            _ => false,
        }
    }

    fn compute_nullable(&mut self) {
        self.nullable = vec![false; self.by_lhs.len()];
        loop {
            let mut changed = false;
            for p in 0..self.lhs.len() {
                if self.nullable[self.lhs[p]] {
                    continue;
                }
                let all = self.rhs[p].iter().all(|s| match *s {
                    Sym::N(n) => self.nullable[n],
                    Sym::T(t) => self.term_nullable(t),
                });
                if all {
                    self.nullable[self.lhs[p]] = true;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
    }

    /// End offsets of the matches of terminal `t` that start at `i`.
    fn ends(&self, t: usize, text: &[u8], i: usize) -> Vec<usize> {
        match &self.terms[t] {
            Term::Lit(b) => {
                if text[i..].starts_with(b) {
                    vec![i + b.len()]
                } else {
                    vec![]
                }
            }
            Term::LitCi(chars) => {
                let mut j = i;
                for &c in chars {
                    match decode(text, j) {
                        Some((d, len)) if same_ci(c, d) => j += len,
                        _ => return vec![],
                    }
                }
                vec![j]
            }
            Term::Class(ranges, negated) => match decode(text, i) {
                Some((c, len)) if ranges.iter().any(|&(a, b)| a <= c && c <= b) != *negated => vec![i + len],
                _ => vec![],
            },
            Term::Any => decode(text, i).map(|(_, len)| vec![i + len]).unwrap_or_default(),
            Term::Regex(dfa, s0) => {
                let mut out = Vec::new();
                let mut s = *s0;
                if dfa.is_match_state(dfa.next_eoi_state(s)) {
                    out.push(i);
                }
                for (k, &b) in text[i..].iter().enumerate() {
                    s = dfa.next_state(s, b);
                    if dfa.is_dead_state(s) {
                        break;
                    }
                    if dfa.is_match_state(dfa.next_eoi_state(s)) {
                        out.push(i + k + 1);
                    }
                }
                out
            }
            Term::Json(v) => (i + 1..=text.len())
                .filter(|&j| matches!(text[j - 1], b'}' | b']' | b'"' | b'0'..=b'9' | b'e' | b'l'))
                .filter(|&j| {
                    !text[i].is_ascii_whitespace()
                        && serde_json::from_slice::<serde_json::Value>(&text[i..j]).is_ok_and(|x| v.is_valid(&x))
                })
                .collect(),
        }
    }

    /// Whether the whole of `text` is in the grammar's language.
    pub fn accepts(&self, text: &[u8]) -> bool {
        let (chart, seen) = self.chart(text);
        let n = text.len();
        let _ = chart;
        self.by_lhs[self.top].iter().any(|&p| seen[n].contains(&(p, self.rhs[p].len(), 0)))
    }

    /// Whether `text` can still be completed into a sentence (leniently:
    /// a terminal cut at the end is taken as completable if its matcher has
    /// not failed yet; a cut JSON value always is).
    pub fn viable_prefix(&self, text: &[u8]) -> bool {
        let (chart, _) = self.chart(text);
        let n = text.len();
        if !chart[n].is_empty() {
            return true;
        }
        (0..n).any(|k| {
            chart[k].iter().any(|&(p, dot, _)| match self.rhs[p].get(dot) {
                Some(&Sym::T(t)) => self.partial(t, &text[k..]),
                _ => false,
            })
        })
    }

    /// Whether `rest` (non-empty) is a proper prefix of some match of terminal `t`.
    fn partial(&self, t: usize, rest: &[u8]) -> bool {
        let cut_char = |bytes: &[u8]| {
            // An incomplete UTF-8 sequence: a lead byte and fewer continuation bytes than it needs.
            let need = match bytes[0] {
                0xC0..=0xDF => 2,
                0xE0..=0xEF => 3,
                0xF0..=0xF7 => 4,
                _ => return false,
            };
            bytes.len() < need && bytes[1..].iter().all(|b| b & 0xC0 == 0x80)
        };
        match &self.terms[t] {
            Term::Lit(b) => b.len() > rest.len() && b.starts_with(rest),
            Term::LitCi(_) => true,
            Term::Class(..) | Term::Any => cut_char(rest),
            Term::Regex(dfa, s0) => {
                let mut s = *s0;
                for &b in rest {
                    s = dfa.next_state(s, b);
                    if dfa.is_dead_state(s) {
                        return false;
                    }
                }
                true
            }
            Term::Json(_) => !rest[0].is_ascii_whitespace(),
        }
    }

    #[allow(clippy::type_complexity)]
    fn chart(&self, text: &[u8]) -> (Vec<Vec<(usize, usize, usize)>>, Vec<HashSet<(usize, usize, usize)>>) {
        let n = text.len();
        // Items: (production, dot, origin).
        let mut chart: Vec<Vec<(usize, usize, usize)>> = vec![Vec::new(); n + 1];
        let mut seen: Vec<HashSet<(usize, usize, usize)>> = vec![HashSet::new(); n + 1];
        fn add(
            chart: &mut [Vec<(usize, usize, usize)>],
            seen: &mut [HashSet<(usize, usize, usize)>],
            i: usize,
            item: (usize, usize, usize),
        ) {
            if seen[i].insert(item) {
                chart[i].push(item);
            }
        }
        for &p in &self.by_lhs[self.top] {
            add(&mut chart, &mut seen, 0, (p, 0, 0));
        }
        for i in 0..=n {
            let mut k = 0;
            while k < chart[i].len() {
                let (p, dot, origin) = chart[i][k];
                k += 1;
                match self.rhs[p].get(dot) {
                    Some(&Sym::N(b)) => {
                        for &q in &self.by_lhs[b] {
                            add(&mut chart, &mut seen, i, (q, 0, i));
                        }
                        if self.nullable[b] {
                            add(&mut chart, &mut seen, i, (p, dot + 1, origin));
                        }
                    }
                    Some(&Sym::T(t)) => {
                        for j in self.ends(t, text, i) {
                            add(&mut chart, &mut seen, j, (p, dot + 1, origin));
                        }
                    }
                    None => {
                        let lhs = self.lhs[p];
                        let mut w = 0;
                        while w < chart[origin].len() {
                            let (q, d, o) = chart[origin][w];
                            w += 1;
                            if matches!(self.rhs[q].get(d), Some(&Sym::N(x)) if x == lhs) {
                                add(&mut chart, &mut seen, i, (q, d + 1, o));
                            }
                        }
                    }
                }
            }
        }
        (chart, seen)
    }
}
