//! Network coordinates at the level of one node: what probes and acks carry,
//! which round trips count, and what is refused.

use alloc::vec::Vec;
use core::time::Duration;

use crate::testing::{
    TestNode, datagram, drain_transmits, messages, run_until, with_three_members,
};
use crate::topology::Coordinate;
use crate::wire::CoordinateRecord;
use crate::wire::Message;
use crate::{Config, Instant};

/// Runs `n` deadline by deadline to its first probe; returns its target's
/// address and sequence number (the node's time is the ping's), checking
/// that the ping asks for the target's coordinate, which it does not hold,
/// and carries none of its own.
fn first_probe(n: &mut TestNode) -> (u32, u32) {
    loop {
        let at = n.poll_timeout().unwrap();
        n.handle_timeout(at);
        let sent = messages(drain_transmits(n));
        let Some((to, seq)) = sent.iter().find_map(|(to, m)| match m {
            Message::Ping { seq, .. } => Some((*to, *seq)),
            _ => None,
        }) else {
            continue;
        };
        let to_target = |kind: fn(&Message<'_, u32>) -> bool| {
            sent.iter().any(|(dest, m)| *dest == to && kind(m))
        };
        assert!(
            to_target(|m| matches!(m, Message::CoordinateWanted)),
            "the ping asks for the target's coordinate: {sent:?}"
        );
        assert!(!to_target(|m| matches!(m, Message::Coordinate(_))));
        return (to, seq);
    }
}

/// A member 40 ms away, sure of its place.
fn settled() -> CoordinateRecord {
    let mut coordinate = Coordinate::default();
    coordinate.vector[0] = 0.02;
    coordinate.error = 0.1;
    coordinate.to_wire()
}

fn name_at(addr: u32) -> &'static str {
    ["self", "a", "b", "c"][addr as usize]
}

#[test]
fn the_round_trip_of_a_direct_ack_moves_the_coordinate() {
    let mut n = with_three_members(Config::lan());
    let (target, seq) = first_probe(&mut n);
    let sent_at = n.now();
    let ack = datagram(&[Message::Ack { seq }, Message::Coordinate(settled())]);
    n.handle_message(sent_at + Duration::from_millis(40), target, &ack)
        .unwrap();
    assert_eq!(n.stats().coordinates.rtt_samples, 1);
    let ours = n.coordinate().unwrap();
    assert_ne!(ours, &Coordinate::default(), "moved by the sample");
    assert!(ours.error() < 1.5, "and surer: {}", ours.error());
    let name = name_at(target);
    assert_eq!(
        n.member_coordinate(name),
        Coordinate::from_wire(&settled()).as_ref()
    );
    let estimate = n.estimated_rtt(name).unwrap();
    assert!(
        estimate > Duration::from_millis(10) && estimate < Duration::from_millis(60),
        "{estimate:?} for a 40 ms round trip, after one sample"
    );
    assert_eq!(n.footprint().coordinates, 1);
    // The ack to a member's ping carries this node's coordinate when the
    // ping asks for it, and only then.
    for wanted in [true, false] {
        let ping = Message::Ping {
            seq: 77,
            target: "self",
        };
        let ping = if wanted {
            datagram(&[ping, Message::CoordinateWanted])
        } else {
            datagram(&[ping])
        };
        n.handle_message(n.now(), 2, &ping).unwrap();
        let out = messages(drain_transmits(&mut n));
        assert!(out.contains(&(2, Message::Ack { seq: 77 })));
        let carried = out
            .iter()
            .any(|(to, m)| *to == 2 && matches!(m, Message::Coordinate(_)));
        assert_eq!(carried, wanted, "{out:?}");
    }
    // Settled and just heard: the next probe of that member does not ask.
    let again = loop {
        let at = n.poll_timeout().unwrap();
        n.handle_timeout(at);
        let sent = messages(drain_transmits(&mut n));
        if sent
            .iter()
            .any(|(to, m)| *to == target && matches!(m, Message::Ping { .. }))
        {
            break sent;
        }
    };
    assert!(
        !again
            .iter()
            .any(|(to, m)| *to == target && matches!(m, Message::CoordinateWanted)),
        "{again:?}"
    );
}

#[test]
fn relayed_late_and_stranger_acks_are_no_samples() {
    // Relayed by a helper: its coordinate is the helper's, and the round trip
    // includes the detour.
    let mut n = with_three_members(Config::lan());
    let (target, seq) = first_probe(&mut n);
    let helper = target % 3 + 1;
    let relayed = datagram(&[Message::Ack { seq }, Message::Coordinate(settled())]);
    n.handle_message(n.now() + Duration::from_millis(30), helper, &relayed)
        .unwrap();
    assert_eq!(n.stats().coordinates.rtt_samples, 0);
    assert_eq!(n.coordinate(), Some(&Coordinate::default()));
    assert!(
        n.member_coordinate(name_at(helper)).is_some(),
        "the helper's coordinate is still news"
    );

    // After the probe timeout the ack may answer the second ping.
    let mut n = with_three_members(Config::lan());
    let (target, seq) = first_probe(&mut n);
    let timeout_passed = n.now() + Config::lan().probe_timeout;
    run_until(&mut n, timeout_passed);
    let ack = datagram(&[Message::Ack { seq }, Message::Coordinate(settled())]);
    n.handle_message(timeout_passed, target, &ack).unwrap();
    assert_eq!(n.stats().coordinates.rtt_samples, 0);

    // From outside the member table, or out of any sane range: refused.
    let mut n = with_three_members(Config::lan());
    let (_, seq) = first_probe(&mut n);
    let stranger = datagram(&[Message::Ack { seq }, Message::Coordinate(settled())]);
    n.handle_message(n.now(), 42, &stranger).unwrap();
    let insane = CoordinateRecord {
        error: 60_000,
        ..settled()
    };
    let insane = datagram(&[Message::Coordinate(insane)]);
    n.handle_message(n.now(), 1, &insane).unwrap();
    let own_address = datagram(&[Message::Coordinate(settled())]);
    n.handle_message(n.now(), 0, &own_address).unwrap();
    assert_eq!(n.stats().coordinates.coordinates_refused, 3);
    assert_eq!(n.stats().coordinates.rtt_samples, 0);
    assert_eq!(n.footprint().coordinates, 0);
    assert_eq!(n.coordinate(), Some(&Coordinate::default()));
}

#[test]
fn without_coordinates_nothing_is_carried_or_kept() {
    let mut config = Config::lan();
    config.coordinates = false;
    let mut n = with_three_members(config);
    let sent = messages(run_until(&mut n, Instant::from_secs(3)));
    assert!(sent.iter().any(|(_, m)| matches!(m, Message::Ping { .. })));
    let carried: Vec<_> = sent
        .iter()
        .filter(|(_, m)| matches!(m, Message::Coordinate(_)))
        .collect();
    assert!(carried.is_empty(), "{carried:?}");
    n.handle_message(n.now(), 1, &datagram(&[Message::Coordinate(settled())]))
        .unwrap();
    assert_eq!(n.coordinate(), None);
    assert_eq!(n.estimated_rtt("a"), None);
    assert_eq!(n.footprint().coordinates, 0);
}

#[test]
fn choosing_near_partners_needs_coordinates_and_sane_bounds() {
    use crate::{ConfigError, PeerSelection};
    let mut config = Config::lan();
    config.peer_selection = PeerSelection::NEARBY;
    assert_eq!(config.validate(), Ok(()));
    config.coordinates = false;
    assert!(matches!(
        config.validate(),
        Err(ConfigError::Inconsistent {
            field: "peer_selection",
            ..
        })
    ));
    for (candidates, far_percent) in [(0, 10), (65, 10), (16, 0), (16, 101)] {
        let mut config = Config::lan();
        config.peer_selection = PeerSelection::Nearby {
            candidates,
            far_percent,
        };
        assert!(
            matches!(config.validate(), Err(ConfigError::OutOfRange { .. })),
            "{candidates} candidates, {far_percent}%"
        );
    }
}
