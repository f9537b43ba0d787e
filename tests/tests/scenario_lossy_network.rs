//! Scenario 3: 1,000 nodes for 300 simulated seconds on a network that loses 10%
//! of datagrams: suspicions happen, and every one is refuted in time.

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
    check(&common::run_scenario(scenario(), 3));
}

#[test]
#[ignore = "seed sweep; run with --ignored (GOSSIP_SIM_SEEDS sets the count)"]
fn lossy_network_across_seeds() {
    common::sweep(
        scenario,
        |r| {
            format!(
                "{} suspicion events, {} false positives",
                r.false_positives.suspicions, r.false_positives.count
            )
        },
        check,
    );
}
