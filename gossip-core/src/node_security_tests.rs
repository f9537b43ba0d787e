//! Adversarial and misconfigured inputs: forged claims, name conflicts,
//! replays and what a member sends to addresses it never heard from.

use alloc::vec::Vec;
use core::time::Duration;

use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::testing::{Cluster, alive, datagram, update};
use crate::wire::Status;
use crate::{Config, Event, Identity, Instant, Node};

/// Two processes given one name (and one generation) used to outbid each
/// other's incarnations forever, each observer reporting an address change
/// every time. Now each tells its application once and neither refutes.
#[test]
fn two_processes_with_one_name_are_reported_once_and_do_not_flap() {
    let config = Config::lan();
    let mut c = Cluster::new(4, &config);
    // Address 4 runs a second "n2", at n2's generation (0).
    let twin = Identity::new("n2", 4u32).unwrap();
    let rng = Xoshiro256PlusPlus::seed_from_u64(404);
    let mut twin = Node::new(config, twin, rng, c.now).unwrap();
    twin.join(c.now, &[0]).unwrap();
    c.nodes.push(twin);
    c.events.push(Vec::new());
    c.run_for(Duration::from_secs(120));

    // The twin joins a cluster that knows n2 at address 2: it hears n2
    // announced from there and is told. n2 itself may never hear the twin
    // (the observers ignore an announcement no newer than what they know).
    for (i, other) in [(2, 4), (4, 2)] {
        let conflicts: Vec<_> = c
            .take_events(i)
            .into_iter()
            .filter(|e| matches!(e, Event::NameConflict { .. }))
            .collect();
        let once = [Event::NameConflict {
            addr: other,
            generation: 0,
        }];
        if i == 4 {
            assert_eq!(conflicts, once, "the twin is told once");
            assert!(c.nodes[i].stats().name_conflicts > 0);
        } else {
            assert!(conflicts.len() <= 1, "node {i} is told at most once");
        }
        let refutations = c.nodes[i].stats().refutations;
        assert!(refutations <= 1, "node {i} refuted {refutations} times");
    }
    for i in [0, 1, 3] {
        let moves = c
            .take_events(i)
            .into_iter()
            .filter(|e| matches!(e, Event::MemberUpdated(m) if m.name() == "n2"))
            .count();
        assert!(moves <= 1, "node {i} saw n2 move {moves} times");
    }
    assert!(c.now >= Instant::from_secs(120));
}

/// Gossip announcing `names` alive, at addresses `1000 + i`.
fn announcements(names: &[alloc::string::String], first_addr: u32) -> Vec<u8> {
    let updates: Vec<_> = names
        .iter()
        .enumerate()
        .map(|(i, name)| update(name, 0, 0, alive(first_addr + i as u32)))
        .collect();
    datagram(&updates)
}

/// At the 200,000-member cap every new name used to scan the whole table for
/// a tombstone to evict (29 ms per datagram of 60 names, so ~34 datagrams a
/// second kept a core busy; this test took half a minute). Tombstones are now
/// indexed by age: a newcomer evicts the oldest in O(log n), or is refused
/// at once when there is none.
#[test]
fn a_full_table_evicts_its_oldest_tombstone_or_refuses_without_a_scan() {
    let config = Config::lan();
    let cap = config.max_members;
    let mut n = crate::testing::node_with(config);
    n.reserve_members(cap);
    let names = |range: core::ops::Range<usize>| -> Vec<alloc::string::String> {
        range.map(|i| alloc::format!("m{i:06}")).collect()
    };
    let mut now = Instant::ZERO;
    for start in (0..cap - 1).step_by(60) {
        let batch = names(start..(start + 60).min(cap - 1));
        n.handle_message(now, 1, &announcements(&batch, 1_000 + start as u32))
            .unwrap();
    }
    assert_eq!(n.footprint().members, cap);
    drain(&mut n);
    // Full of live members: 1,000 datagrams of 60 newcomers are refused.
    for start in (cap..cap + 60_000).step_by(60) {
        n.handle_message(now, 1, &announcements(&names(start..start + 60), 1))
            .unwrap();
    }
    assert_eq!(n.stats().members_refused, 60_000);
    let limits = drain(&mut n)
        .into_iter()
        .filter(|e| matches!(e, Event::MemberLimitReached { .. }))
        .count();
    assert_eq!(limits, 1, "told once");
    // Members die one second apart; newcomers evict the longest dead first.
    for i in [5, 70_000, 123, 199_000] {
        now += Duration::from_secs(1);
        let name = alloc::format!("m{i:06}");
        n.handle_message(now, 1, &datagram(&[update(&name, 0, 0, Status::Left)]))
            .unwrap();
    }
    drain(&mut n);
    n.handle_message(now, 1, &announcements(&names(900_000..900_003), 1))
        .unwrap();
    for (gone, kept) in [
        ("m000005", "m199000"),
        ("m070000", "m199000"),
        ("m000123", "m199000"),
    ] {
        assert!(n.member(gone).is_none(), "{gone} was evicted");
        assert!(n.member(kept).is_some());
    }
    assert!(n.member("m900002").is_some());
    assert_eq!(n.footprint().members, cap);
}

fn drain(n: &mut crate::testing::TestNode) -> Vec<Event<u32>> {
    crate::testing::drain_transmits(n);
    crate::testing::events(n)
}
