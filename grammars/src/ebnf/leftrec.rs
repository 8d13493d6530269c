//! Left-recursion elimination over the syntax tree.
//!
//! The pushdown automaton enters a rule by a call before reading anything,
//! so a rule that can reach itself without consuming text would loop; the
//! core refuses such grammars. Here each rule body `a` is written as
//! `a·α ∪ β` (the expansions that start with `a`, and the rest), and
//! `a ::= a α | β` becomes `a ::= β α*`, the same language. Indirect left
//! recursion is first made direct by substituting, in definition order, the
//! (already rewritten) bodies of earlier rules of the same cycle for their
//! left-corner references (the textbook order-based algorithm), working on
//! the extended syntax directly: groups, options and repetitions are split
//! without expanding them into plain BNF.
//!
//! Left recursion through a prefix that can be empty is rewritten too, as
//! long as that prefix is not a reference to a rule that can match the
//! empty string (hidden left recursion): that case is reported as an error.

use std::collections::HashMap;

use sluicegate_core::{CompileError, GrammarErrorKind};

use super::{gerr, Node, RuleDef, UserGrammar};

type Split = (Option<Node>, Option<Node>);

/// Rule bodies, in the grammar's order, without left recursion.
pub(super) fn eliminate(g: &UserGrammar, index: &HashMap<&str, usize>) -> Result<Vec<Node>, CompileError> {
    let mut null = vec![false; g.rules.len()];
    loop {
        let mut changed = false;
        for (i, r) in g.rules.iter().enumerate() {
            if !null[i] && nullable(&r.body, index, &null) {
                null[i] = true;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let mut bodies: Vec<Node> = g.rules.iter().map(|r| r.body.clone()).collect();
    let edges: Vec<Vec<usize>> = g
        .rules
        .iter()
        .map(|r| {
            let mut out = Vec::new();
            left_refs(&r.body, index, &null, &mut out);
            out
        })
        .collect();
    for scc in sccs(&edges) {
        let cyclic = scc.len() > 1 || edges[scc[0]].contains(&scc[0]);
        if !cyclic {
            continue;
        }
        let mut members = scc.clone();
        members.sort_unstable();
        if let Some(&n) = members.iter().find(|&&m| null[m]) {
            let r = &g.rules[n];
            return Err(gerr(
                GrammarErrorKind::LeftRecursion,
                r.pos,
                format!(
                    "rule `{}` is left-recursive and can match the empty string; \
                     rewrite it so that the recursion consumes text first",
                    r.name
                ),
            ));
        }
        for (k, &i) in members.iter().enumerate() {
            let cx = Ctx { index, null: &null, rules: &g.rules, current: i };
            let mut body = bodies[i].clone();
            for &j in &members[..k] {
                let (alpha, beta) = cx.split(&body, j)?;
                if let Some(alpha) = alpha {
                    body = alt(Some(seq(bodies[j].clone(), alpha)), beta).expect("non-empty");
                }
            }
            let (alpha, beta) = cx.split(&body, i)?;
            body = match (alpha, beta) {
                (None, Some(b)) => b,
                (Some(a), Some(b)) => {
                    let a = absorb_tail(a, &g.rules[i].name, &b);
                    seq(b, Node::Repeat { node: Box::new(a), min: 0, max: None })
                }
                (_, None) => {
                    return Err(gerr(
                        GrammarErrorKind::NeverTerminates,
                        g.rules[i].pos,
                        format!(
                            "rule `{}` can never terminate: every expansion starts with a reference back to it",
                            g.rules[i].name
                        ),
                    ))
                }
            };
            bodies[i] = body;
        }
    }
    Ok(bodies)
}

/// In `a ::= β (… | γ a)*`, a reference to `a` that ends an iteration can
/// be replaced by `β`: the iterations that the inner `a` would add merge into
/// the outer loop, so the language is unchanged (`β (… | γ β)*`). Without
/// this, an ambiguous rule such as `e ::= e "+" e | n` would call itself at
/// every operator and keep one stack per possible nesting depth alive:
/// configuration sets growing with the length of the output.
fn absorb_tail(alpha: Node, name: &str, beta: &Node) -> Node {
    match alpha {
        Node::Alt(xs) => Node::Alt(xs.into_iter().map(|x| absorb_tail(x, name, beta)).collect()),
        Node::Ref { name: ref n, .. } if n == name => beta.clone(),
        Node::Seq(mut xs) if matches!(xs.last(), Some(Node::Ref { name: n, .. }) if n == name) => {
            xs.pop();
            seq(Node::Seq(xs), beta.clone())
        }
        other => other,
    }
}

fn nullable(n: &Node, index: &HashMap<&str, usize>, null: &[bool]) -> bool {
    match n {
        Node::Literal { text, .. } => text.is_empty(),
        Node::Class { .. } | Node::AnyChar | Node::Json { .. } => false,
        Node::Regex(h) => h.properties().minimum_len() == Some(0),
        Node::Ref { name, .. } => null[index[name.as_str()]],
        Node::Seq(xs) => xs.iter().all(|x| nullable(x, index, null)),
        Node::Alt(xs) => xs.iter().any(|x| nullable(x, index, null)),
        Node::Repeat { node, min, max } => *min == 0 || *max == Some(0) || nullable(node, index, null),
    }
}

/// The rules referred to at the left corner of `n` (possibly after an
/// empty-matching prefix).
fn left_refs(n: &Node, index: &HashMap<&str, usize>, null: &[bool], out: &mut Vec<usize>) {
    match n {
        Node::Ref { name, .. } => out.push(index[name.as_str()]),
        Node::Seq(xs) => {
            for x in xs {
                left_refs(x, index, null, out);
                if !nullable(x, index, null) {
                    break;
                }
            }
        }
        Node::Alt(xs) => xs.iter().for_each(|x| left_refs(x, index, null, out)),
        Node::Repeat { node, max, .. } if *max != Some(0) => left_refs(node, index, null, out),
        _ => {}
    }
}

/// Strongly connected components (Tarjan).
fn sccs(edges: &[Vec<usize>]) -> Vec<Vec<usize>> {
    struct T<'e> {
        edges: &'e [Vec<usize>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        out: Vec<Vec<usize>>,
    }
    fn visit(t: &mut T, v: usize) {
        t.index[v] = Some(t.next);
        t.low[v] = t.next;
        t.next += 1;
        t.stack.push(v);
        t.on[v] = true;
        for k in 0..t.edges[v].len() {
            let w = t.edges[v][k];
            match t.index[w] {
                None => {
                    visit(t, w);
                    t.low[v] = t.low[v].min(t.low[w]);
                }
                Some(iw) if t.on[w] => t.low[v] = t.low[v].min(iw),
                _ => {}
            }
        }
        if Some(t.low[v]) == t.index[v] {
            let mut comp = Vec::new();
            loop {
                let w = t.stack.pop().expect("on stack");
                t.on[w] = false;
                comp.push(w);
                if w == v {
                    break;
                }
            }
            t.out.push(comp);
        }
    }
    let n = edges.len();
    let mut t = T {
        edges,
        index: vec![None; n],
        low: vec![0; n],
        on: vec![false; n],
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in 0..n {
        if t.index[v].is_none() {
            visit(&mut t, v);
        }
    }
    t.out
}

fn seq(a: Node, b: Node) -> Node {
    let mut items = Vec::new();
    for x in [a, b] {
        match x {
            Node::Seq(xs) => items.extend(xs),
            x => items.push(x),
        }
    }
    if items.len() == 1 {
        items.pop().expect("one item")
    } else {
        Node::Seq(items)
    }
}

fn alt(a: Option<Node>, b: Option<Node>) -> Option<Node> {
    match (a, b) {
        (None, x) | (x, None) => x,
        (Some(a), Some(b)) => {
            let mut items = Vec::new();
            for x in [a, b] {
                match x {
                    Node::Alt(xs) => items.extend(xs),
                    x => items.push(x),
                }
            }
            Some(Node::Alt(items))
        }
    }
}

struct Ctx<'a> {
    index: &'a HashMap<&'a str, usize>,
    null: &'a [bool],
    rules: &'a [RuleDef],
    /// The rule being rewritten (for error messages).
    current: usize,
}

impl Ctx<'_> {
    fn nullable(&self, n: &Node) -> bool {
        nullable(n, self.index, self.null)
    }

    fn has_left(&self, n: &Node, a: usize) -> bool {
        let mut out = Vec::new();
        left_refs(n, self.index, self.null, &mut out);
        out.contains(&a)
    }

    /// `(α, β)` with `L(n) = a·α ∪ β` and no `a` at β's left corner
    /// (`None`: the empty language). Rule `a` must not match the empty string.
    fn split(&self, n: &Node, a: usize) -> Result<Split, CompileError> {
        if !self.has_left(n, a) {
            return Ok((None, Some(n.clone())));
        }
        match n {
            Node::Ref { .. } => Ok((Some(Node::empty()), None)),
            Node::Alt(xs) => {
                let (mut alpha, mut beta) = (None, None);
                for x in xs {
                    let (a1, b1) = self.split(x, a)?;
                    alpha = alt(alpha, a1);
                    beta = alt(beta, b1);
                }
                Ok((alpha, beta))
            }
            Node::Seq(xs) => self.split_seq(xs, a),
            Node::Repeat { node, min, max } => {
                if *max == Some(0) {
                    return Ok((None, Some(Node::empty())));
                }
                if self.nullable(node) {
                    // Empty iterations only pad: x{m,n} = (x minus ε){0,n}.
                    return match self.nonnull(node)? {
                        None => Ok((None, Some(Node::empty()))),
                        Some(x) => self.split(&Node::Repeat { node: Box::new(x), min: 0, max: *max }, a),
                    };
                }
                let (ax, bx) = self.split(node, a)?;
                let rest = Node::Repeat { node: node.clone(), min: min.saturating_sub(1), max: max.map(|m| m - 1) };
                let alpha = ax.map(|x| seq(x, rest.clone()));
                let mut beta = bx.map(|x| seq(x, rest));
                if *min == 0 {
                    beta = alt(beta, Some(Node::empty()));
                }
                Ok((alpha, beta))
            }
            // Leaves have no left corner.
            _ => Ok((None, Some(n.clone()))),
        }
    }

    fn split_seq(&self, xs: &[Node], a: usize) -> Result<Split, CompileError> {
        let whole = Node::Seq(xs.to_vec());
        if xs.is_empty() || !self.has_left(&whole, a) {
            return Ok((None, Some(whole)));
        }
        let head = &xs[0];
        let rest = Node::Seq(xs[1..].to_vec());
        let (a1, b1) = self.split(head, a)?;
        let alpha = a1.map(|x| seq(x, rest.clone()));
        if !self.nullable(head) || !self.has_left(&rest, a) {
            return Ok((alpha, b1.map(|x| seq(x, rest))));
        }
        // The head can be empty and the rest can start with `a`:
        // head·rest = a·α₁·rest ∪ (β₁ minus ε)·rest ∪ rest.
        let nb1 = match b1 {
            Some(b) => self.nonnull(&b)?,
            None => None,
        };
        let part = nb1.map(|x| seq(x, rest));
        let (a2, b2) = self.split_seq(&xs[1..], a)?;
        Ok((alt(alpha, a2), alt(part, b2)))
    }

    /// `n` without the empty string (`None`: nothing left).
    fn nonnull(&self, n: &Node) -> Result<Option<Node>, CompileError> {
        if !self.nullable(n) {
            return Ok(Some(n.clone()));
        }
        match n {
            Node::Literal { .. } => Ok(None),
            Node::Seq(xs) if xs.is_empty() => Ok(None),
            Node::Seq(xs) => {
                let head = self.nonnull(&xs[0])?;
                let rest = Node::Seq(xs[1..].to_vec());
                let first = head.map(|h| seq(h, rest));
                // The head is nullable here (the whole sequence is).
                let second = self.nonnull(&Node::Seq(xs[1..].to_vec()))?;
                Ok(alt(first, second))
            }
            Node::Alt(xs) => {
                let mut out = None;
                for x in xs {
                    out = alt(out, self.nonnull(x)?);
                }
                Ok(out)
            }
            Node::Repeat { node, min, max } => {
                if *max == Some(0) {
                    return Ok(None);
                }
                let Some(x) = self.nonnull(node)? else { return Ok(None) };
                let lo = if self.nullable(node) { 0 } else { min.max(&1) - 1 };
                Ok(Some(seq(x, Node::Repeat { node: node.clone(), min: lo, max: max.map(|m| m - 1) })))
            }
            _ => {
                let r = &self.rules[self.current];
                let what = match n {
                    Node::Ref { name, .. } => format!("the rule `{name}`, which can match the empty string"),
                    _ => "a regular expression that can match the empty string".to_string(),
                };
                Err(gerr(
                    GrammarErrorKind::LeftRecursion,
                    r.pos,
                    format!(
                        "rule `{}` is left-recursive behind {what} (hidden left recursion); \
                         rewrite it so that the recursion consumes text first",
                        r.name
                    ),
                ))
            }
        }
    }
}
