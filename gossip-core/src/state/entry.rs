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
use super::version::{Hlc, ReplicaId, VersionVector};
use crate::hash::StableHasher;
use crate::identity::NodeName;
use crate::wire::{EntryRecord, SiblingRecord};

/// Most concurrent values a key keeps (under the `Siblings` and `Merge`
/// policies); beyond it, those with the oldest stamps are dropped.
pub const MAX_SIBLINGS: usize = crate::wire::MAX_SIBLINGS;

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
            millis: self.hlc.millis,
            logical: self.hlc.logical,
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
                    hlc: Hlc {
                        millis: s.millis,
                        logical: s.logical,
                    },
                    origin: NodeName::new(s.origin).ok()?,
                    value: s.value.map(<[u8]>::to_vec),
                })
            })
            .collect();
        Entry {
            version: VersionVector::from_record(&record.version),
            siblings,
        }
    }

    pub(crate) fn record(&self) -> EntryRecord<'_> {
        EntryRecord {
            version: self.version.record(),
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
    /// Commutative and idempotent, so replicas that exchange everything end
    /// equal; associative too while a key has at most [`MAX_SIBLINGS`]
    /// concurrent values (beyond, which of the oldest are dropped can depend
    /// on the order of merges).
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
    pub(crate) fn resolve(&mut self, conflicts: &Conflicts) {
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
        crate::wire::encoded_len(&message)
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

#[cfg(test)]
mod tests {
    use alloc::vec;

    use proptest::prelude::*;

    use super::super::version::HlcClock;
    use super::*;
    use crate::testing::Union;

    fn policies() -> [Conflicts; 3] {
        [
            Conflicts::LastWriterWins,
            Conflicts::Siblings,
            Conflicts::merge(Union),
        ]
    }

    /// One step of a history of one key.
    #[derive(Clone, Debug)]
    enum Op {
        /// `replica` writes `value` (`None`: deletes) after its physical
        /// clock advanced `advance_ms`.
        Write {
            replica: usize,
            advance_ms: u64,
            value: Option<u8>,
        },
        /// `to` merges the state `from` holds (if any).
        Merge { from: usize, to: usize },
    }

    /// Writes and merges, `merges` times as many merges as writes.
    fn arb_op(replicas: usize, merges: u32) -> impl Strategy<Value = Op> {
        prop_oneof![
            1 => (
                0..replicas,
                prop_oneof![Just(0u64), 1u64..5, 100u64..200],
                proptest::option::weighted(0.8, any::<u8>()),
            )
                .prop_map(|(replica, advance_ms, value)| Op::Write {
                    replica,
                    advance_ms,
                    value,
                }),
            merges => (0..replicas, 0..replicas).prop_map(|(from, to)| Op::Merge { from, to }),
        ]
    }

    /// Replays `ops` on replicas with ids 1 ..= `skews_ms.len()`, whose
    /// physical clocks start `skews_ms` apart, as a node does: a write ticks
    /// the writer's hybrid clock, a merge makes it observe the stamp it
    /// receives. Returns every state some replica held along the way.
    fn reachable(ops: &[Op], skews_ms: &[u64], conflicts: &Conflicts) -> Vec<Entry> {
        let n = skews_ms.len();
        let mut physical: Vec<u64> = skews_ms.to_vec();
        let mut clocks = vec![HlcClock::default(); n];
        let mut states: Vec<Option<Entry>> = vec![None; n];
        let mut seen = Vec::new();
        for op in ops {
            match *op {
                Op::Write {
                    replica,
                    advance_ms,
                    value,
                } => {
                    physical[replica] += advance_ms;
                    let origin = NodeName::new(&alloc::format!("r{replica}")).unwrap();
                    let entry = Entry::write(
                        states[replica].as_ref(),
                        ReplicaId(replica as u64 + 1),
                        clocks[replica].tick(physical[replica]),
                        origin,
                        value.map(|v| vec![v]),
                    );
                    seen.push(entry.clone());
                    states[replica] = Some(entry);
                }
                Op::Merge { from, to } => {
                    let Some(incoming) = states[from].clone() else {
                        continue;
                    };
                    clocks[to].observe(incoming.stamp());
                    let merged = match states[to].take() {
                        Some(mut mine) => {
                            mine.merge(&incoming, conflicts);
                            mine
                        }
                        None => incoming,
                    };
                    seen.push(merged.clone());
                    states[to] = Some(merged);
                }
            }
        }
        seen
    }

    /// Every one of `values.len()` replicas writes once, before any merge.
    fn concurrent_writes(values: &[u8]) -> Vec<Op> {
        values
            .iter()
            .enumerate()
            .map(|(replica, &v)| Op::Write {
                replica,
                advance_ms: 0,
                value: Some(v),
            })
            .collect()
    }

    fn join(x: &Entry, y: &Entry, conflicts: &Conflicts) -> Entry {
        let mut joined = x.clone();
        joined.merge(y, conflicts);
        joined
    }

    /// Checks that merge is a semilattice join on three reachable states
    /// (commutative and idempotent only, unless `associative`).
    fn check_laws(
        states: &[Entry],
        picks: [prop::sample::Index; 3],
        conflicts: &Conflicts,
        associative: bool,
    ) -> Result<(), TestCaseError> {
        if states.is_empty() {
            return Ok(());
        }
        let [a, b, c] = picks.map(|i| &states[i.index(states.len())]);
        let policy = alloc::format!("{conflicts:?}");
        prop_assert_eq!(join(a, a, conflicts), a.clone(), "idempotent, {}", &policy);
        prop_assert_eq!(
            join(a, b, conflicts),
            join(b, a, conflicts),
            "commutative, {}",
            &policy
        );
        if !associative {
            return Ok(());
        }
        prop_assert_eq!(
            join(&join(a, b, conflicts), c, conflicts),
            join(a, &join(b, c, conflicts), conflicts),
            "associative, {}",
            &policy
        );
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Three replicas write and delete one key and merge each other's
        /// states in any order; on any three states they held, merge is
        /// commutative, associative and idempotent under every policy.
        #[test]
        fn merge_is_a_semilattice_join_on_reachable_states(
            ops in proptest::collection::vec(arb_op(3, 1), 1..40),
            skews_ms in proptest::collection::vec(0u64..300, 3),
            picks in any::<[prop::sample::Index; 3]>(),
        ) {
            for conflicts in policies() {
                let states = reachable(&ops, &skews_ms, &conflicts);
                check_laws(&states, picks, &conflicts, true)?;
            }
        }

        /// With more concurrent writers than an entry keeps siblings
        /// ([`MAX_SIBLINGS`]; twelve replicas each write before anyone
        /// merges, so merges must drop some), merge stays commutative and
        /// idempotent, and associative under last-writer-wins. Under the
        /// other policies it is not associative: see
        /// `beyond_max_siblings_merge_is_associative`.
        #[test]
        fn beyond_max_siblings_merge_stays_commutative_and_idempotent(
            ops in (
                proptest::collection::vec(any::<u8>(), 12),
                proptest::collection::vec(arb_op(12, 4), 1..80),
            ).prop_map(|(first, ops)| [concurrent_writes(&first), ops].concat()),
            skews_ms in proptest::collection::vec(0u64..300, 12),
            picks in any::<[prop::sample::Index; 3]>(),
        ) {
            for conflicts in policies() {
                let states = reachable(&ops, &skews_ms, &conflicts);
                let associative = conflicts == Conflicts::LastWriterWins;
                check_laws(&states, picks, &conflicts, associative)?;
            }
        }
    }

    /// Nine concurrent writes, one more than an entry keeps. Which one is
    /// dropped depends on whether the ninth arrives before or after a write
    /// that supersedes two of the others: `(x ⊔ y) ⊔ z` drops w1 to make
    /// room and then loses w2 and w9 to w2' (seven siblings), while
    /// `x ⊔ (y ⊔ z)` never holds nine and keeps w1 (eight). The dropped
    /// write stays covered by the version, so it never comes back.
    #[test]
    #[ignore = "known: bounded siblings make merge order-dependent beyond MAX_SIBLINGS"]
    fn beyond_max_siblings_merge_is_associative() {
        let stamp = Hlc {
            millis: 0,
            logical: 1,
        };
        let write = |replica: u64, previous: Option<&Entry>, hlc: Hlc| {
            let origin = NodeName::new(&alloc::format!("r{replica}")).unwrap();
            Entry::write(previous, ReplicaId(replica), hlc, origin, Some(vec![1]))
        };
        let first: Vec<Entry> = (1..=9).map(|r| write(r, None, stamp)).collect();
        for conflicts in [Conflicts::Siblings, Conflicts::merge(Union)] {
            // x holds w1 and w3..w9 (eight siblings); y is w2 alone; z is
            // w2', written by replica 2 after it had seen w2 and w9.
            let mut x = first[0].clone();
            for w in &first[2..] {
                x.merge(w, &conflicts);
            }
            assert_eq!(x.siblings.len(), MAX_SIBLINGS);
            let y = first[1].clone();
            let seen = join(&y, &first[8], &conflicts);
            let later = Hlc {
                millis: 1,
                logical: 0,
            };
            let z = write(2, Some(&seen), later);
            let left = join(&join(&x, &y, &conflicts), &z, &conflicts);
            let right = join(&x, &join(&y, &z, &conflicts), &conflicts);
            assert_eq!(
                (left.siblings.len(), right.siblings.len()),
                (MAX_SIBLINGS, MAX_SIBLINGS),
                "{conflicts:?}"
            );
            assert_eq!(left, right, "{conflicts:?}");
        }
    }
}
