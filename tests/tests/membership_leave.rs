//! A graceful leave is reported as a departure, not a failure, and fast.

mod common;

use std::time::Duration;

use gossip_core::MemberState;
use gossip_sim::Simulation;

#[test]
fn others_mark_a_leaving_node_left_at_once() {
    let mut sim = Simulation::builder()
        .nodes(8)
        .seed(common::seed(31))
        .build();
    sim.join_all_through(0);
    sim.run_for(Duration::from_secs(5));
    let left_at = sim.now();
    sim.leave(6);
    sim.run_for(Duration::from_secs(1));

    let reporters = common::reporters(common::about(&sim, 6, common::is_left));
    assert_eq!(reporters, [0, 1, 2, 3, 4, 5, 7]);
    let last = common::about(&sim, 6, common::is_left)
        .map(|r| r.at)
        .max()
        .unwrap();
    assert!(
        last - left_at < Duration::from_millis(500),
        "took {:?}",
        last - left_at
    );

    sim.run_for(Duration::from_secs(20));
    assert_eq!(
        common::about(&sim, 6, common::is_failed).count(),
        0,
        "left, not failed"
    );
    for id in [0, 1, 2, 3, 4, 5, 7] {
        let node = sim.node(id).unwrap();
        assert_eq!(node.member("n6").unwrap().state(), MemberState::Left);
        assert_eq!(node.live_members(), 7);
    }
    let leaver = sim.node(6).unwrap();
    assert!(leaver.has_left());
    assert_eq!(leaver.poll_timeout(), None, "a node that left sleeps");
}
