//! A Merkle tree over the key space, for anti-entropy.
//!
//! Keys are placed in `16^depth` leaves by the top bits of their hash. A
//! leaf's hash is the XOR of the digests of the entries in it, and an inner
//! node's the XOR of its sixteen children's, so that changing an entry updates
//! one node per level and the tree never has to be rebuilt. Nodes whose hash is
//! zero are not stored: memory follows the number of entries, not of leaves.

use alloc::vec::Vec;

use foldhash::fast::FixedState;
use hashbrown::HashMap;

/// Children per inner node.
pub(crate) const FANOUT: usize = 16;
const FANOUT_BITS: u32 = 4;
/// Deepest tree: 16⁷ = 268 million leaves.
pub const MAX_TREE_DEPTH: u8 = crate::wire::MAX_TREE_DEPTH;

pub(crate) struct MerkleTree {
    depth: u8,
    root: u64,
    /// `levels[l - 1]` holds the non-zero nodes of level `l` (1 ..= depth).
    levels: Vec<HashMap<u32, u64, FixedState>>,
}

impl MerkleTree {
    pub(crate) fn new(depth: u8) -> Self {
        debug_assert!((1..=MAX_TREE_DEPTH).contains(&depth));
        MerkleTree {
            depth,
            root: 0,
            levels: (0..depth)
                .map(|l| HashMap::with_hasher(FixedState::with_seed(u64::from(l))))
                .collect(),
        }
    }

    pub(crate) fn depth(&self) -> u8 {
        self.depth
    }

    pub(crate) fn root(&self) -> u64 {
        self.root
    }

    /// The leaf of a key with hash `key_hash`.
    pub(crate) fn leaf_of(&self, key_hash: u64) -> u32 {
        (key_hash >> (64 - FANOUT_BITS * u32::from(self.depth))) as u32
    }

    /// Number of nodes at `level` (0 is the root).
    pub(crate) fn width(&self, level: u8) -> u64 {
        1u64 << (FANOUT_BITS * u32::from(level))
    }

    /// Adds or removes (the same thing, under XOR) an entry digest in `leaf`.
    pub(crate) fn toggle(&mut self, leaf: u32, digest: u64) {
        if digest == 0 {
            return;
        }
        self.root ^= digest;
        for level in 1..=self.depth {
            let shift = FANOUT_BITS * u32::from(self.depth - level);
            let nodes = &mut self.levels[usize::from(level - 1)];
            let node = nodes.entry(leaf >> shift).or_insert(0);
            *node ^= digest;
            if *node == 0 {
                nodes.remove(&(leaf >> shift));
            }
        }
    }

    /// The hash of node `index` at `level` (0 is the root).
    pub(crate) fn node(&self, level: u8, index: u32) -> u64 {
        if level == 0 {
            return self.root;
        }
        self.levels
            .get(usize::from(level - 1))
            .and_then(|nodes| nodes.get(&index))
            .copied()
            .unwrap_or(0)
    }

    /// The hashes of the children of node `index` at `level` (< depth).
    pub(crate) fn children(&self, level: u8, index: u32) -> [u64; FANOUT] {
        let mut hashes = [0; FANOUT];
        if self.node(level, index) == 0 {
            return hashes; // an empty subtree: every child is empty
        }
        let first = index << FANOUT_BITS;
        for (i, hash) in hashes.iter_mut().enumerate() {
            *hash = self.node(level + 1, first + i as u32);
        }
        hashes
    }

    /// Nodes stored, for the footprint.
    pub(crate) fn stored_nodes(&self) -> usize {
        self.levels.iter().map(HashMap::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toggling_twice_restores_the_tree_and_frees_its_nodes() {
        let mut tree = MerkleTree::new(3);
        tree.toggle(0x123, 0xdead);
        tree.toggle(0x456, 0xbeef);
        assert_eq!(tree.root(), 0xdead ^ 0xbeef);
        assert_eq!(tree.node(1, 0x1), 0xdead);
        assert_eq!(tree.node(2, 0x12), 0xdead);
        assert_eq!(tree.node(3, 0x123), 0xdead);
        assert_eq!(tree.children(2, 0x45)[6], 0xbeef);
        tree.toggle(0x123, 0xdead);
        tree.toggle(0x456, 0xbeef);
        assert_eq!(tree.root(), 0);
        assert_eq!(tree.stored_nodes(), 0);
    }

    #[test]
    fn keys_are_placed_by_the_top_bits_of_their_hash() {
        let tree = MerkleTree::new(5);
        assert_eq!(tree.leaf_of(u64::MAX), (1 << 20) - 1);
        assert_eq!(tree.leaf_of(0x0123_4567_89ab_cdef), 0x01234);
        assert_eq!(tree.width(5), 1 << 20);
    }
}
