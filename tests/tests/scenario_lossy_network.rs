//! Scenario 3: 1,000 nodes for 300 simulated seconds on a network that loses 10%
//! of datagrams: suspicions happen, and every one is refuted in time. The
//! default test runs 200 nodes (about 15,000 suspicions raised and refuted);
//! `cargo test -p gossip-sim --test scenario_lossy_network -- --ignored
//! full_size` runs 1,000.

mod common;

use common::suite::lossy_network as scenario;

fn check(report: &gossip_sim::Report) {
    assert_eq!(
        report.false_positives.count, 0,
        "{:?}",
        report.false_positives.first
    );
    assert!(
        report.false_positives.suspicions > 0,
        "10% loss does raise suspicions"
    );
    assert!(report.membership.full_at_end);
}

#[test]
fn ten_percent_loss_for_five_minutes_raises_no_false_alarm() {
    check(&common::run_scenario(scenario(200), 3));
}

#[test]
#[ignore = "1,000 nodes: about 20 s in the test profile"]
fn full_size_ten_percent_loss_for_five_minutes_raises_no_false_alarm() {
    check(&common::run_scenario(scenario(1_000), 3));
}

#[test]
#[ignore = "seed sweep; run with --ignored (GOSSIP_SIM_SEEDS sets the count)"]
fn lossy_network_across_seeds() {
    common::sweep(
        || scenario(1_000),
        |r| {
            format!(
                "{} suspicion events, {} false positives",
                r.false_positives.suspicions, r.false_positives.count
            )
        },
        check,
    );
}
