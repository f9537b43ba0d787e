//! Helpers for the crate's unit tests: a node and hand-made datagrams.

use alloc::vec::Vec;

use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::member::{Member, MemberState, Metadata};
use crate::wire::{Message, PacketWriter, Status, Update};
use crate::{Config, Event, Identity, Instant, Node, NodeName};

pub(crate) type TestNode = Node<u32, Xoshiro256PlusPlus>;

/// Node "self" at address 0, generation 5, with nothing drained yet.
pub(crate) fn node() -> TestNode {
    node_with(Config::lan())
}

/// [`node`] with another configuration.
pub(crate) fn node_with(config: Config) -> TestNode {
    let identity = Identity::new("self", 0).unwrap().with_generation(5);
    Node::new(
        config,
        identity,
        Xoshiro256PlusPlus::seed_from_u64(1),
        Instant::ZERO,
    )
    .unwrap()
}

/// [`node_with`] knowing members "a", "b" and "c" at addresses 1, 2 and 3, with
/// everything it had to say about them drained.
pub(crate) fn with_three_members(config: Config) -> TestNode {
    let mut n = node_with(config);
    gossip(
        &mut n,
        0,
        &[
            update("a", 0, 0, alive(1)),
            update("b", 0, 0, alive(2)),
            update("c", 0, 0, alive(3)),
        ],
    );
    drain_transmits(&mut n);
    events(&mut n);
    n
}

pub(crate) fn datagram(messages: &[Message<'_, u32>]) -> Vec<u8> {
    let mut buf = alloc::vec![0u8; 1400];
    let mut writer = PacketWriter::new(&mut buf, 0);
    for message in messages {
        writer.push(message).unwrap();
    }
    let len = writer.len();
    buf.truncate(len);
    buf
}

pub(crate) fn update<'a>(
    name: &'a str,
    generation: u64,
    incarnation: u64,
    status: Status<'a, u32>,
) -> Message<'a, u32> {
    Message::Update(Update {
        name,
        generation,
        incarnation,
        status,
    })
}

pub(crate) fn alive(addr: u32) -> Status<'static, u32> {
    Status::Alive {
        addr,
        metadata: b"",
    }
}

pub(crate) fn suspect() -> Status<'static, u32> {
    Status::Suspect { by: "someone" }
}

/// Feeds one gossip datagram from address 99 at `at` seconds.
pub(crate) fn gossip(node: &mut TestNode, at: u64, messages: &[Message<'_, u32>]) {
    node.handle_message(Instant::from_secs(at), 99, &datagram(messages))
        .unwrap();
}

pub(crate) fn events(node: &mut TestNode) -> Vec<Event<u32>> {
    core::iter::from_fn(|| node.poll_event()).collect()
}

pub(crate) fn drain_transmits(node: &mut TestNode) -> Vec<(u32, Vec<u8>)> {
    let mut out = Vec::new();
    while let Some(t) = node.poll_transmit() {
        out.push((t.to, t.payload.to_vec()));
    }
    out
}

/// Every message of every datagram, with its destination. Decoding borrows from
/// the datagrams, which are leaked: this is a test.
pub(crate) fn messages(sent: Vec<(u32, Vec<u8>)>) -> Vec<(u32, Message<'static, u32>)> {
    sent.into_iter()
        .flat_map(|(to, bytes)| {
            let bytes: &'static [u8] = Vec::leak(bytes);
            crate::wire::decode::<u32>(bytes, 0)
                .unwrap()
                .map(move |m| (to, m.unwrap()))
        })
        .collect()
}

/// Wakes `node` at each of its deadlines up to `until`, feeding nothing, and
/// returns what it sent.
pub(crate) fn run_until(n: &mut TestNode, until: Instant) -> Vec<(u32, Vec<u8>)> {
    let mut sent = drain_transmits(n);
    while let Some(at) = n.poll_timeout().filter(|&at| at <= until) {
        n.handle_timeout(at);
        sent.extend(drain_transmits(n));
    }
    sent
}

/// A member at address 0, generation 0, incarnation 0, whose state last changed
/// `since` seconds after the epoch.
pub(crate) fn record(name: &str, state: MemberState, since: u64) -> Member<u32> {
    Member {
        name: NodeName::new(name).unwrap(),
        addr: 0,
        generation: 0,
        incarnation: 0,
        state,
        metadata: Metadata::default(),
        state_changed: Instant::from_secs(since),
    }
}
