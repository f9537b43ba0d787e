//! A partition: each side declares the other failed; after the heal, push-pull
//! with recently failed members brings both sides back together.

mod common;

use std::time::Duration;

use gossip_sim::Simulation;

#[test]
fn both_sides_of_a_healed_partition_find_each_other_again() {
    let mut sim = Simulation::builder()
        .nodes(8)
        .seed(common::seed(51))
        .build();
    sim.join_all_through(0);
    sim.run_for(Duration::from_secs(5));
    assert!(sim.converged());

    sim.partition(&[&[0, 1, 2, 3], &[4, 5, 6, 7]]);
    sim.run_for(Duration::from_secs(60));
    for id in 0..8u32 {
        let node = sim.node(id).unwrap();
        assert_eq!(node.live_members(), 4, "n{id} sees only its side");
    }
    for lost in 4..8 {
        assert_eq!(
            common::reporters(common::about(&sim, lost, common::is_failed)),
            [0, 1, 2, 3]
        );
    }

    let healed_at = sim.now();
    sim.heal();
    let push_pull = gossip_core::Config::lan().push_pull_interval;
    let at = common::run_until(&mut sim, healed_at + push_pull * 4, Simulation::converged);
    let at = at.expect("converged after the heal");
    println!("converged {:?} after the heal", at - healed_at);
    assert!(at - healed_at <= push_pull * 2, "took {:?}", at - healed_at);
}
