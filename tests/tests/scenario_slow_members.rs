//! Lifeguard against plain SWIM with slow members: 1,000 nodes for 300 s, 2% of
//! them handling their datagrams 2-4 s late in 30 s spells, and 10 real
//! crashes. Lifeguard must raise at least 20× fewer false alarms about healthy
//! members, and every live node must learn of the real crashes no more than
//! 20% later (median).
//!
//! Plain SWIM's false alarms here are rare events (a few per run: a slow member
//! suspects nearly every member it probes, and now and then a refutation misses
//! someone before their suspicion times out), so the 20× ratio needs many runs
//! to mean anything; it is asserted over the seed sweep.
//!
//! The default test runs a smaller instance of the same comparison, two seeds,
//! and asserts that plain SWIM does raise false alarms there while Lifeguard
//! raises none, and the detection-time bound: 100 nodes for 150 s, 10% of them
//! slow (the same 2-4 s delays in 30 s spells), 5 crashes. With five times the
//! share of slow members and a shorter suspicion timeout (4 × log10 n probe
//! periods: 8 s instead of 12 s), plain SWIM's false alarms are no longer rare:
//! 3 to 13 per run over seeds 0-7 (57 in all), Lifeguard's 0. The same two
//! seeds at full size:
//!
//! ```sh
//! cargo test -p gossip-sim --test scenario_slow_members -- --ignored full_size --nocapture
//! ```

mod common;

use std::time::Duration;

use gossip_sim::{Fault, Report, Scenario};

/// One instance of the comparison.
#[derive(Clone, Copy, Debug)]
struct Size {
    nodes: usize,
    duration: Duration,
    /// Share of the nodes that are slow in spells.
    slow: f64,
    crashes: usize,
    crash_at: Duration,
}

/// The default test's instance: 100 nodes for 150 s, 10 of them slow, 5
/// crashes at 50 s.
const SMALL: Size = Size {
    nodes: 100,
    duration: Duration::from_secs(150),
    slow: 0.1,
    crashes: 5,
    crash_at: Duration::from_secs(50),
};

/// The published instance (the Lifeguard paper's benchmark): 1,000 nodes for
/// 300 s, 20 of them slow, 10 crashes at 100 s.
const FULL: Size = Size {
    nodes: 1_000,
    duration: Duration::from_secs(300),
    slow: 0.02,
    crashes: 10,
    crash_at: Duration::from_secs(100),
};

fn scenario(size: Size, lifeguard: bool, seed: u64) -> Scenario {
    let mut scenario = Scenario::new(size.nodes, size.duration);
    scenario.seed = seed;
    scenario.protocol.lifeguard = Some(lifeguard);
    scenario.faults.push(Fault::Slow {
        fraction: size.slow,
        min_delay: Duration::from_secs(2),
        max_delay: Duration::from_secs(4),
        spell: Duration::from_secs(30),
        period: Duration::from_secs(60),
    });
    scenario.faults.push(Fault::Crash {
        count: size.crashes,
        at: size.crash_at,
    });
    scenario
}

/// What one run of one protocol measured.
#[derive(Clone, Copy, Debug, Default)]
struct Outcome {
    false_alarms_about_healthy: usize,
    false_alarms_about_slow: usize,
    suspicions: u64,
    /// Median over the crashes of the time until every live node knew.
    median_all_know_s: f64,
}

impl Outcome {
    fn of(report: &Report, size: Size) -> Self {
        let fp = &report.false_positives;
        assert_eq!(
            report.failures.known_by_all, size.crashes,
            "every crash became known"
        );
        Outcome {
            false_alarms_about_healthy: fp.count - fp.about_slow_nodes,
            false_alarms_about_slow: fp.about_slow_nodes,
            suspicions: fp.suspicions,
            median_all_know_s: report.failures.all_know_s.median,
        }
    }
}

/// Runs both protocols on each seed, two runs at a time; returns the outcomes
/// with Lifeguard and without, seed by seed.
fn compare(size: Size, seeds: &[u64]) -> Vec<(u64, Outcome, Outcome)> {
    let mut results = Vec::new();
    for pair in seeds.chunks(2) {
        std::thread::scope(|scope| {
            let runs: Vec<_> = pair
                .iter()
                .map(|&seed| {
                    scope.spawn(move || {
                        let with = Outcome::of(&scenario(size, true, seed).run(None), size);
                        let without = Outcome::of(&scenario(size, false, seed).run(None), size);
                        (seed, with, without)
                    })
                })
                .collect();
            for run in runs {
                let (seed, with, without) = run.join().expect("a run panicked");
                println!("seed {seed}: Lifeguard {with:?}\n        plain SWIM {without:?}");
                results.push((seed, with, without));
            }
        });
    }
    results
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The detection-time half of the claim: Lifeguard's median time until all
/// know is at most 20% above plain SWIM's (medians of the per-run medians).
fn check_detection(results: &[(u64, Outcome, Outcome)]) {
    let with = median(results.iter().map(|r| r.1.median_all_know_s).collect());
    let without = median(results.iter().map(|r| r.2.median_all_know_s).collect());
    println!("median time until all know: Lifeguard {with:.2} s, plain SWIM {without:.2} s");
    assert!(
        with <= 1.2 * without,
        "Lifeguard {with:.2} s vs plain SWIM {without:.2} s"
    );
}

/// Plain SWIM raises false alarms about healthy members on `seeds` (at least
/// two in all), Lifeguard none; then the detection-time bound.
fn no_false_alarm_where_plain_swim_raises_some(size: Size, seeds: &[u64]) {
    let results = compare(size, seeds);
    let with: usize = results.iter().map(|r| r.1.false_alarms_about_healthy).sum();
    let without: usize = results.iter().map(|r| r.2.false_alarms_about_healthy).sum();
    assert!(
        without >= 2,
        "plain SWIM raised {without} false alarms: the scenario lost its teeth"
    );
    assert_eq!(
        with, 0,
        "Lifeguard raised {with} false alarms about healthy members"
    );
    check_detection(&results);
}

#[test]
fn lifeguard_raises_no_false_alarm_where_plain_swim_does() {
    no_false_alarm_where_plain_swim_raises_some(SMALL, &[common::seed(1), common::seed(1) + 1]);
}

#[test]
#[ignore = "1,000 nodes for 300 s, two seeds: 6 to 8 minutes in the test profile on 2 cores"]
fn full_size_lifeguard_raises_no_false_alarm_where_plain_swim_does() {
    no_false_alarm_where_plain_swim_raises_some(FULL, &[common::seed(1), common::seed(1) + 1]);
}

#[test]
#[ignore = "seed sweep; run with --ignored (GOSSIP_SIM_SEEDS sets the count)"]
fn lifeguard_raises_twenty_times_fewer_false_alarms_across_seeds() {
    let seeds: Vec<u64> = common::sweep_seeds().collect();
    let results = compare(FULL, &seeds);
    let sum = |f: fn(&Outcome) -> usize, lifeguard: bool| -> usize {
        results
            .iter()
            .map(|r| f(if lifeguard { &r.1 } else { &r.2 }))
            .sum()
    };
    let healthy = |o: &Outcome| o.false_alarms_about_healthy;
    let slow = |o: &Outcome| o.false_alarms_about_slow;
    let (with, without) = (sum(healthy, true), sum(healthy, false));
    println!(
        "{} seeds: false alarms about healthy members: Lifeguard {with}, plain SWIM {without}; \
         about slow members: Lifeguard {}, plain SWIM {}",
        seeds.len(),
        sum(slow, true),
        sum(slow, false)
    );
    let suspicions = |lifeguard: bool| -> u64 {
        results
            .iter()
            .map(|r| if lifeguard { r.1 } else { r.2 }.suspicions)
            .sum()
    };
    println!(
        "suspicions raised: Lifeguard {}, plain SWIM {}",
        suspicions(true),
        suspicions(false)
    );
    assert!(
        without >= 20 * with.max(1),
        "Lifeguard {with} vs plain SWIM {without}: less than 20× fewer"
    );
    check_detection(&results);
}
