//! One seed, one run: bit for bit.

mod common;

use std::time::Duration;

use gossip_sim::{Network, Simulation, Trace};

fn run(seed: u64) -> (Trace, Vec<gossip_sim::Recorded>) {
    let mut sim = Simulation::builder()
        .nodes(10)
        .network(Network::default().loss(0.05))
        .seed(seed)
        .build();
    sim.join_all_through(0);
    sim.run_for(Duration::from_secs(10));
    sim.crash(7);
    sim.run_for(Duration::from_secs(10));
    sim.restart(7, &[1]);
    sim.run_for(Duration::from_secs(10));
    (sim.trace(), sim.take_events())
}

#[test]
fn the_same_seed_gives_byte_identical_runs() {
    let seed = common::seed(71);
    let (first, first_events) = run(seed);
    let (second, second_events) = run(seed);
    assert_eq!(first, second);
    assert_eq!(first_events, second_events);
    assert!(first.delivered > 1_000);
    let (other, _) = run(seed + 1);
    assert_ne!(
        first.hash, other.hash,
        "a different seed is a different run"
    );
}

/// Scenario 7: a whole scenario, faults and all, run twice: the same hash over
/// every delivered datagram: 100 nodes joining through one for 60 s, with
/// loss, duplicates, reordering, crashes and a partition.
#[test]
fn a_scenario_run_twice_delivers_the_same_datagrams() {
    use gossip_sim::{Fault, Scenario, Start};
    let mut scenario = Scenario::new(100, Duration::from_secs(60));
    scenario.seed = common::seed(72);
    scenario.start = Start::Join;
    scenario.network.loss = 0.05;
    scenario.network.duplicate = 0.01;
    scenario.network.reorder = 0.01;
    scenario.faults = vec![
        Fault::Crash {
            count: 5,
            at: Duration::from_secs(10),
        },
        Fault::Partition {
            fraction: 0.3,
            at: Duration::from_secs(20),
            lasting: Duration::from_secs(15),
        },
    ];
    let first = scenario.run(None);
    let second = scenario.run(None);
    println!(
        "{} datagrams delivered, hash {:x}",
        first.traffic.delivered, first.traffic.delivery_hash
    );
    assert_eq!(first.traffic.delivery_hash, second.traffic.delivery_hash);
    assert_eq!(first.traffic.delivered, second.traffic.delivered);
    assert!(first.traffic.delivered > 10_000);
}
