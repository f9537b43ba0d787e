//! The way out: what rides along on a datagram, and in which order.
//!
//! A datagram opens with its primary message (a probe, an ack, a pull, …)
//! or, in plain gossip, with none; the room left is filled from the sources
//! below, in [`PIGGYBACK_ORDER`], each taking as much as fits before the
//! next. The most urgent come first, so that what a full datagram leaves out
//! is the least urgent. Which sources a datagram takes depends on what opens
//! it ([`Opening::takes`]). This is the one place that decides both, and
//! whether a gossip round has anything to send (`Node::gossip_waiting`).
//!
//! Only datagrams to members heard from take anything: a seed, a stranger,
//! or a member only heard of (perhaps from a forged announcement) gets the
//! primary message alone, so that what a forged datagram draws is no larger
//! than itself.

use rand_core::Rng;

use super::Node;
use crate::dissemination::{BroadcastTransmit, Broadcasts};
use crate::identity::Address;
use crate::membership::{Membership, Outgoing};
use crate::state::Replica;
use crate::stats::Stats;
use crate::time::Instant;
use crate::wire::PacketWriter;

impl<A: Address, R: Rng> Node<A, R> {
    /// Writes `outgoing` into the scratch buffer with what rides along: to a
    /// member heard from (and in gossip), piggybacked updates, the state's
    /// root, key rumors and broadcasts; to any other address (a seed, a
    /// stranger's ping, a probe of a member only heard of, perhaps from a
    /// forged announcement), the one message only, so that what a forged
    /// datagram draws is no larger than itself. Returns the length, `None` if
    /// there was nothing to say.
    pub(super) fn write_membership(&mut self, outgoing: &Outgoing<A>) -> Option<usize> {
        let (mut writer, mut sources) = self.writer_and_sources();
        // Gossip goes only to members heard from or, while alive, only heard
        // of (chosen so): it is nothing but what rides along.
        let to = outgoing.to();
        let heard = sources.membership.heard_addr(to)
            || (matches!(outgoing, Outgoing::Gossip { .. }) && sources.membership.knows_addr(to));
        let primary = sources
            .membership
            .write_primary(outgoing, &mut writer, sources.stats)?;
        if !heard {
            return primary.then(|| writer.len());
        }
        let riders = sources.piggyback(
            Opening::of(outgoing),
            Some(outgoing),
            outgoing.to(),
            &mut writer,
        );
        (primary || riders > 0).then(|| writer.len())
    }

    /// Writes a broadcast pull, answer or feedback into the scratch buffer,
    /// a pull with what rides along. Returns the length, `None` if what it
    /// was about has expired.
    pub(super) fn write_dissemination(&mut self, outgoing: &BroadcastTransmit<A>) -> Option<usize> {
        let (mut writer, mut sources) = self.writer_and_sources();
        let now = sources.now;
        if !sources
            .broadcasts
            .write(outgoing, &mut writer, now, sources.stats)
        {
            return None;
        }
        if outgoing.takes_rumors() {
            sources.piggyback(Opening::Pull, None, outgoing.to(), &mut writer);
        }
        Some(writer.len())
    }

    /// True if a gossip round has something to send: a source that a gossip
    /// datagram takes holds news. What only rides along (a coordinate, a
    /// digest, a message for one member) is not worth a round of its own.
    pub(super) fn gossip_waiting(&self) -> bool {
        PIGGYBACK_ORDER
            .into_iter()
            .filter(|&source| Opening::Gossip.takes(source))
            .any(|source| match source {
                Source::MemberRumors => self.membership.has_rumors(),
                Source::KeyRumors => self.replica.has_rumors(),
                Source::BroadcastPushes => self.broadcasts.has_pushes(),
                Source::Coordinate
                | Source::Correction
                | Source::BuddySuspicion
                | Source::StateRoot
                | Source::StateRootAfterKeys
                | Source::BroadcastDigest => false,
            })
    }

    /// A writer over the scratch buffer, and the sources that fill it.
    fn writer_and_sources(&mut self) -> (PacketWriter<'_>, Sources<'_, A, R>) {
        let writer = PacketWriter::new(&mut self.scratch, self.config.cluster_id);
        let sources = Sources {
            membership: &mut self.membership,
            broadcasts: &mut self.broadcasts,
            replica: &mut self.replica,
            stats: &mut self.stats,
            rng: &mut self.rng,
            now: self.now,
        };
        (writer, sources)
    }
}

/// What opens a datagram, which decides what may ride along.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Opening {
    /// A ping or an ack.
    Probe,
    /// Nothing: the datagram is piggybacked gossip only.
    Gossip,
    /// Another membership message (probe request, nack, exchange).
    Membership,
    /// A broadcast pull (in push-pull mode, one contact that goes both ways).
    Pull,
}

/// A source of piggybacked messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// The sender's network coordinate: the prober turns an ack's into a
    /// better coordinate of its own, and any lets the receiver predict its
    /// round trip to the sender.
    Coordinate,
    /// This node's alive record, to a member heard holding a claim about it
    /// that it has refuted already.
    Correction,
    /// A suspicion or a failure, told to the member it is about (Lifeguard's
    /// buddy system): it can refute at once.
    BuddySuspicion,
    /// Member updates, least-sent first.
    MemberRumors,
    /// The replicated store's digest, for convergence monitoring.
    StateRoot,
    /// Writes of the replicated store, least-sent first.
    KeyRumors,
    /// The digest again after keys in gossip: while the state changes,
    /// members need fresh digests most.
    StateRootAfterKeys,
    /// Broadcasts, in the push modes.
    BroadcastPushes,
    /// The digest of the broadcasts held, in the pull modes: a member whose
    /// own differs pulls from the sender.
    BroadcastDigest,
}

/// The order in which sources fill a datagram.
pub(crate) const PIGGYBACK_ORDER: [Source; 9] = [
    Source::Coordinate,
    Source::Correction,
    Source::BuddySuspicion,
    Source::MemberRumors,
    Source::StateRoot,
    Source::KeyRumors,
    Source::StateRootAfterKeys,
    Source::BroadcastPushes,
    Source::BroadcastDigest,
];

impl Opening {
    /// How `outgoing` opens its datagram.
    pub(crate) fn of<A>(outgoing: &Outgoing<A>) -> Opening {
        match outgoing {
            Outgoing::Ping { .. } | Outgoing::Ack { .. } => Opening::Probe,
            Outgoing::Gossip { .. } => Opening::Gossip,
            _ => Opening::Membership,
        }
    }

    /// True if a datagram opened so takes messages from `source`.
    pub(crate) fn takes(self, source: Source) -> bool {
        use Opening::{Gossip, Membership, Probe, Pull};
        match source {
            Source::Coordinate | Source::StateRoot | Source::BroadcastDigest => self == Probe,
            Source::Correction => matches!(self, Probe | Gossip | Membership),
            Source::BuddySuspicion => matches!(self, Probe | Gossip),
            Source::StateRootAfterKeys => self == Gossip,
            Source::MemberRumors | Source::KeyRumors | Source::BroadcastPushes => {
                matches!(self, Probe | Gossip | Membership | Pull)
            }
        }
    }
}

/// What the sources are read from for one datagram.
pub(crate) struct Sources<'n, A, R> {
    pub(crate) membership: &'n mut Membership<A>,
    pub(crate) broadcasts: &'n mut Broadcasts<A>,
    pub(crate) replica: &'n mut Replica<A>,
    pub(crate) stats: &'n mut Stats,
    pub(crate) rng: &'n mut R,
    pub(crate) now: Instant,
}

impl<A: Address, R: Rng> Sources<'_, A, R> {
    /// Fills the room `writer` has left for a datagram opened by `opening`
    /// (`outgoing`, if the membership's) to `to`. Returns how many messages
    /// were written besides the coordinate and the digests, which are not
    /// worth a datagram of their own.
    pub(crate) fn piggyback(
        &mut self,
        opening: Opening,
        outgoing: Option<&Outgoing<A>>,
        to: &A,
        writer: &mut PacketWriter<'_>,
    ) -> usize {
        let members = self.membership.live_members();
        let (mut written, mut keys) = (0, 0);
        for source in PIGGYBACK_ORDER {
            if !opening.takes(source) {
                continue;
            }
            let stats = &mut *self.stats;
            written += match source {
                Source::Coordinate => {
                    if let Some(outgoing) = outgoing {
                        self.membership
                            .write_coordinate(outgoing, self.now, writer, stats);
                    }
                    0
                }
                Source::Correction => {
                    usize::from(self.membership.write_correction(to, writer, stats))
                }
                Source::BuddySuspicion => outgoing.map_or(0, |outgoing| {
                    usize::from(self.membership.write_buddy(outgoing, writer, stats))
                }),
                Source::MemberRumors => self.membership.write_rumors(writer, stats),
                Source::StateRoot => {
                    self.replica.write_root(writer, stats);
                    0
                }
                Source::KeyRumors => {
                    keys = self.replica.write_rumors(writer, members, stats);
                    keys
                }
                Source::StateRootAfterKeys => {
                    if keys > 0 {
                        self.replica.write_root(writer, stats);
                    }
                    0
                }
                Source::BroadcastPushes => self
                    .broadcasts
                    .write_pushes(writer, self.now, members, self.rng, stats),
                Source::BroadcastDigest => {
                    self.broadcasts.write_digest(writer, stats);
                    0
                }
            };
        }
        written
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{announce, messages, run_until, with_three_members};
    use crate::wire::Message;
    use crate::{Config, Dissemination};
    use core::time::Duration;

    /// The kinds of news gossip rounds sent until `until`, in order; panics
    /// on a message gossip does not carry (the config below leaves gossip
    /// the only timer that sends).
    fn gossiped(n: &mut crate::testing::TestNode, until: u64) -> alloc::vec::Vec<&'static str> {
        let mut kinds: alloc::vec::Vec<&'static str> =
            messages(run_until(n, Instant::from_secs(until)))
                .into_iter()
                .filter_map(|(_, message)| match message {
                    Message::Update(_) => Some("update"),
                    Message::KeyEntry { .. } => Some("key"),
                    Message::Broadcast { .. } => Some("broadcast"),
                    // Rides along after keys, never alone.
                    Message::StateRoot { .. } => None,
                    other => panic!("not gossip: {other:?}"),
                })
                .collect();
        kinds.dedup();
        kinds
    }

    /// A gossip round sends when, and only when, one of the sources a gossip
    /// datagram takes has news: member updates, writes or broadcasts.
    #[test]
    fn a_gossip_round_goes_out_for_news_from_any_source_and_only_then() {
        let hour = Duration::from_secs(3600);
        let config = Config {
            probe_interval: hour,
            pull_interval: hour,
            state_sync_interval: hour,
            push_pull_interval: hour,
            dissemination: Dissemination::Push,
            ..Config::lan()
        };
        let mut n = with_three_members(config);
        assert_eq!(gossiped(&mut n, 10), ["update"], "the members' arrival");
        assert!(gossiped(&mut n, 20).is_empty(), "nothing new, no round");
        n.set(Instant::from_secs(20), b"k", b"v").unwrap();
        assert_eq!(gossiped(&mut n, 30), ["key"]);
        n.broadcast(Instant::from_secs(30), b"b").unwrap();
        assert_eq!(gossiped(&mut n, 40), ["broadcast"]);
        announce(&mut n, "d", 4);
        assert_eq!(gossiped(&mut n, 50), ["update"]);
        assert!(gossiped(&mut n, 60).is_empty());
    }

    /// The piggyback order as a table, read the way the README states it.
    #[test]
    fn what_rides_on_what() {
        // A probe or an ack takes everything but the second state digest.
        let probe: alloc::vec::Vec<Source> = PIGGYBACK_ORDER
            .into_iter()
            .filter(|&source| source != Source::StateRootAfterKeys)
            .collect();
        assert_eq!(probe.len(), 8);
        let rows: [(Opening, &[Source]); 4] = [
            (Opening::Probe, &probe),
            (
                Opening::Gossip,
                &[
                    Source::Correction,
                    Source::BuddySuspicion,
                    Source::MemberRumors,
                    Source::KeyRumors,
                    Source::StateRootAfterKeys,
                    Source::BroadcastPushes,
                ],
            ),
            (
                Opening::Membership,
                &[
                    Source::Correction,
                    Source::MemberRumors,
                    Source::KeyRumors,
                    Source::BroadcastPushes,
                ],
            ),
            (
                Opening::Pull,
                &[
                    Source::MemberRumors,
                    Source::KeyRumors,
                    Source::BroadcastPushes,
                ],
            ),
        ];
        for (opening, expected) in rows {
            let taken: alloc::vec::Vec<Source> = PIGGYBACK_ORDER
                .into_iter()
                .filter(|&source| opening.takes(source))
                .collect();
            assert_eq!(taken, expected, "{opening:?}");
        }
    }
}
