//! The tag of each message and the layout of its body, written and read in
//! one place so that the two cannot drift apart. The golden fixtures in
//! `wire/golden.rs` pin every byte.

use serde::{Serialize, de::DeserializeOwned};

use super::codec::{Reader, Writer};
use super::message::{
    COORDINATE_DIMENSIONS, CoordinateRecord, EntryRecord, MAX_SIBLINGS, MAX_VERSION_LEN, Message,
    MessageKind, SiblingRecord, Status, Update, VersionRecord,
};
use super::packet::BufferFull;
use crate::error::DecodeError;

/// The tag of each message kind: the first byte of a message on the wire.
///
/// A tag is never reused for another body. A receiver skips a message whose
/// tag it does not know (counted in `DatagramStats::unknown_messages`), so a new kind
/// takes a new tag and older nodes keep working; a change to the body of an
/// existing kind is a new protocol version.
pub mod tag {
    /// [`Message::Ping`](super::Message::Ping).
    pub const PING: u8 = 0x01;
    /// [`Message::IndirectPing`](super::Message::IndirectPing).
    pub const INDIRECT_PING: u8 = 0x02;
    /// [`Message::Ack`](super::Message::Ack).
    pub const ACK: u8 = 0x03;
    /// [`Message::Nack`](super::Message::Nack).
    pub const NACK: u8 = 0x04;
    /// An [`Update`](super::Update) claiming the member alive.
    pub const ALIVE: u8 = 0x05;
    /// An [`Update`](super::Update) claiming the member suspect.
    pub const SUSPECT: u8 = 0x06;
    /// An [`Update`](super::Update) claiming the member failed.
    pub const FAILED: u8 = 0x07;
    /// An [`Update`](super::Update) saying the member left.
    pub const LEFT: u8 = 0x08;
    /// [`Message::PushPull`](super::Message::PushPull).
    pub const PUSH_PULL: u8 = 0x09;
    /// [`Message::State`](super::Message::State).
    pub const STATE: u8 = 0x0a;
    /// [`Message::StateResend`](super::Message::StateResend).
    pub const STATE_RESEND: u8 = 0x0b;
    /// [`Message::Broadcast`](super::Message::Broadcast).
    pub const BROADCAST: u8 = 0x0c;
    /// [`Message::Pull`](super::Message::Pull).
    pub const PULL: u8 = 0x0d;
    /// [`Message::Feedback`](super::Message::Feedback).
    pub const FEEDBACK: u8 = 0x0e;
    /// [`Message::KeyEntry`](super::Message::KeyEntry).
    pub const KEY_ENTRY: u8 = 0x0f;
    /// [`Message::StateRoot`](super::Message::StateRoot).
    pub const STATE_ROOT: u8 = 0x10;
    /// [`Message::SyncHashes`](super::Message::SyncHashes).
    pub const SYNC_HASHES: u8 = 0x11;
    /// [`Message::SyncEntries`](super::Message::SyncEntries).
    pub const SYNC_ENTRIES: u8 = 0x12;
    /// [`Message::Cookie`](super::Message::Cookie).
    pub const COOKIE: u8 = 0x13;
    /// [`Message::Coordinate`](super::Message::Coordinate).
    pub const COORDINATE: u8 = 0x14;
    /// [`Message::BroadcastDigest`](super::Message::BroadcastDigest).
    pub const BROADCAST_DIGEST: u8 = 0x15;
    /// [`Message::CoordinateWanted`](super::Message::CoordinateWanted).
    pub const COORDINATE_WANTED: u8 = 0x16;
    /// Never sent by this crate: the tests of compatibility send it to show
    /// that a kind a node does not know is skipped.
    pub const RESERVED_FOR_TESTS: u8 = 0xff;
}

impl MessageKind {
    /// The tag of messages of this kind.
    pub fn tag(self) -> u8 {
        match self {
            MessageKind::Ping => tag::PING,
            MessageKind::IndirectPing => tag::INDIRECT_PING,
            MessageKind::Ack => tag::ACK,
            MessageKind::Nack => tag::NACK,
            MessageKind::Alive => tag::ALIVE,
            MessageKind::Suspect => tag::SUSPECT,
            MessageKind::Failed => tag::FAILED,
            MessageKind::Left => tag::LEFT,
            MessageKind::PushPull => tag::PUSH_PULL,
            MessageKind::State => tag::STATE,
            MessageKind::StateResend => tag::STATE_RESEND,
            MessageKind::Broadcast => tag::BROADCAST,
            MessageKind::Pull => tag::PULL,
            MessageKind::Feedback => tag::FEEDBACK,
            MessageKind::KeyEntry => tag::KEY_ENTRY,
            MessageKind::StateRoot => tag::STATE_ROOT,
            MessageKind::SyncHashes => tag::SYNC_HASHES,
            MessageKind::SyncEntries => tag::SYNC_ENTRIES,
            MessageKind::Cookie => tag::COOKIE,
            MessageKind::Coordinate => tag::COORDINATE,
            MessageKind::BroadcastDigest => tag::BROADCAST_DIGEST,
            MessageKind::CoordinateWanted => tag::COORDINATE_WANTED,
        }
    }
}

impl<A> Message<'_, A> {
    /// The message's tag.
    pub fn tag(&self) -> u8 {
        self.kind().tag()
    }
}

impl<A: Serialize> Message<'_, A> {
    /// Writes the body (without tag and length).
    pub(crate) fn write_body(&self, w: &mut Writer<'_>) -> Result<(), BufferFull> {
        match self {
            Message::Ping { seq, target } => {
                w.varint((*seq).into())?;
                w.str(target)
            }
            Message::IndirectPing {
                seq,
                target,
                target_addr,
                nack,
            } => {
                w.varint((*seq).into())?;
                w.str(target)?;
                w.bool(*nack)?;
                w.addr(target_addr)
            }
            Message::Ack { seq } | Message::Nack { seq } => w.varint((*seq).into()),
            Message::Update(update) => {
                w.str(update.name)?;
                w.varint(update.generation)?;
                w.varint(update.incarnation)?;
                match &update.status {
                    Status::Alive { addr, metadata } => {
                        w.addr(addr)?;
                        w.bytes(metadata)
                    }
                    Status::Suspect { by } => w.str(by),
                    Status::Failed | Status::Left => Ok(()),
                }
            }
            Message::PushPull {
                session,
                digest,
                join,
                cookie,
                padding,
            } => {
                w.varint((*session).into())?;
                w.fixed64(*digest)?;
                w.bool(*join)?;
                w.fixed64(*cookie)?;
                w.bytes(padding)
            }
            Message::State {
                session,
                reply,
                fresh,
                chunk,
                chunks,
            } => {
                w.varint((*session).into())?;
                w.bool(*reply)?;
                w.bool(*fresh)?;
                w.varint((*chunk).into())?;
                w.varint((*chunks).into())
            }
            Message::StateResend { session, missing } => {
                w.varint((*session).into())?;
                w.bytes(missing)
            }
            Message::Broadcast {
                id,
                origin,
                age_ms,
                feedback,
                payload,
            } => {
                w.fixed64(*id)?;
                w.str(origin)?;
                w.varint((*age_ms).into())?;
                w.bool(*feedback)?;
                w.bytes(payload)
            }
            Message::Pull { salt, filter } => {
                w.varint((*salt).into())?;
                w.bytes(filter)
            }
            Message::BroadcastDigest { digest } => w.fixed64(*digest),
            Message::CoordinateWanted => Ok(()),
            Message::Feedback { known, new } => {
                w.bytes(known)?;
                w.bytes(new)
            }
            Message::KeyEntry { key, entry } => {
                w.bytes(key)?;
                write_entry(w, entry)
            }
            // An empty store's root is 0: its body is empty, as the root
            // rides on every probe and ack of an idle cluster.
            Message::StateRoot { root: 0 } => Ok(()),
            Message::StateRoot { root } => w.fixed64(*root),
            Message::SyncHashes {
                depth,
                level,
                root,
                hashes,
            } => {
                w.u8(*depth)?;
                w.u8(*level)?;
                w.fixed64(*root)?;
                w.bytes(hashes)
            }
            Message::SyncEntries { depth, want } => {
                w.u8(*depth)?;
                w.bytes(want)
            }
            Message::Cookie { session, cookie } => {
                w.varint((*session).into())?;
                w.fixed64(*cookie)
            }
            Message::Coordinate(coordinate) => {
                for component in coordinate.vector {
                    w.i32(component)?;
                }
                w.varint(coordinate.height.into())?;
                w.i32(coordinate.adjustment)?;
                w.varint(coordinate.error.into())
            }
        }
    }
}

fn write_entry(w: &mut Writer<'_>, entry: &EntryRecord<'_>) -> Result<(), BufferFull> {
    w.varint(entry.version.len() as u64)?;
    for &(replica, count) in &entry.version {
        w.fixed64(replica)?;
        w.varint(count)?;
    }
    w.varint(entry.siblings.len() as u64)?;
    for sibling in &entry.siblings {
        w.fixed64(sibling.replica)?;
        w.varint(sibling.counter)?;
        w.varint(sibling.millis)?;
        w.varint(sibling.logical.into())?;
        w.str(sibling.origin)?;
        match sibling.value {
            Some(value) => {
                w.u8(1)?;
                w.bytes(value)?;
            }
            None => w.u8(0)?,
        }
    }
    Ok(())
}

impl<'a, A: DeserializeOwned> Message<'a, A> {
    /// Reads the body of a message tagged `tag`; `None` for a tag this
    /// version does not know. Every byte of the body must be read.
    pub(crate) fn read_body(tag: u8, body: &'a [u8]) -> Result<Option<Self>, DecodeError> {
        let mut r = Reader::new(body);
        let message = match tag {
            tag::PING => Message::Ping {
                seq: r.u32()?,
                target: r.str()?,
            },
            tag::INDIRECT_PING => Message::IndirectPing {
                seq: r.u32()?,
                target: r.str()?,
                nack: r.bool()?,
                target_addr: r.addr()?,
            },
            tag::ACK => Message::Ack { seq: r.u32()? },
            tag::NACK => Message::Nack { seq: r.u32()? },
            tag::ALIVE | tag::SUSPECT | tag::FAILED | tag::LEFT => {
                let name = r.str()?;
                let generation = r.varint()?;
                let incarnation = r.varint()?;
                let status = match tag {
                    tag::ALIVE => Status::Alive {
                        addr: r.addr()?,
                        metadata: r.bytes()?,
                    },
                    tag::SUSPECT => Status::Suspect { by: r.str()? },
                    tag::FAILED => Status::Failed,
                    _ => Status::Left,
                };
                Message::Update(Update {
                    name,
                    generation,
                    incarnation,
                    status,
                })
            }
            tag::PUSH_PULL => Message::PushPull {
                session: r.u32()?,
                digest: r.fixed64()?,
                join: r.bool()?,
                cookie: r.fixed64()?,
                padding: r.bytes()?,
            },
            tag::STATE => Message::State {
                session: r.u32()?,
                reply: r.bool()?,
                fresh: r.bool()?,
                chunk: r.u16()?,
                chunks: r.u16()?,
            },
            tag::STATE_RESEND => Message::StateResend {
                session: r.u32()?,
                missing: r.bytes()?,
            },
            tag::BROADCAST => Message::Broadcast {
                id: r.fixed64()?,
                origin: r.str()?,
                age_ms: r.u32()?,
                feedback: r.bool()?,
                payload: r.bytes()?,
            },
            tag::PULL => Message::Pull {
                salt: r.u32()?,
                filter: r.bytes()?,
            },
            tag::COORDINATE_WANTED => Message::CoordinateWanted,
            tag::BROADCAST_DIGEST => match r.fixed64()? {
                // Holding nothing is said by sending nothing.
                0 => return Err(DecodeError::Malformed),
                digest => Message::BroadcastDigest { digest },
            },
            tag::FEEDBACK => Message::Feedback {
                known: r.bytes()?,
                new: r.bytes()?,
            },
            tag::KEY_ENTRY => Message::KeyEntry {
                key: r.bytes()?,
                entry: read_entry(&mut r)?,
            },
            tag::STATE_ROOT if r.is_empty() => Message::StateRoot { root: 0 },
            tag::STATE_ROOT => {
                let root = r.fixed64()?;
                if root == 0 {
                    // Zero has one encoding, the empty body.
                    return Err(DecodeError::Malformed);
                }
                Message::StateRoot { root }
            }
            tag::SYNC_HASHES => Message::SyncHashes {
                depth: r.u8()?,
                level: r.u8()?,
                root: r.fixed64()?,
                hashes: r.bytes()?,
            },
            tag::SYNC_ENTRIES => Message::SyncEntries {
                depth: r.u8()?,
                want: r.bytes()?,
            },
            tag::COOKIE => Message::Cookie {
                session: r.u32()?,
                cookie: r.fixed64()?,
            },
            tag::COORDINATE => {
                let mut vector = [0; COORDINATE_DIMENSIONS];
                for component in &mut vector {
                    *component = r.i32()?;
                }
                Message::Coordinate(CoordinateRecord {
                    vector,
                    height: r.u32()?,
                    adjustment: r.i32()?,
                    error: r.u16()?,
                })
            }
            _ => return Ok(None),
        };
        r.finish()?;
        Ok(Some(message))
    }
}

/// Reads a key's state; counts are checked before anything is allocated, so
/// a forged count costs nothing.
fn read_entry<'a>(r: &mut Reader<'a>) -> Result<EntryRecord<'a>, DecodeError> {
    let writers = r.varint()?;
    if writers > MAX_VERSION_LEN as u64 {
        return Err(DecodeError::Malformed);
    }
    let mut version = VersionRecord::new();
    for _ in 0..writers {
        version.push((r.fixed64()?, r.varint()?));
    }
    let count = r.varint()?;
    if count > MAX_SIBLINGS as u64 {
        return Err(DecodeError::Malformed);
    }
    let mut siblings = alloc::vec::Vec::with_capacity(count as usize);
    for _ in 0..count {
        siblings.push(SiblingRecord {
            replica: r.fixed64()?,
            counter: r.varint()?,
            millis: r.varint()?,
            logical: r.u32()?,
            origin: r.str()?,
            value: if r.bool()? { Some(r.bytes()?) } else { None },
        });
    }
    Ok(EntryRecord { version, siblings })
}
