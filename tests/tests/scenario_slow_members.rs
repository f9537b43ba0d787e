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

use common::suite::{
    SLOW_FULL as FULL, SLOW_SMALL as SMALL, SlowOutcome as Outcome, SlowSize as Size,
    compare_lifeguard as compare, median,
};

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
