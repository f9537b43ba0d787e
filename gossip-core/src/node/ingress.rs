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
use crate::wire::{self, Message, Status, Update};

impl<A: Address, R: Rng> Node<A, R> {
    /// Takes a plaintext datagram (opened, if it came sealed).
    pub(super) fn accept_plaintext(
        &mut self,
        from: A,
        datagram: &[u8],
    ) -> Result<(), MessageError> {
        let mut inbound = Inbound::<A>::default();
        inbound.decode(datagram, &self.config)?;
        if self.membership.has_left() {
            self.stats.datagrams.ignored_after_leave += 1;
            return Ok(());
        }
        inbound.count(&mut self.stats);
        let (mut env, membership, broadcasts, replica) = self.parts();
        let first = inbound.messages.first().map(Message::kind);
        membership.handle_messages(&mut env, from.clone(), first, inbound.of(Part::Membership));
        // Only members' pulls and syncs are answered; asked after the
        // membership had its say, so that a datagram announcing its sender
        // counts.
        let for_broadcasts = inbound.has(Part::Dissemination);
        let for_replica = inbound.has(Part::State);
        let from_member = (for_broadcasts || for_replica) && membership.knows_addr(&from);
        if for_broadcasts {
            let messages = inbound.of(Part::Dissemination);
            broadcasts.handle_messages(&mut env, &from, messages, from_member);
        }
        if for_replica {
            let messages = inbound.of(Part::State);
            replica.handle_messages(&mut env, &from, messages, from_member, &*membership);
        }
        Ok(())
    }
}

/// The part of the node a message is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Part {
    /// Probes, acks, exchanges, member updates and coordinates.
    Membership,
    /// Broadcasts, pulls and feedback.
    Dissemination,
    /// Key entries, state digests and anti-entropy steps.
    State,
}

impl Part {
    /// The one place that says which part owns which message.
    pub(crate) fn of<A>(message: &Message<'_, A>) -> Part {
        match message {
            Message::Ping { .. }
            | Message::IndirectPing { .. }
            | Message::Ack { .. }
            | Message::Nack { .. }
            | Message::Update(_)
            | Message::PushPull { .. }
            | Message::State { .. }
            | Message::StateResend { .. }
            | Message::Cookie { .. }
            | Message::CoordinateWanted
            | Message::Coordinate(_) => Part::Membership,
            Message::Broadcast { .. }
            | Message::Pull { .. }
            | Message::BroadcastDigest { .. }
            | Message::Feedback { .. } => Part::Dissemination,
            Message::KeyEntry { .. }
            | Message::StateRoot { .. }
            | Message::SyncHashes { .. }
            | Message::SyncEntries { .. } => Part::State,
        }
    }
}

/// The messages of one datagram, decoded and checked, in its order.
/// Borrowed from the datagram; built in place (it is large) and inline up to
/// a probe's or an ack's messages with what rides along.
#[derive(Debug)]
pub(crate) struct Inbound<'a, A> {
    messages: SmallVec<[Message<'a, A>; 4]>,
    /// Each message's bytes, for the traffic counters.
    lens: SmallVec<[u16; 8]>,
    /// Messages of kinds this version does not know, skipped.
    unknown: usize,
}

impl<A> Default for Inbound<'_, A> {
    fn default() -> Self {
        Inbound {
            messages: SmallVec::new(),
            lens: SmallVec::new(),
            unknown: 0,
        }
    }
}

impl<'a, A: Address> Inbound<'a, A> {
    /// Decodes and checks `datagram` whole; the first fault is the error.
    pub(crate) fn decode(
        &mut self,
        datagram: &'a [u8],
        config: &Config,
    ) -> Result<(), MessageError> {
        let mut packet = wire::decode::<A>(datagram, config.cluster_id)?;
        while let Some(message) = packet.next() {
            let message = message?;
            check_limits(&message, config)?;
            // A datagram is at most 65,535 bytes (`max_packet_size`).
            self.lens.push(packet.last_len() as u16);
            self.messages.push(message);
        }
        self.unknown = packet.unknown();
        Ok(())
    }

    /// The messages `part` owns, in the datagram's order.
    pub(crate) fn of(&self, part: Part) -> impl Iterator<Item = &Message<'a, A>> + Clone {
        self.messages.iter().filter(move |m| Part::of(m) == part)
    }

    /// True if the datagram holds a message for `part`.
    pub(crate) fn has(&self, part: Part) -> bool {
        self.of(part).next().is_some()
    }

    /// Counts the datagram's messages in `stats`: once it is taken.
    pub(crate) fn count(&self, stats: &mut Stats) {
        for (message, &len) in self.messages.iter().zip(&self.lens) {
            stats.datagrams.messages_in[message.kind()].record(len.into());
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
