//! Where whitespace goes between JSON tokens, for each [`Whitespace`] option.
//!
//! Flexible and compact whitespace are the same everywhere. `Indent` depends
//! on how deep a value is nested, so the builder tracks the nesting level of
//! the items being compiled (`Builder::level`): every container is built
//! inside [`Builder::nested`], which puts its items one level deeper. A value
//! that can nest to any depth (recursion through `$ref`, or an unconstrained
//! value) has no exact indented form as a context-free grammar: the indent of
//! a closing bracket must match the depth of its opening one. Such schemas are
//! refused with an error naming the option.

use sluicegate_core::{CompileError, Expr};

use super::{err, lit, opt, re, seq, Builder, Whitespace};

/// What may stand between a container's brackets.
#[derive(Clone)]
pub(super) struct Items {
    /// The non-empty item lists (`None`: only the empty container).
    pub some: Option<Expr>,
    /// Whether the container may be empty.
    pub empty: bool,
}

impl Items {
    /// Nothing between the brackets.
    pub fn none() -> Items {
        Items { some: None, empty: true }
    }

    /// At least one item.
    pub fn required(some: Expr) -> Items {
        Items { some: Some(some), empty: false }
    }

    /// The same lists; the container may be empty only if it could be and
    /// `non_empty` does not forbid it.
    pub fn with_empty(self, non_empty: bool) -> Items {
        Items { empty: self.empty && !non_empty, ..self }
    }

    /// Items, or none.
    pub fn optional(some: Expr) -> Items {
        Items { some: Some(some), empty: true }
    }

    /// Alternatives, each a non-empty item list or the empty list
    /// (`seq![]`), as the member and unique-item planners build them.
    pub fn from_alternatives(alts: Vec<Expr>) -> Items {
        let is_empty = |e: &Expr| matches!(e, Expr::Seq(v) if v.is_empty());
        let empty = alts.iter().any(is_empty);
        let rest: Vec<Expr> = alts.into_iter().filter(|e| !is_empty(e)).collect();
        Items { some: (!rest.is_empty()).then_some(Expr::Alt(rest)), empty }
    }
}

impl Builder<'_> {
    /// Run `f` with the items it compiles one nesting level deeper: every
    /// container is built inside this, at the level of its items.
    pub(super) fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> T {
        self.level += 1;
        let out = f(self);
        self.level -= 1;
        out
    }

    /// A newline and the indent of `level` (indent mode only).
    fn newline(&self, width: u32, level: u32) -> Expr {
        lit(&format!("\n{}", " ".repeat((width * level) as usize)))
    }

    /// Whitespace allowed between two tokens (flexible and compact only).
    fn free_ws(&self) -> Expr {
        match self.opts.whitespace {
            Whitespace::Flexible { max_run: None } => re("[ \\t\\n\\r]*"),
            Whitespace::Flexible { max_run: Some(n) } => re(&format!("[ \\t\\n\\r]{{0,{n}}}")),
            Whitespace::Compact | Whitespace::Indent { .. } => seq(vec![]),
        }
    }

    /// The colon between a member's name and its value.
    pub(super) fn colon(&self) -> Expr {
        match self.opts.whitespace {
            Whitespace::Indent { .. } => lit(": "),
            _ => seq(vec![self.free_ws(), lit(":"), self.free_ws()]),
        }
    }

    /// The comma between two items at the current level.
    pub(super) fn comma(&self) -> Expr {
        match self.opts.whitespace {
            Whitespace::Indent { width } => seq(vec![lit(","), self.newline(width, self.level)]),
            _ => seq(vec![self.free_ws(), lit(","), self.free_ws()]),
        }
    }

    /// `open`, the items, `close`. Called inside [`Builder::nested`]: the
    /// items are at the current level, the brackets one level up. Indented,
    /// an empty container is `[]`/`{}` and a non-empty one puts every item
    /// and the closing bracket on a line of its own, as `json.dumps(v,
    /// indent=N)` and `serde_json::to_string_pretty` (N = 2) write them.
    pub(super) fn container(&self, open: &str, close: &str, items: Items) -> Expr {
        match (self.opts.whitespace, items.some) {
            (Whitespace::Indent { width }, Some(some)) => {
                let level = self.level;
                let lines = seq(vec![self.newline(width, level), some, self.newline(width, level - 1)]);
                let body = if items.empty { opt(lines) } else { lines };
                seq(vec![lit(open), body, lit(close)])
            }
            (_, Some(some)) => {
                // `[ ws (items ws)? ]`: the whitespace before the closing
                // bracket goes with the items, so that where an item ends the
                // next byte tells a separator from the close; a long counted
                // list of items is then built in layers (`core::counted`).
                let lines = seq(vec![some, self.free_ws()]);
                let body = if items.empty { opt(lines) } else { lines };
                seq(vec![lit(open), self.free_ws(), body, lit(close)])
            }
            (_, None) if items.empty => seq(vec![lit(open), self.free_ws(), lit(close)]),
            // Neither items nor an empty container: no value at all.
            (_, None) => Expr::Alt(vec![]),
        }
    }

    /// Refuse a value that nests without bound when indentation depends on
    /// the depth; `what` says why it is unbounded.
    pub(super) fn bounded_depth(&self, ptr: &str, keyword: &str, what: &str) -> Result<(), CompileError> {
        match self.opts.whitespace {
            Whitespace::Indent { width } => Err(err(
                ptr,
                keyword,
                format!(
                    "whitespace indent {width} needs a bounded nesting depth, but {what} \
                     (use flexible or compact whitespace)"
                ),
            )),
            _ => Ok(()),
        }
    }
}
