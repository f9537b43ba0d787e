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
