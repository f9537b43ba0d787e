//! The replicated store across the cluster: the writes the nodes acknowledged,
//! when every running replica came to hold the same state, and whether the
//! state they end with is the one those writes call for.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use gossip_core::wire::MessageKind;
use gossip_core::{Instant, Stats, TrafficByKind};
use serde::Serialize;

use crate::network::NodeId;
use crate::simulation::SimNode;

/// A write (or delete) to the replicated store that a node acknowledged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    /// When.
    pub at: Instant,
    /// The node that made it.
    pub node: NodeId,
    /// The key.
    pub key: Vec<u8>,
    /// The value written; `None` for a delete.
    pub value: Option<Vec<u8>>,
}

/// Writes this far apart are ordered the same by the nodes' hybrid logical
/// clocks as by virtual time. Their stamps count milliseconds of one clock
/// that every simulated node shares, so 1 ms would do; a second leaves room.
pub const CLEAR_ORDER: Duration = Duration::from_secs(1);

/// The message kinds of the replicated store.
pub const STATE_KINDS: [MessageKind; 4] = [
    MessageKind::KeyEntry,
    MessageKind::StateRoot,
    MessageKind::SyncHashes,
    MessageKind::SyncEntries,
];

/// The replicated store's counters, summed over nodes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StateTotals {
    /// Messages sent, of every kind (not only [`STATE_KINDS`]).
    pub traffic: TrafficByKind,
    /// `Stats::key_changes_received`.
    pub key_changes_received: u64,
    /// `Stats::keys_refused`.
    pub keys_refused: u64,
    /// `Stats::state_syncs`: anti-entropy rounds started.
    pub syncs: u64,
    /// `Stats::state_sync_steps`: tree levels compared.
    pub sync_steps: u64,
    /// `Stats::state_syncs_in_sync`: rounds that found the replicas equal.
    pub syncs_in_sync: u64,
    /// `Stats::state_sync_entries_sent`.
    pub sync_entries_sent: u64,
}

impl StateTotals {
    /// Adds one node's counters.
    pub(crate) fn add(&mut self, stats: &Stats) {
        for (kind, sent) in stats.datagrams.messages_out.iter() {
            let total = &mut self.traffic[kind];
            total.messages += sent.messages;
            total.bytes += sent.bytes;
        }
        self.key_changes_received += stats.state.key_changes_received;
        self.keys_refused += stats.state.keys_refused;
        self.syncs += stats.state.state_syncs;
        self.sync_steps += stats.state.state_sync_steps;
        self.syncs_in_sync += stats.state.state_syncs_in_sync;
        self.sync_entries_sent += stats.state.state_sync_entries_sent;
    }
}

/// What the running replicas hold, held against the writes they acknowledged
/// under last-writer-wins (the only policy scenarios run). Violations count
/// keys, each once however many replicas are wrong about it. Meaningful once
/// the replicas have converged: before, a write still spreading counts as lost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StateCheck {
    /// Keys written.
    pub keys: usize,
    /// Keys whose last write came [`CLEAR_ORDER`] or more after the one
    /// before: that write must have won.
    pub ordered_keys: usize,
    /// Keys a running replica holds a value of that no acknowledged write
    /// allows: of an ordered key, other than its last write's value; of any
    /// other, neither a value written nor (if one was deleted) absence. Keys
    /// nobody wrote count too. Must be 0 (a node that crashes before its
    /// write spread does lose it).
    pub lost_writes: usize,
    /// Ordered keys whose last write was a delete, yet a running replica
    /// holds a value. Must be 0.
    pub resurrected_deletes: usize,
    /// Keys running replicas hold different values of.
    pub divergent_keys: usize,
    /// Writes made less than [`CLEAR_ORDER`] after another node's write to the
    /// same key: most of them concurrent (neither writer had seen the other's
    /// write), for last-writer-wins to resolve.
    pub close_writes: usize,
}

impl StateCheck {
    /// Checks `replicas` (the running nodes) against `writes`.
    pub(crate) fn new(writes: &[Write], replicas: &[&SimNode]) -> Self {
        // Writes are recorded as they are made: each key's list is in time order.
        let mut by_key: HashMap<&[u8], Vec<&Write>> = HashMap::new();
        for write in writes {
            by_key.entry(&write.key).or_default().push(write);
        }
        let mut check = StateCheck {
            keys: by_key.len(),
            ..StateCheck::default()
        };
        for (key, writes) in &by_key {
            let held: Vec<Option<&[u8]>> = replicas.iter().map(|node| node.get(key)).collect();
            if held.iter().any(|value| *value != held[0]) {
                check.divergent_keys += 1;
            }
            check.close_writes += writes
                .windows(2)
                .filter(|pair| {
                    pair[0].node != pair[1].node && pair[1].at - pair[0].at < CLEAR_ORDER
                })
                .count();
            let last = writes[writes.len() - 1];
            let ordered = match writes.len() {
                1 => true,
                n => last.at - writes[n - 2].at >= CLEAR_ORDER,
            };
            if ordered {
                check.ordered_keys += 1;
                let winner = last.value.as_deref();
                if held.iter().any(|value| *value != winner) {
                    match winner {
                        None => check.resurrected_deletes += 1,
                        Some(_) => check.lost_writes += 1,
                    }
                }
            } else {
                let written =
                    |value: &Option<&[u8]>| writes.iter().any(|w| w.value.as_deref() == *value);
                if !held.iter().all(written) {
                    check.lost_writes += 1;
                }
            }
        }
        let unwritten: HashSet<&[u8]> = replicas
            .iter()
            .flat_map(|node| node.entries())
            .map(|(key, _)| key)
            .filter(|key| !by_key.contains_key(key))
            .collect();
        check.lost_writes += unwritten.len();
        check
    }
}

/// How the nodes' own estimates of convergence (`Event::Converged`) held
/// against the truth the simulator sees.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct ConvergenceClaims {
    /// Running nodes whose last claim is of the state they all hold at the end.
    pub claimed: usize,
    /// Median time from the true convergence to those claims, seconds (a
    /// claim made before it counts as 0 and as premature).
    pub lag_median_s: Option<f64>,
    /// The longest such time, seconds.
    pub lag_max_s: Option<f64>,
    /// Claims about every running node made after the last write and heal
    /// while some running replica held another state. (A claim while writes
    /// go on races them; one on a side of a partition is about that side.)
    pub premature: usize,
}

/// The writes of a run and the agreement of the running replicas, kept up to
/// date on every drain: each node's digest, and how many running nodes hold
/// each digest, so that "do all agree" costs O(1).
#[derive(Default)]
pub(crate) struct Replicas {
    /// Each node's state digest while it runs.
    digests: Vec<Option<u64>>,
    /// Running nodes by the digest they hold.
    holders: HashMap<u64, usize>,
    writes: Vec<Write>,
    refused: usize,
    /// The later of the last acknowledged write and the last heal.
    settle_from: Option<Instant>,
    /// Since when every running replica holds the same digest, while they do.
    agreed_since: Option<Instant>,
    /// The first time at or after `settle_from` that they all did.
    converged_at: Option<Instant>,
    /// Counters of the nodes that crashed (their stats went with them).
    retired: StateTotals,
    /// Each running node's last claim of convergence: when, and of which digest.
    claims: Vec<Option<(Instant, u64)>>,
    /// When claims about every running node were made while some running
    /// replica held another digest.
    mistaken_claims: Vec<Instant>,
}

impl Replicas {
    pub(crate) fn new(nodes: usize) -> Self {
        Replicas {
            digests: vec![None; nodes],
            claims: vec![None; nodes],
            ..Replicas::default()
        }
    }

    /// `node` holds `digest` now; `None` when it stops running.
    pub(crate) fn digest(&mut self, at: Instant, node: NodeId, digest: Option<u64>) {
        if digest.is_none() {
            self.claims[node as usize] = None;
        }
        let slot = &mut self.digests[node as usize];
        if *slot == digest {
            return;
        }
        if let Some(old) = std::mem::replace(slot, digest) {
            let count = self.holders.get_mut(&old).expect("counted");
            *count -= 1;
            if *count == 0 {
                self.holders.remove(&old);
            }
        }
        if let Some(new) = digest {
            *self.holders.entry(new).or_insert(0) += 1;
        }
        self.update(at);
    }

    /// `node` estimates that every member holds `digest` now; `whole` if it
    /// counts every running node a member.
    pub(crate) fn claimed(&mut self, at: Instant, node: NodeId, digest: u64, whole: bool) {
        self.claims[node as usize] = Some((at, digest));
        let all_hold = self.holders.len() == 1 && self.holders.contains_key(&digest);
        if whole && !all_hold {
            self.mistaken_claims.push(at);
        }
    }

    /// The nodes' claims held against the truth.
    pub(crate) fn claims(&self) -> ConvergenceClaims {
        let agreed = match (self.agreed_since, self.converged_at) {
            (Some(_), Some(at)) => self.holders.keys().next().map(|&digest| (digest, at)),
            _ => None,
        };
        let mut lags: Vec<Duration> = agreed
            .map(|(digest, converged)| {
                self.claims
                    .iter()
                    .flatten()
                    .filter(|(_, claimed)| *claimed == digest)
                    .map(|(at, _)| at.saturating_duration_since(converged))
                    .collect()
            })
            .unwrap_or_default();
        lags.sort_unstable();
        ConvergenceClaims {
            claimed: lags.len(),
            lag_median_s: lags.get(lags.len() / 2).map(Duration::as_secs_f64),
            lag_max_s: lags.last().map(Duration::as_secs_f64),
            premature: self
                .mistaken_claims
                .iter()
                .filter(|&&at| self.settle_from.is_some_and(|from| from <= at))
                .count(),
        }
    }

    pub(crate) fn wrote(&mut self, write: Write) {
        let at = write.at;
        self.writes.push(write);
        self.settle_after(at);
    }

    pub(crate) fn refused(&mut self) {
        self.refused += 1;
    }

    pub(crate) fn healed(&mut self, at: Instant) {
        self.settle_after(at);
    }

    pub(crate) fn retire(&mut self, stats: &Stats) {
        self.retired.add(stats);
    }

    fn settle_after(&mut self, at: Instant) {
        self.settle_from = Some(at);
        self.converged_at = None;
        self.update(at);
    }

    fn update(&mut self, at: Instant) {
        if self.holders.len() != 1 {
            self.agreed_since = None;
            return;
        }
        self.agreed_since.get_or_insert(at);
        if self.settle_from.is_some_and(|from| from <= at) {
            self.converged_at.get_or_insert(at);
        }
    }

    pub(crate) fn writes(&self) -> &[Write] {
        &self.writes
    }

    pub(crate) fn writes_refused(&self) -> usize {
        self.refused
    }

    pub(crate) fn settle_from(&self) -> Option<Instant> {
        self.settle_from
    }

    pub(crate) fn agreed_since(&self) -> Option<Instant> {
        self.agreed_since
    }

    pub(crate) fn converged_at(&self) -> Option<Instant> {
        self.converged_at
    }

    /// The most running replicas that hold one digest.
    pub(crate) fn largest_agreeing(&self) -> usize {
        self.holders.values().copied().max().unwrap_or(0)
    }

    pub(crate) fn retired(&self) -> StateTotals {
        self.retired.clone()
    }
}
