//! Shared by the hot-path test and benchmark: a node with nothing left to say.

use gossip_core::wire::{Message, PacketWriter, Status, Update};
use gossip_core::{Config, Identity, Instant, Node};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

pub(crate) type QuietNode = Node<u32, Xoshiro256PlusPlus>;

/// `message` alone in a datagram of cluster 0.
pub(crate) fn datagram(message: &Message<'_, u32>) -> Vec<u8> {
    let mut buf = [0u8; 256];
    let mut writer = PacketWriter::new(&mut buf, 0);
    writer.push(message).unwrap();
    let len = writer.len();
    buf[..len].to_vec()
}

/// Node "self" at address 0 that knows `members` others (at addresses 1..) and
/// has sent every rumor it had, so acks go out bare. Returns it with its time.
pub(crate) fn quiet_node(members: u32) -> (QuietNode, Instant) {
    quiet_node_with(members, Config::lan())
}

/// [`quiet_node`] running `config`.
pub(crate) fn quiet_node_with(members: u32, config: Config) -> (QuietNode, Instant) {
    let identity = Identity::new("self", 0u32).unwrap();
    let rng = Xoshiro256PlusPlus::seed_from_u64(1);
    let mut secrets = rand_chacha::ChaCha20Rng::seed_from_u64(1);
    let mut node = Node::new(config, identity, rng, &mut secrets, Instant::ZERO).unwrap();
    for i in 1..=members {
        let name = format!("member-{i}");
        let alive = datagram(&Message::Update(Update {
            name: &name,
            generation: 0,
            incarnation: 0,
            status: Status::Alive {
                addr: i,
                metadata: b"",
            },
        }));
        node.handle_message(Instant::ZERO, 1, &alive).unwrap();
    }
    let mut now = Instant::ZERO;
    while node.footprint().rumors > 0 {
        now = node.poll_timeout().unwrap();
        node.handle_timeout(now);
        while node.poll_transmit().is_some() {}
    }
    while node.poll_event().is_some() {}
    (node, now)
}
