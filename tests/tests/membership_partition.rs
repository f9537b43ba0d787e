//! A partition: each side declares the other failed; after the heal, push-pull
//! with recently failed members brings both sides back together.

mod common;

use std::time::Duration;

use gossip_sim::Simulation;

#[test]
fn both_sides_of_a_healed_partition_find_each_other_again() {
    let mut sim = common::suite::eight_nodes_split(common::seed(51));
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

    let took = common::suite::heal_until_converged(&mut sim).expect("converged after the heal");
    println!("converged {took:?} after the heal");
    let push_pull = gossip_core::Config::lan().push_pull_interval;
    assert!(took <= push_pull * 2, "took {took:?}");
}

/// Found by the `cluster` fuzz target: two members restart while a partition
/// cuts them off from their seed, one of them then crashes; after the heal the
/// other, alone in its new generation, must be found again. Members that
/// know it (as failed) push-pull with it; it knows none of them, so their
/// requests reach it as a stranger's and must be padded and answered.
#[test]
fn a_member_restarted_behind_a_partition_is_found_again_after_the_heal() {
    use gossip_sim::{Action, Network};
    let mut sim = Simulation::builder()
        .nodes(5)
        .network(Network::default())
        .seed(0x86fc_211b_a7bc_1a16)
        .build();
    sim.join_all_through(0);
    sim.run_for(Duration::from_secs(2));
    let ms = Duration::from_millis;
    let now = sim.now();
    let schedule = [
        (
            3_466,
            Action::Slow {
                node: 3,
                until: now + ms(11_962),
                min: ms(381),
                max: ms(522),
            },
        ),
        (6_247 + 4_865, Action::Partition(vec![vec![1, 3]])),
        (
            7_252,
            Action::Restart {
                node: 1,
                seeds: vec![0],
            },
        ),
        (
            3_699 + 1_038,
            Action::Restart {
                node: 3,
                seeds: vec![0],
            },
        ),
        (9_885, Action::Crash(1)),
    ];
    for (after, action) in schedule {
        sim.run_for(ms(after));
        sim.apply(action);
    }
    sim.heal();
    let healed = sim.now();
    let at = common::run_until(&mut sim, healed + Duration::from_secs(120), |sim| {
        sim.converged_by_inspection()
    });
    let at = at.expect("n3 was never found again");
    println!("converged {:?} after the heal", at - healed);
}
