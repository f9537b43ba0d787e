//! The member table: every member this node knows, itself first.

use alloc::collections::BTreeSet;
use alloc::vec::Vec;
use core::hash::{BuildHasher, Hash};

use foldhash::fast::FixedState;
use hashbrown::HashTable;
use rand_core::Rng;
use smallvec::SmallVec;

use crate::member::{Member, MemberState};
use crate::random;
use crate::time::Instant;

/// Indices of a random sample of members; a handful, so inline.
pub(crate) type Sample = SmallVec<[usize; 8]>;

/// The table was full and held no tombstone to evict.
#[derive(Debug)]
pub(crate) struct TableFull;

/// What [`MemberTable::remove`] did: the member removed from slot `index`, and
/// which member (by its former index) now sits in that slot.
pub(crate) struct Removed<A> {
    pub(crate) member: Member<A>,
    pub(crate) index: usize,
    pub(crate) moved_from: Option<usize>,
}

/// Members in a dense vector (for uniform random choice and deterministic
/// order), indexed by name and by address. Index 0 is the local node and is
/// never removed.
///
/// The indexes hold 4-byte positions into the vector, hashed with a seeded
/// hasher: a simulator keeps 10⁸ entries, and names come from the network.
/// All mutation goes through [`MemberTable::update`] so that the live count,
/// the indexes and the membership digest stay exact.
pub(crate) struct MemberTable<A> {
    members: Vec<Member<A>>,
    /// `heard[i]`: a datagram came from member `i`'s address since it was
    /// learned there. A member only heard of (from gossip, a forged
    /// announcement, another's table) gets nothing but bare probes.
    heard: Vec<bool>,
    by_name: HashTable<u32>,
    /// The latest member seen at each address.
    by_addr: HashTable<u32>,
    hasher: FixedState,
    /// Tombstones (failed and left members, never the local node) by when
    /// they became one, oldest first: the one to evict when the table is
    /// full, and those to reap, found in O(log n).
    tombstones: BTreeSet<(Instant, u32)>,
    capacity: usize,
    live: usize,
    digest: u64,
}

pub(crate) const LOCAL: usize = 0;

impl<A: Clone + Eq + Hash> MemberTable<A> {
    /// A table holding only the local node. `hash_seed` keys the indexes against
    /// collision attacks; it comes from the injected generator.
    pub(crate) fn new(local: Member<A>, capacity: usize, hash_seed: u64) -> Self {
        let mut table = MemberTable {
            members: Vec::new(),
            heard: Vec::new(),
            by_name: HashTable::new(),
            by_addr: HashTable::new(),
            hasher: FixedState::with_seed(hash_seed),
            tombstones: BTreeSet::new(),
            capacity,
            live: 0,
            digest: 0,
        };
        table.push(local);
        table
    }

    /// Makes room for `additional` more members without reallocating.
    pub(crate) fn reserve(&mut self, additional: usize) {
        let additional = additional.min(self.capacity.saturating_sub(self.members.len()));
        self.members.reserve_exact(additional);
        self.heard.reserve_exact(additional);
        let (members, hasher) = (&self.members, &self.hasher);
        self.by_name.reserve(additional, |&i| {
            hasher.hash_one(members[i as usize].name.as_bytes())
        });
        self.by_addr
            .reserve(additional, |&i| hasher.hash_one(&members[i as usize].addr));
    }

    pub(crate) fn local(&self) -> &Member<A> {
        &self.members[LOCAL]
    }

    pub(crate) fn get(&self, index: usize) -> &Member<A> {
        &self.members[index]
    }

    pub(crate) fn find(&self, name: &str) -> Option<usize> {
        let hash = self.hasher.hash_one(name.as_bytes());
        let members = &self.members;
        self.by_name
            .find(hash, |&i| {
                members[i as usize].name.as_bytes() == name.as_bytes()
            })
            .map(|&i| i as usize)
    }

    pub(crate) fn by_name(&self, name: &str) -> Option<&Member<A>> {
        self.find(name).map(|i| &self.members[i])
    }

    /// `addr` hashed with this table's (per-node) key.
    pub(crate) fn addr_hash(&self, addr: &A) -> u64 {
        self.hasher.hash_one(addr)
    }

    /// True if some member, tombstones included, is known at `addr`.
    pub(crate) fn knows_addr(&self, addr: &A) -> bool {
        self.at_addr(addr).is_some()
    }

    /// Notes that a datagram came from `addr`: the member there is heard.
    pub(crate) fn heard_at(&mut self, addr: &A) {
        if let Some(index) = self.index_at_addr(addr) {
            self.heard[index] = true;
        }
    }

    /// True if member `index` was heard from at its address.
    #[cfg(test)]
    pub(crate) fn is_heard(&self, index: usize) -> bool {
        self.heard[index]
    }

    /// True if a member is known at `addr` and was heard from there.
    pub(crate) fn heard_addr(&self, addr: &A) -> bool {
        self.index_at_addr(addr)
            .is_some_and(|index| self.heard[index])
    }

    fn index_at_addr(&self, addr: &A) -> Option<usize> {
        let hash = self.hasher.hash_one(addr);
        let members = &self.members;
        self.by_addr
            .find(hash, |&i| members[i as usize].addr == *addr)
            .map(|&i| i as usize)
    }

    /// The member known at `addr`, tombstones included.
    pub(crate) fn at_addr(&self, addr: &A) -> Option<&Member<A>> {
        self.index_at_addr(addr).map(|i| &self.members[i])
    }

    /// Members known, tombstones and the local node included.
    pub(crate) fn len(&self) -> usize {
        self.members.len()
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

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Member<A>> {
        self.members.iter()
    }

    /// Applies `change` to a member, keeping the live count, the address index
    /// and the digest exact. The name must not change.
    pub(crate) fn update<T>(
        &mut self,
        index: usize,
        change: impl FnOnce(&mut Member<A>) -> T,
    ) -> T {
        let member = &mut self.members[index];
        let (was_live, old_hash) = (member.state.is_live(), record_hash(member));
        let (old_addr, old_changed) = (member.addr.clone(), member.state_changed);
        let result = change(member);
        let (is_live, new_hash) = (member.state.is_live(), record_hash(member));
        let new_changed = member.state_changed;
        if index != LOCAL && (was_live, old_changed) != (is_live, new_changed) {
            if !was_live {
                self.tombstones.remove(&(old_changed, index as u32));
            }
            if !is_live {
                self.tombstones.insert((new_changed, index as u32));
            }
        }
        if self.members[index].addr != old_addr {
            // A new address has not been heard from yet.
            self.heard[index] = false;
            let member = &self.members[index];
            let new_addr = member.addr.clone();
            self.unindex_addr(&old_addr, index);
            self.index_addr(&new_addr, index);
        }
        self.live = self.live - usize::from(was_live) + usize::from(is_live);
        self.digest = self.digest.wrapping_sub(old_hash).wrapping_add(new_hash);
        result
    }

    /// Adds a member not known before. When the table is full the oldest tombstone
    /// makes room and is returned; without tombstones the member is refused.
    pub(crate) fn insert(
        &mut self,
        member: Member<A>,
    ) -> Result<(usize, Option<Removed<A>>), TableFull> {
        debug_assert!(self.find(&member.name).is_none());
        let evicted = if self.members.len() >= self.capacity {
            let (_, oldest) = self.oldest_tombstone().ok_or(TableFull)?;
            Some(self.remove(oldest))
        } else {
            None
        };
        Ok((self.push(member), evicted))
    }

    /// The tombstone that became one first, and when; never the local node.
    pub(crate) fn oldest_tombstone(&self) -> Option<(Instant, usize)> {
        self.tombstones
            .first()
            .map(|&(since, index)| (since, index as usize))
    }

    fn push(&mut self, member: Member<A>) -> usize {
        let index = self.members.len();
        if index != LOCAL && !member.state.is_live() {
            self.tombstones.insert((member.state_changed, index as u32));
        }
        self.live += usize::from(member.state.is_live());
        self.digest = self.digest.wrapping_add(record_hash(&member));
        let name_hash = self.hasher.hash_one(member.name.as_bytes());
        let addr = member.addr.clone();
        // The local node hears itself; others are heard of, until they speak.
        self.heard.push(index == LOCAL);
        self.members.push(member);
        let (members, hasher) = (&self.members, &self.hasher);
        self.by_name.insert_unique(name_hash, index as u32, |&i| {
            hasher.hash_one(members[i as usize].name.as_bytes())
        });
        self.index_addr(&addr, index);
        index
    }

    /// Removes a member (never the local node), moving the last one into its slot.
    pub(crate) fn remove(&mut self, index: usize) -> Removed<A> {
        assert_ne!(index, LOCAL, "the local node is never removed");
        let last = self.members.len() - 1;
        let name_hash = self.hasher.hash_one(self.members[index].name.as_bytes());
        if let Ok(entry) = self.by_name.find_entry(name_hash, |&i| i as usize == index) {
            entry.remove();
        }
        let addr = self.members[index].addr.clone();
        self.unindex_addr(&addr, index);
        let since = self.members[index].state_changed;
        self.tombstones.remove(&(since, index as u32));
        if index != last {
            // The last member moves into the freed slot: repoint its entries.
            let moved = &self.members[last];
            if !moved.state.is_live() {
                self.tombstones.remove(&(moved.state_changed, last as u32));
                self.tombstones.insert((moved.state_changed, index as u32));
            }
            let name_hash = self.hasher.hash_one(moved.name.as_bytes());
            let addr_hash = self.hasher.hash_one(&moved.addr);
            if let Some(i) = self.by_name.find_mut(name_hash, |&i| i as usize == last) {
                *i = index as u32;
            }
            if let Some(i) = self.by_addr.find_mut(addr_hash, |&i| i as usize == last) {
                *i = index as u32;
            }
        }
        let member = self.members.swap_remove(index);
        self.heard.swap_remove(index);
        self.live -= usize::from(member.state.is_live());
        self.digest = self.digest.wrapping_sub(record_hash(&member));
        Removed {
            member,
            index,
            moved_from: (index != last).then_some(last),
        }
    }

    /// Points `addr` at `index`, the latest member seen there (whose address is
    /// already `addr`).
    fn index_addr(&mut self, addr: &A, index: usize) {
        let hash = self.hasher.hash_one(addr);
        let (members, hasher) = (&self.members, &self.hasher);
        match self
            .by_addr
            .find_mut(hash, |&i| members[i as usize].addr == *addr)
        {
            Some(i) => *i = index as u32,
            None => {
                self.by_addr.insert_unique(hash, index as u32, |&i| {
                    hasher.hash_one(&members[i as usize].addr)
                });
            }
        }
    }

    /// Forgets that `addr` leads to `index`, unless another member took it since.
    fn unindex_addr(&mut self, addr: &A, index: usize) {
        let hash = self.hasher.hash_one(addr);
        if let Ok(entry) = self.by_addr.find_entry(hash, |&i| i as usize == index) {
            entry.remove();
        }
    }

    /// Up to `k` distinct random members (never the local node), heard from,
    /// for which `eligible` holds, uniformly chosen. Only probes go to members
    /// never heard from: that bounds what a forged announcement can make
    /// this node send to someone else's address.
    pub(crate) fn sample<R: Rng>(
        &self,
        rng: &mut R,
        k: usize,
        mut eligible: impl FnMut(&Member<A>) -> bool,
    ) -> Sample {
        self.sample_where(rng, k, |m, heard| heard && eligible(m))
    }

    /// [`sample`](Self::sample), members only heard of included.
    pub(crate) fn sample_any<R: Rng>(
        &self,
        rng: &mut R,
        k: usize,
        mut eligible: impl FnMut(&Member<A>) -> bool,
    ) -> Sample {
        self.sample_where(rng, k, |m, _| eligible(m))
    }

    /// Up to `k` distinct random members (never the local node) for which
    /// `eligible(member, heard from)` holds, uniformly chosen.
    pub(crate) fn sample_where<R: Rng>(
        &self,
        rng: &mut R,
        k: usize,
        eligible: impl FnMut(&Member<A>, bool) -> bool,
    ) -> Sample {
        let others = self.members.len().saturating_sub(1);
        self.draw(rng, k, eligible, |rng, usable| {
            let i = 1 + random::below(rng, others);
            usable(i).then_some(i)
        })
    }

    /// Up to `k` distinct members (never the local node) for which `eligible`
    /// holds, each one `draw_one`'s choice given a test of whether an index
    /// is usable (eligible, not chosen yet). Rejection sampling is O(k) when
    /// most members are eligible, as they are in a healthy cluster; after
    /// `4k + 16` draws a scan completes the sample.
    fn draw<R: Rng>(
        &self,
        rng: &mut R,
        k: usize,
        mut eligible: impl FnMut(&Member<A>, bool) -> bool,
        mut draw_one: impl FnMut(&mut R, &mut dyn FnMut(usize) -> bool) -> Option<usize>,
    ) -> Sample {
        let mut chosen = Sample::new();
        if k == 0 || self.members.len() < 2 {
            return chosen;
        }
        for _ in 0..4 * k + 16 {
            if chosen.len() == k {
                return chosen;
            }
            let mut usable =
                |i: usize| !chosen.contains(&i) && eligible(&self.members[i], self.heard[i]);
            if let Some(i) = draw_one(rng, &mut usable) {
                chosen.push(i);
            }
        }
        self.fill_by_scan(rng, k, chosen, eligible)
    }

    /// Completes `chosen` to `k` members uniformly from a scan of the table,
    /// for when random draws keep missing the eligible.
    fn fill_by_scan<R: Rng>(
        &self,
        rng: &mut R,
        k: usize,
        mut chosen: Sample,
        mut eligible: impl FnMut(&Member<A>, bool) -> bool,
    ) -> Sample {
        let mut rest: Vec<usize> = (1..self.members.len())
            .filter(|&i| !chosen.contains(&i) && eligible(&self.members[i], self.heard[i]))
            .collect();
        while chosen.len() < k && !rest.is_empty() {
            let pick = random::below(rng, rest.len());
            chosen.push(rest.swap_remove(pick));
        }
        chosen
    }

    /// Up to `k` distinct members (never the local node), heard from, for which
    /// `eligible` holds, each, with probability `far_percent`%, uniformly chosen, and
    /// otherwise the nearest by `distance` of `candidates` drawn uniformly
    /// (unknown distances rank last). See
    /// [`PeerSelection::Nearby`](crate::PeerSelection::Nearby).
    pub(crate) fn sample_nearby<R: Rng>(
        &self,
        rng: &mut R,
        k: usize,
        candidates: usize,
        far_percent: usize,
        eligible: impl FnMut(&Member<A>, bool) -> bool,
        mut distance: impl FnMut(&Member<A>) -> Option<f64>,
    ) -> Sample {
        let others = self.members.len().saturating_sub(1);
        self.draw(rng, k, eligible, |rng, usable| {
            let draws = if random::below(rng, 100) < far_percent {
                1
            } else {
                candidates
            };
            let mut nearest: Option<(usize, f64)> = None;
            for _ in 0..draws {
                let i = 1 + random::below(rng, others);
                if !usable(i) {
                    continue;
                }
                let d = distance(&self.members[i]).unwrap_or(f64::INFINITY);
                if nearest.is_none_or(|(_, best)| d < best) {
                    nearest = Some((i, d));
                }
            }
            nearest.map(|(i, _)| i)
        })
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

    fn hear_all<A>(t: &mut MemberTable<A>) {
        t.heard.iter_mut().for_each(|heard| *heard = true);
    }

    #[test]
    fn a_member_is_heard_once_a_datagram_comes_from_its_address_until_it_moves() {
        let mut t = MemberTable::new(at("self", 0), 10, 0);
        let (x, _) = t.insert(at("x", 7)).unwrap();
        assert!(!t.heard_addr(&7));
        t.heard_at(&7);
        assert!(t.heard_addr(&7) && t.is_heard(x));
        t.update(x, |m| m.addr = 8);
        assert!(!t.is_heard(x), "a new address is not heard from yet");
        let (y, _) = t.insert(at("y", 9)).unwrap();
        t.heard_at(&9);
        t.remove(x);
        assert_eq!(t.find("y"), Some(x), "y moved from slot {y} into x's");
        assert!(t.is_heard(x), "and is still heard");
    }

    fn at(name: &str, addr: u32) -> Member<u32> {
        let mut member = record(name, MemberState::Alive, 0);
        member.addr = addr;
        member
    }

    #[test]
    fn digest_is_order_independent_and_tracks_changes() {
        let mut a = MemberTable::new(record("self", MemberState::Alive, 0), 10, 1);
        let mut b = MemberTable::new(record("self", MemberState::Alive, 0), 10, 2);
        a.insert(record("x", MemberState::Alive, 0)).unwrap();
        a.insert(record("y", MemberState::Alive, 0)).unwrap();
        b.insert(record("y", MemberState::Alive, 0)).unwrap();
        b.insert(record("x", MemberState::Alive, 0)).unwrap();
        assert_eq!(a.digest(), b.digest());
        let x = a.find("x").unwrap();
        a.update(x, |m| m.incarnation = 1);
        assert_ne!(a.digest(), b.digest());
        let x = b.find("x").unwrap();
        b.update(x, |m| m.incarnation = 1);
        assert_eq!(a.digest(), b.digest());
        let y = a.find("y").unwrap();
        a.remove(y);
        assert_ne!(a.digest(), b.digest());
    }

    #[test]
    fn live_count_and_indexes_survive_removal() {
        let mut t = MemberTable::new(record("self", MemberState::Alive, 0), 10, 0);
        for (i, name) in ["a", "b", "c"].into_iter().enumerate() {
            t.insert(at(name, i as u32 + 1)).unwrap();
        }
        assert_eq!(t.live(), 4);
        let a = t.find("a").unwrap();
        t.update(a, |m| m.state = MemberState::Failed);
        assert_eq!(t.live(), 3);
        let removed = t.remove(t.find("a").unwrap());
        assert_eq!(removed.member.name.as_str(), "a");
        assert_eq!(removed.moved_from, Some(3), "c moved into a's slot");
        assert_eq!(t.len(), 3);
        for name in ["self", "b", "c"] {
            let i = t.find(name).unwrap();
            assert_eq!(t.get(i).name.as_str(), name);
        }
        assert!(t.find("a").is_none());
        assert!(!t.knows_addr(&1) && t.knows_addr(&2) && t.knows_addr(&3));
        let last = t.remove(t.len() - 1);
        assert_eq!(last.moved_from, None, "removing the last moves nothing");
    }

    #[test]
    fn addresses_are_indexed_through_changes_and_removals() {
        let mut t = MemberTable::new(record("self", MemberState::Alive, 0), 10, 0);
        t.insert(at("a", 1)).unwrap();
        t.insert(at("b", 2)).unwrap();
        assert!(t.knows_addr(&0) && t.knows_addr(&1) && t.knows_addr(&2));
        let a = t.find("a").unwrap();
        t.update(a, |m| m.addr = 3);
        assert!(!t.knows_addr(&1) && t.knows_addr(&3));
        t.remove(t.find("a").unwrap());
        assert!(!t.knows_addr(&3));
        let b = t.find("b").unwrap();
        t.update(b, |m| m.addr = 4);
        assert!(
            t.knows_addr(&4) && !t.knows_addr(&2),
            "the moved record's address follows it"
        );
    }

    #[test]
    fn an_address_taken_over_stays_known_when_its_former_holder_goes() {
        let mut t = MemberTable::new(record("self", MemberState::Alive, 0), 10, 0);
        t.insert(at("old", 5)).unwrap();
        t.insert(at("new", 5)).unwrap();
        t.remove(t.find("old").unwrap());
        assert!(t.knows_addr(&5), "the newer member still lives there");
    }

    #[test]
    fn a_full_table_evicts_its_oldest_tombstone_or_refuses() {
        let mut t = MemberTable::new(record("self", MemberState::Alive, 0), 3, 0);
        t.insert(record("old", MemberState::Failed, 5)).unwrap();
        t.insert(record("older", MemberState::Left, 1)).unwrap();
        let (_, evicted) = t.insert(record("new", MemberState::Alive, 9)).unwrap();
        assert_eq!(evicted.unwrap().member.name.as_str(), "older");
        let (_, evicted) = t.insert(record("new2", MemberState::Alive, 9)).unwrap();
        assert_eq!(evicted.unwrap().member.name.as_str(), "old");
        assert!(t.insert(record("new3", MemberState::Alive, 9)).is_err());
        assert_eq!(t.len(), 3);
    }

    /// The tombstone index against a scan of the table, through random
    /// inserts, state changes and removals: eviction and reaping always take
    /// the oldest tombstone (the one a scan would), never the local node.
    #[test]
    fn the_oldest_tombstone_is_found_without_a_scan_through_churn() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(9);
        let mut t = MemberTable::new(record("self", MemberState::Alive, 0), 300, 5);
        let scan = |t: &MemberTable<u32>| {
            (1..t.len())
                .filter(|&i| !t.get(i).state.is_live())
                .map(|i| (t.get(i).state_changed, i))
                .min()
        };
        let states = [
            MemberState::Alive,
            MemberState::Suspect,
            MemberState::Failed,
            MemberState::Left,
        ];
        for step in 0..20_000u64 {
            let state = states[random::below(&mut rng, 4)];
            let since = random::below(&mut rng, 1_000) as u64;
            match random::below(&mut rng, 4) {
                0 => {
                    let name = alloc::format!("m{step}");
                    let _ = t.insert(record(&name, state, since));
                }
                1 if t.len() > 1 => {
                    let i = 1 + random::below(&mut rng, t.len() - 1);
                    t.remove(i);
                }
                _ => {
                    let i = random::below(&mut rng, t.len());
                    t.update(i, |m| {
                        m.state = state;
                        m.state_changed = Instant::from_secs(since);
                    });
                }
            }
            let expected = scan(&t).map(|(since, i)| (since, t.get(i).name.clone()));
            let found = t
                .oldest_tombstone()
                .map(|(since, i)| (since, t.get(i).name.clone()));
            assert_eq!(found, expected, "step {step}");
            let tombstones = (1..t.len()).filter(|&i| !t.get(i).state.is_live());
            assert_eq!(t.tombstones.len(), tombstones.count(), "step {step}");
        }
    }

    #[test]
    fn a_thousand_members_stay_findable_through_churn() {
        let mut t = MemberTable::new(at("self", 0), 2_000, 3);
        for i in 1..=1_000u32 {
            t.insert(at(&alloc::format!("m{i}"), i)).unwrap();
        }
        for i in (1..=1_000u32).step_by(3) {
            t.remove(t.find(&alloc::format!("m{i}")).unwrap());
        }
        for i in 1..=1_000u32 {
            let name = alloc::format!("m{i}");
            let found = t
                .find(&name)
                .map(|j| (t.get(j).name.as_str() == name, t.get(j).addr));
            if i % 3 == 1 {
                assert_eq!(found, None);
                assert!(!t.knows_addr(&i));
            } else {
                assert_eq!(found, Some((true, i)));
                assert!(t.knows_addr(&i));
            }
        }
    }

    #[test]
    fn samples_are_distinct_eligible_and_exclude_the_local_node() {
        let mut t = MemberTable::new(record("self", MemberState::Alive, 0), 100, 0);
        for i in 0..50 {
            let state = if i % 5 == 0 {
                MemberState::Failed
            } else {
                MemberState::Alive
            };
            t.insert(record(&alloc::format!("m{i}"), state, 0)).unwrap();
        }
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
        assert!(
            t.sample(&mut rng, 3, |_| true).is_empty(),
            "members only heard of are no partners"
        );
        hear_all(&mut t);
        for k in [0, 1, 3, 40, 100] {
            let s = t.sample(&mut rng, k, |m| m.state.is_live());
            assert_eq!(s.len(), k.min(40));
            let mut unique = s.to_vec();
            unique.sort_unstable();
            unique.dedup();
            assert_eq!(unique.len(), s.len());
            assert!(s.iter().all(|&i| i != LOCAL && t.get(i).state.is_live()));
        }
    }

    /// `m0`..`m99`, of which `m0`..`m9` are near (1 ms) and the rest far
    /// (50 ms), except `m99`, whose distance is unknown.
    fn near_and_far() -> (MemberTable<u32>, impl Fn(&Member<u32>) -> Option<f64>) {
        let mut t = MemberTable::new(record("self", MemberState::Alive, 0), 200, 0);
        for i in 0..100 {
            t.insert(at(&alloc::format!("m{i}"), i + 1)).unwrap();
        }
        hear_all(&mut t);
        let distance = |m: &Member<u32>| match m.addr - 1 {
            0..10 => Some(0.001),
            99 => None,
            _ => Some(0.05),
        };
        (t, distance)
    }

    #[test]
    fn nearby_samples_prefer_the_nearest_of_their_candidates_and_keep_some_far() {
        let (t, distance) = near_and_far();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(8);
        for (candidates, far_percent) in [(16, 10), (4, 30), (1, 100)] {
            let draws = 20_000;
            let near = (0..draws)
                .filter(|_| {
                    let s = t.sample_nearby(
                        &mut rng,
                        1,
                        candidates,
                        far_percent,
                        |_, _| true,
                        &distance,
                    );
                    distance(t.get(s[0])) == Some(0.001)
                })
                .count() as f64
                / f64::from(draws);
            // A near member unless every candidate is far; a tenth of far
            // (uniform) picks land near by chance.
            let far = far_percent as f64 / 100.0;
            let expected = (1.0 - far) * (1.0 - 0.9f64.powi(candidates as i32)) + far * 0.1;
            assert!(
                (near - expected).abs() < 0.015,
                "{candidates} candidates, {far_percent}% far: {near} near, expected {expected}"
            );
        }
    }

    #[test]
    fn nearby_samples_are_distinct_eligible_and_rank_the_unknown_last() {
        let (t, distance) = near_and_far();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(9);
        for k in [0, 1, 3, 12, 100, 150] {
            let s = t.sample_nearby(&mut rng, k, 16, 10, |m, _| m.addr % 2 == 1, &distance);
            assert_eq!(s.len(), k.min(50));
            let mut unique = s.to_vec();
            unique.sort_unstable();
            unique.dedup();
            assert_eq!(unique.len(), s.len());
            assert!(s.iter().all(|&i| i != LOCAL && t.get(i).addr % 2 == 1));
        }
        let only_far_and_unknown = |m: &Member<u32>, _| m.addr > 90;
        let picks = (0..2_000)
            .filter(|_| {
                let s = t.sample_nearby(&mut rng, 1, 64, 1, only_far_and_unknown, &distance);
                distance(t.get(s[0])).is_none()
            })
            .count();
        assert!(
            picks < 100,
            "the unknown member was preferred {picks} times in 2,000"
        );
    }
}
