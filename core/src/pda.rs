//! Pushdown configurations: a rule-automaton state on top of a stack of
//! return states.
//!
//! Stacks are interned in a per-matcher arena as `(return_state, parent)`
//! nodes, so a stack is one `u32` and equal stacks are equal ids. A matcher
//! state is a small *closed* set of configurations: closed under calls
//! (entering a rule) and returns (leaving a rule whose automaton accepts),
//! which consume no bytes.

use rustc_hash::FxHashMap;

/// The empty stack.
pub(crate) const ROOT: u32 = 0;

/// A global automaton state on top of an interned stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Config {
    pub top: u32,
    pub below: u32,
}

/// The stack arena of one matcher.
#[derive(Debug, Clone)]
pub(crate) struct Stacks {
    nodes: Vec<(u32, u32)>,
    index: FxHashMap<(u32, u32), u32>,
    /// A closure went over the configuration limit (`Limits::max_configs`)
    /// and its set was cut; the matcher turns this into an error.
    pub overflowed: bool,
    /// A call entered a rule whose build on first use failed; its
    /// configurations are missing, and the matcher turns this into an error.
    pub build_failed: bool,
}

impl Default for Stacks {
    fn default() -> Self {
        Stacks { nodes: vec![(u32::MAX, ROOT)], index: FxHashMap::default(), overflowed: false, build_failed: false }
    }
}

impl Stacks {
    /// The stack `below` with `ret` pushed on it.
    #[inline]
    pub fn push(&mut self, ret: u32, below: u32) -> u32 {
        let next = self.nodes.len() as u32;
        *self.index.entry((ret, below)).or_insert_with(|| {
            self.nodes.push((ret, below));
            next
        })
    }

    /// `(return_state, parent)` of a non-empty stack.
    #[inline]
    pub fn pop(&self, id: u32) -> (u32, u32) {
        self.nodes[id as usize]
    }
}
