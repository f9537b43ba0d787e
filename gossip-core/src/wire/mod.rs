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
//! state chunk); every message after it is an [`Update`] about a member, piggybacked
//! in the room left. A packet of updates only is plain gossip. Decoding borrows
//! names and metadata from the datagram and never allocates.

mod message;
mod packet;

pub use message::{Message, MessageKind, Status, Update};
pub use packet::{
    BufferFull, HEADER_MAX_LEN, MAGIC, MAX_MESSAGES_PER_PACKET, PROTOCOL_VERSION, Packet,
    PacketWriter, decode, encode_message,
};
