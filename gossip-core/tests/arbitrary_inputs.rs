//! Arbitrary input sequences never panic, keep every invariant, and are
//! deterministic.

use std::collections::HashMap;
use std::time::Duration;

use gossip_core::wire::{EntryRecord, Message, PacketWriter, SiblingRecord, Status, Update};
use gossip_core::{
    Config, Event, Hlc, Identity, Instant, MemberState, Node, ReplicaId, VersionVector,
};
use proptest::prelude::*;
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

const NAMES: [&str; 6] = ["self", "a", "b", "c", "d", "e"];
/// Keys written and gossiped: few, so that writes meet.
const KEYS: [[u8; 2]; 6] = [*b"k0", *b"k1", *b"k2", *b"k3", *b"k4", *b"k5"];

/// One step of a run.
#[derive(Clone, Debug)]
enum Input {
    /// Random bytes from an address.
    Garbage {
        from: u32,
        bytes: Vec<u8>,
    },
    /// A well-formed datagram with random fields.
    Datagram {
        from: u32,
        messages: Vec<Msg>,
    },
    /// Time passes and the node wakes up.
    Timeout {
        after_ms: u64,
    },
    Join {
        seeds: Vec<u32>,
    },
    Leave,
    SetMetadata {
        len: usize,
    },
    Broadcast {
        len: usize,
    },
    /// A write (`len` bytes) or delete (`None`) of one of a few keys.
    Write {
        key: u8,
        len: Option<usize>,
    },
}

/// An owned description of a message, turned into a [`Message`] when encoded.
#[derive(Clone, Debug)]
enum Msg {
    Ping {
        seq: u32,
        target: usize,
    },
    IndirectPing {
        seq: u32,
        target: usize,
        addr: u32,
        nack: bool,
    },
    Ack {
        seq: u32,
    },
    Nack {
        seq: u32,
    },
    PushPull {
        session: u32,
        digest: u64,
        join: bool,
    },
    State {
        session: u32,
        reply: bool,
        fresh: bool,
        chunk: u16,
        chunks: u16,
    },
    StateResend {
        session: u32,
        missing: Vec<u8>,
    },
    Update {
        name: usize,
        generation: u64,
        incarnation: u64,
        status: u8,
        addr: u32,
        meta: usize,
        by: usize,
    },
    Broadcast {
        /// Few distinct ids, so that copies and duplicates are common.
        id: u64,
        origin: usize,
        age_ms: u32,
        feedback: bool,
        len: usize,
    },
    Pull {
        salt: u32,
        filter: Vec<u8>,
    },
    Feedback {
        known: Vec<u8>,
        new: Vec<u8>,
    },
    /// A key's state: siblings `(replica, counter, millis, value length or
    /// delete)`, in any order (unsorted ones are malformed), and a version
    /// built from `writes`.
    KeyEntry {
        key: u8,
        writes: Vec<(u64, u64)>,
        siblings: Vec<(u64, u64, u64, Option<usize>)>,
    },
    StateRoot {
        root: u64,
    },
    SyncHashes {
        depth: u8,
        level: u8,
        root: u64,
        hashes: Vec<u8>,
    },
    SyncEntries {
        depth: u8,
        want: Vec<u8>,
    },
}

fn msg() -> impl Strategy<Value = Msg> {
    let name = 0..NAMES.len();
    prop_oneof![
        (any::<u32>(), name.clone()).prop_map(|(seq, target)| Msg::Ping { seq, target }),
        (any::<u32>(), name.clone(), 0..8u32, any::<bool>()).prop_map(
            |(seq, target, addr, nack)| Msg::IndirectPing {
                seq,
                target,
                addr,
                nack
            }
        ),
        any::<u32>().prop_map(|seq| Msg::Ack { seq }),
        any::<u32>().prop_map(|seq| Msg::Nack { seq }),
        (any::<u32>(), any::<u64>(), any::<bool>()).prop_map(|(session, digest, join)| {
            Msg::PushPull {
                session,
                digest,
                join,
            }
        }),
        (any::<u32>(), any::<bool>(), any::<bool>(), 0..4u16, 0..4u16).prop_map(
            |(session, reply, fresh, chunk, chunks)| Msg::State {
                session,
                reply,
                fresh,
                chunk,
                chunks
            }
        ),
        (any::<u32>(), proptest::collection::vec(any::<u8>(), 0..4))
            .prop_map(|(session, missing)| Msg::StateResend { session, missing }),
        (
            name.clone(),
            0..3u64,
            0..6u64,
            0..4u8,
            0..8u32,
            0..80usize,
            name
        )
            .prop_map(|(name, generation, incarnation, status, addr, meta, by)| {
                Msg::Update {
                    name,
                    generation,
                    incarnation,
                    status,
                    addr,
                    meta,
                    by,
                }
            }),
        (
            0..6u64,
            0..NAMES.len(),
            0..200_000u32,
            any::<bool>(),
            0..80usize
        )
            .prop_map(|(id, origin, age_ms, feedback, len)| Msg::Broadcast {
                id,
                origin,
                age_ms,
                feedback,
                len
            }),
        (any::<u32>(), proptest::collection::vec(any::<u8>(), 0..20))
            .prop_map(|(salt, filter)| Msg::Pull { salt, filter }),
        (
            proptest::collection::vec(any::<u8>(), 0..20),
            proptest::collection::vec(any::<u8>(), 0..20)
        )
            .prop_map(|(known, new)| Msg::Feedback { known, new }),
        (
            0..4u8,
            proptest::collection::vec((0..4u64, 1..4u64), 0..4),
            proptest::collection::vec(
                (
                    0..4u64,
                    1..4u64,
                    0..5_000u64,
                    proptest::option::of(0..40usize)
                ),
                0..3
            )
        )
            .prop_map(|(key, writes, siblings)| Msg::KeyEntry {
                key,
                writes,
                siblings
            }),
        any::<u64>().prop_map(|root| Msg::StateRoot { root }),
        (
            4..7u8,
            0..6u8,
            any::<u64>(),
            proptest::collection::vec(any::<u8>(), 0..140)
        )
            .prop_map(|(depth, level, root, hashes)| Msg::SyncHashes {
                depth,
                level,
                root,
                hashes
            }),
        (4..7u8, proptest::collection::vec(any::<u8>(), 0..12))
            .prop_map(|(depth, want)| Msg::SyncEntries { depth, want }),
    ]
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        1 => (0..8u32, proptest::collection::vec(any::<u8>(), 0..64)).prop_map(|(from, bytes)| Input::Garbage { from, bytes }),
        6 => (0..8u32, proptest::collection::vec(msg(), 1..6)).prop_map(|(from, messages)| Input::Datagram { from, messages }),
        4 => (0..3_000u64).prop_map(|after_ms| Input::Timeout { after_ms }),
        1 => proptest::collection::vec(0..8u32, 0..3).prop_map(|seeds| Input::Join { seeds }),
        1 => Just(Input::Leave),
        1 => (0..80usize).prop_map(|len| Input::SetMetadata { len }),
        1 => (0..200usize).prop_map(|len| Input::Broadcast { len }),
        2 => (0..6u8, proptest::option::of(0..40usize)).prop_map(|(key, len)| Input::Write { key, len }),
    ]
}

fn encode(messages: &[Msg]) -> Vec<u8> {
    let metadata = [7u8; 80];
    let mut buf = [0u8; 2048];
    let mut writer = PacketWriter::new(&mut buf, 0);
    for m in messages {
        let key_entry;
        let message = if let Msg::KeyEntry {
            key,
            writes,
            siblings,
        } = m
        {
            let mut version = VersionVector::new();
            for &(replica, count) in writes {
                for _ in 0..count {
                    version.increment(ReplicaId(replica));
                }
            }
            key_entry = EntryRecord {
                version,
                siblings: siblings
                    .iter()
                    .map(|&(replica, counter, millis, len)| SiblingRecord {
                        replica,
                        counter,
                        hlc: Hlc { millis, logical: 0 },
                        origin: NAMES[replica as usize],
                        value: len.map(|len| &metadata[..len]),
                    })
                    .collect(),
            };
            Some(Message::KeyEntry {
                key: &KEYS[usize::from(*key)],
                entry: key_entry,
            })
        } else {
            None
        };
        if let Some(message) = message {
            let _ = writer.push::<u32>(&message);
            continue;
        }
        let message: Message<'_, u32> = match m {
            Msg::Ping { seq, target } => Message::Ping {
                seq: *seq,
                target: NAMES[*target],
            },
            Msg::IndirectPing {
                seq,
                target,
                addr,
                nack,
            } => Message::IndirectPing {
                seq: *seq,
                target: NAMES[*target],
                target_addr: *addr,
                nack: *nack,
            },
            Msg::Ack { seq } => Message::Ack { seq: *seq },
            Msg::Nack { seq } => Message::Nack { seq: *seq },
            Msg::PushPull {
                session,
                digest,
                join,
            } => Message::PushPull {
                session: *session,
                digest: *digest,
                join: *join,
            },
            Msg::State {
                session,
                reply,
                fresh,
                chunk,
                chunks,
            } => Message::State {
                session: *session,
                reply: *reply,
                fresh: *fresh,
                chunk: *chunk,
                chunks: *chunks,
            },
            Msg::StateResend { session, missing } => Message::StateResend {
                session: *session,
                missing,
            },
            Msg::Update {
                name,
                generation,
                incarnation,
                status,
                addr,
                meta,
                by,
            } => Message::Update(Update {
                name: NAMES[*name],
                generation: *generation,
                incarnation: *incarnation,
                status: match status {
                    0 => Status::Alive {
                        addr: *addr,
                        metadata: &metadata[..*meta],
                    },
                    1 => Status::Suspect { by: NAMES[*by] },
                    2 => Status::Failed,
                    _ => Status::Left,
                },
            }),
            Msg::Broadcast {
                id,
                origin,
                age_ms,
                feedback,
                len,
            } => Message::Broadcast {
                id: *id,
                origin: NAMES[*origin],
                age_ms: *age_ms,
                feedback: *feedback,
                payload: &metadata[..*len],
            },
            Msg::Pull { salt, filter } => Message::Pull {
                salt: *salt,
                filter,
            },
            Msg::Feedback { known, new } => Message::Feedback { known, new },
            Msg::KeyEntry { .. } => unreachable!("encoded above"),
            Msg::StateRoot { root } => Message::StateRoot { root: *root },
            Msg::SyncHashes {
                depth,
                level,
                root,
                hashes,
            } => Message::SyncHashes {
                depth: *depth,
                level: *level,
                root: *root,
                hashes,
            },
            Msg::SyncEntries { depth, want } => Message::SyncEntries {
                depth: *depth,
                want,
            },
        };
        // Misplaced primaries and oversized datagrams are part of the test.
        let _ = writer.push(&message);
    }
    let len = writer.len();
    buf[..len].to_vec()
}

fn config() -> Config {
    let mut config = Config::lan();
    config.max_members = 4;
    config.max_pending_events = 16;
    config.max_pending_transmits = 16;
    config.max_relayed_probes = 2;
    config.max_metadata_size = 64;
    config.max_packet_size = 512;
    config.max_broadcast_size = 64;
    config.max_broadcasts = 3;
    config.max_key_size = 16;
    config.max_value_size = 32;
    config.max_keys = 4;
    config
}

type TestNode = Node<u32, Xoshiro256PlusPlus>;
/// What a step put out: datagrams (destination, bytes) and events.
type Output = (Vec<(u32, Vec<u8>)>, Vec<Event<u32>>);

fn new_node(seed: u64) -> TestNode {
    let identity = Identity::new("self", 0).unwrap().with_generation(1);
    Node::new(
        config(),
        identity,
        Xoshiro256PlusPlus::seed_from_u64(seed),
        Instant::ZERO,
    )
    .unwrap()
}

/// Applies one input and returns everything the node put out.
fn step(node: &mut TestNode, now: &mut Instant, input: &Input) -> Output {
    match input {
        Input::Garbage { from, bytes } => {
            let _ = node.handle_message(*now, *from, bytes);
        }
        Input::Datagram { from, messages } => {
            let _ = node.handle_message(*now, *from, &encode(messages));
        }
        Input::Timeout { after_ms } => {
            *now += Duration::from_millis(*after_ms);
            node.handle_timeout(*now);
            if let Some(next) = node.poll_timeout() {
                assert!(
                    next > *now,
                    "after handle_timeout({now}), poll_timeout() = {next}"
                );
            }
        }
        Input::Join { seeds } => {
            let _ = node.join(*now, seeds);
        }
        Input::Leave => {
            let _ = node.leave(*now);
        }
        Input::SetMetadata { len } => {
            let _ = node.set_metadata(*now, &vec![1; *len]);
        }
        Input::Broadcast { len } => {
            let _ = node.broadcast(*now, &vec![2; *len]);
        }
        Input::Write { key, len } => {
            let key = &KEYS[usize::from(*key)];
            let _ = match len {
                Some(len) => node.set(*now, key, &vec![3; *len]),
                None => node.delete(*now, key).map(|_| ()),
            };
        }
    }
    let mut transmits = Vec::new();
    while let Some(t) = node.poll_transmit() {
        transmits.push((t.to, t.payload.to_vec()));
    }
    let events = std::iter::from_fn(|| node.poll_event()).collect();
    (transmits, events)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_inputs_keep_every_invariant(seed in any::<u64>(), inputs in proptest::collection::vec(input(), 1..60)) {
        let mut node = new_node(seed);
        let mut now = Instant::ZERO;
        let mut incarnations: HashMap<(String, u64), u64> = HashMap::new();
        let mut own_incarnation = 0;
        let mut delivered: HashMap<u64, Instant> = HashMap::new();
        for input in &inputs {
            let (transmits, events) = step(&mut node, &mut now, input);
            let config = node.config().clone();
            for event in &events {
                if let Event::Broadcast(broadcast) = event {
                    if let Some(&first) = delivered.get(&broadcast.id.0) {
                        // Delivered again only once its id could be forgotten.
                        prop_assert!(
                            node.stats().broadcast_ids_evicted > 0
                                || now - first >= config.broadcast_retention,
                            "broadcast {} delivered twice", broadcast.id
                        );
                    }
                    delivered.insert(broadcast.id.0, now);
                    prop_assert!(broadcast.payload.len() <= config.max_broadcast_size);
                }
            }
            for (_, bytes) in &transmits {
                prop_assert!(bytes.len() <= config.max_packet_size);
            }
            prop_assert!(events.len() <= config.max_pending_events);
            prop_assert!(transmits.len() <= config.max_pending_transmits);

            let local = node.local_member();
            prop_assert!(
                matches!(local.state(), MemberState::Alive | MemberState::Left),
                "the node considers itself {:?}", local.state()
            );
            prop_assert!(local.incarnation() >= own_incarnation, "own incarnation decreased");
            own_incarnation = local.incarnation();

            for member in node.members() {
                let key = (member.name().to_string(), member.generation());
                let seen = incarnations.entry(key).or_insert(0);
                prop_assert!(member.incarnation() >= *seen, "{} went back in incarnation", member.name());
                *seen = member.incarnation();
            }
            let footprint = node.footprint();
            prop_assert!(footprint.members <= config.max_members);
            prop_assert!(footprint.rumors <= config.max_members);
            prop_assert!(footprint.relayed_probes <= config.max_relayed_probes);
            prop_assert!(footprint.suspicion_deadlines <= 2 * config.max_members + 64 + inputs.len());
            prop_assert!(footprint.broadcasts <= config.max_broadcasts);
            prop_assert!(footprint.broadcasts_pushing <= footprint.broadcasts);
            prop_assert!(footprint.broadcast_ids <= 8 * config.max_broadcasts);
            prop_assert!(footprint.keys <= config.max_keys);
            prop_assert!(footprint.key_rumors <= footprint.keys);
            prop_assert!(footprint.key_tombstones <= footprint.keys);
            prop_assert!(footprint.peer_digests <= config.max_members);
            for (key, value) in node.entries() {
                prop_assert!(key.len() <= config.max_key_size && value.len() <= config.max_value_size);
                prop_assert_eq!(node.get(key), Some(value));
            }
        }
    }

    #[test]
    fn the_same_seed_and_inputs_give_identical_outputs(seed in any::<u64>(), inputs in proptest::collection::vec(input(), 1..40)) {
        let (mut a, mut b) = (new_node(seed), new_node(seed));
        let (mut now_a, mut now_b) = (Instant::ZERO, Instant::ZERO);
        for input in &inputs {
            let out_a = step(&mut a, &mut now_a, input);
            let out_b = step(&mut b, &mut now_b, input);
            prop_assert_eq!(out_a, out_b);
        }
        prop_assert_eq!(a.stats(), b.stats());
    }
}
