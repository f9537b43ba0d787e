//! What a handle asks of the task or thread that owns the node, each with a
//! one-shot reply. Both adapters send these; the [`Driver`](crate::Driver)
//! carries them out.

use std::net::SocketAddr;
use std::time::Duration;

use gossip_core::{
    BroadcastError, BroadcastId, Convergence, Coordinate, Footprint, Key, KeyId, KeyringError,
    Member, MetadataError, StateError, Stats,
};

use crate::error::{JoinError, LeaveError};
use crate::reply::{ReplyReceiver, ReplySender, reply_channel};

/// A member as an adapter reports it.
pub type MemberInfo = Member<SocketAddr>;

/// Every live key of a replica and its value.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// A request to the node, and where its answer goes.
#[non_exhaustive]
pub enum Command {
    /// Join the cluster through `seeds`; answered when the join completes or fails.
    Join {
        /// Members to contact.
        seeds: Vec<SocketAddr>,
        /// The outcome.
        reply: ReplySender<Result<(), JoinError>>,
    },
    /// Leave gracefully; answered once the departure has been gossiped, or
    /// the leave timeout passed.
    Leave {
        /// The outcome.
        reply: ReplySender<Result<(), LeaveError>>,
    },
    /// Broadcast `payload` to every member.
    Broadcast {
        /// The payload.
        payload: Vec<u8>,
        /// Its id, or why not.
        reply: ReplySender<Result<BroadcastId, BroadcastError>>,
    },
    /// Replace this node's metadata.
    SetMetadata {
        /// The new metadata.
        metadata: Vec<u8>,
        /// The outcome.
        reply: ReplySender<Result<(), MetadataError>>,
    },
    /// Write `value` to `key` in the replicated store.
    Set {
        /// The key.
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
        /// The outcome.
        reply: ReplySender<Result<(), StateError>>,
    },
    /// Delete `key`; answered with whether it had a value.
    Delete {
        /// The key.
        key: Vec<u8>,
        /// The outcome.
        reply: ReplySender<Result<bool, StateError>>,
    },
    /// Read `key`.
    Get {
        /// The key.
        key: Vec<u8>,
        /// Its value, if any.
        reply: ReplySender<Option<Vec<u8>>>,
    },
    /// Read every live key.
    Entries {
        /// Keys and values.
        reply: ReplySender<Entries>,
    },
    /// The member table, this node included.
    Members {
        /// The members.
        reply: ReplySender<Vec<MemberInfo>>,
    },
    /// The round trip to a member predicted by the network coordinates.
    EstimatedRtt {
        /// The member.
        name: String,
        /// The prediction; `None` if its coordinate is not known yet (or
        /// coordinates are off).
        reply: ReplySender<Option<Duration>>,
    },
    /// Install `key` for opening datagrams (a rotation's first step).
    InstallKey {
        /// The key.
        key: Key,
        /// The outcome.
        reply: ReplySender<Result<(), KeyringError>>,
    },
    /// Seal with the installed key `id` from now on.
    UseKey {
        /// The key's id.
        id: KeyId,
        /// The outcome.
        reply: ReplySender<Result<(), KeyringError>>,
    },
    /// Remove the key `id` (not the primary).
    RemoveKey {
        /// The key's id.
        id: KeyId,
        /// The outcome.
        reply: ReplySender<Result<(), KeyringError>>,
    },
    /// The ids of the keys, the primary first; `None` without encryption.
    Keys {
        /// The ids.
        reply: ReplySender<Option<Vec<KeyId>>>,
    },
    /// Counters and sizes.
    Status {
        /// The snapshot.
        reply: ReplySender<Status>,
    },
    /// Stop the loop (after answering what is pending with `Stopped`).
    Shutdown,
}

impl Command {
    /// Builds a command with a fresh reply channel; returns the receiver.
    pub fn new<T>(command: impl FnOnce(ReplySender<T>) -> Command) -> (Command, ReplyReceiver<T>) {
        let (tx, rx) = reply_channel();
        (command(tx), rx)
    }
}

/// The node's counters and sizes, and the adapter's own.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Status {
    /// This node, as the cluster sees it.
    pub local: MemberInfo,
    /// Live members, this node included.
    pub live_members: usize,
    /// The protocol's counters.
    pub stats: Stats,
    /// The sizes of the node's tables and queues.
    pub footprint: Footprint,
    /// How far the replicated store is shared.
    pub convergence: Convergence,
    /// This node's network coordinate (`None` if coordinates are off).
    pub coordinate: Option<Coordinate>,
    /// The socket's counters.
    pub socket: SocketStats,
}

/// What the adapter's socket did; its errors never stop the loop.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SocketStats {
    /// Datagrams received.
    pub datagrams_in: u64,
    /// Datagrams sent.
    pub datagrams_out: u64,
    /// Receive errors (e.g. connection refused reported by ICMP).
    pub recv_errors: u64,
    /// Send errors (e.g. message too long, network unreachable).
    pub send_errors: u64,
    /// Datagrams dropped because the socket's buffer was full.
    pub sends_dropped: u64,
    /// Turns of the loop that stopped reading at the per-turn cap.
    pub turns_capped: u64,
}
