//! The discrete-event simulation: nodes, a queue of deliveries, wakeups and
//! scheduled actions, and virtual time.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use gossip_core::wire::{Message, MessageKind, PacketWriter, Status, Update};
use gossip_core::{BroadcastId, Config, Event, Identity, Instant, Node, StateError};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::geometry::Geometry;
use crate::metrics::{Metrics, World};
use crate::network::{Network, NodeId, unit};
use crate::replicas::{StateCheck, StateTotals, Write};

/// The generator every simulated node and the network use.
pub type SimRng = Xoshiro256PlusPlus;
/// The generator a simulated node draws its secrets from: seeded, unlike an
/// adapter's (the operating system's).
pub type SecretRng = rand_chacha::ChaCha20Rng;
/// A node as the simulator runs it: addressed by [`NodeId`].
pub type SimNode = Node<NodeId, SimRng>;

/// An event a node emitted, with when and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    /// When the node emitted it.
    pub at: Instant,
    /// The node that emitted it.
    pub node: NodeId,
    /// The event.
    pub event: Event<NodeId>,
}

/// Something that happens to the cluster at a scheduled time.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// The node stops dead.
    Crash(NodeId),
    /// The node starts again as a new generation and joins through `seeds`.
    Restart {
        /// The node.
        node: NodeId,
        /// Whom it contacts.
        seeds: Vec<NodeId>,
    },
    /// The node joins through `seeds`.
    Join {
        /// The node.
        node: NodeId,
        /// Whom it contacts.
        seeds: Vec<NodeId>,
    },
    /// The node leaves gracefully.
    Leave(NodeId),
    /// The network splits into these groups (nodes not listed form one more).
    Partition(Vec<Vec<NodeId>>),
    /// The partition ends.
    Heal,
    /// The uniform loss rate changes.
    SetLoss(f64),
    /// The node handles every incoming datagram late, in order, by a delay
    /// drawn from `min..=max`, until `until`: slow message processing (a
    /// starved or overloaded receive path). Its timers still fire on time, as
    /// in the Lifeguard paper's benchmark, so its probes time out while the
    /// acks, and the refutations of its suspicions, wait in its queue.
    Slow {
        /// The node.
        node: NodeId,
        /// End of the slow spell.
        until: Instant,
        /// Shortest added delay.
        min: Duration,
        /// Longest added delay.
        max: Duration,
    },
    /// The node broadcasts `size` bytes.
    Broadcast {
        /// The node.
        node: NodeId,
        /// Payload size.
        size: usize,
    },
    /// A running node writes `key`: the `writer`-th of the running nodes,
    /// modulo their number, so that a schedule drawn in advance always finds
    /// a live writer.
    Write {
        /// Which running node writes.
        writer: u64,
        /// The key.
        key: Vec<u8>,
        /// The value; `None` deletes the key.
        value: Option<Vec<u8>>,
    },
}

enum Task {
    Deliver {
        from: NodeId,
        to: NodeId,
        payload: Vec<u8>,
        /// Already held back by a slow receiver.
        late: bool,
    },
    Wake {
        node: NodeId,
        /// The deadline the node asked for.
        at: Instant,
    },
    Action(Action),
    Sample,
}

struct Scheduled {
    at: Instant,
    /// Insertion order: breaks ties between tasks due at the same instant.
    seq: u64,
    task: Task,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// A node's slow spell.
#[derive(Clone, Copy, Debug)]
struct Slow {
    until: Instant,
    min: Duration,
    max: Duration,
}

/// One slot of the simulation: a node while it runs.
struct Slot {
    node: Option<SimNode>,
    /// The wakeup the queue holds for this node; other queued wakeups are stale.
    wake_at: Option<Instant>,
    slow: Option<Slow>,
    /// The node has had a slow spell, so its failures to answer were real.
    was_slow: bool,
    /// A slow node handles datagrams in order: not before this.
    busy_until: Instant,
    /// This node's own configuration, if not the simulation's.
    config: Option<Config>,
}

/// Builds a [`Simulation`].
#[derive(Clone, Debug)]
pub struct SimulationBuilder {
    nodes: usize,
    config: Config,
    network: Network,
    seed: u64,
    record_events: bool,
    track_views: bool,
    sample_interval: Duration,
    round: Option<Duration>,
}

impl SimulationBuilder {
    /// Synchronous rounds of `round`: every node wakes only at multiples of it,
    /// so the timers of every node fire together at the start of each round and
    /// what they send (on a network much faster than a round) is delivered, and
    /// answered, within the round. With one contact per node per timer, that
    /// is the model of the rumor-spreading literature (Demers et al. 1987;
    /// Karp et al. 2000). Off by default.
    pub fn rounds(mut self, round: Option<Duration>) -> Self {
        self.round = round.filter(|r| !r.is_zero());
        self
    }

    /// How many nodes (all started at time zero, none joined yet).
    pub fn nodes(mut self, nodes: usize) -> Self {
        self.nodes = nodes;
        self
    }

    /// The configuration of every node.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// The network model.
    pub fn network(mut self, network: Network) -> Self {
        self.network = network;
        self
    }

    /// The seed from which every random choice in the run derives.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Keep every event every node emits (on by default; costly for large runs).
    pub fn record_events(mut self, record: bool) -> Self {
        self.record_events = record;
        self
    }

    /// Track which node counts which as live, to know when membership is full
    /// (on by default; n² bits).
    pub fn track_views(mut self, track: bool) -> Self {
        self.track_views = track;
        self
    }

    /// Resolution of the time series in [`Metrics::samples`] (1 s by default).
    pub fn sample_interval(mut self, interval: Duration) -> Self {
        self.sample_interval = interval;
        self
    }

    /// The simulation at time zero.
    pub fn build(self) -> Simulation {
        let mut sim = Simulation {
            now: Instant::ZERO,
            seed: self.seed,
            config: self.config,
            network: self.network,
            rng: SimRng::seed_from_u64(self.seed),
            queue: BinaryHeap::new(),
            next_seq: 0,
            slots: Vec::with_capacity(self.nodes),
            running: vec![false; self.nodes],
            generation: vec![0; self.nodes],
            events: Vec::new(),
            record_events: self.record_events,
            trace: Trace::default(),
            tap: None,
            filter: None,
            rewrite: None,
            metrics: Metrics::new(self.nodes, self.track_views),
            sample_interval: self.sample_interval,
            round: self.round,
        };
        for id in 0..self.nodes {
            sim.slots.push(Slot {
                node: None,
                wake_at: None,
                slow: None,
                was_slow: false,
                busy_until: Instant::ZERO,
                config: None,
            });
            sim.start(id as NodeId);
        }
        sim.push(Instant::ZERO + self.sample_interval, Task::Sample);
        sim
    }
}

/// Running totals over every delivered datagram; equal totals mean, with
/// overwhelming probability, identical runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    /// Datagrams delivered.
    pub delivered: u64,
    /// Datagrams lost by the network (loss, partition, filter, crashed receiver).
    pub lost: u64,
    /// Datagrams a node rejected.
    pub rejected: u64,
    /// FNV-1a over (time, sender, receiver, bytes) of every delivery, in order.
    pub hash: u64,
}

impl Trace {
    fn record(&mut self, at: Instant, from: NodeId, to: NodeId, payload: &[u8]) {
        const PRIME: u64 = 0x0000_0100_0000_01b3;
        if self.delivered == 0 {
            self.hash = 0xcbf2_9ce4_8422_2325;
        }
        let header = [
            at.as_nanos().to_le_bytes(),
            u64::from(from).to_le_bytes(),
            u64::from(to).to_le_bytes(),
        ];
        for &byte in header.iter().flatten().chain(payload) {
            self.hash = (self.hash ^ u64::from(byte)).wrapping_mul(PRIME);
        }
        self.delivered += 1;
    }
}

/// Sees every datagram the network carries: `(sent at, from, to, bytes, delivered)`.
pub type Tap = Box<dyn FnMut(Instant, NodeId, NodeId, &[u8], bool)>;
/// Decides whether the network delivers a datagram: `(sent at, from, to, bytes)`.
pub type Filter = Box<dyn FnMut(Instant, NodeId, NodeId, &[u8]) -> bool>;
/// Changes a datagram as it is sent: `(from, to, bytes)`. Plays a sender that
/// writes what this build would not (a newer version's messages).
pub type Rewrite = Box<dyn FnMut(NodeId, NodeId, &mut Vec<u8>)>;

/// A cluster of [`gossip_core::Node`]s on a simulated network, in virtual time.
///
/// Deterministic: one seed drives the network and seeds every node, and tasks due
/// at the same instant run in the order they were scheduled. Nodes are named
/// `n0`, `n1`, … and addressed by their index.
pub struct Simulation {
    now: Instant,
    seed: u64,
    config: Config,
    network: Network,
    rng: SimRng,
    queue: BinaryHeap<Reverse<Scheduled>>,
    next_seq: u64,
    slots: Vec<Slot>,
    /// Started, not crashed, not left; mirrors `slots` for the metrics.
    running: Vec<bool>,
    generation: Vec<u64>,
    events: Vec<Recorded>,
    record_events: bool,
    trace: Trace,
    tap: Option<Tap>,
    filter: Option<Filter>,
    rewrite: Option<Rewrite>,
    metrics: Metrics,
    sample_interval: Duration,
    round: Option<Duration>,
}

impl Simulation {
    /// A builder: 0 nodes, `Config::lan()`, the default network, seed 0.
    pub fn builder() -> SimulationBuilder {
        SimulationBuilder {
            nodes: 0,
            config: Config::lan(),
            network: Network::default(),
            seed: 0,
            record_events: true,
            round: None,
            track_views: true,
            sample_interval: Duration::from_secs(1),
        }
    }

    /// Where the nodes are, if the network has a geometry: its
    /// [`rtt`](Geometry::rtt) is the truth that RTT estimates are held to.
    pub fn geometry(&self) -> Option<&Geometry> {
        self.network.geometry_ref()
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The seed of this run.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The configuration of the nodes.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Number of node slots (running or not).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True if there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The node in slot `id`, unless crashed.
    pub fn node(&self, id: NodeId) -> Option<&SimNode> {
        self.slots.get(id as usize)?.node.as_ref()
    }

    /// Ids of the running nodes: started, not crashed, not left.
    pub fn running(&self) -> impl Iterator<Item = NodeId> + '_ {
        (0..self.slots.len() as NodeId).filter(|&id| self.running[id as usize])
    }

    /// The generation node `id` runs (or last ran) in.
    pub fn generation(&self, id: NodeId) -> u64 {
        self.generation[id as usize]
    }

    /// The name of the node in slot `id`.
    pub fn name(id: NodeId) -> String {
        format!("n{id}")
    }

    /// Every recorded event so far.
    pub fn events(&self) -> &[Recorded] {
        &self.events
    }

    /// Removes and returns the recorded events.
    pub fn take_events(&mut self) -> Vec<Recorded> {
        std::mem::take(&mut self.events)
    }

    /// What has been measured so far.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Totals over delivered datagrams.
    pub fn trace(&self) -> Trace {
        self.trace
    }

    /// Calls `tap` for every datagram sent from now on, lost or not.
    pub fn set_tap(&mut self, tap: Tap) {
        self.tap = Some(tap);
    }

    /// Drops every datagram for which `filter` returns false, on top of the
    /// network model: for targeted faults (one chunk, one link, one kind).
    pub fn set_filter(&mut self, filter: Filter) {
        self.filter = Some(filter);
    }

    /// Removes the filter.
    pub fn clear_filter(&mut self) {
        self.filter = None;
    }

    /// Passes every datagram sent from now on through `rewrite` before the
    /// filter, the tap and the network see it.
    pub fn set_rewrite(&mut self, rewrite: Rewrite) {
        self.rewrite = Some(rewrite);
    }

    /// Schedules `action` at `at` (at once if `at` is not in the future).
    pub fn schedule(&mut self, at: Instant, action: Action) {
        let at = at.max(self.now);
        self.push(at, Task::Action(action));
    }

    /// Applies `action` now.
    pub fn apply(&mut self, action: Action) {
        match action {
            Action::Crash(id) => self.crash(id),
            Action::Restart { node, seeds } => self.restart(node, &seeds),
            Action::Join { node, seeds } => self.join(node, &seeds),
            Action::Leave(id) => self.leave(id),
            Action::Partition(groups) => {
                let groups: Vec<&[NodeId]> = groups.iter().map(Vec::as_slice).collect();
                self.partition(&groups);
            }
            Action::Heal => self.heal(),
            Action::SetLoss(loss) => self.set_loss(loss),
            Action::Slow {
                node,
                until,
                min,
                max,
            } => self.slow(node, until, min, max),
            Action::Broadcast { node, size } => {
                self.broadcast(node, &vec![0xb5; size]);
            }
            Action::Write { writer, key, value } => {
                let running = self.running().count() as u64;
                let writer = writer
                    .checked_rem(running)
                    .and_then(|i| self.running().nth(i as usize));
                if let Some(node) = writer {
                    let _ = self.write(node, &key, value.as_deref());
                }
            }
        }
    }

    /// Node `id` writes `value` to `key` in the replicated store, or deletes
    /// the key if `value` is `None`; `None` if the node is not running. The
    /// write is recorded in [`Metrics::writes`] if the node acknowledges it.
    pub fn write(
        &mut self,
        id: NodeId,
        key: &[u8],
        value: Option<&[u8]>,
    ) -> Option<Result<(), StateError>> {
        let now = self.now;
        let node = self.slots[id as usize].node.as_mut()?;
        let result = match value {
            Some(value) => node.set(now, key, value),
            None => node.delete(now, key).map(|_| ()),
        };
        // Drained first: the write moves the settling point only once the
        // writer's new digest is counted.
        self.drain(id);
        match result {
            Ok(()) => self.metrics.wrote(Write {
                at: now,
                node: id,
                key: key.to_vec(),
                value: value.map(<[u8]>::to_vec),
            }),
            Err(_) => self.metrics.write_refused(),
        }
        Some(result)
    }

    /// The replicated store's counters summed over every node since the
    /// start, crashed ones included.
    pub fn state_totals(&self) -> StateTotals {
        let mut totals = self.metrics.retired_state();
        for node in self.slots.iter().filter_map(|slot| slot.node.as_ref()) {
            totals.add(node.stats());
        }
        totals
    }

    /// The running replicas held against every acknowledged write.
    pub fn check_state(&self) -> StateCheck {
        let replicas: Vec<&SimNode> = self.running().filter_map(|id| self.node(id)).collect();
        StateCheck::new(self.metrics.writes(), &replicas)
    }

    /// Node `id` broadcasts `payload`; `None` if it is not running.
    ///
    /// # Panics
    /// If the node refuses (a payload over `max_broadcast_size`).
    pub fn broadcast(&mut self, id: NodeId, payload: &[u8]) -> Option<BroadcastId> {
        let now = self.now;
        let node = self.slots[id as usize].node.as_mut()?;
        let broadcast = node.broadcast(now, payload).expect("broadcast");
        self.drain(id);
        Some(broadcast)
    }

    /// Copies of broadcasts sent (pushed, or in answer to pulls) by the nodes
    /// running now, since they started.
    pub fn broadcast_messages(&self) -> u64 {
        self.slots
            .iter()
            .filter_map(|slot| slot.node.as_ref())
            .map(|node| node.stats().datagrams.messages_out[MessageKind::Broadcast].messages)
            .sum()
    }

    /// The uniform loss rate from now on.
    pub fn set_loss(&mut self, loss: f64) {
        self.network.set_loss(loss);
    }

    /// Cuts the network: nodes in different groups cannot reach each other.
    /// Nodes not listed form one more group.
    pub fn partition(&mut self, groups: &[&[NodeId]]) {
        let mut group_of = vec![groups.len() as u32; self.slots.len()];
        for (group, members) in groups.iter().enumerate() {
            for &id in *members {
                group_of[id as usize] = group as u32;
            }
        }
        self.metrics.partitioned(self.now, &group_of);
        self.network.partition(group_of);
    }

    /// Ends any partition.
    pub fn heal(&mut self) {
        self.metrics.healed(self.now);
        self.network.heal();
    }

    /// True while the network is partitioned.
    pub fn is_partitioned(&self) -> bool {
        self.network.is_partitioned()
    }

    /// Node `id` handles every input late, by `min..=max`, until `until`.
    pub fn slow(&mut self, id: NodeId, until: Instant, min: Duration, max: Duration) {
        let slot = &mut self.slots[id as usize];
        slot.slow = Some(Slow { until, min, max });
        slot.was_slow = true;
    }

    /// True if node `id` has had a slow spell so far.
    pub fn was_slow(&self, id: NodeId) -> bool {
        self.slots.get(id as usize).is_some_and(|s| s.was_slow)
    }

    /// Delivers `payload` to `to` now, as if `from` had sent it: for datagrams a
    /// test crafts itself (forged, malformed, replayed).
    pub fn inject(&mut self, from: NodeId, to: NodeId, payload: Vec<u8>) {
        let task = Task::Deliver {
            from,
            to,
            payload,
            late: false,
        };
        self.push(self.now, task);
    }

    /// Node `id` joins through `seeds`, now.
    pub fn join(&mut self, id: NodeId, seeds: &[NodeId]) {
        let now = self.now;
        if let Some(node) = self.slots[id as usize].node.as_mut() {
            node.join(now, seeds).expect("join");
        }
        self.drain(id);
    }

    /// Every node but `seed` joins through `seed`, now.
    pub fn join_all_through(&mut self, seed: NodeId) {
        for id in 0..self.slots.len() as NodeId {
            if id != seed {
                self.join(id, &[seed]);
            }
        }
    }

    /// Every running node learns every other running node as alive, as if each
    /// had received a seed's table: the steady state of a cluster that formed
    /// long ago, without the O(n² log n) gossip of forming it.
    pub fn bootstrap_converged(&mut self) {
        let everyone: Vec<NodeId> = self.running().collect();
        let datagrams = self.state_datagrams(&everyone);
        let announcements = self.announcements();
        for &id in &everyone {
            self.deliver_state(id, everyone.len(), &datagrams);
            self.hear_from(id, &everyone, &announcements);
        }
    }

    /// Every running node learns `k` other running nodes, chosen at random: a
    /// partial view, for clusters too large for every node to know every other.
    pub fn bootstrap_sparse(&mut self, k: usize) {
        let everyone: Vec<NodeId> = self.running().collect();
        let announcements = self.announcements();
        let n = everyone.len();
        for &id in &everyone {
            let mut known = Vec::with_capacity(k);
            while known.len() < k.min(n - 1) {
                let pick = everyone[(unit(&mut self.rng) * n as f64) as usize % n];
                if pick != id && !known.contains(&pick) {
                    known.push(pick);
                }
            }
            let datagrams = self.state_datagrams(&known);
            self.deliver_state(id, known.len(), &datagrams);
            self.hear_from(id, &known, &announcements);
        }
    }

    /// Every node's announcement of itself, alive at its incarnation 0, by id.
    fn announcements(&self) -> Vec<Vec<u8>> {
        let mut buf = vec![0u8; self.config.max_packet_size];
        (0..self.slots.len() as NodeId)
            .map(|id| {
                let name = Self::name(id);
                let update: Message<'_, NodeId> = Message::Update(Update {
                    name: &name,
                    generation: self.generation[id as usize],
                    incarnation: 0,
                    status: Status::Alive {
                        addr: id,
                        metadata: b"",
                    },
                });
                let mut writer = PacketWriter::new(&mut buf, self.config.cluster_id);
                writer.push(&update).expect("an announcement fits");
                let len = writer.len();
                buf[..len].to_vec()
            })
            .collect()
    }

    /// Each of `known` announces itself to node `id` from its own address,
    /// as a cluster that has run a while has: a node gossips only to members
    /// it has heard from, not merely heard of. What `id` already knew, it
    /// counts as an update that changed nothing.
    fn hear_from(&mut self, id: NodeId, known: &[NodeId], announcements: &[Vec<u8>]) {
        let now = self.now;
        for &from in known {
            if from == id {
                continue;
            }
            let Some(node) = self.slots[id as usize].node.as_mut() else {
                return;
            };
            if node
                .handle_message(now, from, &announcements[from as usize])
                .is_err()
            {
                self.trace.rejected += 1;
            }
        }
        self.drain(id);
    }

    /// A settled (not to be re-gossiped) member table of `nodes`, alive in their
    /// current generations, as datagrams.
    fn state_datagrams(&self, nodes: &[NodeId]) -> Vec<Vec<u8>> {
        let names: Vec<String> = nodes.iter().map(|&id| Self::name(id)).collect();
        let max = self.config.max_packet_size;
        let mut bodies: Vec<Vec<u8>> = Vec::new();
        let mut body: Vec<u8> = Vec::new();
        let mut in_body = 0;
        let mut buf = vec![0u8; max];
        for (&id, name) in nodes.iter().zip(&names) {
            let update = Message::Update(Update {
                name,
                generation: self.generation[id as usize],
                incarnation: 0,
                status: Status::Alive {
                    addr: id,
                    metadata: b"",
                },
            });
            let encoded = postcard_len(&update, &mut buf);
            // Room for the header and a state opening of at most 20 bytes.
            if body.len() + encoded.len() > max - 32 || in_body == 250 {
                bodies.push(std::mem::take(&mut body));
                in_body = 0;
            }
            body.extend_from_slice(encoded);
            in_body += 1;
        }
        if !body.is_empty() {
            bodies.push(body);
        }
        let chunks = bodies.len() as u16;
        bodies
            .iter()
            .enumerate()
            .map(|(chunk, body)| {
                let mut writer = PacketWriter::new(&mut buf, self.config.cluster_id);
                let opening: Message<'_, NodeId> = Message::State {
                    session: 0,
                    reply: false,
                    fresh: false,
                    chunk: chunk as u16,
                    chunks,
                };
                writer.push(&opening).expect("an opening fits");
                writer.push_encoded(body).expect("bodies were cut to fit");
                let len = writer.len();
                buf[..len].to_vec()
            })
            .collect()
    }

    fn deliver_state(&mut self, id: NodeId, expected_members: usize, datagrams: &[Vec<u8>]) {
        let now = self.now;
        if let Some(node) = self.slots[id as usize].node.as_mut() {
            node.reserve_members(expected_members);
        }
        for datagram in datagrams {
            let Some(node) = self.slots[id as usize].node.as_mut() else {
                return;
            };
            if node.handle_message(now, id, datagram).is_err() {
                self.trace.rejected += 1;
            }
            self.drain(id);
        }
    }

    /// Node `id` leaves gracefully.
    pub fn leave(&mut self, id: NodeId) {
        let now = self.now;
        if let Some(node) = self.slots[id as usize].node.as_mut() {
            node.leave(now).expect("leave");
        }
        self.drain(id);
        self.stopped(id, false);
    }

    /// Node `id` replaces its metadata.
    pub fn set_metadata(&mut self, id: NodeId, metadata: &[u8]) {
        let now = self.now;
        if let Some(node) = self.slots[id as usize].node.as_mut() {
            node.set_metadata(now, metadata).expect("set_metadata");
        }
        self.drain(id);
    }

    /// Node `id` stops dead: no goodbye, datagrams to it are lost.
    pub fn crash(&mut self, id: NodeId) {
        let slot = &mut self.slots[id as usize];
        let Some(node) = slot.node.take() else {
            return;
        };
        slot.wake_at = None;
        self.metrics.retire(node.stats());
        self.stopped(id, true);
    }

    fn stopped(&mut self, id: NodeId, crashed: bool) {
        if !self.running[id as usize] {
            return;
        }
        self.running[id as usize] = false;
        self.metrics.state_digest(self.now, id, None);
        // Who counts the node live now: they are the ones who must learn.
        let name = Self::name(id);
        let generation = self.generation[id as usize];
        let counted_live = self
            .slots
            .iter()
            .map(|slot| {
                slot.node.as_ref().is_some_and(|node| {
                    node.member(&name)
                        .is_some_and(|m| m.state().is_live() && m.generation() == generation)
                })
            })
            .collect();
        self.metrics
            .stopped(self.now, id, generation, crashed, counted_live);
    }

    /// As [`restart`](Self::restart), with `config` for this node from now
    /// on (another key, a rolling upgrade's next step, an intruder).
    pub fn restart_with(&mut self, id: NodeId, config: Config, seeds: &[NodeId]) {
        self.slots[id as usize].config = Some(config);
        self.restart(id, seeds);
    }

    /// Runs `command` on node `id` at the current time, then sends what it
    /// put out; `None` if the node is not running. For what no [`Action`]
    /// does (rotating keys, for one).
    pub fn with_node<T>(
        &mut self,
        id: NodeId,
        command: impl FnOnce(&mut SimNode, Instant) -> T,
    ) -> Option<T> {
        let now = self.now;
        let node = self.slots[id as usize].node.as_mut()?;
        let result = command(node, now);
        self.drain(id);
        Some(result)
    }

    /// Restarts node `id` as a new generation and joins it through `seeds` (if
    /// any; with none it waits to be joined).
    pub fn restart(&mut self, id: NodeId, seeds: &[NodeId]) {
        self.crash(id);
        self.generation[id as usize] += 1;
        self.start(id);
        if !seeds.is_empty() {
            self.join(id, seeds);
        }
    }

    fn start(&mut self, id: NodeId) {
        let generation = self.generation[id as usize];
        let identity = Identity::new(&Self::name(id), id)
            .expect("valid name")
            .with_generation(generation);
        let seed = node_seed(self.seed, id, generation);
        let rng = SimRng::seed_from_u64(seed);
        // The node's secrets from a seeded ChaCha (the operating system's
        // generator in an adapter), so that a run is reproduced by its seed.
        let mut secrets = SecretRng::seed_from_u64(seed);
        let slot = &mut self.slots[id as usize];
        let config = slot.config.as_ref().unwrap_or(&self.config).clone();
        let node = Node::new(config, identity, rng, &mut secrets, self.now).expect("valid config");
        slot.node = Some(node);
        slot.wake_at = None;
        slot.slow = None;
        self.running[id as usize] = true;
        self.metrics.started(id);
        self.drain(id);
    }

    /// Runs every task due up to `end`, then sets the clock to `end`.
    pub fn run_until(&mut self, end: Instant) {
        while let Some(Reverse(next)) = self.queue.peek() {
            if next.at > end {
                break;
            }
            let Reverse(Scheduled { at, task, .. }) = self.queue.pop().expect("peeked");
            self.now = at;
            match task {
                Task::Deliver {
                    from,
                    to,
                    payload,
                    late,
                } => self.deliver(from, to, payload, late),
                Task::Wake { node, at } => self.wake(node, at),
                Task::Action(action) => self.apply(action),
                Task::Sample => self.sample(),
            }
        }
        self.now = self.now.max(end);
    }

    /// Runs for `duration` of virtual time.
    pub fn run_for(&mut self, duration: Duration) {
        self.run_until(self.now + duration);
    }

    /// When a datagram arriving now at a slow node is handled; `None` if it is not slow.
    fn held_back(&mut self, id: NodeId) -> Option<Instant> {
        let now = self.now;
        let slot = &mut self.slots[id as usize];
        let slow = slot.slow.filter(|s| s.until > now)?;
        let delay = slow.min
            + slow
                .max
                .saturating_sub(slow.min)
                .mul_f64(unit(&mut self.rng));
        let at = (now + delay).max(slot.busy_until);
        slot.busy_until = at;
        Some(at)
    }

    fn deliver(&mut self, from: NodeId, to: NodeId, payload: Vec<u8>, late: bool) {
        let now = self.now;
        if self.slots.get(to as usize).is_none_or(|s| s.node.is_none()) {
            self.trace.lost += 1;
            return;
        }
        if !late {
            if let Some(at) = self.held_back(to) {
                let task = Task::Deliver {
                    from,
                    to,
                    payload,
                    late: true,
                };
                self.push(at, task);
                return;
            }
        }
        self.trace.record(now, from, to, &payload);
        let node = self.slots[to as usize].node.as_mut().expect("checked");
        if node.handle_message(now, from, &payload).is_err() {
            self.trace.rejected += 1;
        }
        self.drain(to);
    }

    /// A node's deadline: slow or not, its timers fire on time (see
    /// [`Action::Slow`]).
    fn wake(&mut self, id: NodeId, at: Instant) {
        if self.slots[id as usize].wake_at != Some(at) {
            return; // superseded by a later poll_timeout
        }
        let now = self.now;
        let slot = &mut self.slots[id as usize];
        slot.wake_at = None;
        if let Some(node) = slot.node.as_mut() {
            node.handle_timeout(now);
            self.drain(id);
        }
    }

    fn sample(&mut self) {
        let world = World {
            running: &self.running,
            generation: &self.generation,
            groups: self.network.groups(),
        };
        let slots = &self.slots;
        let live = self
            .running
            .iter()
            .enumerate()
            .filter(|(_, r)| **r)
            .map(|(id, _)| slots[id].node.as_ref().map_or(0, |n| n.live_members()));
        self.metrics.sample(self.now, &world, live);
        self.push(self.now + self.sample_interval, Task::Sample);
    }

    fn push(&mut self, at: Instant, task: Task) {
        self.next_seq += 1;
        self.queue.push(Reverse(Scheduled {
            at,
            seq: self.next_seq,
            task,
        }));
    }

    /// The complete drain the core requires after every input: datagrams into the
    /// network, events into the metrics and the record, and the next wakeup into
    /// the queue.
    fn drain(&mut self, id: NodeId) {
        let now = self.now;
        let Some(node) = self
            .slots
            .get_mut(id as usize)
            .and_then(|s| s.node.as_mut())
        else {
            return;
        };
        let mut rewritten = Vec::new();
        while let Some(transmit) = node.poll_transmit() {
            let to = transmit.to;
            let mut payload = transmit.payload;
            if let Some(rewrite) = self.rewrite.as_mut() {
                rewritten.clear();
                rewritten.extend_from_slice(payload);
                rewrite(id, to, &mut rewritten);
                payload = &rewritten;
            }
            let mut arrivals = self.network.transit(&mut self.rng, id, to);
            if let Some(filter) = self.filter.as_mut() {
                if !filter(now, id, to, payload) {
                    arrivals = Default::default();
                }
            }
            if let Some(tap) = self.tap.as_mut() {
                tap(now, id, to, payload, !arrivals.is_empty());
            }
            let crosses_dc = self
                .network
                .geometry_ref()
                .is_some_and(|geometry| geometry.crosses(id, to));
            self.metrics.sent(id, payload.len(), crosses_dc);
            if arrivals.is_empty() {
                self.trace.lost += 1;
            }
            for delay in arrivals.iter() {
                let task = Task::Deliver {
                    from: id,
                    to,
                    payload: payload.to_vec(),
                    late: false,
                };
                self.next_seq += 1;
                self.queue.push(Reverse(Scheduled {
                    at: now + delay,
                    seq: self.next_seq,
                    task,
                }));
            }
        }
        // Before the events: a claim of convergence among them is judged
        // against the digests this input left.
        if self.running[id as usize] {
            self.metrics
                .state_digest(now, id, Some(node.state_digest()));
        }
        let world = World {
            running: &self.running,
            generation: &self.generation,
            groups: self.network.groups(),
        };
        while let Some(event) = node.poll_event() {
            self.metrics.event(now, id, &event, &world);
            if self.record_events {
                self.events.push(Recorded {
                    at: now,
                    node: id,
                    event,
                });
            }
        }
        let next = node
            .poll_timeout()
            .map(|at| round_up(at.max(now), self.round));
        let slot = &mut self.slots[id as usize];
        if next != slot.wake_at {
            slot.wake_at = next;
            if let Some(at) = next {
                self.push(at, Task::Wake { node: id, at });
            }
        }
    }

    /// True if every running node has full membership: it counts exactly the
    /// running nodes as live (alive or suspect), each in its current generation.
    pub fn converged(&self) -> bool {
        let world = World {
            running: &self.running,
            generation: &self.generation,
            groups: self.network.groups(),
        };
        let live = self
            .running()
            .map(|id| self.node(id).map_or(0, |n| n.live_members()));
        match self.metrics.all_full(&world, live) {
            Some(full) => full,
            None => self.running().all(|id| self.sees_exactly_the_running(id)),
        }
    }

    fn sees_exactly_the_running(&self, id: NodeId) -> bool {
        let node = self.node(id).expect("running");
        let running = self.running().count();
        node.live_members() == running
            && self.running().all(|other| {
                node.member(&Self::name(other)).is_some_and(|m| {
                    m.state().is_live() && m.generation() == self.generation[other as usize]
                })
            })
    }

    /// Like [`converged`](Self::converged), by asking every node about every
    /// other: O(n²), for checking the incremental bookkeeping.
    pub fn converged_by_inspection(&self) -> bool {
        self.running().all(|id| self.sees_exactly_the_running(id))
    }
}

fn postcard_len<'b>(message: &Message<'_, NodeId>, buf: &'b mut [u8]) -> &'b [u8] {
    let mut writer = PacketWriter::new(buf, 0);
    let start = writer.len();
    writer.push(message).expect("one update fits a datagram");
    let end = writer.len();
    &buf[start..end]
}

/// `at`, or the start of the next round if it falls within one.
fn round_up(at: Instant, round: Option<Duration>) -> Instant {
    let Some(round) = round else {
        return at;
    };
    let round = round.as_nanos() as u64;
    Instant::from_nanos(at.as_nanos().div_ceil(round) * round)
}

/// A distinct, reproducible seed for each node and each of its lives.
fn node_seed(seed: u64, id: NodeId, generation: u64) -> u64 {
    let mut x = seed ^ (u64::from(id) << 32) ^ generation.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}
