//! The member table: every member this node knows, itself first.

use alloc::vec::Vec;

use foldhash::fast::FixedState;
use hashbrown::HashMap;
use rand_core::Rng;
use smallvec::SmallVec;

use super::suspicion::Suspicion;
use crate::identity::NodeName;
use crate::member::{Member, MemberState};
use crate::random;

/// A member and what this node tracks about it.
#[derive(Clone, Debug)]
pub(crate) struct MemberRecord<A> {
    pub(crate) member: Member<A>,
    /// Present while the member is suspect.
    pub(crate) suspicion: Option<Suspicion>,
}

/// Indices of a random sample of members; a handful, so inline.
pub(crate) type Sample = SmallVec<[usize; 8]>;

/// The table was full and held no tombstone to evict.
#[derive(Debug)]
pub(crate) struct TableFull;

/// Members in a dense vector (for uniform random choice and deterministic order)
/// indexed by name. Index 0 is the local node and is never removed.
///
/// All mutation goes through [`MemberTable::update`] so that the live count and
/// the membership digest stay exact.
pub(crate) struct MemberTable<A> {
    records: Vec<MemberRecord<A>>,
    index: HashMap<NodeName, usize, FixedState>,
    /// Index of the latest member seen at each address.
    by_addr: HashMap<A, usize, FixedState>,
    capacity: usize,
    live: usize,
    digest: u64,
}

pub(crate) const LOCAL: usize = 0;

impl<A: Clone + Eq + core::hash::Hash> MemberTable<A> {
    /// A table holding only the local node. `hash_seed` keys the index against
    /// collision attacks; it comes from the injected generator.
    pub(crate) fn new(local: Member<A>, capacity: usize, hash_seed: u64) -> Self {
        let mut table = MemberTable {
            records: Vec::new(),
            index: HashMap::with_hasher(FixedState::with_seed(hash_seed)),
            by_addr: HashMap::with_hasher(FixedState::with_seed(hash_seed.rotate_left(17))),
            capacity,
            live: 0,
            digest: 0,
        };
        table.push(MemberRecord {
            member: local,
            suspicion: None,
        });
        table
    }

    pub(crate) fn local(&self) -> &Member<A> {
        &self.records[LOCAL].member
    }

    pub(crate) fn get(&self, index: usize) -> &MemberRecord<A> {
        &self.records[index]
    }

    pub(crate) fn find(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    pub(crate) fn by_name(&self, name: &str) -> Option<&MemberRecord<A>> {
        self.find(name).map(|i| &self.records[i])
    }

    /// True if some member, tombstones included, is known at `addr`.
    pub(crate) fn knows_addr(&self, addr: &A) -> bool {
        self.by_addr.contains_key(addr)
    }

    /// Members known, tombstones and the local node included.
    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }

    /// Alive and suspect members, the local node included: the `n` of SWIM's formulas.
    pub(crate) fn live(&self) -> usize {
        self.live
    }

    /// Order-independent hash over every member's (name, generation, incarnation,
    /// state): equal tables have equal digests, so a state exchange between
    /// members that agree can stop after one small datagram.
    pub(crate) fn digest(&self) -> u64 {
        self.digest
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &MemberRecord<A>> {
        self.records.iter()
    }

    /// Applies `change` to a record, keeping the live count and digest exact.
    pub(crate) fn update<T>(
        &mut self,
        index: usize,
        change: impl FnOnce(&mut MemberRecord<A>) -> T,
    ) -> T {
        let record = &mut self.records[index];
        let (was_live, old_hash) = (record.member.state.is_live(), record_hash(&record.member));
        let (name, addr) = (record.member.name.clone(), record.member.addr.clone());
        let result = change(record);
        debug_assert_eq!(record.member.name, name, "a record's name never changes");
        if record.member.addr != addr {
            let new_addr = record.member.addr.clone();
            if self.by_addr.get(&addr) == Some(&index) {
                self.by_addr.remove(&addr);
            }
            self.by_addr.insert(new_addr, index);
        }
        let record = &self.records[index];
        let (is_live, new_hash) = (record.member.state.is_live(), record_hash(&record.member));
        self.live = self.live - usize::from(was_live) + usize::from(is_live);
        self.digest = self.digest.wrapping_sub(old_hash).wrapping_add(new_hash);
        result
    }

    /// Adds a member not known before. When the table is full the oldest tombstone
    /// makes room and is returned; without tombstones the member is refused.
    pub(crate) fn insert(
        &mut self,
        record: MemberRecord<A>,
    ) -> Result<(usize, Option<MemberRecord<A>>), TableFull> {
        debug_assert!(self.find(&record.member.name).is_none());
        let evicted = if self.records.len() >= self.capacity {
            let oldest = self
                .records
                .iter()
                .enumerate()
                .skip(1)
                .filter(|(_, r)| !r.member.state.is_live())
                .min_by_key(|(_, r)| r.member.state_changed)
                .map(|(i, _)| i)
                .ok_or(TableFull)?;
            Some(self.remove(oldest))
        } else {
            None
        };
        Ok((self.push(record), evicted))
    }

    fn push(&mut self, record: MemberRecord<A>) -> usize {
        let index = self.records.len();
        self.live += usize::from(record.member.state.is_live());
        self.digest = self.digest.wrapping_add(record_hash(&record.member));
        self.index.insert(record.member.name.clone(), index);
        self.by_addr.insert(record.member.addr.clone(), index);
        self.records.push(record);
        index
    }

    /// Removes a member (never the local node), moving the last record into its slot.
    pub(crate) fn remove(&mut self, index: usize) -> MemberRecord<A> {
        assert_ne!(index, LOCAL, "the local node is never removed");
        let last = self.records.len() - 1;
        let record = self.records.swap_remove(index);
        self.index.remove(&record.member.name);
        if self.by_addr.get(&record.member.addr) == Some(&index) {
            self.by_addr.remove(&record.member.addr);
        }
        if let Some(moved) = self.records.get(index) {
            *self
                .index
                .get_mut(&moved.member.name)
                .expect("every record is indexed") = index;
            if let Some(slot) = self.by_addr.get_mut(&moved.member.addr) {
                if *slot == last {
                    *slot = index;
                }
            }
        }
        self.live -= usize::from(record.member.state.is_live());
        self.digest = self.digest.wrapping_sub(record_hash(&record.member));
        record
    }

    /// Up to `k` distinct random members (never the local node) for which
    /// `eligible` holds, uniformly chosen.
    pub(crate) fn sample<R: Rng>(
        &self,
        rng: &mut R,
        k: usize,
        mut eligible: impl FnMut(&MemberRecord<A>) -> bool,
    ) -> Sample {
        let mut chosen = Sample::new();
        let others = self.records.len() - 1;
        if k == 0 || others == 0 {
            return chosen;
        }
        // Rejection sampling is O(k) when most members are eligible, as they are in
        // a healthy cluster; otherwise fall back to a scan.
        for _ in 0..4 * k + 16 {
            if chosen.len() == k {
                return chosen;
            }
            let i = 1 + random::below(rng, others);
            if !chosen.contains(&i) && eligible(&self.records[i]) {
                chosen.push(i);
            }
        }
        let mut rest: Vec<usize> = (1..self.records.len())
            .filter(|i| !chosen.contains(i) && eligible(&self.records[*i]))
            .collect();
        while chosen.len() < k && !rest.is_empty() {
            let pick = random::below(rng, rest.len());
            chosen.push(rest.swap_remove(pick));
        }
        chosen
    }
}

/// A stable 64-bit hash of what members must agree on. FNV-1a over the fields with
/// a final avalanche, so that summing hashes makes a good set digest; identical on
/// every platform and build, unlike a seeded hasher.
fn record_hash<A>(member: &Member<A>) -> u64 {
    const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
    let state = match member.state {
        MemberState::Alive => 0u8,
        MemberState::Suspect => 1,
        MemberState::Failed => 2,
        MemberState::Left => 3,
    };
    let (generation, incarnation) = (
        member.generation.to_le_bytes(),
        member.incarnation.to_le_bytes(),
    );
    let fields: [&[u8]; 5] = [
        member.name.as_bytes(),
        &[0xff], // never in UTF-8: separates the name from the numbers
        &generation,
        &incarnation,
        &[state],
    ];
    let mut hash = FNV_OFFSET;
    for &byte in fields.iter().copied().flatten() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(FNV_PRIME);
    }
    // splitmix64's finaliser.
    hash = (hash ^ (hash >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash = (hash ^ (hash >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^ (hash >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::record;
    use rand_core::SeedableRng;
    use rand_xoshiro::Xoshiro256PlusPlus;

    #[test]
    fn digest_is_order_independent_and_tracks_changes() {
        let mut a = MemberTable::new(record("self", MemberState::Alive, 0).member, 10, 1);
        let mut b = MemberTable::new(record("self", MemberState::Alive, 0).member, 10, 2);
        a.insert(record("x", MemberState::Alive, 0)).unwrap();
        a.insert(record("y", MemberState::Alive, 0)).unwrap();
        b.insert(record("y", MemberState::Alive, 0)).unwrap();
        b.insert(record("x", MemberState::Alive, 0)).unwrap();
        assert_eq!(a.digest(), b.digest());
        let x = a.find("x").unwrap();
        a.update(x, |r| r.member.incarnation = 1);
        assert_ne!(a.digest(), b.digest());
        let x = b.find("x").unwrap();
        b.update(x, |r| r.member.incarnation = 1);
        assert_eq!(a.digest(), b.digest());
        let y = a.find("y").unwrap();
        a.remove(y);
        assert_ne!(a.digest(), b.digest());
    }

    #[test]
    fn live_count_and_index_survive_removal() {
        let mut t = MemberTable::new(record("self", MemberState::Alive, 0).member, 10, 0);
        for name in ["a", "b", "c"] {
            t.insert(record(name, MemberState::Alive, 0)).unwrap();
        }
        assert_eq!(t.live(), 4);
        let a = t.find("a").unwrap();
        t.update(a, |r| r.member.state = MemberState::Failed);
        assert_eq!(t.live(), 3);
        t.remove(t.find("a").unwrap());
        assert_eq!(t.len(), 3);
        for name in ["self", "b", "c"] {
            let i = t.find(name).unwrap();
            assert_eq!(t.get(i).member.name.as_str(), name);
        }
    }

    #[test]
    fn addresses_are_indexed_through_changes_and_removals() {
        let mut t = MemberTable::new(record("self", MemberState::Alive, 0).member, 10, 0);
        let mut a = record("a", MemberState::Alive, 0);
        a.member.addr = 1;
        let mut b = record("b", MemberState::Alive, 0);
        b.member.addr = 2;
        t.insert(a).unwrap();
        t.insert(b).unwrap();
        assert!(t.knows_addr(&0) && t.knows_addr(&1) && t.knows_addr(&2));
        let a = t.find("a").unwrap();
        t.update(a, |r| r.member.addr = 3);
        assert!(!t.knows_addr(&1) && t.knows_addr(&3));
        t.remove(t.find("a").unwrap());
        assert!(!t.knows_addr(&3));
        let b = t.find("b").unwrap();
        t.update(b, |r| r.member.addr = 4);
        assert!(
            t.knows_addr(&4) && !t.knows_addr(&2),
            "the moved record's address follows it"
        );
    }

    #[test]
    fn a_full_table_evicts_its_oldest_tombstone_or_refuses() {
        let mut t = MemberTable::new(record("self", MemberState::Alive, 0).member, 3, 0);
        t.insert(record("old", MemberState::Failed, 5)).unwrap();
        t.insert(record("older", MemberState::Left, 1)).unwrap();
        let (_, evicted) = t.insert(record("new", MemberState::Alive, 9)).unwrap();
        assert_eq!(evicted.unwrap().member.name.as_str(), "older");
        let (_, evicted) = t.insert(record("new2", MemberState::Alive, 9)).unwrap();
        assert_eq!(evicted.unwrap().member.name.as_str(), "old");
        assert!(t.insert(record("new3", MemberState::Alive, 9)).is_err());
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn samples_are_distinct_eligible_and_exclude_the_local_node() {
        let mut t = MemberTable::new(record("self", MemberState::Alive, 0).member, 100, 0);
        for i in 0..50 {
            let state = if i % 5 == 0 {
                MemberState::Failed
            } else {
                MemberState::Alive
            };
            t.insert(record(&alloc::format!("m{i}"), state, 0)).unwrap();
        }
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
        for k in [0, 1, 3, 40, 100] {
            let s = t.sample(&mut rng, k, |r| r.member.state.is_live());
            assert_eq!(s.len(), k.min(40));
            let mut unique = s.to_vec();
            unique.sort_unstable();
            unique.dedup();
            assert_eq!(unique.len(), s.len());
            assert!(
                s.iter()
                    .all(|&i| i != LOCAL && t.get(i).member.state.is_live())
            );
        }
    }
}
