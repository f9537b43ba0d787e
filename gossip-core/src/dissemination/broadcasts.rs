//! User broadcasts: a payload sent once by one member and delivered once to
//! every member, by rumor mongering (push), anti-entropy (pull) or both.
//!
//! A child state machine of [`Node`](crate::Node), like the membership: inputs
//! through `handle_*`, outputs through `poll_*`. It keeps each broadcast it hears
//! for `broadcast_retention` (to push it and to answer pulls) and its id for twice
//! that (to deliver it once), within the bounds of `max_broadcasts`.

use alloc::collections::{BTreeSet, VecDeque};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use foldhash::fast::FixedState;
use hashbrown::HashMap;
use rand_core::{CryptoRng, Rng};
use serde::Serialize;

use super::digest;
use super::{PullSchedule, Termination};
use crate::config::Config;
use crate::context::{Env, Peers};
use crate::identity::{Address, NodeName};
use crate::queue::{pop_and_trim, push_dropping_oldest};
use crate::random;
use crate::rumor_queue::{RumorQueue, retransmit_limit};
use crate::stats::{Footprint, Stats};
use crate::time::Instant;
use crate::wire::{
    BufferFull, MAX_MESSAGES_PER_PACKET, MAX_PULL_FILTER_LEN, Message, MessageKind, PacketWriter,
};

/// Identifies a broadcast cluster-wide: 64 random bits drawn by its origin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BroadcastId(pub u64);

impl fmt::Display for BroadcastId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// A broadcast as delivered in [`Event::Broadcast`](crate::Event::Broadcast).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Broadcast {
    /// Its id, the same on every member.
    pub id: BroadcastId,
    /// The member that sent it.
    pub origin: NodeName,
    /// The application's bytes.
    pub payload: Vec<u8>,
}

/// How many ids are remembered per broadcast held.
const IDS_PER_BROADCAST: usize = 8;

/// What is kept about a broadcast heard.
struct Entry {
    origin: NodeName,
    /// When its origin sent it, as far as this node can tell.
    born: Instant,
    /// When this node first had it.
    heard: Instant,
    /// `None` once the retention ended or the broadcast was evicted: the id is
    /// still remembered, so that a late copy is not delivered again.
    payload: Option<Vec<u8>>,
    /// Pushes of it that found the receiver knowing it already.
    unnecessary: u32,
}

/// Datagrams the broadcasts want sent, encoded when polled.
#[derive(Clone, Debug)]
pub(crate) enum BroadcastTransmit<A> {
    /// A digest of the broadcasts heard, salted with `salt`.
    Pull { to: A, salt: u32 },
    /// The broadcasts a puller lacks, oldest first.
    Answer { to: A, ids: Vec<u64> },
    /// Feedback to a pusher: which of its broadcasts were known already.
    Feedback {
        to: A,
        known: Vec<u64>,
        new: Vec<u64>,
    },
}

impl<A> BroadcastTransmit<A> {
    pub(crate) fn to(&self) -> &A {
        match self {
            BroadcastTransmit::Pull { to, .. }
            | BroadcastTransmit::Answer { to, .. }
            | BroadcastTransmit::Feedback { to, .. } => to,
        }
    }

    /// True if the datagram takes piggybacked rumors: a pull does (in push-pull
    /// mode it is one contact that goes both ways), answers and feedback do not,
    /// so that a contact carries what the protocol says and nothing more.
    pub(crate) fn takes_rumors(&self) -> bool {
        matches!(self, BroadcastTransmit::Pull { .. })
    }
}

/// The broadcasts whose payloads are held, by the end of their retention,
/// with the digest of their ids that probes carry.
#[derive(Default)]
struct Held {
    by_expiry: BTreeSet<(Instant, u64)>,
    /// XOR of `digest::id_hash` over the ids held; 0 when none are.
    digest: u64,
}

impl Held {
    fn insert(&mut self, expires: Instant, id: u64) {
        if self.by_expiry.insert((expires, id)) {
            self.digest ^= digest::id_hash(id);
        }
    }

    fn remove(&mut self, expires: Instant, id: u64) {
        if self.by_expiry.remove(&(expires, id)) {
            self.digest ^= digest::id_hash(id);
        }
    }

    fn first(&self) -> Option<(Instant, u64)> {
        self.by_expiry.first().copied()
    }

    fn len(&self) -> usize {
        self.by_expiry.len()
    }

    fn ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.by_expiry.iter().map(|&(_, id)| id)
    }
}

pub(crate) struct Broadcasts<A> {
    config: Arc<Config>,
    entries: HashMap<u64, Entry, FixedState>,
    /// Entries that hold a payload.
    held: Held,
    /// Every entry by when its id is forgotten.
    by_forget: BTreeSet<(Instant, u64)>,
    /// No expiry is due before this (a lower bound), so that the check on
    /// every input costs one comparison.
    next_expiry: Instant,
    /// Broadcasts this node still pushes.
    hot: RumorQueue<u64, ()>,
    /// When the next pull goes: every `pull_interval` on the periodic
    /// schedule; while active, only while broadcasts are held or a pull is
    /// wanted.
    next_pull: Option<Instant>,
    /// While active and holding nothing: the member whose digest was heard,
    /// to pull from.
    pull_wanted: Option<A>,
    /// While active: no pull goes before this.
    pull_allowed_at: Instant,
    stopped: bool,
    outbox: VecDeque<BroadcastTransmit<A>>,
    events: VecDeque<Broadcast>,
}

impl<A: Address> Broadcasts<A> {
    /// Takes the node's configuration after a change of its keys.
    pub(crate) fn set_config(&mut self, config: Arc<Config>) {
        self.config = config;
    }

    /// Hash keys come from `secrets`, choices from `rng`.
    pub(crate) fn new<R: Rng, S: CryptoRng + ?Sized>(
        config: &Arc<Config>,
        now: Instant,
        rng: &mut R,
        secrets: &mut S,
    ) -> Self {
        // A random phase, so that members started together do not pull in lockstep.
        let periodic = config.pull_schedule == PullSchedule::Periodic;
        let next_pull = (config.dissemination.pulls() && periodic)
            .then(|| now + random::duration_below(rng, config.pull_interval));
        Broadcasts {
            config: Arc::clone(config),
            entries: HashMap::with_hasher(FixedState::with_seed(secrets.next_u64())),
            held: Held::default(),
            by_forget: BTreeSet::new(),
            next_expiry: Instant::MAX,
            hot: RumorQueue::new(secrets.next_u64()),
            next_pull,
            pull_wanted: None,
            pull_allowed_at: now,
            stopped: false,
            outbox: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    // ---- getters -------------------------------------------------------------

    pub(crate) fn outbox_len(&self) -> usize {
        self.outbox.len()
    }

    /// True if broadcasts wait to be pushed (in a mode that pushes).
    pub(crate) fn has_pushes(&self) -> bool {
        !self.hot.is_empty() && self.config.dissemination.pushes()
    }

    pub(crate) fn add_footprint(&self, footprint: &mut Footprint) {
        footprint.broadcasts = self.held.len();
        footprint.broadcasts_pushing = self.hot.len();
        footprint.broadcast_ids = self.entries.len();
        footprint.pending_transmits += self.outbox.len();
        footprint.pending_events += self.events.len();
    }

    fn max_ids(&self) -> usize {
        self.config.max_broadcasts * IDS_PER_BROADCAST
    }

    // ---- outputs -------------------------------------------------------------

    pub(crate) fn poll_outgoing(&mut self) -> Option<BroadcastTransmit<A>> {
        pop_and_trim(&mut self.outbox)
    }

    pub(crate) fn poll_event(&mut self) -> Option<Broadcast> {
        pop_and_trim(&mut self.events)
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.next_pull.filter(|_| !self.stopped)
    }

    /// Writes the datagram for `outgoing`; true if anything was written.
    pub(crate) fn write(
        &self,
        outgoing: &BroadcastTransmit<A>,
        writer: &mut PacketWriter<'_>,
        now: Instant,
        stats: &mut Stats,
    ) -> bool {
        match outgoing {
            BroadcastTransmit::Pull { salt, .. } => {
                let retention = self.config.broadcast_retention;
                let heard: Vec<u64> = self
                    .entries
                    .iter()
                    .filter(|(_, entry)| now.saturating_duration_since(entry.born) < retention)
                    .map(|(&id, _)| id)
                    .collect();
                let room = writer.remaining().saturating_sub(16);
                let filter = digest::build(*salt, &heard, room.min(MAX_PULL_FILTER_LEN));
                let message: Message<'_, A> = Message::Pull {
                    salt: *salt,
                    filter: &filter,
                };
                writer.push_counted(&message, stats).is_ok()
            }
            BroadcastTransmit::Answer { ids, .. } => {
                let mut written = 0;
                for id in ids {
                    if writer.is_full() {
                        break;
                    }
                    if self.write_broadcast(*id, false, writer, now, stats).is_ok() {
                        written += 1;
                    }
                }
                written > 0
            }
            BroadcastTransmit::Feedback { known, new, .. } => {
                // A datagram of broadcasts usually takes more room than their
                // ids; should it not, the ids that do not fit go unanswered.
                let mut room = writer.remaining().saturating_sub(8) / 8;
                let mut bytes = |ids: &[u64]| -> Vec<u8> {
                    let take = ids.len().min(room);
                    room -= take;
                    ids[..take].iter().flat_map(|id| id.to_le_bytes()).collect()
                };
                let (known, new) = (bytes(known), bytes(new));
                let message: Message<'_, A> = Message::Feedback {
                    known: &known,
                    new: &new,
                };
                writer.push_counted(&message, stats).is_ok()
            }
        }
    }

    /// Piggybacks as many broadcasts waiting to be pushed as fit, fewest pushed
    /// first (so concurrent broadcasts share the room); returns how many.
    /// `members` is the live members, for the retransmit limit.
    pub(crate) fn write_pushes<R: Rng>(
        &mut self,
        writer: &mut PacketWriter<'_>,
        now: Instant,
        members: usize,
        rng: &mut R,
        stats: &mut Stats,
    ) -> usize {
        if !self.has_pushes() {
            return 0;
        }
        let termination = self.config.termination;
        let limit = match termination {
            Termination::RetransmitLimit => retransmit_limit(self.config.retransmit_mult, members),
            Termination::FeedbackCounter { .. } | Termination::BlindCoin { .. } => u32::MAX,
        };
        let feedback = matches!(termination, Termination::FeedbackCounter { .. });
        let (entries, retention) = (&self.entries, self.config.broadcast_retention);
        self.hot.fill(
            writer,
            limit,
            |&id, (), writer| {
                let entry = entries.get(&id).ok_or(BufferFull)?;
                write_entry::<A>(id, entry, feedback, writer, now, retention, stats)
            },
            |_| match termination {
                Termination::BlindCoin { k } => random::below(rng, k as usize) != 0,
                _ => true,
            },
        )
    }

    fn write_broadcast(
        &self,
        id: u64,
        feedback: bool,
        writer: &mut PacketWriter<'_>,
        now: Instant,
        stats: &mut Stats,
    ) -> Result<(), BufferFull> {
        let entry = self.entries.get(&id).ok_or(BufferFull)?;
        let retention = self.config.broadcast_retention;
        write_entry::<A>(id, entry, feedback, writer, now, retention, stats)
    }

    // ---- inputs --------------------------------------------------------------

    /// Applies the dissemination messages of a datagram whose every message has
    /// been decoded once without error. `from_member` says whether `from` is in
    /// the member table: only members' pulls are answered.
    pub(crate) fn handle_messages<'m, 'd: 'm, R>(
        &mut self,
        env: &mut Env<'_, R>,
        from: &A,
        messages: impl Iterator<Item = &'m Message<'d, A>>,
        from_member: bool,
    ) where
        A: 'm,
    {
        if self.stopped {
            return;
        }
        let (mut known, mut new): (Vec<u64>, Vec<u64>) = (Vec::new(), Vec::new());
        for message in messages {
            match *message {
                Message::Broadcast {
                    id,
                    origin,
                    age_ms,
                    feedback,
                    payload,
                } => {
                    let age = Duration::from_millis(age_ms.into());
                    let knew = self.receive(env, id, origin, age, payload);
                    if feedback {
                        if knew { &mut known } else { &mut new }.push(id);
                    }
                }
                Message::Pull { salt, filter } => {
                    self.answer_pull(env, from, salt, filter, from_member);
                }
                Message::Feedback { known, new } => self.feedback(known, new),
                Message::BroadcastDigest { .. } if from_member => self.heard_digest(env.now, from),
                _ => {}
            }
        }
        if !known.is_empty() || !new.is_empty() {
            let to = from.clone();
            self.send(env, BroadcastTransmit::Feedback { to, known, new });
        }
    }

    /// A broadcast heard; true if this node knew it already, for feedback: had
    /// it for half a gossip interval or more. A copy that follows the first
    /// more closely raced it (both senders pushed before either could know)
    /// and is not the sender's waste, as in the synchronous cycles of Demers
    /// et al., where a site counts as knowing what it knew when the cycle began.
    fn receive<R>(
        &mut self,
        env: &mut Env<'_, R>,
        id: u64,
        origin: &str,
        age: Duration,
        payload: &[u8],
    ) -> bool {
        if let Some(entry) = self.entries.get(&id) {
            env.stats.broadcasts.broadcasts_duplicate += 1;
            return env.now.saturating_duration_since(entry.heard)
                >= self.config.gossip_interval / 2;
        }
        if age >= self.config.broadcast_retention {
            env.stats.broadcasts.broadcasts_stale += 1;
            return false;
        }
        let Ok(origin) = NodeName::new(origin) else {
            return false; // names were checked when decoding
        };
        env.stats.broadcasts.broadcasts_received += 1;
        let born = Instant::from_nanos(
            env.now
                .as_nanos()
                .saturating_sub(u64::try_from(age.as_nanos()).unwrap_or(u64::MAX)),
        );
        self.insert(env, id, origin, born, payload);
        false
    }

    /// Feedback from a member this node pushed to (feedback and counter): a
    /// broadcast it knew already is an unnecessary contact, and `k` of them in
    /// a row make this node lose interest; one that was news to it starts the
    /// count again, as in Demers et al.'s simulations (whose traffic exceeds
    /// the `(k + 1)·m` a counter that never restarts would give).
    fn feedback(&mut self, known: &[u8], new: &[u8]) {
        let Termination::FeedbackCounter { k } = self.config.termination else {
            return;
        };
        for (ids, unnecessary) in [(known, true), (new, false)] {
            for chunk in ids.chunks_exact(8) {
                let id = u64::from_le_bytes(chunk.try_into().expect("chunks of eight"));
                let Some(entry) = self.entries.get_mut(&id).filter(|_| self.hot.contains(&id))
                else {
                    continue;
                };
                if !unnecessary {
                    entry.unnecessary = 0;
                    continue;
                }
                entry.unnecessary += 1;
                if entry.unnecessary >= k {
                    self.hot.remove(&id);
                }
            }
        }
    }

    /// A member's digest: queue what it lacks, oldest first (the closest to
    /// the end of its retention).
    fn answer_pull<R>(
        &mut self,
        env: &mut Env<'_, R>,
        from: &A,
        salt: u32,
        filter: &[u8],
        from_member: bool,
    ) {
        if !from_member {
            // Answers are the largest thing a pull can cause: members only.
            env.stats.broadcasts.pulls_refused += 1;
            return;
        }
        let missing: Vec<u64> = self
            .held
            .ids()
            .filter(|&id| !digest::contains(filter, salt, id))
            .take(MAX_MESSAGES_PER_PACKET)
            .collect();
        if missing.is_empty() {
            return;
        }
        env.stats.broadcasts.pulls_answered += 1;
        self.send(
            env,
            BroadcastTransmit::Answer {
                to: from.clone(),
                ids: missing,
            },
        );
    }

    /// Drops payloads whose retention ended and ids remembered long enough.
    pub(crate) fn expire(&mut self, now: Instant) {
        if now < self.next_expiry {
            return;
        }
        while let Some((at, id)) = self.held.first() {
            if at > now {
                break;
            }
            self.held.remove(at, id);
            self.drop_payload(id);
        }
        while let Some(&(at, id)) = self.by_forget.first() {
            if at > now {
                break;
            }
            self.by_forget.pop_first();
            self.entries.remove(&id);
        }
        let held = self.held.first().map_or(Instant::MAX, |e| e.0);
        let forget = self.by_forget.first().map_or(Instant::MAX, |e| e.0);
        self.next_expiry = held.min(forget);
    }

    /// A pull, when due: to `pull_fanout` random live members on the
    /// periodic schedule, and while active if this node holds broadcasts;
    /// while active and holding none, to the member whose digest it heard,
    /// if it is still live.
    pub(crate) fn handle_timeout<R: Rng>(&mut self, env: &mut Env<'_, R>, peers: &impl Peers<A>) {
        if self.stopped || self.next_pull.is_none_or(|at| at > env.now) {
            return;
        }
        let pull = |this: &mut Self, env: &mut Env<'_, R>, to: A| {
            env.stats.broadcasts.pulls += 1;
            let salt = env.rng.next_u32();
            this.send(env, BroadcastTransmit::Pull { to, salt });
        };
        match self.config.pull_schedule {
            PullSchedule::Periodic => {
                self.next_pull = Some(env.now + self.config.pull_interval);
                for to in peers.sample_live(env.rng, self.config.pull_fanout) {
                    pull(self, env, to);
                }
            }
            PullSchedule::WhileActive => {
                self.pull_allowed_at = env.now + self.config.pull_interval;
                // Holding broadcasts, this node pulls from random members as
                // on the periodic schedule (what loss took is recovered as
                // fast); holding none, only from a member that showed it
                // holds some; idle, nothing goes.
                let holding = self.held.digest != 0;
                if let Some(to) = self.pull_wanted.take().filter(|to| peers.is_live(to)) {
                    pull(self, env, to);
                } else if holding {
                    for to in peers.sample_live(env.rng, self.config.pull_fanout) {
                        pull(self, env, to);
                    }
                }
                self.next_pull = holding.then_some(self.pull_allowed_at);
            }
        }
    }

    /// A member's digest of the broadcasts it holds (never 0), heard while
    /// this node holds none: that member is pulled from (once the last pull is
    /// `pull_interval` old; one member is wanted at a time). A node that
    /// holds broadcasts pulls from random members anyway: the members whose
    /// digests differ from its own are as often behind as ahead of it, so
    /// pulling from them is no faster.
    fn heard_digest(&mut self, now: Instant, from: &A) {
        if !self.pulls_while_active() || self.held.digest != 0 || self.pull_wanted.is_some() {
            return;
        }
        self.pull_wanted = Some(from.clone());
        self.next_pull = Some(self.pull_allowed_at.max(now));
    }

    fn pulls_while_active(&self) -> bool {
        self.config.dissemination.pulls() && self.config.pull_schedule == PullSchedule::WhileActive
    }

    /// Piggybacks the digest of the broadcasts held, while active and while
    /// any are held (holding none is said by sending none).
    pub(crate) fn write_digest(&self, writer: &mut PacketWriter<'_>, stats: &mut Stats) {
        if self.stopped || !self.pulls_while_active() || self.held.digest == 0 {
            return;
        }
        let message: Message<'_, A> = Message::BroadcastDigest {
            digest: self.held.digest,
        };
        // Riders that do not fit are left out.
        let _ = writer.push_counted(&message, stats);
    }

    // ---- commands ------------------------------------------------------------

    /// Sends `payload` from this node, named `origin`. Its own event is queued
    /// like everyone else's.
    pub(crate) fn originate<R: Rng>(
        &mut self,
        env: &mut Env<'_, R>,
        origin: NodeName,
        payload: &[u8],
    ) -> BroadcastId {
        let mut id = env.rng.next_u64();
        while self.entries.contains_key(&id) {
            id = env.rng.next_u64();
        }
        env.stats.broadcasts.broadcasts_originated += 1;
        self.insert(env, id, origin, env.now, payload);
        BroadcastId(id)
    }

    /// Stops for good (the node left): nothing more is pushed, pulled or answered.
    pub(crate) fn stop(&mut self) {
        self.stopped = true;
        self.pull_wanted = None;
        self.hot = RumorQueue::new(0);
        self.outbox.clear();
    }

    // ---- plumbing ------------------------------------------------------------

    fn insert<R>(
        &mut self,
        env: &mut Env<'_, R>,
        id: u64,
        origin: NodeName,
        born: Instant,
        payload: &[u8],
    ) {
        self.make_room(env.stats);
        let retention = self.config.broadcast_retention;
        self.held.insert(born + retention, id);
        self.next_expiry = self.next_expiry.min(born + retention);
        self.by_forget.insert((born + retention * 2, id));
        let event = Broadcast {
            id: BroadcastId(id),
            origin: origin.clone(),
            payload: payload.to_vec(),
        };
        self.entries.insert(
            id,
            Entry {
                origin,
                born,
                heard: env.now,
                payload: Some(payload.to_vec()),
                unnecessary: 0,
            },
        );
        if self.config.dissemination.pushes() {
            self.hot.push(id, ());
        }
        if self.pulls_while_active() && self.next_pull.is_none() {
            self.next_pull = Some(self.pull_allowed_at.max(env.now));
        }
        if push_dropping_oldest(&mut self.events, event, self.config.max_pending_events) {
            env.stats.events_dropped += 1;
        }
    }

    /// Evicts the oldest broadcast while `max_broadcasts` are held, and forgets
    /// the oldest id while eight times that many are remembered.
    fn make_room(&mut self, stats: &mut Stats) {
        while let Some((at, id)) = self.held.first()
            && self.held.len() >= self.config.max_broadcasts
        {
            self.held.remove(at, id);
            self.drop_payload(id);
            stats.broadcasts.broadcasts_evicted += 1;
        }
        while self.entries.len() >= self.max_ids() {
            let (_, id) = self.by_forget.pop_first().expect("every entry is listed");
            if let Some(entry) = self.entries.remove(&id) {
                let retention = self.config.broadcast_retention;
                self.held.remove(entry.born + retention, id);
                self.hot.remove(&id);
            }
            stats.broadcasts.broadcast_ids_evicted += 1;
        }
    }

    fn drop_payload(&mut self, id: u64) {
        if let Some(entry) = self.entries.get_mut(&id) {
            entry.payload = None;
        }
        self.hot.remove(&id);
    }

    fn send<R>(&mut self, env: &mut Env<'_, R>, outgoing: BroadcastTransmit<A>) {
        env.queue_transmit(&mut self.outbox, outgoing);
    }
}

/// Writes the broadcast `id` with its current age; fails if it does not fit or
/// its payload is gone.
fn write_entry<A: Serialize>(
    id: u64,
    entry: &Entry,
    feedback: bool,
    writer: &mut PacketWriter<'_>,
    now: Instant,
    retention: Duration,
    stats: &mut Stats,
) -> Result<(), BufferFull> {
    let payload = entry.payload.as_deref().ok_or(BufferFull)?;
    let age = now.saturating_duration_since(entry.born).min(retention);
    let message: Message<'_, A> = Message::Broadcast {
        id,
        origin: entry.origin.as_str(),
        age_ms: u32::try_from(age.as_millis()).unwrap_or(u32::MAX),
        feedback,
        payload,
    };
    debug_assert_eq!(message.kind(), MessageKind::Broadcast);
    writer.push_counted(&message, stats)
}
