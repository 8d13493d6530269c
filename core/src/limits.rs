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
#[cfg(unix)]
use std::sync::LazyLock;
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
    /// Bytes the process's resident memory may grow by during one
    /// compilation (0: not checked). Read from `/proc/self/statm` at the
    /// time checks (Linux; elsewhere not checked). A safety net against
    /// schemas whose expansion runs away (one grew to 17 GB in 3 minutes):
    /// it counts the whole process, so compilations running at the same time
    /// on other threads count too, and memory the allocator kept from
    /// earlier work is reused without growth.
    pub max_memory_growth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_rules: 100_000,
            max_expr_nodes: 4_000_000,
            max_enum_values: 100_000,
            max_literal_bytes: 16 << 20,
            max_configs: 4096,
            max_memory_growth: 1 << 30,
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
    /// `CompileOptions::resources.max_memory_growth` (value in MiB).
    Memory,
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
            Limit::Memory => "resources.max_memory_growth (MiB)",
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

/// When a scope's time runs out, with the budget it was given.
type Deadline = (Instant, Duration);

#[derive(Clone)]
struct Active {
    limits: Limits,
    deadline: Option<Deadline>,
    /// Resident bytes when the outermost scope was entered (`None`: not
    /// checked).
    rss_start: Option<usize>,
}

/// Time checks between two reads of the resident set.
const RSS_CHECK_EVERY: u32 = 256;

/// The process's resident set in bytes (Linux `/proc/self/statm`). The
/// file stays open and is read in place: every compilation reads it once
/// at least, and opening it was 2% of a small schema's compile time.
#[cfg(unix)]
fn resident_bytes() -> Option<usize> {
    use std::os::unix::fs::FileExt;
    static STATM: LazyLock<Option<std::fs::File>> = LazyLock::new(|| std::fs::File::open("/proc/self/statm").ok());
    let mut buf = [0u8; 128];
    let n = STATM.as_ref()?.read_at(&mut buf, 0).ok()?;
    let statm = std::str::from_utf8(&buf[..n]).ok()?;
    let pages: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// No resident-set reading here: the memory limit is not checked.
#[cfg(not(unix))]
fn resident_bytes() -> Option<usize> {
    None
}

thread_local! {
    static ACTIVE: RefCell<Vec<Active>> = const { RefCell::new(Vec::new()) };
    static CHECKS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
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
            let rss_start = match a.last() {
                Some(outer) => outer.rss_start,
                None if limits.max_memory_growth > 0 => resident_bytes(),
                None => None,
            };
            a.push(Active { limits: limits.clone(), deadline, rss_start });
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

/// The innermost scope's deadline with its budget, and the resident bytes
/// at its start with `max_memory_growth` (where the resident set is read).
fn innermost_budget() -> (Option<Deadline>, Option<(usize, usize)>) {
    ACTIVE.with(|a| {
        let a = a.borrow();
        let s = a.last();
        (s.and_then(|s| s.deadline), s.and_then(|s| s.rss_start.map(|r| (r, s.limits.max_memory_growth))))
    })
}

/// Whether at least half of the innermost scope's budget is left: of its
/// time, and of `max_memory_growth` where that is checked (true outside any
/// scope). Work that can be left for later, such as warming entries, is
/// skipped otherwise, so that it never makes a compilation (or a rule it
/// builds, which then stays failed) run out of time or memory.
pub fn most_budget_left() -> bool {
    let (deadline, memory) = innermost_budget();
    let time_left = deadline.is_none_or(|(at, budget)| at.saturating_duration_since(Instant::now()) >= budget / 2);
    let memory_left = match memory.filter(|(_, max)| *max > 0) {
        Some((start, max)) => resident_bytes().is_none_or(|now| now.saturating_sub(start) <= max / 2),
        None => true,
    };
    time_left && memory_left
}

/// Fail with [`Limit::TimeBudget`] once the innermost scope's deadline has passed.
///
/// Every [`RSS_CHECK_EVERY`] calls it also reads the resident set and fails
/// with [`Limit::Memory`] once it has grown by more than
/// `max_memory_growth` since the outermost scope began.
pub fn check_time() -> Result<(), CompileError> {
    let (deadline, memory) = innermost_budget();
    if let Some((at, budget)) = deadline {
        if Instant::now() > at {
            return Err(exceeded(Limit::TimeBudget, budget.as_millis() as usize, "compilation ran out of time"));
        }
    }
    if let Some((start, max)) = memory.filter(|(_, max)| *max > 0) {
        let n = CHECKS.with(|c| {
            let n = c.get().wrapping_add(1);
            c.set(n);
            n
        });
        if n % RSS_CHECK_EVERY == 0 {
            if let Some(now) = resident_bytes() {
                let grown = now.saturating_sub(start);
                if grown > max {
                    let detail = format!("resident memory grew by {} MiB during compilation", grown >> 20);
                    return Err(exceeded(Limit::Memory, max >> 20, detail));
                }
            }
        }
    }
    Ok(())
}

/// Check the grammar's rule and node counts against `limits`, and that no
/// [`crate::AnyOrder`] set has more members than it can count; returns the
/// states those sets can have at most (each set once).
pub fn check_grammar_size(grammar: &crate::Grammar, limits: &Limits) -> Result<usize, CompileError> {
    check_count(Limit::Rules, grammar.rules.len(), limits.max_rules, "grammar rules")?;
    let mut nodes = 0usize;
    let mut any_order_states = 0usize;
    let mut sets: Vec<*const crate::AnyOrder> = Vec::new();
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
        match e {
            crate::Expr::Regular(_) | crate::Expr::Rule(_) => {}
            crate::Expr::AnyOrder(set) => {
                if set.members.len() > crate::AnyOrder::MAX_MEMBERS {
                    let n = set.members.len();
                    return Err(CompileError::Invalid(format!(
                        "members in any order: {n}, more than {}",
                        crate::AnyOrder::MAX_MEMBERS
                    )));
                }
                if !sets.contains(&std::sync::Arc::as_ptr(set)) {
                    sets.push(std::sync::Arc::as_ptr(set));
                    any_order_states = any_order_states.saturating_add(set.states_bound());
                }
            }
            crate::Expr::Seq(items) | crate::Expr::Alt(items) | crate::Expr::Intersect(items) => todo.extend(items),
            crate::Expr::Repeat { expr, .. } => todo.push(expr),
            crate::Expr::Exclude { base, excluded } => todo.extend([&**base, &**excluded]),
        }
    }
    Ok(any_order_states)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Held by the tests that measure the resident set, which another such
    /// test running alongside would move.
    static RESIDENT: std::sync::Mutex<()> = std::sync::Mutex::new(());

    #[test]
    fn resident_memory_growth_is_a_limit() {
        if resident_bytes().is_none() {
            return; // not Linux: not checked
        }
        let _alone = RESIDENT.lock().unwrap_or_else(|p| p.into_inner());
        let limits = Limits { max_memory_growth: 16 << 20, ..Limits::default() };
        let _scope = Budget::enter(&limits, Duration::from_secs(60));
        // 256 MiB written, so resident.
        let block = vec![1u8; 256 << 20];
        let mut result = Ok(());
        for _ in 0..RSS_CHECK_EVERY * 2 {
            result = check_time();
            if result.is_err() {
                break;
            }
        }
        assert!(block.iter().step_by(4096).all(|&b| b == 1));
        match result {
            Err(CompileError::Limit(l)) => {
                assert_eq!(l.limit, Limit::Memory);
                assert!(l.to_string().contains("max_memory_growth"), "{l}");
            }
            other => panic!("expected the memory limit, got {other:?}"),
        }
    }

    #[test]
    fn most_budget_left_needs_half_the_time_and_half_the_memory() {
        assert!(most_budget_left(), "outside any scope");
        let roomy = Limits { max_memory_growth: 0, ..Limits::default() };
        {
            let _scope = Budget::enter(&roomy, Duration::from_secs(60));
            assert!(most_budget_left(), "a fresh minute");
        }
        {
            let _scope = Budget::enter(&roomy, Duration::from_millis(20));
            std::thread::sleep(Duration::from_millis(15));
            assert!(!most_budget_left(), "three quarters of the time spent");
        }
        if resident_bytes().is_none() {
            return; // not Linux: memory is not checked
        }
        let _alone = RESIDENT.lock().unwrap_or_else(|p| p.into_inner());
        let tight = Limits { max_memory_growth: 32 << 20, ..Limits::default() };
        let _scope = Budget::enter(&tight, Duration::from_secs(60));
        // 64 MiB written, so resident: more than half of the allowed growth.
        let block = vec![1u8; 64 << 20];
        assert!(block.iter().step_by(4096).all(|&b| b == 1));
        assert!(!most_budget_left(), "64 MiB grown of 32 allowed");
    }
}
