//! Metadata changes spread with an incarnation bump.

mod common;

use std::time::Duration;

use gossip_core::Event;
use gossip_sim::Simulation;

#[test]
fn new_metadata_reaches_every_member() {
    let mut sim = Simulation::builder()
        .nodes(6)
        .seed(common::seed(61))
        .build();
    sim.join_all_through(0);
    sim.run_for(Duration::from_secs(5));
    sim.take_events();
    sim.set_metadata(3, b"role=db");
    sim.run_for(Duration::from_secs(3));
    for id in [0, 1, 2, 4, 5] {
        let n3 = sim.node(id).unwrap().member("n3").unwrap();
        assert_eq!(n3.metadata().as_bytes(), b"role=db");
        assert_eq!(n3.incarnation(), 1);
    }
    let updated = common::reporters(common::about(&sim, 3, common::is_updated));
    assert_eq!(updated, [0, 1, 2, 4, 5]);
    assert!(
        sim.events()
            .iter()
            .all(|r| !matches!(r.event, Event::MemberFailed(_)))
    );
}
