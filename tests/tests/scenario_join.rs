//! Scenario 1: 1,000 nodes join through one seed and reach full membership
//! within 30 simulated seconds. The default test joins 300 the same way;
//! `cargo test -p gossip-sim --test scenario_join -- --ignored full_size` joins
//! 1,000.

mod common;

use common::suite::join_through_one as scenario;

fn check(report: &gossip_sim::Report) {
    let full = report
        .membership
        .first_full_s
        .expect("full membership reached");
    assert!(full <= 30.0, "full membership only at {full} s");
    assert!(report.membership.full_at_end, "and it holds");
    assert_eq!(report.false_positives.count, 0);
}

#[test]
fn three_hundred_nodes_joining_through_one_seed_have_full_membership_within_30_seconds() {
    check(&common::run_scenario(scenario(300), 1));
}

#[test]
#[ignore = "1,000 nodes: about 12 s in the test profile"]
fn full_size_a_thousand_nodes_joining_through_one_seed_have_full_membership_within_30_seconds() {
    check(&common::run_scenario(scenario(1_000), 1));
}

#[test]
#[ignore = "seed sweep; run with --ignored (GOSSIP_SIM_SEEDS sets the count)"]
fn joining_across_seeds() {
    common::sweep(
        || scenario(1_000),
        |r| format!("full membership at {:?} s", r.membership.first_full_s),
        check,
    );
}
