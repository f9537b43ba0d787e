//! Target `cluster`: five simulated nodes under a schedule of faults drawn
//! from the fuzzer's bytes (crashes, restarts, partitions, heals, loss up to
//! 50%, slow nodes, writes, deletes and broadcasts) must converge once the
//! faults stop: every running node sees exactly the running ones alive, and
//! every running replica holds the same state. Groups of running nodes
//! that know none of each other's addresses (their bridges crashed) are
//! joined through one another when the faults stop, as an operator would.

use std::time::Duration;

use arbitrary::{Result, Unstructured};

use crate::{Action, Network, NodeId, Simulation};

const NODES: NodeId = 5;
/// Most faults in one schedule.
const MAX_FAULTS: usize = 16;
/// How long the cluster has to converge after the last fault. Most runs
/// converge within a minute; the slowest wait for a push-pull with a failed
/// member to pick the right one (one member alone, knowing the others only as
/// failed, picks one of them at random every 30 s with `Config::lan()`; a
/// member it knows only from others' tables, one round in 8), so the bound is
/// far beyond what a run needs rather than what most take.
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
    // down. Running nodes that know no address of each other's (the members
    // bridging them crashed, or a restart's seed did) cannot meet by any
    // protocol: each such group is joined through the first, as an operator
    // (or a seed list) would.
    sim.heal();
    sim.set_loss(0.0);
    let groups = acquainted_groups(&sim);
    for group in groups.iter().skip(1) {
        sim.join(group[0], &[groups[0][0]]);
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

/// The running nodes in groups: two are in one group if either has the
/// other's address in its table (as any generation, in any state), directly
/// or through others.
fn acquainted_groups(sim: &Simulation) -> Vec<Vec<NodeId>> {
    let running: Vec<NodeId> = sim.running().collect();
    let knows = |a: NodeId, b: NodeId| {
        sim.node(a)
            .is_some_and(|node| node.members().any(|m| *m.addr() == b))
    };
    // Each merge relabels both groups whole, so one pass over the pairs
    // leaves every acquainted pair in one group.
    let mut group_of: Vec<usize> = (0..running.len()).collect();
    for i in 0..running.len() {
        for j in 0..running.len() {
            let (gi, gj) = (group_of[i], group_of[j]);
            if gi != gj && (knows(running[i], running[j]) || knows(running[j], running[i])) {
                let low = gi.min(gj);
                for g in group_of.iter_mut().filter(|g| **g == gi || **g == gj) {
                    *g = low;
                }
            }
        }
    }
    let mut groups: std::collections::BTreeMap<usize, Vec<NodeId>> = Default::default();
    for (&id, &group) in running.iter().zip(&group_of) {
        groups.entry(group).or_default().push(id);
    }
    groups.into_values().collect()
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
        stats.exchange.push_pulls,
        stats.exchange.states_sent,
        stats.exchange.cookies_sent,
        stats.exchange.cookies_ignored,
        stats.exchange.unpadded_requests,
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
