//! User broadcasts held against the theory of rumor spreading (synchronous
//! rounds) and against a hostile network: exactly-once delivery, recovery by
//! pulls under loss, across a partition and for a late joiner.
//!
//! `cargo test --release -p gossip-sim --test scenario_broadcast -- --ignored
//! --nocapture` runs the seed sweep of Demers et al.'s Table 1 and the
//! full-size instances of the default tests (`-- --ignored full_size`: those
//! alone).

mod common;

use std::time::Duration;

use common::suite::{
    BROADCAST_PARTITION_HEALS, DEMERS_TABLE_1, duplicated_broadcasts, feedback_counter,
    late_joiner, lossy_broadcasts as lossy, partitioned_broadcasts, rounds,
};
use gossip_sim::{BroadcastLoad, Mode, Report, Scenario, TerminationSpec};

/// Runs and returns the most rounds any broadcast took to reach every node,
/// after checking that each node delivered each broadcast exactly once.
fn rounds_to_all(scenario: Scenario, seed: u64) -> f64 {
    let report = common::run_scenario(scenario, seed);
    let b = &report.broadcasts;
    assert_eq!(b.reached_all, b.count, "every broadcast reaches every node");
    assert_eq!(b.duplicates, 0);
    b.all_reached_rounds.expect("reached all").max
}

fn check_against_theory(n: usize) {
    let nf = n as f64;
    let push_theory = nf.log2() + nf.ln();
    let push_pull_theory = nf.ln() / 3f64.ln();
    let push = rounds_to_all(rounds(n, Mode::Push, 1), 1);
    let push_pull = rounds_to_all(rounds(n, Mode::PushPull, 1), 1);
    println!(
        "n = {n}: push {push} rounds (log2 n + ln n = {push_theory:.1}), \
         push-pull {push_pull} rounds (log3 n = {push_pull_theory:.1})"
    );
    assert!(
        (push - push_theory).abs() <= 2.0 + 0.5,
        "push took {push} rounds, theory {push_theory:.1} (+2)"
    );
    assert!(
        push_pull >= push_pull_theory.floor(),
        "faster than theory allows"
    );
    assert!(push_pull < push, "push-pull must beat push");
    if n == 10_000 {
        assert!(push_pull <= 14.0, "push-pull took {push_pull} rounds");
    }
}

/// The default suite's instance of the 10,000-node test below: the same
/// theory a decade lower.
#[test]
fn synchronous_rounds_at_a_hundred_nodes_match_the_theory() {
    check_against_theory(100);
}

#[test]
fn synchronous_rounds_at_a_thousand_nodes_match_the_theory() {
    check_against_theory(1_000);
    // Pull is slow to start (the first pulls find nothing) and fast to finish.
    let pull = rounds_to_all(rounds(1_000, Mode::Pull, 1), 1);
    assert!((10.0..=16.0).contains(&pull), "pull took {pull} rounds");
}

/// 10⁸ member records: about 8.5 GB and a minute and a half.
#[test]
#[ignore = "10,000 nodes: 8.5 GB and about 2 minutes in the test profile"]
fn full_size_synchronous_rounds_at_ten_thousand_nodes_match_the_theory() {
    check_against_theory(10_000);
}

/// Feedback and counter with limit `k`, in synchronous rounds at 1,000 sites.
fn feedback_counter_rounds(k: u32, broadcasts: BroadcastLoad, rounds_after: u64) -> Scenario {
    let mut scenario = rounds(1_000, Mode::Push, broadcasts.count);
    let last = broadcasts.at + broadcasts.every * (broadcasts.count as u32 - 1);
    scenario.duration = last + Duration::from_secs(rounds_after);
    scenario.broadcasts = Some(broadcasts);
    scenario.protocol.termination =
        Some(TerminationSpec(gossip_core::Termination::FeedbackCounter {
            k,
        }));
    scenario
}

/// Mean residue and traffic of one run of 40 broadcasts sent 5 rounds apart:
/// the default test's sample. The 20 concurrent broadcasts of a run share its
/// contacts (a node few contact is missed by all of them), so that a run
/// counts as about one sample of the residue at k = 4, 5; broadcasts a few
/// rounds apart spread over mostly different contacts. One such run was
/// within 15% of the paper on seeds 0-4 for k = 1..3 and on seeds 0-9 for
/// k = 4, 5 (residue at k = 5: -10% to +15%), where the mean of 5 concurrent
/// runs is off by 20% one time in three; and it builds the 1,000 sites' member
/// tables once, not five times.
fn feedback_counter_staggered(k: u32) -> (f64, f64) {
    let staggered = BroadcastLoad {
        count: 40,
        every: Duration::from_secs(5),
        ..BroadcastLoad::default()
    };
    let mut scenario = feedback_counter_rounds(k, staggered, 60);
    scenario.seed = common::seed(0);
    let report = scenario.run(None);
    let b = &report.broadcasts;
    assert_eq!((b.count, b.duplicates), (40, 0));
    (b.residue, b.messages_per_node)
}

/// Traffic within 15% for every k; residue within 15% for k = 1..3 and
/// `high_k_residue` for k = 4, 5. There the residue is 1 to 4 nodes in 1,000,
/// and the 20 broadcasts of a run share its contacts (a node few contact is
/// missed by all of them), so a run counts as about one sample: the mean of
/// 5 runs is off by 20% one time in three, that of 100 by 5%.
fn check_table_1(high_k_residue: f64, measure: impl Fn(u32) -> (f64, f64)) {
    for (k, paper_s, paper_m) in DEMERS_TABLE_1 {
        let (s, m) = measure(k);
        let (ds, dm) = (s / paper_s - 1.0, m / paper_m - 1.0);
        println!(
            "k = {k}: s = {s:.4} (paper {paper_s}, {:+.0}%), m = {m:.2} (paper {paper_m}, {:+.0}%)",
            ds * 100.0,
            dm * 100.0
        );
        assert!(dm.abs() <= 0.15, "traffic at k = {k}");
        let tolerance = if k <= 3 { 0.15 } else { high_k_residue };
        assert!(ds.abs() <= tolerance, "residue at k = {k}");
    }
}

/// One run of 40 broadcasts 5 rounds apart for each k, with the bounds the
/// default test had for the mean of 5 runs of 20 concurrent ones.
#[test]
fn feedback_and_counter_match_demers_table_1() {
    check_table_1(0.30, feedback_counter_staggered);
}

#[test]
#[ignore = "100 seeds of 20 broadcasts for each k: about 2 minutes in release"]
fn sweep_feedback_and_counter_against_demers_table_1() {
    check_table_1(0.15, |k| feedback_counter(k, 100));
}

/// Rumor mongering that gives up early (feedback and counter, k = 1) misses
/// nodes under 20% loss; pulls find every one of them. The 20 broadcasts are
/// sent from 5 s to 24 s; `duration` leaves time for the last to be pulled.
fn pulls_recover_what_pushes_miss(nodes: usize, duration: Duration) {
    let pushed = common::run_scenario(lossy(nodes, duration, Mode::Push, "feedback:1"), 3);
    assert!(
        pushed.broadcasts.residue > 0.01,
        "pushes alone reach everyone: nothing to recover"
    );
    let recovered = common::run_scenario(lossy(nodes, duration, Mode::PushPull, "feedback:1"), 3);
    let b = &recovered.broadcasts;
    assert_eq!((b.reached_all, b.duplicates), (b.count, 0));
    let slowest = b.all_reached_s.expect("reached all").max;
    println!(
        "pushes alone: residue {:.4}; with pulls: all reached in {slowest:.1} s at most",
        pushed.broadcasts.residue
    );
    // Measured 8.6 s at most with 500 nodes on seeds 1..2, 7.3 s with 200 on
    // seed 3 (pull interval 1 s, 20% loss each way).
    assert!(slowest <= 15.0, "{slowest:.1} s");
    // The default (retransmit limit, push-pull) reaches nearly everyone by
    // pushes, and pulls finish within a few seconds. Its slowest broadcast
    // varies with the seed more than with the code: on seeds 1–8 at 500
    // nodes, 0.97–4.05 s, and 0.96–5.24 s before pulls went quiet when idle.
    let default = common::run_scenario(lossy(nodes, duration, Mode::PushPull, "limit"), 3);
    assert_eq!(default.broadcasts.reached_all, 20);
    let bound = if nodes <= 200 { 3.0 } else { 6.0 };
    let slowest = default.broadcasts.all_reached_s.expect("reached all").max;
    assert!(slowest <= bound, "{slowest:.1} s");
}

/// 200 nodes for 40 s: the last broadcast, sent at 24 s, has 16 s to be
/// pulled, past the 15 s bound.
#[test]
fn under_20_percent_loss_pulls_recover_what_pushes_miss() {
    pulls_recover_what_pushes_miss(200, Duration::from_secs(40));
}

#[test]
#[ignore = "500 nodes for 60 s, three runs: about 20 s in the test profile"]
fn full_size_under_20_percent_loss_pulls_recover_what_pushes_miss() {
    pulls_recover_what_pushes_miss(500, Duration::from_secs(60));
}

#[test]
fn each_node_delivers_each_broadcast_once_despite_duplication_and_reordering() {
    let report = common::run_scenario(duplicated_broadcasts(), 4);
    let b = &report.broadcasts;
    assert_eq!(b.count, 50);
    assert_eq!(b.reached_all, 50);
    assert_eq!(b.duplicates, 0, "a node delivered a broadcast twice");
}

#[test]
fn a_broadcast_sent_during_a_partition_reaches_the_other_side_after_the_heal() {
    let report: Report = common::run_scenario(partitioned_broadcasts(), 5);
    let b = &report.broadcasts;
    assert_eq!(b.reached_all, 5);
    let reached = b.all_reached_s.expect("reached all");
    // Sent 10–14 s in, healed at 25 s: the far side pulls them within seconds.
    println!("reached all at most {:.1} s after sending", reached.max);
    assert!(reached.max <= 15.0 + 5.0);
    assert!(
        reached.min >= BROADCAST_PARTITION_HEALS - 14.0,
        "crossed the partition?"
    );
}

#[test]
fn a_late_joiner_pulls_the_broadcasts_it_missed() {
    let got = late_joiner(common::seed(6)).expect("the late joiner never got the broadcast");
    println!("the late joiner had it {got:?} after joining");
    assert!(got <= Duration::from_secs(5));
}
