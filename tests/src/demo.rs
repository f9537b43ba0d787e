//! The `virtual_cluster` example's story, here so that the README check runs
//! it in-process and quotes what it prints.

use std::fmt::Write;

use gossip_core::{Instant, MemberState};

use crate::{Network, Simulation};

/// What [`virtual_cluster`] printed, and the figures the README tells of it.
#[derive(Clone, Debug)]
pub struct VirtualCluster {
    /// Everything the example prints, line by line.
    pub output: String,
    /// Seconds from the heal until `n0` recorded its first event after it:
    /// the two halves met again.
    pub met_after_heal_s: Option<f64>,
}

/// When the network heals, in seconds.
const HEAL_AT: u64 = 90;

/// Six nodes in virtual time (seed 7, 1% loss): they join, one crashes, one
/// broadcasts, one writes a key, one leaves, the crashed one restarts, the
/// network splits (a broadcast is sent and the key written on both sides)
/// and heals. Returns what node `n0` saw, then every node's view.
pub fn virtual_cluster() -> VirtualCluster {
    let mut sim = Simulation::builder()
        .nodes(6)
        .network(Network::default().loss(0.01))
        .seed(7)
        .build();
    let mut story = Story {
        out: String::new(),
        shown: 0,
    };

    story.step(&mut sim, 0, "n1..n5 join through n0", |sim| {
        sim.join_all_through(0)
    });
    story.step(&mut sim, 10, "n3 crashes", |sim| sim.crash(3));
    story.step(&mut sim, 20, "n2 broadcasts \"deploy v2\"", |sim| {
        sim.broadcast(2, b"deploy v2");
    });
    story.step(&mut sim, 25, "n1 sets config/leader = \"n1\"", |sim| {
        sim.write(1, b"config/leader", Some(b"n1"));
    });
    story.step(&mut sim, 30, "n5 leaves gracefully", |sim| sim.leave(5));
    story.step(
        &mut sim,
        35,
        "n3 restarts (generation 1) and rejoins",
        |sim| sim.restart(3, &[1]),
    );
    story.step(
        &mut sim,
        45,
        "the network splits: {n0, n1} | {n2, n3, n4}",
        |sim| sim.partition(&[&[0, 1], &[2, 3, 4]]),
    );
    story.step(
        &mut sim,
        70,
        "n4 broadcasts \"rollback\" on the far side",
        |sim| {
            sim.broadcast(4, b"rollback");
        },
    );
    story.step(
        &mut sim,
        80,
        "n0 sets config/leader = \"n0\"; 1 s later, on the far side, n3 sets \"n3\"",
        |sim| {
            sim.write(0, b"config/leader", Some(b"n0"));
        },
    );
    sim.run_until(Instant::from_secs(81));
    sim.write(3, b"config/leader", Some(b"n3"));
    story.step(&mut sim, HEAL_AT, "the network heals", Simulation::heal);
    let healed = story.shown;
    sim.run_until(Instant::from_secs(150));
    let met_after_heal_s = sim.events()[healed..]
        .iter()
        .find(|r| r.node == 0)
        .map(|r| (r.at - Instant::from_secs(HEAL_AT)).as_secs_f64());
    story.events(&sim);

    let out = &mut story.out;
    let _ = writeln!(
        out,
        "\nat {}: every node's view (A alive, S suspect, F failed, L left, - unknown)",
        sim.now()
    );
    let _ = write!(out, "{:>6}", "");
    for id in 0..sim.len() as u32 {
        let _ = write!(out, "{:>4}", Simulation::name(id));
    }
    let _ = writeln!(
        out,
        "{:>10}{:>16}{:>12}",
        "live", "config/leader", "bytes out"
    );
    for id in sim.running() {
        let node = sim.node(id).expect("running");
        let _ = write!(out, "{:>6}", Simulation::name(id));
        for other in 0..sim.len() as u32 {
            let mark = match node.member(&Simulation::name(other)).map(|m| m.state()) {
                Some(MemberState::Alive) => "A",
                Some(MemberState::Suspect) => "S",
                Some(MemberState::Failed) => "F",
                Some(MemberState::Left) => "L",
                None => "-",
            };
            let _ = write!(out, "{mark:>4}");
        }
        let leader = node
            .get(b"config/leader")
            .map_or("-".into(), String::from_utf8_lossy);
        let _ = writeln!(
            out,
            "{:>10}{:>16}{:>12}",
            node.live_members(),
            leader,
            node.stats().datagrams.bytes_out
        );
    }
    let _ = writeln!(
        out,
        "\n{} datagrams delivered, {} lost; membership converged: {}; replicas agree: {}",
        sim.trace().delivered,
        sim.trace().lost,
        sim.converged(),
        sim.metrics().state_agreed_since().is_some()
    );
    VirtualCluster {
        output: story.out,
        met_after_heal_s,
    }
}

/// The text so far, and how many recorded events it has gone through.
struct Story {
    out: String,
    shown: usize,
}

impl Story {
    /// Runs to `at` seconds, tells what n0 saw meanwhile, then applies `action`.
    fn step(
        &mut self,
        sim: &mut Simulation,
        at: u64,
        what: &str,
        action: impl FnOnce(&mut Simulation),
    ) {
        sim.run_until(Instant::from_secs(at));
        self.events(sim);
        let _ = writeln!(self.out, "{:>9}  ── {what}", sim.now().to_string());
        action(sim);
    }

    /// The events n0 recorded since the last call.
    fn events(&mut self, sim: &Simulation) {
        for record in sim.events()[self.shown..].iter().filter(|r| r.node == 0) {
            let _ = writeln!(
                self.out,
                "{:>9}  n0: {}",
                record.at.to_string(),
                record.event
            );
        }
        self.shown = sim.events().len();
    }
}
