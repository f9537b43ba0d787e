//! The messages of the protocol.

use alloc::vec::Vec;

use smallvec::SmallVec;

use crate::identity::{Generation, Incarnation};

/// One message of a datagram. Borrowed from the datagram when decoded.
///
/// On the wire each is a [`tag`](super::tag), the length of its body and the
/// body (see the [module](super) for the layout of each).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Message<'a, A> {
    /// SWIM probe: "are you alive?" Answered by an [`Message::Ack`] with the same
    /// sequence number. Carries the target's name so that a different node now
    /// listening on the address does not answer for it.
    Ping {
        /// Sequence number chosen by the prober.
        seq: u32,
        /// Name of the member being probed.
        target: &'a str,
    },
    /// SWIM ping-req: "probe `target` for me and relay its ack".
    IndirectPing {
        /// Sequence number of the requester's probe; the relayed ack carries it.
        seq: u32,
        /// Name of the member to probe.
        target: &'a str,
        /// Where to probe it.
        target_addr: A,
        /// The requester wants a [`Message::Nack`] if the target stays silent
        /// (Lifeguard).
        nack: bool,
    },
    /// Answer to a ping, sent directly or relayed by a helper.
    Ack {
        /// Sequence number of the ping answered.
        seq: u32,
    },
    /// From a member asked to probe on someone's behalf: the target did not
    /// answer in time. Tells the requester that it is not itself cut off.
    Nack {
        /// Sequence number of the requester's probe.
        seq: u32,
    },
    /// A change in a member's state, gossiped.
    Update(Update<'a, A>),
    /// Opens a state exchange: the sender's membership digest. A receiver whose
    /// digest differs (or any receiver, on `join`) answers with its state.
    PushPull {
        /// Identifies the exchange.
        session: u32,
        /// Order-independent hash over the sender's member table.
        digest: u64,
        /// The sender is joining and needs the full state regardless of digests.
        join: bool,
        /// The [`Message::Cookie`] the receiver gave this address, or 0. A
        /// node answers an exchange from an address outside its member table
        /// only with a valid cookie, so that a forged or replayed request
        /// cannot make it send its state to an address that did not ask.
        cookie: u64,
        /// Zeros that make the request larger than the cookie it may draw
        /// ([`MIN_STRANGER_PADDING`] at least; a node ignores a stranger's
        /// request with less), as QUIC pads its first packets: a forged
        /// request draws less than it carried.
        padding: &'a [u8],
    },
    /// A chunk of the sender's member table: the [`Update`]s that follow in this
    /// datagram are its entries, merged as remote state rather than as gossip.
    State {
        /// The exchange this chunk belongs to.
        session: u32,
        /// The sender asks for the receiver's state in return.
        reply: bool,
        /// The entries are news the sender is still gossiping: the receiver passes
        /// on what it learns from them. Entries that are not fresh (in answers to
        /// a join) are merged quietly, since the cluster already knows them.
        fresh: bool,
        /// Index of this chunk in the transfer.
        chunk: u16,
        /// Number of chunks in the transfer, so the receiver can tell what it missed.
        chunks: u16,
    },
    /// Asks the sender of a state transfer to send again the chunks it lost.
    StateResend {
        /// The exchange.
        session: u32,
        /// Bitmap of the missing chunk indices, least significant bit first.
        missing: &'a [u8],
    },
    /// A user broadcast, pushed as a rumor or sent in answer to a [`Message::Pull`].
    Broadcast {
        /// Identifies the broadcast cluster-wide; receivers deliver it once.
        id: u64,
        /// Name of the member that broadcast it.
        origin: &'a str,
        /// How long ago, in milliseconds, the origin broadcast it (as far as the
        /// sender can tell: network delays are not counted). A broadcast is
        /// passed on only while younger than the retention time.
        age_ms: u32,
        /// The sender wants to know if the receiver already had it (rumor
        /// mongering with feedback): the receiver answers with
        /// [`Message::Feedback`].
        feedback: bool,
        /// The application's bytes.
        payload: &'a [u8],
    },
    /// "Send me the broadcasts you hold that are not in this filter": a Bloom
    /// filter over the ids of the broadcasts the sender has heard of.
    Pull {
        /// Salts the filter's hashes, so that a false positive in one pull is
        /// not one in the next.
        salt: u32,
        /// The filter's bits; its length is zero or a power of two, at most
        /// [`MAX_PULL_FILTER_LEN`](crate::wire::MAX_PULL_FILTER_LEN).
        filter: &'a [u8],
    },
    /// "Send me your coordinate": a ping carries it when the sender holds
    /// no coordinate of the target, or an old or stale one; the ack then
    /// carries the target's coordinate. Other acks carry none, so that a
    /// settled cluster does not repeat fourteen bytes a probe.
    CoordinateWanted,
    /// A digest of the broadcasts the sender holds (the XOR of a hash of each
    /// id), piggybacked on probes and acks while it holds any: a member whose
    /// digest differs pulls from the sender, so that pulls go out only when
    /// there is something to ask for.
    BroadcastDigest {
        /// The digest; never 0 (a member holding nothing sends none).
        digest: u64,
    },
    /// Feedback to pushed broadcasts that asked for it: which the receiver
    /// already had (an unnecessary contact) and which were news to it.
    Feedback {
        /// Ids of broadcasts already known, eight little-endian bytes each.
        known: &'a [u8],
        /// Ids of broadcasts that were new, eight little-endian bytes each.
        new: &'a [u8],
    },
    /// One key of the replicated store with its whole replicated state: pushed
    /// as a rumor after a write, or sent in an anti-entropy answer. Merging it
    /// is idempotent, so copies, reordering and loss do no harm.
    KeyEntry {
        /// The key.
        key: &'a [u8],
        /// Its version and values.
        entry: EntryRecord<'a>,
    },
    /// The sender's state digest (the root of its Merkle tree), piggybacked on
    /// probes and acks for convergence monitoring.
    StateRoot {
        /// The root hash; 0 for an empty store (sent as an empty body).
        root: u64,
    },
    /// A step of anti-entropy: for each listed node of the sender's Merkle tree
    /// at `level`, the hashes of its sixteen children. The receiver answers
    /// with its own children of those that differ, one level down, or with the
    /// entries of the leaves that differ ([`Message::SyncEntries`]).
    SyncHashes {
        /// The sender's tree depth; trees of different depths are not compared.
        depth: u8,
        /// The level of the listed nodes (0 is the root).
        level: u8,
        /// The sender's root, so that replicas that agree stop at once.
        root: u64,
        /// Per node: its index (four bytes) and its children's hashes (four
        /// bytes each, the low half of the 64-bit hash), little-endian.
        hashes: &'a [u8],
    },
    /// The last steps of anti-entropy: the [`Message::KeyEntry`]s that follow
    /// are the sender's entries in leaves that differ, and `want` lists leaves
    /// whose entries the sender wants in return.
    SyncEntries {
        /// The sender's tree depth.
        depth: u8,
        /// Leaf indices, four little-endian bytes each.
        want: &'a [u8],
    },
    /// The answer to an exchange from an address outside the member table
    /// without a valid cookie: ask again with this one. Proves the address
    /// receives, as QUIC's Retry does, at the cost of one round trip.
    Cookie {
        /// The exchange asked for.
        session: u32,
        /// To send back in [`Message::PushPull::cookie`].
        cookie: u64,
    },
    /// The sender's Vivaldi network coordinate, piggybacked on probes and
    /// acks to members: an ack's lets the prober turn the round trip into a
    /// better coordinate of its own, and any lets the receiver predict its
    /// round trip to the sender.
    Coordinate(CoordinateRecord),
}

/// Least padding of an exchange request from outside the receiver's member
/// table: the request then outweighs the cookie it draws.
pub const MIN_STRANGER_PADDING: usize = 32;

/// Most writers a version vector names on the wire.
pub const MAX_VERSION_LEN: usize = 32;
/// Most concurrent writes of one key on the wire.
pub const MAX_SIBLINGS: usize = 8;
/// Deepest Merkle tree anti-entropy compares.
pub const MAX_TREE_DEPTH: u8 = 7;
/// Dimensions of a network coordinate's vector.
pub const COORDINATE_DIMENSIONS: usize = 8;

/// The components of a version vector, as it travels: `(replica id, writes
/// seen)`, by strictly increasing replica id, counts positive.
pub type VersionRecord = SmallVec<[(u64, u64); 2]>;

/// The replicated state of one key, as it travels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryRecord<'a> {
    /// Every write this state has seen (its causal context).
    pub version: VersionRecord,
    /// The writes not superseded by another: one, or several concurrent ones.
    pub siblings: Vec<SiblingRecord<'a>>,
}

impl EntryRecord<'_> {
    /// True if the record can be a key's state: a version within bounds by
    /// increasing replica id, one to [`MAX_SIBLINGS`] writes in increasing
    /// order of their names, none of them the zeroth write of its replica.
    pub fn is_well_formed(&self) -> bool {
        self.version.len() <= MAX_VERSION_LEN
            && self.version.windows(2).all(|w| w[0].0 < w[1].0)
            && self.version.iter().all(|&(_, count)| count > 0)
            && (1..=MAX_SIBLINGS).contains(&self.siblings.len())
            && self.siblings.iter().all(|s| s.counter > 0)
            && self
                .siblings
                .windows(2)
                .all(|w| (w[0].replica, w[0].counter) < (w[1].replica, w[1].counter))
    }
}

/// One write of a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiblingRecord<'a> {
    /// The writer's replica id.
    pub replica: u64,
    /// The writer's count of its writes to this key; `(replica, counter)` names
    /// the write uniquely.
    pub counter: u64,
    /// When it was written, by the writer's hybrid logical clock: physical
    /// milliseconds.
    pub millis: u64,
    /// The clock's logical counter within that millisecond.
    pub logical: u32,
    /// The writer's name.
    pub origin: &'a str,
    /// The value written, or `None` for a delete.
    pub value: Option<&'a [u8]>,
}

impl<A> Message<'_, A> {
    /// The kind, for statistics.
    pub fn kind(&self) -> MessageKind {
        match self {
            Message::Ping { .. } => MessageKind::Ping,
            Message::IndirectPing { .. } => MessageKind::IndirectPing,
            Message::Ack { .. } => MessageKind::Ack,
            Message::Nack { .. } => MessageKind::Nack,
            Message::Update(update) => match update.status {
                Status::Alive { .. } => MessageKind::Alive,
                Status::Suspect { .. } => MessageKind::Suspect,
                Status::Failed => MessageKind::Failed,
                Status::Left => MessageKind::Left,
            },
            Message::PushPull { .. } => MessageKind::PushPull,
            Message::State { .. } => MessageKind::State,
            Message::StateResend { .. } => MessageKind::StateResend,
            Message::Broadcast { .. } => MessageKind::Broadcast,
            Message::Pull { .. } => MessageKind::Pull,
            Message::BroadcastDigest { .. } => MessageKind::BroadcastDigest,
            Message::CoordinateWanted => MessageKind::CoordinateWanted,
            Message::Feedback { .. } => MessageKind::Feedback,
            Message::KeyEntry { .. } => MessageKind::KeyEntry,
            Message::StateRoot { .. } => MessageKind::StateRoot,
            Message::SyncHashes { .. } => MessageKind::SyncHashes,
            Message::SyncEntries { .. } => MessageKind::SyncEntries,
            Message::Cookie { .. } => MessageKind::Cookie,
            Message::Coordinate(_) => MessageKind::Coordinate,
        }
    }

    /// True for the messages that may only open a datagram. Member updates,
    /// broadcasts, feedback, key entries, state roots and coordinates ride
    /// in the room any datagram has left.
    pub fn is_primary(&self) -> bool {
        !matches!(
            self,
            Message::Update(_)
                | Message::Broadcast { .. }
                | Message::Feedback { .. }
                | Message::KeyEntry { .. }
                | Message::StateRoot { .. }
                | Message::BroadcastDigest { .. }
                | Message::CoordinateWanted
                | Message::Coordinate(_)
        )
    }
}

/// A network coordinate as it travels, piggybacked on probes and acks:
/// lengths in units of 10 µs, the error in thousandths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CoordinateRecord {
    /// The vector's components.
    pub vector: [i32; COORDINATE_DIMENSIONS],
    /// The height.
    pub height: u32,
    /// The adjustment.
    pub adjustment: i32,
    /// The error estimate, in thousandths.
    pub error: u16,
}

/// A member's state as the sender knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Update<'a, A> {
    /// The member.
    pub name: &'a str,
    /// Which life of the member.
    pub generation: Generation,
    /// The member's incarnation the claim refers to.
    pub incarnation: Incarnation,
    /// What is claimed.
    pub status: Status<'a, A>,
}

/// What an [`Update`] claims about its member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status<'a, A> {
    /// The member is alive at `addr` with this metadata.
    Alive {
        /// Where it receives datagrams.
        addr: A,
        /// Its metadata.
        metadata: &'a [u8],
    },
    /// The member missed a probe by `by`.
    Suspect {
        /// Name of the member that suspects it.
        by: &'a str,
    },
    /// The member was declared failed.
    Failed,
    /// The member left gracefully.
    Left,
}

/// Message kinds, as counted in [`Stats`](crate::Stats).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MessageKind {
    /// `Message::Ping`.
    Ping,
    /// `Message::IndirectPing`.
    IndirectPing,
    /// `Message::Ack`.
    Ack,
    /// An alive `Update`.
    Alive,
    /// A suspect `Update`.
    Suspect,
    /// A failed `Update`.
    Failed,
    /// A left `Update`.
    Left,
    /// `Message::PushPull`.
    PushPull,
    /// `Message::State`.
    State,
    /// `Message::StateResend`.
    StateResend,
    /// `Message::Nack`.
    Nack,
    /// `Message::Broadcast`.
    Broadcast,
    /// `Message::Pull`.
    Pull,
    /// `Message::Feedback`.
    Feedback,
    /// `Message::KeyEntry`.
    KeyEntry,
    /// `Message::StateRoot`.
    StateRoot,
    /// `Message::SyncHashes`.
    SyncHashes,
    /// `Message::SyncEntries`.
    SyncEntries,
    /// `Message::Cookie`.
    Cookie,
    /// `Message::Coordinate`.
    Coordinate,
    /// `Message::BroadcastDigest`.
    BroadcastDigest,
    /// `Message::CoordinateWanted`.
    CoordinateWanted,
}

impl MessageKind {
    /// Every kind, in declaration order.
    pub const ALL: [MessageKind; 22] = [
        MessageKind::Ping,
        MessageKind::IndirectPing,
        MessageKind::Ack,
        MessageKind::Alive,
        MessageKind::Suspect,
        MessageKind::Failed,
        MessageKind::Left,
        MessageKind::PushPull,
        MessageKind::State,
        MessageKind::StateResend,
        MessageKind::Nack,
        MessageKind::Broadcast,
        MessageKind::Pull,
        MessageKind::Feedback,
        MessageKind::KeyEntry,
        MessageKind::StateRoot,
        MessageKind::SyncHashes,
        MessageKind::SyncEntries,
        MessageKind::Cookie,
        MessageKind::Coordinate,
        MessageKind::BroadcastDigest,
        MessageKind::CoordinateWanted,
    ];

    /// The kind in snake case (`"ping"`, `"state_root"`), for reports and
    /// metric labels.
    pub fn name(self) -> &'static str {
        match self {
            MessageKind::Ping => "ping",
            MessageKind::IndirectPing => "indirect_ping",
            MessageKind::Ack => "ack",
            MessageKind::Alive => "alive",
            MessageKind::Suspect => "suspect",
            MessageKind::Failed => "failed",
            MessageKind::Left => "left",
            MessageKind::PushPull => "push_pull",
            MessageKind::State => "state",
            MessageKind::StateResend => "state_resend",
            MessageKind::Nack => "nack",
            MessageKind::Broadcast => "broadcast",
            MessageKind::Pull => "pull",
            MessageKind::Feedback => "feedback",
            MessageKind::KeyEntry => "key_entry",
            MessageKind::StateRoot => "state_root",
            MessageKind::SyncHashes => "sync_hashes",
            MessageKind::SyncEntries => "sync_entries",
            MessageKind::Cookie => "cookie",
            MessageKind::Coordinate => "coordinate",
            MessageKind::BroadcastDigest => "broadcast_digest",
            MessageKind::CoordinateWanted => "coordinate_wanted",
        }
    }

    /// Index into per-kind tables.
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}
