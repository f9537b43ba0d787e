//! Three replicas write and delete a few keys at random times while the
//! network between them drops, duplicates and reorders datagrams; once the
//! network is perfect for long enough for anti-entropy, all three hold the
//! same state, whatever the conflict policy.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use gossip_core::{Config, Conflicts, Identity, Instant, MergeValues, Node};
use proptest::prelude::*;
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

type TestNode = Node<u32, Xoshiro256PlusPlus>;

const NODES: usize = 3;
const KEYS: usize = 5;
/// How long the network misbehaves, writes included.
const CHAOS: Duration = Duration::from_secs(20);
/// Then a perfect network for this long.
const QUIET: Duration = Duration::from_secs(60);

/// A grow-only set of bytes.
struct Union;
impl MergeValues for Union {
    fn merge(&self, _key: &[u8], a: &[u8], b: &[u8]) -> Vec<u8> {
        let mut all: Vec<u8> = a.iter().chain(b).copied().collect();
        all.sort_unstable();
        all.dedup();
        all
    }
}

/// One application write, at `at_ms` into the chaos.
#[derive(Clone, Debug)]
struct Write {
    at_ms: u64,
    node: usize,
    key: usize,
    /// `None`: a delete.
    value: Option<u8>,
}

fn arb_write() -> impl Strategy<Value = Write> {
    (
        0..CHAOS.as_millis() as u64,
        0..NODES,
        0..KEYS,
        proptest::option::weighted(0.75, any::<u8>()),
    )
        .prop_map(|(at_ms, node, key, value)| Write {
            at_ms,
            node,
            key,
            value,
        })
}

/// How the network misbehaves during the chaos.
#[derive(Clone, Copy, Debug)]
struct Faults {
    drop: f64,
    duplicate: f64,
    /// Each copy is delayed uniformly up to this, so datagrams overtake
    /// each other.
    max_delay_ms: u64,
}

const PERFECT: Faults = Faults {
    drop: 0.0,
    duplicate: 0.0,
    max_delay_ms: 0,
};

fn arb_faults() -> impl Strategy<Value = Faults> {
    (0.0..0.5f64, 0.0..0.3f64, 0u64..200).prop_map(|(drop, duplicate, max_delay_ms)| Faults {
        drop,
        duplicate,
        max_delay_ms,
    })
}

#[derive(Clone, Copy, Debug)]
enum Policy {
    LastWriterWins,
    Siblings,
    Merge,
}

impl Policy {
    fn conflicts(self) -> Conflicts {
        match self {
            Policy::LastWriterWins => Conflicts::LastWriterWins,
            Policy::Siblings => Conflicts::Siblings,
            Policy::Merge => Conflicts::merge(Union),
        }
    }
}

/// A datagram in flight, delivered at `at`; `seq` breaks ties in order of
/// sending.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct InFlight {
    at: Instant,
    seq: u64,
    from: u32,
    to: u32,
    bytes: Vec<u8>,
}

struct Cluster {
    nodes: Vec<TestNode>,
    now: Instant,
    network: Xoshiro256PlusPlus,
    in_flight: BinaryHeap<Reverse<InFlight>>,
    seq: u64,
}

impl Cluster {
    fn new(policy: Policy, seed: u64) -> Cluster {
        let mut config = Config::lan();
        config.conflicts = policy.conflicts();
        config.state_sync_interval = Duration::from_secs(1);
        let nodes = (0..NODES as u32)
            .map(|i| {
                let identity = Identity::new(&format!("n{i}"), i).unwrap();
                let rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ u64::from(i));
                let mut secrets = rand_chacha::ChaCha20Rng::seed_from_u64(seed ^ u64::from(i));
                Node::new(config.clone(), identity, rng, &mut secrets, Instant::ZERO).unwrap()
            })
            .collect();
        Cluster {
            nodes,
            now: Instant::ZERO,
            network: Xoshiro256PlusPlus::seed_from_u64(seed),
            in_flight: BinaryHeap::new(),
            seq: 0,
        }
    }

    fn chance(&mut self, p: f64) -> bool {
        let unit = (self.network.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        unit < p
    }

    /// Sends what node `i` has to send through the network, and drops its events.
    fn drain(&mut self, i: usize, faults: Faults) {
        let mut sent = Vec::new();
        while let Some(t) = self.nodes[i].poll_transmit() {
            sent.push((t.to, t.payload.to_vec()));
        }
        while self.nodes[i].poll_event().is_some() {}
        for (to, bytes) in sent {
            if self.chance(faults.drop) {
                continue;
            }
            let copies = if self.chance(faults.duplicate) { 2 } else { 1 };
            for _ in 0..copies {
                let delay = self.network.next_u64() % (faults.max_delay_ms + 1);
                self.seq += 1;
                self.in_flight.push(Reverse(InFlight {
                    at: self.now + Duration::from_millis(delay),
                    seq: self.seq,
                    from: i as u32,
                    to,
                    bytes: bytes.clone(),
                }));
            }
        }
    }

    /// Runs every delivery, timeout and write due before `until`, in order
    /// of time (writes are `(at, node, key, value)` sorted by time).
    fn run(&mut self, until: Instant, faults: Faults, writes: &mut Vec<(Instant, Write)>) {
        loop {
            let delivery = self.in_flight.peek().map(|Reverse(d)| d.at);
            let timeout = self.nodes.iter().filter_map(|n| n.poll_timeout()).min();
            let write = writes.first().map(|(at, _)| *at);
            let Some(next) = [delivery, timeout, write].into_iter().flatten().min() else {
                break;
            };
            if next > until {
                break;
            }
            self.now = self.now.max(next);
            if delivery == Some(next) {
                let Reverse(d) = self.in_flight.pop().unwrap();
                let to = d.to as usize;
                self.nodes[to]
                    .handle_message(self.now, d.from, &d.bytes)
                    .unwrap();
                self.drain(to, faults);
            } else if write == Some(next) {
                let (_, w) = writes.remove(0);
                let key = format!("key-{}", w.key);
                match w.value {
                    Some(v) => self.nodes[w.node]
                        .set(self.now, key.as_bytes(), &[v])
                        .unwrap(),
                    None => {
                        self.nodes[w.node].delete(self.now, key.as_bytes()).unwrap();
                    }
                }
                self.drain(w.node, faults);
            } else {
                for i in 0..NODES {
                    if self.nodes[i]
                        .poll_timeout()
                        .is_some_and(|at| at <= self.now)
                    {
                        self.nodes[i].handle_timeout(self.now);
                        self.drain(i, faults);
                    }
                }
            }
        }
        self.now = until;
    }

    /// Each node's live keys and values, sorted.
    fn entries(&self, i: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut entries: Vec<_> = self.nodes[i]
            .entries()
            .map(|(k, v)| (k.to_vec(), v.to_vec()))
            .collect();
        entries.sort();
        entries
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the chaos did, a quiet minute with a sync a second leaves
    /// the three replicas identical.
    #[test]
    fn replicas_converge_once_the_network_is_quiet_long_enough(
        seed in any::<u64>(),
        policy in prop_oneof![
            Just(Policy::LastWriterWins),
            Just(Policy::Siblings),
            Just(Policy::Merge),
        ],
        faults in arb_faults(),
        writes in proptest::collection::vec(arb_write(), 1..40),
    ) {
        let mut c = Cluster::new(policy, seed);
        for i in 1..NODES {
            c.nodes[i].join(c.now, &[0]).unwrap();
            c.drain(i, PERFECT);
        }
        c.run(Instant::from_secs(5), PERFECT, &mut Vec::new());
        for node in &c.nodes {
            prop_assert_eq!(node.live_members(), NODES, "joined");
        }

        let start = c.now;
        let mut writes: Vec<(Instant, Write)> = writes
            .into_iter()
            .map(|w| (start + Duration::from_millis(w.at_ms), w))
            .collect();
        writes.sort_by_key(|(at, _)| *at);
        c.run(start + CHAOS, faults, &mut writes);
        prop_assert!(writes.is_empty());
        c.run(c.now + QUIET, PERFECT, &mut Vec::new());

        for (i, node) in c.nodes.iter().enumerate() {
            prop_assert_eq!(node.live_members(), NODES, "node {} sees everyone", i);
        }
        let digests: Vec<u64> = c.nodes.iter().map(|n| n.state_digest()).collect();
        prop_assert!(digests.iter().all(|&d| d == digests[0]), "digests {:x?}", digests);
        let entries = c.entries(0);
        for i in 1..NODES {
            prop_assert_eq!(&c.entries(i), &entries, "entries of node {}", i);
        }
        for key in 0..KEYS {
            let key = format!("key-{key}");
            let all = |n: &TestNode| {
                let mut all: Vec<Vec<u8>> = n.get_all(key.as_bytes()).map(<[u8]>::to_vec).collect();
                all.sort();
                all
            };
            for i in 1..NODES {
                prop_assert_eq!(all(&c.nodes[i]), all(&c.nodes[0]), "{} on node {}", &key, i);
            }
        }
    }
}
