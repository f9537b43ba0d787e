//! The discrete-event simulation: nodes, a queue of deliveries and wakeups, and
//! virtual time.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use gossip_core::{Config, Event, Identity, Instant, Node};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::network::{Network, NodeId};

/// The generator every simulated node and the network use.
pub type SimRng = Xoshiro256PlusPlus;
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

enum Task {
    Deliver {
        from: NodeId,
        to: NodeId,
        payload: Vec<u8>,
    },
    Wake {
        node: NodeId,
    },
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

/// One slot of the simulation: a node while it runs, its restart count always.
struct Slot {
    node: Option<SimNode>,
    generation: u64,
    /// The wakeup the queue holds for this node; other queued wakeups are stale.
    wake_at: Option<Instant>,
}

/// Builds a [`Simulation`].
#[derive(Clone, Debug)]
pub struct SimulationBuilder {
    nodes: usize,
    config: Config,
    network: Network,
    seed: u64,
    record_events: bool,
}

impl SimulationBuilder {
    /// How many nodes (all created at time zero, none joined yet).
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
            events: Vec::new(),
            record_events: self.record_events,
            trace: Trace::default(),
            tap: None,
            filter: None,
        };
        for id in 0..self.nodes {
            sim.slots.push(Slot {
                node: None,
                generation: 0,
                wake_at: None,
            });
            sim.start(id as NodeId);
        }
        sim
    }
}

/// Running totals over every delivered datagram; equal totals mean, with
/// overwhelming probability, identical runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    /// Datagrams delivered.
    pub delivered: u64,
    /// Datagrams lost by the network (loss or partition).
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
    events: Vec<Recorded>,
    record_events: bool,
    trace: Trace,
    tap: Option<Tap>,
    filter: Option<Filter>,
}

/// Decides whether the network delivers a datagram: `(sent at, from, to, bytes)`.
pub type Filter = Box<dyn FnMut(Instant, NodeId, NodeId, &[u8]) -> bool>;

/// Sees every datagram the network carries: `(sent at, from, to, bytes, delivered)`.
pub type Tap = Box<dyn FnMut(Instant, NodeId, NodeId, &[u8], bool)>;

impl Simulation {
    /// A builder: 0 nodes, `Config::lan()`, the default network, seed 0.
    pub fn builder() -> SimulationBuilder {
        SimulationBuilder {
            nodes: 0,
            config: Config::lan(),
            network: Network::default(),
            seed: 0,
            record_events: true,
        }
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The seed of this run.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Number of node slots (running or crashed).
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
        (0..self.slots.len() as NodeId).filter(|&id| self.node(id).is_some_and(|n| !n.has_left()))
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

    /// Totals over delivered datagrams.
    pub fn trace(&self) -> Trace {
        self.trace
    }

    /// The network model, to change loss or partitions mid-run.
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
        self.network.partition(group_of);
    }

    /// Ends any partition.
    pub fn heal(&mut self) {
        self.network.heal();
    }

    /// Delivers `payload` to `to` now, as if `from` had sent it: for datagrams a
    /// test crafts itself (forged, malformed, replayed).
    pub fn inject(&mut self, from: NodeId, to: NodeId, payload: Vec<u8>) {
        let task = Task::Deliver { from, to, payload };
        schedule(&mut self.queue, &mut self.next_seq, self.now, task);
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

    /// Node `id` replaces its metadata.
    pub fn set_metadata(&mut self, id: NodeId, metadata: &[u8]) {
        let now = self.now;
        if let Some(node) = self.slots[id as usize].node.as_mut() {
            node.set_metadata(now, metadata).expect("set_metadata");
        }
        self.drain(id);
    }

    /// Node `id` leaves gracefully.
    pub fn leave(&mut self, id: NodeId) {
        let now = self.now;
        if let Some(node) = self.slots[id as usize].node.as_mut() {
            node.leave(now).expect("leave");
        }
        self.drain(id);
    }

    /// Node `id` stops dead: no goodbye, datagrams to it are lost.
    pub fn crash(&mut self, id: NodeId) {
        let slot = &mut self.slots[id as usize];
        slot.node = None;
        slot.wake_at = None;
    }

    /// Restarts node `id` as a new generation and joins it through `seeds` (if
    /// any; with none it waits to be joined).
    pub fn restart(&mut self, id: NodeId, seeds: &[NodeId]) {
        self.crash(id);
        self.slots[id as usize].generation += 1;
        self.start(id);
        if !seeds.is_empty() {
            self.join(id, seeds);
        }
    }

    fn start(&mut self, id: NodeId) {
        let slot = &mut self.slots[id as usize];
        let identity = Identity::new(&Self::name(id), id)
            .expect("valid name")
            .with_generation(slot.generation);
        let rng = SimRng::seed_from_u64(node_seed(self.seed, id, slot.generation));
        let node = Node::new(self.config.clone(), identity, rng, self.now).expect("valid config");
        slot.node = Some(node);
        slot.wake_at = None;
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
                Task::Deliver { from, to, payload } => self.deliver(from, to, &payload),
                Task::Wake { node } => self.wake(node, at),
            }
        }
        self.now = self.now.max(end);
    }

    /// Runs for `duration` of virtual time.
    pub fn run_for(&mut self, duration: Duration) {
        self.run_until(self.now + duration);
    }

    fn deliver(&mut self, from: NodeId, to: NodeId, payload: &[u8]) {
        let now = self.now;
        let Some(node) = self
            .slots
            .get_mut(to as usize)
            .and_then(|s| s.node.as_mut())
        else {
            self.trace.lost += 1;
            return;
        };
        self.trace.record(now, from, to, payload);
        if node.handle_message(now, from, payload).is_err() {
            self.trace.rejected += 1;
        }
        self.drain(to);
    }

    fn wake(&mut self, id: NodeId, at: Instant) {
        let slot = &mut self.slots[id as usize];
        if slot.wake_at != Some(at) {
            return; // superseded by a later poll_timeout
        }
        slot.wake_at = None;
        if let Some(node) = slot.node.as_mut() {
            node.handle_timeout(at);
            self.drain(id);
        }
    }

    /// The complete drain the core requires after every input: datagrams into the
    /// network, events into the record, and the next wakeup into the queue.
    fn drain(&mut self, id: NodeId) {
        let now = self.now;
        let Some(slot) = self.slots.get_mut(id as usize) else {
            return;
        };
        let Some(node) = slot.node.as_mut() else {
            return;
        };
        while let Some(transmit) = node.poll_transmit() {
            let mut transit = self.network.transit(&mut self.rng, id, transmit.to);
            if let Some(filter) = self.filter.as_mut() {
                if !filter(now, id, transmit.to, transmit.payload) {
                    transit = None;
                }
            }
            if let Some(tap) = self.tap.as_mut() {
                tap(now, id, transmit.to, transmit.payload, transit.is_some());
            }
            match transit {
                Some(delay) => {
                    let task = Task::Deliver {
                        from: id,
                        to: transmit.to,
                        payload: transmit.payload.to_vec(),
                    };
                    schedule(&mut self.queue, &mut self.next_seq, now + delay, task);
                }
                None => self.trace.lost += 1,
            }
        }
        while let Some(event) = node.poll_event() {
            if self.record_events {
                self.events.push(Recorded {
                    at: now,
                    node: id,
                    event,
                });
            }
        }
        let next = node.poll_timeout().map(|at| at.max(now));
        if next != slot.wake_at {
            slot.wake_at = next;
            if let Some(at) = next {
                schedule(
                    &mut self.queue,
                    &mut self.next_seq,
                    at,
                    Task::Wake { node: id },
                );
            }
        }
    }

    /// True if every running node has full membership: it counts exactly the
    /// running nodes as live (alive or suspect), each in its current generation.
    pub fn converged(&self) -> bool {
        self.running().all(|id| self.sees_exactly_the_running(id))
    }

    fn sees_exactly_the_running(&self, id: NodeId) -> bool {
        let node = self.node(id).expect("running");
        let running = self.running().count();
        if node.live_members() != running {
            return false;
        }
        self.running().all(|other| {
            node.member(&Self::name(other)).is_some_and(|m| {
                m.state().is_live() && m.generation() == self.slots[other as usize].generation
            })
        })
    }
}

fn schedule(
    queue: &mut BinaryHeap<Reverse<Scheduled>>,
    next_seq: &mut u64,
    at: Instant,
    task: Task,
) {
    *next_seq += 1;
    queue.push(Reverse(Scheduled {
        at,
        seq: *next_seq,
        task,
    }));
}

/// A distinct, reproducible seed for each node and each of its lives.
fn node_seed(seed: u64, id: NodeId, generation: u64) -> u64 {
    let mut x = seed ^ (u64::from(id) << 32) ^ generation.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}
