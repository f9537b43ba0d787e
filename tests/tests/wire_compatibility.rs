//! A rolling upgrade that adds a message kind: half the cluster runs a
//! "newer" build whose datagrams carry a message this build does not know,
//! and the cluster works as one. The newer build is played by the
//! simulator: every datagram its nodes send gets one more message, of the
//! tag reserved for this test, at the end or (on pure gossip) first.

mod common;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use gossip_core::wire::{self, tag};
use gossip_core::{Config, Event};
use gossip_sim::{Network, NodeId, Simulation};

const NODES: usize = 16;

/// Nodes of the newer build.
fn is_newer(id: NodeId) -> bool {
    id % 2 == 0
}

/// The newer build's extra message: its tag, the length of its body, a body.
const EXTENSION: [u8; 6] = [tag::RESERVED_FOR_TESTS, 4, b'n', b'e', b'w', 1];

/// Adds [`EXTENSION`] to a datagram: first when the datagram opens with a
/// piggybacked message (it could be a new primary kind), else last.
fn extend(datagram: &mut Vec<u8>) -> bool {
    if datagram.len() + EXTENSION.len() > Config::lan().max_packet_size {
        return false;
    }
    let Ok(mut packet) = wire::decode::<NodeId>(datagram, 0) else {
        return false;
    };
    let header = datagram.len() - packet.remaining();
    let opens_with_gossip = packet
        .next()
        .is_some_and(|m| m.is_ok_and(|m| !m.is_primary()));
    let at = if opens_with_gossip {
        header
    } else {
        datagram.len()
    };
    datagram.splice(at..at, EXTENSION);
    true
}

#[test]
fn a_node_skips_a_message_kind_it_does_not_know_and_the_cluster_converges() {
    let seed = common::seed(1);
    let mut sim = Simulation::builder()
        .nodes(NODES)
        .network(Network::default().loss(0.05))
        .seed(seed)
        .record_events(true)
        .build();
    let extended = Rc::new(Cell::new(0u64));
    let count = Rc::clone(&extended);
    sim.set_rewrite(Box::new(move |from, _, datagram| {
        if is_newer(from) && extend(datagram) {
            count.set(count.get() + 1);
        }
    }));
    // A newer node is the seed everyone joins through.
    sim.join_all_through(0);
    sim.run_for(Duration::from_secs(20));
    sim.broadcast(1, b"from an older node");
    sim.broadcast(2, b"from a newer node");
    sim.write(3, b"older", Some(b"3"));
    sim.write(4, b"newer", Some(b"4"));
    sim.run_for(Duration::from_secs(30));

    assert!(
        extended.get() > 1_000,
        "{} datagrams extended",
        extended.get()
    );
    for id in sim.running().collect::<Vec<_>>() {
        let node = sim.node(id).unwrap();
        assert_eq!(node.live_members(), NODES, "n{id} does not see everyone");
        let stats = node.stats();
        assert_eq!(
            stats.datagrams.rejected.total(),
            0,
            "n{id}: {:?}",
            stats.datagrams.rejected
        );
        // Half the members add one to every datagram: over 50 s a node
        // hears from them dozens of times.
        assert!(
            stats.datagrams.unknown_messages > 50,
            "n{id} skipped {} unknown messages",
            stats.datagrams.unknown_messages
        );
        let broadcasts = sim
            .events()
            .iter()
            .filter(|r| r.node == id && matches!(r.event, Event::Broadcast(_)))
            .count();
        assert_eq!(broadcasts, 2, "n{id}");
    }
    let state = sim.check_state();
    assert_eq!(state.keys, 2);
    assert_eq!(
        (state.lost_writes, state.divergent_keys),
        (0, 0),
        "{state:?}"
    );
    assert!(sim.converged(), "membership digests differ");
}
