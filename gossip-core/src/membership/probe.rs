//! SWIM failure detection: whom to probe next, the probe in flight, and probes
//! relayed for others.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use rand_core::Rng;

use super::table::MemberTable;
use crate::identity::{Generation, Incarnation, NodeName};
use crate::random;
use crate::time::Instant;

/// Randomized round-robin probe order (SWIM §4.3): every member is probed once per
/// round, the order is reshuffled between rounds, and newcomers take a random
/// place among the members not yet probed this round. This bounds the time to
/// first detection, which uniform random choice does not, while keeping its
/// expected e/(e−1) periods. Holds member table indices, and where each one
/// stands, so that every change is O(1).
#[derive(Default)]
pub(crate) struct ProbeOrder {
    order: Vec<u32>,
    /// `position[index]`: where table index `index` stands in `order`
    /// ([`ABSENT`] if it does not).
    position: Vec<u32>,
    /// `order[..next]` were probed this round.
    next: usize,
}

const ABSENT: u32 = u32::MAX;

impl ProbeOrder {
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.order.reserve_exact(additional);
        self.position.reserve_exact(additional);
    }

    /// Adds the member at table index `index`, in O(1).
    pub(crate) fn insert<R: Rng>(&mut self, rng: &mut R, index: usize) {
        if self.position.len() <= index {
            self.position.resize(index + 1, ABSENT);
        }
        self.order.push(index as u32);
        let last = self.order.len() - 1;
        self.position[index] = last as u32;
        let unprobed = self.order.len() - self.next.min(last);
        let at = last + 1 - unprobed + random::below(rng, unprobed);
        self.swap(at, last);
    }

    /// Forgets the member at table index `index`, in O(1): a member probed
    /// this round gives its place to the last one probed, and that place goes
    /// to the last member of the order, so the round goes on as it was.
    pub(crate) fn remove(&mut self, index: usize) {
        let Some(mut at) = self.position_of(index) else {
            return;
        };
        if at < self.next {
            self.next -= 1;
            self.swap(at, self.next);
            at = self.next;
        }
        let last = self.order.len() - 1;
        self.swap(at, last);
        self.order.pop();
        self.position[index] = ABSENT;
    }

    /// The member at table index `from` moved to `to`, in O(1).
    pub(crate) fn renumber(&mut self, from: usize, to: usize) {
        let Some(at) = self.position_of(from) else {
            return;
        };
        self.position[from] = ABSENT;
        if self.position.len() <= to {
            self.position.resize(to + 1, ABSENT);
        }
        self.position[to] = at as u32;
        self.order[at] = to as u32;
    }

    fn position_of(&self, index: usize) -> Option<usize> {
        let at = *self.position.get(index)?;
        (at != ABSENT).then_some(at as usize)
    }

    /// Swaps two places of the order, keeping the positions right.
    fn swap(&mut self, a: usize, b: usize) {
        self.order.swap(a, b);
        self.position[self.order[a] as usize] = a as u32;
        self.position[self.order[b] as usize] = b as u32;
    }

    /// The table index of the next live member to probe, if there is one.
    pub(crate) fn next<R: Rng, A: Clone + Eq + core::hash::Hash>(
        &mut self,
        rng: &mut R,
        table: &MemberTable<A>,
    ) -> Option<usize> {
        for _ in 0..=self.order.len() {
            if self.next >= self.order.len() {
                // Once a round: O(1) per probe.
                random::shuffle(rng, &mut self.order);
                for (at, &index) in self.order.iter().enumerate() {
                    self.position[index as usize] = at as u32;
                }
                self.next = 0;
            }
            let index = *self.order.get(self.next)? as usize;
            self.next += 1;
            if table.get(index).state.is_live() {
                return Some(index);
            }
        }
        None
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.order.len()
    }
}

/// The probe of the current protocol period.
#[derive(Clone, Debug)]
pub(crate) struct ProbeRound<A> {
    pub(crate) seq: u32,
    pub(crate) target: NodeName,
    pub(crate) addr: A,
    /// The target's life and incarnation when probed: a failed probe suspects
    /// exactly these, so a refutation that arrived meanwhile wins.
    pub(crate) generation: Generation,
    pub(crate) incarnation: Incarnation,
    pub(crate) acked: bool,
    /// When the first ping left, to measure the round trip of its ack.
    pub(crate) sent_at: Instant,
    /// The direct ping went unanswered for the probe timeout: a later ack
    /// may answer either ping, so its round trip is no measurement.
    pub(crate) timed_out: bool,
    /// Helpers asked for a nack should the target stay silent.
    pub(crate) nacks_expected: u32,
    pub(crate) nacks_received: u32,
}

/// A probe this node sends on behalf of a member's indirect probe request.
#[derive(Clone, Debug)]
pub(crate) struct Relay<A> {
    /// Sequence number of our ping to the target.
    pub(crate) seq: u32,
    pub(crate) requester: A,
    /// Sequence number the requester expects in the relayed ack.
    pub(crate) requester_seq: u32,
    /// When to tell the requester that the target stayed silent; `None` if it
    /// asked for no nack, or it has been sent.
    pub(crate) nack_at: Option<Instant>,
    /// After this a late ack is no longer relayed.
    pub(crate) expires: Instant,
}

/// Relayed probes in flight, oldest first, bounded. All live equally long, so
/// they expire, and their nacks fall due, in insertion order.
pub(crate) struct Relays<A> {
    entries: VecDeque<Relay<A>>,
    capacity: usize,
}

impl<A> Relays<A> {
    pub(crate) fn new(capacity: usize) -> Self {
        Relays {
            entries: VecDeque::new(),
            capacity,
        }
    }

    /// Adds a relay; returns true if the oldest one had to make room.
    pub(crate) fn insert(&mut self, now: Instant, relay: Relay<A>) -> bool {
        while self
            .entries
            .front()
            .is_some_and(|r| r.expires <= now && r.nack_at.is_none())
        {
            self.entries.pop_front();
        }
        let evicted = self.entries.len() >= self.capacity;
        if evicted {
            self.entries.pop_front();
        }
        self.entries.push_back(relay);
        evicted
    }

    /// Removes and returns the relay whose ping had sequence number `seq`, if
    /// an ack for it may still be relayed.
    pub(crate) fn take(&mut self, now: Instant, seq: u32) -> Option<Relay<A>> {
        let at = self.entries.iter().position(|r| r.seq == seq)?;
        self.entries.remove(at).filter(|r| r.expires > now)
    }

    /// The earliest nack still to send.
    pub(crate) fn next_nack(&self) -> Option<Instant> {
        self.entries.iter().find_map(|r| r.nack_at)
    }

    /// The requester and its sequence number of the next nack due at `now`,
    /// marking it sent.
    pub(crate) fn pop_due_nack(&mut self, now: Instant) -> Option<(A, u32)>
    where
        A: Clone,
    {
        let relay = self.entries.iter_mut().find(|r| r.nack_at.is_some())?;
        if relay.nack_at? > now {
            return None;
        }
        relay.nack_at = None;
        Some((relay.requester.clone(), relay.requester_seq))
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::member::MemberState;
    use crate::testing::record;
    use rand_core::SeedableRng;
    use rand_xoshiro::Xoshiro256PlusPlus;

    #[test]
    fn every_live_member_is_probed_once_per_round() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
        let mut table = MemberTable::new(record("self", MemberState::Alive, 0), 100, 0);
        let mut order = ProbeOrder::default();
        for i in 0..20 {
            let state = if i == 3 {
                MemberState::Failed
            } else {
                MemberState::Alive
            };
            let (index, _) = table
                .insert(record(&alloc::format!("m{i}"), state, 0))
                .unwrap();
            order.insert(&mut rng, index);
        }
        let mut rounds = Vec::new();
        for _ in 0..3 {
            let mut round: Vec<usize> = (0..19)
                .map(|_| order.next(&mut rng, &table).unwrap())
                .collect();
            let first_order = round.clone();
            round.sort_unstable();
            round.dedup();
            assert_eq!(round.len(), 19, "each live member exactly once per round");
            rounds.push(first_order);
        }
        assert_ne!(
            rounds[1], rounds[2],
            "the order is reshuffled between rounds"
        );
        assert_eq!(order.len(), 20);
    }

    /// Removals and renumbering (a member reaped, the last one moved into its
    /// slot, as the table does) in the middle of rounds: every live member
    /// is still probed exactly once per round, and positions stay exact.
    #[test]
    fn removals_mid_round_keep_every_round_whole() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        let mut table = MemberTable::new(record("self", MemberState::Alive, 0), 100, 0);
        let mut order = ProbeOrder::default();
        for i in 0..60 {
            let (index, _) = table
                .insert(record(&alloc::format!("m{i}"), MemberState::Alive, 0))
                .unwrap();
            order.insert(&mut rng, index);
        }
        for round in 0..30 {
            let mut probed = alloc::collections::BTreeSet::new();
            let members = table.len() - 1;
            for step in 0..members {
                let index = order.next(&mut rng, &table).unwrap();
                assert!(probed.insert(table.get(index).name.clone()), "twice");
                if step % 7 == 3 && table.len() > 20 {
                    // Reap a random member as the node does.
                    let victim = 1 + random::below(&mut rng, table.len() - 1);
                    probed.remove(&table.get(victim).name);
                    let removed = table.remove(victim);
                    order.remove(removed.index);
                    if let Some(from) = removed.moved_from {
                        order.renumber(from, removed.index);
                    }
                }
                for (at, &index) in order.order.iter().enumerate() {
                    assert_eq!(order.position[index as usize] as usize, at);
                }
                if probed.len() == table.len() - 1 {
                    break;
                }
            }
            assert_eq!(
                probed.len(),
                table.len() - 1,
                "round {round} left someone out"
            );
            assert_eq!(order.len(), table.len() - 1);
            // Finish the round so the next one starts afresh.
            while order.next < order.order.len() {
                order.next += 1;
            }
        }
    }

    #[test]
    fn no_target_when_nobody_is_live() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
        let mut table = MemberTable::new(record("self", MemberState::Alive, 0), 10, 0);
        let mut order = ProbeOrder::default();
        assert_eq!(order.next(&mut rng, &table), None);
        let (x, _) = table.insert(record("x", MemberState::Left, 0)).unwrap();
        order.insert(&mut rng, x);
        assert_eq!(order.next(&mut rng, &table), None);
        order.remove(x);
        assert_eq!(order.len(), 0);
    }

    #[test]
    fn relays_are_bounded_and_expire() {
        let mut relays = Relays::new(2);
        let relay = |seq, expires| Relay {
            seq,
            requester: 9u32,
            requester_seq: seq + 100,
            nack_at: None,
            expires: Instant::from_secs(expires),
        };
        assert!(!relays.insert(Instant::ZERO, relay(1, 1)));
        assert!(!relays.insert(Instant::ZERO, relay(2, 1)));
        assert!(
            relays.insert(Instant::ZERO, relay(3, 1)),
            "full: the oldest goes"
        );
        assert!(relays.take(Instant::ZERO, 1).is_none());
        assert_eq!(relays.take(Instant::ZERO, 2).unwrap().requester_seq, 102);
        assert!(
            !relays.insert(Instant::from_secs(2), relay(4, 3)),
            "expired ones go first"
        );
        assert_eq!(relays.len(), 1);
    }

    #[test]
    fn nacks_fall_due_in_order_once_and_outlive_nothing() {
        let mut relays = Relays::new(8);
        let relay = |seq, nack: Option<u64>| Relay {
            seq,
            requester: seq,
            requester_seq: seq + 100,
            nack_at: nack.map(Instant::from_millis),
            expires: Instant::from_millis(1_000),
        };
        relays.insert(Instant::ZERO, relay(1, None));
        relays.insert(Instant::ZERO, relay(2, Some(400)));
        relays.insert(Instant::ZERO, relay(3, Some(500)));
        assert_eq!(relays.next_nack(), Some(Instant::from_millis(400)));
        assert_eq!(relays.pop_due_nack(Instant::from_millis(399)), None);
        let now = Instant::from_millis(450);
        assert_eq!(relays.pop_due_nack(now), Some((2, 102)));
        assert_eq!(relays.pop_due_nack(now), None, "each nack once");
        assert_eq!(relays.next_nack(), Some(Instant::from_millis(500)));
        // An ack that arrives in time is still relayed, and cancels the nack.
        assert!(relays.take(now, 3).is_some());
        assert_eq!(relays.next_nack(), None);
        // After expiry a late ack is not relayed.
        assert!(relays.take(Instant::from_millis(1_000), 1).is_none());
    }
}
