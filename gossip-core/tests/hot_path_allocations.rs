//! The ping → ack path, and the rounds of a quiet cluster, allocate nothing
//! once the node is warm.

mod support;

use gossip_core::wire::{Message, PacketWriter};
use support::{datagram, quiet_node};

#[test]
fn answering_a_ping_and_taking_an_ack_do_not_allocate() {
    let (mut node, now) = quiet_node(1);
    let ping = datagram(&Message::Ping {
        seq: 1,
        target: "self",
    });
    let ack = datagram(&Message::Ack { seq: 12345 });
    let mut round_trip = || {
        node.handle_message(now, 1, &ping).unwrap();
        let sent = node.poll_transmit().map(|t| t.payload.len());
        node.handle_message(now, 1, &ack).unwrap();
        sent
    };
    assert!(round_trip().is_some(), "warm up, and the ping is answered");

    let counted = allocation_counter::measure(|| {
        for _ in 0..1_000 {
            assert!(round_trip().is_some());
        }
    });
    assert_eq!(counted.count_total, 0, "{counted:?}");
}

/// Every member answers: the node probes, gossips, pulls and syncs as a
/// member of a healthy, quiet cluster does.
#[test]
fn the_rounds_of_a_quiet_cluster_do_not_allocate_once_warm() {
    let (mut node, mut now) = quiet_node(8);
    let mut acks = Vec::with_capacity(64);
    let mut run_for = |node: &mut support::QuietNode, seconds: u64| {
        let until = now + core::time::Duration::from_secs(seconds);
        while let Some(at) = node.poll_timeout().filter(|&at| at <= until) {
            now = at;
            node.handle_timeout(at);
            while let Some(transmit) = node.poll_transmit() {
                let packet = gossip_core::wire::decode::<u32>(transmit.payload, 0).unwrap();
                for message in packet {
                    if let Ok(Message::Ping { seq, .. }) = message {
                        acks.push((transmit.to, seq));
                    }
                }
            }
            for (from, seq) in acks.drain(..) {
                let mut buf = [0u8; 64];
                let mut writer = PacketWriter::new(&mut buf, 0);
                writer.push::<u32>(&Message::Ack { seq }).unwrap();
                let len = writer.len();
                node.handle_message(now, from, &buf[..len]).unwrap();
            }
            while node.poll_transmit().is_some() {}
            while node.poll_event().is_some() {}
        }
    };
    run_for(&mut node, 60);
    let stats = node.stats();
    let (pulls, syncs, failed) = (
        stats.broadcasts.pulls,
        stats.state.state_syncs,
        stats.detection.probes_failed,
    );
    let counted = allocation_counter::measure(|| run_for(&mut node, 60));
    assert!(node.stats().broadcasts.pulls >= pulls + 50, "it pulled");
    assert!(node.stats().state.state_syncs >= syncs + 10, "it synced");
    assert_eq!(
        node.stats().detection.probes_failed,
        failed,
        "every member answered"
    );
    assert_eq!(counted.count_total, 0, "{counted:?}");
}
