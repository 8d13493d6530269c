//! A token trie laid out in preorder for a fast depth-first walk.
//!
//! Node `i`'s subtree occupies `i..skip(i)`: descending is `i + 1`, and
//! pruning a dead subtree is one jump to `skip(i)`. The walk keeps one
//! automaton state per depth in a caller-owned stack, so it allocates nothing.

use crate::vocab::{TokenKind, Vocabulary};

#[derive(Debug, Clone, Copy)]
struct Node {
    /// Index one past the end of this node's subtree.
    skip: u32,
    /// Length of the byte string this node spells (root: 0).
    depth: u16,
    /// The byte on the edge into this node (root: 0).
    byte: u8,
}

/// The trie of all text tokens of a vocabulary.
#[derive(Debug, Clone, Default)]
pub struct TokenTrie {
    nodes: Vec<Node>,
    /// `node_tokens[token_offsets[i]..token_offsets[i + 1]]` are the ids whose bytes end at node `i`.
    token_offsets: Vec<u32>,
    node_tokens: Vec<u32>,
    max_depth: usize,
}

impl TokenTrie {
    /// Build the trie of every [`TokenKind::Text`] token of `vocab`.
    pub fn build(vocab: &Vocabulary) -> Self {
        let mut tokens: Vec<(&[u8], u32)> = (0..vocab.mask_width() as u32)
            .filter(|&id| vocab.kind(id) == TokenKind::Text)
            .map(|id| (vocab.token_bytes(id), id))
            // Depth is stored in 16 bits; no real token comes near that length.
            .filter(|(bytes, _)| bytes.len() <= u16::MAX as usize)
            .collect();
        tokens.sort_unstable();
        let mut trie = TokenTrie {
            nodes: vec![Node { skip: 0, depth: 0, byte: 0 }],
            token_offsets: vec![0],
            node_tokens: Vec::with_capacity(tokens.len()),
            max_depth: 0,
        };
        // `path[d]` is the node index spelling the first `d` bytes of the previous token.
        let mut path: Vec<usize> = vec![0];
        let mut prev: &[u8] = &[];
        for (bytes, id) in tokens {
            let depth = bytes.len();
            let common = prev.iter().zip(bytes).take_while(|(a, b)| a == b).count();
            // Close the nodes of the previous path below the common prefix.
            while path.len() > common + 1 {
                let closed = path.pop().expect("path non-empty");
                trie.nodes[closed].skip = trie.nodes.len() as u32;
            }
            for (d, &b) in bytes.iter().enumerate().skip(common) {
                trie.nodes.push(Node { skip: 0, depth: (d + 1) as u16, byte: b });
                trie.token_offsets.push(trie.node_tokens.len() as u32);
                path.push(trie.nodes.len() - 1);
            }
            trie.node_tokens.push(id);
            trie.max_depth = trie.max_depth.max(depth);
            prev = bytes;
        }
        let end = trie.nodes.len() as u32;
        for idx in path {
            trie.nodes[idx].skip = end;
        }
        trie.token_offsets.push(trie.node_tokens.len() as u32);
        trie
    }

    /// Number of nodes, the root included.
    pub fn num_nodes(&self) -> usize {
        self.nodes.len()
    }

    /// Length of the longest token.
    pub fn max_depth(&self) -> usize {
        self.max_depth
    }

    /// The token ids whose bytes end exactly at `node`.
    #[inline]
    pub fn tokens_at(&self, node: usize) -> &[u32] {
        &self.node_tokens[self.token_offsets[node] as usize..self.token_offsets[node + 1] as usize]
    }

    /// Whether any token is longer than, and starts with, the bytes spelled by `node`.
    #[inline]
    pub fn has_children(&self, node: usize) -> bool {
        self.nodes[node].skip as usize > node + 1
    }

    /// The child of `node` along byte `b`.
    pub fn child(&self, node: usize, b: u8) -> Option<usize> {
        self.children(node).find(|&j| self.nodes[j].byte == b)
    }

    /// The children of `node`, in byte order.
    pub fn children(&self, node: usize) -> impl Iterator<Item = usize> + '_ {
        let end = self.skip(node);
        std::iter::successors(Some(node + 1), move |&j| Some(self.skip(j))).take_while(move |&j| j < end)
    }

    /// The longest token that is a prefix of `bytes`: `(length, node)`.
    pub fn longest_prefix(&self, bytes: &[u8]) -> Option<(usize, usize)> {
        let mut node = 0;
        let mut best = None;
        for (i, &b) in bytes.iter().enumerate() {
            match self.child(node, b) {
                Some(c) => {
                    node = c;
                    if !self.tokens_at(c).is_empty() {
                        best = Some((i + 1, c));
                    }
                }
                None => break,
            }
        }
        best
    }

    /// One past the last node of `node`'s subtree.
    #[inline]
    pub fn skip(&self, node: usize) -> usize {
        self.nodes[node].skip as usize
    }

    /// Length of the byte string `node` spells.
    #[inline]
    pub fn depth(&self, node: usize) -> usize {
        self.nodes[node].depth as usize
    }

    /// The byte on the edge into `node`.
    #[inline]
    pub fn byte(&self, node: usize) -> u8 {
        self.nodes[node].byte
    }

    /// The ids of the tokens strictly below `node` (its subtree's, in preorder).
    #[inline]
    pub fn tokens_below(&self, node: usize) -> &[u32] {
        &self.node_tokens[self.token_offsets[node + 1] as usize..self.token_offsets[self.skip(node)] as usize]
    }

    /// Whether some token ends at `node`.
    #[inline]
    pub fn has_tokens(&self, node: usize) -> bool {
        self.token_offsets[node] != self.token_offsets[node + 1]
    }

    /// Depth-first walk from an automaton state.
    ///
    /// `step(state, byte)` advances the automaton, returning `None` when the
    /// byte kills it (the subtree is then skipped). `visit(node, state)` is
    /// called for every live node below the root, with the state after the
    /// node's bytes. `stack` is scratch space reused across calls.
    #[inline]
    pub fn walk<S: Copy>(
        &self,
        start: S,
        stack: &mut Vec<S>,
        mut step: impl FnMut(S, u8) -> Option<S>,
        visit: impl FnMut(usize, S),
    ) {
        self.walk_order(&WholeTrie(self.nodes.len()), (1, self.nodes.len()), start, stack, |s, _, b| step(s, b), visit);
    }

    /// [`TokenTrie::walk`] whose `step(state, node, byte)` also gets the
    /// node being entered, so that it can prune a subtree for what lies
    /// below it ([`TokenTrie::bytes_below`]).
    #[inline]
    pub fn walk_nodes<S: Copy>(
        &self,
        start: S,
        stack: &mut Vec<S>,
        step: impl FnMut(S, usize, u8) -> Option<S>,
        visit: impl FnMut(usize, S),
    ) {
        self.walk_order(&WholeTrie(self.nodes.len()), (1, self.nodes.len()), start, stack, step, visit);
    }

    /// For each node, the ASCII bytes on the edges strictly below it, as a
    /// bit set (bit `b` for byte `b`); bit 0 stands for every byte that is
    /// not ASCII or is NUL. One backward pass over the preorder.
    pub fn bytes_below(&self) -> Vec<u128> {
        let parent = self.parents();
        let mut below = vec![0u128; self.nodes.len()];
        for i in (1..self.nodes.len()).rev() {
            below[parent[i] as usize] |= below[i] | ascii_bit(self.nodes[i].byte);
        }
        below
    }

    /// Each node's parent (the root's: itself): in preorder, the last node
    /// one level up before it.
    fn parents(&self) -> Vec<u32> {
        let mut last_at_depth = vec![0u32; self.max_depth + 1];
        let mut parent = vec![0u32; self.nodes.len()];
        for (i, p) in parent.iter_mut().enumerate().skip(1) {
            let d = self.depth(i);
            *p = last_at_depth[d - 1];
            last_at_depth[d] = i as u32;
        }
        parent
    }

    /// [`TokenTrie::walk`] over the nodes of `view` only (a sub-trie: the
    /// nodes that lead to some token of interest). `visit` gets the node's
    /// index in the whole trie.
    #[inline]
    pub fn walk_view<S: Copy>(
        &self,
        view: &TrieView,
        start: S,
        stack: &mut Vec<S>,
        mut step: impl FnMut(S, u8) -> Option<S>,
        visit: impl FnMut(usize, S),
    ) {
        self.walk_order(view, (1, view.len()), start, stack, |s, _, b| step(s, b), visit);
    }

    /// [`TokenTrie::walk`] of the nodes strictly below `node`, from `start`
    /// at `node`; with `view`, of the view's nodes only (none when `node` is
    /// not in the view).
    pub fn walk_below<S: Copy>(
        &self,
        view: Option<&TrieView>,
        node: usize,
        start: S,
        stack: &mut Vec<S>,
        mut step: impl FnMut(S, u8) -> Option<S>,
        visit: impl FnMut(usize, S),
    ) {
        let step = |s, _, b| step(s, b);
        match view {
            None => {
                self.walk_order(&WholeTrie(self.nodes.len()), (node + 1, self.skip(node)), start, stack, step, visit)
            }
            Some(view) => {
                if let Ok(p) = view.nodes.binary_search(&(node as u32)) {
                    self.walk_order(view, (p + 1, view.skip[p] as usize), start, stack, step, visit);
                }
            }
        }
    }

    /// The walk of the positions `from..to` of `order` (a subtree's, or the
    /// whole order's from 1), each node's state from its parent's, which for
    /// the first node is `start` (the stack is filled with it).
    #[inline(always)]
    fn walk_order<S: Copy>(
        &self,
        order: &impl PreOrder,
        (from, to): (usize, usize),
        start: S,
        stack: &mut Vec<S>,
        mut step: impl FnMut(S, usize, u8) -> Option<S>,
        mut visit: impl FnMut(usize, S),
    ) {
        stack.clear();
        stack.resize(self.max_depth + 1, start);
        let nodes = &self.nodes[..];
        let mut i = from;
        while i < to {
            let id = order.node(i);
            let node = nodes[id];
            let depth = node.depth as usize;
            match step(stack[depth - 1], id, node.byte) {
                None => i = order.skip(i, node.skip),
                Some(s) => {
                    stack[depth] = s;
                    visit(id, s);
                    i += 1;
                }
            }
        }
    }

    /// The sub-trie of the nodes for which `keep(node)` holds in their own
    /// subtree (a node is kept when it or a descendant is), root included.
    pub fn view(&self, mut keep: impl FnMut(usize) -> bool) -> TrieView {
        let n = self.nodes.len();
        let mut kept: Vec<bool> = (0..n).map(&mut keep).collect();
        let parent = self.parents();
        // Backwards, children come before their parents.
        for i in (1..n).rev() {
            if kept[i] {
                kept[parent[i] as usize] = true;
            }
        }
        kept[0] = true;
        // Position of each whole-trie index in the view (the count of kept nodes before it).
        let mut pos = Vec::with_capacity(n + 1);
        let mut count = 0u32;
        for &k in &kept {
            pos.push(count);
            count += k as u32;
        }
        pos.push(count);
        let mut nodes = Vec::with_capacity(count as usize);
        let mut skip = Vec::with_capacity(count as usize);
        for i in (0..n).filter(|&i| kept[i]) {
            nodes.push(i as u32);
            skip.push(pos[self.skip(i)]);
        }
        TrieView { nodes, skip }
    }
}

/// Byte `b` in the sets of [`TokenTrie::bytes_below`]: bit `b` for ASCII
/// bytes other than NUL, bit 0 for every other byte.
#[inline]
pub fn ascii_bit(b: u8) -> u128 {
    if (1..128).contains(&b) {
        1 << b
    } else {
        1
    }
}

/// A sub-trie in preorder: whole-trie node indices, each with the view
/// index one past its subtree.
#[derive(Debug, Clone, Default)]
pub struct TrieView {
    nodes: Vec<u32>,
    skip: Vec<u32>,
}

impl TrieView {
    /// Number of nodes, the root included.
    pub fn num_nodes(&self) -> usize {
        self.nodes.len()
    }
}

/// A preorder sequence of trie nodes with subtree skips.
trait PreOrder {
    fn len(&self) -> usize;
    /// The whole-trie index of the `i`-th node.
    fn node(&self, i: usize) -> usize;
    /// The position after the `i`-th node's subtree (`whole_skip` is its skip in the whole trie).
    fn skip(&self, i: usize, whole_skip: u32) -> usize;
}

struct WholeTrie(usize);

impl PreOrder for WholeTrie {
    #[inline(always)]
    fn len(&self) -> usize {
        self.0
    }
    #[inline(always)]
    fn node(&self, i: usize) -> usize {
        i
    }
    #[inline(always)]
    fn skip(&self, _: usize, whole_skip: u32) -> usize {
        whole_skip as usize
    }
}

impl PreOrder for TrieView {
    #[inline(always)]
    fn len(&self) -> usize {
        self.nodes.len()
    }
    #[inline(always)]
    fn node(&self, i: usize) -> usize {
        self.nodes[i] as usize
    }
    #[inline(always)]
    fn skip(&self, i: usize, _: u32) -> usize {
        self.skip[i] as usize
    }
}
