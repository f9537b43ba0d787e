//! A bounded-retransmission queue of rumors (memberlist's `TransmitLimitedQueue`).

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::cmp::Reverse;
use core::hash::Hash;

use foldhash::fast::FixedState;
use hashbrown::HashMap;

use crate::stats::TrafficByKind;
use crate::wire::{MAX_MESSAGES_PER_PACKET, MessageKind, PacketWriter};

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

struct Rumor {
    id: u64,
    transmits: u32,
    kind: MessageKind,
    encoded: Vec<u8>,
}

/// Rumors keyed by what they are about: a newer rumor with the same key replaces
/// the older one. Sent fewest-transmitted first, newest first among equals, each
/// until it has been sent `limit` times.
pub(crate) struct RumorQueue<K> {
    rumors: HashMap<K, Rumor, FixedState>,
    order: BTreeMap<(u32, Reverse<u64>), K>,
    next_id: u64,
}

impl<K: Clone + Eq + Hash> RumorQueue<K> {
    pub(crate) fn new(hash_seed: u64) -> Self {
        RumorQueue {
            rumors: HashMap::with_hasher(FixedState::with_seed(hash_seed)),
            order: BTreeMap::new(),
            next_id: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.rumors.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rumors.is_empty()
    }

    /// True if a rumor about `key` is still being sent.
    pub(crate) fn contains(&self, key: &K) -> bool {
        self.rumors.contains_key(key)
    }

    /// Queues `encoded` as the rumor about `key`, replacing any older one.
    pub(crate) fn push(&mut self, key: K, kind: MessageKind, encoded: Vec<u8>) {
        self.remove(&key);
        let id = self.next_id;
        self.next_id += 1;
        self.order.insert((0, Reverse(id)), key.clone());
        let rumor = Rumor {
            id,
            transmits: 0,
            kind,
            encoded,
        };
        self.rumors.insert(key, rumor);
    }

    /// Forgets the rumor about `key`.
    pub(crate) fn remove(&mut self, key: &K) {
        if let Some(old) = self.rumors.remove(key) {
            self.order.remove(&(old.transmits, Reverse(old.id)));
        }
    }

    /// Appends as many rumors as fit to `writer`, counts them in `sent`, and returns
    /// how many were appended. Rumors already sent `limit` times are dropped.
    pub(crate) fn fill(
        &mut self,
        writer: &mut PacketWriter<'_>,
        limit: u32,
        sent: &mut TrafficByKind,
        max_messages: usize,
    ) -> usize {
        let mut picked: smallvec::SmallVec<[(u32, u64); 32]> = smallvec::SmallVec::new();
        let mut expired: smallvec::SmallVec<[(u32, u64); 8]> = smallvec::SmallVec::new();
        let mut misfits = 0;
        let max_messages = max_messages.min(MAX_MESSAGES_PER_PACKET - 1);
        for (&(transmits, Reverse(id)), key) in &self.order {
            if writer.remaining() < MIN_RUMOR_LEN
                || misfits == MAX_MISFITS
                || picked.len() == max_messages
            {
                break;
            }
            if transmits >= limit {
                expired.push((transmits, id));
                continue;
            }
            let rumor = &self.rumors[key];
            if writer.push_encoded(&rumor.encoded).is_ok() {
                sent[rumor.kind].record(rumor.encoded.len());
                picked.push((transmits, id));
            } else {
                misfits += 1;
            }
        }
        for (transmits, id) in expired {
            if let Some(key) = self.order.remove(&(transmits, Reverse(id))) {
                self.rumors.remove(&key);
            }
        }
        for &(transmits, id) in &picked {
            let key = self
                .order
                .remove(&(transmits, Reverse(id)))
                .expect("picked rumors are in the order");
            if transmits + 1 >= limit {
                self.rumors.remove(&key);
            } else {
                self.rumors.get_mut(&key).expect("queued").transmits = transmits + 1;
                self.order.insert((transmits + 1, Reverse(id)), key);
            }
        }
        picked.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Message, encode_message};

    fn ack(seq: u32) -> Vec<u8> {
        encode_message::<u32>(&Message::Ack { seq })
    }

    fn fill_one(queue: &mut RumorQueue<u32>, room: usize, limit: u32) -> Vec<u8> {
        let mut buf = alloc::vec![0u8; room];
        let mut writer = PacketWriter::new(&mut buf, 0);
        let header = writer.len();
        queue.fill(
            &mut writer,
            limit,
            &mut TrafficByKind::default(),
            usize::MAX,
        );
        let len = writer.len();
        buf[header..len].to_vec()
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
        queue.push(1, MessageKind::Ack, ack(1));
        for _ in 0..3 {
            assert_eq!(fill_one(&mut queue, 64, 3), ack(1));
        }
        assert!(queue.is_empty());
        assert!(fill_one(&mut queue, 64, 3).is_empty());
    }

    #[test]
    fn fewest_sent_first_and_newest_first_among_equals() {
        let mut queue = RumorQueue::new(0);
        queue.push(1, MessageKind::Ack, ack(1));
        // Room for exactly one rumor per datagram.
        assert_eq!(fill_one(&mut queue, 4 + 3, 10), ack(1));
        queue.push(2, MessageKind::Ack, ack(2));
        queue.push(3, MessageKind::Ack, ack(3));
        assert_eq!(fill_one(&mut queue, 4 + 3, 10), ack(3));
        assert_eq!(fill_one(&mut queue, 4 + 3, 10), ack(2));
        assert_eq!(fill_one(&mut queue, 4 + 3, 10), ack(3));
    }

    #[test]
    fn a_newer_rumor_replaces_the_older_and_starts_over() {
        let mut queue = RumorQueue::new(0);
        queue.push(1, MessageKind::Ack, ack(1));
        fill_one(&mut queue, 64, 2);
        queue.push(1, MessageKind::Ack, ack(99));
        assert_eq!(queue.len(), 1);
        assert_eq!(fill_one(&mut queue, 64, 2), ack(99));
        assert_eq!(fill_one(&mut queue, 64, 2), ack(99));
        assert!(queue.is_empty());
    }

    #[test]
    fn rumors_that_do_not_fit_wait_for_a_larger_datagram() {
        let mut queue = RumorQueue::new(0);
        let big = encode_message::<u32>(&Message::Ping {
            seq: 1,
            target: "a-rather-long-target-name",
        });
        queue.push(1, MessageKind::Ping, big.clone());
        queue.push(2, MessageKind::Ack, ack(2));
        assert_eq!(fill_one(&mut queue, 4 + 8, 5), ack(2));
        assert_eq!(queue.len(), 2);
        assert_eq!(fill_one(&mut queue, 64, 5), [big, ack(2)].concat());
    }
}
