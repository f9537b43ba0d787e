//! Datagrams the membership wants sent. Most are kept as intents and encoded only
//! when polled, so that the rumors piggybacked on them are the freshest and no
//! buffer is allocated per ping or ack.

use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::identity::NodeName;
use crate::wire::{MIN_STRANGER_PADDING, Message};

#[derive(Clone, Debug)]
pub(crate) enum Outgoing<A> {
    Ping {
        to: A,
        seq: u32,
        target: NodeName,
    },
    IndirectPing {
        to: A,
        seq: u32,
        target: NodeName,
        target_addr: A,
        nack: bool,
    },
    Ack {
        to: A,
        seq: u32,
        /// Carries this node's coordinate: the answer to a direct ping
        /// whose sender does not hold the one published (a round-trip
        /// sample needs it). Acks for indirect probes measure no round trip.
        coordinate: bool,
    },
    Nack {
        to: A,
        seq: u32,
    },
    /// Rumors only; dropped if none are pending when polled.
    Gossip {
        to: A,
    },

    PushPull {
        to: A,
        session: u32,
        join: bool,
        /// The cookie the peer gave this node's address, or 0.
        cookie: u64,
    },
    /// Ask again with this cookie (to a stranger's exchange request).
    Cookie {
        to: A,
        session: u32,
        cookie: u64,
    },
    StateResend {
        to: A,
        session: u32,
        missing: Vec<u8>,
    },
    /// A datagram encoded when queued (a chunk of state), sent as is.
    Encoded {
        to: A,
        datagram: Arc<[u8]>,
    },
}

impl<A: Clone> Outgoing<A> {
    pub(crate) fn to(&self) -> &A {
        match self {
            Outgoing::Ping { to, .. }
            | Outgoing::IndirectPing { to, .. }
            | Outgoing::Ack { to, .. }
            | Outgoing::Nack { to, .. }
            | Outgoing::Gossip { to }
            | Outgoing::PushPull { to, .. }
            | Outgoing::Cookie { to, .. }
            | Outgoing::StateResend { to, .. }
            | Outgoing::Encoded { to, .. } => to,
        }
    }

    /// The message opening the datagram; `None` for plain gossip. `digest` is the
    /// membership digest at the time of sending.
    pub(crate) fn primary(&self, digest: u64) -> Option<Message<'_, A>> {
        match self {
            Outgoing::Ping { seq, target, .. } => Some(Message::Ping { seq: *seq, target }),
            Outgoing::IndirectPing {
                seq,
                target,
                target_addr,
                nack,
                ..
            } => Some(Message::IndirectPing {
                seq: *seq,
                target,
                target_addr: target_addr.clone(),
                nack: *nack,
            }),
            Outgoing::Ack { seq, .. } => Some(Message::Ack { seq: *seq }),
            Outgoing::Nack { seq, .. } => Some(Message::Nack { seq: *seq }),
            Outgoing::PushPull {
                session,
                join,
                cookie,
                ..
            } => Some(Message::PushPull {
                session: *session,
                digest,
                join: *join,
                cookie: *cookie,
                // Always: whether the receiver knows this node is its
                // view, not ours (a restarted member does not, and a
                // push-pull to the failed is how partitions heal).
                padding: &[0; MIN_STRANGER_PADDING],
            }),
            Outgoing::Cookie {
                session, cookie, ..
            } => Some(Message::Cookie {
                session: *session,
                cookie: *cookie,
            }),
            Outgoing::StateResend {
                session, missing, ..
            } => Some(Message::StateResend {
                session: *session,
                missing,
            }),
            Outgoing::Gossip { .. } | Outgoing::Encoded { .. } => None,
        }
    }
}
