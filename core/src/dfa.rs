//! Byte automata: a compact DFA over bytes with full-match semantics.
//!
//! Built with `regex-automata` (Thompson NFA, then dense determinisation) and
//! copied into our own table, so that we can:
//! - prune every state from which no accepting state is reachable (a token
//!   is allowed only if the output can still be completed, not merely if
//!   the regex engine has not died yet);
//! - decide acceptance at end of input once per state;
//! - index states densely (`0..n`) for per-state caches.

use std::collections::HashMap;

use regex_automata::dfa::{dense, Automaton};
use regex_automata::nfa::thompson;
use regex_automata::util::primitives::StateID;
use regex_automata::util::start;
use regex_automata::{Anchored, MatchKind};
use regex_syntax::hir::Hir;

use crate::error::CompileError;
use crate::limits::{self, Limit};

/// `SLUICEGATE_CHECK_AUTOMATA=1` (or [`set_check_automata`]): build every
/// automaton both ways and panic if they differ (a check of the position
/// automata against `regex-automata`'s determiniser), and check every shared
/// automaton handed out against a fresh build (`crate::shared`), and every
/// counted product against the plain product (`crate::length`).
pub(crate) static CHECK_AUTOMATA: std::sync::LazyLock<std::sync::atomic::AtomicBool> = std::sync::LazyLock::new(|| {
    std::sync::atomic::AtomicBool::new(std::env::var_os("SLUICEGATE_CHECK_AUTOMATA").is_some_and(|v| v == "1"))
});

/// Turn the check of every automaton against the NFA path on or off (tests).
#[doc(hidden)]
pub fn set_check_automata(on: bool) {
    CHECK_AUTOMATA.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// A set of bytes (a 256-bit map).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub(crate) struct ByteSet([u64; 4]);

impl ByteSet {
    pub(crate) const EMPTY: ByteSet = ByteSet([0; 4]);

    /// The bytes `lo..=hi`.
    pub(crate) fn range(lo: u8, hi: u8) -> ByteSet {
        let mut s = ByteSet::EMPTY;
        s.add_range(lo, hi);
        s
    }

    pub(crate) fn add_range(&mut self, lo: u8, hi: u8) {
        for b in lo..=hi {
            self.insert(b);
        }
    }

    #[inline]
    pub(crate) fn insert(&mut self, b: u8) {
        self.0[(b >> 6) as usize] |= 1 << (b & 63);
    }

    pub(crate) fn union(&mut self, other: &ByteSet) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a |= b;
        }
    }

    #[inline]
    pub(crate) fn is_subset(&self, other: &ByteSet) -> bool {
        self.0.iter().zip(other.0.iter()).all(|(a, b)| a & !b == 0)
    }

    pub(crate) fn len(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }

    #[inline]
    pub(crate) fn contains(&self, b: u8) -> bool {
        self.0[(b >> 6) as usize] >> (b & 63) & 1 == 1
    }

    /// The bytes in the set, ascending.
    pub(crate) fn iter(&self) -> impl Iterator<Item = u8> + '_ {
        self.0.iter().enumerate().flat_map(|(w, &word)| {
            let mut rest = word;
            std::iter::from_fn(move || {
                if rest == 0 {
                    return None;
                }
                let bit = rest.trailing_zeros();
                rest &= rest - 1;
                Some((w as u32 * 64 + bit) as u8)
            })
        })
    }
}

/// The state id meaning "no continuation is possible".
pub const DEAD: u32 = u32::MAX;

/// Limits on automaton construction.
#[derive(Debug, Clone)]
pub struct DfaLimits {
    /// Bytes the determiniser may use (passed to `regex-automata`).
    pub determinize_bytes: usize,
    /// Bytes the finished dense DFA may use.
    pub dfa_bytes: usize,
    /// Maximum number of states in our table.
    pub max_states: usize,
    /// Maximum bytes of transition tables over all the rules of one grammar.
    pub max_total_bytes: usize,
}

impl DfaLimits {
    /// The check of a table being built state by state (`done` states
    /// finished, `states` known): past `max_states` the build stops with a
    /// limit error naming `what`, and every 1024 states the compile budget's
    /// clock is read.
    pub(crate) fn check_growth(&self, done: usize, states: usize, what: &str) -> Result<(), CompileError> {
        if states > self.max_states {
            let detail = format!("{what} states: more than {}", self.max_states);
            return Err(limits::exceeded(Limit::AutomatonStates, self.max_states, detail));
        }
        if done % 1024 == 0 {
            limits::check_time()?;
        }
        Ok(())
    }
}

impl Default for DfaLimits {
    fn default() -> Self {
        DfaLimits { determinize_bytes: 64 << 20, dfa_bytes: 64 << 20, max_states: 1 << 20, max_total_bytes: 256 << 20 }
    }
}

/// A deterministic automaton over bytes. Every live state can reach acceptance.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ByteDfa {
    classes: [u8; 256],
    stride: usize,
    /// `trans[state * stride + class]`, or [`DEAD`].
    trans: Vec<u32>,
    accepting: Vec<bool>,
    start: u32,
    /// Call edges (pushdown grammars): `call_edges[call_offsets[s]..call_offsets[s + 1]]`
    /// are `(rule, return_state)` pairs. Empty for plain regular languages.
    call_offsets: Vec<u32>,
    call_edges: Vec<(u32, u32)>,
}

/// The states from which an accepting state can be reached (`live`), their
/// new dense ids (`DEAD` for the others) and how many there are, given each
/// state's successors (`DEAD` entries are ignored). `Err(Empty)` when the
/// start state (0) cannot reach acceptance.
fn co_reachable<'a>(
    accepting: &[bool],
    successors: impl Fn(usize) -> &'a [u32],
) -> Result<(Vec<bool>, Vec<u32>, u32), CompileError> {
    let n = accepting.len();
    let (start, preds) = predecessors(n, || {
        (0..n).flat_map(|s| successors(s).iter().filter(|&&t| t != DEAD).map(move |&t| (t as usize, s as u32)))
    });
    let mut live = accepting.to_vec();
    let mut queue: Vec<u32> = (0..n as u32).filter(|&s| live[s as usize]).collect();
    while let Some(s) = queue.pop() {
        for &p in &preds[start[s as usize] as usize..start[s as usize + 1] as usize] {
            if !live[p as usize] {
                live[p as usize] = true;
                queue.push(p);
            }
        }
    }
    if !live[0] {
        return Err(CompileError::Empty);
    }
    let mut new_id = vec![DEAD; n];
    let mut next = 0u32;
    for s in 0..n {
        if live[s] {
            new_id[s] = next;
            next += 1;
        }
    }
    Ok((live, new_id, next))
}

/// Predecessor lists of `n` states in one array: the values given for
/// state `t` are `preds[start[t]..start[t + 1]]`. `edges` yields `(to,
/// value)` for every edge, the same edges each time it is called (twice: to
/// count, then to fill).
pub(crate) fn predecessors<I: Iterator<Item = (usize, u32)>>(n: usize, edges: impl Fn() -> I) -> (Vec<u32>, Vec<u32>) {
    let mut start = vec![0u32; n + 1];
    for (to, _) in edges() {
        start[to + 1] += 1;
    }
    for t in 0..n {
        start[t + 1] += start[t];
    }
    let mut fill = start.clone();
    let mut preds = vec![0u32; start[n] as usize];
    for (to, value) in edges() {
        preds[fill[to] as usize] = value;
        fill[to] += 1;
    }
    (start, preds)
}

/// Byte classes that `key` refines: bytes with equal keys share a class.
/// Returns the class of each byte and one representative byte per class.
pub(crate) fn classes_by<K: std::hash::Hash + Eq>(key: impl Fn(u8) -> K) -> ([u8; 256], Vec<u8>) {
    let mut classes = [0u8; 256];
    let mut reps: Vec<u8> = Vec::new();
    let mut seen: rustc_hash::FxHashMap<K, u8> = Default::default();
    for byte in 0..=255u8 {
        classes[byte as usize] = *seen.entry(key(byte)).or_insert_with(|| {
            reps.push(byte);
            (reps.len() - 1) as u8
        });
    }
    (classes, reps)
}

/// Joint byte classes of two automata (bytes that both treat alike): the
/// class of each byte and one representative byte per class. ([`classes_by`]
/// with a dense table: this one runs at every product and join.)
pub(crate) fn joint_classes(a: &ByteDfa, b: &ByteDfa) -> ([u8; 256], Vec<u8>) {
    let mut joint = vec![u16::MAX; a.stride * b.stride];
    let mut classes = [0u8; 256];
    let mut reps: Vec<u8> = Vec::new();
    for byte in 0..=255u8 {
        let key = a.classes[byte as usize] as usize * b.stride + b.classes[byte as usize] as usize;
        if joint[key] == u16::MAX {
            joint[key] = reps.len() as u16;
            reps.push(byte);
        }
        classes[byte as usize] = joint[key] as u8;
    }
    (classes, reps)
}

/// Whether count ranges `lo..=hi` are each well formed and pairwise apart.
pub(crate) fn counts_apart(mut ranges: Vec<(u32, u32)>) -> bool {
    ranges.sort_unstable();
    ranges.iter().all(|(lo, hi)| lo <= hi) && ranges.windows(2).all(|w| w[0].1 < w[1].0)
}

/// The byte that starts a call marker inside a rule's regular expression:
/// `0xFF hi lo` calls rule `hi * 128 + lo`, with `hi` and `lo` below 0x80 so
/// that no state inside a marker looks like the start of another. 0xFF never
/// occurs in UTF-8, and token bytes 0xFF are never stepped through a rule
/// automaton.
pub const CALL_MARKER: u8 = 0xFF;

/// Most rules a grammar may call.
pub const MAX_CALLED_RULES: usize = 128 * 128;

/// The marker bytes for a call to `rule` (`rule < MAX_CALLED_RULES`).
pub fn call_marker(rule: usize) -> [u8; 3] {
    debug_assert!(rule < MAX_CALLED_RULES);
    [CALL_MARKER, (rule >> 7) as u8 & 0x7F, rule as u8 & 0x7F]
}

impl ByteDfa {
    /// Compile a regular expression (full-match semantics: the whole input
    /// must match, as if wrapped in `\A(?:...)\z`).
    pub fn from_hir(hir: &Hir, limits: &DfaLimits) -> Result<Self, CompileError> {
        let dfa = match crate::counted::dfa(hir, limits) {
            Some(layered) => layered,
            None => {
                let Some((table, all_live)) = crate::glushkov::table(hir, limits) else {
                    return Self::from_hir_via_nfa(hir, limits);
                };
                let (classes, stride, raw_trans, accepting) = table?;
                let mut dfa = if all_live {
                    ByteDfa::from_live_table(classes, stride, raw_trans, accepting)
                } else {
                    ByteDfa::from_table(classes, stride, raw_trans, accepting)?
                };
                dfa.extract_calls();
                dfa
            }
        };
        if CHECK_AUTOMATA.load(std::sync::atomic::Ordering::Relaxed) {
            let reference = Self::from_hir_via_nfa(hir, limits)?;
            assert!(dfa.equivalent(&reference), "automaton differs from the NFA path's for {hir}");
        }
        Ok(dfa)
    }

    /// The same automaton, determinised from a Thompson NFA by
    /// `regex-automata` (the path for look-around; the reference in tests).
    #[doc(hidden)]
    pub fn from_hir_via_nfa(hir: &Hir, limits: &DfaLimits) -> Result<Self, CompileError> {
        // Counted repetitions expand in the NFA (`x{0,15000000}`): bounded
        // like the determiniser, so a huge count fails fast instead of
        // allocating gigabytes.
        let nfa = thompson::Compiler::new()
            .configure(thompson::Config::new().shrink(false).nfa_size_limit(Some(limits.determinize_bytes)))
            .build_from_hir(hir)
            .map_err(|e| {
                let detail = format!("regular expression automaton: {e}");
                if e.size_limit().is_some() || e.to_string().contains("NFA states") {
                    limits::exceeded(Limit::AutomatonBytes, limits.determinize_bytes, detail)
                } else {
                    CompileError::Invalid(detail)
                }
            })?;
        let dense = dense::Builder::new()
            .configure(
                dense::Config::new()
                    .match_kind(MatchKind::All)
                    .start_kind(regex_automata::dfa::StartKind::Anchored)
                    .minimize(false)
                    .determinize_size_limit(Some(limits.determinize_bytes))
                    .dfa_size_limit(Some(limits.dfa_bytes)),
            )
            .build_from_nfa(&nfa)
            .map_err(|e| {
                let msg = e.to_string();
                if msg.contains("size limit") || msg.contains("exceeded") {
                    let limit = limits.determinize_bytes.min(limits.dfa_bytes);
                    limits::exceeded(Limit::AutomatonBytes, limit, format!("regular expression automaton: {msg}"))
                } else if msg.contains("word boundary") {
                    CompileError::Unsupported(format!("{msg} (use an ASCII word boundary, (?-u:\\b))"))
                } else {
                    CompileError::Invalid(format!("cannot build automaton: {msg}"))
                }
            })?;
        Self::from_dense(&dense, limits)
    }

    fn from_dense(dfa: &dense::DFA<Vec<u32>>, limits: &DfaLimits) -> Result<Self, CompileError> {
        let start = dfa
            .start_state(&start::Config::new().anchored(Anchored::Yes))
            .map_err(|e| CompileError::Invalid(format!("no anchored start state: {e}")))?;
        // One representative byte per equivalence class.
        let byte_classes = dfa.byte_classes();
        let mut classes = [0u8; 256];
        let mut first: [Option<u8>; 256] = [None; 256];
        for b in 0..=255u8 {
            let c = byte_classes.get(b);
            classes[b as usize] = c;
            first[c as usize].get_or_insert(b);
        }
        let stride = classes.iter().map(|&c| c as usize).max().unwrap_or(0) + 1;
        let reps: Vec<u8> = first[..stride].iter().map(|b| b.expect("class ids are dense")).collect();
        // Breadth-first numbering of the reachable states.
        let mut ids: HashMap<StateID, u32> = HashMap::new();
        let mut order: Vec<StateID> = Vec::new();
        let mut raw_trans: Vec<u32> = Vec::new();
        let mut accepting = Vec::new();
        if dfa.is_dead_state(start) {
            return Err(CompileError::Empty);
        }
        ids.insert(start, 0);
        order.push(start);
        let mut i = 0;
        while i < order.len() {
            let s = order[i];
            accepting.push(dfa.is_match_state(dfa.next_eoi_state(s)));
            for &b in &reps {
                let n = dfa.next_state(s, b);
                if dfa.is_dead_state(n) || dfa.is_quit_state(n) {
                    raw_trans.push(DEAD);
                    continue;
                }
                let next_id = ids.len() as u32;
                let id = *ids.entry(n).or_insert_with(|| {
                    order.push(n);
                    next_id
                });
                raw_trans.push(id);
            }
            limits.check_growth(i, order.len(), "automaton")?;
            i += 1;
        }
        let mut dfa = ByteDfa::from_table(classes, stride, raw_trans, accepting)?;
        dfa.extract_calls();
        Ok(dfa)
    }

    /// Turn `0xFF hi lo` marker paths into call edges and cut them from the
    /// byte transitions, so that no token byte can ever follow a marker.
    fn extract_calls(&mut self) {
        let marker_class = self.classes[CALL_MARKER as usize] as usize;
        let has_markers = (0..self.num_states()).any(|s| self.trans[s * self.stride + marker_class] != DEAD);
        if !has_markers {
            return;
        }
        let mut offsets = Vec::with_capacity(self.num_states() + 1);
        let mut edges = Vec::new();
        for s in 0..self.num_states() as u32 {
            offsets.push(edges.len() as u32);
            let m = self.next(s, CALL_MARKER);
            if m == DEAD {
                continue;
            }
            for hi in 0..0x80u8 {
                let h = self.next(m, hi);
                if h == DEAD {
                    continue;
                }
                for lo in 0..0x80u8 {
                    let ret = self.next(h, lo);
                    if ret != DEAD {
                        edges.push(((hi as u32) << 7 | lo as u32, ret));
                    }
                }
            }
        }
        offsets.push(edges.len() as u32);
        // Only 0xFF may be in the marker's class, or cutting it would cut real bytes.
        let shared = (0..=255u8).any(|b| b != CALL_MARKER && self.classes[b as usize] as usize == marker_class);
        if shared {
            self.split_marker_class();
        }
        let marker_class = self.classes[CALL_MARKER as usize] as usize;
        for s in 0..self.num_states() {
            self.trans[s * self.stride + marker_class] = DEAD;
        }
        self.call_offsets = offsets;
        self.call_edges = edges;
    }

    /// Give 0xFF a class of its own (a new column, copied from its old class).
    fn split_marker_class(&mut self) {
        let old = self.classes[CALL_MARKER as usize] as usize;
        let new_stride = self.stride + 1;
        let mut trans = Vec::with_capacity(self.num_states() * new_stride);
        for s in 0..self.num_states() {
            let row = &self.trans[s * self.stride..(s + 1) * self.stride];
            trans.extend_from_slice(row);
            trans.push(row[old]);
        }
        self.classes[CALL_MARKER as usize] = self.stride as u8;
        self.stride = new_stride;
        self.trans = trans;
    }

    /// An automaton with no byte transitions: only call edges
    /// (`edges[s]`: `(rule, return_state)`, sorted by rule) and acceptance.
    /// States from which no accepting state can be reached are removed.
    pub(crate) fn from_calls(accepting: Vec<bool>, edges: Vec<Vec<(u32, u32)>>) -> Result<ByteDfa, CompileError> {
        let n = accepting.len();
        let successors = edges.iter().map(|out| out.iter().map(|&(_, t)| t).collect()).collect::<Vec<Vec<u32>>>();
        let (live, new_id, next) = co_reachable(&accepting, |s| &successors[s])?;
        let mut call_offsets = Vec::with_capacity(next as usize + 1);
        let mut call_edges = Vec::new();
        let mut acc = Vec::with_capacity(next as usize);
        for s in (0..n).filter(|&s| live[s]) {
            call_offsets.push(call_edges.len() as u32);
            call_edges
                .extend(edges[s].iter().filter(|(_, t)| live[*t as usize]).map(|&(r, t)| (r, new_id[t as usize])));
            acc.push(accepting[s]);
        }
        call_offsets.push(call_edges.len() as u32);
        Ok(ByteDfa {
            classes: [0; 256],
            stride: 1,
            trans: vec![DEAD; next as usize],
            accepting: acc,
            start: 0,
            call_offsets,
            call_edges,
        })
    }

    /// The automaton of `a` followed by `b`, built by joining the two
    /// tables, when that needs no determinisation: at every accepting state
    /// of `a`, no byte and no callee continues both in `a` and from `b`'s
    /// start. Each accepting state of `a` then also acts as `b`'s start (its
    /// bytes, its calls, its acceptance). `None` otherwise.
    pub fn concat_disjoint(a: &ByteDfa, b: &ByteDfa) -> Option<ByteDfa> {
        let (classes, reps) = joint_classes(a, b);
        let na = a.num_states() as u32;
        let b_start_acc = b.is_accepting(b.start);
        for s in 0..na {
            if a.is_accepting(s) && reps.iter().any(|&r| a.next(s, r) != DEAD && b.next(b.start, r) != DEAD) {
                return None;
            }
        }
        let mut out = Layout::with_capacity(a.num_states() + b.num_states(), reps.len());
        for s in 0..na {
            let acc = a.is_accepting(s);
            for &r in &reps {
                let t = a.next(s, r);
                out.trans.push(if t != DEAD || !acc { t } else { shifted(b.next(b.start, r), na) });
            }
            out.accepting.push(acc && b_start_acc);
            out.call_offsets.push(out.call_edges.len() as u32);
            let own = a.calls(s);
            out.call_edges.extend_from_slice(own);
            if acc {
                let joined = b.calls(b.start);
                // A callee that could both go on in `a` and start `b`.
                if joined.iter().any(|&(rule, _)| own.iter().any(|&(r, _)| r == rule)) {
                    return None;
                }
                out.call_edges.extend(joined.iter().map(|&(rule, ret)| (rule, ret + na)));
                let here = out.call_offsets[s as usize] as usize;
                out.call_edges[here..].sort_unstable();
            }
        }
        out.append(b, &reps, na);
        Some(out.finish(classes, reps.len(), a.start))
    }

    /// The automaton of `min` to `max` (`None`: unbounded) copies of `x`
    /// one after another, built by laying copies of `x`'s table side by
    /// side (one layer per copy) instead of determinising the counted
    /// expression: `x{0,1024}` over a string character took 17 ms of
    /// subset construction for its 14,000 states.
    ///
    /// `None` (the caller takes the general path) when the layers would not
    /// be deterministic: `x` matches the empty string or has calls, or at a
    /// state that ends a copy some byte both continues the copy and starts
    /// the next one. Otherwise, at a state that ends a copy, a byte that
    /// cannot continue it starts the next copy, so every byte has one place
    /// to go. Also `None` past `limits.max_states` or a table larger than
    /// `limits.determinize_bytes` (the general path reports the limit).
    pub(crate) fn repeat(x: &ByteDfa, min: u32, max: Option<u32>, limits: &DfaLimits) -> Option<ByteDfa> {
        let stride = x.stride;
        let row = |s: u32| &x.trans[s as usize * stride..(s as usize + 1) * stride];
        if x.has_calls() || x.is_accepting(x.start) {
            return None;
        }
        let starts = row(x.start);
        // (With at most one copy, no copy is followed by another: `x?`.)
        if max != Some(1) {
            for s in 0..x.num_states() as u32 {
                if x.is_accepting(s) && row(s).iter().zip(starts).any(|(&t, &u)| t != DEAD && u != DEAD) {
                    return None;
                }
            }
        }
        // Layer `l` reads copy `l + 1`; without a maximum the last layer
        // (`min` copies or more) repeats.
        let layers = match max {
            Some(0) => return None,
            Some(m) => m as usize,
            None => min.max(1) as usize,
        };
        let n = x.num_states();
        let states = layers.saturating_mul(n);
        if states > limits.max_states || states.saturating_mul(stride * 4) > limits.determinize_bytes {
            return None;
        }
        let next_layer = |l: usize| match max {
            Some(_) => (l + 1 < layers).then_some(l + 1),
            None => Some((l + 1).min(layers - 1)),
        };
        // State 0 is before the first copy (accepting when `min` is 0); a
        // layer's own start state is entered only if `x` returns to its start.
        let mut ids = vec![DEAD; layers * n];
        let mut order: Vec<(usize, u32)> = Vec::with_capacity(layers * n + 1);
        order.push((usize::MAX, x.start));
        let mut raw_trans: Vec<u32> = Vec::with_capacity((layers * n + 1) * stride);
        let mut accepting: Vec<bool> = Vec::with_capacity(layers * n + 1);
        let mut i = 0;
        while i < order.len() {
            let (layer, s) = order[i];
            let ends_copy = x.is_accepting(s);
            accepting.push(if layer == usize::MAX { min == 0 } else { ends_copy && layer + 1 >= min as usize });
            let (here, then) = if layer == usize::MAX { (0, None) } else { (layer, next_layer(layer)) };
            for (&within, &first) in row(s).iter().zip(starts) {
                let target = if within != DEAD {
                    Some((here, within))
                } else {
                    match then {
                        Some(l) if ends_copy && first != DEAD => Some((l, first)),
                        _ => None,
                    }
                };
                raw_trans.push(match target {
                    None => DEAD,
                    Some((l, t)) => {
                        let slot = &mut ids[l * n + t as usize];
                        if *slot == DEAD {
                            *slot = order.len() as u32;
                            order.push((l, t));
                        }
                        *slot
                    }
                });
            }
            if i % 4096 == 0 && limits::check_time().is_err() {
                return None;
            }
            i += 1;
        }
        // Every state reached can still accept: its state of `x` can (`x` is
        // pruned) and, below `min` copies, an ended copy starts the next.
        Some(ByteDfa::from_live_table(x.classes, stride, raw_trans, accepting))
    }

    /// `x{min_i,max_i} y_i` for each exit `(min_i, max_i, y_i)`, the count
    /// ranges disjoint: copies of `x` laid out in layers as in
    /// [`ByteDfa::repeat`], and where `k` copies have ended, the exit whose
    /// range holds `k` joined on. Each exit's states are laid out once,
    /// whichever count enters them. A string longer than 1024 characters is
    /// this shape: up to `q - 1` called chunks then at most 255 characters,
    /// or `q` chunks then at most `r` (`x` a call, the exits string tails).
    ///
    /// `x` may call rules (its call edges are laid out with it); the exits
    /// may not. `None` where this is not deterministic (a byte or a callee
    /// that could continue a copy, start the next or start an exit), where
    /// `x` matches the empty string, where a range is unbounded or two
    /// ranges meet, or past the size limits.
    pub(crate) fn repeat_then(x: &ByteDfa, exits: &[(u32, u32, ByteDfa)], limits: &DfaLimits) -> Option<ByteDfa> {
        let ranges: Vec<(u32, u32)> = exits.iter().map(|&(lo, hi, _)| (lo, hi)).collect();
        if x.is_accepting(x.start) || exits.iter().any(|e| e.2.has_calls()) || !counts_apart(ranges) {
            return None;
        }
        let copies = exits.iter().map(|e| e.1).max()? as usize;
        let exit_at = |k: usize| exits.iter().position(|&(lo, hi, _)| lo as usize <= k && k <= hi as usize);
        // Joint classes of `x` and every exit.
        let (classes, reps) = classes_by(|byte| {
            std::iter::once(x.class_of(byte)).chain(exits.iter().map(|e| e.2.class_of(byte))).collect::<Vec<u8>>()
        });
        let stride = reps.len();
        let n = x.num_states();
        let states = copies.saturating_mul(n) + exits.iter().map(|e| e.2.num_states()).sum::<usize>() + 1;
        if states > limits.max_states || states.saturating_mul(stride * 4) > limits.determinize_bytes {
            return None;
        }
        // Ids: state 0 before the first copy; `(layer, s)` (copy `layer + 1`
        // at state `s` of `x`) numbered as met; each exit's states in one
        // block after the layers, numbered at the end.
        #[derive(Clone, Copy)]
        enum Node {
            Layer(usize, u32),
            Exit(usize, u32),
        }
        let mut ids = vec![DEAD; copies * n];
        let mut exit_ids: Vec<Vec<u32>> = exits.iter().map(|e| vec![DEAD; e.2.num_states()]).collect();
        let mut order: Vec<Node> = vec![Node::Layer(usize::MAX, x.start)];
        let mut trans: Vec<u32> = Vec::with_capacity(states * stride);
        let mut accepting: Vec<bool> = Vec::with_capacity(states);
        let mut call_offsets: Vec<u32> = Vec::with_capacity(states + 1);
        let mut call_edges: Vec<(u32, u32)> = Vec::new();
        let mut id_of = |node: Node, order: &mut Vec<Node>| -> u32 {
            let slot = match node {
                Node::Layer(l, s) => &mut ids[l * n + s as usize],
                Node::Exit(e, s) => &mut exit_ids[e][s as usize],
            };
            if *slot == DEAD {
                *slot = order.len() as u32;
                order.push(node);
            }
            *slot
        };
        let mut calls: Vec<(u32, u32)> = Vec::new();
        let mut i = 0;
        while i < order.len() {
            let node = order[i];
            i += 1;
            call_offsets.push(call_edges.len() as u32);
            let (layer, s) = match node {
                Node::Exit(e, t) => {
                    let y = &exits[e].2;
                    accepting.push(y.is_accepting(t));
                    for &b in &reps {
                        let u = y.next(t, b);
                        trans.push(if u == DEAD { DEAD } else { id_of(Node::Exit(e, u), &mut order) });
                    }
                    continue;
                }
                Node::Layer(layer, s) => (layer, s),
            };
            let first = layer == usize::MAX;
            // Copies ended here, when this is between two copies.
            let ended = if first { Some(0) } else { x.is_accepting(s).then_some(layer + 1) };
            let next_copy = ended.filter(|&k| k < copies);
            let exit = ended.and_then(exit_at);
            accepting.push(exit.is_some_and(|e| exits[e].2.is_accepting(exits[e].2.start)));
            for &b in &reps {
                let mut targets = [DEAD; 3];
                if !first {
                    let t = x.next(s, b);
                    if t != DEAD {
                        targets[0] = id_of(Node::Layer(layer, t), &mut order);
                    }
                }
                if let Some(k) = next_copy {
                    let t = x.next(x.start, b);
                    if t != DEAD {
                        targets[1] = id_of(Node::Layer(k, t), &mut order);
                    }
                }
                if let Some(e) = exit {
                    let y = &exits[e].2;
                    let t = y.next(y.start, b);
                    if t != DEAD {
                        targets[2] = id_of(Node::Exit(e, t), &mut order);
                    }
                }
                let mut alive = targets.iter().filter(|&&t| t != DEAD);
                let target = alive.next().copied().unwrap_or(DEAD);
                if alive.next().is_some() {
                    return None;
                }
                trans.push(target);
            }
            calls.clear();
            if !first {
                for &(rule, ret) in x.calls(s) {
                    calls.push((rule, id_of(Node::Layer(layer, ret), &mut order)));
                }
            }
            if let Some(k) = next_copy {
                for &(rule, ret) in x.calls(x.start) {
                    calls.push((rule, id_of(Node::Layer(k, ret), &mut order)));
                }
            }
            calls.sort_unstable();
            if calls.windows(2).any(|w| w[0].0 == w[1].0) {
                return None;
            }
            call_edges.extend_from_slice(&calls);
            if i % 4096 == 0 && limits::check_time().is_err() {
                return None;
            }
        }
        call_offsets.push(call_edges.len() as u32);
        let dfa = ByteDfa { classes, stride, trans, accepting, start: 0, call_offsets, call_edges };
        debug_assert!(dfa.all_live(), "a layered automaton with exits has a dead state");
        Some(dfa)
    }

    /// Whether every state can reach acceptance, by bytes or call edges.
    fn all_live(&self) -> bool {
        let successors: Vec<Vec<u32>> = (0..self.num_states() as u32)
            .map(|s| {
                let row = &self.trans[s as usize * self.stride..(s as usize + 1) * self.stride];
                row.iter().copied().chain(self.calls(s).iter().map(|&(_, t)| t)).collect()
            })
            .collect();
        co_reachable(&self.accepting, |s| &successors[s]).is_ok_and(|(_, _, n)| n as usize == self.num_states())
    }

    /// The call edges of `state`: `(rule, return_state)`.
    #[inline]
    pub fn calls(&self, state: u32) -> &[(u32, u32)] {
        if self.call_offsets.is_empty() {
            return &[];
        }
        let s = state as usize;
        &self.call_edges[self.call_offsets[s] as usize..self.call_offsets[s + 1] as usize]
    }

    /// The same automaton with the rule of every call edge renamed.
    pub(crate) fn with_calls_renamed(&self, rename: impl Fn(u32) -> u32) -> ByteDfa {
        let mut d = self.clone();
        for s in 0..d.call_offsets.len().saturating_sub(1) {
            let out = &mut d.call_edges[d.call_offsets[s] as usize..d.call_offsets[s + 1] as usize];
            for e in out.iter_mut() {
                e.0 = rename(e.0);
            }
            out.sort_unstable();
        }
        d
    }

    /// Whether any state has call edges.
    pub fn has_calls(&self) -> bool {
        !self.call_edges.is_empty()
    }

    /// The product automaton: `keep_a` and `keep_b` say which of the two
    /// languages a string must (`true`) or must not (`false`) be in, so
    /// `(true, true)` is intersection and `(true, false)` is difference.
    /// Neither side may have calls.
    pub fn product(a: &ByteDfa, b: &ByteDfa, negate_b: bool, limits: &DfaLimits) -> Result<ByteDfa, CompileError> {
        if a.has_calls() || b.has_calls() {
            return Err(CompileError::Unsupported("intersection of languages that contain recursion".into()));
        }
        let (classes, reps) = joint_classes(a, b);
        let stride = reps.len();
        // A side that has died is tracked as DEAD; for the negated side that means "not in B" forever.
        let mut ids: rustc_hash::FxHashMap<(u32, u32), u32> = Default::default();
        let mut order: Vec<(u32, u32)> = vec![(a.start, b.start)];
        ids.insert((a.start, b.start), 0);
        let mut raw_trans: Vec<u32> = Vec::new();
        let mut accepting = Vec::new();
        let mut i = 0;
        while i < order.len() {
            let (sa, sb) = order[i];
            let b_acc = sb != DEAD && b.is_accepting(sb);
            accepting.push(a.is_accepting(sa) && if negate_b { !b_acc } else { b_acc });
            for &byte in &reps {
                let na = a.next(sa, byte);
                let nb = if sb == DEAD { DEAD } else { b.next(sb, byte) };
                if na == DEAD || (!negate_b && nb == DEAD) {
                    raw_trans.push(DEAD);
                    continue;
                }
                let next_id = ids.len() as u32;
                let id = *ids.entry((na, nb)).or_insert_with(|| {
                    order.push((na, nb));
                    next_id
                });
                raw_trans.push(id);
            }
            limits.check_growth(i, order.len(), "intersection automaton")?;
            i += 1;
        }
        ByteDfa::from_table(classes, stride, raw_trans, accepting)
    }

    /// The union of call-free automata: one state per tuple of their
    /// states (a side that died stays dead), accepting where any side
    /// accepts. `Ok(None)` when it would have more than `max_states` states
    /// or a table of more than `max_bytes` (the caller keeps the parts apart).
    pub(crate) fn union(
        parts: &[&ByteDfa],
        max_states: usize,
        max_bytes: usize,
    ) -> Result<Option<ByteDfa>, CompileError> {
        let Some(u) = Tuples::build(parts, parts, max_states, max_bytes)? else { return Ok(None) };
        let accepting = u.order.iter().map(|states| Tuples::accepting_part(parts, states).is_some()).collect();
        ByteDfa::from_table(u.classes, u.reps.len(), u.trans, accepting).map(Some)
    }

    /// The union of `heads[i]` followed by `tails[i]` for every `i`: one
    /// automaton for the members of an object whose keys are products
    /// (each set of `patternProperties` a name matches, and the names none
    /// matches), each followed by its own value. The heads are call-free
    /// and walked together as in [`ByteDfa::union`]; where one head
    /// accepts, its tail goes on (its start's bytes, calls and acceptance),
    /// as [`ByteDfa::concat_disjoint`] joins. `Ok(None)` when the heads
    /// overlap (two accept the same string), when a head's accepting state
    /// goes on (the join would not be deterministic), or past `max_states`
    /// or a table of `max_bytes`.
    pub(crate) fn union_then(
        heads: &[&ByteDfa],
        tails: &[&ByteDfa],
        max_states: usize,
        max_bytes: usize,
    ) -> Result<Option<ByteDfa>, CompileError> {
        assert_eq!(heads.len(), tails.len(), "one tail per head");
        let all: Vec<&ByteDfa> = heads.iter().chain(tails).copied().collect();
        let Some(u) = Tuples::build(heads, &all, max_states, max_bytes)? else { return Ok(None) };
        let stride = u.reps.len();
        let n = u.order.len();
        let mut offsets = Vec::with_capacity(tails.len());
        let mut total = n;
        for t in tails {
            offsets.push(total as u32);
            total += t.num_states();
        }
        if total > max_states || total.saturating_mul(stride * 4) > max_bytes {
            return Ok(None);
        }
        // The tuples' rows, then the tails' after them.
        let mut out = Layout { trans: u.trans, ..Layout::with_capacity(total, 0) };
        out.trans.reserve((total - n) * stride);
        for (s, states) in u.order.iter().enumerate() {
            out.call_offsets.push(out.call_edges.len() as u32);
            let Some(i) = Tuples::accepting_part(heads, states) else {
                out.accepting.push(false);
                continue;
            };
            let row = &mut out.trans[s * stride..(s + 1) * stride];
            let other =
                heads.iter().zip(states).enumerate().any(|(j, (d, &q))| j != i && q != DEAD && d.is_accepting(q));
            if other || row.iter().any(|&t| t != DEAD) {
                return Ok(None);
            }
            let (tail, off) = (tails[i], offsets[i]);
            for (slot, &r) in row.iter_mut().zip(&u.reps) {
                *slot = shifted(tail.next(tail.start, r), off);
            }
            out.accepting.push(tail.is_accepting(tail.start));
            out.call_edges.extend(tail.calls(tail.start).iter().map(|&(rule, ret)| (rule, ret + off)));
        }
        for (tail, &off) in tails.iter().zip(&offsets) {
            out.append(tail, &u.reps, off);
        }
        Ok(Some(out.finish(u.classes, stride, 0)))
    }

    /// A raw table whose state 0 is the start and whose every state can
    /// reach acceptance, as it is (checked against the pruning path in
    /// debug builds).
    pub(crate) fn from_live_table(classes: [u8; 256], stride: usize, trans: Vec<u32>, accepting: Vec<bool>) -> ByteDfa {
        debug_assert_eq!(
            co_reachable(&accepting, |s| &trans[s * stride..(s + 1) * stride]).map(|(_, _, n)| n as usize).ok(),
            Some(accepting.len()),
            "a position automaton without void sub-expressions has a dead state"
        );
        ByteDfa { classes, stride, trans, accepting, start: 0, call_offsets: Vec::new(), call_edges: Vec::new() }
    }

    /// Prune states that cannot reach acceptance and renumber densely from a
    /// raw table whose state 0 is the start.
    fn from_table(
        classes: [u8; 256],
        stride: usize,
        raw_trans: Vec<u32>,
        accepting: Vec<bool>,
    ) -> Result<ByteDfa, CompileError> {
        let n = accepting.len();
        let (live, new_id, next) = co_reachable(&accepting, |s| &raw_trans[s * stride..(s + 1) * stride])?;
        let mut trans = Vec::with_capacity(next as usize * stride);
        let mut acc = Vec::with_capacity(next as usize);
        for s in 0..n {
            if !live[s] {
                continue;
            }
            acc.push(accepting[s]);
            for &t in &raw_trans[s * stride..(s + 1) * stride] {
                trans.push(if t == DEAD { DEAD } else { new_id[t as usize] });
            }
        }
        Ok(ByteDfa {
            classes,
            stride,
            trans,
            accepting: acc,
            start: 0,
            call_offsets: Vec::new(),
            call_edges: Vec::new(),
        })
    }

    /// Whether two automata accept the same language and make the same
    /// calls: a walk over pairs of states from the starts, comparing
    /// acceptance, which bytes are dead and the callees of call edges.
    #[doc(hidden)]
    pub fn equivalent(&self, other: &ByteDfa) -> bool {
        let mut seen: HashMap<(u32, u32), ()> = HashMap::new();
        let mut stack = vec![(self.start, other.start)];
        seen.insert((self.start, other.start), ());
        while let Some((a, b)) = stack.pop() {
            if self.is_accepting(a) != other.is_accepting(b) {
                return false;
            }
            let mut pairs: Vec<(u32, u32)> = Vec::new();
            for byte in 0..=255u8 {
                let (x, y) = (self.next(a, byte), other.next(b, byte));
                if (x == DEAD) != (y == DEAD) {
                    return false;
                }
                if x != DEAD {
                    pairs.push((x, y));
                }
            }
            let (ca, cb) = (self.calls(a), other.calls(b));
            if ca.len() != cb.len() {
                return false;
            }
            for (&(ra, ta), &(rb, tb)) in ca.iter().zip(cb) {
                if ra != rb {
                    return false;
                }
                pairs.push((ta, tb));
            }
            for p in pairs {
                if seen.insert(p, ()).is_none() {
                    stack.push(p);
                }
            }
        }
        true
    }

    /// A description of what this automaton accepts from `state`, equal for
    /// two states (of any automata) whose reachable parts are the same up
    /// to state numbering: the reachable states in breadth-first order, each
    /// with its acceptance and its transitions as byte ranges to order
    /// indices. Returns the description and the order (index → state).
    /// `None` when more than `max_states` states are reachable or one of
    /// them has calls (the future then depends on other rules).
    pub(crate) fn future(&self, state: u32, max_states: usize) -> Option<(Vec<u32>, Vec<u32>)> {
        // Called at the first visit of every state of a call-free rule, so
        // it allocates only its results: the runs live on the stack, and a
        // small open-addressing table finds a state's index in the order
        // (a linear search of the order per byte run was a tenth of the
        // time of a MaskBench run).
        let mut runs = [(0u8, 0u8, 0u8); 256];
        let mut n_runs = 0;
        for b in 0..=255u8 {
            let c = self.classes[b as usize];
            if n_runs > 0 && runs[n_runs - 1].2 == c {
                runs[n_runs - 1].1 = b;
            } else {
                runs[n_runs] = (b, b, c);
                n_runs += 1;
            }
        }
        let runs = &runs[..n_runs];
        let max_states = max_states.min(FUTURE_SLOTS / 2);
        let mut index = FutureIndex::new();
        let mut order = Vec::with_capacity(max_states.min(16));
        order.push(state);
        index.insert(state, 0);
        let mut key = Vec::with_capacity(64);
        let mut i = 0;
        while i < order.len() {
            let s = order[i];
            if !self.calls(s).is_empty() {
                return None;
            }
            key.push(u32::MAX - self.accepting[s as usize] as u32);
            let row = &self.trans[s as usize * self.stride..][..self.stride];
            let mut open: Option<(u8, u8, u32)> = None;
            for &(lo, hi, c) in runs {
                let t = row[c as usize];
                let target = if t == DEAD {
                    DEAD
                } else {
                    match index.get(t, &order) {
                        Some(k) => k,
                        None => {
                            if order.len() == max_states {
                                return None;
                            }
                            let k = order.len() as u32;
                            order.push(t);
                            index.insert(t, k);
                            k
                        }
                    }
                };
                match &mut open {
                    Some(r) if r.2 == target => r.1 = hi,
                    _ => {
                        if let Some((a, b, t)) = open.take() {
                            if t != DEAD {
                                key.extend([a as u32, b as u32, t]);
                            }
                        }
                        open = Some((lo, hi, target));
                    }
                }
            }
            if let Some((a, b, t)) = open {
                if t != DEAD {
                    key.extend([a as u32, b as u32, t]);
                }
            }
            i += 1;
        }
        Some((key, order))
    }

    /// The start state.
    #[inline]
    pub fn start(&self) -> u32 {
        self.start
    }

    /// Bytes of the transition table.
    pub fn table_bytes(&self) -> usize {
        self.trans.len() * 4
    }

    /// Number of live states.
    pub fn num_states(&self) -> usize {
        self.accepting.len()
    }

    /// The state after `b`, or [`DEAD`].
    #[inline]
    pub fn next(&self, state: u32, b: u8) -> u32 {
        self.trans[state as usize * self.stride + self.classes[b as usize] as usize]
    }

    /// The bytes on which `state` steps to a live state.
    pub(crate) fn live_bytes(&self, state: u32) -> ByteSet {
        let mut live = ByteSet::EMPTY;
        for b in 0..=255u8 {
            if self.next(state, b) != DEAD {
                live.insert(b);
            }
        }
        live
    }

    /// The equivalence class of byte `b` (bytes of one class have the same transitions everywhere).
    #[inline]
    pub fn class_of(&self, b: u8) -> u8 {
        self.classes[b as usize]
    }

    /// Whether the input so far is a complete match.
    #[inline]
    pub fn is_accepting(&self, state: u32) -> bool {
        self.accepting[state as usize]
    }
}

/// A state `t` of a part laid out from state `off` on (`DEAD` stays dead).
fn shifted(t: u32, off: u32) -> u32 {
    if t == DEAD {
        DEAD
    } else {
        t + off
    }
}

/// The tables of an automaton with calls being laid out state by state
/// ([`ByteDfa::concat_disjoint`], [`ByteDfa::union_then`]): rows over the
/// byte classes, acceptance, and each state's call edges from
/// `call_offsets[s]`.
struct Layout {
    trans: Vec<u32>,
    accepting: Vec<bool>,
    call_offsets: Vec<u32>,
    call_edges: Vec<(u32, u32)>,
}

impl Layout {
    fn with_capacity(states: usize, stride: usize) -> Layout {
        Layout {
            trans: Vec::with_capacity(states * stride),
            accepting: Vec::with_capacity(states),
            call_offsets: Vec::with_capacity(states + 1),
            call_edges: Vec::new(),
        }
    }

    /// Append every state of `d` as states `off..`, over the classes of `reps`.
    fn append(&mut self, d: &ByteDfa, reps: &[u8], off: u32) {
        for t in 0..d.num_states() as u32 {
            self.trans.extend(reps.iter().map(|&r| shifted(d.next(t, r), off)));
            self.accepting.push(d.is_accepting(t));
            self.call_offsets.push(self.call_edges.len() as u32);
            self.call_edges.extend(d.calls(t).iter().map(|&(rule, ret)| (rule, ret + off)));
        }
    }

    fn finish(mut self, classes: [u8; 256], stride: usize, start: u32) -> ByteDfa {
        self.call_offsets.push(self.call_edges.len() as u32);
        if self.call_edges.is_empty() {
            self.call_offsets.clear();
        }
        let Layout { trans, accepting, call_offsets, call_edges } = self;
        ByteDfa { classes, stride, trans, accepting, start, call_offsets, call_edges }
    }
}

/// The tuple automaton of several call-free automata walked side by side
/// ([`ByteDfa::union`], [`ByteDfa::union_then`]): state `s` is the tuple
/// `order[s]` (`DEAD` where a part has died), with a row of `trans` per
/// state over byte classes that every automaton of `class_of` treats alike.
/// Every tuple has a live part, and every live part can still accept.
struct Tuples {
    classes: [u8; 256],
    /// One byte per class: a row of `trans` has one entry per byte here.
    reps: Vec<u8>,
    order: Vec<Vec<u32>>,
    trans: Vec<u32>,
}

impl Tuples {
    /// `None` past `max_states` tuples or a table of `max_bytes`.
    fn build(
        parts: &[&ByteDfa],
        class_of: &[&ByteDfa],
        max_states: usize,
        max_bytes: usize,
    ) -> Result<Option<Tuples>, CompileError> {
        if parts.iter().any(|d| d.has_calls()) {
            return Err(CompileError::Unsupported("union of languages that contain recursion".into()));
        }
        let (classes, reps) = classes_by(|b| class_of.iter().map(|d| d.class_of(b)).collect::<Vec<u8>>());
        let stride = reps.len();
        let max_states = max_states.min(max_bytes / (stride * 4));
        let start: Vec<u32> = parts.iter().map(|d| d.start).collect();
        let mut ids: rustc_hash::FxHashMap<Vec<u32>, u32> = Default::default();
        ids.insert(start.clone(), 0);
        let mut order = vec![start];
        let mut trans: Vec<u32> = Vec::new();
        let mut next = Vec::with_capacity(parts.len());
        let mut i = 0;
        while i < order.len() {
            for &byte in &reps {
                next.clear();
                next.extend(parts.iter().zip(&order[i]).map(|(d, &s)| if s == DEAD { DEAD } else { d.next(s, byte) }));
                if next.iter().all(|&s| s == DEAD) {
                    trans.push(DEAD);
                    continue;
                }
                let id = match ids.get(&next) {
                    Some(&id) => id,
                    None => {
                        if order.len() >= max_states {
                            return Ok(None);
                        }
                        let id = order.len() as u32;
                        ids.insert(next.clone(), id);
                        order.push(next.clone());
                        id
                    }
                };
                trans.push(id);
            }
            i += 1;
        }
        Ok(Some(Tuples { classes, reps, order, trans }))
    }

    /// The first part that accepts in the tuple `states`.
    fn accepting_part(parts: &[&ByteDfa], states: &[u32]) -> Option<usize> {
        parts.iter().zip(states).position(|(d, &s)| s != DEAD && d.is_accepting(s))
    }
}

/// Slots of [`FutureIndex`]: at least twice the states a future may have.
const FUTURE_SLOTS: usize = 128;

/// Order indices of the states of a future being described, by state:
/// open addressing with linear probing, on the stack.
struct FutureIndex {
    slots: [u32; FUTURE_SLOTS],
}

impl FutureIndex {
    fn new() -> Self {
        FutureIndex { slots: [u32::MAX; FUTURE_SLOTS] }
    }

    fn home(state: u32) -> usize {
        (state.wrapping_mul(0x9E37_79B1) >> 25) as usize % FUTURE_SLOTS
    }

    /// The index of `state` in `order`, if it is there.
    fn get(&self, state: u32, order: &[u32]) -> Option<u32> {
        let mut h = Self::home(state);
        loop {
            let k = self.slots[h];
            if k == u32::MAX {
                return None;
            }
            if order[k as usize] == state {
                return Some(k);
            }
            h = (h + 1) % FUTURE_SLOTS;
        }
    }

    fn insert(&mut self, state: u32, k: u32) {
        let mut h = Self::home(state);
        while self.slots[h] != u32::MAX {
            h = (h + 1) % FUTURE_SLOTS;
        }
        self.slots[h] = k;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dfa(re: &str) -> ByteDfa {
        let hir = regex_syntax::ParserBuilder::new().utf8(false).build().parse(re).unwrap();
        ByteDfa::from_hir(&hir, &DfaLimits::default()).unwrap()
    }

    fn accepts(d: &ByteDfa, s: &[u8]) -> bool {
        let mut st = d.start();
        for &b in s {
            st = d.next(st, b);
            if st == DEAD {
                return false;
            }
        }
        d.is_accepting(st)
    }

    #[test]
    fn joined_tables_accept_the_concatenation() {
        let cases = [
            ("[ \\n]{0,3},[ \\n]{0,3}", "\"k\"[ ]{0,2}:[ ]{0,2}-?(?:0|[1-9][0-9]{0,3})"),
            ("a*", "b+c?"),
            ("(?:ab)+", "c(?:ab)*"),
        ];
        let alphabet = [b' ', b'\n', b',', b'"', b'k', b':', b'-', b'0', b'7', b'a', b'b', b'c'];
        for (x, y) in cases {
            let joined = ByteDfa::concat_disjoint(&dfa(x), &dfa(y)).expect("first bytes are disjoint");
            let whole = dfa(&format!("(?:{x})(?:{y})"));
            // Every string over the alphabet up to length 5.
            let mut strings: Vec<Vec<u8>> = vec![Vec::new()];
            for _ in 0..5 {
                let next: Vec<Vec<u8>> = strings
                    .iter()
                    .filter(|s| s.len() == strings.last().map_or(0, |l| l.len()))
                    .flat_map(|s| alphabet.iter().map(move |&c| [s.as_slice(), &[c]].concat()))
                    .collect();
                strings.extend(next);
            }
            for s in &strings {
                assert_eq!(accepts(&joined, s), accepts(&whole, s), "{x} . {y} on {:?}", String::from_utf8_lossy(s));
            }
        }
        // `a*` then `a`: an accepting state of the first continues with the
        // second's first byte, so the tables cannot be joined.
        assert!(ByteDfa::concat_disjoint(&dfa("a*"), &dfa("ab")).is_none());
    }

    #[test]
    fn union_then_joins_each_heads_tail_where_it_accepts() {
        let heads = [dfa("A[a-z]*;"), dfa("B[0-9]*;")];
        // The second tail calls rule 5 after `=`, then takes `!`.
        let mut second = b"=".to_vec();
        second.extend(call_marker(5));
        second.push(b'!');
        let second = ByteDfa::from_hir(&Hir::literal(second), &DfaLimits::default()).unwrap();
        let tails = [dfa("=1"), second];
        let heads_ref: Vec<&ByteDfa> = heads.iter().collect();
        let tails_ref: Vec<&ByteDfa> = tails.iter().collect();
        let u = ByteDfa::union_then(&heads_ref, &tails_ref, 1000, usize::MAX).unwrap().unwrap();
        for (s, want) in [("Aab;=1", true), ("A;=1", true), ("Aab;", false), ("Aab;=2", false), ("B1;=1", false)] {
            assert_eq!(accepts(&u, s.as_bytes()), want, "{s:?}");
        }
        // After `B12;=` the only way on is the call, whose return state takes `!`.
        let mut st = u.start();
        for &b in b"B12;=" {
            st = u.next(st, b);
        }
        assert_ne!(st, DEAD);
        assert!((0..=255u8).all(|b| u.next(st, b) == DEAD), "only the call goes on");
        let [(rule, ret)] = u.calls(st) else { panic!("one call: {:?}", u.calls(st)) };
        assert_eq!(*rule, 5);
        assert!(u.is_accepting(u.next(*ret, b'!')));
        // Heads that overlap, or a head that goes on where it accepts: kept apart.
        let overlap = [dfa("A[a-z]*;"), dfa("[A-Z]b*;")];
        let refs: Vec<&ByteDfa> = overlap.iter().collect();
        assert!(
            ByteDfa::union_then(&refs, &tails_ref, 1000, usize::MAX).unwrap().is_none(),
            "\"Ab;\" is in both heads"
        );
        let goes_on = [dfa("A;;?"), dfa("B;")];
        let refs: Vec<&ByteDfa> = goes_on.iter().collect();
        assert!(
            ByteDfa::union_then(&refs, &tails_ref, 1000, usize::MAX).unwrap().is_none(),
            "\"A;\" accepts and goes on"
        );
        assert!(
            ByteDfa::union_then(&heads_ref, &tails_ref, 3, usize::MAX).unwrap().is_none(),
            "more states than allowed"
        );
    }

    #[test]
    fn unions_accept_what_a_part_accepts() {
        let parts = [dfa("a[0-9]*"), dfa("[0-9]*b"), dfa("(?:ab)+")];
        let refs: Vec<&ByteDfa> = parts.iter().collect();
        let u = ByteDfa::union(&refs, 1000, usize::MAX).unwrap().unwrap();
        for s in ["a", "a12", "12b", "b", "ab", "abab", "", "ba", "a1b2", "aab", "1a"] {
            let want = parts.iter().any(|d| accepts(d, s.as_bytes()));
            assert_eq!(accepts(&u, s.as_bytes()), want, "{s:?}");
        }
        assert!(ByteDfa::union(&refs, 2, usize::MAX).unwrap().is_none(), "more states than allowed");
    }
}
