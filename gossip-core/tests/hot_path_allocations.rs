//! The ping → ack path allocates nothing once the node is warm.

mod support;

use gossip_core::wire::Message;
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
