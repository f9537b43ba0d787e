//! A bounded-retransmission queue of rumors (memberlist's `TransmitLimitedQueue`).

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::cmp::Reverse;
use core::hash::Hash;

use foldhash::fast::FixedState;
use hashbrown::HashMap;

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

struct Rumor<V> {
    id: u64,
    transmits: u32,
    value: V,
}

/// Rumors keyed by what they are about: a newer rumor with the same key replaces
/// the older one. Sent fewest-transmitted first, newest first among equals (so
/// many concurrent rumors share the room fairly), each until it has been sent
/// `limit` times or the caller loses interest in it.
pub(crate) struct RumorQueue<K, V> {
    rumors: HashMap<K, Rumor<V>, FixedState>,
    order: BTreeMap<(u32, Reverse<u64>), K>,
    next_id: u64,
}

impl<K: Clone + Eq + Hash, V> RumorQueue<K, V> {
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

    /// Forgets every rumor.
    pub(crate) fn clear(&mut self) {
        self.rumors.clear();
        self.order.clear();
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rumors.is_empty()
    }

    /// True if a rumor about `key` is still being sent.
    pub(crate) fn contains(&self, key: &K) -> bool {
        self.rumors.contains_key(key)
    }

    /// Queues `value` as the rumor about `key`, replacing any older one.
    pub(crate) fn push(&mut self, key: K, value: V) {
        self.remove(&key);
        let id = self.next_id;
        self.next_id += 1;
        self.order.insert((0, Reverse(id)), key.clone());
        let rumor = Rumor {
            id,
            transmits: 0,
            value,
        };
        self.rumors.insert(key, rumor);
    }

    /// Forgets the rumor about `key`.
    pub(crate) fn remove(&mut self, key: &K) {
        if let Some(old) = self.rumors.remove(key) {
            self.order.remove(&(old.transmits, Reverse(old.id)));
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
        for (&(transmits, Reverse(id)), key) in &self.order {
            if writer.remaining() < MIN_RUMOR_LEN || writer.is_full() || misfits == MAX_MISFITS {
                break;
            }
            if transmits >= limit {
                expired.push((transmits, id));
                continue;
            }
            if write(key, &self.rumors[key].value, writer).is_ok() {
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
            if transmits + 1 >= limit || !keep(&key) {
                self.rumors.remove(&key);
            } else {
                self.rumors.get_mut(&key).expect("queued").transmits = transmits + 1;
                self.order.insert((transmits + 1, Reverse(id)), key);
            }
        }
        picked.len()
    }
}

/// A rumor encoded once when queued, written as is.
pub(crate) struct Encoded {
    kind: MessageKind,
    bytes: Vec<u8>,
}

impl Encoded {
    pub(crate) fn new<A: serde::Serialize>(message: &Message<'_, A>) -> Self {
        Encoded {
            kind: message.kind(),
            bytes: encode_message(message),
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
}
