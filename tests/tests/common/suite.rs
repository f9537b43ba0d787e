//! The scenarios of the suite whose figures the README quotes, shared by the
//! scenario tests (which assert on them) and the README check
//! (`tests/readme.rs`, which quotes them), so that both run the same thing.

use std::time::Duration;

use gossip_core::{Config, Instant, PeerSelection};
use gossip_sim::{
    Action, BroadcastLoad, Fault, Geometry, Mode, Network, Report, RttPrediction, Scenario,
    Simulation, Start, TerminationSpec, WriteLoad,
};

const MINUTE: Duration = Duration::from_secs(60);

/// Scenario 1: `nodes` nodes (1,000 in the README) join through one seed.
pub(crate) fn join_through_one(nodes: usize) -> Scenario {
    let mut scenario = Scenario::new(nodes, Duration::from_secs(40));
    scenario.start = Start::Join;
    scenario
}

/// Scenario 2: 10 of `nodes` nodes (1,000 in the README) crash at 20 s.
pub(crate) fn crash_detection(nodes: usize) -> Scenario {
    let mut scenario = Scenario::new(nodes, Duration::from_secs(60));
    scenario.faults.push(Fault::Crash {
        count: 10,
        at: Duration::from_secs(20),
    });
    scenario
}

/// Scenario 3: `nodes` nodes (1,000 in the README), 10% uniform loss, 300 s.
pub(crate) fn lossy_network(nodes: usize) -> Scenario {
    let mut scenario = Scenario::new(nodes, Duration::from_secs(300));
    scenario.network.loss = 0.1;
    scenario
}

/// When the partition of [`partition`] starts, in seconds.
pub(crate) const PARTITION_AT: u64 = 20;
/// How long it lasts, in seconds.
pub(crate) const PARTITION_LASTING: u64 = 60;

/// Scenario 4: a 50/50 partition of `nodes` nodes (1,000 in the README) for
/// 60 s.
pub(crate) fn partition(nodes: usize) -> Scenario {
    let mut scenario = Scenario::new(
        nodes,
        Duration::from_secs(PARTITION_AT + PARTITION_LASTING + 90),
    );
    scenario.faults.push(Fault::Partition {
        fraction: 0.5,
        at: Duration::from_secs(PARTITION_AT),
        lasting: Duration::from_secs(PARTITION_LASTING),
    });
    scenario
}

/// Seconds after the split until every node counted only its own side (the
/// first sample at which the mean live view is half the nodes), and seconds
/// after the heal until membership was full again.
pub(crate) fn partition_figures(report: &Report) -> (Option<f64>, Option<f64>) {
    let (at, healed) = (
        PARTITION_AT as f64,
        (PARTITION_AT + PARTITION_LASTING) as f64,
    );
    let side = report.scenario.nodes as f64 / 2.0;
    let split_seen = report
        .series
        .iter()
        .find(|p| p.t > at && (p.mean_live_view - side).abs() < 1.0)
        .map(|p| p.t - at);
    let rejoined = report.membership.full_since_s.map(|t| t - healed);
    (split_seen, rejoined)
}

/// 200 nodes at 5% loss, 30% of them cut off from 30 to 90 s: stale failure
/// rumors after the heal.
pub(crate) fn stale_failures() -> Scenario {
    let mut scenario = Scenario::new(200, Duration::from_secs(150));
    scenario.network.loss = 0.05;
    scenario.faults.push(Fault::Partition {
        fraction: 0.3,
        at: Duration::from_secs(30),
        lasting: Duration::from_secs(60),
    });
    scenario
}

/// Scenario 5: 10% of `nodes` nodes (500 in the README) restart every minute
/// for ten minutes, down for `downtime` each time.
pub(crate) fn churn(nodes: usize, downtime: Duration) -> Scenario {
    let mut scenario = Scenario::new(nodes, Duration::from_secs(11 * 60 + 60));
    scenario.faults.push(Fault::Churn {
        fraction: 0.1,
        downtime,
        every: MINUTE,
        from: MINUTE,
        until: Duration::from_secs(600),
    });
    scenario
}

/// Scenario 6: bytes per node per second of `nodes` nodes at 1% loss, seed 7.
pub(crate) fn bandwidth(nodes: usize) -> Scenario {
    let mut scenario = Scenario::new(nodes, MINUTE);
    scenario.network.loss = 0.01;
    scenario.seed = 7;
    scenario
}

/// One instance of the slow-members comparison.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SlowSize {
    pub(crate) nodes: usize,
    pub(crate) duration: Duration,
    /// Share of the nodes that are slow in spells.
    pub(crate) slow: f64,
    pub(crate) crashes: usize,
    pub(crate) crash_at: Duration,
}

/// The default test's instance: 100 nodes for 150 s, 10 of them slow, 5
/// crashes at 50 s.
pub(crate) const SLOW_SMALL: SlowSize = SlowSize {
    nodes: 100,
    duration: Duration::from_secs(150),
    slow: 0.1,
    crashes: 5,
    crash_at: Duration::from_secs(50),
};

/// The published instance (the Lifeguard paper's benchmark), which the
/// README quotes: 1,000 nodes for 300 s, 20 of them slow, 10 crashes at 100 s.
pub(crate) const SLOW_FULL: SlowSize = SlowSize {
    nodes: 1_000,
    duration: Duration::from_secs(300),
    slow: 0.02,
    crashes: 10,
    crash_at: Duration::from_secs(100),
};

/// `size`'s nodes, some slow (datagrams handled 2–4 s late in 30 s spells,
/// one a minute), some crashing; with Lifeguard or plain SWIM.
pub(crate) fn slow_members(size: SlowSize, lifeguard: bool, seed: u64) -> Scenario {
    let mut scenario = Scenario::new(size.nodes, size.duration);
    scenario.seed = seed;
    scenario.protocol.lifeguard = Some(lifeguard);
    scenario.faults.push(Fault::Slow {
        fraction: size.slow,
        min_delay: Duration::from_secs(2),
        max_delay: Duration::from_secs(4),
        spell: Duration::from_secs(30),
        period: MINUTE,
    });
    scenario.faults.push(Fault::Crash {
        count: size.crashes,
        at: size.crash_at,
    });
    scenario
}

/// What one run of [`slow_members`] measured.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SlowOutcome {
    pub(crate) false_alarms_about_healthy: usize,
    pub(crate) false_alarms_about_slow: usize,
    pub(crate) suspicions: u64,
    /// Median over the crashes of the time until every live node knew.
    pub(crate) median_all_know_s: f64,
}

impl SlowOutcome {
    pub(crate) fn of(report: &Report, size: SlowSize) -> Self {
        let fp = &report.false_positives;
        assert_eq!(
            report.failures.known_by_all, size.crashes,
            "every crash became known"
        );
        SlowOutcome {
            false_alarms_about_healthy: fp.count - fp.about_slow_nodes,
            false_alarms_about_slow: fp.about_slow_nodes,
            suspicions: fp.suspicions,
            median_all_know_s: report.failures.all_know_s.expect("known by all").median,
        }
    }
}

/// Runs [`slow_members`] with and without Lifeguard on each seed, two seeds
/// at a time; returns the outcomes seed by seed.
pub(crate) fn compare_lifeguard(
    size: SlowSize,
    seeds: &[u64],
) -> Vec<(u64, SlowOutcome, SlowOutcome)> {
    super::two_seeds_at_a_time(seeds, |seed| {
        let run = |lifeguard| {
            let report = slow_members(size, lifeguard, seed).run(None);
            SlowOutcome::of(&report, size)
        };
        let (with, without) = (run(true), run(false));
        println!("seed {seed}: Lifeguard {with:?}\n        plain SWIM {without:?}");
        (seed, with, without)
    })
}

/// The median of `values` (the upper one of an even count).
pub(crate) fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// `count` broadcasts (one by default) sent half a round in, spread in
/// synchronous rounds among `nodes` nodes for 40 rounds.
pub(crate) fn rounds(nodes: usize, mode: Mode, count: usize) -> Scenario {
    let mut scenario = Scenario::new(nodes, Duration::from_secs(40));
    scenario.rounds = true;
    scenario.protocol.mode = Some(mode);
    scenario.broadcasts = Some(BroadcastLoad {
        count,
        ..BroadcastLoad::default()
    });
    scenario
}

/// Demers et al. 1987, Table 1: residue s and traffic m of push rumor
/// mongering with feedback and counter at 1,000 sites.
pub(crate) const DEMERS_TABLE_1: [(u32, f64, f64); 5] = [
    (1, 0.18, 1.7),
    (2, 0.037, 3.3),
    (3, 0.011, 4.5),
    (4, 0.0036, 5.6),
    (5, 0.0012, 6.7),
];

/// Mean residue and traffic over `seeds` runs of 20 concurrent broadcasts
/// pushed with feedback and counter `k` among 1,000 nodes in synchronous
/// rounds (each spreads as the paper's single update does: contacts are
/// uniform and each broadcast has its own counter).
pub(crate) fn feedback_counter(k: u32, seeds: u64) -> (f64, f64) {
    let (mut s, mut m) = (0.0, 0.0);
    for seed in 0..seeds {
        let mut scenario = rounds(1_000, Mode::Push, 20);
        scenario.duration = MINUTE;
        scenario.protocol.termination =
            Some(TerminationSpec(gossip_core::Termination::FeedbackCounter {
                k,
            }));
        scenario.seed = seed;
        let report = scenario.run(None);
        assert_eq!(report.broadcasts.duplicates, 0);
        s += report.broadcasts.residue;
        m += report.broadcasts.messages_per_node;
    }
    (s / seeds as f64, m / seeds as f64)
}

/// `nodes` nodes (500 in the README, for a minute) at 20% loss, 20
/// broadcasts one a second from 5 s, spread by `mode` and stopped by
/// `termination`.
pub(crate) fn lossy_broadcasts(
    nodes: usize,
    duration: Duration,
    mode: Mode,
    termination: &str,
) -> Scenario {
    let mut scenario = Scenario::new(nodes, duration);
    scenario.network.loss = 0.2;
    scenario.protocol.mode = Some(mode);
    scenario.protocol.termination = Some(termination.parse().expect("a termination"));
    scenario.broadcasts = Some(BroadcastLoad {
        count: 20,
        at: Duration::from_secs(5),
        every: Duration::from_secs(1),
        ..BroadcastLoad::default()
    });
    scenario
}

/// 200 nodes, 5% loss, 30% of datagrams duplicated and 30% reordered, 50
/// broadcasts ten a second from 1 s.
pub(crate) fn duplicated_broadcasts() -> Scenario {
    let mut scenario = Scenario::new(200, Duration::from_secs(30));
    scenario.network.loss = 0.05;
    scenario.network.duplicate = 0.3;
    scenario.network.reorder = 0.3;
    scenario.broadcasts = Some(BroadcastLoad {
        count: 50,
        at: Duration::from_secs(1),
        every: Duration::from_millis(100),
        ..BroadcastLoad::default()
    });
    scenario
}

/// When the partition of [`partitioned_broadcasts`] heals, in seconds.
pub(crate) const BROADCAST_PARTITION_HEALS: f64 = 25.0;

/// 200 nodes split 50/50 from 5 to 25 s, 5 broadcasts one a second from 10 s.
pub(crate) fn partitioned_broadcasts() -> Scenario {
    let mut scenario = Scenario::new(200, MINUTE);
    scenario.faults.push(Fault::Partition {
        fraction: 0.5,
        at: Duration::from_secs(5),
        lasting: Duration::from_secs(20),
    });
    scenario.broadcasts = Some(BroadcastLoad {
        count: 5,
        at: Duration::from_secs(10),
        every: Duration::from_secs(1),
        ..BroadcastLoad::default()
    });
    scenario
}

/// 50 nodes; node 49 is down while node 3 broadcasts, and rejoins 10 s
/// later. How long after rejoining it had the broadcast, if within 10 s.
pub(crate) fn late_joiner(seed: u64) -> Option<Duration> {
    let mut sim = Simulation::builder().nodes(50).seed(seed).build();
    sim.bootstrap_converged();
    sim.crash(49);
    sim.run_for(Duration::from_secs(1));
    sim.broadcast(3, b"before you came").expect("running");
    sim.run_for(Duration::from_secs(10));
    sim.restart(49, &[0]);
    let joined = sim.now();
    let got = super::run_until(&mut sim, joined + Duration::from_secs(10), |sim| {
        sim.metrics().broadcasts()[0].reached(49)
    });
    got.map(|at| at - joined)
}

/// Issue 6: `nodes` nodes (200 in the README) write 10,000 times (10%
/// deletes) to 500 keys over a minute at 10% loss, split 50/50 from 20 to
/// 50 s.
pub(crate) fn issue_6(nodes: usize) -> Scenario {
    let mut scenario = Scenario::new(nodes, Duration::from_secs(150));
    scenario.network.loss = 0.1;
    scenario.writes = Some(WriteLoad {
        count: 10_000,
        at: Duration::from_secs(5),
        over: MINUTE,
        keys: 500,
        size: 32,
        delete_fraction: 0.1,
    });
    scenario.faults.push(Fault::Partition {
        fraction: 0.5,
        at: Duration::from_secs(20),
        lasting: Duration::from_secs(30),
    });
    scenario
}

/// 20 nodes, one of them cut off from 1 to 16 s while 200 writes spread
/// (from 2 to 5 s); `sync_interval` overrides the anti-entropy interval.
pub(crate) fn cut_off_during_writes(sync_interval: Option<Duration>) -> Scenario {
    let mut scenario = Scenario::new(20, MINUTE);
    scenario.protocol.state_sync_interval = sync_interval;
    scenario.writes = Some(WriteLoad {
        count: 200,
        at: Duration::from_secs(2),
        over: Duration::from_secs(3),
        keys: 50,
        delete_fraction: 0.1,
        ..WriteLoad::default()
    });
    scenario.faults.push(Fault::Partition {
        fraction: 0.05,
        at: Duration::from_secs(1),
        lasting: Duration::from_secs(15),
    });
    scenario
}

/// Eight nodes join through n0 (seed `seed`), n5 crashes 5 s later and the
/// rest run 20 s: the simulation and when n5 crashed.
pub(crate) fn eight_nodes_one_crash(seed: u64) -> (Simulation, Instant) {
    let mut sim = Simulation::builder().nodes(8).seed(seed).build();
    sim.join_all_through(0);
    sim.run_for(Duration::from_secs(5));
    assert!(sim.converged());
    let crash_at = sim.now();
    sim.crash(5);
    sim.run_for(Duration::from_secs(20));
    (sim, crash_at)
}

/// When the last live node of [`eight_nodes_one_crash`] declared n5 failed,
/// after the crash.
pub(crate) fn all_declared_failed_after(sim: &Simulation, crash_at: Instant) -> Duration {
    let last = super::about(sim, 5, super::is_failed)
        .map(|r| r.at)
        .max()
        .expect("n5 declared failed");
    last - crash_at
}

/// Eight nodes join through n0 (seed `seed`), split 4/4 for 60 s after 5 s:
/// the simulation at the heal (not healed yet).
pub(crate) fn eight_nodes_split(seed: u64) -> Simulation {
    let mut sim = Simulation::builder().nodes(8).seed(seed).build();
    sim.join_all_through(0);
    sim.run_for(Duration::from_secs(5));
    assert!(sim.converged());
    sim.partition(&[&[0, 1, 2, 3], &[4, 5, 6, 7]]);
    sim.run_for(MINUTE);
    sim
}

/// Heals [`eight_nodes_split`] and runs until membership is full again (at
/// most four push-pull intervals): how long that took.
pub(crate) fn heal_until_converged(sim: &mut Simulation) -> Option<Duration> {
    let healed_at = sim.now();
    sim.heal();
    let push_pull = Config::lan().push_pull_interval;
    let at = super::run_until(sim, healed_at + push_pull * 4, Simulation::converged);
    at.map(|at| at - healed_at)
}

/// Ten nodes join through n0 at `loss` (seed `seed`): seconds until every
/// node counts all ten live, or infinity if not within 120 s.
pub(crate) fn ten_nodes_join(seed: u64, loss: f64) -> f64 {
    let mut sim = Simulation::builder()
        .nodes(10)
        .network(Network::default().loss(loss))
        .seed(seed)
        .record_events(false)
        .build();
    sim.join_all_through(0);
    while sim.now() < Instant::from_secs(120) {
        if sim.converged() {
            return sim.now().since_epoch().as_secs_f64();
        }
        sim.run_for(Duration::from_millis(100));
    }
    f64::INFINITY
}

/// `nodes` converged nodes with `config` over the five datacentres, without
/// jitter.
pub(crate) fn five_datacenters(nodes: usize, config: Config, seed: u64) -> Simulation {
    let mut sim = Simulation::builder()
        .nodes(nodes)
        .config(config)
        .network(
            Network::default()
                .jitter(Duration::ZERO)
                .geometry(Geometry::five_datacenters()),
        )
        .seed(seed)
        .build();
    sim.bootstrap_converged();
    sim
}

/// How well coordinates predict round trips among 100 nodes with
/// `Config::wan()` over the five datacentres, after each of `minutes`
/// (ascending), in one run.
pub(crate) fn coordinates_over_time(seed: u64, minutes: &[u32]) -> Vec<RttPrediction> {
    let mut sim = five_datacenters(100, Config::wan(), seed);
    minutes
        .iter()
        .map(|&m| {
            sim.run_until(Instant::from_secs(u64::from(m) * 60));
            RttPrediction::measure(&sim).expect("a geometry")
        })
        .collect()
}

/// What a 250-node cluster over the five datacentres did with `selection`:
/// bytes between datacentres and in all while 20 broadcasts spread, the mean
/// and most gossip rounds a broadcast took to reach every node, and how long
/// until every node knew of a crash.
pub(crate) struct TopologyRun {
    pub(crate) cross_bytes: u64,
    pub(crate) bytes: u64,
    pub(crate) mean_rounds: f64,
    pub(crate) max_rounds: f64,
    pub(crate) crash_known_by_all: Duration,
}

/// 250 nodes with `Config::wan()` and `selection` over the five
/// datacentres: 20 minutes for the coordinates to settle, then 20
/// broadcasts of 256 bytes five seconds apart, a minute more, then a crash.
pub(crate) fn near_partners(selection: PeerSelection, seed: u64) -> TopologyRun {
    let mut config = Config::wan();
    config.peer_selection = selection;
    let nodes = 250;
    let mut sim = five_datacenters(nodes, config.clone(), seed);
    // Coordinates settle first; uniform runs the same time so that both
    // measure the same window.
    sim.run_for(20 * MINUTE);
    let (cross_before, bytes_before) = (sim.metrics().cross_dc_bytes(), total_bytes(&sim));
    for i in 0..20u32 {
        sim.broadcast((i * 37) % nodes as u32, &[7; 256]);
        sim.run_for(Duration::from_secs(5));
    }
    sim.run_for(MINUTE);
    let cross_bytes = sim.metrics().cross_dc_bytes() - cross_before;
    let bytes = total_bytes(&sim) - bytes_before;
    let rounds: Vec<f64> = sim
        .metrics()
        .broadcasts()
        .iter()
        .map(|spread| {
            let at = spread
                .all_reached_at(sim.running())
                .expect("every broadcast reaches every node");
            (at - spread.sent_at).as_secs_f64() / config.gossip_interval.as_secs_f64()
        })
        .collect();
    sim.apply(Action::Crash(7));
    sim.run_for(2 * MINUTE);
    let crash_known_by_all = sim.metrics().failures()[0]
        .all_know()
        .expect("every node learns of the crash");
    TopologyRun {
        cross_bytes,
        bytes,
        mean_rounds: rounds.iter().sum::<f64>() / rounds.len() as f64,
        max_rounds: rounds.iter().copied().fold(0.0, f64::max),
        crash_known_by_all,
    }
}

fn total_bytes(sim: &Simulation) -> u64 {
    sim.metrics().traffic().map(|(_, bytes)| bytes).sum()
}
