//! A crashed node is detected, and every live node learns it failed.

mod common;

use std::time::Duration;

use gossip_core::{Config, Instant};
use gossip_sim::Simulation;

#[test]
fn a_crashed_node_is_declared_failed_by_every_live_node() {
    let (sim, crash_at) = common::suite::eight_nodes_one_crash(common::seed(11));

    let live: Vec<_> = sim.running().collect();
    let reporters = common::reporters(common::about(&sim, 5, common::is_failed));
    assert_eq!(reporters, live, "every live node reports n5 failed");
    let took = common::suite::all_declared_failed_after(&sim, crash_at);
    // One protocol period to notice, then the suspicion timeout of
    // 4 · max(1, log10 8) · 1 s = 4 s, plus a little dissemination.
    let timeout = Duration::from_secs(4);
    println!("all know after {took:?}");
    assert!(took <= Duration::from_secs(8) + timeout, "took {took:?}");
    assert!(sim.converged(), "n5 is no longer counted as live");

    for id in live {
        let others_failed = sim
            .events()
            .iter()
            .filter(|r| common::is_failed(&r.event) && common::subject(&r.event) != Some("n5"))
            .count();
        assert_eq!(others_failed, 0, "n{id}: no false positives");
    }
}

#[test]
fn a_probe_target_that_stays_silent_is_suspected_before_it_fails() {
    let mut sim = Simulation::builder()
        .nodes(4)
        .seed(common::seed(12))
        .build();
    sim.join_all_through(0);
    sim.run_for(Duration::from_secs(3));
    sim.crash(3);
    sim.run_for(Duration::from_secs(15));
    for id in 0..3 {
        let suspected = common::about(&sim, 3, common::is_suspected).find(|r| r.node == id);
        let failed = common::about(&sim, 3, common::is_failed).find(|r| r.node == id);
        let failed = failed.expect("declared failed");
        if let Some(suspected) = suspected {
            assert!(suspected.at < failed.at);
        }
        let member = sim.node(id).unwrap().member("n3").unwrap();
        assert_eq!(member.state(), gossip_core::MemberState::Failed);
    }
    // At least one node suspected it itself (the rest may learn "failed" first).
    assert!(common::about(&sim, 3, common::is_suspected).count() >= 1);
}

#[test]
fn failed_members_are_reaped_after_the_tombstone_timeout() {
    let mut config = Config::local();
    config.tombstone_timeout = Duration::from_secs(60);
    let mut sim = Simulation::builder()
        .nodes(4)
        .config(config)
        .seed(common::seed(13))
        .build();
    sim.join_all_through(0);
    sim.run_for(Duration::from_secs(3));
    sim.crash(3);
    sim.run_until(Instant::from_secs(30));
    assert!(
        sim.node(0).unwrap().member("n3").is_some(),
        "a tombstone while it lasts"
    );
    sim.run_until(Instant::from_secs(100));
    for id in 0..3 {
        let node = sim.node(id).unwrap();
        assert!(node.member("n3").is_none(), "n{id} reaped the tombstone");
        assert!(node.stats().members.tombstones_reaped >= 1);
    }
}
