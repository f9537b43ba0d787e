//! The way in: a plaintext datagram is decoded once, checked whole, and each
//! message routed to the part that owns it.
//!
//! Nothing is applied until every message has decoded and passed the
//! configured limits, so a bad datagram changes nothing but a rejection
//! counter. The parts then receive their messages already decoded, in the
//! datagram's order; none of them reads bytes.

use rand_core::Rng;
use smallvec::SmallVec;

use super::Node;
use crate::config::Config;
use crate::error::MessageError;
use crate::identity::Address;
use crate::state;
use crate::stats::Stats;
use crate::wire::{self, Message, MessageKind, Status, Update};

impl<A: Address, R: Rng> Node<A, R> {
    /// Takes a plaintext datagram (opened, if it came sealed).
    pub(super) fn accept_plaintext(
        &mut self,
        from: A,
        datagram: &[u8],
    ) -> Result<(), MessageError> {
        let inbound = Inbound::<A>::decode(datagram, &self.config)?;
        if self.membership.has_left() {
            self.stats.datagrams.ignored_after_leave += 1;
            return Ok(());
        }
        inbound.count(&mut self.stats);
        let (mut env, membership, broadcasts, replica) = self.parts();
        membership.handle_messages(&mut env, from.clone(), inbound.first, &inbound.membership);
        // Only members' pulls and syncs are answered; asked after the
        // membership had its say, so that a datagram announcing its sender
        // counts.
        let from_member = (!inbound.dissemination.is_empty() || !inbound.state.is_empty())
            && membership.knows_addr(&from);
        if !inbound.dissemination.is_empty() {
            broadcasts.handle_messages(&mut env, &from, &inbound.dissemination, from_member);
        }
        if !inbound.state.is_empty() {
            replica.handle_messages(&mut env, &from, &inbound.state, from_member, &*membership);
        }
        Ok(())
    }
}

/// Messages of one part: inline up to a probe's or an ack's with what rides
/// along, on the heap for a datagram full of gossip.
pub(crate) type Messages<'a, A> = SmallVec<[Message<'a, A>; 8]>;

/// The messages of one datagram, decoded, checked and sorted by the part
/// that owns them. Borrowed from the datagram.
#[derive(Debug)]
pub(crate) struct Inbound<'a, A> {
    /// The kind of the first message, which says what the datagram is for.
    pub(crate) first: Option<MessageKind>,
    /// Probes, acks, exchanges, member updates and coordinates.
    pub(crate) membership: Messages<'a, A>,
    /// Broadcasts, pulls and feedback.
    pub(crate) dissemination: Messages<'a, A>,
    /// Key entries, state digests and anti-entropy steps.
    pub(crate) state: Messages<'a, A>,
    /// Each message's kind and bytes, for the traffic counters.
    sizes: SmallVec<[(MessageKind, usize); 16]>,
    /// Messages of kinds this version does not know, skipped.
    unknown: usize,
}

impl<'a, A: Address> Inbound<'a, A> {
    /// Decodes and checks `datagram` whole; the first fault is the error.
    pub(crate) fn decode(datagram: &'a [u8], config: &Config) -> Result<Self, MessageError> {
        let mut packet = wire::decode::<A>(datagram, config.cluster_id)?;
        let mut inbound = Inbound {
            first: None,
            membership: SmallVec::new(),
            dissemination: SmallVec::new(),
            state: SmallVec::new(),
            sizes: SmallVec::new(),
            unknown: 0,
        };
        while let Some(message) = packet.next() {
            let message = message?;
            check_limits(&message, config)?;
            let kind = message.kind();
            inbound.first.get_or_insert(kind);
            inbound.sizes.push((kind, packet.last_len()));
            // The one place that says which part owns which message.
            let part = match message {
                Message::Ping { .. }
                | Message::IndirectPing { .. }
                | Message::Ack { .. }
                | Message::Nack { .. }
                | Message::Update(_)
                | Message::PushPull { .. }
                | Message::State { .. }
                | Message::StateResend { .. }
                | Message::Cookie { .. }
                | Message::Coordinate(_) => &mut inbound.membership,
                Message::Broadcast { .. } | Message::Pull { .. } | Message::Feedback { .. } => {
                    &mut inbound.dissemination
                }
                Message::KeyEntry { .. }
                | Message::StateRoot { .. }
                | Message::SyncHashes { .. }
                | Message::SyncEntries { .. } => &mut inbound.state,
            };
            part.push(message);
        }
        inbound.unknown = packet.unknown();
        Ok(inbound)
    }

    /// Counts the datagram's messages in `stats`: once it is taken.
    pub(crate) fn count(&self, stats: &mut Stats) {
        for &(kind, len) in &self.sizes {
            stats.datagrams.messages_in[kind].record(len);
        }
        stats.datagrams.unknown_messages += self.unknown as u64;
    }
}

/// The limits of the configuration that the wire does not know: metadata,
/// broadcast, key and value sizes.
fn check_limits<A>(message: &Message<'_, A>, config: &Config) -> Result<(), MessageError> {
    match message {
        Message::Update(Update {
            status: Status::Alive { metadata, .. },
            ..
        }) if metadata.len() > config.max_metadata_size => Err(MessageError::MetadataTooLarge {
            len: metadata.len(),
            max: config.max_metadata_size,
        }),
        Message::Broadcast { payload, .. } if payload.len() > config.max_broadcast_size => {
            Err(MessageError::BroadcastTooLarge {
                len: payload.len(),
                max: config.max_broadcast_size,
            })
        }
        Message::KeyEntry { key, entry } => state::check_limits(key, entry, config),
        _ => Ok(()),
    }
}
