//! Helpers for the crate's unit tests: a node and hand-made datagrams.

use alloc::vec::Vec;

use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::member::{Member, MemberState, Metadata};
use crate::wire::{Message, PacketWriter, Status, Update};
use crate::{Config, Event, Identity, Instant, Node, NodeName};

pub(crate) type TestNode = Node<u32, Xoshiro256PlusPlus>;

/// The secret generator of test node `seed`: seeded, as a simulator's.
pub(crate) fn secrets(seed: u64) -> rand_chacha::ChaCha20Rng {
    rand_chacha::ChaCha20Rng::seed_from_u64(seed ^ 0x5ec2_e75e_ed00_0000)
}

/// Node "self" at address 0, generation 5, with nothing drained yet.
pub(crate) fn node() -> TestNode {
    node_with(Config::lan())
}

/// [`node`] with another configuration.
pub(crate) fn node_with(config: Config) -> TestNode {
    node_named("self", 0, config)
}

/// Node `name` at `addr`, generation 5.
pub(crate) fn node_named(name: &str, addr: u32, config: Config) -> TestNode {
    let identity = Identity::new(name, addr).unwrap().with_generation(5);
    Node::new(
        config,
        identity,
        Xoshiro256PlusPlus::seed_from_u64(1),
        &mut secrets(u64::from(addr)),
        Instant::ZERO,
    )
    .unwrap()
}

/// [`node_with`] knowing members "a", "b" and "c" at addresses 1, 2 and 3,
/// each heard from (it announced itself), with everything it had to say
/// about them drained.
pub(crate) fn with_three_members(config: Config) -> TestNode {
    let mut n = node_with(config);
    for (name, addr) in [("a", 1), ("b", 2), ("c", 3)] {
        announce(&mut n, name, addr);
    }
    drain_transmits(&mut n);
    events(&mut n);
    n
}

/// Member `name` announces itself alive, from its own address `addr`: the
/// node knows it and has heard from it.
pub(crate) fn announce(n: &mut TestNode, name: &str, addr: u32) {
    let now = n.now();
    n.handle_message(now, addr, &datagram(&[update(name, 0, 0, alive(addr))]))
        .unwrap();
}

pub(crate) fn datagram(messages: &[Message<'_, u32>]) -> Vec<u8> {
    let mut buf = alloc::vec![0u8; 1400];
    let mut writer = PacketWriter::new(&mut buf, 0);
    for message in messages {
        writer.push(message).unwrap();
    }
    let len = writer.len();
    buf.truncate(len);
    buf
}

pub(crate) fn update<'a>(
    name: &'a str,
    generation: u64,
    incarnation: u64,
    status: Status<'a, u32>,
) -> Message<'a, u32> {
    Message::Update(Update {
        name,
        generation,
        incarnation,
        status,
    })
}

pub(crate) fn alive(addr: u32) -> Status<'static, u32> {
    Status::Alive {
        addr,
        metadata: b"",
    }
}

pub(crate) fn suspect() -> Status<'static, u32> {
    Status::Suspect { by: "someone" }
}

/// Feeds one gossip datagram from address 99 at `at` seconds.
pub(crate) fn gossip(node: &mut TestNode, at: u64, messages: &[Message<'_, u32>]) {
    node.handle_message(Instant::from_secs(at), 99, &datagram(messages))
        .unwrap();
}

pub(crate) fn events(node: &mut TestNode) -> Vec<Event<u32>> {
    core::iter::from_fn(|| node.poll_event()).collect()
}

pub(crate) fn drain_transmits(node: &mut TestNode) -> Vec<(u32, Vec<u8>)> {
    let mut out = Vec::new();
    while let Some(t) = node.poll_transmit() {
        out.push((t.to, t.payload.to_vec()));
    }
    out
}

/// Every message of every datagram, with its destination. Decoding borrows from
/// the datagrams, which are leaked: this is a test.
pub(crate) fn messages(sent: Vec<(u32, Vec<u8>)>) -> Vec<(u32, Message<'static, u32>)> {
    sent.into_iter()
        .flat_map(|(to, bytes)| {
            let bytes: &'static [u8] = Vec::leak(bytes);
            crate::wire::decode::<u32>(bytes, 0)
                .unwrap()
                .map(move |m| (to, m.unwrap()))
        })
        .collect()
}

/// Wakes `node` at each of its deadlines up to `until`, feeding nothing, and
/// returns what it sent.
pub(crate) fn run_until(n: &mut TestNode, until: Instant) -> Vec<(u32, Vec<u8>)> {
    let mut sent = drain_transmits(n);
    while let Some(at) = n.poll_timeout().filter(|&at| at <= until) {
        n.handle_timeout(at);
        sent.extend(drain_transmits(n));
    }
    sent
}

/// A member at address 0, generation 0, incarnation 0, whose state last changed
/// `since` seconds after the epoch.
pub(crate) fn record(name: &str, state: MemberState, since: u64) -> Member<u32> {
    Member {
        name: NodeName::new(name).unwrap(),
        addr: 0,
        generation: 0,
        incarnation: 0,
        state,
        metadata: Metadata::default(),
        state_changed: Instant::from_secs(since),
    }
}

/// A few nodes on a simulated network in virtual time: node `i` is called
/// `n{i}` and listens at address `i`. Datagrams are delivered at once unless
/// `cut` says the link is down.
pub(crate) struct Cluster {
    pub(crate) nodes: Vec<TestNode>,
    pub(crate) events: Vec<Vec<Event<u32>>>,
    pub(crate) now: Instant,
    /// `cut(from, to)`: the datagram is lost.
    pub(crate) cut: fn(u32, u32, Instant) -> bool,
    /// Every datagram delivered, as (from, to, bytes), while `recording`.
    pub(crate) delivered: Vec<(u32, u32, Vec<u8>)>,
    pub(crate) recording: bool,
}

impl Cluster {
    /// `n` nodes with `config`, all joined through node 0 and settled.
    pub(crate) fn new(n: u32, config: &Config) -> Cluster {
        let nodes = (0..n)
            .map(|i| {
                let identity = Identity::new(&alloc::format!("n{i}"), i).unwrap();
                let rng = Xoshiro256PlusPlus::seed_from_u64(u64::from(i) + 100);
                let mut secrets = secrets(u64::from(i) + 100);
                Node::new(config.clone(), identity, rng, &mut secrets, Instant::ZERO).unwrap()
            })
            .collect();
        let mut cluster = Cluster {
            nodes,
            events: (0..n).map(|_| Vec::new()).collect(),
            now: Instant::ZERO,
            cut: |_, _, _| false,
            delivered: Vec::new(),
            recording: false,
        };
        for i in 1..n as usize {
            cluster.nodes[i].join(Instant::ZERO, &[0]).unwrap();
        }
        cluster.run_for(core::time::Duration::from_secs(5));
        cluster
    }

    /// Delivers everything in flight, then advances from deadline to deadline.
    pub(crate) fn run_for(&mut self, duration: core::time::Duration) {
        self.run_until(self.now + duration);
    }

    /// [`run_for`](Self::run_for) up to `until`.
    pub(crate) fn run_until(&mut self, until: Instant) {
        loop {
            self.deliver();
            let Some(next) = self.nodes.iter().filter_map(|n| n.poll_timeout()).min() else {
                break;
            };
            if next > until {
                break;
            }
            self.now = self.now.max(next);
            for node in &mut self.nodes {
                node.handle_timeout(self.now);
            }
        }
        self.now = until;
    }

    pub(crate) fn deliver(&mut self) {
        let mut delivered = true;
        while delivered {
            delivered = false;
            for i in 0..self.nodes.len() {
                let out = drain_transmits(&mut self.nodes[i]);
                for (to, bytes) in out {
                    if (self.cut)(i as u32, to, self.now) {
                        continue;
                    }
                    if let Some(node) = self.nodes.get_mut(to as usize) {
                        node.handle_message(self.now, i as u32, &bytes).unwrap();
                        delivered = true;
                        if self.recording {
                            self.delivered.push((i as u32, to, bytes));
                        }
                    }
                }
                self.events[i].extend(events(&mut self.nodes[i]));
            }
        }
    }

    /// Takes the events node `i` emitted so far.
    pub(crate) fn take_events(&mut self, i: usize) -> Vec<Event<u32>> {
        core::mem::take(&mut self.events[i])
    }
}

/// A grow-only set of bytes: a join, for `Conflicts::Merge` in tests.
pub(crate) struct Union;

impl crate::MergeValues for Union {
    fn merge(&self, _key: &[u8], a: &[u8], b: &[u8]) -> Vec<u8> {
        let mut all: Vec<u8> = a.iter().chain(b).copied().collect();
        all.sort_unstable();
        all.dedup();
        all
    }
}

/// `plaintext` sealed, sent at `sent` (by a clock that agrees with the test
/// nodes'), as a member of a cluster with `config`'s keys would: a member
/// whose session is drawn from `sender`.
pub(crate) fn seal(config: &Config, sender: u64, sent: Instant, plaintext: &[u8]) -> Vec<u8> {
    let encryption = config.encryption.as_ref().unwrap();
    let mut sealer = crate::seal::Sealer::new(encryption, 8, &mut secrets(sender), sent);
    let mut sealed = Vec::new();
    let sent_ms = crate::time::WallClock::default().millis(sent);
    sealer.seal(plaintext, sent_ms, &mut sealed);
    sealed
}

/// A datagram a node with `config`'s keys sent, opened.
pub(crate) fn open(config: &Config, sealed: &[u8]) -> Vec<u8> {
    let encryption = config.encryption.as_ref().unwrap();
    let sealer = crate::seal::Sealer::new(encryption, 8, &mut secrets(0), Instant::ZERO);
    let mut opened = Vec::new();
    sealer.open(sealed, &mut opened).unwrap();
    opened
}
