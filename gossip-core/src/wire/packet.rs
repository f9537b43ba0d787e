//! The datagram header, and reading and writing compound packets.

use alloc::vec::Vec;
use core::marker::PhantomData;

use serde::{Serialize, de::DeserializeOwned};

use super::codec::{Reader, Writer, encode_varint, varint_len};
use super::message::{MAX_TREE_DEPTH, Message, Status};
use crate::error::DecodeError;
use crate::identity::check_name;

/// First bytes of every datagram.
pub const MAGIC: [u8; 2] = *b"GS";
/// The protocol version this crate writes.
pub const PROTOCOL_VERSION: u8 = 2;
/// The oldest version this crate reads. Version 1 (the serde-enum encoding
/// of releases before the tagged format) is not read: its messages had no
/// length, so a kind added later could not be skipped.
pub const MIN_PROTOCOL_VERSION: u8 = 2;
/// The newest version this crate reads; sent in every header so that a peer
/// can answer in the highest version both speak.
pub const MAX_PROTOCOL_VERSION: u8 = 2;
/// Longest header: magic, version, highest version and a five-byte varint
/// cluster id.
pub const HEADER_MAX_LEN: usize = 9;
/// Most messages one datagram may carry, unknown ones included; bounds the
/// work a datagram can cause.
pub const MAX_MESSAGES_PER_PACKET: usize = 256;
/// Most chunks one state transfer may have: a request for the missing ones
/// (a bitmap of 256 bytes) then fits the smallest datagram, sealed. At 25 to
/// 40 members a chunk that is 50,000 to 80,000 members; a larger table is
/// sent in part, a different part each exchange.
pub const MAX_STATE_CHUNKS: u16 = 2_048;
/// Longest Bloom filter a [`Message::Pull`] may carry: 8,192 bits, about 1%
/// false positives for 800 broadcasts.
pub const MAX_PULL_FILTER_LEN: usize = 1_024;

/// The version a node writes to a peer whose header said it reads up to
/// `peer_max`: the highest both read, or `None` if they share none.
pub fn negotiate(peer_max: u8) -> Option<u8> {
    let shared = peer_max.min(MAX_PROTOCOL_VERSION);
    (shared >= MIN_PROTOCOL_VERSION).then_some(shared)
}

/// Decodes the header of `datagram` and returns its messages.
///
/// The returned [`Packet`] yields the messages one by one; iterate it to the end to
/// learn whether all of them are well-formed. Names are checked, and a primary
/// message anywhere but first is an error. Messages of a kind this version
/// does not know are skipped ([`Packet::unknown`] counts them).
pub fn decode<'a, A: DeserializeOwned>(
    datagram: &'a [u8],
    cluster_id: u32,
) -> Result<Packet<'a, A>, DecodeError> {
    let [m0, m1, version, max_version, rest @ ..] = datagram else {
        return Err(DecodeError::Truncated);
    };
    if [*m0, *m1] != MAGIC {
        return Err(DecodeError::BadMagic);
    }
    if !(MIN_PROTOCOL_VERSION..=MAX_PROTOCOL_VERSION).contains(version) {
        return Err(DecodeError::UnsupportedVersion { found: *version });
    }
    if max_version < version {
        // A sender cannot write a version it does not speak.
        return Err(DecodeError::Malformed);
    }
    let mut header = Reader::new(rest);
    let cluster = header.u32().map_err(|_| DecodeError::Truncated)?;
    if cluster != cluster_id {
        return Err(DecodeError::WrongCluster { found: cluster });
    }
    if header.is_empty() {
        return Err(DecodeError::Empty);
    }
    Ok(Packet {
        rest: header.rest(),
        sender_max_version: *max_version,
        decoded: 0,
        unknown: 0,
        last_len: 0,
        failed: false,
        _address: PhantomData,
    })
}

/// The messages of a datagram, decoded lazily. Stops after the first error.
#[derive(Clone, Debug)]
pub struct Packet<'a, A> {
    rest: &'a [u8],
    sender_max_version: u8,
    decoded: usize,
    unknown: usize,
    /// Bytes of the message yielded last, framing included.
    last_len: usize,
    failed: bool,
    _address: PhantomData<fn() -> A>,
}

impl<'a, A: DeserializeOwned> Packet<'a, A> {
    /// Bytes not yet decoded.
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// Messages skipped so far because their kind is unknown to this version.
    pub fn unknown(&self) -> usize {
        self.unknown
    }

    /// Bytes the message yielded last took, its tag and length included.
    pub fn last_len(&self) -> usize {
        self.last_len
    }

    /// The newest protocol version the sender reads.
    pub fn sender_max_version(&self) -> u8 {
        self.sender_max_version
    }

    /// The next message this version knows, `None` at the end.
    fn decode_next(&mut self) -> Result<Option<Message<'a, A>>, DecodeError> {
        while !self.rest.is_empty() {
            if self.decoded == MAX_MESSAGES_PER_PACKET {
                return Err(DecodeError::TooManyMessages);
            }
            let mut reader = Reader::new(self.rest);
            let tag = reader.u8()?;
            let body = reader.bytes()?;
            let first = self.decoded == 0;
            self.last_len = self.rest.len() - reader.rest().len();
            self.rest = reader.rest();
            self.decoded += 1;
            let Some(message) = Message::read_body(tag, body)? else {
                self.unknown += 1;
                continue;
            };
            if message.is_primary() && !first {
                return Err(DecodeError::MisplacedMessage);
            }
            check_names(&message)?;
            check_shapes(&message)?;
            return Ok(Some(message));
        }
        Ok(None)
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
        | Message::BroadcastDigest { .. }
        | Message::CoordinateWanted
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
        if self.failed {
            return None;
        }
        let next = self.decode_next();
        self.failed = next.is_err();
        next.transpose()
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
        let mut header = Writer::new(buf);
        let written = header
            .raw(&MAGIC)
            .and_then(|()| header.u8(PROTOCOL_VERSION))
            .and_then(|()| header.u8(MAX_PROTOCOL_VERSION))
            .and_then(|()| header.varint(cluster_id.into()));
        assert!(written.is_ok(), "packet buffer too small for a header");
        let header_len = header.len();
        PacketWriter {
            buf,
            len: header_len,
            header_len,
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
        stats.datagrams.messages_out[message.kind()].record(self.len - before);
        Ok(())
    }

    /// Appends a message, or leaves the datagram unchanged if it does not fit
    /// (in bytes, or because it holds [`MAX_MESSAGES_PER_PACKET`] already).
    pub fn push<A: Serialize>(&mut self, message: &Message<'_, A>) -> Result<(), BufferFull> {
        if self.is_full() {
            return Err(BufferFull);
        }
        let written = frame(message, &mut self.buf[self.len..])?;
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

/// Writes `message` framed (tag, body length, body) at the start of `room`;
/// returns its length. The body is written after a one-byte length and moved
/// along if its length takes more.
fn frame<A: Serialize>(message: &Message<'_, A>, room: &mut [u8]) -> Result<usize, BufferFull> {
    let [tag, _, body_room @ ..] = room else {
        return Err(BufferFull);
    };
    *tag = message.tag();
    let mut body = Writer::new(body_room);
    message.write_body(&mut body)?;
    let body_len = body.len();
    let length_len = varint_len(body_len as u64);
    let total = 1 + length_len + body_len;
    if total > room.len() {
        return Err(BufferFull);
    }
    if length_len > 1 {
        room.copy_within(2..2 + body_len, 1 + length_len);
    }
    let mut length = [0; 10];
    encode_varint(body_len as u64, &mut length);
    room[1..1 + length_len].copy_from_slice(&length[..length_len]);
    Ok(total)
}

/// Bytes `message` takes in a datagram, framed.
pub fn encoded_len<A: Serialize>(message: &Message<'_, A>) -> usize {
    let mut sizer = Writer::sizer();
    match message.write_body(&mut sizer) {
        Ok(()) => 1 + varint_len(sizer.len() as u64) + sizer.len(),
        Err(BufferFull) => usize::MAX,
    }
}

/// Writes `message` framed at the start of `buf`, for a caller that gathers
/// messages before it knows the datagram they go in; returns the bytes.
pub fn encode_into<'b, A: Serialize>(
    message: &Message<'_, A>,
    buf: &'b mut [u8],
) -> Result<&'b [u8], BufferFull> {
    let len = frame(message, buf)?;
    Ok(&buf[..len])
}

/// Encodes one message on its own (framed), for piggybacking later with
/// [`PacketWriter::push_encoded`].
///
/// # Panics
/// If the message does not encode into 128 KiB, twice the largest datagram:
/// only an address type whose serialization fails gets there, which is a
/// programming error, not input. Without the bound, it would grow the buffer
/// until memory ran out.
pub fn encode_message<A: Serialize>(message: &Message<'_, A>) -> Vec<u8> {
    let mut buf = alloc::vec![0; 64];
    loop {
        if let Ok(len) = frame(message, &mut buf) {
            buf.truncate(len);
            return buf;
        }
        assert!(buf.len() < 1 << 17, "a message that cannot be encoded");
        let grown = buf.len() * 2;
        buf.resize(grown, 0);
    }
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
        let mut older = good.clone();
        older[2..4].copy_from_slice(&[1, 1]);
        assert_eq!(
            decode::<u32>(&older, 9).err(),
            Some(DecodeError::UnsupportedVersion { found: 1 }),
            "version 1 had no lengths: it cannot be read"
        );
        let mut below_its_own_version = good.clone();
        below_its_own_version[3] = 1;
        assert_eq!(
            decode::<u32>(&below_its_own_version, 9).err(),
            Some(DecodeError::Malformed)
        );
        assert_eq!(decode::<u32>(&good[..5], 9).err(), Some(DecodeError::Empty));
    }

    #[test]
    fn a_newer_sender_is_read_and_answered_in_the_version_both_speak() {
        let mut from_newer = write(&[Message::Ack { seq: 1 }]);
        from_newer[3] = 7; // reads up to version 7, writes 2 to us
        let packet = decode::<u32>(&from_newer, 9).unwrap();
        assert_eq!(packet.sender_max_version(), 7);
        assert_eq!(
            negotiate(packet.sender_max_version()),
            Some(PROTOCOL_VERSION)
        );
        assert_eq!(negotiate(MAX_PROTOCOL_VERSION), Some(MAX_PROTOCOL_VERSION));
        assert_eq!(negotiate(MIN_PROTOCOL_VERSION - 1), None, "nothing shared");
        let mut buf = [0u8; 16];
        let len = PacketWriter::new(&mut buf, 9).len();
        assert_eq!(
            buf[..len],
            [b'G', b'S', PROTOCOL_VERSION, MAX_PROTOCOL_VERSION, 9],
            "every header says what its sender reads"
        );
    }

    #[test]
    fn messages_of_unknown_kinds_are_skipped_wherever_they_are() {
        let known = write(&[Message::Ack { seq: 1 }, alive("c")]);
        // A newer node's message: tag, length, a body this version cannot read.
        let unknown = [super::super::tag::RESERVED_FOR_TESTS, 3, 0xde, 0xad, 0xff];
        let header = 5; // cluster 9 takes one byte
        let first_len = encode_message::<u32>(&Message::Ack { seq: 1 }).len();
        for at in [header + first_len, known.len()] {
            let mut bytes = known.clone();
            bytes.splice(at..at, unknown);
            let mut packet = decode::<u32>(&bytes, 9).unwrap();
            let messages: Vec<_> = packet.by_ref().collect::<Result<_, _>>().unwrap();
            assert_eq!(messages, [Message::Ack { seq: 1 }, alive("c")], "at {at}");
            assert_eq!(packet.unknown(), 1);
        }
        // First, it may be a new primary message: what rides along is read.
        let mut bytes = write(&[alive("c")]);
        bytes.splice(header..header, unknown);
        let mut packet = decode::<u32>(&bytes, 9).unwrap();
        assert_eq!(packet.next(), Some(Ok(alive("c"))));
        assert_eq!(packet.unknown(), 1);
        // But a primary message comes first or not at all.
        let mut bytes = known.clone();
        bytes.splice(header..header, unknown);
        let results: Vec<_> = decode::<u32>(&bytes, 9).unwrap().collect();
        assert_eq!(results, [Err(DecodeError::MisplacedMessage)]);
        // Unknown messages count towards the bound on messages.
        let mut bytes = write(&[]);
        for _ in 0..=MAX_MESSAGES_PER_PACKET {
            bytes.extend(unknown);
        }
        let results: Vec<_> = decode::<u32>(&bytes, 9).unwrap().collect();
        assert_eq!(results, [Err(DecodeError::TooManyMessages)]);
        // Its length cannot reach past the datagram.
        let mut bytes = write(&[Message::Ack { seq: 1 }]);
        bytes.extend([0xfe, 9, 1]);
        let results: Vec<_> = decode::<u32>(&bytes, 9).unwrap().collect();
        assert_eq!(results.last(), Some(&Err(DecodeError::Malformed)));
    }

    #[test]
    fn a_body_must_be_exactly_as_long_as_its_length_says() {
        let mut bytes = write(&[Message::Ack { seq: 1 }]);
        // Ack: tag, length 1, seq 1; claim a body of 2 with a trailing byte.
        let at = bytes.len() - 2;
        bytes[at] = 2;
        bytes.push(0);
        let results: Vec<_> = decode::<u32>(&bytes, 9).unwrap().collect();
        assert_eq!(results, [Err(DecodeError::Malformed)]);
    }

    fn broadcast(payload: &[u8]) -> Message<'_, u32> {
        Message::Broadcast {
            id: 1,
            origin: "a",
            age_ms: 0,
            feedback: false,
            payload,
        }
    }

    #[test]
    fn bodies_of_128_bytes_and_more_take_a_longer_length() {
        for len in [100, 125, 126, 127, 128, 200, 1_000] {
            let payload = alloc::vec![7u8; len];
            let broadcast = broadcast(&payload);
            let bytes = write(core::slice::from_ref(&broadcast));
            assert_eq!(bytes.len() - 5, encoded_len(&broadcast), "{len}");
            assert_eq!(encode_message(&broadcast), bytes[5..], "{len}");
            let decoded: Vec<_> = decode::<u32>(&bytes, 9).unwrap().collect();
            assert_eq!(decoded, [Ok(broadcast)], "{len}");
        }
        // Room for the body after a one-byte length, not after a two-byte one.
        let payload = [7u8; 130];
        let broadcast = broadcast(&payload);
        let framed = encoded_len(&broadcast);
        let mut buf = alloc::vec![0u8; 5 + framed - 1];
        let mut writer = PacketWriter::new(&mut buf, 9);
        assert_eq!(writer.push(&broadcast), Err(BufferFull));
        assert_eq!(writer.len(), 5);
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
        assert_eq!(writer.len(), 5);
        let encoded = encode_message::<u32>(&Message::Ack { seq: 3 });
        writer.push_encoded(&encoded).unwrap();
        assert_eq!(writer.len(), 5 + encoded.len());
    }
}
