//! Helpers shared by the scenario tests.
#![allow(dead_code)] // each test file uses its own subset

pub(crate) mod suite;

use gossip_core::{Event, Instant};
use gossip_sim::{NodeId, Recorded, Simulation};

/// The seed of a scenario: `GOSSIP_SIM_SEED` if set (to replay a failure), else
/// `default`. Printed, so that a failing run names the seed that reproduces it.
pub(crate) fn seed(default: u64) -> u64 {
    let seed = std::env::var("GOSSIP_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default);
    println!("seed {seed} (replay with GOSSIP_SIM_SEED={seed})");
    seed
}

/// The member an event is about, by name, if it is a membership event.
pub(crate) fn subject(event: &Event<NodeId>) -> Option<&str> {
    match event {
        Event::MemberJoined(m)
        | Event::MemberUpdated(m)
        | Event::MemberSuspected(m)
        | Event::MemberRecovered(m)
        | Event::MemberFailed(m)
        | Event::MemberLeft(m)
        | Event::MemberRestarted { member: m, .. } => Some(m.name().as_str()),
        _ => None,
    }
}

/// Recorded events of one kind about the node in slot `about`.
pub(crate) fn about(
    sim: &Simulation,
    about: NodeId,
    kind: fn(&Event<NodeId>) -> bool,
) -> impl Iterator<Item = &Recorded> {
    let name = Simulation::name(about);
    sim.events()
        .iter()
        .filter(move |r| kind(&r.event) && subject(&r.event) == Some(name.as_str()))
}

pub(crate) fn is_failed(e: &Event<NodeId>) -> bool {
    matches!(e, Event::MemberFailed(_))
}
pub(crate) fn is_suspected(e: &Event<NodeId>) -> bool {
    matches!(e, Event::MemberSuspected(_))
}
pub(crate) fn is_recovered(e: &Event<NodeId>) -> bool {
    matches!(e, Event::MemberRecovered(_))
}
pub(crate) fn is_left(e: &Event<NodeId>) -> bool {
    matches!(e, Event::MemberLeft(_))
}
pub(crate) fn is_restarted(e: &Event<NodeId>) -> bool {
    matches!(e, Event::MemberRestarted { .. })
}
pub(crate) fn is_joined(e: &Event<NodeId>) -> bool {
    matches!(e, Event::MemberJoined(_))
}
pub(crate) fn is_updated(e: &Event<NodeId>) -> bool {
    matches!(e, Event::MemberUpdated(_))
}

/// The nodes (by id) that recorded at least one matching event, sorted.
pub(crate) fn reporters<'a>(events: impl Iterator<Item = &'a Recorded>) -> Vec<NodeId> {
    let mut nodes: Vec<NodeId> = events.map(|r| r.node).collect();
    nodes.sort_unstable();
    nodes.dedup();
    nodes
}

/// Runs until `done` holds or `limit` passes, checking every 100 ms; returns the
/// time it first held.
pub(crate) fn run_until(
    sim: &mut Simulation,
    limit: Instant,
    done: impl Fn(&Simulation) -> bool,
) -> Option<Instant> {
    while sim.now() < limit {
        if done(sim) {
            return Some(sim.now());
        }
        sim.run_for(std::time::Duration::from_millis(100));
    }
    done(sim).then(|| sim.now())
}

/// Runs `scenario` (with its seed replaced by [`seed`]) and prints the report, so
/// that a failing assertion comes with every figure and the seed to replay.
pub(crate) fn run_scenario(
    mut scenario: gossip_sim::Scenario,
    default_seed: u64,
) -> gossip_sim::Report {
    scenario.seed = seed(default_seed);
    let report = scenario.run(None);
    println!("{report}");
    report
}

/// The seeds of a sweep: `0..GOSSIP_SIM_SEEDS`, 20 unless set.
pub(crate) fn sweep_seeds() -> std::ops::Range<u64> {
    let count = std::env::var("GOSSIP_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    0..count
}

/// Runs `scenario` once per sweep seed (`GOSSIP_SIM_SEEDS` of them, 20 by
/// default), two seeds at a time, then prints `summary` of each report before
/// `check` asserts on it, in seed order, so that the seed of a failing run is
/// the last line printed.
pub(crate) fn sweep(
    scenario: impl Fn() -> gossip_sim::Scenario + Sync,
    summary: impl Fn(&gossip_sim::Report) -> String,
    check: impl Fn(&gossip_sim::Report),
) {
    let seeds: Vec<u64> = sweep_seeds().collect();
    let reports = two_seeds_at_a_time(&seeds, |seed| {
        let mut s = scenario();
        s.seed = seed;
        s.run(None)
    });
    for (seed, report) in seeds.iter().zip(&reports) {
        println!("seed {seed}: {}", summary(report));
        check(report);
    }
}

/// `run(seed)` for each of `seeds`, two at a time, the results in seed order.
/// The sweeps are CPU-bound, independent runs and the machines that run them
/// have two cores or more; two at a time halves their wall time at twice the
/// memory of one run.
pub(crate) fn two_seeds_at_a_time<T: Send>(seeds: &[u64], run: impl Fn(u64) -> T + Sync) -> Vec<T> {
    let mut results = Vec::with_capacity(seeds.len());
    let run = &run;
    for pair in seeds.chunks(2) {
        std::thread::scope(|scope| {
            let runs: Vec<_> = pair
                .iter()
                .map(|&seed| scope.spawn(move || run(seed)))
                .collect();
            results.extend(runs.into_iter().map(|r| r.join().expect("a run panicked")));
        });
    }
    results
}

/// `nodes` nodes with `config` on a network losing 1% of datagrams, all
/// joined through node 0 and run for `settle`; panics if they did not
/// converge by then.
pub(crate) fn formed_cluster(
    nodes: usize,
    config: gossip_core::Config,
    seed: u64,
    settle: std::time::Duration,
) -> gossip_sim::Simulation {
    let mut sim = gossip_sim::Simulation::builder()
        .nodes(nodes)
        .config(config)
        .network(gossip_sim::Network::default().loss(0.01))
        .seed(seed)
        .build();
    sim.join_all_through(0);
    sim.run_for(settle);
    assert!(sim.converged_by_inspection(), "the cluster did not form");
    sim
}
