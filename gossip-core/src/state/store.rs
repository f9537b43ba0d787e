//! The replica's keys: entries, the Merkle tree over them, and the tombstones
//! waiting to be collected.

use alloc::collections::BTreeSet;
use alloc::vec::Vec;

use foldhash::fast::FixedState;
use hashbrown::HashMap;

use super::entry::Entry;
use super::merkle::MerkleTree;
use super::{Conflicts, KeyChange};
use crate::hash::key_hash;

struct Stored {
    entry: Entry,
    leaf: u32,
    digest: u64,
    /// Under `Conflicts::Merge`, the combination of the concurrent values.
    merged: Option<Vec<u8>>,
}

/// What applying a state did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Applied {
    /// The replica already had it (or newer).
    Unchanged,
    /// The key changed; the change for the application.
    Changed(KeyChange),
    /// A new key did not fit: `max_entries` are held.
    Full,
}

pub(crate) struct Store {
    conflicts: Conflicts,
    max_entries: usize,
    max_value_size: usize,
    entries: HashMap<Vec<u8>, Stored, FixedState>,
    by_leaf: BTreeSet<(u32, Vec<u8>)>,
    tree: MerkleTree,
    /// Deleted keys by the millisecond of their delete.
    tombstones: BTreeSet<(u64, Vec<u8>)>,
}

impl Store {
    pub(crate) fn new(
        conflicts: Conflicts,
        depth: u8,
        max_entries: usize,
        max_value_size: usize,
        hash_seed: u64,
    ) -> Self {
        Store {
            conflicts,
            max_entries,
            max_value_size,
            entries: HashMap::with_hasher(FixedState::with_seed(hash_seed)),
            by_leaf: BTreeSet::new(),
            tree: MerkleTree::new(depth),
            tombstones: BTreeSet::new(),
        }
    }

    pub(crate) fn tree(&self) -> &MerkleTree {
        &self.tree
    }

    /// Entries held, tombstones included.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn tombstones(&self) -> usize {
        self.tombstones.len()
    }

    pub(crate) fn entry(&self, key: &[u8]) -> Option<&Entry> {
        self.entries.get(key).map(|s| &s.entry)
    }

    /// The value of `key` as the application sees it.
    pub(crate) fn get(&self, key: &[u8]) -> Option<&[u8]> {
        let stored = self.entries.get(key)?;
        self.resolved(stored)
    }

    fn resolved<'s>(&self, stored: &'s Stored) -> Option<&'s [u8]> {
        match self.conflicts {
            Conflicts::LastWriterWins => stored.entry.newest().value.as_deref(),
            Conflicts::Siblings => stored.entry.newest_value(),
            Conflicts::Merge(_) => stored.merged.as_deref(),
        }
    }

    /// Live keys with their values, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.entries
            .iter()
            .filter_map(|(key, stored)| Some((key.as_slice(), self.resolved(stored)?)))
    }

    /// Keys stored in `leaf`, with their entries.
    pub(crate) fn leaf(&self, leaf: u32) -> impl Iterator<Item = (&[u8], &Entry)> {
        let start = (leaf, Vec::new());
        self.by_leaf
            .range(start..)
            .take_while(move |(l, _)| *l == leaf)
            .filter_map(|(_, key)| Some((key.as_slice(), &self.entries.get(key)?.entry)))
    }

    /// Merges `incoming` into the state of `key` (or stores it as is if the key
    /// is new), keeping the encoded entry within `max_len` bytes.
    pub(crate) fn merge(&mut self, key: &[u8], incoming: Entry, max_len: usize) -> Applied {
        let merged = match self.entries.get(key) {
            Some(stored) => {
                let mut merged = stored.entry.clone();
                if !merged.merge(&incoming, &self.conflicts) {
                    if merged != stored.entry {
                        // Only the version grew: no change to tell, but the
                        // state (and so the digest) did.
                        self.put(key, merged, max_len);
                    }
                    return Applied::Unchanged;
                }
                merged
            }
            None => {
                if self.entries.len() >= self.max_entries {
                    return Applied::Full;
                }
                let mut fresh = incoming;
                // A state from elsewhere may hold more siblings than this
                // replica's policy keeps.
                fresh.resolve(&self.conflicts);
                fresh
            }
        };
        self.put(key, merged, max_len)
    }

    /// Stores `entry` (a local write, or a merge) as the state of `key`.
    pub(crate) fn put(&mut self, key: &[u8], mut entry: Entry, max_len: usize) -> Applied {
        if !self.entries.contains_key(key) && self.entries.len() >= self.max_entries {
            return Applied::Full;
        }
        entry.fit(key, max_len);
        let merged = self.merge_values(key, &entry);
        let digest = entry.digest(key);
        let deleted = entry.is_deleted();
        let changed = match self.entries.get_mut(key) {
            Some(stored) => {
                // A delete of a key already deleted changes its version,
                // not what a reader sees: nothing to tell.
                let changed = stored.entry.newest_dots() != entry.newest_dots()
                    && !(stored.entry.is_deleted() && entry.is_deleted());
                if stored.entry.is_deleted() {
                    self.tombstones
                        .remove(&(stored.entry.stamp().millis, key.to_vec()));
                }
                self.tree.toggle(stored.leaf, stored.digest ^ digest);
                stored.entry = entry;
                stored.digest = digest;
                stored.merged = merged;
                changed
            }
            None => {
                let leaf = self.tree.leaf_of(key_hash(key));
                self.tree.toggle(leaf, digest);
                self.by_leaf.insert((leaf, key.to_vec()));
                let stored = Stored {
                    entry,
                    leaf,
                    digest,
                    merged,
                };
                self.entries.insert(key.to_vec(), stored);
                // A delete of a key this replica never had a value of (it
                // joined later, or collected the tombstone) is no news to a
                // reader; it is kept so that older values lose to it.
                !deleted
            }
        };
        let stored = &self.entries[key];
        if stored.entry.is_deleted() {
            self.tombstones
                .insert((stored.entry.stamp().millis, key.to_vec()));
        }
        if !changed {
            return Applied::Unchanged;
        }
        let siblings = match self.conflicts {
            Conflicts::Siblings if stored.entry.values().nth(1).is_some() => {
                stored.entry.values().map(<[u8]>::to_vec).collect()
            }
            _ => Vec::new(),
        };
        Applied::Changed(KeyChange {
            key: key.to_vec(),
            value: self.resolved(stored).map(<[u8]>::to_vec),
            siblings,
            origin: stored.entry.newest().origin.clone(),
        })
    }

    fn merge_values(&self, key: &[u8], entry: &Entry) -> Option<Vec<u8>> {
        let Conflicts::Merge(merge) = &self.conflicts else {
            return None;
        };
        let mut values = entry.values();
        let first = values.next()?.to_vec();
        Some(values.fold(first, |acc, value| {
            let combined = merge.merge(key, &acc, value);
            if combined.len() <= self.max_value_size {
                combined
            } else if acc.len() >= value.len() {
                acc
            } else {
                value.to_vec()
            }
        }))
    }

    /// Removes tombstones of deletes made before `horizon_millis`; returns their keys.
    pub(crate) fn collect_tombstones(&mut self, horizon_millis: u64) -> Vec<Vec<u8>> {
        let mut collected = Vec::new();
        while let Some((millis, _)) = self.tombstones.first() {
            if *millis >= horizon_millis {
                break;
            }
            let (_, key) = self.tombstones.pop_first().expect("not empty");
            if let Some(stored) = self.entries.remove(&key) {
                self.tree.toggle(stored.leaf, stored.digest);
                self.by_leaf.remove(&(stored.leaf, key.clone()));
                collected.push(key);
            }
        }
        collected
    }
}
