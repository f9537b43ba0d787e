//! The cost of anti-entropy, as the issue states it: two replicas of N keys
//! that differ in D keys reconcile in at most `tree depth + 2` round trips and
//! with at most 3× the differing entries' bytes + 16 KiB on the wire.
//!
//! Two nodes join on a perfect network, then receive the same N key entries
//! (as datagrams from a third address) and D = 100 differing ones: 50 keys
//! have a newer version on A, 50 exist on B only. From then on, membership
//! traffic is still delivered, but stripped of the key entries it
//! piggybacks: only anti-entropy may reconcile. When the first sync starts,
//! time stops and the exchange is delivered step by step (a step is every
//! datagram one side sends in answer to the previous step); round trips are
//! half the steps until both digests are equal, rounded up, and the bytes
//! are those of every datagram of the exchange, headers included.
//!
//! "The differing entries' bytes" are the encoded `KeyEntry` messages of the
//! winning versions, one per differing key: what any reconciliation has to
//! move. The figure that also counts the losing versions (the older entries
//! on B) is printed alongside.
//!
//! The default test holds 100,000 keys; the issue's million is
//!
//! ```text
//! cargo test --release -p gossip-core --test anti_entropy_cost -- --ignored --nocapture
//! ```

use std::ops::Range;
use std::time::{Duration, Instant as WallClock};

use gossip_core::wire::{
    EntryRecord, Message, PacketWriter, SiblingRecord, decode, encode_message,
};
use gossip_core::{Config, Hlc, Identity, Instant, Node};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

type TestNode = Node<u32, Xoshiro256PlusPlus>;

const A: u32 = 1;
const B: u32 = 2;
/// Where the fabricated writes come from: not a member.
const WRITER_ADDR: u32 = 99;
/// The fabricated writer's replica id: a 64-bit hash, like real ones.
const WRITER: u64 = 0xc2b2_ae3d_27d4_eb4f;
/// Stamps near today's wall clock, so they encode at their real length.
const EPOCH_MS: u64 = 1_700_000_000_000;
/// The tree depth for `n` keys, as `Config::state_tree_depth` recommends:
/// at least four leaves per key, so that a leaf that differs rarely holds a
/// neighbour that does not.
fn depth_for(n: usize) -> u8 {
    let mut depth = 1;
    while 16usize.pow(u32::from(depth)) < 4 * n {
        depth += 1;
    }
    depth
}
/// Keys that differ: half newer on A, half only on B.
const DIFFERING: usize = 100;
const SLACK: usize = 16 * 1024;

/// One fabricated write of a key.
struct Write {
    index: usize,
    key: Vec<u8>,
    counter: u64,
    hlc: Hlc,
    value: Vec<u8>,
}

impl Write {
    /// The first write of key `i`, 32 to 100 bytes.
    fn first(i: usize) -> Write {
        Write {
            index: i,
            key: key(i),
            counter: 1,
            hlc: Hlc {
                millis: EPOCH_MS + i as u64 / 16,
                logical: (i % 16) as u32,
            },
            value: value(i, 0, 32..101),
        }
    }

    /// A second write of key `i`, after every first write of `n` keys.
    fn second(i: usize, n: usize) -> Write {
        Write {
            index: i,
            key: key(i),
            counter: 2,
            hlc: Hlc {
                millis: EPOCH_MS + n as u64,
                logical: 0,
            },
            value: value(i, 1, 32..101),
        }
    }

    /// `self` with a value of `len` bytes.
    fn with_value_len(mut self, len: Range<usize>) -> Write {
        self.value = value(self.index, self.counter, len);
        self
    }

    fn message(&self) -> Message<'_, u32> {
        Message::KeyEntry {
            key: &self.key,
            entry: EntryRecord {
                version: [(WRITER, self.counter)].into_iter().collect(),
                siblings: vec![SiblingRecord {
                    replica: WRITER,
                    counter: self.counter,
                    millis: self.hlc.millis,
                    logical: self.hlc.logical,
                    origin: "w",
                    value: Some(&self.value),
                }],
            },
        }
    }

    /// Bytes of its `KeyEntry` message.
    fn encoded_len(&self) -> usize {
        encode_message(&self.message()).len()
    }
}

/// 21 bytes: `user/00012345/profile`.
fn key(i: usize) -> Vec<u8> {
    format!("user/{i:08}/profile").into_bytes()
}

/// `len` bytes (a length in the range), different for each key and generation.
fn value(i: usize, generation: u64, len: Range<usize>) -> Vec<u8> {
    let mut x = (i as u64) ^ (generation << 40);
    let mut next = move || {
        // splitmix64
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let len = len.start + (next() % (len.end - len.start) as u64) as usize;
    (0..len).map(|_| b'a' + (next() % 26) as u8).collect()
}

fn config(depth: u8) -> Config {
    let mut config = Config::lan();
    config.max_keys = 2_000_000;
    config.state_tree_depth = depth;
    config
}

fn new_node(config: &Config, name: &str, addr: u32) -> TestNode {
    let identity = Identity::new(name, addr).unwrap();
    let rng = Xoshiro256PlusPlus::seed_from_u64(u64::from(addr));
    let mut secrets = rand_chacha::ChaCha20Rng::seed_from_u64(u64::from(addr));
    Node::new(config.clone(), identity, rng, &mut secrets, Instant::ZERO).unwrap()
}

/// A datagram on its way.
struct Datagram {
    from: u32,
    to: u32,
    bytes: Vec<u8>,
}

/// What a datagram is, by its first message.
#[derive(Debug, PartialEq, Eq)]
enum Kind {
    /// A step of the tree walk: `nodes` compared at `level`.
    Hashes { level: u8, nodes: usize },
    /// Entries of `keys` keys, asking for the entries of `want` leaves.
    Entries { want: usize, keys: usize },
    /// Membership (or anything else), with `key_entries` rumors piggybacked.
    Other { key_entries: usize },
}

fn kind(bytes: &[u8]) -> Kind {
    let mut messages = decode::<u32>(bytes, 0).unwrap().map(Result::unwrap);
    let first = messages.next().unwrap();
    let key_entries = messages
        .filter(|m| matches!(m, Message::KeyEntry { .. }))
        .count();
    match first {
        Message::SyncHashes { level, hashes, .. } => Kind::Hashes {
            level,
            nodes: hashes.len() / gossip_core::wire::SYNC_NODE_LEN,
        },
        Message::SyncEntries { want, .. } => Kind::Entries {
            want: want.len() / 4,
            keys: key_entries,
        },
        first => Kind::Other {
            key_entries: key_entries + usize::from(matches!(first, Message::KeyEntry { .. })),
        },
    }
}

/// `bytes` without its key entries (the rumors anti-entropy is measured
/// without); `None` if nothing else is left.
fn without_key_entries(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; bytes.len()];
    let mut writer = PacketWriter::new(&mut buf, 0);
    for message in decode::<u32>(bytes, 0).unwrap() {
        let message = message.unwrap();
        if !matches!(message, Message::KeyEntry { .. }) {
            writer.push(&message).unwrap();
        }
    }
    if writer.is_empty() {
        return None;
    }
    let len = writer.len();
    buf.truncate(len);
    Some(buf)
}

/// The two replicas and the virtual time.
struct Pair {
    a: TestNode,
    b: TestNode,
    now: Instant,
    /// Key entries stripped from membership datagrams.
    rumors_dropped: usize,
}

impl Pair {
    /// A and B with `config`, joined on a perfect network while they hold no
    /// state (so that the join carries no key entries).
    fn joined(config: &Config) -> Pair {
        let mut pair = Pair {
            a: new_node(config, "a", A),
            b: new_node(config, "b", B),
            now: Instant::ZERO,
            rumors_dropped: 0,
        };
        pair.b.join(pair.now, &[A]).unwrap();
        let settled = Instant::from_secs(2);
        loop {
            let sent = pair.drain();
            if sent.is_empty() {
                let next = pair.next_deadline();
                if next > settled {
                    break;
                }
                pair.now = next;
                pair.a.handle_timeout(next);
                pair.b.handle_timeout(next);
            }
            for d in &sent {
                assert!(matches!(kind(&d.bytes), Kind::Other { .. }), "no sync yet");
                pair.deliver(d);
            }
        }
        assert_eq!((pair.a.live_members(), pair.b.live_members()), (2, 2));
        assert_eq!(pair.a.state_digest(), 0);
        pair
    }

    fn next_deadline(&self) -> Instant {
        let a = self.a.poll_timeout().unwrap();
        a.min(self.b.poll_timeout().unwrap())
    }

    fn node(&mut self, addr: u32) -> Option<&mut TestNode> {
        match addr {
            A => Some(&mut self.a),
            B => Some(&mut self.b),
            _ => None,
        }
    }

    /// Everything both nodes want to send; their events are dropped.
    fn drain(&mut self) -> Vec<Datagram> {
        let mut out = Vec::new();
        for (from, node) in [(A, &mut self.a), (B, &mut self.b)] {
            while let Some(t) = node.poll_transmit() {
                out.push(Datagram {
                    from,
                    to: t.to,
                    bytes: t.payload.to_vec(),
                });
            }
            while node.poll_event().is_some() {}
        }
        out
    }

    fn deliver(&mut self, datagram: &Datagram) {
        let now = self.now;
        if let Some(node) = self.node(datagram.to) {
            node.handle_message(now, datagram.from, &datagram.bytes)
                .unwrap();
        }
    }

    /// Runs the network until a sync datagram is sent, delivering membership
    /// traffic without its key entries; returns the sync datagrams, the
    /// first step of the exchange.
    fn run_until_sync(&mut self, limit: Instant) -> Vec<Datagram> {
        loop {
            let mut sent = self.drain();
            while !sent.is_empty() {
                let (sync, other): (Vec<_>, Vec<_>) = sent
                    .into_iter()
                    .partition(|d| !matches!(kind(&d.bytes), Kind::Other { .. }));
                if !sync.is_empty() {
                    // Membership sent at the same instant is still delivered.
                    self.deliver_stripped(other);
                    return sync;
                }
                self.deliver_stripped(other);
                sent = self.drain();
            }
            let next = self.next_deadline();
            assert!(next <= limit, "no sync before {limit}");
            self.now = self.now.max(next);
            self.a.handle_timeout(self.now);
            self.b.handle_timeout(self.now);
        }
    }

    /// Waits for the next sync and delivers its exchange step by step, all
    /// at the instant it started; returns the steps.
    fn exchange(&mut self) -> Vec<Step> {
        let mut step = self.run_until_sync(self.now + Duration::from_secs(30));
        let mut steps: Vec<Step> = Vec::new();
        while !step.is_empty() {
            let from = step[0].from;
            assert!(step.iter().all(|d| d.from == from), "one side per step");
            let mut figures = Step {
                from,
                datagrams: step.len(),
                bytes: step.iter().map(|d| d.bytes.len()).sum(),
                nodes: 0,
                level: None,
                want: 0,
                keys: 0,
                digests_equal_after: false,
            };
            for d in &step {
                match kind(&d.bytes) {
                    Kind::Hashes { level, nodes } => {
                        assert!(figures.level.is_none_or(|l| l == level));
                        figures.level = Some(level);
                        figures.nodes += nodes;
                    }
                    Kind::Entries { want, keys } => {
                        figures.want += want;
                        figures.keys += keys;
                    }
                    Kind::Other { .. } => unreachable!("only syncs are in a step"),
                }
                self.deliver(d);
            }
            figures.digests_equal_after = self.a.state_digest() == self.b.state_digest();
            steps.push(figures);
            let (sync, other): (Vec<_>, Vec<_>) = self
                .drain()
                .into_iter()
                .partition(|d| !matches!(kind(&d.bytes), Kind::Other { .. }));
            assert!(other.is_empty(), "time stands still: no membership traffic");
            step = sync;
        }
        steps
    }

    fn deliver_stripped(&mut self, datagrams: Vec<Datagram>) {
        for d in datagrams {
            if let Kind::Other { key_entries } = kind(&d.bytes) {
                self.rumors_dropped += key_entries;
            }
            if let Some(bytes) = without_key_entries(&d.bytes) {
                self.deliver(&Datagram { bytes, ..d });
            }
        }
    }
}

/// Feeds the same key entries to `nodes`, packed into datagrams.
fn feed<'w>(now: Instant, nodes: &mut [&mut TestNode], writes: impl Iterator<Item = &'w Write>) {
    let mut writes = writes.peekable();
    let mut buf = vec![0u8; 1_400];
    while writes.peek().is_some() {
        let mut writer = PacketWriter::new(&mut buf, 0);
        while let Some(write) = writes.peek() {
            if writer.push(&write.message()).is_err() {
                break;
            }
            writes.next();
        }
        assert!(!writer.is_empty(), "an entry fits a datagram");
        let len = writer.len();
        for node in nodes.iter_mut() {
            node.handle_message(now, WRITER_ADDR, &buf[..len]).unwrap();
            while node.poll_transmit().is_some() {}
            while node.poll_event().is_some() {}
        }
    }
}

/// One step of the exchange.
#[derive(Debug)]
struct Step {
    from: u32,
    datagrams: usize,
    bytes: usize,
    /// Tree nodes whose children the step lists (the receiver compares 16 each).
    nodes: usize,
    level: Option<u8>,
    want: usize,
    keys: usize,
    digests_equal_after: bool,
}

/// What one anti-entropy exchange cost.
#[derive(Debug)]
struct Cost {
    keys: usize,
    fill: Duration,
    steps: Vec<Step>,
    /// Steps until both digests were equal.
    steps_to_converge: usize,
    round_trips: usize,
    bytes: usize,
    /// Encoded `KeyEntry`s of the version that wins, one per differing key.
    diff_bytes_winning: usize,
    /// Those and the losing versions held on the other side.
    diff_bytes_both_sides: usize,
    rumors_dropped: usize,
    exchange: Duration,
}

impl Cost {
    fn print(&self) {
        println!(
            "N = {} keys, D = {DIFFERING} differing, depth {}; fill {:.2?} (both nodes), exchange {:.2?}",
            self.keys,
            depth_for(self.keys),
            self.fill,
            self.exchange
        );
        println!("step from datagrams  bytes  level nodes  want keys  equal");
        for (i, s) in self.steps.iter().enumerate() {
            let level = s.level.map_or("-".to_string(), |l| l.to_string());
            println!(
                "{:>4} {:>4} {:>9} {:>6} {:>6} {:>5} {:>5} {:>4}  {}",
                i + 1,
                if s.from == A { "A" } else { "B" },
                s.datagrams,
                s.bytes,
                level,
                s.nodes,
                s.want,
                s.keys,
                s.digests_equal_after
            );
        }
        let hash_bytes: usize = self
            .steps
            .iter()
            .filter(|s| s.level.is_some())
            .map(|s| s.bytes)
            .sum();
        println!(
            "steps {} (to equal digests {}), round trips {} (bound {})",
            self.steps.len(),
            self.steps_to_converge,
            self.round_trips,
            usize::from(depth_for(self.keys)) + 2
        );
        println!(
            "bytes {} (tree walk {}, entries {}); differing entries: winning versions {} B, both sides {} B",
            self.bytes,
            hash_bytes,
            self.bytes - hash_bytes,
            self.diff_bytes_winning,
            self.diff_bytes_both_sides
        );
        for (name, diff) in [
            ("winning", self.diff_bytes_winning),
            ("both sides", self.diff_bytes_both_sides),
        ] {
            println!(
                "  vs {name}: bound 3 x {diff} + {SLACK} = {}, bytes / diff = {:.2}, (bytes - 16 KiB) / diff = {:.2}",
                3 * diff + SLACK,
                self.bytes as f64 / diff as f64,
                (self.bytes as f64 - SLACK as f64) / diff as f64
            );
        }
        println!(
            "rumors stripped from membership datagrams: {}",
            self.rumors_dropped
        );
    }
}

/// Builds two replicas of `n` keys that differ in [`DIFFERING`], lets one
/// anti-entropy exchange reconcile them and measures it.
fn measure(n: usize) -> Cost {
    let mut pair = Pair::joined(&config(depth_for(n)));

    // The same n keys on both.
    let started = WallClock::now();
    let now = pair.now;
    let mut fill_batch = Vec::with_capacity(4_096);
    for start in (0..n).step_by(4_096) {
        fill_batch.clear();
        fill_batch.extend((start..n.min(start + 4_096)).map(Write::first));
        feed(now, &mut [&mut pair.a, &mut pair.b], fill_batch.iter());
    }
    let fill = started.elapsed();
    assert_eq!(pair.a.state_digest(), pair.b.state_digest());
    assert_eq!(pair.a.footprint().keys, n);

    // Half the differences are newer writes on A, half new keys on B only.
    let newer_on_a: Vec<Write> = (0..DIFFERING / 2)
        .map(|k| Write::second(k * (n / DIFFERING), n))
        .collect();
    let older_on_b: Vec<Write> = (0..DIFFERING / 2)
        .map(|k| Write::first(k * (n / DIFFERING)))
        .collect();
    let only_on_b: Vec<Write> = (n..n + DIFFERING / 2).map(Write::first).collect();
    feed(now, &mut [&mut pair.a], newer_on_a.iter());
    feed(now, &mut [&mut pair.b], only_on_b.iter());
    assert_ne!(pair.a.state_digest(), pair.b.state_digest());
    let diff_bytes_winning: usize = newer_on_a
        .iter()
        .chain(&only_on_b)
        .map(Write::encoded_len)
        .sum();
    let diff_bytes_both_sides =
        diff_bytes_winning + older_on_b.iter().map(Write::encoded_len).sum::<usize>();

    // Wait for the first sync, then deliver it step by step at that instant.
    let started = WallClock::now();
    let steps = pair.exchange();
    let exchange = started.elapsed();

    let steps_to_converge = 1 + steps
        .iter()
        .position(|s| s.digests_equal_after)
        .expect("one exchange reconciles the replicas");
    let bytes = steps.iter().map(|s| s.bytes).sum();
    for node in [&pair.a, &pair.b] {
        assert_eq!(node.stats().state.state_sync_entries_unsent, 0);
        for w in newer_on_a.iter().chain(&only_on_b) {
            assert_eq!(node.get(&w.key), Some(&w.value[..]));
        }
        assert_eq!(node.footprint().keys, n + DIFFERING / 2);
    }
    Cost {
        keys: n,
        fill,
        steps,
        steps_to_converge,
        round_trips: steps_to_converge.div_ceil(2),
        bytes,
        diff_bytes_winning,
        diff_bytes_both_sides,
        rumors_dropped: pair.rumors_dropped,
        exchange,
    }
}

fn check(cost: &Cost) {
    cost.print();
    // The replica's own claim: depth + 2 messages (steps), not only round trips.
    assert!(
        cost.steps.len() <= usize::from(depth_for(cost.keys)) + 2,
        "{} steps",
        cost.steps.len()
    );
    assert!(
        cost.round_trips <= usize::from(depth_for(cost.keys)) + 2,
        "{} round trips",
        cost.round_trips
    );
    assert!(
        cost.bytes <= 3 * cost.diff_bytes_winning + SLACK,
        "{} bytes on the wire, bound 3 x {} + {SLACK}",
        cost.bytes,
        cost.diff_bytes_winning
    );
}

#[test]
fn replicas_of_100k_keys_differing_in_100_reconcile_within_the_bound() {
    assert_eq!(depth_for(100_000), 5);
    check(&measure(100_000));
}

#[test]
#[ignore = "a million keys: run in release, see the module doc"]
fn replicas_of_a_million_keys_differing_in_100_reconcile_within_the_bound() {
    assert_eq!(depth_for(1_000_000), 6);
    check(&measure(1_000_000));
}

/// The side that reaches the leaves first lists the leaves it wants in its
/// first datagram of entries (up to 320 of them, 1,280 bytes); the entries it
/// counts as sent must still all go out, none dropped for want of room.
#[test]
fn every_entry_a_sync_counts_as_sent_is_on_the_wire() {
    let mut pair = Pair::joined(&config(3));
    let n = 8_000; // about two keys in each of the 4,096 leaves
    let on_a: Vec<Write> = (0..n)
        .map(|i| Write::first(i).with_value_len(300..400))
        .collect();
    let on_b: Vec<Write> = (0..n)
        .map(|i| Write::second(i, n).with_value_len(300..400))
        .collect();
    feed(pair.now, &mut [&mut pair.a], on_a.iter());
    feed(pair.now, &mut [&mut pair.b], on_b.iter());
    let counted_before = [&pair.a, &pair.b].map(|n| n.stats().state.state_sync_entries_sent);
    let steps = pair.exchange();
    let wants: usize = steps.iter().map(|s| s.want).sum();
    assert!(wants > 1_000, "the differences fill the want lists");
    for (i, (addr, node)) in [(A, &pair.a), (B, &pair.b)].into_iter().enumerate() {
        let on_wire: usize = steps
            .iter()
            .filter(|s| s.from == addr)
            .map(|s| s.keys)
            .sum();
        let counted = node.stats().state.state_sync_entries_sent - counted_before[i];
        assert_eq!(on_wire as u64, counted, "entries from node {addr}");
    }
}
