//! The wire format, version 2: stateless encoding and decoding of datagrams.
//!
//! Private to the crate; the `unstable-wire` feature exposes it for the fuzz
//! targets, the simulator's tests and the benchmarks, with no stability
//! promise. Domain types never reach the bytes: messages carry wire records
//! ([`EntryRecord`], [`CoordinateRecord`]) that the parts convert at the edge.
//!
//! A datagram is a header followed by one or more messages back to back (a
//! compound packet):
//!
//! ```text
//! 'G' 'S'  version  max-version  cluster-id(varint)  message  message ...
//! message = tag(1 byte)  body-length(varint)  body
//! ```
//!
//! - `version` is the version the messages are written in; `max-version` the
//!   newest the sender reads. A receiver that reads `version` takes the
//!   datagram, and answers in the highest version both read ([`negotiate`]).
//! - Every message starts with its [`tag`], a named constant, and the length
//!   of its body, so a receiver skips a message whose tag it does not know
//!   (counted in `DatagramStats::unknown_messages`) and reads the rest: a new kind
//!   of message never breaks an older node. A change to the body of an
//!   existing kind is a new version, made on purpose: the golden fixtures
//!   in this module's tests pin every byte of every kind.
//! - Numbers are LEB128 varints (signed ones zigzagged), hashes and random
//!   ids eight little-endian bytes, byte strings and names a varint length
//!   and the bytes; the application's address is encoded by postcard.
//!
//! The first message may be a *primary* one (a ping, an ack, a push-pull
//! request, a state chunk, a pull, a step of anti-entropy); every message
//! after it is an [`Update`] about a member, a user broadcast, feedback
//! about broadcasts, a key of the replicated store, a state digest or a
//! coordinate, piggybacked in the room left. A packet of those only is plain
//! gossip. Decoding borrows names, metadata, keys and values from the
//! datagram; it allocates only the list of a key's concurrent values.

// Without `unstable-wire` the module is private, and the parts of its API
// only the fuzz targets and tests use would warn as dead.
#![cfg_attr(
    not(feature = "unstable-wire"),
    allow(dead_code, unused_imports, unreachable_pub)
)]

mod body;
mod codec;
#[cfg(test)]
mod golden;
mod message;
mod packet;

pub use body::tag;
pub use message::{
    COORDINATE_DIMENSIONS, CoordinateRecord, EntryRecord, MAX_SIBLINGS, MAX_TREE_DEPTH,
    MAX_VERSION_LEN, MIN_STRANGER_PADDING, Message, MessageKind, SiblingRecord, Status, Update,
    VersionRecord,
};
pub use packet::{
    BufferFull, HEADER_MAX_LEN, MAGIC, MAX_MESSAGES_PER_PACKET, MAX_PROTOCOL_VERSION,
    MAX_PULL_FILTER_LEN, MAX_STATE_CHUNKS, MIN_PROTOCOL_VERSION, PROTOCOL_VERSION, Packet,
    PacketWriter, SYNC_NODE_LEN, decode, encode_into, encode_message, encoded_len, negotiate,
};
