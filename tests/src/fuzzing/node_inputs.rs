//! Target `node_inputs`: one node, fed an arbitrary interleaving of
//! datagrams, timeouts at monotone times and commands, keeps every invariant
//! after every step, and is deterministic.
//!
//! The inputs are drawn from the fuzzer's bytes with [`arbitrary`], in ranges
//! chosen so that they meet: six names, eight addresses, six keys, few
//! broadcast ids, small sizes and tight limits (four members, three
//! broadcasts, four keys), so that tables fill, ids repeat and limits bite.
//! An odd seed turns encryption on, in the rolling upgrade's middle step
//! (plaintext accepted, so that the drawn datagrams still land; everything
//! sent is sealed, and must still fit `max_packet_size`).

use std::collections::HashMap;
use std::time::Duration;

use arbitrary::{Result, Unstructured};
use gossip_core::wire::{
    CoordinateRecord, EntryRecord, Message, PacketWriter, SiblingRecord, Status, Update,
};
use gossip_core::{
    Config, DIMENSIONS, Encryption, Event, Identity, Instant, Key, Keyring, MemberState, Node,
    PeerSelection, ReplicaId, VersionVector,
};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

use super::CLUSTER_ID;

const NAMES: [&str; 6] = ["self", "a", "b", "c", "d", "e"];
/// Keys written and gossiped: few, so that writes meet.
const KEYS: [[u8; 2]; 6] = [*b"k0", *b"k1", *b"k2", *b"k3", *b"k4", *b"k5"];
/// Bytes that metadata, payloads and values are cut from.
const FILLER: [u8; 200] = [7; 200];
/// Most inputs in one run.
const MAX_INPUTS: usize = 64;

/// One step of a run.
#[derive(Clone, Debug)]
pub enum Input {
    /// A datagram from an address: random bytes, or well-formed messages with
    /// random fields (misplaced and oversized ones included).
    Datagram {
        /// The sender.
        from: u32,
        /// The datagram.
        bytes: Vec<u8>,
    },
    /// Time passes and the node wakes up.
    Timeout {
        /// How long.
        after_ms: u64,
    },
    /// `Node::join` through these addresses.
    Join {
        /// The seeds.
        seeds: Vec<u32>,
    },
    /// `Node::leave`.
    Leave,
    /// `Node::set_metadata` with this many bytes.
    SetMetadata {
        /// Its length.
        len: usize,
    },
    /// `Node::broadcast` of this many bytes.
    Broadcast {
        /// Its length.
        len: usize,
    },
    /// A write of `len` bytes, or a delete (`None`), of one of a few keys.
    Write {
        /// Which key.
        key: usize,
        /// The value's length, or a delete.
        len: Option<usize>,
    },
}

/// The node's seed and its inputs, drawn from `data`.
pub fn draw_inputs(data: &[u8]) -> (u64, Vec<Input>) {
    let mut u = Unstructured::new(data);
    let seed = u.arbitrary().unwrap_or(0);
    let mut inputs = Vec::new();
    while !u.is_empty() && inputs.len() < MAX_INPUTS {
        match input(&mut u) {
            Ok(input) => inputs.push(input),
            Err(_) => break,
        }
    }
    (seed, inputs)
}

/// Target `node_inputs`: panics with the broken invariant.
pub fn node_inputs(data: &[u8]) {
    if let Err(broken) = check_node_inputs(data) {
        panic!("{broken}");
    }
}

/// Runs the inputs drawn from `data` twice, on two nodes with the same
/// seed: every invariant holds after every step, and both put out the same.
pub fn check_node_inputs(data: &[u8]) -> std::result::Result<(), String> {
    let (seed, inputs) = draw_inputs(data);
    let mut checked = Run::new(seed);
    let mut twin = Run::new(seed);
    for (i, input) in inputs.iter().enumerate() {
        let output = checked.step(input);
        checked
            .check(input, &output, inputs.len())
            .map_err(|broken| format!("after input {i} ({input:?}): {broken}"))?;
        if twin.step(input) != output {
            return Err(format!("after input {i} ({input:?}): two runs differ"));
        }
    }
    if checked.node.stats() != twin.node.stats() {
        return Err("two runs end with different counters".into());
    }
    Ok(())
}

fn config(seed: u64) -> Config {
    let mut config = Config::lan();
    if seed % 2 == 1 {
        let keyring = Keyring::new(Key::from_bytes([9; 32]));
        config.encryption = Some(Encryption::new(keyring).with_mode(true, true));
    }
    if seed % 4 >= 2 {
        config.peer_selection = PeerSelection::NEARBY;
    }
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

type FuzzNode = Node<u32, Xoshiro256PlusPlus>;
/// What a step put out: datagrams (destination, bytes) and events.
type Output = (Vec<(u32, Vec<u8>)>, Vec<Event<u32>>);

/// A node and what the invariants remember between steps.
struct Run {
    node: FuzzNode,
    now: Instant,
    /// The highest incarnation seen of each (name, generation) since the
    /// last tombstone was removed.
    incarnations: HashMap<(String, u64), u64>,
    tombstones_reaped: u64,
    /// This node's own (generation, incarnation): it only ever grows.
    own_life: (u64, u64),
    /// When each broadcast id was delivered.
    delivered: HashMap<u64, Instant>,
}

impl Run {
    fn new(seed: u64) -> Run {
        let identity = Identity::new("self", 0).unwrap().with_generation(1);
        let node = Node::new(
            config(seed),
            identity,
            Xoshiro256PlusPlus::seed_from_u64(seed),
            &mut rand_chacha::ChaCha20Rng::seed_from_u64(seed),
            Instant::ZERO,
        )
        .unwrap();
        Run {
            node,
            now: Instant::ZERO,
            incarnations: HashMap::new(),
            tombstones_reaped: 0,
            own_life: (0, 0),
            delivered: HashMap::new(),
        }
    }

    /// Applies one input and returns everything the node put out.
    fn step(&mut self, input: &Input) -> Output {
        let (node, now) = (&mut self.node, &mut self.now);
        match input {
            Input::Datagram { from, bytes } => {
                let _ = node.handle_message(*now, *from, bytes);
            }
            Input::Timeout { after_ms } => {
                *now += Duration::from_millis(*after_ms);
                node.handle_timeout(*now);
            }
            Input::Join { seeds } => {
                let _ = node.join(*now, seeds);
            }
            Input::Leave => {
                let _ = node.leave(*now);
            }
            Input::SetMetadata { len } => {
                let _ = node.set_metadata(*now, &FILLER[..*len]);
            }
            Input::Broadcast { len } => {
                let _ = node.broadcast(*now, &FILLER[..*len]);
            }
            Input::Write { key, len } => {
                let _ = match len {
                    Some(len) => node.set(*now, &KEYS[*key], &FILLER[..*len]),
                    None => node.delete(*now, &KEYS[*key]).map(|_| ()),
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

    /// Every invariant, after a step that put out `output`.
    fn check(
        &mut self,
        input: &Input,
        (transmits, events): &Output,
        inputs: usize,
    ) -> std::result::Result<(), String> {
        let node = &self.node;
        let now = self.now;
        let config = node.config();
        if let Input::Timeout { .. } = input {
            // The node's time stops a nanosecond short of `Instant::MAX`.
            let now = node.now();
            ensure(node.poll_timeout().is_none_or(|next| next > now), || {
                format!(
                    "after handle_timeout({now}), poll_timeout() = {:?}",
                    node.poll_timeout()
                )
            })?;
        }
        for event in events {
            if let Event::Broadcast(broadcast) = event {
                if let Some(&first) = self.delivered.get(&broadcast.id.0) {
                    // Delivered again only once its id could be forgotten.
                    ensure(
                        node.stats().broadcasts.broadcast_ids_evicted > 0
                            || now - first >= config.broadcast_retention,
                        || format!("broadcast {} delivered twice", broadcast.id),
                    )?;
                }
                self.delivered.insert(broadcast.id.0, now);
                ensure(broadcast.payload.len() <= config.max_broadcast_size, || {
                    "an oversized broadcast was delivered".into()
                })?;
            }
        }
        for (_, bytes) in transmits {
            ensure(bytes.len() <= config.max_packet_size, || {
                format!("a datagram of {} bytes was sent", bytes.len())
            })?;
        }
        ensure(events.len() <= config.max_pending_events, || {
            "too many events".into()
        })?;
        ensure(transmits.len() <= config.max_pending_transmits, || {
            "too many datagrams".into()
        })?;

        let local = node.local_member();
        ensure(
            matches!(local.state(), MemberState::Alive | MemberState::Left),
            || format!("the node considers itself {:?}", local.state()),
        )?;
        let life = (local.generation(), local.incarnation());
        ensure(life >= self.own_life, || {
            format!(
                "its own incarnation decreased: {:?} → {life:?}",
                self.own_life
            )
        })?;
        self.own_life = life;
        // A tombstone removed (reaped, or evicted from the full table) is
        // forgotten, and may come back at any incarnation.
        let reaped = node.stats().members.tombstones_reaped;
        if reaped > self.tombstones_reaped {
            self.incarnations.clear();
            self.tombstones_reaped = reaped;
        }
        for member in node.members() {
            let key = (member.name().to_string(), member.generation());
            let seen = self.incarnations.entry(key).or_insert(0);
            ensure(member.incarnation() >= *seen, || {
                format!("{} went back in incarnation", member.name())
            })?;
            *seen = member.incarnation();
        }
        let f = node.footprint();
        let bounds = [
            ("members", f.members, config.max_members),
            ("rumors", f.rumors, config.max_members),
            ("coordinates", f.coordinates, f.members),
            (
                "relayed probes",
                f.relayed_probes,
                config.max_relayed_probes,
            ),
            (
                "suspicion deadlines",
                f.suspicion_deadlines,
                2 * config.max_members + 64 + inputs,
            ),
            ("broadcasts", f.broadcasts, config.max_broadcasts),
            ("broadcasts pushing", f.broadcasts_pushing, f.broadcasts),
            ("broadcast ids", f.broadcast_ids, 8 * config.max_broadcasts),
            ("keys", f.keys, config.max_keys),
            ("key rumors", f.key_rumors, f.keys),
            ("key tombstones", f.key_tombstones, f.keys),
            ("peer digests", f.peer_digests, config.max_members),
        ];
        for (what, size, bound) in bounds {
            ensure(size <= bound, || {
                format!("{size} {what}, more than {bound}")
            })?;
        }
        for (key, value) in node.entries() {
            ensure(
                key.len() <= config.max_key_size && value.len() <= config.max_value_size,
                || "an oversized entry is stored".into(),
            )?;
            ensure(node.get(key) == Some(value), || {
                "get disagrees with entries".into()
            })?;
        }
        Ok(())
    }
}

fn ensure(holds: bool, broken: impl FnOnce() -> String) -> std::result::Result<(), String> {
    if holds { Ok(()) } else { Err(broken()) }
}

/// One input, with the proptest's former weights: datagrams of messages 6,
/// timeouts 4, writes 2, random bytes, joins, leaves, metadata and
/// broadcasts 1 each.
fn input(u: &mut Unstructured<'_>) -> Result<Input> {
    let from = |u: &mut Unstructured<'_>| u.int_in_range(0..=7u32);
    Ok(match u.int_in_range(0..=16u8)? {
        0 => Input::Datagram {
            from: from(u)?,
            bytes: bytes(u, 64)?,
        },
        1..=6 => Input::Datagram {
            from: from(u)?,
            bytes: datagram(u)?,
        },
        // Now and then to the end of time (`Instant::MAX`), which must
        // return, and after which nothing is due at once again.
        7..=10 => Input::Timeout {
            after_ms: if u.ratio(1, 64)? {
                u64::MAX
            } else {
                u.int_in_range(0..=2_999)?
            },
        },
        11 => Input::Join {
            seeds: (0..u.int_in_range(0..=2)?)
                .map(|_| from(u))
                .collect::<Result<_>>()?,
        },
        12 => Input::Leave,
        13 => Input::SetMetadata {
            len: u.int_in_range(0..=79)?,
        },
        14 => Input::Broadcast {
            len: u.int_in_range(0..=199)?,
        },
        _ => Input::Write {
            key: u.int_in_range(0..=5)?,
            len: option(u, |u| u.int_in_range(0..=39))?,
        },
    })
}

fn bytes(u: &mut Unstructured<'_>, max: usize) -> Result<Vec<u8>> {
    let len = u.int_in_range(0..=max)?;
    Ok(u.bytes(len)?.to_vec())
}

fn option<T>(
    u: &mut Unstructured<'_>,
    value: impl FnOnce(&mut Unstructured<'_>) -> Result<T>,
) -> Result<Option<T>> {
    Ok(if u.arbitrary()? {
        Some(value(u)?)
    } else {
        None
    })
}

/// A network coordinate, mostly within the sane range and sometimes not.
fn coordinate(u: &mut Unstructured<'_>) -> Result<CoordinateRecord> {
    let mut vector = [0; DIMENSIONS];
    for component in &mut vector {
        *component = u.int_in_range(-3_000_000..=3_000_000)?;
    }
    Ok(CoordinateRecord {
        vector,
        height: u.int_in_range(0..=20_000)?,
        adjustment: u.int_in_range(-20_000..=20_000)?,
        error: u.int_in_range(0..=1_600)?,
    })
}

fn name(u: &mut Unstructured<'_>) -> Result<&'static str> {
    Ok(NAMES[u.int_in_range(0..=NAMES.len() - 1)?])
}

/// One to five messages with random fields, written as one datagram.
fn datagram(u: &mut Unstructured<'_>) -> Result<Vec<u8>> {
    let mut buf = [0u8; 2048];
    let mut writer = PacketWriter::new(&mut buf, CLUSTER_ID);
    for _ in 0..u.int_in_range(1..=5)? {
        // Misplaced primaries and oversized datagrams are part of the test.
        let _ = match u.int_in_range(0..=18u8)? {
            0 => writer.push::<u32>(&Message::Ping {
                seq: u.arbitrary()?,
                target: name(u)?,
            }),
            1 => writer.push::<u32>(&Message::IndirectPing {
                seq: u.arbitrary()?,
                target: name(u)?,
                target_addr: u.int_in_range(0..=7)?,
                nack: u.arbitrary()?,
            }),
            2 => writer.push::<u32>(&Message::Ack {
                seq: u.arbitrary()?,
            }),
            3 => writer.push::<u32>(&Message::Nack {
                seq: u.arbitrary()?,
            }),
            4 => writer.push::<u32>(&Message::PushPull {
                session: u.arbitrary()?,
                digest: u.arbitrary()?,
                join: u.arbitrary()?,
                cookie: u.arbitrary()?,
                padding: &FILLER[..u.int_in_range(0..=40)?],
            }),
            5 => writer.push::<u32>(&Message::State {
                session: u.arbitrary()?,
                reply: u.arbitrary()?,
                fresh: u.arbitrary()?,
                chunk: u.int_in_range(0..=3)?,
                chunks: u.int_in_range(0..=3)?,
            }),
            6 => writer.push::<u32>(&Message::StateResend {
                session: u.arbitrary()?,
                missing: &bytes(u, 3)?,
            }),
            7 => {
                let status = match u.int_in_range(0..=3u8)? {
                    0 => Status::Alive {
                        addr: u.int_in_range(0..=7)?,
                        metadata: &FILLER[..u.int_in_range(0..=79)?],
                    },
                    1 => Status::Suspect { by: name(u)? },
                    2 => Status::Failed,
                    _ => Status::Left,
                };
                writer.push::<u32>(&Message::Update(Update {
                    name: name(u)?,
                    generation: u.int_in_range(0..=2)?,
                    incarnation: u.int_in_range(0..=5)?,
                    status,
                }))
            }
            8 => writer.push::<u32>(&Message::Broadcast {
                // Few distinct ids, so that copies and duplicates are common.
                id: u.int_in_range(0..=5)?,
                origin: name(u)?,
                age_ms: u.int_in_range(0..=199_999)?,
                feedback: u.arbitrary()?,
                payload: &FILLER[..u.int_in_range(0..=79)?],
            }),
            9 => writer.push::<u32>(&Message::Pull {
                salt: u.arbitrary()?,
                filter: &bytes(u, 19)?,
            }),
            10 => writer.push::<u32>(&Message::Feedback {
                known: &bytes(u, 19)?,
                new: &bytes(u, 19)?,
            }),
            11 => writer.push::<u32>(&key_entry(u)?.as_message()),
            12 => writer.push::<u32>(&Message::StateRoot {
                root: u.arbitrary()?,
            }),
            13 => writer.push::<u32>(&Message::SyncHashes {
                depth: u.int_in_range(4..=6)?,
                level: u.int_in_range(0..=5)?,
                root: u.arbitrary()?,
                hashes: &bytes(u, 139)?,
            }),
            15 => writer.push::<u32>(&Message::Cookie {
                session: u.arbitrary()?,
                cookie: u.arbitrary()?,
            }),
            16 => writer.push::<u32>(&Message::Coordinate(coordinate(u)?)),
            17 => writer.push::<u32>(&Message::BroadcastDigest {
                digest: u.int_in_range(1..=u64::MAX)?,
            }),
            18 => writer.push::<u32>(&Message::CoordinateWanted),
            _ => writer.push::<u32>(&Message::SyncEntries {
                depth: u.int_in_range(4..=6)?,
                want: &bytes(u, 11)?,
            }),
        };
    }
    let len = writer.len();
    Ok(buf[..len].to_vec())
}

/// A key's state: a version from a few writes, and siblings `(replica,
/// counter, millis, value or delete)` in any order (unsorted ones are
/// malformed).
struct KeyEntry {
    key: usize,
    version: VersionVector,
    siblings: Vec<(u64, u64, u64, Option<usize>)>,
}

fn key_entry(u: &mut Unstructured<'_>) -> Result<KeyEntry> {
    let mut version = VersionVector::new();
    for _ in 0..u.int_in_range(0..=3)? {
        let replica = ReplicaId(u.int_in_range(0..=3)?);
        for _ in 0..u.int_in_range(1..=3)? {
            version.increment(replica);
        }
    }
    let siblings = (0..u.int_in_range(0..=2)?)
        .map(|_| {
            Ok((
                u.int_in_range(0..=3)?,
                u.int_in_range(1..=3)?,
                u.int_in_range(0..=4_999)?,
                option(u, |u| u.int_in_range(0..=39))?,
            ))
        })
        .collect::<Result<_>>()?;
    Ok(KeyEntry {
        key: u.int_in_range(0..=3)?,
        version,
        siblings,
    })
}

impl KeyEntry {
    fn as_message(&self) -> Message<'_, u32> {
        Message::KeyEntry {
            key: &KEYS[self.key],
            entry: EntryRecord {
                version: self.version.iter().map(|(r, c)| (r.0, c)).collect(),
                siblings: self
                    .siblings
                    .iter()
                    .map(|&(replica, counter, millis, len)| SiblingRecord {
                        replica,
                        counter,
                        millis,
                        logical: 0,
                        origin: NAMES[replica as usize],
                        value: len.map(|len| &FILLER[..len]),
                    })
                    .collect(),
            },
        }
    }
}
