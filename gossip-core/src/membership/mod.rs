//! SWIM membership: the member table, failure detection by direct and indirect
//! probes, suspicion, refutation, joins, push-pull state exchange and departures.
//!
//! A child state machine of [`Node`](crate::Node): inputs arrive through
//! `handle_*`, outputs leave through `poll_*`, and the node drains it.
//!
//! This file holds the state shared by all (the table, the timers, the
//! rumors, the outputs), the getters, and the dispatch of messages and
//! timers. Each concept keeps its own state and behaviour in its file:
//! `detection` (probes, acks, nacks, suspicions expiring, the buddy system),
//! `exchange` (joins, push-pull, cookies, state transfers), `gossip` (the
//! gossip round and partner choice), `lifecycle` (leaving, metadata,
//! reaping), `update` (claims applied to the table) with `precedence`
//! (SWIM's rules as one pure function).

mod awareness;
mod cookie;
mod detection;
mod exchange;
mod gossip;
mod lifecycle;
mod outgoing;
mod precedence;
mod probe;
mod suspicion;
mod table;
mod timer;
mod transfer;
mod update;

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use core::time::Duration;

use rand_core::{CryptoRng, Rng};

use self::awareness::{Awareness, Health};
use self::cookie::Cookies;
use self::detection::Detection;
use self::exchange::{Exchange, Exchanges, Request, update_of};
use self::lifecycle::Lifecycle;
pub(crate) use self::outgoing::Outgoing;
use self::probe::{ProbeOrder, ProbeRound, Relay, Relays};
use self::suspicion::{Suspicion, Suspicions};
use self::table::{LOCAL, MemberTable, Removed, Sample};
use self::timer::{Timer, Timers};
use self::transfer::{ReceivingTransfers, SentTransfers};
use self::update::Source;
use crate::config::Config;
use crate::context::{Env, Partners, Peers};
use crate::error::{JoinError, LeaveError, MetadataError};
use crate::event::Event;
use crate::identity::{Address, Identity, NodeName};
use crate::member::{Member, MemberState, Metadata};
use crate::queue::{pop_and_trim, push_dropping_oldest};
use crate::random;
use crate::rumor_queue::{Encoded, RumorQueue, retransmit_limit};
use crate::stats::{Footprint, Stats};
use crate::time::Instant;
use crate::topology::{Coordinate, PeerSelection, Sample as VivaldiSample, Vivaldi};
use crate::wire::{MIN_STRANGER_PADDING, Message, MessageKind, PacketWriter};

pub(crate) struct Membership<A> {
    config: Arc<Config>,
    table: MemberTable<A>,
    timers: Timers,
    /// Member updates waiting to be gossiped.
    rumors: RumorQueue<NodeName, Encoded>,
    outbox: VecDeque<Outgoing<A>>,
    events: VecDeque<Event<A>>,
    /// This node's network coordinate and its members', if `coordinates`.
    vivaldi: Option<Vivaldi>,
    /// Failure detection: probes, relays, suspicions (`detection.rs`).
    detection: Detection<A>,
    /// Joins, push-pull and state transfers (`exchange.rs`).
    exchange: Exchange<A>,
    /// Leaving, and the node's own standing (`lifecycle.rs`).
    lifecycle: Lifecycle<A>,
}

impl<A: Address> Peers<A> for Membership<A> {
    fn live_members(&self) -> usize {
        Membership::live_members(self)
    }

    fn is_live(&self, addr: &A) -> bool {
        self.is_live_addr(addr)
    }

    fn sample_live<R: Rng>(&self, rng: &mut R, count: usize) -> Partners<A> {
        Membership::sample_live(self, rng, count)
    }
}

impl<A: Address> Membership<A> {
    /// Hash keys and the cookie key come from `secrets`, choices from `rng`.
    pub(crate) fn new<R: Rng, S: CryptoRng + ?Sized>(
        config: Arc<Config>,
        identity: Identity<A>,
        now: Instant,
        rng: &mut R,
        secrets: &mut S,
    ) -> Self {
        let local = Member {
            name: identity.name().clone(),
            addr: identity.addr().clone(),
            generation: identity.generation(),
            incarnation: 0,
            state: MemberState::Alive,
            metadata: Metadata::default(),
            state_changed: now,
        };
        let mut timers = Timers::default();
        // Random phases, so that nodes started together do not probe, gossip and
        // exchange state in lockstep.
        timers.set(
            Timer::Probe,
            now + random::duration_below(rng, config.probe_interval),
        );
        if config.gossip_fanout > 0 {
            timers.set(
                Timer::Gossip,
                now + random::duration_below(rng, config.gossip_interval),
            );
        }
        timers.set(
            Timer::PushPull,
            now + random::duration_below(rng, config.push_pull_interval),
        );
        timers.set(Timer::Reap, now + reap_period(&config));
        let table_seed = secrets.next_u64();
        let mut cookie_key = [0; 32];
        secrets.fill_bytes(&mut cookie_key);
        // Drawn in this order, which seeded runs depend on.
        let table = MemberTable::new(local, config.max_members, table_seed);
        let rumors = RumorQueue::new(secrets.next_u64());
        let detection = Detection {
            last_seq: rng.next_u32(),
            relays: Relays::new(config.max_relayed_probes),
            awareness: Awareness::new(config.awareness_max),
            probe_order: ProbeOrder::default(),
            probe: None,
            suspicions: Suspicions::new(secrets.next_u64()),
            stale_viewers: VecDeque::new(),
        };
        Membership {
            table,
            rumors,
            detection,
            exchange: Exchange {
                awaiting: Exchanges::default(),
                sent_transfers: SentTransfers::default(),
                receiving_transfers: ReceivingTransfers::default(),
                joining: None,
                next_discovery: now,
                cookies: Cookies::new(cookie_key),
            },
            lifecycle: Lifecycle {
                left: false,
                departing: false,
                table_full: false,
                reported_conflict: None,
            },
            timers,
            outbox: VecDeque::new(),
            events: VecDeque::new(),
            // Seeded from a secret already drawn: turning coordinates on or
            // off changes nothing else a seeded run draws.
            vivaldi: config
                .coordinates
                .then(|| Vivaldi::new(table_seed.rotate_left(17))),
            config,
        }
    }

    // ---- getters -------------------------------------------------------------

    /// Takes the node's configuration after a change of its keys.
    pub(crate) fn set_config(&mut self, config: Arc<Config>) {
        self.config = config;
    }

    pub(crate) fn local(&self) -> &Member<A> {
        self.table.local()
    }

    pub(crate) fn members(&self) -> impl Iterator<Item = &Member<A>> {
        self.table.iter()
    }

    pub(crate) fn member(&self, name: &str) -> Option<&Member<A>> {
        self.table.by_name(name)
    }

    pub(crate) fn live_members(&self) -> usize {
        self.table.live()
    }

    pub(crate) fn digest(&self) -> u64 {
        self.table.digest()
    }

    pub(crate) fn local_health(&self) -> u32 {
        self.detection.awareness.score()
    }

    pub(crate) fn has_left(&self) -> bool {
        self.lifecycle.left
    }

    pub(crate) fn is_departing(&self) -> bool {
        self.lifecycle.departing
    }

    pub(crate) fn is_joining(&self) -> bool {
        self.exchange.joining.is_some()
    }

    /// This node's network coordinate and its members', if `coordinates`.
    pub(crate) fn vivaldi(&self) -> Option<&Vivaldi> {
        self.vivaldi.as_ref()
    }

    pub(crate) fn reserve_members(&mut self, additional: usize) {
        self.table.reserve(additional);
        self.detection.probe_order.reserve(additional);
    }

    pub(crate) fn footprint(&self) -> Footprint {
        Footprint {
            members: self.table.len(),
            rumors: self.rumors.len(),
            suspicion_deadlines: self.detection.suspicions.deadlines(),
            relayed_probes: self.detection.relays.len(),
            pending_transmits: self.outbox.len(),
            pending_events: self.events.len(),
            coordinates: self.vivaldi.as_ref().map_or(0, Vivaldi::known),
            ..Footprint::default()
        }
    }

    // ---- outputs ---------------------------------------------------------------

    /// Datagrams queued and not yet polled.
    pub(crate) fn outgoing_len(&self) -> usize {
        self.outbox.len()
    }

    pub(crate) fn poll_outgoing(&mut self) -> Option<Outgoing<A>> {
        pop_and_trim(&mut self.outbox)
    }

    pub(crate) fn poll_event(&mut self) -> Option<Event<A>> {
        pop_and_trim(&mut self.events)
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        if self.lifecycle.left {
            // Only the departure's rounds are left to run.
            return self
                .timers
                .get(Timer::Gossip)
                .filter(|_| self.lifecycle.departing);
        }
        let suspicion = self.detection.suspicions.next_deadline();
        match (self.timers.next_deadline(), suspicion) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Writes the primary message of `outgoing` into `writer`: `Some(true)`
    /// if it has one, `Some(false)` if not (gossip is nothing but what rides
    /// along), `None` if it does not fit (counted; the datagram is dropped).
    pub(crate) fn write_primary(
        &self,
        outgoing: &Outgoing<A>,
        writer: &mut PacketWriter<'_>,
        stats: &mut Stats,
    ) -> Option<bool> {
        let Some(message) = outgoing.primary(self.table.digest()) else {
            return Some(false);
        };
        if writer.push_counted(&message, stats).is_err() {
            stats.datagrams.transmits_unencodable += 1;
            return None;
        }
        Some(true)
    }

    /// True if `addr` belongs to a member in the table.
    pub(crate) fn knows_addr(&self, addr: &A) -> bool {
        self.table.knows_addr(addr)
    }

    /// True if a member is known at `addr` and was heard from there: only
    /// those get piggybacked gossip and the datagrams of gossip, exchanges,
    /// pulls and anti-entropy.
    pub(crate) fn heard_addr(&self, addr: &A) -> bool {
        self.table.heard_addr(addr)
    }

    /// True if a live (alive or suspect) member is known at `addr`.
    pub(crate) fn is_live_addr(&self, addr: &A) -> bool {
        self.table.at_addr(addr).is_some_and(|m| m.state.is_live())
    }

    // ---- inputs ----------------------------------------------------------------

    /// Applies the membership's messages of a datagram whose every message
    /// decoded and passed its checks; `first` is the kind of the datagram's
    /// first message, which says what the datagram is for.
    pub(crate) fn handle_messages<'m, 'd: 'm, R: Rng>(
        &mut self,
        env: &mut Env<'_, R>,
        from: A,
        first: Option<MessageKind>,
        messages: impl Iterator<Item = &'m Message<'d, A>> + Clone,
    ) where
        A: 'm,
    {
        self.discover(env, &from, first);
        let mut state: Option<(u32, bool, Source)> = None;
        let (mut rtt, mut coordinate) = (None, None);
        // Riders follow the ping, but its ack must know whether the pinger
        // wants this node's coordinate.
        let wanted = messages
            .clone()
            .any(|message| matches!(message, Message::CoordinateWanted));
        for message in messages {
            match *message {
                Message::Ping { seq, target } => {
                    let coordinate = wanted && self.vivaldi.is_some();
                    self.handle_ping(env, &from, seq, target, coordinate);
                }
                // Read before the loop.
                Message::CoordinateWanted => {}
                Message::IndirectPing {
                    seq,
                    target,
                    ref target_addr,
                    nack,
                } => {
                    let target_addr = target_addr.clone();
                    self.handle_indirect_ping(env, &from, seq, target, target_addr, nack);
                }
                Message::Ack { seq } => rtt = self.handle_ack(env, &from, seq).or(rtt),
                Message::Nack { seq } => self.handle_nack(env, seq),
                Message::PushPull {
                    session,
                    digest,
                    join,
                    cookie,
                    padding,
                } => {
                    let request = Request {
                        session,
                        digest,
                        join,
                        cookie,
                        padded: padding.len() >= MIN_STRANGER_PADDING,
                    };
                    self.handle_push_pull(env, &from, request);
                }
                Message::Cookie { session, cookie } => {
                    self.handle_cookie(env, &from, session, cookie);
                }
                Message::State {
                    session,
                    reply,
                    fresh,
                    chunk,
                    chunks,
                } => {
                    self.state_begins(env, &from, session, chunk, chunks);
                    let source = if fresh {
                        Source::State
                    } else {
                        Source::SettledState
                    };
                    state = Some((session, reply, source));
                }
                Message::StateResend { session, missing } => {
                    self.handle_state_resend(env, &from, session, missing)
                }
                Message::Update(ref update) => {
                    let source = state.map_or(Source::Gossip, |(_, _, source)| source);
                    self.apply(env, &from, update, source);
                }
                Message::Coordinate(wire) => coordinate = Some(wire),
                // Routed to the other parts by the node's ingress.
                Message::Broadcast { .. }
                | Message::Pull { .. }
                | Message::BroadcastDigest { .. }
                | Message::Feedback { .. }
                | Message::KeyEntry { .. }
                | Message::StateRoot { .. }
                | Message::SyncHashes { .. }
                | Message::SyncEntries { .. } => {}
            }
        }
        match (coordinate, rtt) {
            (Some(coordinate), rtt) => self.heard_coordinate(env, &from, &coordinate, rtt),
            // The member's coordinate is the one this node holds.
            (None, Some(rtt)) => self.observe_rtt(env, &from, rtt),
            (None, None) => {}
        }
        // After the messages: a datagram may announce its own sender.
        self.table.heard_at(&from);
        if let Some((session, true, _)) = state {
            if self.exchange.awaiting.close(env.now, session) {
                self.send_state(env, from, session, false, false);
            }
        }
    }

    // ---- timers ----------------------------------------------------------------

    /// Runs the timers that are due. `gossip_waiting` says whether any source
    /// a gossip datagram takes has something to send (the egress decides:
    /// [`Node::gossip_waiting`](crate::Node)), which is what a gossip round
    /// waits for.
    pub(crate) fn handle_timeout<R: Rng>(&mut self, env: &mut Env<'_, R>, gossip_waiting: bool) {
        if self.lifecycle.left {
            if self.lifecycle.departing && self.timers.pop_due(env.now) == Some(Timer::Gossip) {
                self.send_departure(env, self.config.gossip_fanout.max(1));
            }
            return;
        }
        while let Some(timer) = self.timers.pop_due(env.now) {
            match timer {
                Timer::Probe => self.probe_period(env),
                Timer::ProbeTimeout => self.probe_timed_out(env),
                Timer::Gossip => self.gossip_round(env, gossip_waiting),
                Timer::PushPull => self.push_pull_round(env),
                Timer::JoinRetry => self.join_attempt(env),
                Timer::Reap => self.reap(env),
                Timer::TransferCheck => self.check_transfers(env),
                Timer::Nack => self.send_due_nacks(env),
            }
        }
        while let Some((name, suspicion)) = self.detection.suspicions.pop_expired(env.now) {
            self.suspicion_expired(env, &name, suspicion);
        }
    }

    // ---- plumbing --------------------------------------------------------------

    /// Queues a datagram within the node's budget of undrained ones.
    fn send<R>(&mut self, env: &mut Env<'_, R>, outgoing: Outgoing<A>) {
        env.queue_transmit(&mut self.outbox, outgoing);
    }

    /// Queues an event, dropping (and counting) the oldest if `max_pending_events`
    /// are waiting to be drained.
    fn emit<R>(&mut self, env: &mut Env<'_, R>, event: Event<A>) {
        push_or_count(&mut self.events, event, &self.config, env.stats);
    }
}

/// A push-pull round in this many picks its partner among the members only
/// heard of, if there are any. With `Config::lan()`'s 30 s interval, the
/// only such member of a table (a restarted node whose seed is gone, known
/// to the others only through their tables) is reached in 4 minutes on
/// average, and each member sends at most one small request every 4 minutes
/// to the addresses forged announcements named.
const ANY_PARTNER: usize = 8;

/// Queues `event`, dropping (and counting) the oldest if `max_pending_events`
/// are waiting to be drained.
fn push_or_count<A>(
    events: &mut VecDeque<Event<A>>,
    event: Event<A>,
    config: &Config,
    stats: &mut Stats,
) {
    if push_dropping_oldest(events, event, config.max_pending_events) {
        stats.events_dropped += 1;
    }
}

/// How long a member probing on someone's behalf waits for the target before
/// it sends a nack: 80% of the requester's wait, as in the Lifeguard paper, so
/// the nack arrives before the requester concludes its probe. The requester
/// waits `probe_timeout` for the direct ack and the rest of the period for
/// relayed ones; this assumes the requester runs the same configuration.
fn nack_delay(config: &Config) -> Duration {
    let window = config
        .probe_timeout
        .min(config.probe_interval - config.probe_timeout);
    window * 4 / 5
}

/// How often tombstones are looked for: often enough that one outlives its
/// timeout by at most an eighth of it, and at least once a minute.
fn reap_period(config: &Config) -> Duration {
    (config.tombstone_timeout / 8).min(Duration::from_secs(60))
}
