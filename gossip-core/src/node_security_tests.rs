//! Adversarial and misconfigured inputs: forged claims, name conflicts,
//! replays and what a member sends to addresses it never heard from.

use alloc::vec::Vec;
use core::time::Duration;

use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::testing::Cluster;
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
