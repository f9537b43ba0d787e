//! A bounded-retransmission queue of rumors (memberlist's `TransmitLimitedQueue`).

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::cmp::Reverse;
use core::hash::Hash;

use core::hash::BuildHasher;

use foldhash::fast::FixedState;
use hashbrown::HashTable;

use crate::stats::TrafficByKind;
use crate::wire::{BufferFull, Message, MessageKind, PacketWriter, encode_message};

/// Smallest encoded message (a tag and a one-byte field); below this much room,
/// filling stops.
const MIN_RUMOR_LEN: usize = 2;
/// Rumors that did not fit before filling gives up on a datagram.
const MAX_MISFITS: usize = 16;

/// How many times each rumor is sent: `retransmit_mult · ceil(log10(n + 1))`, the
/// memberlist rule, with at least one transmission.
pub(crate) fn retransmit_limit(retransmit_mult: u32, members: usize) -> u32 {
    let digits = (members.max(1)).ilog10() + 1; // ceil(log10(n + 1)) for n ≥ 1
    retransmit_mult.saturating_mul(digits).max(1)
}

struct Rumor<K, V> {
    key: K,
    value: V,
    id: u64,
    transmits: u32,
}

/// Rumors keyed by what they are about: a newer rumor with the same key replaces
/// the older one. Sent fewest-transmitted first, newest first among equals (so
/// many concurrent rumors share the room fairly), each until it has been sent
/// `limit` times or the caller loses interest in it.
///
/// While a cluster forms, every node holds a rumor about nearly every member,
/// so each is kept once, in a reused slot: the key index and the send order
/// hold 4-byte slot numbers, not copies of the key. Once the queue empties
/// (as it does when the cluster is quiet), its memory goes back.
pub(crate) struct RumorQueue<K, V> {
    slots: Vec<Option<Rumor<K, V>>>,
    /// Empty slots, reused before the vector grows.
    free: Vec<u32>,
    /// The slot of each key's rumor, hashed with a seeded hasher: keys come
    /// from the network.
    by_key: HashTable<u32>,
    hasher: FixedState,
    /// (transmissions, newest first) to slot: the order rumors are sent in.
    order: BTreeMap<(u32, Reverse<u64>), u32>,
    next_id: u64,
}

impl<K: Clone + Eq + Hash, V> RumorQueue<K, V> {
    pub(crate) fn new(hash_seed: u64) -> Self {
        RumorQueue {
            slots: Vec::new(),
            free: Vec::new(),
            by_key: HashTable::new(),
            hasher: FixedState::with_seed(hash_seed),
            order: BTreeMap::new(),
            next_id: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.order.len()
    }

    /// Forgets every rumor, and gives back the memory they took.
    pub(crate) fn clear(&mut self) {
        self.slots = Vec::new();
        self.free = Vec::new();
        self.by_key = HashTable::new();
        self.order.clear();
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// True if a rumor about `key` is still being sent.
    pub(crate) fn contains(&self, key: &K) -> bool {
        self.slot_of(key).is_some()
    }

    /// Queues `value` as the rumor about `key`, replacing any older one.
    pub(crate) fn push(&mut self, key: K, value: V) {
        self.remove(&key);
        let id = self.next_id;
        self.next_id += 1;
        let rumor = Rumor {
            key,
            value,
            id,
            transmits: 0,
        };
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(rumor);
                slot
            }
            None => {
                self.slots.push(Some(rumor));
                u32::try_from(self.slots.len() - 1).expect("fewer than 2³² rumors")
            }
        };
        let (slots, hasher) = (&self.slots, &self.hasher);
        let key = &slots[slot as usize].as_ref().expect("just filled").key;
        self.by_key.insert_unique(hasher.hash_one(key), slot, |&s| {
            hasher.hash_one(&slots[s as usize].as_ref().expect("indexed").key)
        });
        self.order.insert((0, Reverse(id)), slot);
    }

    /// Forgets the rumor about `key`.
    pub(crate) fn remove(&mut self, key: &K) {
        if let Some(slot) = self.slot_of(key) {
            let rumor = self.rumor(slot);
            let position = (rumor.transmits, Reverse(rumor.id));
            self.order.remove(&position);
            self.release(slot);
        }
    }

    /// Appends as many rumors as fit to `writer` with `write`, and returns how
    /// many were appended. Rumors already sent `limit` times are dropped, and so
    /// is each rumor just sent for which `keep` says false.
    pub(crate) fn fill(
        &mut self,
        writer: &mut PacketWriter<'_>,
        limit: u32,
        mut write: impl FnMut(&K, &V, &mut PacketWriter<'_>) -> Result<(), BufferFull>,
        mut keep: impl FnMut(&K) -> bool,
    ) -> usize {
        let mut picked: smallvec::SmallVec<[(u32, u64); 32]> = smallvec::SmallVec::new();
        let mut expired: smallvec::SmallVec<[(u32, u64); 8]> = smallvec::SmallVec::new();
        let mut misfits = 0;
        for (&(transmits, Reverse(id)), &slot) in &self.order {
            if writer.remaining() < MIN_RUMOR_LEN || writer.is_full() || misfits == MAX_MISFITS {
                break;
            }
            if transmits >= limit {
                expired.push((transmits, id));
                continue;
            }
            let rumor = self.rumor(slot);
            if write(&rumor.key, &rumor.value, writer).is_ok() {
                picked.push((transmits, id));
            } else {
                misfits += 1;
            }
        }
        for (transmits, id) in expired {
            if let Some(slot) = self.order.remove(&(transmits, Reverse(id))) {
                self.release(slot);
            }
        }
        for &(transmits, id) in &picked {
            let slot = self
                .order
                .remove(&(transmits, Reverse(id)))
                .expect("picked rumors are in the order");
            if transmits + 1 >= limit || !keep(&self.rumor(slot).key) {
                self.release(slot);
            } else {
                self.rumor_mut(slot).transmits = transmits + 1;
                self.order.insert((transmits + 1, Reverse(id)), slot);
            }
        }
        picked.len()
    }

    fn slot_of(&self, key: &K) -> Option<u32> {
        let slots = &self.slots;
        self.by_key
            .find(self.hasher.hash_one(key), |&s| {
                slots[s as usize].as_ref().is_some_and(|r| r.key == *key)
            })
            .copied()
    }

    fn rumor(&self, slot: u32) -> &Rumor<K, V> {
        self.slots[slot as usize].as_ref().expect("a queued rumor")
    }

    fn rumor_mut(&mut self, slot: u32) -> &mut Rumor<K, V> {
        self.slots[slot as usize].as_mut().expect("a queued rumor")
    }

    /// Empties `slot`, already out of the order, and unindexes it; the last
    /// rumor gone, gives the memory back.
    fn release(&mut self, slot: u32) {
        let rumor = self.slots[slot as usize].take().expect("a queued rumor");
        let hash = self.hasher.hash_one(&rumor.key);
        if let Ok(entry) = self.by_key.find_entry(hash, |&s| s == slot) {
            entry.remove();
        }
        if self.order.is_empty() {
            self.clear();
        } else {
            self.free.push(slot);
        }
    }
}

/// A rumor encoded once when queued, written as is. Its bytes take exactly
/// their length: a node can hold one per member.
pub(crate) struct Encoded {
    kind: MessageKind,
    bytes: Box<[u8]>,
}

impl Encoded {
    pub(crate) fn new<A: serde::Serialize>(message: &Message<'_, A>) -> Self {
        Encoded {
            kind: message.kind(),
            bytes: encode_message(message).into_boxed_slice(),
        }
    }

    /// Appends the rumor to `writer` and counts it in `sent`.
    pub(crate) fn write(
        &self,
        writer: &mut PacketWriter<'_>,
        sent: &mut TrafficByKind,
    ) -> Result<(), BufferFull> {
        writer.push_encoded(&self.bytes)?;
        sent[self.kind].record(self.bytes.len());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Queue = RumorQueue<u32, Encoded>;

    fn ack(seq: u32) -> Vec<u8> {
        encode_message::<u32>(&Message::Ack { seq })
    }

    fn push(queue: &mut Queue, key: u32, message: &Message<'_, u32>) {
        queue.push(key, Encoded::new(message));
    }

    fn fill_keeping(
        queue: &mut Queue,
        room: usize,
        limit: u32,
        keep: impl FnMut(&u32) -> bool,
    ) -> Vec<u8> {
        let mut buf = alloc::vec![0u8; room];
        let mut writer = PacketWriter::new(&mut buf, 0);
        let header = writer.len();
        let mut sent = TrafficByKind::default();
        queue.fill(
            &mut writer,
            limit,
            |_, rumor, writer| rumor.write(writer, &mut sent),
            keep,
        );
        let len = writer.len();
        buf[header..len].to_vec()
    }

    fn fill_one(queue: &mut Queue, room: usize, limit: u32) -> Vec<u8> {
        fill_keeping(queue, room, limit, |_| true)
    }

    #[test]
    fn limit_follows_memberlist() {
        assert_eq!(retransmit_limit(4, 1), 4);
        assert_eq!(retransmit_limit(4, 9), 4);
        assert_eq!(retransmit_limit(4, 10), 8);
        assert_eq!(retransmit_limit(4, 1_000), 16);
        assert_eq!(retransmit_limit(4, 10_000), 20);
        assert_eq!(retransmit_limit(3, 0), 3);
    }

    #[test]
    fn each_rumor_is_sent_limit_times_then_dropped() {
        let mut queue = RumorQueue::new(0);
        push(&mut queue, 1, &Message::Ack { seq: 1 });
        for _ in 0..3 {
            assert_eq!(fill_one(&mut queue, 64, 3), ack(1));
        }
        assert!(queue.is_empty());
        assert!(fill_one(&mut queue, 64, 3).is_empty());
    }

    #[test]
    fn fewest_sent_first_and_newest_first_among_equals() {
        let mut queue = RumorQueue::new(0);
        push(&mut queue, 1, &Message::Ack { seq: 1 });
        // Room for exactly one rumor per datagram.
        assert_eq!(fill_one(&mut queue, 5 + 3, 10), ack(1));
        push(&mut queue, 2, &Message::Ack { seq: 2 });
        push(&mut queue, 3, &Message::Ack { seq: 3 });
        assert_eq!(fill_one(&mut queue, 5 + 3, 10), ack(3));
        assert_eq!(fill_one(&mut queue, 5 + 3, 10), ack(2));
        assert_eq!(fill_one(&mut queue, 5 + 3, 10), ack(3));
    }

    #[test]
    fn a_newer_rumor_replaces_the_older_and_starts_over() {
        let mut queue = RumorQueue::new(0);
        push(&mut queue, 1, &Message::Ack { seq: 1 });
        fill_one(&mut queue, 64, 2);
        push(&mut queue, 1, &Message::Ack { seq: 99 });
        assert_eq!(queue.len(), 1);
        assert_eq!(fill_one(&mut queue, 64, 2), ack(99));
        assert_eq!(fill_one(&mut queue, 64, 2), ack(99));
        assert!(queue.is_empty());
    }

    #[test]
    fn rumors_that_do_not_fit_wait_for_a_larger_datagram() {
        let mut queue = RumorQueue::new(0);
        let ping = Message::Ping {
            seq: 1,
            target: "a-rather-long-target-name",
        };
        let big = encode_message::<u32>(&ping);
        push(&mut queue, 1, &ping);
        push(&mut queue, 2, &Message::Ack { seq: 2 });
        assert_eq!(fill_one(&mut queue, 4 + 8, 5), ack(2));
        assert_eq!(queue.len(), 2);
        assert_eq!(fill_one(&mut queue, 64, 5), [big, ack(2)].concat());
    }

    #[test]
    fn a_rumor_the_caller_loses_interest_in_is_dropped_once_sent() {
        let mut queue = RumorQueue::new(0);
        push(&mut queue, 1, &Message::Ack { seq: 1 });
        push(&mut queue, 2, &Message::Ack { seq: 2 });
        let sent = fill_keeping(&mut queue, 64, 10, |&key| key != 1);
        assert_eq!(sent, [ack(2), ack(1)].concat());
        assert_eq!(queue.len(), 1);
        assert!(queue.contains(&2) && !queue.contains(&1));
    }

    #[test]
    fn slots_are_reused_and_an_empty_queue_gives_its_memory_back() {
        let mut queue = RumorQueue::new(0);
        for key in 0..100 {
            push(&mut queue, key, &Message::Ack { seq: key });
        }
        for key in 0..50 {
            queue.remove(&key);
        }
        for key in 100..150 {
            push(&mut queue, key, &Message::Ack { seq: key });
        }
        assert_eq!(queue.slots.len(), 100, "the freed slots were taken again");
        assert!((0..50).all(|key| !queue.contains(&key)));
        assert!((50..150).all(|key| queue.contains(&key)));
        // Each sent once more until the limit: the queue empties.
        while !queue.is_empty() {
            fill_one(&mut queue, 1_400, 2);
        }
        assert_eq!(queue.slots.capacity(), 0);
        assert_eq!(queue.by_key.capacity(), 0);
        assert!(queue.free.is_empty());
        push(&mut queue, 7, &Message::Ack { seq: 7 });
        assert_eq!(fill_one(&mut queue, 64, 2), ack(7));
    }
}
