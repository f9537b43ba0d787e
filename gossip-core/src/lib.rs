//! A deterministic, sans-IO gossip state machine: SWIM membership with failure
//! detection, user broadcasts spread by push, pull or push-pull gossip,
//! push-pull state exchange, a replicated key-value store, encryption, and
//! Vivaldi network coordinates that predict round trips and let gossip
//! prefer near members ([`Coordinate`], [`PeerSelection`]).
//!
//! This crate does no IO, reads no clock, spawns no thread and uses no global
//! randomness: a [`Node`] takes `(now, datagram)` inputs and timer expiries, and
//! returns datagrams to send, [`Event`]s and its next deadline. The same seed and
//! the same inputs give the same outputs, bit for bit. It is `no_std` with `alloc`.
//!
//! ```text
//! let mut node = Node::new(config, identity, rng, &mut secrets, now)?;
//! node.join(now, &seeds)?;                          // commands take `now` first
//! node.handle_message(now, from, &datagram)?;       // input: bytes from the network
//! node.handle_timeout(now);                         // input: the deadline has passed
//! while let Some(t) = node.poll_transmit() { … }    // output: datagrams (to, bytes)
//! while let Some(e) = node.poll_event() { … }       // output: membership, broadcast events
//! let next = node.poll_timeout();                   // output: when to wake up next
//! ```
//!
//! **After every input or command, drain `poll_transmit` and `poll_event`, then ask
//! `poll_timeout`.** See [`Node`] for a complete loop, and the `gossip-tokio` and
//! `gossip-std` crates for adapters that run one over UDP.
//!
//! The protocol follows SWIM (Das, Gupta, Motivala 2002) as memberlist implements
//! it: randomized round-robin probing, indirect probes, suspicion with refutation
//! by incarnation, updates piggybacked at most `retransmit_mult · ceil(log10(n+1))`
//! times, and periodic push-pull state exchange (gated by a membership digest, so
//! members that agree exchange one small datagram). A node restarted under the
//! same name comes back with a larger [`Generation`] and never inherits its old
//! self's death. The README's "Wire format" section documents the datagrams.

#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod config;
mod context;
mod dissemination;
mod error;
mod event;
mod hash;
mod identity;
mod member;
mod membership;
mod node;
#[cfg(test)]
mod node_broadcast_tests;
#[cfg(test)]
mod node_lifeguard_tests;
#[cfg(test)]
mod node_security_tests;
#[cfg(test)]
mod node_state_tests;
#[cfg(test)]
mod node_topology_tests;
mod queue;
mod random;
mod rumor_queue;
mod seal;
mod state;
mod stats;
#[cfg(test)]
mod testing;
mod time;
mod topology;
#[cfg(feature = "unstable-wire")]
#[cfg_attr(docsrs, doc(cfg(feature = "unstable-wire")))]
pub mod wire;
#[cfg(not(feature = "unstable-wire"))]
mod wire;

pub use config::{Config, MAX_PACKET_SIZE, MIN_PACKET_SIZE};
pub use dissemination::{Broadcast, BroadcastId, Dissemination, PullSchedule, Termination};
pub use error::{
    BroadcastError, ConfigError, DecodeError, IdentityError, JoinError, LeaveError, MessageError,
    MetadataError, StateError,
};
pub use event::Event;
pub use identity::{Address, Generation, Identity, Incarnation, MAX_NAME_LEN, NodeName};
pub use member::{Member, MemberState, Metadata};
pub use node::{Node, Transmit};
pub use seal::{
    DEFAULT_MAX_DATAGRAM_AGE, Encryption, KEY_LEN, Key, KeyError, KeyId, Keyring, KeyringError,
    MAX_KEYS, MAX_LABEL_LEN, SEAL_MAGIC, SEAL_OVERHEAD, SealError,
};
pub use state::{
    Causality, Conflicts, Convergence, Hlc, KeyChange, MAX_SIBLINGS, MAX_TREE_DEPTH,
    MAX_VERSION_VECTOR_LEN, MergeValues, ReplicaId, VersionVector,
};
pub use stats::{
    BroadcastStats, CoordinateStats, DatagramStats, DetectionStats, ExchangeStats, Footprint,
    MemberStats, Rejected, SealStats, StateStats, Stats, Traffic, TrafficByKind,
};
pub use time::Instant;
pub use topology::{
    Coordinate, DIMENSIONS, FAR_PERCENT, MAX_ERROR, NEAR_CANDIDATES, PeerSelection, WIRE_UNIT_SECS,
};
pub use wire::MessageKind;

/// `core::time::Duration`, re-exported for convenience.
pub use core::time::Duration;
