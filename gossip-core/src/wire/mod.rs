//! The wire format: stateless encoding and decoding of datagrams.
//!
//! A datagram is a header followed by one or more postcard-encoded [`Message`]s
//! back to back (a compound packet):
//!
//! ```text
//! 'G' 'S' version  cluster-id(varint)  message  message ...
//! ```
//!
//! The first message may be a *primary* one (a ping, an ack, a push-pull request, a
//! state chunk, a pull, a step of anti-entropy); every message after it is an
//! [`Update`] about a member, a user broadcast, feedback about broadcasts, a key
//! of the replicated store or a state digest, piggybacked in the room left. A
//! packet of those only is plain gossip. Decoding borrows names, metadata, keys
//! and values from the datagram; it allocates only the list of a key's
//! concurrent values.

mod message;
mod packet;

pub(crate) use message::KindSet;
pub use message::{
    EntryRecord, MIN_STRANGER_PADDING, Message, MessageKind, SiblingRecord, Status, Update,
};
pub use packet::{
    BufferFull, HEADER_MAX_LEN, MAGIC, MAX_MESSAGES_PER_PACKET, MAX_PULL_FILTER_LEN,
    MAX_STATE_CHUNKS, PROTOCOL_VERSION, Packet, PacketWriter, SYNC_NODE_LEN, decode,
    encode_message,
};
