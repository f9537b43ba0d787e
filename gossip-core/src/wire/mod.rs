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
//! state chunk, a pull); every message after it is an [`Update`] about a member, a
//! user broadcast or feedback about broadcasts, piggybacked in the room left. A
//! packet of those only is plain gossip. Decoding borrows
//! names and metadata from the datagram and never allocates.

mod message;
mod packet;

pub use message::{Message, MessageKind, Status, Update};
pub use packet::{
    BufferFull, HEADER_MAX_LEN, MAGIC, MAX_MESSAGES_PER_PACKET, MAX_PULL_FILTER_LEN,
    PROTOCOL_VERSION, Packet, PacketWriter, decode, encode_message,
};
