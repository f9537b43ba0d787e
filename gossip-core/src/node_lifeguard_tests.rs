//! Lifeguard at the level of one node: nacks, local health and the buddy
//! system, each against a hand-fed exchange of datagrams. (The dynamic
//! suspicion timeout has its worked examples in `membership::suspicion`.)

use alloc::vec::Vec;
use core::time::Duration;

use crate::testing::{
    TestNode, alive, datagram, drain_transmits, events, gossip, messages, node, node_with,
    run_until, update,
};
use crate::wire::{Message, Status};
use crate::{Config, Event, Instant};

fn indirect_ping(nack: bool) -> Vec<u8> {
    datagram(&[Message::IndirectPing {
        seq: 7,
        target: "t",
        target_addr: 5,
        nack,
    }])
}

/// The sequence number of the relayed ping to the target at address 5.
fn relayed_seq(sent: Vec<(u32, Vec<u8>)>) -> u32 {
    messages(sent)
        .into_iter()
        .find_map(|(to, m)| match m {
            Message::Ping { seq, target: "t" } if to == 5 => Some(seq),
            _ => None,
        })
        .expect("a ping to the target")
}

fn nacks_to_requester(sent: Vec<(u32, Vec<u8>)>) -> Vec<u32> {
    messages(sent)
        .into_iter()
        .filter_map(|(to, m)| match m {
            Message::Nack { seq } if to == 9 => Some(seq),
            _ => None,
        })
        .collect()
}

#[test]
fn a_helper_nacks_when_the_target_stays_silent_and_only_if_asked() {
    let mut n = node();
    n.handle_message(Instant::ZERO, 9, &indirect_ping(true))
        .unwrap();
    relayed_seq(drain_transmits(&mut n));
    // LAN: 80% of min(probe timeout, interval − timeout) = 400 ms.
    assert!(nacks_to_requester(run_until(&mut n, Instant::from_millis(399))).is_empty());
    assert_eq!(
        nacks_to_requester(run_until(&mut n, Instant::from_millis(400))),
        [7]
    );
    assert!(nacks_to_requester(run_until(&mut n, Instant::from_secs(5))).is_empty());
    assert_eq!(n.stats().detection.nacks_sent, 1);

    let mut n = node();
    n.handle_message(Instant::ZERO, 9, &indirect_ping(false))
        .unwrap();
    assert!(nacks_to_requester(run_until(&mut n, Instant::from_secs(5))).is_empty());
    assert_eq!(n.stats().detection.nacks_sent, 0);
}

#[test]
fn a_helper_whose_target_answers_relays_the_ack_and_sends_no_nack() {
    let mut n = node();
    n.handle_message(Instant::ZERO, 9, &indirect_ping(true))
        .unwrap();
    let seq = relayed_seq(drain_transmits(&mut n));
    let ack = datagram(&[Message::Ack { seq }]);
    n.handle_message(Instant::from_millis(100), 5, &ack)
        .unwrap();
    let out = messages(drain_transmits(&mut n));
    assert!(out.contains(&(9, Message::Ack { seq: 7 })), "{out:?}");
    assert!(nacks_to_requester(run_until(&mut n, Instant::from_secs(5))).is_empty());
}

/// Node "self" with members a, b, c at addresses 1, 2, 3, nothing drained.
fn node_with_three_members(config: Config) -> TestNode {
    let mut n = node_with(config);
    for (name, addr) in [("a", 1), ("b", 2), ("c", 3)] {
        crate::testing::announce(&mut n, name, addr);
    }
    events(&mut n);
    drain_transmits(&mut n);
    n
}

/// Runs `n` until its first probe is concluded, answering nothing but (if
/// `nack`) the helpers' nacks; returns the time it was concluded.
fn first_probe_fails(n: &mut TestNode, nack: bool) -> Instant {
    let probes = |n: &TestNode| n.stats().detection.probes;
    while probes(n) < 2 {
        let at = n.poll_timeout().unwrap();
        n.handle_timeout(at);
        for (to, message) in messages(drain_transmits(n)) {
            if let (true, Message::IndirectPing { seq, .. }) = (nack, message) {
                let nack = datagram(&[Message::Nack { seq }]);
                n.handle_message(at, to, &nack).unwrap();
            }
        }
    }
    n.now()
}

#[test]
fn a_failed_probe_with_missing_nacks_blames_this_node_and_stretches_its_period() {
    let mut n = node_with_three_members(Config::lan());
    let concluded = first_probe_fails(&mut n, false);
    // One failed probe, two helpers (the target is the third member) whose
    // nacks never came: 1 + 2.
    assert_eq!(n.local_health(), 3);
    assert_eq!(n.stats().detection.nacks_missed, 2);
    // The next period lasts (3 + 1) · 1 s instead of 1 s.
    run_until(&mut n, concluded + Duration::from_millis(3_999));
    assert_eq!(n.stats().detection.probes, 2);
    run_until(&mut n, concluded + Duration::from_secs(4));
    assert_eq!(n.stats().detection.probes, 3);
    assert!(n.stats().detection.probes_degraded >= 1);
}

#[test]
fn a_failed_probe_whose_helpers_nack_blames_the_target() {
    let mut n = node_with_three_members(Config::lan());
    first_probe_fails(&mut n, true);
    assert_eq!(n.local_health(), 1, "the failed probe only");
    assert_eq!(n.stats().detection.nacks_received, 2);
    assert_eq!(n.stats().detection.nacks_missed, 0);
}

#[test]
fn answered_probes_bring_the_score_back_down() {
    let mut n = node_with_three_members(Config::lan());
    first_probe_fails(&mut n, false);
    let score = n.local_health();
    // Answer every ping from now on.
    while n.now() < Instant::from_secs(60) {
        let at = n.poll_timeout().unwrap();
        n.handle_timeout(at);
        for (to, message) in messages(drain_transmits(&mut n)) {
            if let Message::Ping { seq, .. } = message {
                n.handle_message(at, to, &datagram(&[Message::Ack { seq }]))
                    .unwrap();
            }
        }
    }
    assert!(score > 0);
    assert_eq!(n.local_health(), 0);
}

#[test]
fn without_lifeguard_probes_ask_for_no_nacks_and_the_period_stays_fixed() {
    let mut n = node_with_three_members(Config::lan().without_lifeguard());
    first_probe_fails(&mut n, false);
    assert_eq!(n.local_health(), 0);
    assert_eq!(n.stats().detection.nacks_missed, 0);
    let until = n.now() + Duration::from_secs(3);
    let sent = messages(run_until(&mut n, until));
    assert!(
        sent.iter()
            .all(|(_, m)| !matches!(m, Message::IndirectPing { nack: true, .. }))
    );
    assert!(n.stats().detection.probes >= 4, "one probe per second");
}

#[test]
fn refuting_a_suspicion_counts_against_local_health() {
    let mut n = node();
    gossip(
        &mut n,
        0,
        &[update("self", 5, 0, Status::Suspect { by: "x" })],
    );
    assert!(events(&mut n).contains(&Event::Refuted {
        generation: 5,
        incarnation: 1
    }));
    assert_eq!(n.local_health(), 1);
}

/// The suspect updates about `name` in the pings sent to `to`.
fn buddy_suspicions(sent: Vec<(u32, Vec<u8>)>, to: u32, name: &str) -> usize {
    let mut pinged = false;
    let mut count = 0;
    for (dest, m) in messages(sent) {
        match m {
            Message::Ping { .. } => pinged = dest == to,
            Message::Update(u) if pinged && dest == to && u.name == name => {
                count += usize::from(matches!(u.status, Status::Suspect { .. }));
            }
            Message::Update(_) | Message::Coordinate(_) | Message::CoordinateWanted => {}
            _ => pinged = false,
        }
    }
    count
}

/// Runs `n` until `until`, every member acking every ping at once; returns
/// what it sent (the acks' answers aside), each datagram with its time.
fn answering_probes_until(n: &mut TestNode, until: Instant) -> Vec<(Instant, (u32, Vec<u8>))> {
    let mut sent = Vec::new();
    while n.now() < until {
        let at = n.poll_timeout().unwrap();
        n.handle_timeout(at);
        let datagrams = drain_transmits(n);
        for (to, message) in messages(datagrams.clone()) {
            if let Message::Ping { seq, .. } = message {
                n.handle_message(at, to, &datagram(&[Message::Ack { seq }]))
                    .unwrap();
            }
        }
        drain_transmits(n);
        sent.extend(datagrams.into_iter().map(|d| (at, d)));
    }
    sent
}

#[test]
fn a_probe_of_a_suspect_carries_the_suspicion_to_it() {
    for buddy in [true, false] {
        let mut config = Config::lan();
        config.buddy_system = buddy;
        // So that the rumor itself reaches "a" only on pings, until its
        // retransmissions run out.
        config.gossip_fanout = 0;
        let mut n = node_with(config);
        gossip(
            &mut n,
            0,
            &[
                update("a", 0, 0, alive(1)),
                update("b", 0, 0, alive(2)),
                update("c", 0, 0, alive(3)),
                update("d", 0, 0, alive(4)),
                update("a", 0, 0, Status::Suspect { by: "b" }),
            ],
        );
        drain_transmits(&mut n);
        // Everyone answers, so nothing else is suspected and this node never
        // confirms the suspicion; "a" stays suspect (24 s for a lone suspecter).
        // By 6 s the rumor has used up its 4 retransmissions.
        let late = answering_probes_until(&mut n, Instant::from_secs(12))
            .into_iter()
            .filter(|(at, _)| *at >= Instant::from_secs(6))
            .map(|(_, sent)| sent)
            .collect();
        assert_eq!(n.member("a").unwrap().state(), crate::MemberState::Suspect);
        assert_eq!(
            buddy_suspicions(late, 1, "a") > 0,
            buddy,
            "buddy system {buddy}"
        );
        assert_eq!(n.stats().detection.buddy_suspicions > 0, buddy);
    }
}

/// The buddy system reaches a suspect on every datagram sent to it, not only
/// on probes: local health can slow probes so much that a suspect goes
/// unprobed for its whole suspicion (a 200-node simulation, seed 3, buried a
/// live member that way after a partition healed), while gossip and acks
/// still reach it.
#[test]
fn gossip_and_acks_to_a_suspect_carry_the_suspicion_to_it() {
    for buddy in [true, false] {
        let mut config = Config::lan();
        config.buddy_system = buddy;
        // Every member gets every gossip round, and the newcomer's rumor
        // lasts for all of them (the ack to "a" may carry it first).
        config.gossip_fanout = 8;
        config.retransmit_mult = 8;
        let mut n = node_with(config);
        for (name, addr) in [("a", 1), ("b", 2), ("c", 3), ("d", 4)] {
            crate::testing::announce(&mut n, name, addr);
        }
        gossip(&mut n, 0, &[update("a", 0, 0, Status::Suspect { by: "b" })]);
        // Every probe is answered, so the suspicion stays open; by 6 s its
        // rumor has used up its retransmissions.
        answering_probes_until(&mut n, Instant::from_secs(6));
        let now = n.now();
        // "a" pings this node, and news of a newcomer makes a gossip round.
        n.handle_message(
            now,
            1,
            &datagram(&[Message::Ping {
                seq: 9,
                target: "self",
            }]),
        )
        .unwrap();
        gossip(&mut n, 6, &[update("e", 0, 0, alive(5))]);
        let mut sent = drain_transmits(&mut n);
        sent.extend(run_until(&mut n, now + Duration::from_millis(500)));
        // The datagrams to "a", each as its messages.
        let to_a: Vec<Vec<Message<'_, u32>>> = sent
            .iter()
            .filter(|(to, _)| *to == 1)
            .map(|(_, bytes)| crate::wire::decode(bytes, 0).unwrap().flatten().collect())
            .collect();
        let suspicion = |m: &Message<'_, u32>| {
            matches!(m, Message::Update(u) if u.name == "a"
                && matches!(u.status, Status::Suspect { .. }))
        };
        let ack = to_a
            .iter()
            .find(|d| matches!(d[0], Message::Ack { seq: 9 }))
            .expect("an ack to a");
        let gossip = to_a
            .iter()
            .find(|d| matches!(d[0], Message::Update(_)))
            .unwrap_or_else(|| panic!("gossip to a: {sent:?}"));
        assert_eq!(n.member("a").unwrap().state(), crate::MemberState::Suspect);
        assert_eq!(
            ack.iter().any(suspicion),
            buddy,
            "ack, buddy {buddy}: {ack:?}"
        );
        assert_eq!(
            gossip.iter().any(suspicion),
            buddy,
            "gossip, buddy {buddy}: {gossip:?}"
        );
    }
}

#[test]
fn a_suspect_pinged_with_its_suspicion_refutes_in_the_ack() {
    let mut n = node();
    let ping = datagram(&[
        Message::Ping {
            seq: 3,
            target: "self",
        },
        update("self", 5, 0, Status::Suspect { by: "p" }),
        // The pinging member, known: only members' acks carry updates.
        update("p", 0, 0, alive(9)),
    ]);
    n.handle_message(Instant::ZERO, 9, &ping).unwrap();
    let out = messages(drain_transmits(&mut n));
    assert!(out.contains(&(9, Message::Ack { seq: 3 })));
    let refuted = out.iter().any(|(to, m)| {
        *to == 9
            && matches!(m, Message::Update(u)
                if u.name == "self" && u.incarnation == 1 && matches!(u.status, Status::Alive { .. }))
    });
    assert!(refuted, "the ack carries the refutation: {out:?}");
}

/// The updates about `name` in the datagrams `sent` to `to`.
fn updates_about(sent: &[(u32, Vec<u8>)], to: u32, name: &str) -> Vec<Status<'static, u32>> {
    messages(sent.to_vec())
        .into_iter()
        .filter_map(|(dest, m)| match m {
            Message::Update(u) if dest == to && u.name == name => Some(u.status),
            _ => None,
        })
        .collect()
}

/// A member that missed this node's refutation (every copy of its rumor
/// lost) holds the old suspicion until it times out and declares this node
/// failed: a 10-node simulation at 20% loss did, and kept the failure 47 s
/// more. Its buddy-system suspicion reaches this node, which answers it
/// first-hand with its alive record, once.
#[test]
fn a_stale_claim_about_this_node_is_answered_with_its_alive_record() {
    let mut n = crate::testing::with_three_members(Config::lan());
    crate::testing::announce(&mut n, "p", 9);
    gossip(
        &mut n,
        0,
        &[update("self", 5, 0, Status::Suspect { by: "a" })],
    );
    assert_eq!(n.local_member().incarnation(), 1);
    // By 6 s the refutation's rumor has used up its retransmissions.
    answering_probes_until(&mut n, Instant::from_secs(6));
    let ping = |seq, claim: &[Message<'_, u32>]| {
        let mut messages = alloc::vec![Message::Ping {
            seq,
            target: "self"
        }];
        messages.extend_from_slice(claim);
        datagram(&messages)
    };
    let now = n.now();
    let stale = update("self", 5, 0, Status::Suspect { by: "p" });
    n.handle_message(now, 9, &ping(1, &[stale])).unwrap();
    let sent = drain_transmits(&mut n);
    assert!(matches!(
        updates_about(&sent, 9, "self")[..],
        [Status::Alive { addr: 0, .. }]
    ));
    let corrected = messages(sent).into_iter().any(|(to, m)| {
        to == 9 && matches!(m, Message::Update(u) if u.name == "self" && u.incarnation == 1)
    });
    assert!(corrected, "the ack carries incarnation 1");
    assert_eq!(n.stats().detection.stale_claims_corrected, 1);
    // Once: the next ack carries nothing about this node.
    n.handle_message(now, 9, &ping(2, &[])).unwrap();
    assert!(updates_about(&drain_transmits(&mut n), 9, "self").is_empty());
    // A current claim is refuted, not corrected.
    let current = update("self", 5, 1, Status::Suspect { by: "p" });
    n.handle_message(now, 9, &ping(3, &[current])).unwrap();
    assert_eq!(n.local_member().incarnation(), 2);
    assert_eq!(n.stats().detection.stale_claims_corrected, 1);
}

/// Claims from more senders than are remembered push out the oldest: forged
/// stale claims cost a bounded list, and each sender one record at most.
#[test]
fn stale_claims_are_corrected_for_a_bounded_number_of_senders() {
    let mut n = crate::testing::with_three_members(Config::lan());
    let names: Vec<alloc::string::String> = (0..20).map(|i| alloc::format!("p{i}")).collect();
    for (addr, name) in (200..).zip(&names) {
        crate::testing::announce(&mut n, name, addr);
    }
    gossip(
        &mut n,
        0,
        &[update("self", 5, 0, Status::Suspect { by: "a" })],
    );
    answering_probes_until(&mut n, Instant::from_secs(6));
    let now = n.now();
    // Claims by gossip wait for the next datagram to their sender.
    let stale = datagram(&[update("self", 5, 0, Status::Suspect { by: "x" })]);
    for from in 200..220 {
        n.handle_message(now, from, &stale).unwrap();
        n.handle_message(now, from, &stale).unwrap();
    }
    let ping = datagram(&[Message::Ping {
        seq: 2,
        target: "self",
    }]);
    for from in 200..220 {
        n.handle_message(now, from, &ping).unwrap();
    }
    // The first four were pushed out by the sixteen after them.
    let sent = drain_transmits(&mut n);
    assert_eq!(n.stats().detection.stale_claims_corrected, 16);
    for from in 200..220 {
        assert_eq!(
            updates_about(&sent, from, "self").len(),
            usize::from(from >= 204),
            "{from}"
        );
    }
}

/// A member this node holds failed that still probes it is alive: the ack
/// carries the failure, so the member refutes it (or corrects a stale one)
/// rather than stay buried in this node's view until a full-state exchange.
#[test]
fn an_ack_to_a_member_held_failed_carries_the_failure() {
    for buddy in [true, false] {
        let mut config = Config::lan();
        config.buddy_system = buddy;
        let mut n = crate::testing::with_three_members(config);
        // A failure heard of opens a suspicion here, which times out.
        gossip(&mut n, 0, &[update("a", 0, 0, Status::Failed)]);
        answering_probes_until(&mut n, Instant::from_secs(40));
        assert_eq!(n.member("a").unwrap().state(), crate::MemberState::Failed);
        let ping = datagram(&[Message::Ping {
            seq: 4,
            target: "self",
        }]);
        n.handle_message(n.now(), 1, &ping).unwrap();
        let claims = updates_about(&drain_transmits(&mut n), 1, "a");
        assert_eq!(
            matches!(claims[..], [Status::Failed]),
            buddy,
            "buddy {buddy}: {claims:?}"
        );
    }
}
