//! SWIM membership: the member table, failure detection by direct and indirect
//! probes, suspicion, refutation, joins, push-pull state exchange and departures.
//!
//! A child state machine of [`Node`](crate::Node): inputs arrive through
//! `handle_*`, outputs leave through `poll_*`, and the node drains it.

mod awareness;
mod cookie;
mod exchange;
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
use alloc::vec::Vec;
use core::time::Duration;

use rand_core::{CryptoRng, Rng};

use self::awareness::{Awareness, Health};
use self::cookie::Cookies;
use self::exchange::{Exchanges, StateHeader, encode_state, update_of};
pub(crate) use self::outgoing::Outgoing;
use self::probe::{ProbeOrder, ProbeRound, Relay, Relays};
use self::suspicion::{Suspicion, Suspicions};
use self::table::{LOCAL, MemberTable, Removed, Sample};
use self::timer::{Timer, Timers};
use self::transfer::{ReceivingTransfers, SentTransfers};
use self::update::Source;
use crate::config::Config;
use crate::context::{Env, Peers};
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

/// A join in progress.
struct Joining<A> {
    seeds: Vec<A>,
    attempts: u32,
    /// Attempts since a seed last answered: what the backoff doubles on.
    unanswered: u32,
    session: u32,
}

/// An exchange request, as received.
struct Request {
    session: u32,
    digest: u64,
    join: bool,
    cookie: u64,
    /// Padded as requests to strangers are.
    padded: bool,
}

pub(crate) struct Membership<A> {
    config: Arc<Config>,
    table: MemberTable<A>,
    probe_order: ProbeOrder,
    probe: Option<ProbeRound<A>>,
    relays: Relays<A>,
    awareness: Awareness,
    suspicions: Suspicions,
    exchanges: Exchanges,
    sent_transfers: SentTransfers<A>,
    receiving_transfers: ReceivingTransfers<A>,
    joining: Option<Joining<A>>,
    left: bool,
    /// Left, and the departure not yet sent as often as a rumor is.
    departing: bool,
    next_seq: u32,
    timers: Timers,
    rumors: RumorQueue<NodeName, Encoded>,
    outbox: VecDeque<Outgoing<A>>,
    events: VecDeque<Event<A>>,
    /// Set while the table is full, so the limit event is emitted once per episode.
    table_full: bool,
    /// Earliest time a datagram from a stranger may trigger a state exchange.
    next_discovery: Instant,
    /// Validates the addresses of strangers asking for the table.
    cookies: Cookies,
    /// This node's network coordinate and its members', if `coordinates`.
    vivaldi: Option<Vivaldi>,
    /// The address of the last process seen announcing this node's name.
    reported_conflict: Option<A>,
    /// Senders of claims about this node older than its incarnation (a
    /// suspicion or failure it already refuted): the next datagram to each
    /// carries this node's alive record. Bounded; the oldest goes first.
    stale_viewers: VecDeque<A>,
}

/// How many senders of stale claims about this node are remembered for a
/// correction; forged claims from more addresses push out the oldest.
const MAX_STALE_VIEWERS: usize = 16;

impl<A: Address> Peers<A> for Membership<A> {
    fn live_members(&self) -> usize {
        Membership::live_members(self)
    }

    fn is_live(&self, addr: &A) -> bool {
        self.is_live_addr(addr)
    }

    fn sample_live<R: Rng>(&self, rng: &mut R, count: usize) -> Vec<A> {
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
        Membership {
            table: MemberTable::new(local, config.max_members, table_seed),
            rumors: RumorQueue::new(secrets.next_u64()),
            next_seq: rng.next_u32(),
            relays: Relays::new(config.max_relayed_probes),
            awareness: Awareness::new(config.awareness_max),
            probe_order: ProbeOrder::default(),
            probe: None,
            suspicions: Suspicions::new(secrets.next_u64()),
            exchanges: Exchanges::default(),
            sent_transfers: SentTransfers::default(),
            receiving_transfers: ReceivingTransfers::default(),
            joining: None,
            left: false,
            departing: false,
            timers,
            outbox: VecDeque::new(),
            events: VecDeque::new(),
            table_full: false,
            next_discovery: now,
            cookies: Cookies::new(cookie_key),
            // Seeded from a secret already drawn: turning coordinates on or
            // off changes nothing else a seeded run draws.
            vivaldi: config
                .coordinates
                .then(|| Vivaldi::new(table_seed.rotate_left(17))),
            reported_conflict: None,
            stale_viewers: VecDeque::new(),
            config,
        }
    }

    // ---- getters -------------------------------------------------------------

    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

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
        self.awareness.score()
    }

    pub(crate) fn has_left(&self) -> bool {
        self.left
    }

    pub(crate) fn is_departing(&self) -> bool {
        self.departing
    }

    pub(crate) fn is_joining(&self) -> bool {
        self.joining.is_some()
    }

    /// This node's network coordinate and its members', if `coordinates`.
    pub(crate) fn vivaldi(&self) -> Option<&Vivaldi> {
        self.vivaldi.as_ref()
    }

    pub(crate) fn reserve_members(&mut self, additional: usize) {
        self.table.reserve(additional);
        self.probe_order.reserve(additional);
    }

    pub(crate) fn footprint(&self) -> Footprint {
        Footprint {
            members: self.table.len(),
            rumors: self.rumors.len(),
            suspicion_deadlines: self.suspicions.deadlines(),
            relayed_probes: self.relays.len(),
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
        if self.left {
            // Only the departure's rounds are left to run.
            return self.timers.get(Timer::Gossip).filter(|_| self.departing);
        }
        let suspicion = self.suspicions.next_deadline();
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

    /// Piggybacks this node's network coordinate, if it keeps one and it fits.
    pub(crate) fn write_coordinate(&self, writer: &mut PacketWriter<'_>, stats: &mut Stats) {
        if let Some(vivaldi) = &self.vivaldi {
            let _ = vivaldi
                .local_message()
                .write(writer, &mut stats.datagrams.messages_out);
        }
    }

    /// Piggybacks what this node holds against the member `outgoing` is
    /// about (a ping's target, a gossip's or an ack's receiver), told to
    /// that member itself (see [`write_buddy_suspicion`](Self::write_buddy_suspicion)).
    pub(crate) fn write_buddy(
        &self,
        outgoing: &Outgoing<A>,
        writer: &mut PacketWriter<'_>,
        stats: &mut Stats,
    ) -> bool {
        let suspect = match outgoing {
            Outgoing::Ping { target, .. } => self.table.find(target).map(|i| self.table.get(i)),
            Outgoing::Gossip { to } | Outgoing::Ack { to, .. } => self.table.at_addr(to),
            _ => None,
        };
        suspect.is_some_and(|member| self.write_buddy_suspicion(member, writer, stats))
    }

    /// Piggybacks as many member updates as fit, least-sent first; returns how
    /// many. A departure whose rumor is now spent completes.
    pub(crate) fn write_rumors(
        &mut self,
        writer: &mut PacketWriter<'_>,
        stats: &mut Stats,
    ) -> usize {
        let limit = retransmit_limit(self.config.retransmit_mult, self.table.live());
        let sent = &mut stats.datagrams.messages_out;
        let written = self.rumors.fill(
            writer,
            limit,
            |_, rumor, writer| rumor.write(writer, sent),
            |_| true,
        );
        if self.departing && self.rumors.is_empty() {
            // The departure has now been sent as often as any rumor.
            self.departing = false;
            self.timers.clear_all();
            push_or_count(&mut self.events, Event::LeaveCompleted, &self.config, stats);
        }
        written
    }

    /// Addresses of up to `count` live gossip partners (this node excluded),
    /// chosen as `peer_selection` says.
    pub(crate) fn sample_live<R: Rng>(&self, rng: &mut R, count: usize) -> Vec<A> {
        self.partners(rng, count, |m, heard| heard && m.state.is_live())
            .into_iter()
            .map(|index| self.table.get(index).addr.clone())
            .collect()
    }

    /// Up to `count` gossip partners among the members for which `eligible`
    /// holds: uniformly, or near ones first ([`PeerSelection::Nearby`]).
    fn partners<R: Rng>(
        &self,
        rng: &mut R,
        count: usize,
        eligible: impl FnMut(&Member<A>, bool) -> bool,
    ) -> table::Sample {
        match (self.config.peer_selection, &self.vivaldi) {
            (
                PeerSelection::Nearby {
                    candidates,
                    far_percent,
                },
                Some(vivaldi),
            ) => self.table.sample_nearby(
                rng,
                count,
                candidates.into(),
                far_percent.into(),
                eligible,
                |m| vivaldi.distance_to(m.name.as_str()),
            ),
            _ => self.table.sample_where(rng, count, eligible),
        }
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

    /// Lifeguard's buddy system: a ping to a member this node suspects carries
    /// the suspicion, so the member hears it first-hand and refutes in its ack,
    /// instead of waiting for the rumor to find it among many others. Gossip
    /// and acks to it carry it too: probes of a member come seldom when local
    /// health slows them (a member on the small side of a partition went 33 s
    /// suspected and unprobed, while its peers' gossip reached it and their
    /// rumor of its suspicion did not, until a stale failure from the other
    /// side buried it). An ack to a member this node holds failed carries the
    /// failure: a member that still probes this node is alive, and either
    /// refutes or, if the failure is older than its incarnation, corrects this
    /// node with its alive record. True if the claim was written.
    fn write_buddy_suspicion(
        &self,
        member: &Member<A>,
        writer: &mut PacketWriter<'_>,
        stats: &mut Stats,
    ) -> bool {
        let claimed = matches!(member.state, MemberState::Suspect | MemberState::Failed);
        if !self.config.buddy_system || !claimed {
            return false;
        }
        let by = self
            .suspicions
            .first_suspecter(member.name.as_str())
            .unwrap_or(self.table.local().name.as_str());
        let message = Message::Update(update_of(member, by));
        if writer.push_counted(&message, stats).is_err() {
            return false;
        }
        stats.detection.buddy_suspicions += 1;
        true
    }

    /// Writes this node's alive record into a datagram to `to` if `to` was
    /// heard claiming this node suspect or failed at an incarnation it has
    /// already refuted. The refutation's rumor is spent after a few copies,
    /// and under loss a member can miss them all: it then holds the stale
    /// suspicion until it times out and declares this node failed (a 10-node
    /// cluster at 20% loss did, 24 s after the refutation, and kept the
    /// failure 47 s more). Its buddy-system claims reach this node, so this
    /// node answers them first-hand. True if the record was written.
    pub(crate) fn write_correction(
        &mut self,
        to: &A,
        writer: &mut PacketWriter<'_>,
        stats: &mut Stats,
    ) -> bool {
        let Some(at) = self.stale_viewers.iter().position(|viewer| viewer == to) else {
            return false;
        };
        let message = Message::Update(update_of(self.table.local(), ""));
        if writer.push_counted(&message, stats).is_err() {
            return false;
        }
        stats.detection.stale_claims_corrected += 1;
        self.stale_viewers.remove(at);
        true
    }

    /// Remembers that `from` holds a view of this node older than its
    /// incarnation, for [`write_correction`](Self::write_correction).
    /// Only members are remembered: datagrams to strangers carry no updates.
    pub(super) fn heard_stale_claim(&mut self, from: &A) {
        if !self.table.knows_addr(from) || self.stale_viewers.contains(from) {
            return;
        }
        if self.stale_viewers.len() == MAX_STALE_VIEWERS {
            self.stale_viewers.pop_front();
        }
        self.stale_viewers.push_back(from.clone());
    }

    // ---- inputs ----------------------------------------------------------------

    /// Applies a datagram whose every message has already been decoded once
    /// without error. Returns true if it also carries messages for the other
    /// sub-machines (broadcasts, pulls, keys, anti-entropy), which are not the
    /// membership's business.
    pub(crate) fn handle_messages<R: Rng>(
        &mut self,
        env: &mut Env<'_, R>,
        from: A,
        first: Option<MessageKind>,
        messages: &[Message<'_, A>],
    ) {
        self.discover(env, &from, first);
        let mut state: Option<(u32, bool, Source)> = None;
        let (mut rtt, mut coordinate) = (None, None);
        for message in messages {
            match *message {
                Message::Ping { seq, target } => self.handle_ping(env, &from, seq, target),
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
                | Message::Feedback { .. }
                | Message::KeyEntry { .. }
                | Message::StateRoot { .. }
                | Message::SyncHashes { .. }
                | Message::SyncEntries { .. } => {}
            }
        }
        if let Some(coordinate) = coordinate {
            self.heard_coordinate(env, &from, &coordinate, rtt);
        }
        // After the messages: a datagram may announce its own sender.
        self.table.heard_at(&from);
        if let Some((session, true, _)) = state {
            if self.exchanges.close(env.now, session) {
                self.send_state(env, from, session, false, false);
            }
        }
    }

    /// A probe or gossip from an address not in the member table means this
    /// node's view is missing someone: exchange state with the sender rather than
    /// wait for a rumor that may have run out or the next periodic exchange. At
    /// most once per probe interval, so forged datagrams cannot make it chatty.
    fn discover<R: Rng>(&mut self, env: &mut Env<'_, R>, from: &A, first: Option<MessageKind>) {
        if !self.config.discovery || env.now < self.next_discovery || self.table.knows_addr(from) {
            return;
        }
        let exchange_traffic = matches!(
            first,
            Some(
                MessageKind::PushPull
                    | MessageKind::State
                    | MessageKind::StateResend
                    | MessageKind::Cookie
            )
        );
        if exchange_traffic {
            return;
        }
        self.next_discovery = env.now + self.config.probe_interval;
        env.stats.exchange.discovery_push_pulls += 1;
        self.open_exchange(env, from.clone());
    }

    fn handle_ping<R>(&mut self, env: &mut Env<'_, R>, from: &A, seq: u32, target: &str) {
        if target == self.local().name.as_str() {
            self.send(
                env,
                Outgoing::Ack {
                    to: from.clone(),
                    seq,
                },
            );
        } else {
            // Someone else used to live at this address; staying silent lets the
            // prober suspect the member it meant.
            env.stats.detection.misdirected_pings += 1;
        }
    }

    fn handle_indirect_ping<R>(
        &mut self,
        env: &mut Env<'_, R>,
        from: &A,
        requester_seq: u32,
        target: &str,
        target_addr: A,
        nack: bool,
    ) {
        if target == self.local().name.as_str() {
            self.send(
                env,
                Outgoing::Ack {
                    to: from.clone(),
                    seq: requester_seq,
                },
            );
            return;
        }
        let Ok(target) = NodeName::new(target) else {
            return; // names were checked when decoding
        };
        let seq = self.next_seq();
        let relay = Relay {
            seq,
            requester: from.clone(),
            requester_seq,
            nack_at: nack.then(|| env.now + nack_delay(&self.config)),
            expires: env.now + self.config.probe_timeout,
        };
        if self.relays.insert(env.now, relay) {
            env.stats.detection.relayed_probes_dropped += 1;
        }
        self.arm_nack_timer();
        env.stats.detection.relayed_probes += 1;
        self.send(
            env,
            Outgoing::Ping {
                to: target_addr,
                seq,
                target,
            },
        );
    }

    /// Returns the round trip of this node's probe if `from` is its target
    /// answering the first ping in time: a sample for the coordinates.
    fn handle_ack<R>(&mut self, env: &mut Env<'_, R>, from: &A, seq: u32) -> Option<Duration> {
        if let Some(round) = self.probe.as_mut().filter(|round| round.seq == seq) {
            let first = !round.acked && !round.timed_out && round.addr == *from;
            round.acked = true;
            self.timers.clear(Timer::ProbeTimeout);
            return first.then(|| env.now - round.sent_at);
        } else if let Some(relay) = self.relays.take(env.now, seq) {
            self.arm_nack_timer();
            self.send(
                env,
                Outgoing::Ack {
                    to: relay.requester,
                    seq: relay.requester_seq,
                },
            );
        } else {
            env.stats.detection.unmatched_acks += 1;
        }
        None
    }

    /// A member's coordinate, with the round trip of this node's probe if
    /// the datagram was its direct ack. Coordinates are kept for members only
    /// (never under this node's own name), so that strangers cannot fill the
    /// memory.
    fn heard_coordinate<R>(
        &mut self,
        env: &mut Env<'_, R>,
        from: &A,
        wire: &crate::wire::CoordinateRecord,
        rtt: Option<Duration>,
    ) {
        let Some(vivaldi) = self.vivaldi.as_mut() else {
            return;
        };
        let member = self
            .table
            .at_addr(from)
            .filter(|m| m.name != self.table.local().name);
        let (Some(member), Some(coordinate)) = (member, Coordinate::from_wire(wire)) else {
            env.stats.coordinates.coordinates_refused += 1;
            return;
        };
        vivaldi.heard(&member.name, coordinate);
        if let Some(rtt) = rtt {
            match vivaldi.observe(member.name.as_str(), rtt) {
                VivaldiSample::Applied => env.stats.coordinates.rtt_samples += 1,
                VivaldiSample::Discarded => env.stats.coordinates.rtt_samples_discarded += 1,
            }
        }
    }

    fn handle_nack<R>(&mut self, env: &mut Env<'_, R>, seq: u32) {
        match self.probe.as_mut().filter(|round| round.seq == seq) {
            Some(round) if round.nacks_received < round.nacks_expected => {
                round.nacks_received += 1;
                env.stats.detection.nacks_received += 1;
            }
            _ => env.stats.detection.unmatched_acks += 1,
        }
    }

    /// Relayed probes whose target stayed silent: tell their requesters.
    fn send_due_nacks<R>(&mut self, env: &mut Env<'_, R>) {
        while let Some((to, seq)) = self.relays.pop_due_nack(env.now) {
            env.stats.detection.nacks_sent += 1;
            self.send(env, Outgoing::Nack { to, seq });
        }
        self.arm_nack_timer();
    }

    fn arm_nack_timer(&mut self) {
        match self.relays.next_nack() {
            Some(at) => self.timers.set(Timer::Nack, at),
            None => self.timers.clear(Timer::Nack),
        }
    }

    fn handle_push_pull<R: Rng>(&mut self, env: &mut Env<'_, R>, from: &A, request: Request) {
        let Request {
            session,
            digest,
            join,
            cookie,
            padded,
        } = request;
        if !self.table.knows_addr(from) {
            // A stranger gets the table only from an address proven to
            // receive: otherwise one small cookie, to ask again with, and
            // only for a request that outweighs it.
            if !padded {
                env.stats.exchange.unpadded_requests += 1;
                return;
            }
            let addr_hash = self.table.addr_hash(from);
            if !self.cookies.check(addr_hash, env.now, cookie) {
                env.stats.exchange.cookies_sent += 1;
                let cookie = self.cookies.issue(addr_hash, env.now);
                self.send(
                    env,
                    Outgoing::Cookie {
                        to: from.clone(),
                        session,
                        cookie,
                    },
                );
                return;
            }
        }
        if join || digest != self.table.digest() {
            self.send_state(env, from.clone(), session, true, join);
        } else {
            env.stats.exchange.push_pulls_in_sync += 1;
        }
    }

    /// A peer asks this node to repeat its exchange request with a cookie:
    /// once per request this node opened, never for one it did not.
    fn handle_cookie<R>(&mut self, env: &mut Env<'_, R>, from: &A, session: u32, cookie: u64) {
        if !self.exchanges.retry_with_cookie(env.now, session) {
            env.stats.exchange.cookies_ignored += 1;
            return;
        }
        let join = match self.joining.as_mut() {
            Some(joining) if joining.session == session => {
                // The seed is up: if this exchange is lost now, that is loss,
                // not a seed that is down, and the next attempt comes after
                // the initial interval instead of a doubled one (a joiner at
                // 10% loss got its seed's cookie at 31 s, lost the rest of the
                // exchange and waited 30 s more for its seventh attempt).
                joining.unanswered = 0;
                let retry = env.now + self.config.join_retry_initial;
                if self
                    .timers
                    .get(Timer::JoinRetry)
                    .is_some_and(|at| at > retry)
                {
                    self.timers.set(Timer::JoinRetry, retry);
                }
                true
            }
            _ => false,
        };
        self.send(
            env,
            Outgoing::PushPull {
                to: from.clone(),
                session,
                join,
                cookie,
            },
        );
    }

    /// A chunk of remote state begins: note it, so gaps get repaired. While
    /// joining, any member's state (a seed's answer, or the answer to a discovery
    /// exchange) completes the join.
    fn state_begins<R>(
        &mut self,
        env: &mut Env<'_, R>,
        from: &A,
        session: u32,
        chunk: u16,
        chunks: u16,
    ) {
        let check_at = env.now + self.config.probe_timeout;
        self.receiving_transfers
            .note(session, from, chunk, chunks, check_at);
        self.arm_transfer_check();
        if self.joining.take().is_some() {
            self.timers.clear(Timer::JoinRetry);
            self.emit(env, Event::JoinCompleted { via: from.clone() });
        }
    }

    fn handle_state_resend<R>(
        &mut self,
        env: &mut Env<'_, R>,
        from: &A,
        session: u32,
        missing: &[u8],
    ) {
        let chunks: Vec<Vec<u8>> = self
            .sent_transfers
            .resend(env.now, session, from, missing)
            .cloned()
            .collect();
        for datagram in chunks {
            self.send(
                env,
                Outgoing::Encoded {
                    to: from.clone(),
                    datagram,
                },
            );
        }
    }

    /// Asks senders of incomplete transfers for what is missing.
    fn check_transfers<R>(&mut self, env: &mut Env<'_, R>) {
        let retry_at = env.now + self.config.probe_timeout;
        for request in self.receiving_transfers.due(env.now, retry_at) {
            self.send(
                env,
                Outgoing::StateResend {
                    to: request.to,
                    session: request.session,
                    missing: request.missing,
                },
            );
        }
        self.arm_transfer_check();
    }

    fn arm_transfer_check(&mut self) {
        match self.receiving_transfers.next_check() {
            Some(at) => self.timers.set(Timer::TransferCheck, at),
            None => self.timers.clear(Timer::TransferCheck),
        }
    }

    // ---- timers ----------------------------------------------------------------

    /// Runs the timers that are due. `broadcasts_waiting` says whether user
    /// broadcasts wait to be pushed, which a gossip round sends along.
    pub(crate) fn handle_timeout<R: Rng>(
        &mut self,
        env: &mut Env<'_, R>,
        broadcasts_waiting: bool,
    ) {
        if self.left {
            if self.departing && self.timers.pop_due(env.now) == Some(Timer::Gossip) {
                self.send_departure(env, self.config.gossip_fanout.max(1));
            }
            return;
        }
        while let Some(timer) = self.timers.pop_due(env.now) {
            match timer {
                Timer::Probe => self.probe_period(env),
                Timer::ProbeTimeout => self.probe_timed_out(env),
                Timer::Gossip => self.gossip_round(env, broadcasts_waiting),
                Timer::PushPull => self.push_pull_round(env),
                Timer::JoinRetry => self.join_attempt(env),
                Timer::Reap => self.reap(env),
                Timer::TransferCheck => self.check_transfers(env),
                Timer::Nack => self.send_due_nacks(env),
            }
        }
        while let Some((name, suspicion)) = self.suspicions.pop_expired(env.now) {
            self.suspicion_expired(env, &name, suspicion);
        }
    }

    /// A SWIM protocol period: conclude the previous probe, start the next.
    /// Lifeguard stretches the period and the probe timeout by the local health
    /// score, so a node that is itself struggling blames others less.
    fn probe_period<R: Rng>(&mut self, env: &mut Env<'_, R>) {
        self.timers.clear(Timer::ProbeTimeout);
        if let Some(round) = self.probe.take() {
            self.conclude_probe(env, &round);
        }
        if self.awareness.score() > 0 {
            env.stats.detection.probes_degraded += 1;
        }
        let interval = self.awareness.scale(self.config.probe_interval);
        self.timers.set(Timer::Probe, env.now + interval);
        let Some(index) = self.probe_order.next(env.rng, &self.table) else {
            return;
        };
        let seq = self.next_seq();
        let target = &self.table.get(index);
        let round = ProbeRound {
            seq,
            target: target.name.clone(),
            addr: target.addr.clone(),
            generation: target.generation,
            incarnation: target.incarnation,
            acked: false,
            sent_at: env.now,
            timed_out: false,
            nacks_expected: 0,
            nacks_received: 0,
        };
        env.stats.detection.probes += 1;
        self.send(
            env,
            Outgoing::Ping {
                to: round.addr.clone(),
                seq: round.seq,
                target: round.target.clone(),
            },
        );
        self.probe = Some(round);
        let timeout = self.awareness.scale(self.config.probe_timeout);
        self.timers.set(Timer::ProbeTimeout, env.now + timeout);
    }

    /// The end of a probe: the local health score learns from it (Lifeguard),
    /// and a target that never answered is suspected.
    fn conclude_probe<R: Rng>(&mut self, env: &mut Env<'_, R>, round: &ProbeRound<A>) {
        if round.acked {
            self.awareness.record(Health::ProbeSucceeded);
            return;
        }
        env.stats.detection.probes_failed += 1;
        self.awareness.record(Health::ProbeFailed);
        for _ in round.nacks_received..round.nacks_expected {
            env.stats.detection.nacks_missed += 1;
            self.awareness.record(Health::NackMissed);
        }
        self.suspect_unanswered(env, round);
    }

    /// No direct ack within the probe timeout: ask `indirect_checks` members to
    /// probe the target (SWIM's ping-req), and ping it once more ourselves, so that
    /// one lost datagram does not raise a suspicion.
    fn probe_timed_out<R: Rng>(&mut self, env: &mut Env<'_, R>) {
        let Some(round) = self.probe.as_mut().filter(|round| !round.acked) else {
            return;
        };
        round.timed_out = true;
        if !self.table.heard_addr(&round.addr) {
            // Never heard from: no second ping, and no helpers sent to it, so
            // a forged announcement draws one bare ping per probe round.
            return;
        }
        let helpers = self
            .table
            .sample(env.rng, self.config.indirect_checks, |m| {
                m.state == MemberState::Alive && m.name != round.target
            });
        let nack = self.config.nacks;
        if nack {
            // Each helper owes a nack should the target stay silent (Lifeguard).
            round.nacks_expected = helpers.len() as u32;
        }
        let round = round.clone();
        for helper in helpers {
            env.stats.detection.indirect_probes += 1;
            let to = self.table.get(helper).addr.clone();
            self.send(
                env,
                Outgoing::IndirectPing {
                    to,
                    seq: round.seq,
                    target: round.target.clone(),
                    target_addr: round.addr.clone(),
                    nack,
                },
            );
        }
        self.send(
            env,
            Outgoing::Ping {
                to: round.addr,
                seq: round.seq,
                target: round.target,
            },
        );
    }

    fn suspect_unanswered<R: Rng>(&mut self, env: &mut Env<'_, R>, round: &ProbeRound<A>) {
        let Some(index) = self.table.find(&round.target) else {
            return;
        };
        let member = self.table.get(index);
        let unchanged =
            member.generation == round.generation && member.incarnation == round.incarnation;
        match member.state {
            MemberState::Alive if unchanged => {
                let (generation, incarnation) = (round.generation, round.incarnation);
                self.suspect(env, index, generation, incarnation, None, Source::Local);
            }
            // Our own failed probe independently confirms someone else's suspicion.
            MemberState::Suspect if unchanged => {
                self.confirm_suspicion(env, index, None, Source::Local);
            }
            _ => {}
        }
    }

    /// Gossip pending rumors (member updates, and broadcasts if
    /// `broadcasts_waiting`) to `gossip_fanout` random members, including members
    /// failed within `gossip_to_the_dead` so that a wrongly failed one can refute.
    fn gossip_round<R: Rng>(&mut self, env: &mut Env<'_, R>, broadcasts_waiting: bool) {
        self.timers
            .set(Timer::Gossip, env.now + self.config.gossip_interval);
        if self.rumors.is_empty() && !broadcasts_waiting {
            return;
        }
        let (now, to_the_dead) = (env.now, self.config.gossip_to_the_dead);
        // A member only heard of gets gossip while alive: a joiner needs the
        // news before it has spoken to everyone. Once suspected (a forged
        // announcement is, at its first unanswered probe) it gets nothing
        // but bare pings.
        let targets = self.partners(env.rng, self.config.gossip_fanout, |m, heard| {
            m.state == MemberState::Alive
                || heard
                    && (m.state == MemberState::Suspect
                        || (m.state == MemberState::Failed && now - m.state_changed < to_the_dead))
        });
        for target in targets {
            let to = self.table.get(target).addr.clone();
            self.send(env, Outgoing::Gossip { to });
        }
    }

    /// Open a state exchange with a random member. Failed members are candidates
    /// while their tombstones last: that is how the two sides of a healed
    /// partition find each other again. Members only heard of (a restarted
    /// node's tombstones, learned from another's table) are candidates one
    /// round in [`ANY_PARTNER`] (drawn among themselves), or when no member
    /// heard from is: enough to heal, and one small request now and then to
    /// an address a forged announcement named.
    fn push_pull_round<R: Rng>(&mut self, env: &mut Env<'_, R>) {
        self.timers
            .set(Timer::PushPull, env.now + self.config.push_pull_interval);
        let candidate = |m: &Member<A>| m.state != MemberState::Left;
        // The round for members only heard of draws among them alone: drawn
        // among all, one such member of a large table would wait for its
        // turn many times longer than the others.
        let mut partner = if random::below(env.rng, ANY_PARTNER) == 0 {
            self.table
                .sample_where(env.rng, 1, |m, heard| !heard && candidate(m))
        } else {
            Sample::new()
        };
        if partner.is_empty() {
            partner = self.table.sample(env.rng, 1, candidate);
        }
        if partner.is_empty() {
            partner = self.table.sample_any(env.rng, 1, candidate);
        }
        let Some(&partner) = partner.first() else {
            return;
        };
        let to = self.table.get(partner).addr.clone();
        self.open_exchange(env, to);
    }

    /// Sends our digest to `to`; if its table differs, it answers with its state
    /// and we answer with ours.
    fn open_exchange<R: Rng>(&mut self, env: &mut Env<'_, R>, to: A) {
        let session = env.rng.next_u32();
        self.exchanges
            .open(env.now, session, env.now + self.config.push_pull_interval);
        env.stats.exchange.push_pulls += 1;
        self.send(
            env,
            Outgoing::PushPull {
                to,
                session,
                join: false,
                cookie: 0,
            },
        );
    }

    fn reap<R: Rng>(&mut self, env: &mut Env<'_, R>) {
        self.timers
            .set(Timer::Reap, env.now + reap_period(&self.config));
        // Oldest first, O(log n) each: no scan of the table.
        while let Some((since, index)) = self.table.oldest_tombstone() {
            if env.now - since < self.config.tombstone_timeout {
                break;
            }
            let removed = self.table.remove(index);
            self.forget(env, &removed);
        }
    }

    /// Drops everything kept about a member removed from the table, and follows
    /// the member that moved into its slot.
    fn forget<R>(&mut self, env: &mut Env<'_, R>, removed: &Removed<A>) {
        self.probe_order.remove(removed.index);
        if let Some(from) = removed.moved_from {
            self.probe_order.renumber(from, removed.index);
        }
        self.rumors.remove(&removed.member.name);
        self.suspicions.clear(&removed.member.name);
        if let Some(vivaldi) = self.vivaldi.as_mut() {
            vivaldi.forget(removed.member.name.as_str());
        }
        self.table_full = false;
        env.stats.members.tombstones_reaped += 1;
    }

    /// A suspicion ran out without a refutation: the member failed.
    fn suspicion_expired<R: Rng>(
        &mut self,
        env: &mut Env<'_, R>,
        name: &str,
        suspicion: Suspicion,
    ) {
        let Some(index) = self.table.find(name) else {
            return;
        };
        let member = self.table.get(index);
        let current = member.state == MemberState::Suspect
            && member.generation == suspicion.generation
            && member.incarnation == suspicion.incarnation;
        if current {
            env.stats.members.failures_declared += 1;
            let (generation, incarnation) = (suspicion.generation, suspicion.incarnation);
            self.bury(
                env,
                index,
                generation,
                incarnation,
                MemberState::Failed,
                Source::Local,
            );
        }
    }

    // ---- commands --------------------------------------------------------------

    pub(crate) fn join<R: Rng>(
        &mut self,
        env: &mut Env<'_, R>,
        seeds: &[A],
    ) -> Result<(), JoinError> {
        if self.left {
            return Err(JoinError::Left);
        }
        if seeds.is_empty() {
            return Err(JoinError::NoSeeds);
        }
        let own = &self.local().addr;
        let seeds: Vec<A> = seeds.iter().filter(|s| *s != own).cloned().collect();
        if seeds.is_empty() {
            // Only our own address: we are the seed the others join.
            return Ok(());
        }
        let session = env.rng.next_u32();
        self.joining = Some(Joining {
            seeds,
            attempts: 0,
            unanswered: 0,
            session,
        });
        self.gossip_member(LOCAL, None);
        self.join_attempt(env);
        Ok(())
    }

    /// Contacts every seed with a join request carrying our alive announcement,
    /// then waits with exponential backoff while no seed answers.
    fn join_attempt<R: Rng>(&mut self, env: &mut Env<'_, R>) {
        let Some(joining) = self.joining.as_mut() else {
            return;
        };
        if self
            .config
            .join_max_attempts
            .is_some_and(|max| joining.attempts >= max)
        {
            let attempts = joining.attempts;
            self.joining = None;
            self.emit(env, Event::JoinFailed { attempts });
            return;
        }
        let backoff = self
            .config
            .join_retry_initial
            .saturating_mul(1 << joining.unanswered.min(16))
            .min(self.config.join_retry_max);
        joining.attempts += 1;
        joining.unanswered += 1;
        let (session, seeds) = (joining.session, joining.seeds.clone());
        self.timers.set(Timer::JoinRetry, env.now + backoff);
        self.exchanges.open(env.now, session, env.now + backoff);
        for seed in seeds {
            self.send(
                env,
                Outgoing::PushPull {
                    to: seed,
                    session,
                    join: true,
                    cookie: 0,
                },
            );
        }
    }

    /// Announces the departure to as many live members as a rumor's retransmit
    /// limit at once; where there are fewer, to `gossip_fanout` of them every
    /// `gossip_interval` until it has been sent that many times (then
    /// [`Event::LeaveCompleted`]). Meanwhile nothing else runs, and incoming
    /// datagrams are ignored.
    pub(crate) fn leave<R: Rng>(&mut self, env: &mut Env<'_, R>) -> Result<(), LeaveError> {
        if self.left {
            return Err(LeaveError::AlreadyLeft);
        }
        self.table.update(LOCAL, |m| {
            m.state = MemberState::Left;
            m.state_changed = env.now;
        });
        // Only the departure matters now; it must not queue behind older news.
        self.rumors.clear();
        self.gossip_member(LOCAL, None);
        self.left = true;
        self.departing = true;
        self.timers.clear_all();
        self.probe = None;
        self.joining = None;
        let limit = retransmit_limit(self.config.retransmit_mult, self.table.live());
        self.send_departure(env, limit as usize);
        Ok(())
    }

    /// Sends the departure to up to `count` live members and waits a gossip
    /// interval for the next round; with nobody left to tell, the leave is
    /// complete.
    fn send_departure<R: Rng>(&mut self, env: &mut Env<'_, R>, count: usize) {
        let targets = self.table.sample(env.rng, count, |m| m.state.is_live());
        if targets.is_empty() {
            self.departing = false;
            self.emit(env, Event::LeaveCompleted);
            return;
        }
        for target in targets {
            let to = self.table.get(target).addr.clone();
            self.send(env, Outgoing::Gossip { to });
        }
        self.timers
            .set(Timer::Gossip, env.now + self.config.gossip_interval);
    }

    /// Replaces this node's metadata and announces it with a higher incarnation.
    pub(crate) fn set_metadata<R>(
        &mut self,
        env: &mut Env<'_, R>,
        metadata: &[u8],
    ) -> Result<(), MetadataError> {
        if self.left {
            return Err(MetadataError::Left);
        }
        if metadata.len() > self.config.max_metadata_size {
            return Err(MetadataError::TooLarge {
                len: metadata.len(),
                max: self.config.max_metadata_size,
            });
        }
        self.table.update(LOCAL, |m| {
            m.metadata = Metadata::from(metadata);
            m.incarnation = m.incarnation.saturating_add(1);
            m.state_changed = env.now;
        });
        self.gossip_member(LOCAL, None);
        Ok(())
    }

    // ---- plumbing --------------------------------------------------------------

    fn next_seq(&mut self) -> u32 {
        self.next_seq = self.next_seq.wrapping_add(1);
        self.next_seq
    }

    /// Queues a datagram within the node's budget of undrained ones.
    fn send<R>(&mut self, env: &mut Env<'_, R>, outgoing: Outgoing<A>) {
        env.queue_transmit(&mut self.outbox, outgoing);
    }

    /// Queues an event, dropping (and counting) the oldest if `max_pending_events`
    /// are waiting to be drained.
    fn emit<R>(&mut self, env: &mut Env<'_, R>, event: Event<A>) {
        push_or_count(&mut self.events, event, &self.config, env.stats);
    }

    /// Queues this node's view of member `index` as a rumor. `suspected_by` names
    /// the suspecter when the member is suspect.
    fn gossip_member(&mut self, index: usize, suspected_by: Option<&str>) {
        let member = &self.table.get(index);
        let by = suspected_by
            .or_else(|| self.suspicions.first_suspecter(&member.name))
            .unwrap_or(self.table.local().name.as_str());
        let message = Message::Update(update_of(member, by));
        self.rumors
            .push(member.name.clone(), Encoded::new(&message));
    }

    /// Sends the whole member table. To a joiner, only the entries this node is
    /// still gossiping are marked fresh, and its own (in a forming cluster, the
    /// answering seed is news to the joiner's peers too); in a periodic exchange
    /// every difference is news to pass on, as memberlist does.
    fn send_state<R: Rng>(
        &mut self,
        env: &mut Env<'_, R>,
        to: A,
        session: u32,
        reply: bool,
        to_joiner: bool,
    ) {
        env.stats.exchange.states_sent += 1;
        let rumors = &self.rumors;
        let suspicions = &self.suspicions;
        let local = &self.table.local().name;
        let chunks = encode_state(
            &self.table,
            StateHeader {
                cluster_id: self.config.cluster_id,
                max_packet_size: self.config.payload_size(),
                session,
                reply,
                start: random::below(env.rng, self.table.len()),
            },
            |member| !to_joiner || rumors.contains(&member.name) || member.name == *local,
            |name| suspicions.first_suspecter(name),
            &mut env.stats.datagrams.messages_out,
        );
        if chunks.len() > 1 {
            // Long enough for the receiver's resend rounds, one probe timeout apart.
            let expires = env.now + self.config.probe_interval * 4;
            self.sent_transfers
                .keep(env.now, session, to.clone(), chunks.clone(), expires);
        }
        for datagram in chunks {
            self.send(
                env,
                Outgoing::Encoded {
                    to: to.clone(),
                    datagram,
                },
            );
        }
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
