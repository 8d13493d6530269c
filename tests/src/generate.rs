//! Random sentences of a user grammar, drawn from its parsed syntax tree
//! (independently of the engine): for completeness tests, every sentence
//! must be accepted by the compiled constraint.

use std::collections::HashMap;

use regex_syntax::hir::{Class, Hir, HirKind};
use sluicegate_grammars::ebnf::{Node, UserGrammar};

/// A small deterministic generator (xorshift64*).
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// Draws sentences; past `depth` nested rules it takes the shortest ways out.
pub struct Generator<'g> {
    g: &'g UserGrammar,
    index: HashMap<&'g str, usize>,
    /// Least derivation height of each rule.
    height: Vec<u32>,
    depth: u32,
}

const INF: u32 = u32::MAX / 2;

impl<'g> Generator<'g> {
    pub fn new(g: &'g UserGrammar, depth: u32) -> Self {
        let index = g.index();
        let mut gen = Generator { g, index, height: vec![INF; g.rules.len()], depth };
        loop {
            let mut changed = false;
            for i in 0..g.rules.len() {
                let h = gen.node_height(&g.rules[i].body).saturating_add(1);
                if h < gen.height[i] {
                    gen.height[i] = h;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        gen
    }

    fn node_height(&self, n: &Node) -> u32 {
        match n {
            Node::Ref { name, .. } => self.height[self.index[name.as_str()]],
            Node::Seq(xs) => xs.iter().map(|x| self.node_height(x)).max().unwrap_or(0),
            Node::Alt(xs) => xs.iter().map(|x| self.node_height(x)).min().unwrap_or(INF),
            Node::Repeat { node, min, .. } => {
                if *min == 0 {
                    0
                } else {
                    self.node_height(node)
                }
            }
            _ => 0,
        }
    }

    /// One sentence, or `None` when the grammar embeds a JSON Schema (not generated here).
    pub fn sentence(&self, rng: &mut Rng) -> Option<String> {
        let mut out = String::new();
        let start = Node::Ref { name: self.g.start.clone(), pos: Default::default() };
        self.node(&start, false, 0, rng, &mut out)?;
        self.ignored(rng, &mut out);
        Some(out)
    }

    fn ignored(&self, rng: &mut Rng, out: &mut String) {
        if !self.g.ignore.is_empty() && rng.below(3) == 0 {
            let n = &self.g.ignore[rng.below(self.g.ignore.len())];
            self.node(n, true, self.depth, rng, out);
        }
    }

    fn node(&self, n: &Node, in_terminal: bool, depth: u32, rng: &mut Rng, out: &mut String) -> Option<()> {
        let deep = depth >= self.depth;
        match n {
            Node::Ref { name, .. } => {
                let i = self.index[name.as_str()];
                let r = &self.g.rules[i];
                if r.terminal && !in_terminal {
                    self.ignored(rng, out);
                }
                return self.node(&r.body, in_terminal || r.terminal, depth + 1, rng, out);
            }
            Node::Seq(xs) => {
                for x in xs {
                    self.node(x, in_terminal, depth, rng, out)?;
                }
                return Some(());
            }
            Node::Alt(xs) => {
                let x = if deep {
                    xs.iter().min_by_key(|x| self.node_height(x)).expect("alternatives")
                } else {
                    let ok: Vec<&Node> = xs.iter().filter(|x| self.node_height(x) < INF).collect();
                    ok[rng.below(ok.len())]
                };
                return self.node(x, in_terminal, depth, rng, out);
            }
            Node::Repeat { node, min, max } => {
                let hi = max.unwrap_or(min + 3).min(min + 3);
                let k = if deep { *min } else { min + rng.below((hi - min + 1) as usize) as u32 };
                for _ in 0..k {
                    self.node(node, in_terminal, depth, rng, out)?;
                }
                return Some(());
            }
            Node::Json { .. } => return None,
            _ => {}
        }
        // A leaf terminal written in a rule: ignored text may come first.
        if !in_terminal {
            self.ignored(rng, out);
        }
        match n {
            Node::Literal { text, ci } => {
                for c in text.chars() {
                    let flip = *ci && rng.below(2) == 0;
                    out.push(if flip { c.to_ascii_uppercase() } else { c });
                }
            }
            Node::Class { ranges, negated } => out.push(class_char(ranges, *negated, rng)),
            Node::AnyChar => out.push(class_char(&[], true, rng)),
            Node::Regex(h) => hir(h, rng, out),
            _ => unreachable!("handled above"),
        }
        Some(())
    }
}

/// Characters to try for negated classes: ASCII, then a few others.
const POOL: &[char] = &['a', 'Z', '0', ' ', '-', '_', '.', '"', '\\', ',', '\n', 'é', 'ß', '€', '😀', '\t', '{', ']'];

fn class_char(ranges: &[(char, char)], negated: bool, rng: &mut Rng) -> char {
    if !negated {
        let (a, b) = ranges[rng.below(ranges.len())];
        let span = b as u32 - a as u32;
        for _ in 0..16 {
            let c = a as u32 + (rng.next_u64() % (span as u64 + 1)) as u32;
            if let Some(c) = char::from_u32(c) {
                return c;
            }
        }
        return a;
    }
    let ok: Vec<char> = POOL.iter().copied().filter(|&c| !ranges.iter().any(|&(a, b)| a <= c && c <= b)).collect();
    ok[rng.below(ok.len())]
}

fn hir(h: &Hir, rng: &mut Rng, out: &mut String) {
    match h.kind() {
        HirKind::Empty | HirKind::Look(_) => {}
        HirKind::Literal(l) => out.push_str(std::str::from_utf8(&l.0).expect("UTF-8 literal")),
        HirKind::Class(Class::Unicode(c)) => {
            let ranges: Vec<(char, char)> = c.ranges().iter().map(|r| (r.start(), r.end())).collect();
            // Mostly ASCII where the class has some, to keep sentences readable.
            let ascii: Vec<(char, char)> =
                ranges.iter().filter(|r| r.0 < '\u{80}').map(|&(a, b)| (a, b.min('\u{7f}'))).collect();
            let pick = if !ascii.is_empty() && rng.below(4) != 0 { &ascii } else { &ranges };
            out.push(class_char(pick, false, rng));
        }
        HirKind::Class(Class::Bytes(c)) => {
            let r = c.ranges()[rng.below(c.ranges().len())];
            out.push(r.start() as char);
        }
        HirKind::Repetition(r) => {
            let hi = r.max.unwrap_or(r.min + 3).min(r.min + 3);
            let k = r.min + rng.below((hi - r.min + 1) as usize) as u32;
            for _ in 0..k {
                hir(&r.sub, rng, out);
            }
        }
        HirKind::Capture(c) => hir(&c.sub, rng, out),
        HirKind::Concat(xs) => xs.iter().for_each(|x| hir(x, rng, out)),
        HirKind::Alternation(xs) => hir(&xs[rng.below(xs.len())], rng, out),
    }
}
