//! The replica: a child state machine of [`Node`](crate::Node) that owns the
//! store, spreads writes as rumors, runs anti-entropy and watches convergence.
//!
//! Anti-entropy is stateless on both sides. Every `state_sync_interval` a
//! replica sends a random member its root's sixteen children
//! ([`Message::SyncHashes`] at level 0). A receiver compares them with its own
//! and answers with its children of the nodes that differ, one level down;
//! the other side does the same, and so on, alternating. Whoever reaches the
//! leaves answers with its entries in the leaves that differ and the list of
//! those leaves ([`Message::SyncEntries`]), and the other side answers with its
//! own entries there. Replicas that agree exchange one datagram; otherwise a
//! tree of depth `d` is reconciled in at most `d + 2` messages. An answer to
//! one datagram compares at most [`MAX_STEP_NODES`] nodes, a replica sends at
//! most [`SYNC_DATAGRAMS_PER_INTERVAL`] anti-entropy datagrams per interval,
//! and a lost or withheld datagram only leaves its part for the next round.

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::time::Duration;

use foldhash::fast::FixedState;
use hashbrown::HashMap;
use rand_core::{CryptoRng, Rng};
use smallvec::{SmallVec, smallvec};

use super::KeyChange;
use super::entry::Entry;
use super::merkle::FANOUT;
use super::store::{Applied, Store};
use super::version::{HlcClock, ReplicaId, VersionVector};
use crate::config::Config;
use crate::context::{Env, Peers};
use crate::error::StateError;
use crate::hash::StableHasher;
use crate::identity::{Address, Identity, NodeName};
use crate::queue::{pop_and_trim, push_dropping_oldest};
use crate::random;
use crate::rumor_queue::{RumorQueue, retransmit_limit};
use crate::stats::{Footprint, Stats};
use crate::time::Instant;
use crate::wire::{BufferFull, HEADER_MAX_LEN, Message, PacketWriter, SYNC_NODE_LEN};

/// Most tree nodes an answer to one anti-entropy datagram compares (about
/// sixteen datagrams); the rest of a large difference is found in later rounds.
pub(crate) const MAX_STEP_NODES: usize = 320;
/// Most datagrams of entries sent in answer to one anti-entropy datagram.
const MAX_STEP_ENTRY_DATAGRAMS: usize = 32;
/// Most anti-entropy datagrams a replica sends per `state_sync_interval`, all
/// peers together (about 1.4 MB with 1,400-byte datagrams). The limits above
/// hold per datagram received, and a step is many datagrams: this bounds what
/// one exchange (a replica far behind, or a flood) can queue at once. What is
/// left out is found again in the next rounds.
pub(crate) const SYNC_DATAGRAMS_PER_INTERVAL: usize = 1_024;
/// Room a datagram of entries keeps for its header and the `SyncEntries` opener.
const ENTRIES_HEADROOM: usize = HEADER_MAX_LEN + 16;

/// How far this replica's state is shared, from the state digests that members
/// piggyback on probes and acks. Read with
/// [`Node::convergence`](crate::Node::convergence).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Convergence {
    /// This replica's state digest (its Merkle root).
    pub digest: u64,
    /// Estimated members whose replica has the same digest, this one included:
    /// the share of digests heard recently that match, times the members.
    pub agreeing: usize,
    /// Live (alive or suspect) members, this one included: failed and left
    /// members are not counted.
    pub members: usize,
    /// Members whose digest was heard within the window the estimate uses.
    pub sampled: usize,
}

impl Convergence {
    /// Fewest digests of other members a claim of convergence rests on:
    /// every other member's in a cluster of up to nine, eight in a larger
    /// one (where the sample is what a node hears in the window).
    pub const MIN_SAMPLE: usize = 8;

    /// True if every live member is estimated to hold the same state, from
    /// at least [`MIN_SAMPLE`](Self::MIN_SAMPLE) digests (all of them in a
    /// small cluster): one digest heard does not make "4 of 4".
    pub fn is_converged(&self) -> bool {
        let needed = self.members.saturating_sub(1).min(Self::MIN_SAMPLE);
        self.agreeing == self.members && self.sampled >= needed
    }
}

/// Tree nodes whose children a sync datagram carries: the root alone in
/// every round, so inline.
pub(crate) type SyncNodes = SmallVec<[u32; 4]>;

/// Datagrams the replica wants sent, encoded when polled.
#[derive(Clone, Debug)]
pub(crate) enum SyncTransmit<A> {
    /// Children hashes of `nodes` at `level` (a step of anti-entropy).
    Hashes { to: A, level: u8, nodes: SyncNodes },
    /// The entries of `keys`, after a `SyncEntries` listing `want`.
    Entries {
        to: A,
        want: Vec<u32>,
        keys: Vec<Vec<u8>>,
    },
}

impl<A> SyncTransmit<A> {
    pub(crate) fn to(&self) -> &A {
        match self {
            SyncTransmit::Hashes { to, .. } | SyncTransmit::Entries { to, .. } => to,
        }
    }
}

pub(crate) struct Replica<A> {
    config: Arc<Config>,
    id: ReplicaId,
    origin: NodeName,
    clock: HlcClock,
    store: Store,
    rumors: RumorQueue<Vec<u8>, ()>,
    next_sync: Instant,
    next_collection: Instant,
    /// The latest digest heard from each member, and when.
    peer_roots: HashMap<A, (u64, Instant), FixedState>,
    /// How many of `peer_roots` hold each digest, and when it was last heard:
    /// while enough fresh ones differ from this replica's, a matching one
    /// cannot complete agreement, and is taken without a pass over all.
    root_counts: HashMap<u64, RootCount, FixedState>,
    /// Passes over `peer_roots` made to judge convergence.
    #[cfg(test)]
    convergence_passes: usize,
    /// The digest every live member was last found to share: a change of
    /// this replica's state makes agreement a thing to reach again.
    agreed: Option<u64>,
    /// Anti-entropy datagrams left to send in this sync interval.
    sync_budget: usize,
    /// The member last heard with a digest unlike this replica's: the next
    /// sync round compares trees with it, if it still differs. Replicas that
    /// agree have nothing to compare, so an idle cluster sends no syncs.
    sync_candidate: Option<A>,
    stopped: bool,
    outbox: VecDeque<SyncTransmit<A>>,
    events: VecDeque<KeyChange>,
    convergence_events: VecDeque<Convergence>,
}

impl<A: Address> Replica<A> {
    /// Takes the node's configuration after a change of its keys.
    pub(crate) fn set_config(&mut self, config: Arc<Config>) {
        self.config = config;
    }

    /// Hash keys come from `secrets`, choices from `rng`.
    pub(crate) fn new<R: Rng, S: CryptoRng + ?Sized>(
        config: &Arc<Config>,
        identity: &Identity<A>,
        now: Instant,
        rng: &mut R,
        secrets: &mut S,
    ) -> Self {
        let mut hasher = StableHasher::new(0x0072_6570_6c69_6361); // "replica"
        hasher.write_bytes(identity.name().as_bytes());
        hasher.write_u64(identity.generation());
        let store = Store::new(
            config.conflicts.clone(),
            config.state_tree_depth,
            config.max_keys,
            config.max_value_size,
            secrets.next_u64(),
        );
        let mut replica = Replica {
            config: Arc::clone(config),
            id: ReplicaId(hasher.finish()),
            origin: identity.name().clone(),
            clock: HlcClock::default(),
            store,
            rumors: RumorQueue::new(secrets.next_u64()),
            // A random phase, so that members started together do not sync in lockstep.
            next_sync: now + random::duration_below(rng, config.state_sync_interval),
            next_collection: now + config.key_tombstone_retention / 16,
            peer_roots: HashMap::with_hasher(FixedState::with_seed(secrets.next_u64())),
            root_counts: HashMap::default(),
            #[cfg(test)]
            convergence_passes: 0,
            agreed: None,
            sync_budget: SYNC_DATAGRAMS_PER_INTERVAL,
            sync_candidate: None,
            stopped: false,
            outbox: VecDeque::new(),
            events: VecDeque::new(),
            convergence_events: VecDeque::new(),
        };
        // Keyed as the digests' map is: no draw of its own, so seeded runs
        // draw what they drew before.
        replica.root_counts = HashMap::with_hasher(replica.peer_roots.hasher().clone());
        replica
    }

    // ---- getters -------------------------------------------------------------

    pub(crate) fn id(&self) -> ReplicaId {
        self.id
    }

    pub(crate) fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.store.get(key)
    }

    pub(crate) fn get_all(&self, key: &[u8]) -> impl Iterator<Item = &[u8]> {
        self.store.entry(key).into_iter().flat_map(Entry::values)
    }

    pub(crate) fn version(&self, key: &[u8]) -> Option<&VersionVector> {
        self.store.entry(key).map(Entry::version)
    }

    pub(crate) fn entries(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.store.iter()
    }

    pub(crate) fn digest(&self) -> u64 {
        self.store.tree().root()
    }

    pub(crate) fn has_rumors(&self) -> bool {
        !self.rumors.is_empty()
    }

    /// Datagrams queued, waiting to be drained.
    pub(crate) fn outbox_len(&self) -> usize {
        self.outbox.len()
    }

    pub(crate) fn add_footprint(&self, footprint: &mut Footprint) {
        footprint.keys = self.store.len();
        footprint.key_tombstones = self.store.tombstones();
        footprint.merkle_nodes = self.store.tree().stored_nodes();
        footprint.key_rumors = self.rumors.len();
        footprint.peer_digests = self.peer_roots.len();
        footprint.pending_transmits += self.outbox.len();
        footprint.pending_events += self.events.len() + self.convergence_events.len();
    }

    /// The estimate of how many of `members` live members share this state;
    /// `is_live` tells the addresses of live members.
    pub(crate) fn convergence(
        &self,
        now: Instant,
        members: usize,
        is_live: impl Fn(&A) -> bool,
    ) -> Convergence {
        let digest = self.digest();
        let window = self.convergence_window();
        let (mut sampled, mut matching) = (0usize, 0usize);
        for (addr, &(root, at)) in &self.peer_roots {
            if now.saturating_duration_since(at) <= window && is_live(addr) {
                sampled += 1;
                matching += usize::from(root == digest);
            }
        }
        let others = members.saturating_sub(1);
        // Rounded to the nearest member; only this one when nothing was heard.
        let agreeing = (others * matching + sampled / 2)
            .checked_div(sampled)
            .map_or(1, |agreeing| 1 + agreeing);
        Convergence {
            digest,
            agreeing: agreeing.min(members.max(1)),
            members: members.max(1),
            sampled,
        }
    }

    /// How long a member's digest counts. Shorter is quicker to see
    /// convergence, but a stale sample is likelier to be missed: at two sync
    /// intervals the 200-node scenario saw nodes claim it while some replicas
    /// still differed; at three, none did, and at six claims lagged ~30 s.
    fn convergence_window(&self) -> Duration {
        self.config.state_sync_interval * 3
    }

    // ---- outputs -------------------------------------------------------------

    pub(crate) fn poll_outgoing(&mut self) -> Option<SyncTransmit<A>> {
        pop_and_trim(&mut self.outbox)
    }

    pub(crate) fn poll_event(&mut self) -> Option<KeyChange> {
        pop_and_trim(&mut self.events)
    }

    pub(crate) fn poll_convergence(&mut self) -> Option<Convergence> {
        pop_and_trim(&mut self.convergence_events)
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        (!self.stopped).then(|| self.next_sync.min(self.next_collection))
    }

    /// Writes the datagram for `outgoing`; true if anything was written.
    pub(crate) fn write(
        &self,
        outgoing: &SyncTransmit<A>,
        writer: &mut PacketWriter<'_>,
        stats: &mut Stats,
    ) -> bool {
        match outgoing {
            SyncTransmit::Hashes { level, nodes, .. } => {
                let tree = self.store.tree();
                // The root's children (a round's first step) fit inline.
                let mut hashes: SmallVec<[u8; 2 * SYNC_NODE_LEN]> = SmallVec::new();
                for &node in nodes {
                    hashes.extend_from_slice(&node.to_le_bytes());
                    for child in tree.children(*level, node) {
                        hashes.extend_from_slice(&(child as u32).to_le_bytes());
                    }
                }
                let message: Message<'_, A> = Message::SyncHashes {
                    depth: tree.depth(),
                    level: *level,
                    root: tree.root(),
                    hashes: &hashes,
                };
                writer.push_counted(&message, stats).is_ok()
            }
            SyncTransmit::Entries { want, keys, .. } => {
                let want: Vec<u8> = want.iter().flat_map(|l| l.to_le_bytes()).collect();
                let opener: Message<'_, A> = Message::SyncEntries {
                    depth: self.store.tree().depth(),
                    want: &want,
                };
                if writer.push_counted(&opener, stats).is_err() {
                    return false;
                }
                for key in keys {
                    if let Some(entry) = self.store.entry(key) {
                        if write_entry::<A>(key, entry, writer, stats).is_err() {
                            // Cut to fit when queued; left to the next round.
                            stats.state.state_sync_entries_unsent += 1;
                        }
                    }
                }
                true
            }
        }
    }

    /// Piggybacks as many key rumors as fit; returns how many.
    pub(crate) fn write_rumors(
        &mut self,
        writer: &mut PacketWriter<'_>,
        members: usize,
        stats: &mut Stats,
    ) -> usize {
        if self.rumors.is_empty() {
            return 0;
        }
        let limit = retransmit_limit(self.config.retransmit_mult, members);
        let store = &self.store;
        self.rumors.fill(
            writer,
            limit,
            |key, (), writer| {
                let entry = store.entry(key).ok_or(BufferFull)?;
                write_entry::<A>(key, entry, writer, stats)
            },
            |_| true,
        )
    }

    /// Piggybacks this replica's digest (on probes and acks).
    pub(crate) fn write_root(&self, writer: &mut PacketWriter<'_>, stats: &mut Stats) {
        let message: Message<'_, A> = Message::StateRoot {
            root: self.digest(),
        };
        let _ = writer.push_counted(&message, stats);
    }

    // ---- inputs --------------------------------------------------------------

    /// Applies the state messages of a datagram whose every message decoded;
    /// `from_member` says whether `from` is in the member table: anti-entropy
    /// answers go to members only.
    pub(crate) fn handle_messages<'m, 'd: 'm, R>(
        &mut self,
        env: &mut Env<'_, R>,
        from: &A,
        messages: impl Iterator<Item = &'m Message<'d, A>>,
        from_member: bool,
        peers: &impl Peers<A>,
    ) where
        A: 'm,
    {
        if self.stopped {
            return;
        }
        // Answered once the datagram's own entries are merged: the answer is
        // cut into datagrams by the sizes of the entries it will carry.
        let mut wanted = None;
        for message in messages {
            match *message {
                Message::KeyEntry { key, ref entry } => {
                    let entry = Entry::from_record(entry);
                    let millis = env.wall.millis(env.now);
                    if !self.clock.observe_bounded(entry.stamp(), millis) {
                        env.stats.state.stamps_from_the_future += 1;
                    }
                    self.apply(env, key, entry, false);
                }
                Message::StateRoot { root } => self.heard_root(env, from, root, peers),
                Message::SyncHashes {
                    depth,
                    level,
                    root,
                    hashes,
                } => {
                    self.heard_root(env, from, root, peers);
                    if !from_member {
                        env.stats.state.state_syncs_refused += 1;
                    } else if depth != self.store.tree().depth() {
                        env.stats.state.state_syncs_mismatched += 1;
                    } else if root == self.digest() {
                        env.stats.state.state_syncs_in_sync += 1;
                    } else {
                        self.compare(env, from, level, hashes);
                    }
                }
                Message::SyncEntries { depth, want } => {
                    if !from_member {
                        env.stats.state.state_syncs_refused += 1;
                    } else if depth != self.store.tree().depth() {
                        env.stats.state.state_syncs_mismatched += 1;
                    } else if !want.is_empty() {
                        wanted = Some(want);
                    }
                }
                _ => {}
            }
        }
        if let Some(want) = wanted {
            let leaves: Vec<u32> = want
                .chunks_exact(4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            self.send_entries(env, from, Vec::new(), &leaves);
        }
    }

    /// One step of anti-entropy: `hashes` are the sender's children of nodes
    /// at `level`; answer with the next level down where they differ, or with
    /// the entries of the leaves that differ.
    fn compare<R>(&mut self, env: &mut Env<'_, R>, from: &A, level: u8, hashes: &[u8]) {
        env.stats.state.state_sync_steps += 1;
        let tree = self.store.tree();
        let (depth, width) = (tree.depth(), tree.width(level));
        let mut differing = Vec::new();
        for node in hashes.chunks_exact(SYNC_NODE_LEN) {
            let index = u32::from_le_bytes(node[..4].try_into().expect("four bytes"));
            if u64::from(index) >= width {
                continue;
            }
            let mine = tree.children(level, index);
            for (i, theirs) in node[4..].chunks_exact(4).enumerate() {
                let theirs = u32::from_le_bytes(theirs.try_into().expect("four bytes"));
                if mine[i] as u32 != theirs {
                    differing.push((index << 4) | i as u32);
                }
            }
            if differing.len() >= MAX_STEP_NODES {
                differing.truncate(MAX_STEP_NODES);
                break;
            }
        }
        if differing.is_empty() {
            return;
        }
        if level + 1 < depth {
            let per_datagram = self.hashes_per_datagram();
            for nodes in differing.chunks(per_datagram) {
                let to = from.clone();
                let nodes = SyncNodes::from_slice(nodes);
                self.send(
                    env,
                    SyncTransmit::Hashes {
                        to,
                        level: level + 1,
                        nodes,
                    },
                );
            }
        } else {
            self.send_entries(env, from, differing.clone(), &differing);
        }
    }

    fn hashes_per_datagram(&self) -> usize {
        let room = self.config.payload_size() - HEADER_MAX_LEN - 24;
        (room / SYNC_NODE_LEN).max(1)
    }

    /// Queues this replica's entries in `leaves` for `to`, cut into datagrams,
    /// the first listing the leaves it `want`s in return.
    fn send_entries<R>(&mut self, env: &mut Env<'_, R>, to: &A, want: Vec<u32>, leaves: &[u32]) {
        let room = self.max_entry_len();
        // The first datagram carries the wanted leaves, the others only entries.
        let mut batches: Vec<Vec<Vec<u8>>> = alloc::vec![Vec::new()];
        let mut left = room.saturating_sub(4 * want.len());
        'leaves: for &leaf in leaves {
            for (key, entry) in self.store.leaf(leaf) {
                let len = entry.encoded_len(key);
                if len > left {
                    if batches.len() == MAX_STEP_ENTRY_DATAGRAMS {
                        break 'leaves;
                    }
                    batches.push(Vec::new());
                    left = room;
                }
                left = left.saturating_sub(len);
                batches.last_mut().expect("one").push(key.to_vec());
                env.stats.state.state_sync_entries_sent += 1;
            }
        }
        let mut want = Some(want);
        for keys in batches {
            let want = want.take().unwrap_or_default();
            if keys.is_empty() && want.is_empty() {
                continue;
            }
            let to = to.clone();
            self.send(env, SyncTransmit::Entries { to, want, keys });
        }
    }

    fn heard_root<R>(&mut self, env: &mut Env<'_, R>, from: &A, root: u64, peers: &impl Peers<A>) {
        // Only live members' roots count, and only theirs are kept: a flood
        // from strangers' addresses cannot grow the map.
        if !peers.is_live(from) {
            return;
        }
        if self.peer_roots.len() >= self.config.max_members && !self.peer_roots.contains_key(from) {
            return;
        }
        if let Some((previous, _)) = self.peer_roots.insert(from.clone(), (root, env.now)) {
            uncount_root(&mut self.root_counts, previous);
        }
        let count = self.root_counts.entry(root).or_insert(RootCount {
            members: 0,
            heard: env.now,
        });
        count.members += 1;
        count.heard = env.now;
        // Only a root that could change the verdict is worth a pass: one that
        // matches while not converged, or differs while converged.
        let digest = self.digest();
        let matches = root == digest;
        if !matches {
            self.sync_candidate = Some(from.clone());
        }
        if matches != (self.agreed == Some(digest))
            && !(matches && self.agreement_out_of_reach(env.now, digest))
        {
            self.check_convergence(env.now, peers);
        }
    }

    /// True if the digests on record show that not every member holds
    /// `digest`, without a pass over them: more than a few differ, and one
    /// of those digests was heard within the window. A few differing ones
    /// may be of members just dead, and old ones do not count: a pass
    /// judges those.
    fn agreement_out_of_reach(&self, now: Instant, digest: u64) -> bool {
        let matching = self
            .root_counts
            .get(&digest)
            .map_or(0, |count| count.members);
        let differing = self.peer_roots.len() - matching as usize;
        if differing <= Convergence::MIN_SAMPLE {
            return false;
        }
        let window = self.convergence_window();
        let mut others = self.root_counts.iter().filter(|&(&root, _)| root != digest);
        // Many digests at once (a burst of writes): one of them is fresh.
        others
            .by_ref()
            .take(MAX_DIGESTS_LOOKED_AT)
            .any(|(_, count)| now.saturating_duration_since(count.heard) <= window)
            || others.next().is_some()
    }

    /// Emits [`Convergence`] when every member comes to share this state.
    ///
    /// Members that failed or left since the last check are forgotten here.
    /// If one of them held another state, agreement reached now is the others
    /// counting it out, not a state that spread: it is noted, not announced.
    pub(crate) fn check_convergence(&mut self, now: Instant, peers: &impl Peers<A>) {
        #[cfg(test)]
        {
            self.convergence_passes += 1;
        }
        let digest = self.digest();
        let mut counted_out = false;
        let counts = &mut self.root_counts;
        self.peer_roots.retain(|addr, &mut (root, _)| {
            let is_live = peers.is_live(addr);
            counted_out |= !is_live && root != digest;
            if !is_live {
                uncount_root(counts, root);
            }
            is_live
        });
        let convergence = self.convergence(now, peers.live_members(), |addr| peers.is_live(addr));
        let converged = convergence.is_converged() && convergence.sampled > 0;
        if converged && self.agreed != Some(digest) && !counted_out {
            let max = self.config.max_pending_events;
            push_dropping_oldest(&mut self.convergence_events, convergence, max);
        }
        self.agreed = converged.then_some(digest);
    }

    /// The sync round and the tombstone collection, when due.
    pub(crate) fn handle_timeout<R: Rng>(&mut self, env: &mut Env<'_, R>, peers: &impl Peers<A>) {
        if self.stopped {
            return;
        }
        if self.next_collection <= env.now {
            self.next_collection = env.now + self.config.key_tombstone_retention / 16;
            let horizon = self.tombstone_horizon(env.wall.millis(env.now));
            for key in self.store.collect_tombstones(horizon) {
                self.rumors.remove(&key);
                env.stats.state.key_tombstones_collected += 1;
            }
        }
        if self.next_sync <= env.now {
            self.next_sync = env.now + self.config.state_sync_interval;
            self.sync_budget = SYNC_DATAGRAMS_PER_INTERVAL;
            let window = self.convergence_window();
            let now = env.now;
            let counts = &mut self.root_counts;
            self.peer_roots.retain(|_, &mut (root, at)| {
                let fresh = now.saturating_duration_since(at) <= window;
                if !fresh {
                    uncount_root(counts, root);
                }
                fresh
            });
            self.check_convergence(now, peers);
            let digest = self.digest();
            let differs = |to: &A| {
                peers.is_live(to)
                    && self
                        .peer_roots
                        .get(to)
                        .is_some_and(|&(root, _)| root != digest)
            };
            self.sync_candidate = self.sync_candidate.take().filter(differs);
            if let Some(to) = self.sync_candidate.clone() {
                env.stats.state.state_syncs += 1;
                self.send(
                    env,
                    SyncTransmit::Hashes {
                        to,
                        level: 0,
                        nodes: smallvec![0],
                    },
                );
            }
        }
    }

    // ---- commands ------------------------------------------------------------

    /// A local write (`value`) or delete (`None`) of `key`.
    pub(crate) fn write_key<R>(
        &mut self,
        env: &mut Env<'_, R>,
        key: &[u8],
        value: Option<&[u8]>,
    ) -> Result<(), StateError> {
        if self.stopped {
            return Err(StateError::Left);
        }
        let max_key = self.config.max_key_size;
        if key.len() > max_key {
            return Err(StateError::KeyTooLarge {
                len: key.len(),
                max: max_key,
            });
        }
        let max_value = self.config.max_value_size;
        if let Some(value) = value.filter(|v| v.len() > max_value) {
            return Err(StateError::ValueTooLarge {
                len: value.len(),
                max: max_value,
            });
        }
        let previous = self.store.entry(key);
        if previous.is_none() && self.store.len() >= self.config.max_keys {
            return Err(StateError::Full {
                max: self.config.max_keys,
            });
        }
        let stamp = self.clock.tick(env.wall.millis(env.now));
        let entry = Entry::write(
            previous,
            self.id,
            stamp,
            self.origin.clone(),
            value.map(<[u8]>::to_vec),
        );
        let max_len = self.max_entry_len();
        let len = entry.encoded_len(key);
        if len > max_len {
            return Err(StateError::EntryTooLarge { len, max: max_len });
        }
        env.stats.state.key_writes += 1;
        self.apply(env, key, entry, true);
        Ok(())
    }

    pub(crate) fn stop(&mut self) {
        self.stopped = true;
        self.rumors.clear();
        self.outbox.clear();
    }

    // ---- plumbing ------------------------------------------------------------

    /// Tombstones of deletes stamped before this millisecond are collected,
    /// `wall_ms` being the wall clock now.
    fn tombstone_horizon(&self, wall_ms: u64) -> u64 {
        let retention = self.config.key_tombstone_retention.as_millis();
        let retention = u64::try_from(retention).unwrap_or(u64::MAX);
        wall_ms.saturating_sub(retention)
    }

    /// Largest encoded entry: what a datagram holds besides its header and a
    /// `SyncEntries` opener.
    fn max_entry_len(&self) -> usize {
        self.config.payload_size() - ENTRIES_HEADROOM
    }

    /// Merges `entry` (a local write if `local`) and passes the news on.
    fn apply<R>(&mut self, env: &mut Env<'_, R>, key: &[u8], entry: Entry, local: bool) {
        let max_len = self.max_entry_len();
        if !local
            && entry.is_deleted()
            && self.store.entry(key).is_none()
            && entry.stamp().millis < self.tombstone_horizon(env.wall.millis(env.now))
        {
            // A tombstone this replica would collect at once: most likely one
            // it collected already, sent back by a member that collects later.
            // Storing it would tell the same delete again.
            return;
        }
        let applied = if local {
            self.store.put(key, entry, max_len)
        } else {
            self.store.merge(key, entry, max_len)
        };
        match applied {
            Applied::Unchanged => {}
            Applied::Full => env.stats.state.keys_refused += 1,
            Applied::Changed(change) => {
                if !local {
                    env.stats.state.key_changes_received += 1;
                }
                self.rumors.push(key.to_vec(), ());
                let max = self.config.max_pending_events;
                if push_dropping_oldest(&mut self.events, change, max) {
                    env.stats.events_dropped += 1;
                }
            }
        }
    }

    fn send<R>(&mut self, env: &mut Env<'_, R>, outgoing: SyncTransmit<A>) {
        if self.sync_budget == 0 {
            env.stats.state.state_sync_throttled += 1;
            return;
        }
        if env.queue_transmit(&mut self.outbox, outgoing) {
            self.sync_budget -= 1;
        }
    }
}

fn write_entry<A: serde::Serialize>(
    key: &[u8],
    entry: &Entry,
    writer: &mut PacketWriter<'_>,
    stats: &mut Stats,
) -> Result<(), BufferFull> {
    let message: Message<'_, A> = Message::KeyEntry {
        key,
        entry: entry.record(),
    };
    writer.push_counted(&message, stats)
}

const _: () = assert!(FANOUT == 16, "the wire format lists sixteen children");

/// Members whose latest digest on record is one value.
struct RootCount {
    members: u32,
    /// When one of them was last heard with it: no later than any of them.
    heard: Instant,
}

/// Distinct differing digests looked at to find a fresh one before a
/// matching digest is let through without a pass.
const MAX_DIGESTS_LOOKED_AT: usize = 16;

/// One member's digest fewer holds `root`; a digest nobody holds is
/// forgotten.
fn uncount_root(counts: &mut HashMap<u64, RootCount, FixedState>, root: u64) {
    if let Some(count) = counts.get_mut(&root) {
        count.members -= 1;
        if count.members == 0 {
            counts.remove(&root);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Partners;
    use crate::time::WallClock;

    /// Addresses below the count are live members.
    struct Live(usize);

    impl Peers<u32> for Live {
        fn live_members(&self) -> usize {
            self.0
        }

        fn is_live(&self, addr: &u32) -> bool {
            (*addr as usize) < self.0
        }

        fn sample_live<R: Rng>(&self, _: &mut R, _: usize) -> Partners<u32> {
            Partners::new()
        }
    }

    fn env<'a>(
        now: Instant,
        rng: &'a mut rand_chacha::ChaCha20Rng,
        stats: &'a mut Stats,
    ) -> Env<'a, rand_chacha::ChaCha20Rng> {
        Env {
            now,
            wall: WallClock::default(),
            rng,
            stats,
            transmit_room: 8,
        }
    }

    fn replica(seed: u64) -> Replica<u32> {
        let config = Arc::new(Config::lan());
        let identity = Identity::new("self", 0u32).unwrap();
        let mut rng = crate::testing::secrets(seed);
        let mut secrets = crate::testing::secrets(seed + 100);
        Replica::new(&config, &identity, Instant::ZERO, &mut rng, &mut secrets)
    }

    /// While a write spreads, most digests heard match and some do not yet:
    /// each matching one used to cost a pass over every member's digest.
    #[test]
    fn a_matching_digest_costs_no_pass_while_many_members_differ() {
        let mut replica = replica(1);
        let (mut rng, mut stats) = (crate::testing::secrets(1), Stats::default());
        let mut env = env(Instant::from_secs(1), &mut rng, &mut stats);
        let peers = Live(10_001);
        let digest = replica.digest();
        let behind = 1..=20;
        for addr in behind.clone() {
            replica.heard_root(&mut env, &addr, digest ^ 1, &peers);
        }
        let passes = replica.convergence_passes;
        for addr in 21..=10_000 {
            replica.heard_root(&mut env, &addr, digest, &peers);
        }
        assert_eq!(replica.convergence_passes, passes, "no pass per digest");
        assert_eq!(replica.agreed, None);

        // The last ones come round: a pass each only once a few are left,
        // and agreement is announced once.
        for addr in behind {
            replica.heard_root(&mut env, &addr, digest, &peers);
        }
        let last_passes = replica.convergence_passes - passes;
        assert!(last_passes <= Convergence::MIN_SAMPLE + 1, "{last_passes}");
        assert_eq!(replica.agreed, Some(digest));
        assert_eq!(replica.convergence_events.len(), 1);
        assert_eq!(replica.root_counts.len(), 1, "one digest held, by all");

        // Agreed: matching digests change nothing, a differing one a pass.
        let passes = replica.convergence_passes;
        replica.heard_root(&mut env, &5, digest, &peers);
        assert_eq!(replica.convergence_passes, passes);
        replica.heard_root(&mut env, &5, digest ^ 2, &peers);
        assert_eq!(replica.convergence_passes, passes + 1);
        assert_eq!(replica.agreed, None);
    }

    /// Differing digests heard too long ago do not hold agreement back.
    #[test]
    fn stale_differing_digests_do_not_hold_agreement_back() {
        let mut replica = replica(2);
        let (mut rng, mut stats) = (crate::testing::secrets(2), Stats::default());
        let peers = Live(40);
        let digest = replica.digest();
        let early = Instant::from_secs(1);
        for addr in 1..20 {
            replica.heard_root(
                &mut env(early, &mut rng, &mut stats),
                &addr,
                digest ^ 1,
                &peers,
            );
        }
        let later = early + replica.convergence_window() + Duration::from_secs(1);
        for addr in 20..40 {
            replica.heard_root(&mut env(later, &mut rng, &mut stats), &addr, digest, &peers);
        }
        assert_eq!(replica.agreed, Some(digest));
    }

    /// Fresh differing digests of members that died hold agreement back
    /// only until the sync round's pass drops them.
    #[test]
    fn the_dead_members_digests_are_dropped_by_the_sync_round() {
        let mut replica = replica(3);
        let (mut rng, mut stats) = (crate::testing::secrets(3), Stats::default());
        let digest = replica.digest();
        let now = Instant::from_secs(1);
        for addr in 1..20 {
            replica.heard_root(
                &mut env(now, &mut rng, &mut stats),
                &addr,
                digest ^ 1,
                &Live(40),
            );
        }
        // Members 1 to 19 die; the others all hold this digest.
        let peers = Live(40);
        let survivors = SkipDead(&peers);
        for addr in 20..40 {
            replica.heard_root(
                &mut env(now, &mut rng, &mut stats),
                &addr,
                digest,
                &survivors,
            );
        }
        assert_eq!(replica.agreed, None, "held back until the sync round");
        let sync = replica.next_sync.max(now);
        replica.handle_timeout(&mut env(sync, &mut rng, &mut stats), &survivors);
        assert_eq!(replica.agreed, Some(digest));
        assert_eq!(replica.root_counts.len(), 1);
        assert!(
            replica.convergence_events.is_empty(),
            "the dead were counted out"
        );
    }

    /// Members below 20 are dead; the rest as `Live` says.
    struct SkipDead<'a>(&'a Live);

    impl Peers<u32> for SkipDead<'_> {
        fn live_members(&self) -> usize {
            self.0.0 - 19
        }

        fn is_live(&self, addr: &u32) -> bool {
            *addr == 0 || (*addr >= 20 && self.0.is_live(addr))
        }

        fn sample_live<R: Rng>(&self, _: &mut R, _: usize) -> Partners<u32> {
            Partners::new()
        }
    }
}
