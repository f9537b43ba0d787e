//! A node wrongly suspected refutes, and nobody declares it failed.

mod common;

use std::time::Duration;

use gossip_core::wire::{Message, PacketWriter, Status, Update};
use gossip_sim::Simulation;

fn false_suspicion(about: &str, by: &str) -> Vec<u8> {
    let mut buf = [0u8; 256];
    let mut writer = PacketWriter::new(&mut buf, 0);
    writer
        .push(&Message::<u32>::Update(Update {
            name: about,
            generation: 0,
            incarnation: 0,
            status: Status::Suspect { by },
        }))
        .unwrap();
    let len = writer.len();
    buf[..len].to_vec()
}

#[test]
fn a_false_suspicion_is_refuted_before_anyone_declares_failure() {
    let mut sim = Simulation::builder()
        .nodes(6)
        .seed(common::seed(21))
        .build();
    sim.join_all_through(0);
    sim.run_for(Duration::from_secs(5));
    sim.take_events();

    // n1 is told that n4 missed a probe: n1 suspects n4 and gossips it; n4 hears
    // it and refutes with a higher incarnation.
    sim.inject(2, 1, false_suspicion("n4", "n2"));
    sim.run_for(Duration::from_secs(15));

    assert!(common::about(&sim, 4, common::is_suspected).any(|r| r.node == 1));
    assert_eq!(
        common::about(&sim, 4, common::is_failed).count(),
        0,
        "nobody declares n4 failed"
    );
    let refuted = sim.events().iter().any(|r| {
        r.node == 4 && matches!(r.event, gossip_core::Event::Refuted { incarnation: 1, .. })
    });
    assert!(refuted, "n4 refuted with incarnation 1");
    for id in 0..6 {
        let n4 = sim.node(id).unwrap().member("n4").unwrap();
        assert_eq!(n4.incarnation(), 1, "n{id} knows the refutation");
        assert_eq!(n4.state(), gossip_core::MemberState::Alive);
    }
    for r in common::about(&sim, 4, common::is_suspected) {
        let recovered = common::about(&sim, 4, common::is_recovered).any(|x| x.node == r.node);
        assert!(recovered, "n{} saw n4 recover", r.node);
    }
    assert!(sim.node(4).unwrap().stats().members.refutations >= 1);
}

#[test]
fn a_node_declared_failed_while_alive_comes_back() {
    let mut sim = Simulation::builder()
        .nodes(5)
        .seed(common::seed(22))
        .build();
    sim.join_all_through(0);
    sim.run_for(Duration::from_secs(5));
    // Cut n3 off long enough to be declared failed, then heal.
    sim.partition(&[&[3]]);
    sim.run_for(Duration::from_secs(15));
    assert!(common::about(&sim, 3, common::is_failed).count() >= 1);
    sim.heal();
    let back = {
        let limit = sim.now() + Duration::from_secs(60);
        common::run_until(&mut sim, limit, Simulation::converged)
    };
    assert!(
        back.is_some(),
        "n3 refutes its death and everyone counts it again"
    );
    let n3 = sim.node(0).unwrap().member("n3").unwrap();
    assert!(n3.incarnation() >= 1);
}
