//! What a simulation measures: membership convergence, failure detection, false
//! positives, traffic, and their course over time.

use std::collections::HashMap;
use std::time::Duration;

use crate::network::NodeId;
use crate::replicas::{Replicas, Write};
use crate::spread::{Spread, Spreads};
use gossip_core::{Event, Instant, Member};

/// The node id a simulated member's name stands for (`n42` → 42).
pub(crate) fn id_of(name: &str) -> Option<NodeId> {
    name.strip_prefix('n')?.parse().ok()
}

/// For every (observer, subject) pair: does the observer count the subject as
/// live, in the generation the subject runs now? One bit each, so that "does
/// every node have full membership" costs O(n), not O(n²), to answer.
struct Views {
    n: usize,
    bits: Vec<u64>,
    correct: Vec<u32>,
}

impl Views {
    fn new(n: usize) -> Self {
        Views {
            n,
            bits: vec![0; (n * n).div_ceil(64)],
            correct: vec![0; n],
        }
    }

    fn set(&mut self, observer: usize, subject: usize, value: bool) {
        let bit = observer * self.n + subject;
        let word = &mut self.bits[bit / 64];
        let mask = 1 << (bit % 64);
        let was = *word & mask != 0;
        if was != value {
            *word ^= mask;
            if value {
                self.correct[observer] += 1;
            } else {
                self.correct[observer] -= 1;
            }
        }
    }

    fn clear_subject(&mut self, subject: usize) {
        for observer in 0..self.n {
            self.set(observer, subject, false);
        }
    }

    fn clear_observer(&mut self, observer: usize) {
        for subject in 0..self.n {
            self.set(observer, subject, false);
        }
    }
}

/// A crash and how the cluster learned of it.
#[derive(Clone, Debug)]
pub struct Failure {
    /// The node that crashed.
    pub node: NodeId,
    /// The generation that crashed.
    pub generation: u64,
    /// When it crashed.
    pub crashed_at: Instant,
    /// When some node first suspected it.
    pub first_suspected: Option<Instant>,
    /// When some node first declared it failed (SWIM's detection).
    pub first_failed: Option<Instant>,
    /// When every running node no longer counted it live.
    pub all_know_at: Option<Instant>,
    /// When each node learned (the infection curve of the failure rumor), in
    /// order; nodes that never counted it live are not included.
    pub learned: Vec<Instant>,
    /// The node came back (restart) before everyone knew: detection moot.
    pub superseded: bool,
    knows: Vec<bool>,
}

impl Failure {
    /// Time from the crash to the first declaration of failure.
    pub fn detection(&self) -> Option<Duration> {
        self.first_failed.map(|t| t - self.crashed_at)
    }

    /// Time from the crash until every running node knew.
    pub fn all_know(&self) -> Option<Duration> {
        self.all_know_at.map(|t| t - self.crashed_at)
    }
}

/// A node reported failed by a node that could reach it: a false alarm.
/// (Declaring failed a node cut off by a partition is what SWIM should do.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FalsePositive {
    /// When.
    pub at: Instant,
    /// Who declared it.
    pub observer: NodeId,
    /// The live node declared failed.
    pub subject: NodeId,
}

/// One point of the time series.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sample {
    /// End of the interval.
    pub at: Instant,
    /// Nodes running (started, not crashed, not left).
    pub running: usize,
    /// Running nodes with full membership.
    pub full_membership: usize,
    /// Mean over running nodes of the members each counts live.
    pub mean_live_view: f64,
    /// Datagrams sent during the interval, all nodes.
    pub messages: u64,
    /// Bytes sent during the interval, all nodes.
    pub bytes: u64,
    /// Failures declared during the interval (true or false).
    pub failures_declared: u64,
    /// False positives so far.
    pub false_positives: usize,
    /// The most running nodes whose replicated stores hold one state (equal
    /// digests): all of them when the replicas agree.
    pub state_agreeing: usize,
}

/// Everything measured in a run.
pub struct Metrics {
    views: Option<Views>,
    failures: Vec<Failure>,
    false_positives: Vec<FalsePositive>,
    suspicions: u64,
    sent_messages: Vec<u64>,
    sent_bytes: Vec<u64>,
    /// Datagrams and bytes sent between different datacentres of the geometry.
    cross_dc_messages: u64,
    cross_dc_bytes: u64,
    interval: (u64, u64, u64),
    samples: Vec<Sample>,
    full_membership_since: Option<Instant>,
    first_full_membership: Option<Instant>,
    /// When each observer began to suspect each subject, while it does.
    open_suspicions: HashMap<(NodeId, NodeId), Instant>,
    /// Every partition so far: when it began, when it healed, who was where.
    partitions: Vec<PastPartition>,
    /// Failures declared about reachable nodes, suspected while cut off.
    declared_after_heal: usize,
    spreads: Spreads,
    replicas: Replicas,
}

/// A partition of the network, kept to judge failures declared after it healed.
struct PastPartition {
    from: Instant,
    until: Option<Instant>,
    groups: Vec<u32>,
}

impl PastPartition {
    fn separated(&self, a: NodeId, b: NodeId, from: Instant, until: Instant) -> bool {
        let overlaps = self.from <= until && self.until.is_none_or(|end| end >= from);
        overlaps && self.groups.get(a as usize) != self.groups.get(b as usize)
    }
}

/// What [`Metrics`] needs to know about the simulation when it is told something.
pub(crate) struct World<'a> {
    pub(crate) running: &'a [bool],
    pub(crate) generation: &'a [u64],
    /// The partition's group of each node, while the network is partitioned.
    pub(crate) groups: Option<&'a [u32]>,
}

impl World<'_> {
    fn runs(&self, node: usize, generation: u64) -> bool {
        self.running.get(node).copied().unwrap_or(false) && self.generation[node] == generation
    }

    fn reachable(&self, a: usize, b: usize) -> bool {
        self.groups
            .is_none_or(|groups| groups.get(a) == groups.get(b))
    }
}

impl Metrics {
    pub(crate) fn new(nodes: usize, track_views: bool) -> Self {
        Metrics {
            views: track_views.then(|| Views::new(nodes)),
            failures: Vec::new(),
            false_positives: Vec::new(),
            suspicions: 0,
            sent_messages: vec![0; nodes],
            sent_bytes: vec![0; nodes],
            cross_dc_messages: 0,
            cross_dc_bytes: 0,
            interval: (0, 0, 0),
            samples: Vec::new(),
            full_membership_since: None,
            first_full_membership: None,
            open_suspicions: HashMap::new(),
            partitions: Vec::new(),
            declared_after_heal: 0,
            spreads: Spreads::new(nodes),
            replicas: Replicas::new(nodes),
        }
    }

    pub(crate) fn partitioned(&mut self, at: Instant, groups: &[u32]) {
        self.close_partition(at);
        self.partitions.push(PastPartition {
            from: at,
            until: None,
            groups: groups.to_vec(),
        });
    }

    pub(crate) fn healed(&mut self, at: Instant) {
        self.close_partition(at);
        self.replicas.healed(at);
    }

    fn close_partition(&mut self, at: Instant) {
        if let Some(last) = self.partitions.last_mut().filter(|p| p.until.is_none()) {
            last.until = Some(at);
        }
    }

    /// The replicated store of `node` holds `digest` after a drain; `None` once
    /// the node stops running.
    pub(crate) fn state_digest(&mut self, at: Instant, node: NodeId, digest: Option<u64>) {
        self.replicas.digest(at, node, digest);
    }

    /// A node acknowledged a write.
    pub(crate) fn wrote(&mut self, write: Write) {
        self.replicas.wrote(write);
    }

    /// A node refused a write.
    pub(crate) fn write_refused(&mut self) {
        self.replicas.refused();
    }

    /// A node crashed, taking its counters with it: keep those of its store.
    pub(crate) fn retire(&mut self, stats: &gossip_core::Stats) {
        self.replicas.retire(stats);
    }

    /// `from` sent a datagram of `bytes`, across datacentres if `crosses_dc`.
    pub(crate) fn sent(&mut self, from: NodeId, bytes: usize, crosses_dc: bool) {
        self.sent_messages[from as usize] += 1;
        self.sent_bytes[from as usize] += bytes as u64;
        self.interval.0 += 1;
        self.interval.1 += bytes as u64;
        if crosses_dc {
            self.cross_dc_messages += 1;
            self.cross_dc_bytes += bytes as u64;
        }
    }

    pub(crate) fn started(&mut self, node: NodeId) {
        self.spreads.restarted(node);
        // A restart before everyone knew of the crash: the cluster now learns of
        // the new life instead, so that crash has no detection to measure.
        for failure in self
            .failures
            .iter_mut()
            .filter(|f| f.node == node && f.all_know_at.is_none())
        {
            failure.superseded = true;
        }
        if let Some(views) = &mut self.views {
            views.clear_observer(node as usize);
            views.set(node as usize, node as usize, true);
        }
        // A new life suspects nobody yet.
        self.open_suspicions
            .retain(|&(observer, _), _| observer != node);
    }

    /// `node` (in generation `generation`) stops: crashed, or left.
    /// `counted_live[o]` tells whether node `o` counted it live at that moment.
    pub(crate) fn stopped(
        &mut self,
        at: Instant,
        node: NodeId,
        generation: u64,
        crashed: bool,
        counted_live: Vec<bool>,
    ) {
        let n = node as usize;
        if let Some(views) = &mut self.views {
            views.clear_subject(n);
            views.clear_observer(n);
        }
        for failure in self
            .failures
            .iter_mut()
            .filter(|f| f.node == node && f.all_know_at.is_none())
        {
            failure.superseded = true;
        }
        if crashed {
            self.failures.push(Failure {
                node,
                generation,
                crashed_at: at,
                first_suspected: None,
                first_failed: None,
                all_know_at: None,
                learned: Vec::new(),
                superseded: false,
                knows: counted_live.into_iter().map(|live| !live).collect(),
            });
        }
    }

    pub(crate) fn event(
        &mut self,
        at: Instant,
        observer: NodeId,
        event: &Event<NodeId>,
        world: &World<'_>,
    ) {
        let (member, live) = match event {
            Event::MemberJoined(m)
            | Event::MemberUpdated(m)
            | Event::MemberRecovered(m)
            | Event::MemberRestarted { member: m, .. } => {
                if let Some(subject) = id_of(m.name()) {
                    self.open_suspicions.remove(&(observer, subject));
                }
                (m, true)
            }
            Event::MemberSuspected(m) => {
                self.suspicions += 1;
                self.suspected(at, observer, m);
                (m, true)
            }
            Event::MemberFailed(m) => {
                self.interval.2 += 1;
                self.declared_failed(at, observer, m, world);
                (m, false)
            }
            Event::MemberLeft(m) => {
                if let Some(subject) = id_of(m.name()) {
                    self.open_suspicions.remove(&(observer, subject));
                }
                self.learned_gone(at, observer, m, world);
                (m, false)
            }
            Event::Broadcast(broadcast) => {
                self.spreads.delivered(at, observer, broadcast);
                return;
            }
            Event::Converged(convergence) => {
                let running = world.running.iter().filter(|&&r| r).count();
                // A claim about fewer members (a side of a partition) cannot
                // be held against every replica.
                let whole = convergence.members >= running;
                self.replicas
                    .claimed(at, observer, convergence.digest, whole);
                return;
            }
            _ => return,
        };
        let Some(subject) = id_of(member.name()) else {
            return;
        };
        if let Some(views) = &mut self.views {
            let correct = live && world.runs(subject as usize, member.generation());
            if (subject as usize) < views.n {
                views.set(observer as usize, subject as usize, correct);
            }
        }
    }

    fn suspected(&mut self, at: Instant, observer: NodeId, member: &Member<NodeId>) {
        let Some(subject) = id_of(member.name()) else {
            return;
        };
        self.open_suspicions
            .entry((observer, subject))
            .or_insert(at);
        for failure in failures_of(&mut self.failures, subject, member) {
            failure.first_suspected.get_or_insert(at);
        }
    }

    fn declared_failed(
        &mut self,
        at: Instant,
        observer: NodeId,
        member: &Member<NodeId>,
        world: &World<'_>,
    ) {
        let Some(subject) = id_of(member.name()) else {
            return;
        };
        let suspected_at = self
            .open_suspicions
            .remove(&(observer, subject))
            .unwrap_or(at);
        if world.runs(subject as usize, member.generation())
            && world.reachable(observer as usize, subject as usize)
        {
            // Suspected while a partition cut them apart, declared after it
            // healed: the failure to answer was real.
            let cut_off = self
                .partitions
                .iter()
                .any(|p| p.separated(observer, subject, suspected_at, at));
            if cut_off {
                self.declared_after_heal += 1;
            } else {
                self.false_positives.push(FalsePositive {
                    at,
                    observer,
                    subject,
                });
            }
        }
        for failure in failures_of(&mut self.failures, subject, member) {
            failure.first_failed.get_or_insert(at);
        }
        self.learned_gone(at, observer, member, world);
    }

    fn learned_gone(
        &mut self,
        at: Instant,
        observer: NodeId,
        member: &Member<NodeId>,
        world: &World<'_>,
    ) {
        let Some(subject) = id_of(member.name()) else {
            return;
        };
        let o = observer as usize;
        let open =
            failures_of(&mut self.failures, subject, member).filter(|f| f.all_know_at.is_none());
        for failure in open {
            if !failure.knows[o] {
                failure.knows[o] = true;
                failure.learned.push(at);
            }
            let everyone = world
                .running
                .iter()
                .enumerate()
                .all(|(node, &running)| !running || failure.knows[node]);
            if everyone {
                failure.all_know_at = Some(at);
            }
        }
    }

    /// Closes an interval of the time series; `live_views` gives each running
    /// node's count of live members.
    pub(crate) fn sample(
        &mut self,
        at: Instant,
        world: &World<'_>,
        live_views: impl Iterator<Item = usize>,
    ) {
        let running = world.running.iter().filter(|&&r| r).count();
        let mut total_view = 0usize;
        let mut full = 0;
        for (node, live) in world
            .running
            .iter()
            .enumerate()
            .filter(|(_, r)| **r)
            .map(|(i, _)| i)
            .zip(live_views)
        {
            total_view += live;
            let correct = self.views.as_ref().map(|v| v.correct[node] as usize);
            if correct == Some(running) && live == running {
                full += 1;
            }
        }
        let (messages, bytes, failures_declared) = std::mem::take(&mut self.interval);
        self.samples.push(Sample {
            at,
            running,
            full_membership: full,
            mean_live_view: if running == 0 {
                0.0
            } else {
                total_view as f64 / running as f64
            },
            messages,
            bytes,
            failures_declared,
            false_positives: self.false_positives.len(),
            state_agreeing: self.replicas.largest_agreeing(),
        });
        if self.views.is_some() && full == running && running > 0 {
            self.full_membership_since.get_or_insert(at);
            self.first_full_membership.get_or_insert(at);
        } else {
            self.full_membership_since = None;
        }
    }

    /// Crashes, with when they were detected and known.
    pub fn failures(&self) -> &[Failure] {
        &self.failures
    }

    /// Live nodes reported failed.
    pub fn false_positives(&self) -> &[FalsePositive] {
        &self.false_positives
    }

    /// Failures declared about running, reachable nodes that the declarer
    /// began to suspect while a partition cut them apart: right after a heal,
    /// before the member could refute. Not false positives (the member did not
    /// answer), but members wrongly missing from views for a while.
    pub fn declared_after_heal(&self) -> usize {
        self.declared_after_heal
    }

    /// Suspicions raised (every node's, true and false).
    pub fn suspicions(&self) -> u64 {
        self.suspicions
    }

    /// Every user broadcast sent, in order, with its deliveries.
    pub fn broadcasts(&self) -> &[Spread] {
        self.spreads.all()
    }

    /// Every write and delete a node acknowledged, in order.
    pub fn writes(&self) -> &[Write] {
        self.replicas.writes()
    }

    /// Writes and deletes a node refused (a key or value over its limit, a
    /// full store, a node that had left).
    pub fn writes_refused(&self) -> usize {
        self.replicas.writes_refused()
    }

    /// The later of the last acknowledged write and the last heal of a
    /// partition: from then on the replicas are to converge.
    pub fn state_settle_from(&self) -> Option<Instant> {
        self.replicas.settle_from()
    }

    /// The first time at or after [`state_settle_from`](Self::state_settle_from)
    /// that every running replica held the same state (equal digests),
    /// measured after every input of every node.
    pub fn state_converged_at(&self) -> Option<Instant> {
        self.replicas.converged_at()
    }

    /// Since when every running replica has held the same state, if they do now.
    pub fn state_agreed_since(&self) -> Option<Instant> {
        self.replicas.agreed_since()
    }

    /// The nodes' claims of convergence (`Event::Converged`) against the truth.
    pub fn convergence_claims(&self) -> crate::replicas::ConvergenceClaims {
        self.replicas.claims()
    }

    pub(crate) fn retired_state(&self) -> crate::replicas::StateTotals {
        self.replicas.retired()
    }

    /// The time series, one sample per sampling interval.
    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }

    /// Datagrams and bytes each node sent, by node id.
    pub fn traffic(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.sent_messages
            .iter()
            .copied()
            .zip(self.sent_bytes.iter().copied())
    }

    /// Datagrams sent from one datacentre to another (lost ones too); 0 without
    /// a [`Geometry`](crate::Geometry).
    pub fn cross_dc_messages(&self) -> u64 {
        self.cross_dc_messages
    }

    /// Bytes sent from one datacentre to another (in lost datagrams too): what
    /// a WAN link would carry and bill. 0 without a [`Geometry`](crate::Geometry).
    pub fn cross_dc_bytes(&self) -> u64 {
        self.cross_dc_bytes
    }

    /// Since when every running node has had full membership, if it has now
    /// (at the last sample). `None` when views are not tracked.
    pub fn full_membership_since(&self) -> Option<Instant> {
        self.full_membership_since
    }

    /// The first sample at which every running node had full membership.
    pub fn first_full_membership(&self) -> Option<Instant> {
        self.first_full_membership
    }

    /// True if views are tracked (full membership is known).
    pub fn tracks_views(&self) -> bool {
        self.views.is_some()
    }

    /// Whether every running node has full membership right now (exact, not
    /// sampled). `None` when views are not tracked.
    pub(crate) fn all_full(
        &self,
        world: &World<'_>,
        live_views: impl Iterator<Item = usize>,
    ) -> Option<bool> {
        let views = self.views.as_ref()?;
        let running = world.running.iter().filter(|&&r| r).count();
        let mut live_views = live_views;
        Some(
            world
                .running
                .iter()
                .enumerate()
                .filter(|(_, r)| **r)
                .all(|(node, _)| {
                    views.correct[node] as usize == running && live_views.next() == Some(running)
                }),
        )
    }
}

/// The crashes of `subject` that news about `member` (its name, some life) can
/// be about: lives up to the one the news is about.
fn failures_of<'f>(
    failures: &'f mut [Failure],
    subject: NodeId,
    member: &Member<NodeId>,
) -> impl Iterator<Item = &'f mut Failure> {
    let generation = member.generation();
    failures
        .iter_mut()
        .filter(move |f| f.node == subject && f.generation <= generation)
}
