//! Counters, read with [`Node::stats`](crate::Node::stats).

use core::ops::{Index, IndexMut};

use crate::error::{DecodeError, MessageError};
use crate::seal::SealError;
use crate::wire::MessageKind;

/// Messages and bytes of one kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Messages.
    pub messages: u64,
    /// Encoded bytes of those messages (headers excluded).
    pub bytes: u64,
}

impl Traffic {
    pub(crate) fn record(&mut self, bytes: usize) {
        self.messages += 1;
        self.bytes += bytes as u64;
    }
}

/// [`Traffic`] for each [`MessageKind`]; index it by kind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrafficByKind([Traffic; MessageKind::ALL.len()]);

impl TrafficByKind {
    /// Every kind with its traffic.
    pub fn iter(&self) -> impl Iterator<Item = (MessageKind, Traffic)> + '_ {
        MessageKind::ALL
            .iter()
            .map(|&kind| (kind, self.0[kind.index()]))
    }

    /// Messages of every kind together.
    pub fn total(&self) -> Traffic {
        self.0.iter().fold(Traffic::default(), |sum, t| Traffic {
            messages: sum.messages + t.messages,
            bytes: sum.bytes + t.bytes,
        })
    }
}

impl Index<MessageKind> for TrafficByKind {
    type Output = Traffic;
    fn index(&self, kind: MessageKind) -> &Traffic {
        &self.0[kind.index()]
    }
}

impl IndexMut<MessageKind> for TrafficByKind {
    fn index_mut(&mut self, kind: MessageKind) -> &mut Traffic {
        &mut self.0[kind.index()]
    }
}

/// Datagrams rejected by [`Node::handle_message`](crate::Node::handle_message), by reason.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rejected {
    /// Larger than `max_packet_size`.
    pub oversized: u64,
    /// Shorter than a header.
    pub truncated: u64,
    /// Not starting with the magic bytes.
    pub bad_magic: u64,
    /// Of another protocol version.
    pub unsupported_version: u64,
    /// Of another cluster.
    pub wrong_cluster: u64,
    /// A message is malformed.
    pub malformed: u64,
    /// A node name is invalid.
    pub invalid_name: u64,
    /// No message after the header.
    pub empty: u64,
    /// More messages than allowed.
    pub too_many_messages: u64,
    /// A primary message after the first.
    pub misplaced_message: u64,
    /// A number outside what the protocol allows (a state transfer of too
    /// many chunks, ...).
    pub out_of_range: u64,
    /// Metadata over `max_metadata_size`.
    pub metadata_too_large: u64,
    /// A broadcast over `max_broadcast_size`.
    pub broadcast_too_large: u64,
    /// A key or value of the replicated store over its limit.
    pub entry_too_large: u64,
    /// Sealed datagrams that failed authentication (tampered, truncated, or of
    /// another cluster's label or key).
    pub unauthenticated: u64,
    /// Sealed datagrams under a key this node does not hold.
    pub unknown_key: u64,
    /// Plaintext datagrams, refused because this node takes sealed ones only.
    pub plaintext_refused: u64,
    /// Sealed datagrams, refused because this node has no keys.
    pub sealed_refused: u64,
    /// Sealed datagrams accepted before: replays (or older than their
    /// sender's replay window).
    pub replayed: u64,
    /// Sealed datagrams sent more than `max_datagram_age` before (or after)
    /// this node's wall clock: old replays, or a sender's clock far off.
    pub stale: u64,
    /// Sealed datagrams from a sender beyond as many as the member table
    /// holds, all heard within twice `max_datagram_age`.
    pub too_many_senders: u64,
}

impl Rejected {
    /// All rejected datagrams.
    pub fn total(&self) -> u64 {
        self.oversized
            + self.truncated
            + self.bad_magic
            + self.unsupported_version
            + self.wrong_cluster
            + self.malformed
            + self.invalid_name
            + self.empty
            + self.too_many_messages
            + self.misplaced_message
            + self.out_of_range
            + self.metadata_too_large
            + self.broadcast_too_large
            + self.entry_too_large
            + self.unauthenticated
            + self.unknown_key
            + self.plaintext_refused
            + self.sealed_refused
            + self.replayed
            + self.stale
            + self.too_many_senders
    }

    pub(crate) fn count(&mut self, error: &MessageError) {
        let counter = match error {
            MessageError::Oversized { .. } => &mut self.oversized,
            MessageError::MetadataTooLarge { .. } => &mut self.metadata_too_large,
            MessageError::BroadcastTooLarge { .. } => &mut self.broadcast_too_large,
            MessageError::EntryTooLarge { .. } => &mut self.entry_too_large,
            MessageError::Seal(e) => match e {
                SealError::Unauthenticated => &mut self.unauthenticated,
                SealError::UnknownKey(_) => &mut self.unknown_key,
                SealError::PlaintextRefused => &mut self.plaintext_refused,
                SealError::NotEncrypted => &mut self.sealed_refused,
                SealError::Replayed => &mut self.replayed,
                SealError::Stale => &mut self.stale,
                SealError::TooManySenders => &mut self.too_many_senders,
            },
            MessageError::Decode(e) => match e {
                DecodeError::Truncated => &mut self.truncated,
                DecodeError::BadMagic => &mut self.bad_magic,
                DecodeError::UnsupportedVersion { .. } => &mut self.unsupported_version,
                DecodeError::WrongCluster { .. } => &mut self.wrong_cluster,
                DecodeError::Malformed => &mut self.malformed,
                DecodeError::InvalidName => &mut self.invalid_name,
                DecodeError::Empty => &mut self.empty,
                DecodeError::TooManyMessages => &mut self.too_many_messages,
                DecodeError::MisplacedMessage => &mut self.misplaced_message,
                DecodeError::OutOfRange => &mut self.out_of_range,
            },
        };
        *counter += 1;
    }
}

/// What a node has done and seen since it was created, by area (as quinn's
/// `ConnectionStats` nests its frame and datagram counters).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// See [`DatagramStats`].
    pub datagrams: DatagramStats,
    /// See [`SealStats`].
    pub seal: SealStats,
    /// See [`DetectionStats`].
    pub detection: DetectionStats,
    /// See [`MemberStats`].
    pub members: MemberStats,
    /// See [`ExchangeStats`].
    pub exchange: ExchangeStats,
    /// See [`CoordinateStats`].
    pub coordinates: CoordinateStats,
    /// See [`BroadcastStats`].
    pub broadcasts: BroadcastStats,
    /// See [`StateStats`].
    pub state: StateStats,
    /// Events dropped because `max_pending_events` were undrained.
    pub events_dropped: u64,
}

/// What crossed the wire: datagrams and messages in and out, and what was
/// refused or dropped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DatagramStats {
    /// Datagrams received (accepted or not).
    pub packets_in: u64,
    /// Bytes of datagrams received.
    pub bytes_in: u64,
    /// Datagrams sent.
    pub packets_out: u64,
    /// Bytes of datagrams sent.
    pub bytes_out: u64,
    /// Messages received in accepted datagrams, by kind.
    pub messages_in: TrafficByKind,
    /// Messages sent, by kind.
    pub messages_out: TrafficByKind,
    /// Datagrams rejected, by reason.
    pub rejected: Rejected,
    /// Messages skipped in accepted datagrams because this version does not
    /// know their kind: sent by a newer node (see the README's upgrade rules).
    pub unknown_messages: u64,
    /// Datagrams not sent because their first message alone did not fit
    /// `max_packet_size` (configuration validation makes this impossible;
    /// counted rather than trusted).
    pub transmits_unencodable: u64,
    /// Datagrams dropped because `max_pending_transmits` were undrained.
    pub transmits_dropped: u64,
    /// Datagrams ignored because this node has left.
    pub ignored_after_leave: u64,
}

/// Encryption: datagrams sealed and opened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SealStats {
    /// Sealed datagrams opened (authenticated and decrypted).
    pub datagrams_opened: u64,
    /// Plaintext datagrams taken while encryption is on (`accept_plaintext`,
    /// during a rolling upgrade).
    pub plaintext_accepted: u64,
    /// Datagrams sent sealed.
    pub datagrams_sealed: u64,
}

/// Failure detection: probes, indirect probes and Lifeguard's nacks and
/// buddy system.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DetectionStats {
    /// Direct probes sent (one per protocol period with a member to probe).
    pub probes: u64,
    /// Probes that ended without any ack.
    pub probes_failed: u64,
    /// Indirect probe requests sent to helpers.
    pub indirect_probes: u64,
    /// Probes sent on behalf of another member's indirect probe request.
    pub relayed_probes: u64,
    /// Relayed probes dropped because `max_relayed_probes` were in flight.
    pub relayed_probes_dropped: u64,
    /// Acks and nacks that matched no probe in flight (late or forged).
    pub unmatched_acks: u64,
    /// Pings addressed to a different name than this node's.
    pub misdirected_pings: u64,
    /// Nacks sent for relayed probes whose target stayed silent (Lifeguard).
    pub nacks_sent: u64,
    /// Nacks received for this node's own failed probes.
    pub nacks_received: u64,
    /// Nacks that helpers owed this node and did not send in time: evidence that
    /// this node, not its target, is slow or cut off.
    pub nacks_missed: u64,
    /// Protocol periods stretched because the local health score was above 0.
    pub probes_degraded: u64,
    /// Suspicions sent to the suspect itself with a probe, gossip or ack, and
    /// failures in acks to a member this node holds failed (Lifeguard's buddy
    /// system).
    pub buddy_suspicions: u64,
    /// This node's alive record sent first-hand to a member heard claiming it
    /// suspect or failed at an incarnation it had already refuted.
    pub stale_claims_corrected: u64,
}

/// How claims about members were taken, and the member table's bounds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemberStats {
    /// Members this node began to suspect (its own probes and gossip heard).
    pub suspicions: u64,
    /// Independent confirmations of open suspicions (Lifeguard), each of which
    /// shortened a suspicion timeout.
    pub suspicion_confirmations: u64,
    /// Members this node declared failed when their suspicion timed out.
    pub failures_declared: u64,
    /// Times this node refuted a claim that it is suspect, failed or left.
    pub refutations: u64,
    /// Updates that changed nothing (stale, duplicate, or about unknown members).
    pub updates_ignored: u64,
    /// Updates refused because their incarnation is more than 2³² above the
    /// one known (forged: no member gets there, and one at `u64::MAX` could
    /// not refute).
    pub implausible_claims: u64,
    /// Updates announcing this node's own name from another address, or
    /// claiming a newer generation of it: another process runs under the same
    /// name ([`Event::NameConflict`](crate::Event::NameConflict)).
    pub name_conflicts: u64,
    /// Newcomers refused because the member table was full.
    pub members_refused: u64,
    /// Tombstones removed (reaped, or evicted to make room).
    pub tombstones_reaped: u64,
}

/// State exchanges (push-pull, joins) and the cookies that guard them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExchangeStats {
    /// State exchanges this node started (periodic and discovery ones).
    pub push_pulls: u64,
    /// Exchanges started because a datagram came from an address not in the
    /// member table.
    pub discovery_push_pulls: u64,
    /// Exchanges answered with nothing because the digests matched.
    pub push_pulls_in_sync: u64,
    /// Full member tables sent (answers to exchanges and joins).
    pub states_sent: u64,
    /// Exchange requests from addresses outside the member table answered
    /// with a cookie instead of the table (the address must prove it receives).
    pub cookies_sent: u64,
    /// Cookies received for no request of this node's (forged or stale).
    pub cookies_ignored: u64,
    /// Exchange requests from outside the member table without the padding
    /// that makes them outweigh an answer: ignored.
    pub unpadded_requests: u64,
}

/// Network coordinates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CoordinateStats {
    /// Round trips of direct probes that moved this node's network
    /// coordinate.
    pub rtt_samples: u64,
    /// Round trips not used: longer than 10 s (a stall, not a network), or
    /// they would have made the coordinate invalid.
    pub rtt_samples_discarded: u64,
    /// Coordinates received outside what sane round trips produce, from an
    /// address outside the member table, or under this node's own address:
    /// ignored.
    pub coordinates_refused: u64,
}

/// User broadcasts and pulls.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BroadcastStats {
    /// Broadcasts this node sent with [`Node::broadcast`](crate::Node::broadcast).
    pub broadcasts_originated: u64,
    /// Broadcasts from others received for the first time (each delivered as
    /// one event).
    pub broadcasts_received: u64,
    /// Copies of broadcasts this node already had: network duplicates, and
    /// pushes to a member that knew (Demers' unnecessary contacts).
    pub broadcasts_duplicate: u64,
    /// Broadcasts received older than `broadcast_retention`, ignored.
    pub broadcasts_stale: u64,
    /// Broadcasts dropped before their retention ended because
    /// `max_broadcasts` were held (the oldest goes first).
    pub broadcasts_evicted: u64,
    /// Ids of broadcasts forgotten before twice their retention because eight
    /// times `max_broadcasts` were remembered: a late copy of one of these
    /// would be delivered again.
    pub broadcast_ids_evicted: u64,
    /// Pull requests sent (digests of the broadcasts this node has heard).
    pub pulls: u64,
    /// Pull requests answered with broadcasts the puller was missing.
    pub pulls_answered: u64,
    /// Pull requests from addresses not in the member table, not answered.
    pub pulls_refused: u64,
}

/// The replicated store: writes, anti-entropy and clocks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StateStats {
    /// Writes and deletes made on this node ([`Node::set`](crate::Node::set),
    /// [`Node::delete`](crate::Node::delete)).
    pub key_writes: u64,
    /// Changes to keys learned from others (rumors and anti-entropy), each
    /// delivered as one event.
    pub key_changes_received: u64,
    /// New keys from others dropped because `max_keys` were held.
    pub keys_refused: u64,
    /// Tombstones of deleted keys collected after `key_tombstone_retention`.
    pub key_tombstones_collected: u64,
    /// Key entries stamped more than a day ahead of this node's clock: merged
    /// as any entry, but not followed by this node's own clock.
    pub stamps_from_the_future: u64,
    /// Anti-entropy rounds this node started.
    pub state_syncs: u64,
    /// Anti-entropy steps answered (a level of the tree compared).
    pub state_sync_steps: u64,
    /// Entries sent in anti-entropy answers.
    pub state_sync_entries_sent: u64,
    /// Anti-entropy requests that found the replicas equal (one datagram).
    pub state_syncs_in_sync: u64,
    /// Anti-entropy messages from addresses not in the member table, ignored.
    pub state_syncs_refused: u64,
    /// Anti-entropy messages for a tree of another depth, ignored.
    pub state_syncs_mismatched: u64,
    /// Anti-entropy datagrams not sent because this sync interval's budget
    /// (1,024) was spent; later rounds find what they would have carried.
    pub state_sync_throttled: u64,
    /// Entries of an anti-entropy answer that no longer fit their datagram
    /// when it was sent (the entry grew meanwhile); the next round finds them.
    pub state_sync_entries_unsent: u64,
}

/// How much of each bounded buffer a node is using now; read with
/// [`Node::footprint`](crate::Node::footprint). Every figure stays within its limit
/// in [`Config`](crate::Config).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Footprint {
    /// Members known, tombstones included (limit: `max_members`).
    pub members: usize,
    /// Updates waiting to be piggybacked (at most one per member).
    pub rumors: usize,
    /// Suspicion deadlines, stale ones included (compacted to at most about twice
    /// the members).
    pub suspicion_deadlines: usize,
    /// Probes in flight for other members (limit: `max_relayed_probes`).
    pub relayed_probes: usize,
    /// Datagrams waiting to be drained (limit: `max_pending_transmits`).
    pub pending_transmits: usize,
    /// Events waiting to be drained (limit: `max_pending_events`).
    pub pending_events: usize,
    /// Broadcasts held to push and to answer pulls (limit: `max_broadcasts`).
    pub broadcasts: usize,
    /// Broadcasts still being pushed (at most `broadcasts`).
    pub broadcasts_pushing: usize,
    /// Ids of broadcasts remembered to deliver each once (limit: eight times
    /// `max_broadcasts`).
    pub broadcast_ids: usize,
    /// Keys of the replicated store, tombstones included (limit: `max_keys`).
    pub keys: usize,
    /// Deleted keys whose tombstones are kept (at most `keys`).
    pub key_tombstones: usize,
    /// Nodes of the Merkle tree stored (at most `keys` per level).
    pub merkle_nodes: usize,
    /// Keys whose latest change is still being gossiped (at most `keys`).
    pub key_rumors: usize,
    /// Members whose state digest is remembered for convergence monitoring
    /// (limit: `max_members`).
    pub peer_digests: usize,
    /// Members whose network coordinate is remembered (at most `members`).
    pub coordinates: usize,
    /// Senders of sealed datagrams whose replay windows are kept.
    pub replay_windows: usize,
}
