//! A node restarted with a new generation is a new life: it never inherits its
//! old self's death.

mod common;

use std::time::Duration;

use gossip_core::{Event, MemberState};
use gossip_sim::Simulation;

#[test]
fn a_restart_after_being_declared_failed_rejoins_as_a_new_generation() {
    let mut sim = Simulation::builder()
        .nodes(6)
        .seed(common::seed(41))
        .build();
    sim.join_all_through(0);
    sim.run_for(Duration::from_secs(5));
    sim.crash(2);
    sim.run_for(Duration::from_secs(20));
    assert_eq!(
        common::reporters(common::about(&sim, 2, common::is_failed)),
        [0, 1, 3, 4, 5]
    );
    sim.take_events();

    sim.restart(2, &[0]);
    let at = {
        let limit = sim.now() + Duration::from_secs(10);
        common::run_until(&mut sim, limit, Simulation::converged)
    };
    assert!(at.is_some(), "the new n2 is counted everywhere");
    for id in [0, 1, 3, 4, 5] {
        let n2 = sim.node(id).unwrap().member("n2").unwrap();
        assert_eq!((n2.generation(), n2.state()), (1, MemberState::Alive));
    }
    let restarted = sim.events().iter().filter(|r| {
        matches!(&r.event, Event::MemberRestarted { member, previous_generation: 0 }
            if member.name().as_str() == "n2" && member.generation() == 1)
    });
    assert_eq!(common::reporters(restarted), [0, 1, 3, 4, 5]);
    assert_eq!(
        sim.node(2).unwrap().stats().members.refutations,
        0,
        "nothing to refute: the old death is not its own"
    );
}

#[test]
fn a_restart_before_detection_replaces_the_old_life_without_a_failure() {
    let mut sim = Simulation::builder()
        .nodes(6)
        .seed(common::seed(42))
        .build();
    sim.join_all_through(0);
    sim.run_for(Duration::from_secs(5));
    sim.take_events();
    sim.restart(4, &[0]);
    sim.run_for(Duration::from_secs(20));
    assert!(sim.converged());
    assert_eq!(common::about(&sim, 4, common::is_failed).count(), 0);
    assert_eq!(
        common::reporters(common::about(&sim, 4, common::is_restarted)),
        [0, 1, 2, 3, 5]
    );
}
