//! Target `cluster`: five simulated nodes under a schedule of faults drawn
//! from the fuzzer's bytes (crashes, restarts, partitions, heals, loss up to
//! 50%, slow nodes, writes, deletes and broadcasts) must converge once the
//! faults stop: every running node sees exactly the running ones alive, and
//! every running replica holds the same state. A node restarted through a
//! seed that has since crashed is pointed at a running one when the faults
//! stop.

use std::time::Duration;

use arbitrary::{Result, Unstructured};

use crate::{Action, Network, NodeId, Simulation};

const NODES: NodeId = 5;
/// Most faults in one schedule.
const MAX_FAULTS: usize = 16;
/// How long the cluster has to converge after the last fault. Most runs
/// converge within a minute; the slowest wait for a push-pull with a failed
/// member to pick the right one (one member alone, knowing the others only as
/// failed, picks one of them at random every 30 s with `Config::lan()`), so the
/// bound is far beyond what a run needs rather than what most take.
const QUIET: Duration = Duration::from_secs(1_800);
/// How often convergence is looked at during the quiet period.
const LOOK: Duration = Duration::from_secs(5);

/// Target `cluster`: panics if the cluster has not converged when the quiet
/// period ends.
pub fn cluster(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let seed = u.arbitrary().unwrap_or(0);
    let mut sim = Simulation::builder()
        .nodes(NODES as usize)
        .network(Network::default())
        .seed(seed)
        .build();
    sim.join_all_through(0);
    sim.run_for(Duration::from_secs(2));
    let mut faults = Vec::new();
    while !u.is_empty() && faults.len() < MAX_FAULTS {
        let Ok((after, fault)) = fault(&mut u, &sim) else {
            break;
        };
        sim.run_for(after);
        faults.push(format!("+{after:?} {fault:?}"));
        sim.apply(fault);
    }

    // The faults stop: the network heals and is lossless, crashed nodes stay
    // down. A node still joining through seeds that are all gone is given a
    // running one, as an operator (or a longer seed list) would: no protocol
    // can find a cluster whose every address it lacks.
    sim.heal();
    sim.set_loss(0.0);
    let running: Vec<NodeId> = sim.running().collect();
    for &id in &running {
        if sim.node(id).is_some_and(|n| n.is_joining()) {
            if let Some(&seed) = running.iter().find(|&&other| other != id) {
                sim.join(id, &[seed]);
            }
        }
    }
    if std::env::var_os("GOSSIP_FUZZ_TRACE").is_some() {
        sim.set_tap(Box::new(|at, from, to, bytes, delivered| {
            let kinds: Vec<String> = gossip_core::wire::decode::<NodeId>(bytes, 0)
                .map(|p| p.flatten().map(|m| format!("{:?}", m.kind())).collect())
                .unwrap_or_default();
            eprintln!("{at} n{from} -> n{to} {kinds:?} delivered {delivered}");
        }));
    }
    let quiet_until = sim.now() + QUIET;
    while sim.now() < quiet_until {
        sim.run_for(LOOK);
        if sim.converged_by_inspection() && state_agrees(&sim) {
            return;
        }
    }
    let views: Vec<String> = sim.running().map(|id| view(&sim, id)).collect();
    panic!(
        "not converged {QUIET:?} after the faults stopped (membership {}, state {});\n\
         views:\n{}\nfaults:\n{}",
        if sim.converged_by_inspection() {
            "agrees"
        } else {
            "differs"
        },
        if state_agrees(&sim) {
            "agrees"
        } else {
            "differs"
        },
        views.join("\n"),
        faults.join("\n")
    );
}

/// What node `id` knows: each member's name, generation and state.
fn view(sim: &Simulation, id: NodeId) -> String {
    let Some(node) = sim.node(id) else {
        return format!("n{id}: stopped");
    };
    let members: Vec<String> = node
        .members()
        .map(|m| format!("{} g{} {:?}", m.name(), m.generation(), m.state()))
        .collect();
    let stats = node.stats();
    format!(
        "n{id} (g{}{}): {}; push-pulls {}, states sent {}, cookies sent {} ignored {}, \
         unpadded requests {}",
        sim.generation(id),
        if node.is_joining() { ", joining" } else { "" },
        members.join(", "),
        stats.push_pulls,
        stats.states_sent,
        stats.cookies_sent,
        stats.cookies_ignored,
        stats.unpadded_requests,
    )
}

/// Every running replica holds the same state.
fn state_agrees(sim: &Simulation) -> bool {
    let mut digests = sim
        .running()
        .filter_map(|id| sim.node(id).map(|n| n.state_digest()));
    let first = digests.next();
    digests.all(|d| Some(d) == first)
}

/// The wait before the next fault, and the fault.
fn fault(u: &mut Unstructured<'_>, sim: &Simulation) -> Result<(Duration, Action)> {
    let after = Duration::from_millis(u.int_in_range(0..=10_000)?);
    let node = u.int_in_range(0..=NODES - 1)?;
    let action = match u.int_in_range(0..=7u8)? {
        0 => Action::Crash(node),
        1 => Action::Restart {
            node,
            // Through a running node, if there is one.
            seeds: sim.running().filter(|&id| id != node).take(1).collect(),
        },
        2 => {
            let side: Vec<NodeId> = (0..NODES)
                .filter(|_| u.arbitrary().unwrap_or(false))
                .collect();
            Action::Partition(vec![side])
        }
        3 => Action::Heal,
        4 => Action::SetLoss(f64::from(u.int_in_range(0..=50u8)?) / 100.0),
        5 => Action::Slow {
            node,
            until: sim.now() + after + Duration::from_millis(u.int_in_range(1_000..=10_000)?),
            min: Duration::from_millis(u.int_in_range(0..=500)?),
            max: Duration::from_millis(u.int_in_range(500..=2_000)?),
        },
        6 => Action::Write {
            writer: u.arbitrary()?,
            key: vec![b'k', u.int_in_range(b'0'..=b'7')?],
            value: if u.arbitrary()? {
                Some(vec![b'v'; u.int_in_range(0..=40)?])
            } else {
                None
            },
        },
        _ => Action::Broadcast {
            node,
            size: u.int_in_range(0..=100)?,
        },
    };
    Ok((after, action))
}
