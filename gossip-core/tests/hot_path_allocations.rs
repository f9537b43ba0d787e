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

/// Runs `node` for `seconds` as a member of a healthy cluster: every ping
/// is acked, with `ack_root` as the member's state digest if given. The acks
/// wait in a buffer allocated before, at its first use.
fn answer_every_ping(
    node: &mut support::QuietNode,
    now: &mut gossip_core::Instant,
    seconds: u64,
    ack_root: Option<u64>,
) {
    thread_local! {
        static ACKS: core::cell::RefCell<Vec<(u32, u32)>> =
            core::cell::RefCell::new(Vec::with_capacity(64));
    }
    ACKS.with_borrow_mut(|acks| answer_into(node, now, seconds, ack_root, acks));
}

fn answer_into(
    node: &mut support::QuietNode,
    now: &mut gossip_core::Instant,
    seconds: u64,
    ack_root: Option<u64>,
    acks: &mut Vec<(u32, u32)>,
) {
    let until = *now + core::time::Duration::from_secs(seconds);
    while let Some(at) = node.poll_timeout().filter(|&at| at <= until) {
        *now = at;
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
            if let Some(root) = ack_root {
                writer.push::<u32>(&Message::StateRoot { root }).unwrap();
            }
            let len = writer.len();
            node.handle_message(*now, from, &buf[..len]).unwrap();
        }
        while node.poll_transmit().is_some() {}
        while node.poll_event().is_some() {}
    }
}

/// Every member answers: the node probes and gossips as a member of a
/// healthy, quiet cluster does, and sends no pulls and no syncs, for there
/// is nothing to ask for.
#[test]
fn the_rounds_of_a_quiet_cluster_do_not_allocate_once_warm() {
    let (mut node, mut now) = quiet_node(8);
    answer_every_ping(&mut node, &mut now, 60, None);
    let stats = node.stats().clone();
    let counted = allocation_counter::measure(|| answer_every_ping(&mut node, &mut now, 60, None));
    let after = node.stats();
    assert!(
        after.detection.probes >= stats.detection.probes + 50,
        "it probed"
    );
    assert_eq!(after.broadcasts.pulls, 0, "nothing to pull");
    assert_eq!(after.state.state_syncs, 0, "nothing to sync");
    assert_eq!(after.detection.probes_failed, stats.detection.probes_failed);
    assert_eq!(counted.count_total, 0, "{counted:?}");
}

/// The same with pulls every second and members whose digests differ, so
/// that the pull and sync rounds run too.
#[test]
fn pull_and_sync_rounds_do_not_allocate_once_warm() {
    let mut config = gossip_core::Config::lan();
    config.pull_schedule = gossip_core::PullSchedule::Periodic;
    let (mut node, mut now) = support::quiet_node_with(8, config);
    answer_every_ping(&mut node, &mut now, 60, Some(1));
    let (pulls, syncs, failed) = {
        let stats = node.stats();
        (
            stats.broadcasts.pulls,
            stats.state.state_syncs,
            stats.detection.probes_failed,
        )
    };
    let counted =
        allocation_counter::measure(|| answer_every_ping(&mut node, &mut now, 60, Some(1)));
    assert!(node.stats().broadcasts.pulls >= pulls + 50, "it pulled");
    assert!(node.stats().state.state_syncs >= syncs + 10, "it synced");
    assert_eq!(
        node.stats().detection.probes_failed,
        failed,
        "every member answered"
    );
    assert_eq!(counted.count_total, 0, "{counted:?}");
}
