//! The replicated state of one key: a dotted version vector set (Preguiça et
//! al.), resolved by the configured [`Conflicts`] policy.
//!
//! An entry holds its causal context (a version vector of every write it has
//! seen) and the writes no other write it knows has superseded: one, or several
//! concurrent ones (siblings). Each write is named by a dot, the writer's
//! replica id and its count of writes to the key. Merging two states keeps a
//! sibling if the other state has it too or has not seen it, so a write
//! superseded anywhere disappears everywhere, and a concurrent one survives
//! until someone writes over it.

use alloc::vec::Vec;

use smallvec::SmallVec;

use super::Conflicts;
use super::hash::StableHasher;
use super::version::{Hlc, ReplicaId, VersionVector};
use crate::identity::NodeName;
use crate::wire::{EntryRecord, SiblingRecord};

/// Most concurrent values a key keeps (under the `Siblings` and `Merge`
/// policies); beyond it, those with the oldest stamps are dropped.
pub const MAX_SIBLINGS: usize = 8;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Sibling {
    pub(crate) replica: u64,
    pub(crate) counter: u64,
    pub(crate) hlc: Hlc,
    pub(crate) origin: NodeName,
    /// `None`: a delete.
    pub(crate) value: Option<Vec<u8>>,
}

impl Sibling {
    fn dot(&self) -> (u64, u64) {
        (self.replica, self.counter)
    }

    /// The order of last-writer-wins: stamp, then the dot (the writer's id
    /// breaks ties between equal stamps).
    fn rank(&self) -> (Hlc, u64, u64) {
        (self.hlc, self.replica, self.counter)
    }

    fn record(&self) -> SiblingRecord<'_> {
        SiblingRecord {
            replica: self.replica,
            counter: self.counter,
            hlc: self.hlc,
            origin: self.origin.as_str(),
            value: self.value.as_deref(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    version: VersionVector,
    /// Sorted by dot.
    siblings: SmallVec<[Sibling; 1]>,
}

impl Entry {
    /// The state after a local write of `value` (`None`: a delete) by `replica`
    /// over `previous`: the write supersedes every sibling this replica has.
    pub(crate) fn write(
        previous: Option<&Entry>,
        replica: ReplicaId,
        hlc: Hlc,
        origin: NodeName,
        value: Option<Vec<u8>>,
    ) -> Entry {
        let mut version = previous.map(|e| e.version.clone()).unwrap_or_default();
        let counter = version.increment(replica);
        let mut siblings = SmallVec::new();
        siblings.push(Sibling {
            replica: replica.0,
            counter,
            hlc,
            origin,
            value,
        });
        Entry { version, siblings }
    }

    /// The entry a well-formed record describes (see
    /// [`EntryRecord::is_well_formed`]).
    pub(crate) fn from_record(record: &EntryRecord<'_>) -> Entry {
        let siblings = record
            .siblings
            .iter()
            .filter_map(|s| {
                Some(Sibling {
                    replica: s.replica,
                    counter: s.counter,
                    hlc: s.hlc,
                    origin: NodeName::new(s.origin).ok()?,
                    value: s.value.map(<[u8]>::to_vec),
                })
            })
            .collect();
        Entry {
            version: record.version.clone(),
            siblings,
        }
    }

    pub(crate) fn record(&self) -> EntryRecord<'_> {
        EntryRecord {
            version: self.version.clone(),
            siblings: self.siblings.iter().map(Sibling::record).collect(),
        }
    }

    pub(crate) fn version(&self) -> &VersionVector {
        &self.version
    }

    /// The newest write by last-writer-wins order.
    pub(crate) fn newest(&self) -> &Sibling {
        self.siblings
            .iter()
            .max_by_key(|s| s.rank())
            .expect("an entry has a sibling")
    }

    /// True if every sibling is a delete: the key is absent.
    pub(crate) fn is_deleted(&self) -> bool {
        self.siblings.iter().all(|s| s.value.is_none())
    }

    /// The newest stamp among the siblings.
    pub(crate) fn stamp(&self) -> Hlc {
        self.newest().hlc
    }

    /// The values written and not superseded (deletes left out), by dot.
    pub(crate) fn values(&self) -> impl Iterator<Item = &[u8]> {
        self.siblings.iter().filter_map(|s| s.value.as_deref())
    }

    /// The value of the newest write that is not a delete.
    pub(crate) fn newest_value(&self) -> Option<&[u8]> {
        self.siblings
            .iter()
            .filter(|s| s.value.is_some())
            .max_by_key(|s| s.rank())
            .and_then(|s| s.value.as_deref())
    }

    /// The writes this state holds, by their dots: what the application sees
    /// changes exactly when these do.
    pub(crate) fn newest_dots(&self) -> SmallVec<[(u64, u64); 1]> {
        self.siblings.iter().map(Sibling::dot).collect()
    }

    fn has(&self, dot: (u64, u64)) -> bool {
        self.siblings
            .binary_search_by_key(&dot, Sibling::dot)
            .is_ok()
    }

    /// Merges `other` into this state and resolves it by `conflicts`; true if
    /// the siblings changed (a write this replica had not seen won or joined).
    /// Commutative, associative and idempotent.
    pub(crate) fn merge(&mut self, other: &Entry, conflicts: &Conflicts) -> bool {
        let covered =
            |version: &VersionVector, s: &Sibling| version.covers(ReplicaId(s.replica), s.counter);
        let mut siblings: SmallVec<[Sibling; 1]> = SmallVec::new();
        for s in &self.siblings {
            if other.has(s.dot()) || !covered(&other.version, s) {
                siblings.push(s.clone());
            }
        }
        for s in &other.siblings {
            if !self.has(s.dot()) && !covered(&self.version, s) {
                siblings.push(s.clone());
            }
        }
        siblings.sort_unstable_by_key(Sibling::dot);
        let mut version = self.version.clone();
        version.merge(&other.version);
        let mut merged = Entry { version, siblings };
        if merged.siblings.is_empty() {
            // Both sides superseded each other's writes, which only a
            // malformed state can claim: keep the newest write of either.
            let newest = [self.newest(), other.newest()]
                .into_iter()
                .max_by_key(|s| s.rank())
                .expect("two")
                .clone();
            merged.siblings.push(newest);
        }
        merged.resolve(conflicts);
        let changed = merged.siblings != self.siblings;
        *self = merged;
        changed
    }

    /// Applies the policy: last-writer-wins keeps one sibling, the others keep
    /// up to [`MAX_SIBLINGS`] (the newest).
    fn resolve(&mut self, conflicts: &Conflicts) {
        let keep = match conflicts {
            Conflicts::LastWriterWins => 1,
            Conflicts::Siblings | Conflicts::Merge(_) => MAX_SIBLINGS,
        };
        while self.siblings.len() > keep {
            let oldest = (0..self.siblings.len())
                .min_by_key(|&i| self.siblings[i].rank())
                .expect("not empty");
            self.siblings.remove(oldest);
        }
    }

    /// Keeps only the newest siblings, then the version's largest replica ids,
    /// while the encoded record exceeds `max_len` bytes; true if it fits. It
    /// depends only on the state, so every replica trims alike.
    pub(crate) fn fit(&mut self, key: &[u8], max_len: usize) -> bool {
        while self.encoded_len(key) > max_len {
            if self.siblings.len() == 1 {
                if self.version.is_empty() {
                    return false;
                }
                self.version.truncate_smallest(self.version.len() - 1);
                continue;
            }
            let oldest = (0..self.siblings.len())
                .min_by_key(|&i| self.siblings[i].rank())
                .expect("not empty");
            self.siblings.remove(oldest);
        }
        true
    }

    /// Bytes of the [`Message::KeyEntry`](crate::wire::Message::KeyEntry) for
    /// this entry under `key`.
    pub(crate) fn encoded_len(&self, key: &[u8]) -> usize {
        let message: crate::wire::Message<'_, ()> = crate::wire::Message::KeyEntry {
            key,
            entry: self.record(),
        };
        postcard::experimental::serialized_size(&message).unwrap_or(usize::MAX)
    }

    /// The digest the Merkle tree sums: equal on replicas with equal state.
    pub(crate) fn digest(&self, key: &[u8]) -> u64 {
        let mut hasher = StableHasher::new(0x0065_6e74_7279); // "entry"
        hasher.write_bytes(key);
        for (replica, count) in self.version.iter() {
            hasher.write_u64(replica.0);
            hasher.write_u64(count);
        }
        for s in &self.siblings {
            hasher.write_u64(s.replica);
            hasher.write_u64(s.counter);
            hasher.write_u64(s.hlc.millis);
            hasher.write_u64(s.hlc.logical.into());
            hasher.write_bytes(s.origin.as_bytes());
            match &s.value {
                Some(value) => hasher.write_bytes(value),
                None => hasher.write_u64(u64::MAX),
            }
        }
        hasher.finish().max(1) // zero means "no entry" in the tree
    }
}

impl EntryRecord<'_> {
    /// True if the record could have come from a replica: a well-formed
    /// version, one to [`MAX_SIBLINGS`] siblings sorted by dot without
    /// repeats, positive counters.
    pub fn is_well_formed(&self) -> bool {
        self.version.is_well_formed()
            && (1..=MAX_SIBLINGS).contains(&self.siblings.len())
            && self.siblings.iter().all(|s| s.counter > 0)
            && self
                .siblings
                .windows(2)
                .all(|w| (w[0].replica, w[0].counter) < (w[1].replica, w[1].counter))
    }
}
