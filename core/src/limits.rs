//! Resource limits on compilation and matching.
//!
//! A constraint engine runs inside servers, so a hostile or merely huge
//! constraint must end in a typed error ([`CompileError::Limit`],
//! [`MatchError::ConfigLimit`]) rather than a hang, an abort or an exhausted
//! process. The limits live in two places:
//! - [`crate::DfaLimits`] (`CompileOptions::limits`): automaton states and
//!   bytes, per rule and per grammar;
//! - [`Limits`] (`CompileOptions::resources`): grammar size, literal sets,
//!   configurations per matcher step; plus `CompileOptions::time_budget` and
//!   `CompileOptions::mask_cache_bytes`.
//!
//! The time budget is checked cooperatively: compilation runs inside a
//! [`Budget`] scope (a thread-local deadline and the active [`Limits`]), and
//! the loops that can run long (determinised state numbering, products,
//! schema lowering) call [`check_time`]. Front ends reach the active limits
//! with [`active`] without threading options through every function; outside
//! any scope the defaults apply and time is unbounded.

use std::cell::RefCell;
use std::fmt;
use std::time::{Duration, Instant};

use crate::error::CompileError;

/// Size limits on a constraint and on matching it (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Rules in the grammar IR.
    pub max_rules: usize,
    /// Expression nodes in the grammar IR, over all rules (a regular
    /// expression leaf counts as one node).
    pub max_expr_nodes: usize,
    /// Values in one JSON Schema `enum`.
    pub max_enum_values: usize,
    /// Bytes of the JSON text of one `enum` or `const` (all values together).
    pub max_literal_bytes: usize,
    /// Configurations in one matcher state. A step (or a mask computation)
    /// that would need more is refused with [`crate::MatchError::ConfigLimit`]
    /// instead of silently dropping parses.
    pub max_configs: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_rules: 100_000,
            max_expr_nodes: 4_000_000,
            max_enum_values: 100_000,
            max_literal_bytes: 16 << 20,
            max_configs: 4096,
        }
    }
}

/// Which limit was exceeded; its `Display` is the option that sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Limit {
    /// `CompileOptions::time_budget` (value in milliseconds).
    TimeBudget,
    /// `CompileOptions::limits.max_states` (states of one rule automaton).
    AutomatonStates,
    /// `CompileOptions::limits.determinize_bytes` / `dfa_bytes` (regex-automata's builder).
    AutomatonBytes,
    /// `CompileOptions::limits.max_total_bytes` (transition tables of all rules).
    GrammarTableBytes,
    /// `CompileOptions::resources.max_rules`.
    Rules,
    /// `CompileOptions::resources.max_expr_nodes`.
    ExprNodes,
    /// `CompileOptions::resources.max_enum_values`.
    EnumValues,
    /// `CompileOptions::resources.max_literal_bytes`.
    LiteralBytes,
    /// `CompileOptions::resources.max_configs` (already at the start of the output).
    Configurations,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Limit::TimeBudget => "time_budget (ms)",
            Limit::AutomatonStates => "limits.max_states",
            Limit::AutomatonBytes => "limits.determinize_bytes/dfa_bytes",
            Limit::GrammarTableBytes => "limits.max_total_bytes",
            Limit::Rules => "resources.max_rules",
            Limit::ExprNodes => "resources.max_expr_nodes",
            Limit::EnumValues => "resources.max_enum_values",
            Limit::LiteralBytes => "resources.max_literal_bytes",
            Limit::Configurations => "resources.max_configs",
        })
    }
}

/// A compile-time limit that was exceeded: which one, its configured value,
/// and what exceeded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitExceeded {
    /// The limit.
    pub limit: Limit,
    /// Its configured value.
    pub value: u64,
    /// What went over it (a rule, a keyword, a count).
    pub detail: String,
}

impl fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (CompileOptions::{} = {})", self.detail, self.limit, self.value)
    }
}

/// The error for `limit` (configured to `value`) exceeded by `detail`.
pub fn exceeded(limit: Limit, value: usize, detail: impl Into<String>) -> CompileError {
    CompileError::Limit(LimitExceeded { limit, value: value as u64, detail: detail.into() })
}

/// Fail with `limit` when `count` is above `max`.
pub fn check_count(limit: Limit, count: usize, max: usize, what: &str) -> Result<(), CompileError> {
    if count > max {
        return Err(exceeded(limit, max, format!("{what}: {count}")));
    }
    Ok(())
}

#[derive(Clone)]
struct Active {
    limits: Limits,
    deadline: Option<(Instant, Duration)>,
}

thread_local! {
    static ACTIVE: RefCell<Vec<Active>> = const { RefCell::new(Vec::new()) };
}

/// A compilation scope on this thread: sets the deadline and the limits that
/// [`check_time`] and [`active`] see until it is dropped. Nested scopes keep
/// the earliest deadline, so an inner compile cannot extend an outer budget.
#[must_use = "the scope ends when this guard is dropped"]
pub struct Budget {
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Budget {
    /// Enter a scope with `limits` and `time_budget` from now.
    pub fn enter(limits: &Limits, time_budget: Duration) -> Budget {
        let now = Instant::now();
        ACTIVE.with(|a| {
            let mut a = a.borrow_mut();
            let mine = now.checked_add(time_budget).map(|d| (d, time_budget));
            let deadline = match (a.last().and_then(|o| o.deadline), mine) {
                (Some(outer), Some(inner)) if outer.0 <= inner.0 => Some(outer),
                (outer, None) => outer,
                (_, inner) => inner,
            };
            a.push(Active { limits: limits.clone(), deadline });
        });
        Budget { _not_send: std::marker::PhantomData }
    }
}

impl Drop for Budget {
    fn drop(&mut self) {
        ACTIVE.with(|a| {
            a.borrow_mut().pop();
        });
    }
}

/// The limits of the innermost [`Budget`] scope on this thread, or the defaults.
pub fn active() -> Limits {
    ACTIVE.with(|a| a.borrow().last().map(|s| s.limits.clone()).unwrap_or_default())
}

/// Fail with [`Limit::TimeBudget`] once the innermost scope's deadline has passed.
pub fn check_time() -> Result<(), CompileError> {
    let deadline = ACTIVE.with(|a| a.borrow().last().and_then(|s| s.deadline));
    match deadline {
        Some((at, budget)) if Instant::now() > at => {
            Err(exceeded(Limit::TimeBudget, budget.as_millis() as usize, "compilation ran out of time"))
        }
        _ => Ok(()),
    }
}

/// Fail with [`Limit::Rules`] or [`Limit::ExprNodes`] when `grammar` is larger than `limits` allow.
pub fn check_grammar_size(grammar: &crate::Grammar, limits: &Limits) -> Result<(), CompileError> {
    check_count(Limit::Rules, grammar.rules.len(), limits.max_rules, "grammar rules")?;
    let mut nodes = 0usize;
    let mut todo: Vec<&crate::Expr> = grammar.rules.iter().map(|r| &r.body).collect();
    while let Some(e) = todo.pop() {
        nodes += 1;
        if nodes > limits.max_expr_nodes {
            return Err(exceeded(
                Limit::ExprNodes,
                limits.max_expr_nodes,
                format!("grammar expression nodes: more than {}", limits.max_expr_nodes),
            ));
        }
        todo.extend(children(e));
    }
    Ok(())
}

fn children(e: &crate::Expr) -> Vec<&crate::Expr> {
    use crate::Expr;
    match e {
        Expr::Regular(_) | Expr::Rule(_) => Vec::new(),
        Expr::Seq(items) | Expr::Alt(items) | Expr::Intersect(items) => items.iter().collect(),
        Expr::Repeat { expr, .. } => vec![expr],
        Expr::Exclude { base, excluded } => vec![base, excluded],
    }
}
