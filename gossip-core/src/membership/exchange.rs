//! Push-pull state exchange: sessions this node opened, and its member table cut
//! into datagrams.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use serde::Serialize;

use super::table::{LOCAL, MemberTable};
use crate::member::{Member, MemberState};
use crate::stats::TrafficByKind;
use crate::time::Instant;
use crate::wire::{
    MAX_MESSAGES_PER_PACKET, MAX_STATE_CHUNKS, Message, PacketWriter, Status, Update,
};

/// Most exchanges this node waits on at once; an older one is forgotten (the next
/// exchange repeats its work).
const MAX_OPEN_EXCHANGES: usize = 16;

/// Exchanges this node opened and has not yet answered. Only an open exchange gets
/// this node's state in return, so a forged state chunk asking for a reply cannot
/// make the node send its table to an arbitrary address.
#[derive(Default)]
pub(crate) struct Exchanges {
    /// Session, expiry, and whether it was asked again with a cookie.
    open: VecDeque<(u32, Instant, bool)>,
}

impl Exchanges {
    pub(crate) fn open(&mut self, now: Instant, session: u32, expires: Instant) {
        self.open
            .retain(|&(s, expiry, _)| s != session && expiry > now);
        if self.open.len() == MAX_OPEN_EXCHANGES {
            self.open.pop_front();
        }
        self.open.push_back((session, expires, false));
    }

    /// Closes `session` if it is open and unexpired; true if it was.
    pub(crate) fn close(&mut self, now: Instant, session: u32) -> bool {
        match self.open.iter().position(|&(s, ..)| s == session) {
            Some(at) => self
                .open
                .remove(at)
                .is_some_and(|(_, expiry, _)| expiry > now),
            None => false,
        }
    }

    /// True, once per opening, if `session` is open and unexpired: it may be
    /// asked again with the cookie its peer gave (a second cookie for one
    /// request would be a loop).
    pub(crate) fn retry_with_cookie(&mut self, now: Instant, session: u32) -> bool {
        self.open
            .iter_mut()
            .find(|(s, expiry, retried)| *s == session && *expiry > now && !*retried)
            .map(|(_, _, retried)| *retried = true)
            .is_some()
    }
}

/// The update that states what this node knows of `member`; `local_name` is
/// named as the suspecter of suspect members.
pub(crate) fn update_of<'m, A>(member: &'m Member<A>, suspected_by: &'m str) -> Update<'m, A>
where
    A: Clone,
{
    let status = match member.state {
        MemberState::Alive => Status::Alive {
            addr: member.addr.clone(),
            metadata: member.metadata.as_bytes(),
        },
        MemberState::Suspect => Status::Suspect { by: suspected_by },
        MemberState::Failed => Status::Failed,
        MemberState::Left => Status::Left,
    };
    Update {
        name: &member.name,
        generation: member.generation,
        incarnation: member.incarnation,
        status,
    }
}

/// Where and how a member table is sent.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StateHeader {
    pub(crate) cluster_id: u32,
    pub(crate) max_packet_size: usize,
    pub(crate) session: u32,
    pub(crate) reply: bool,
    /// Where in the table the other members start, so that a table larger
    /// than [`MAX_STATE_CHUNKS`] is sent a different part each exchange.
    pub(crate) start: usize,
}

/// The member table as datagrams of at most `max_packet_size` bytes, each
/// opened by a [`Message::State`] that numbers it, so the receiver merges it as
/// remote state and can tell which chunks it missed. This node's own entry
/// comes first, then the others from `header.start` on; entries for which
/// `fresh` holds go first, in chunks marked fresh. At most
/// [`MAX_STATE_CHUNKS`] chunks: the rest of a larger table is left out. The
/// messages are counted in `sent`.
pub(crate) fn encode_state<'t, A: Clone + Eq + core::hash::Hash + Serialize>(
    table: &'t MemberTable<A>,
    header: StateHeader,
    fresh: impl Fn(&Member<A>) -> bool,
    suspecter: impl Fn(&str) -> Option<&'t str>,
    sent: &mut TrafficByKind,
) -> Vec<Vec<u8>> {
    let local = table.local().name.clone();
    let mut buf = alloc::vec![0u8; header.max_packet_size];
    // The largest opening, so that real ones (with smaller numbers) always fit.
    let widest_opening: Message<'_, A> = Message::State {
        session: u32::MAX,
        reply: true,
        fresh: true,
        chunk: u16::MAX,
        chunks: u16::MAX,
    };
    let room = {
        let mut writer = PacketWriter::new(&mut buf, header.cluster_id);
        writer
            .push(&widest_opening)
            .expect("a state opening fits a datagram");
        writer.remaining()
    };
    // First pass: cut the entries into chunk bodies.
    let others = table.len() - 1;
    let start = header.start % others.max(1);
    let order = core::iter::once(LOCAL).chain((0..others).map(|i| 1 + (start + i) % others));
    let mut bodies: Vec<(bool, Vec<u8>)> = Vec::new();
    for freshness in [true, false] {
        let mut records = order
            .clone()
            .map(|index| table.get(index))
            .filter(|member| fresh(member) == freshness)
            .peekable();
        while records.peek().is_some() && bodies.len() < usize::from(MAX_STATE_CHUNKS) {
            let mut body = Vec::new();
            let mut messages = 1;
            while let Some(record) = records.peek() {
                // A suspect entry names who first suspected it, not this node:
                // passing a suspicion on is not confirming it independently.
                let by = suspecter(&record.name).unwrap_or(&local);
                let update = Message::Update(update_of(record, by));
                let Ok(encoded) = crate::wire::encode_into(&update, &mut buf) else {
                    break;
                };
                if messages == MAX_MESSAGES_PER_PACKET || body.len() + encoded.len() > room {
                    break;
                }
                sent[update.kind()].record(encoded.len());
                body.extend_from_slice(encoded);
                messages += 1;
                records.next();
            }
            assert!(
                messages > 1,
                "config validation guarantees one member fits a datagram"
            );
            bodies.push((freshness, body));
        }
    }
    // Second pass: number the chunks.
    let chunks = bodies.len() as u16;
    let mut datagrams = Vec::with_capacity(bodies.len());
    for (index, (freshness, body)) in bodies.iter().enumerate() {
        let opening: Message<'_, A> = Message::State {
            session: header.session,
            reply: header.reply,
            fresh: *freshness,
            chunk: index as u16,
            chunks,
        };
        let mut writer = PacketWriter::new(&mut buf, header.cluster_id);
        let before = writer.len();
        writer
            .push(&opening)
            .expect("checked against the widest opening");
        sent[opening.kind()].record(writer.len() - before);
        writer.push_encoded(body).expect("bodies were cut to fit");
        let len = writer.len();
        datagrams.push(buf[..len].to_vec());
    }
    datagrams
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::member::Metadata;
    use crate::testing;
    use crate::wire::decode;

    /// A member with some metadata, so that the table needs several datagrams.
    fn record(name: &str) -> Member<u32> {
        let mut member = testing::record(name, MemberState::Alive, 0);
        member.metadata = Metadata::from(&b"0123456789"[..]);
        member
    }

    #[test]
    fn the_table_is_cut_into_datagrams_that_each_fit() {
        let mut table = MemberTable::new(record("local"), 1_000, 0);
        for i in 0..500 {
            table.insert(record(&alloc::format!("member-{i}"))).unwrap();
        }
        let header = StateHeader {
            cluster_id: 7,
            max_packet_size: 512,
            session: 99,
            reply: true,
            start: 123,
        };
        let fresh = |m: &Member<u32>| m.name.ends_with('7');
        let chunks = encode_state(
            &table,
            header,
            fresh,
            |_| None,
            &mut TrafficByKind::default(),
        );
        assert!(chunks.len() > 1);
        let mut names = Vec::new();
        for (seen, chunk) in chunks.iter().enumerate() {
            assert!(chunk.len() <= 512);
            let mut messages = decode::<u32>(chunk, 7).unwrap();
            let Message::State {
                session: 99,
                reply: true,
                fresh,
                chunk,
                chunks: total,
            } = messages.next().unwrap().unwrap()
            else {
                panic!("a chunk opens with its state header")
            };
            assert_eq!(usize::from(total), chunks.len());
            assert_eq!(usize::from(chunk), seen);
            for message in messages {
                let Message::Update(update) = message.unwrap() else {
                    panic!("only updates follow")
                };
                assert_eq!(update.name.ends_with('7'), fresh);
                names.push(alloc::string::String::from(update.name));
            }
        }
        assert_eq!(names.len(), 501);
        assert!(
            names[..50].iter().all(|n| n.ends_with('7')),
            "fresh entries first"
        );
        let settled: Vec<_> = names.iter().filter(|n| !n.ends_with('7')).collect();
        assert_eq!(settled[0], "local", "this node's own entry first");
        assert_eq!(
            settled[1], "member-123",
            "the others from table index `start` + 1 on"
        );
    }

    #[test]
    fn a_table_too_large_for_one_transfer_is_sent_in_part_from_the_start_given() {
        let mut table = MemberTable::new(record("local"), 100_000, 0);
        for i in 0..60_000 {
            table
                .insert(record(&alloc::format!("member-{i:05}")))
                .unwrap();
        }
        let header = StateHeader {
            cluster_id: 7,
            max_packet_size: 512,
            session: 99,
            reply: true,
            start: 40_000,
        };
        let chunks = encode_state(&table, header, |_| true, |_| None, &mut Default::default());
        assert_eq!(chunks.len(), usize::from(MAX_STATE_CHUNKS));
        let names: Vec<alloc::string::String> = chunks
            .iter()
            .flat_map(|chunk| decode::<u32>(chunk, 7).unwrap().skip(1))
            .map(|message| match message.unwrap() {
                Message::Update(update) => alloc::string::String::from(update.name),
                other => panic!("{other:?}"),
            })
            .collect();
        assert!(names.len() < 60_001, "some are left out: {}", names.len());
        assert_eq!(names[0], "local");
        assert_eq!(names[1], "member-40000", "table index 40,001 on");
    }

    #[test]
    fn only_open_unexpired_exchanges_are_answered_once() {
        let mut exchanges = Exchanges::default();
        exchanges.open(Instant::ZERO, 1, Instant::from_secs(30));
        exchanges.open(Instant::ZERO, 2, Instant::from_secs(1));
        assert!(!exchanges.close(Instant::ZERO, 3));
        assert!(exchanges.close(Instant::from_secs(5), 1));
        assert!(!exchanges.close(Instant::from_secs(5), 1), "answered once");
        assert!(!exchanges.close(Instant::from_secs(5), 2), "expired");
        for session in 10..10 + MAX_OPEN_EXCHANGES as u32 + 1 {
            exchanges.open(Instant::ZERO, session, Instant::from_secs(30));
        }
        assert!(!exchanges.close(Instant::ZERO, 10), "the oldest made room");
        assert!(exchanges.close(Instant::ZERO, 11));
    }
}
