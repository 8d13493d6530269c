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
    let null = nullable_rules(g, index);
    // Rules the start never uses are left alone (and never reported).
    let mut reachable = vec![false; g.rules.len()];
    let mut todo = vec![index[g.start.as_str()]];
    while let Some(r) = todo.pop() {
        if std::mem::replace(&mut reachable[r], true) {
            continue;
        }
        let mut out = Vec::new();
        super::refs(&g.rules[r].body, &mut out);
        todo.extend(out.into_iter().map(|n| index[n]));
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
        if !cyclic || !reachable[scc[0]] {
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

/// Whether `n` can match a non-empty string (`wide`: the rules that can).
fn non_empty(n: &Node, index: &HashMap<&str, usize>, wide: &[bool]) -> bool {
    match n {
        Node::Literal { text, .. } => !text.is_empty(),
        Node::Class { .. } | Node::AnyChar | Node::Json { .. } => true,
        Node::Regex(h) => h.properties().maximum_len() != Some(0),
        Node::Ref { name, .. } => wide[index[name.as_str()]],
        Node::Seq(xs) | Node::Alt(xs) => xs.iter().any(|x| non_empty(x, index, wide)),
        Node::Repeat { node, max, .. } => *max != Some(0) && non_empty(node, index, wide),
    }
}

fn nullable_rules(g: &UserGrammar, index: &HashMap<&str, usize>) -> Vec<bool> {
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
            return null;
        }
    }
}

/// The same language with the empty string split off every rule that can
/// match it: each such rule `n` gets a companion `n+` (its non-empty
/// strings), and every reference to `n` becomes `n+?`. Left recursion
/// through rules that can be empty then becomes left recursion through
/// non-empty ones, which [`eliminate`] rewrites. Lark terminals are left
/// alone (they are never left-recursive).
pub(super) fn split_empty(g: &UserGrammar, index: &HashMap<&str, usize>) -> Result<UserGrammar, CompileError> {
    let null = nullable_rules(g, index);
    // Rules that can match something other than the empty string.
    let mut wide = vec![false; g.rules.len()];
    loop {
        let mut changed = false;
        for (i, r) in g.rules.iter().enumerate() {
            if !wide[i] && non_empty(&r.body, index, &wide) {
                wide[i] = true;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let target: Vec<bool> = g.rules.iter().enumerate().map(|(i, r)| null[i] && wide[i] && !r.terminal).collect();
    let only_empty: Vec<bool> = g.rules.iter().enumerate().map(|(i, r)| !wide[i] && !r.terminal).collect();
    let subst = |n: &Node| -> Node {
        fn go(n: &Node, index: &HashMap<&str, usize>, target: &[bool], only_empty: &[bool]) -> Node {
            match n {
                Node::Ref { name, .. } if only_empty[index[name.as_str()]] => Node::empty(),
                Node::Ref { name, pos } if target[index[name.as_str()]] => {
                    repeat(Node::Ref { name: format!("{name}+"), pos: *pos }, 0, Some(1))
                }
                Node::Seq(xs) => Node::Seq(xs.iter().map(|x| go(x, index, target, only_empty)).collect()),
                Node::Alt(xs) => Node::Alt(xs.iter().map(|x| go(x, index, target, only_empty)).collect()),
                Node::Repeat { node, min, max } => repeat(go(node, index, target, only_empty), *min, *max),
                other => other.clone(),
            }
        }
        go(n, index, &target, &only_empty)
    };
    let mut out = UserGrammar { rules: Vec::new(), start: g.start.clone(), ignore: g.ignore.clone() };
    for r in &g.rules {
        out.rules.push(RuleDef { body: subst(&r.body), ..r.clone() });
    }
    let first_plus = out.rules.len();
    for r in g.rules.iter().zip(&target).filter(|(_, &t)| t).map(|(r, _)| r) {
        out.rules.push(RuleDef { name: format!("{}+", r.name), body: Node::empty(), pos: r.pos, terminal: false });
    }
    // In the new grammar the `+` rules are not nullable; the originals are.
    let mut new_null: Vec<bool> = null.clone();
    new_null.resize(out.rules.len(), false);
    let plus: Vec<Node> = {
        let new_index = out.index();
        let mut plus = Vec::new();
        for i in (0..g.rules.len()).filter(|&i| target[i]) {
            let cx = Ctx { index: &new_index, null: &new_null, rules: &out.rules, current: i };
            // Nothing left (the rule matches only the empty string): a class of no character.
            plus.push(cx.nonnull(&out.rules[i].body)?.unwrap_or(Node::Class { ranges: Vec::new(), negated: false }));
        }
        plus
    };
    for (k, (i, body)) in (0..g.rules.len()).filter(|&i| target[i]).zip(plus).enumerate() {
        out.rules[first_plus + k].body = body;
        let r = &g.rules[i];
        out.rules[i].body = Node::Repeat {
            node: Box::new(Node::Ref { name: format!("{}+", r.name), pos: r.pos }),
            min: 0,
            max: Some(1),
        };
    }
    Ok(out)
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

/// `node{min,max}`, without the trivial cases.
fn repeat(node: Node, min: u32, max: Option<u32>) -> Node {
    match (min, max, node) {
        (_, Some(0), _) => Node::empty(),
        (1, Some(1), node) => node,
        // (x?)* and (x*)* are x*; (x?)? is x?: fewer ways to match the same
        // text, so fewer live configurations when x is a called rule.
        (0, None, Node::Repeat { node, min: 0, max: Some(1) | None }) => Node::Repeat { node, min: 0, max: None },
        (0, Some(1), Node::Repeat { node, min: 0, max: Some(1) }) => Node::Repeat { node, min: 0, max: Some(1) },
        (min, max, node) => Node::Repeat { node: Box::new(node), min, max },
    }
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
                        Some(x) => self.split(&repeat(x, 0, *max), a),
                    };
                }
                let (ax, bx) = self.split(node, a)?;
                let rest = repeat((**node).clone(), min.saturating_sub(1), max.map(|m| m - 1));
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
                Ok(Some(seq(x, repeat((**node).clone(), lo, max.map(|m| m - 1)))))
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
