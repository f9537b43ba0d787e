//! The datagram header, and reading and writing compound packets.

use alloc::vec::Vec;
use core::marker::PhantomData;

use serde::{Serialize, de::DeserializeOwned};

use super::message::{Message, Status};
use crate::error::DecodeError;
use crate::identity::check_name;
use crate::state::MAX_TREE_DEPTH;

/// First bytes of every datagram.
pub const MAGIC: [u8; 2] = *b"GS";
/// The protocol version this crate speaks.
pub const PROTOCOL_VERSION: u8 = 1;
/// Longest header: magic, version and a five-byte varint cluster id.
pub const HEADER_MAX_LEN: usize = 8;
/// Most messages one datagram may carry; bounds the work a datagram can cause.
pub const MAX_MESSAGES_PER_PACKET: usize = 256;
/// Most chunks one state transfer may have: a request for the missing ones
/// (a bitmap of 256 bytes) then fits the smallest datagram, sealed. At 25 to
/// 40 members a chunk that is 50,000 to 80,000 members; a larger table is
/// sent in part, a different part each exchange.
pub const MAX_STATE_CHUNKS: u16 = 2_048;
/// Longest Bloom filter a [`Message::Pull`] may carry: 8,192 bits, about 1%
/// false positives for 800 broadcasts.
pub const MAX_PULL_FILTER_LEN: usize = 1_024;

/// Decodes the header of `datagram` and returns its messages.
///
/// The returned [`Packet`] yields the messages one by one; iterate it to the end to
/// learn whether all of them are well-formed. Names are checked, and a primary
/// message anywhere but first is an error.
pub fn decode<'a, A: DeserializeOwned>(
    datagram: &'a [u8],
    cluster_id: u32,
) -> Result<Packet<'a, A>, DecodeError> {
    let [m0, m1, version, rest @ ..] = datagram else {
        return Err(DecodeError::Truncated);
    };
    if [*m0, *m1] != MAGIC {
        return Err(DecodeError::BadMagic);
    }
    if *version != PROTOCOL_VERSION {
        return Err(DecodeError::UnsupportedVersion { found: *version });
    }
    let (cluster, body) =
        postcard::take_from_bytes::<u32>(rest).map_err(|_| DecodeError::Truncated)?;
    if cluster != cluster_id {
        return Err(DecodeError::WrongCluster { found: cluster });
    }
    if body.is_empty() {
        return Err(DecodeError::Empty);
    }
    Ok(Packet {
        rest: body,
        decoded: 0,
        failed: false,
        _address: PhantomData,
    })
}

/// The messages of a datagram, decoded lazily. Stops after the first error.
#[derive(Clone, Debug)]
pub struct Packet<'a, A> {
    rest: &'a [u8],
    decoded: usize,
    failed: bool,
    _address: PhantomData<fn() -> A>,
}

impl<'a, A: DeserializeOwned> Packet<'a, A> {
    /// Bytes not yet decoded.
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }

    fn decode_next(&mut self) -> Result<Message<'a, A>, DecodeError> {
        if self.decoded == MAX_MESSAGES_PER_PACKET {
            return Err(DecodeError::TooManyMessages);
        }
        let (message, rest) = postcard::take_from_bytes::<Message<'a, A>>(self.rest)
            .map_err(|_| DecodeError::Malformed)?;
        if message.is_primary() && self.decoded > 0 {
            return Err(DecodeError::MisplacedMessage);
        }
        check_names(&message)?;
        check_shapes(&message)?;
        self.rest = rest;
        self.decoded += 1;
        Ok(message)
    }
}

/// Bytes per node in [`Message::SyncHashes`]: its index and sixteen children.
pub const SYNC_NODE_LEN: usize = 4 + 16 * 4;

/// Byte fields that encode something else: ids in eights, filters in powers
/// of two; numbers within what the protocol allows.
fn check_shapes<A>(message: &Message<'_, A>) -> Result<(), DecodeError> {
    let in_range = match message {
        Message::State { chunk, chunks, .. } => {
            (1..=MAX_STATE_CHUNKS).contains(chunks) && chunk < chunks
        }
        Message::StateResend { missing, .. } => {
            missing.len() <= usize::from(MAX_STATE_CHUNKS).div_ceil(8)
        }
        _ => true,
    };
    if !in_range {
        return Err(DecodeError::OutOfRange);
    }
    let well_formed = match message {
        Message::Feedback { known, new } => known.len() % 8 == 0 && new.len() % 8 == 0,
        Message::Pull { filter, .. } => {
            filter.is_empty()
                || (filter.len().is_power_of_two() && filter.len() <= MAX_PULL_FILTER_LEN)
        }
        Message::KeyEntry { entry, .. } => entry.is_well_formed(),
        Message::SyncHashes {
            depth,
            level,
            hashes,
            ..
        } => {
            (1..=MAX_TREE_DEPTH).contains(depth)
                && level < depth
                && hashes.len() % SYNC_NODE_LEN == 0
        }
        Message::SyncEntries { depth, want } => {
            (1..=MAX_TREE_DEPTH).contains(depth) && want.len() % 4 == 0
        }
        _ => true,
    };
    if well_formed {
        Ok(())
    } else {
        Err(DecodeError::Malformed)
    }
}

fn check_names<A>(message: &Message<'_, A>) -> Result<(), DecodeError> {
    let valid = |name: &str| check_name(name).map_err(|_| DecodeError::InvalidName);
    match message {
        Message::Ping { target, .. } | Message::IndirectPing { target, .. } => valid(target),
        Message::Update(update) => {
            valid(update.name)?;
            match update.status {
                Status::Suspect { by } => valid(by),
                _ => Ok(()),
            }
        }
        Message::Broadcast { origin, .. } => valid(origin),
        Message::KeyEntry { entry, .. } => entry
            .siblings
            .iter()
            .try_for_each(|sibling| valid(sibling.origin)),
        Message::Ack { .. }
        | Message::StateRoot { .. }
        | Message::SyncHashes { .. }
        | Message::SyncEntries { .. }
        | Message::Nack { .. }
        | Message::PushPull { .. }
        | Message::State { .. }
        | Message::StateResend { .. }
        | Message::Pull { .. }
        | Message::Feedback { .. }
        | Message::Cookie { .. }
        | Message::Coordinate(_) => Ok(()),
    }
}

impl<'a, A: DeserializeOwned> Iterator for Packet<'a, A> {
    type Item = Result<Message<'a, A>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let next = self.decode_next();
        self.failed = next.is_err();
        Some(next)
    }
}

/// The buffer has no room for the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferFull;

/// Writes a compound datagram into a caller-provided buffer.
#[derive(Debug)]
pub struct PacketWriter<'b> {
    buf: &'b mut [u8],
    len: usize,
    header_len: usize,
    messages: usize,
}

impl<'b> PacketWriter<'b> {
    /// Starts a datagram of at most `buf.len()` bytes with the header for `cluster_id`.
    ///
    /// # Panics
    /// If the header does not fit `buf` (at most [`HEADER_MAX_LEN`] bytes): a
    /// programming error, not input.
    pub fn new(buf: &'b mut [u8], cluster_id: u32) -> Self {
        assert!(buf.len() > 3, "packet buffer too small for a header");
        buf[..2].copy_from_slice(&MAGIC);
        buf[2] = PROTOCOL_VERSION;
        let cluster_len = postcard::to_slice(&cluster_id, &mut buf[3..])
            .expect("packet buffer too small for a header")
            .len();
        PacketWriter {
            buf,
            len: 3 + cluster_len,
            header_len: 3 + cluster_len,
            messages: 0,
        }
    }

    /// [`push`](Self::push), and counts the message in `stats`'s outgoing
    /// traffic; the datagram is unchanged if it does not fit.
    pub(crate) fn push_counted<A: Serialize>(
        &mut self,
        message: &Message<'_, A>,
        stats: &mut crate::stats::Stats,
    ) -> Result<(), BufferFull> {
        let before = self.len;
        self.push(message)?;
        stats.messages_out[message.kind()].record(self.len - before);
        Ok(())
    }

    /// Appends a message, or leaves the datagram unchanged if it does not fit
    /// (in bytes, or because it holds [`MAX_MESSAGES_PER_PACKET`] already).
    pub fn push<A: Serialize>(&mut self, message: &Message<'_, A>) -> Result<(), BufferFull> {
        if self.is_full() {
            return Err(BufferFull);
        }
        let written = postcard::to_slice(message, &mut self.buf[self.len..])
            .map_err(|_| BufferFull)?
            .len();
        self.len += written;
        self.messages += 1;
        Ok(())
    }

    /// Appends a message encoded earlier with [`encode_message`].
    pub fn push_encoded(&mut self, encoded: &[u8]) -> Result<(), BufferFull> {
        if self.is_full() {
            return Err(BufferFull);
        }
        let end = self.len + encoded.len();
        let room = self.buf.get_mut(self.len..end).ok_or(BufferFull)?;
        room.copy_from_slice(encoded);
        self.len = end;
        self.messages += 1;
        Ok(())
    }

    /// True once the datagram holds [`MAX_MESSAGES_PER_PACKET`] messages.
    pub fn is_full(&self) -> bool {
        self.messages == MAX_MESSAGES_PER_PACKET
    }

    /// Bytes still free.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.len
    }

    /// Bytes written so far, header included.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if nothing but the header has been written.
    pub fn is_empty(&self) -> bool {
        self.len == self.header_len
    }
}

/// Encodes one message on its own, for piggybacking later with
/// [`PacketWriter::push_encoded`].
pub fn encode_message<A: Serialize>(message: &Message<'_, A>) -> Vec<u8> {
    postcard::to_allocvec(message).expect("encoding into a growable buffer cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Update;

    fn write(messages: &[Message<'_, u32>]) -> Vec<u8> {
        let mut buf = [0u8; 1400];
        let mut writer = PacketWriter::new(&mut buf, 9);
        for m in messages {
            writer.push(m).unwrap();
        }
        let len = writer.len();
        buf[..len].to_vec()
    }

    fn alive(name: &str) -> Message<'_, u32> {
        Message::Update(Update {
            name,
            generation: 1,
            incarnation: 2,
            status: Status::Alive {
                addr: 7,
                metadata: b"role=db",
            },
        })
    }

    #[test]
    fn compound_packets_round_trip() {
        let messages = [
            Message::Ping {
                seq: 42,
                target: "b",
            },
            alive("c"),
            Message::Update(Update {
                name: "d",
                generation: 0,
                incarnation: 5,
                status: Status::Suspect { by: "a" },
            }),
        ];
        let bytes = write(&messages);
        let decoded: Vec<_> = decode::<u32>(&bytes, 9)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(decoded, messages);
    }

    #[test]
    fn a_ping_is_small() {
        let bytes = write(&[Message::Ping {
            seq: 1_000_000,
            target: "node-123",
        }]);
        assert!(bytes.len() <= 20, "{} bytes", bytes.len());
    }

    #[test]
    fn headers_are_checked() {
        let good = write(&[Message::Ack { seq: 1 }]);
        assert_eq!(
            decode::<u32>(&good[..2], 9).err(),
            Some(DecodeError::Truncated)
        );
        let mut bad = good.clone();
        bad[0] = b'X';
        assert_eq!(decode::<u32>(&bad, 9).err(), Some(DecodeError::BadMagic));
        let mut bad = good.clone();
        bad[2] = 99;
        assert_eq!(
            decode::<u32>(&bad, 9).err(),
            Some(DecodeError::UnsupportedVersion { found: 99 })
        );
        assert_eq!(
            decode::<u32>(&good, 8).err(),
            Some(DecodeError::WrongCluster { found: 9 })
        );
        assert_eq!(decode::<u32>(&good[..4], 9).err(), Some(DecodeError::Empty));
    }

    #[test]
    fn bodies_are_checked() {
        let good = write(&[Message::Ack { seq: 1 }, alive("c")]);
        let truncated = &good[..good.len() - 1];
        let results: Vec<_> = decode::<u32>(truncated, 9).unwrap().collect();
        assert_eq!(results.last(), Some(&Err(DecodeError::Malformed)));

        let misplaced = write(&[alive("c"), Message::Ack { seq: 1 }]);
        let results: Vec<_> = decode::<u32>(&misplaced, 9).unwrap().collect();
        assert_eq!(results.last(), Some(&Err(DecodeError::MisplacedMessage)));

        let unnamed = write(&[alive("")]);
        let results: Vec<_> = decode::<u32>(&unnamed, 9).unwrap().collect();
        assert_eq!(results, [Err(DecodeError::InvalidName)]);
    }

    #[test]
    fn message_count_is_bounded() {
        let left = Message::Update(Update {
            name: "x",
            generation: 0,
            incarnation: 0,
            status: Status::<'_, u32>::Left,
        });
        let mut buf = [0u8; 4096];
        let mut writer = PacketWriter::new(&mut buf, 0);
        for _ in 0..MAX_MESSAGES_PER_PACKET {
            writer.push(&left).unwrap();
        }
        assert!(writer.is_full());
        assert_eq!(writer.push(&left), Err(BufferFull), "the writer stops");
        assert_eq!(writer.push_encoded(&encode_message(&left)), Err(BufferFull));
        // A datagram written by someone else is refused by the decoder.
        let len = writer.len();
        let mut bytes = buf[..len].to_vec();
        bytes.extend(encode_message(&left));
        let results: Vec<_> = decode::<u32>(&bytes, 0).unwrap().collect();
        assert_eq!(results.last(), Some(&Err(DecodeError::TooManyMessages)));
    }

    #[test]
    fn byte_fields_must_have_their_shape() {
        let known = write(&[Message::Feedback {
            known: &[0; 12],
            new: &[],
        }]);
        let results: Vec<_> = decode::<u32>(&known, 9).unwrap().collect();
        assert_eq!(results, [Err(DecodeError::Malformed)]);
        for (len, ok) in [
            (0, true),
            (8, true),
            (12, false),
            (1024, true),
            (2048, false),
        ] {
            let filter = alloc::vec![0u8; len];
            let mut buf = alloc::vec![0u8; 4096];
            let mut writer = PacketWriter::new(&mut buf, 9);
            let pull: Message<'_, u32> = Message::Pull {
                salt: 1,
                filter: &filter,
            };
            writer.push(&pull).unwrap();
            let len_written = writer.len();
            let results: Vec<_> = decode::<u32>(&buf[..len_written], 9).unwrap().collect();
            assert_eq!(results[0].is_ok(), ok, "filter of {len} bytes");
        }
    }

    #[test]
    fn the_writer_refuses_what_does_not_fit() {
        let mut buf = [0u8; 16];
        let mut writer = PacketWriter::new(&mut buf, 0);
        assert_eq!(
            writer.push(&alive("a-long-name-that-cannot-fit")),
            Err(BufferFull)
        );
        assert_eq!(writer.len(), 4);
        let encoded = encode_message::<u32>(&Message::Ack { seq: 3 });
        writer.push_encoded(&encoded).unwrap();
        assert_eq!(writer.len(), 4 + encoded.len());
    }
}
