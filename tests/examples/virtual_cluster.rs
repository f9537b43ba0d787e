//! Six nodes in virtual time: they join, one crashes, one broadcasts, one
//! writes a key, one leaves, the crashed one restarts, the network splits (a
//! broadcast is sent and the key written on both sides) and heals. Prints what
//! node n0 sees, then every node's view.
//!
//! `cargo run --release -p gossip-sim --example virtual_cluster`

use gossip_core::{Instant, MemberState};
use gossip_sim::{Network, Simulation};

fn main() {
    let mut sim = Simulation::builder()
        .nodes(6)
        .network(Network::default().loss(0.01))
        .seed(7)
        .build();
    let mut shown = 0;

    step(&mut sim, &mut shown, 0, "n1..n5 join through n0", |sim| {
        sim.join_all_through(0)
    });
    step(&mut sim, &mut shown, 10, "n3 crashes", |sim| sim.crash(3));
    step(
        &mut sim,
        &mut shown,
        20,
        "n2 broadcasts \"deploy v2\"",
        |sim| {
            sim.broadcast(2, b"deploy v2");
        },
    );
    step(
        &mut sim,
        &mut shown,
        25,
        "n1 sets config/leader = \"n1\"",
        |sim| {
            sim.write(1, b"config/leader", Some(b"n1"));
        },
    );
    step(&mut sim, &mut shown, 30, "n5 leaves gracefully", |sim| {
        sim.leave(5)
    });
    step(
        &mut sim,
        &mut shown,
        35,
        "n3 restarts (generation 1) and rejoins",
        |sim| sim.restart(3, &[1]),
    );
    step(
        &mut sim,
        &mut shown,
        45,
        "the network splits: {n0, n1} | {n2, n3, n4}",
        |sim| sim.partition(&[&[0, 1], &[2, 3, 4]]),
    );
    step(
        &mut sim,
        &mut shown,
        70,
        "n4 broadcasts \"rollback\" on the far side",
        |sim| {
            sim.broadcast(4, b"rollback");
        },
    );
    step(
        &mut sim,
        &mut shown,
        80,
        "n0 sets config/leader = \"n0\"; 1 s later, on the far side, n3 sets \"n3\"",
        |sim| {
            sim.write(0, b"config/leader", Some(b"n0"));
        },
    );
    sim.run_until(Instant::from_secs(81));
    sim.write(3, b"config/leader", Some(b"n3"));
    step(
        &mut sim,
        &mut shown,
        90,
        "the network heals",
        Simulation::heal,
    );
    sim.run_until(Instant::from_secs(150));
    print_events(&sim, &mut shown);

    println!(
        "\nat {}: every node's view (A alive, S suspect, F failed, L left, - unknown)",
        sim.now()
    );
    print!("{:>6}", "");
    for id in 0..sim.len() as u32 {
        print!("{:>4}", Simulation::name(id));
    }
    println!("{:>10}{:>16}{:>12}", "live", "config/leader", "bytes out");
    for id in sim.running() {
        let node = sim.node(id).unwrap();
        print!("{:>6}", Simulation::name(id));
        for other in 0..sim.len() as u32 {
            let mark = match node.member(&Simulation::name(other)).map(|m| m.state()) {
                Some(MemberState::Alive) => "A",
                Some(MemberState::Suspect) => "S",
                Some(MemberState::Failed) => "F",
                Some(MemberState::Left) => "L",
                None => "-",
            };
            print!("{mark:>4}");
        }
        let leader = node
            .get(b"config/leader")
            .map_or("-".into(), String::from_utf8_lossy);
        println!(
            "{:>10}{:>16}{:>12}",
            node.live_members(),
            leader,
            node.stats().bytes_out
        );
    }
    println!(
        "\n{} datagrams delivered, {} lost; membership converged: {}; replicas agree: {}",
        sim.trace().delivered,
        sim.trace().lost,
        sim.converged(),
        sim.metrics().state_agreed_since().is_some()
    );
}

/// Runs to `at` seconds, prints what n0 saw meanwhile, then applies `action`.
fn step(
    sim: &mut Simulation,
    shown: &mut usize,
    at: u64,
    what: &str,
    action: impl FnOnce(&mut Simulation),
) {
    sim.run_until(Instant::from_secs(at));
    print_events(sim, shown);
    println!("{:>9}  ── {what}", sim.now().to_string());
    action(sim);
}

fn print_events(sim: &Simulation, shown: &mut usize) {
    for record in &sim.events()[*shown..] {
        if record.node != 0 {
            continue;
        }
        let line = &record.event;
        println!("{:>9}  n0: {line}", record.at.to_string());
    }
    *shown = sim.events().len();
}
