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
        let end = self.nodes[node].skip as usize;
        let mut j = node + 1;
        while j < end {
            if self.nodes[j].byte == b {
                return Some(j);
            }
            j = self.nodes[j].skip as usize;
        }
        None
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
        mut visit: impl FnMut(usize, S),
    ) {
        stack.clear();
        stack.resize(self.max_depth + 1, start);
        let nodes = &self.nodes[..];
        let mut i = 1;
        while i < nodes.len() {
            let node = nodes[i];
            let depth = node.depth as usize;
            match step(stack[depth - 1], node.byte) {
                None => i = node.skip as usize,
                Some(s) => {
                    stack[depth] = s;
                    visit(i, s);
                    i += 1;
                }
            }
        }
    }
}
