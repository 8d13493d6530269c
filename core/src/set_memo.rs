//! Steps of closed configuration sets, remembered: a lazily built
//! deterministic automaton over the sets a matcher's walks meet.
//!
//! A mask's exit walks ([`crate::compiled::CompiledGrammar`]'s `walk_exits`)
//! follow the same few closed sets below thousands of trie nodes: after the
//! end of a string chunk the continuation is the same free text below every
//! node where a token crosses that end, and the same again at the next mask.
//! Stepping and closing a set costs a lookup per configuration and per call
//! or return; a remembered step is one table read. Walks of states with few
//! exits do without: interning every set they meet once, with a table of
//! 256 successors each, cost more than it saved (the first mask of
//! `minecraft-recipe`, which meets 895 object states at once, went from 20
//! to 42 ms).
//!
//! Sets are interned by their configurations in order (two orders of one
//! set are two ids, which costs only a duplicate). A step is valid as long
//! as the stack arena its sets' stacks live in: arenas only grow, so the
//! memo lives beside the arena, in a matcher's scratch, and is dropped
//! with it (or cleared when it grows past [`SetMemo::MAX_SETS`]).

use rustc_hash::FxHashMap;

use crate::pda::Config;

/// The id of the empty set: a step that kills every configuration.
pub(crate) const EMPTY: u32 = u32::MAX;
/// A step not taken yet.
pub(crate) const UNKNOWN: u32 = u32::MAX - 1;

#[derive(Debug, Clone, Default)]
pub(crate) struct SetMemo {
    /// The configurations of every interned set, back to back.
    configs: Vec<Config>,
    /// Where each set starts in `configs`, and one past the last set.
    starts: Vec<u32>,
    index: FxHashMap<Box<[Config]>, u32>,
    /// 256 successors per set: a set id, [`EMPTY`] or [`UNKNOWN`].
    next: Vec<u32>,
    /// Whether a set has configurations that may return from the bottom
    /// frame (what a walk records as exits).
    exits: Vec<bool>,
}

impl SetMemo {
    /// Above this many sets the memo is cleared before a walk (a set's
    /// successor table is 1 KiB).
    pub const MAX_SETS: usize = 4096;

    pub fn len(&self) -> usize {
        self.exits.len()
    }

    pub fn clear(&mut self) {
        self.configs.clear();
        self.starts.clear();
        self.index.clear();
        self.next.clear();
        self.exits.clear();
    }

    /// The id of `set`, added if new; `exits` is computed by the caller
    /// and only used for a new set.
    pub fn intern(&mut self, set: &[Config], exits: impl FnOnce(&[Config]) -> bool) -> u32 {
        if set.is_empty() {
            return EMPTY;
        }
        if let Some(&id) = self.index.get(set) {
            return id;
        }
        if self.starts.is_empty() {
            self.starts.push(0);
        }
        let id = self.exits.len() as u32;
        self.configs.extend_from_slice(set);
        self.starts.push(self.configs.len() as u32);
        self.index.insert(set.into(), id);
        self.next.resize(self.next.len() + 256, UNKNOWN);
        self.exits.push(exits(set));
        id
    }

    /// The configurations of set `id`.
    #[inline]
    pub fn set(&self, id: u32) -> &[Config] {
        let i = id as usize;
        &self.configs[self.starts[i] as usize..self.starts[i + 1] as usize]
    }

    /// Whether set `id` has configurations that may return from the bottom frame.
    #[inline]
    pub fn may_exit(&self, id: u32) -> bool {
        self.exits[id as usize]
    }

    /// The remembered step of set `id` by `b`, or [`UNKNOWN`].
    #[inline]
    pub fn next(&self, id: u32, b: u8) -> u32 {
        self.next[(id as usize) << 8 | b as usize]
    }

    /// Remember that set `id` steps by `b` to set `to` (or [`EMPTY`]).
    pub fn record(&mut self, id: u32, b: u8, to: u32) {
        self.next[(id as usize) << 8 | b as usize] = to;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interns_sets_and_remembers_steps() {
        let mut memo = SetMemo::default();
        let a = [Config { top: 1, below: 0 }, Config { top: 2, below: 3 }];
        let b = [Config { top: 4, below: 0 }];
        let ia = memo.intern(&a, |_| true);
        let ib = memo.intern(&b, |_| false);
        assert_ne!(ia, ib);
        assert_eq!(memo.intern(&a, |_| unreachable!()), ia);
        assert_eq!(memo.intern(&[], |_| unreachable!()), EMPTY);
        assert_eq!(memo.set(ia), &a);
        assert_eq!(memo.set(ib), &b);
        assert!(memo.may_exit(ia) && !memo.may_exit(ib));
        assert_eq!(memo.next(ia, b'x'), UNKNOWN);
        memo.record(ia, b'x', ib);
        memo.record(ib, b'y', EMPTY);
        assert_eq!(memo.next(ia, b'x'), ib);
        assert_eq!(memo.next(ib, b'y'), EMPTY);
        assert_eq!(memo.next(ib, b'x'), UNKNOWN);
        memo.clear();
        assert_eq!(memo.len(), 0);
        assert_eq!(memo.intern(&b, |_| false), 0);
    }
}
