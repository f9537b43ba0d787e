//! The node: the one type an application or adapter drives.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::time::Duration;

use rand_core::{CryptoRng, Rng};

use crate::config::Config;
use crate::context::Env;
use crate::dissemination::{BroadcastId, Broadcasts};
use crate::error::{
    BroadcastError, ConfigError, JoinError, LeaveError, MessageError, MetadataError, StateError,
};
use crate::event::Event;
use crate::identity::{Address, Identity};
use crate::member::Member;
use crate::membership::{Membership, Outgoing};
use crate::seal::Sealer;
use crate::state::{Convergence, Replica, ReplicaId, VersionVector};
use crate::stats::{Footprint, Stats};
use crate::time::{Instant, WallClock};
use crate::topology::{Coordinate, Vivaldi};
use crate::wire::PacketWriter;

mod egress;
mod ingress;
mod sealing;

/// A datagram to send, borrowed from the node until the next `poll_transmit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transmit<'a, A> {
    /// Destination address.
    pub to: A,
    /// The datagram; at most `max_packet_size` bytes.
    pub payload: &'a [u8],
}

/// A member of a gossip cluster, as a deterministic state machine.
///
/// `Node` does no IO and reads no clock: the caller feeds it datagrams and the
/// current time, and sends what it asks to send. Given the same seed, the same
/// inputs and the same times, it produces the same outputs, bit for bit.
///
/// # Driving a node
///
/// **Every input or command must be followed by a complete drain**: send every
/// [`poll_transmit`](Self::poll_transmit), handle every
/// [`poll_event`](Self::poll_event), then ask [`poll_timeout`](Self::poll_timeout)
/// when to call [`handle_timeout`](Self::handle_timeout) next.
///
/// - Getters: [`local_member`](Self::local_member), [`members`](Self::members),
///   [`member`](Self::member), [`live_members`](Self::live_members),
///   [`stats`](Self::stats), [`config`](Self::config).
/// - Inputs: [`handle_message`](Self::handle_message),
///   [`handle_timeout`](Self::handle_timeout).
/// - Commands: [`join`](Self::join), [`leave`](Self::leave),
///   [`set_metadata`](Self::set_metadata), [`broadcast`](Self::broadcast).
/// - Outputs: [`poll_transmit`](Self::poll_transmit), [`poll_event`](Self::poll_event),
///   [`poll_timeout`](Self::poll_timeout).
///
/// Time passed in never needs to be exact, only monotonic; a time earlier than one
/// seen before is treated as that one.
///
/// # Example
///
/// Two nodes on a lossless network in virtual time, with `u32` addresses:
///
/// ```
/// use gossip_core::{Config, Event, Identity, Instant, Node};
/// use rand_chacha::ChaCha20Rng as Secrets;
/// use rand_core::SeedableRng;
/// use rand_xoshiro::Xoshiro256PlusPlus as Rng;
///
/// let now = Instant::ZERO;
/// let new = |name: &str, addr: u32| {
///     let identity = Identity::new(name, addr).unwrap();
///     let rng = Rng::seed_from_u64(addr.into());
///     // Seeded for the example; an application draws it from its system.
///     let mut secrets = Secrets::seed_from_u64(addr.into());
///     Node::new(Config::lan(), identity, rng, &mut secrets, now).unwrap()
/// };
/// let mut nodes = [new("a", 0), new("b", 1)];
/// nodes[1].join(now, &[0]).unwrap();
///
/// let mut now = now;
/// let mut joined = false;
/// while now < Instant::from_secs(5) {
///     // Deliver everything in flight, then advance to the earliest deadline.
///     let mut delivered = true;
///     while delivered {
///         delivered = false;
///         for i in 0..nodes.len() {
///             let mut out = Vec::new();
///             while let Some(t) = nodes[i].poll_transmit() {
///                 out.push((t.to, t.payload.to_vec()));
///             }
///             for (to, bytes) in out {
///                 nodes[to as usize].handle_message(now, i as u32, &bytes).unwrap();
///                 delivered = true;
///             }
///             while let Some(event) = nodes[i].poll_event() {
///                 joined |= matches!(event, Event::JoinCompleted { .. });
///             }
///         }
///     }
///     now = nodes.iter().filter_map(|n| n.poll_timeout()).min().unwrap();
///     for node in &mut nodes {
///         node.handle_timeout(now);
///     }
/// }
/// assert!(joined);
/// assert_eq!(nodes[0].live_members(), 2);
/// ```
pub struct Node<A, R> {
    /// The one configuration, shared with the parts; replaced (in every
    /// part at once) when the keys or the encryption mode change, so that
    /// what it says is what is in force.
    config: Arc<Config>,
    rng: R,
    now: Instant,
    stats: Stats,
    membership: Membership<A>,
    broadcasts: Broadcasts<A>,
    replica: Replica<A>,
    /// Where poll_transmit encodes datagrams; reused, never reallocated.
    scratch: Vec<u8>,
    /// Holds a datagram encoded ahead of time while the caller borrows it.
    held: Option<Arc<[u8]>>,
    /// The keys, if datagrams are encrypted.
    sealer: Option<Sealer>,
    /// Where a sealed datagram is opened, or an outgoing one sealed; reused.
    sealed: Vec<u8>,
    /// The wall clock, for stamps other members compare.
    wall: WallClock,
}

impl<A: Address, R: Rng> Node<A, R> {
    /// A node that knows only itself. Call [`join`](Self::join) to contact a
    /// cluster, or let others join it.
    ///
    /// Randomness comes from two sources, both injected:
    /// - `rng` makes the protocol's choices (whom to probe, to gossip to, to
    ///   exchange state with): seed it from entropy in production and from a
    ///   fixed seed in tests and simulations;
    /// - `secrets`, a cryptographic generator, is drawn from here only, for
    ///   what must not be predictable from the protocol's traffic: the
    ///   session that makes sealed datagrams' nonces unique, the key of the
    ///   cookies that validate strangers' addresses, and the keys of the hash
    ///   tables that hold what the network sends. Adapters pass the
    ///   operating system's generator; a simulator a seeded ChaCha.
    pub fn new<S: CryptoRng + ?Sized>(
        config: Config,
        identity: Identity<A>,
        mut rng: R,
        secrets: &mut S,
        now: Instant,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        let scratch = alloc::vec![0; config.payload_size()];
        let sealer = config
            .encryption
            .as_ref()
            .map(|encryption| Sealer::new(encryption, config.max_members, secrets, now));
        let config = Arc::new(config);
        let broadcasts = Broadcasts::new(&config, now, &mut rng, secrets);
        let replica = Replica::new(&config, &identity, now, &mut rng, secrets);
        let membership = Membership::new(Arc::clone(&config), identity, now, &mut rng, secrets);
        Ok(Node {
            config,
            rng,
            now,
            stats: Stats::default(),
            membership,
            broadcasts,
            replica,
            scratch,
            held: None,
            sealer,
            sealed: Vec::new(),
            wall: WallClock::default(),
        })
    }

    // ---- getters -----------------------------------------------------------------

    /// This node, as the cluster sees it.
    pub fn local_member(&self) -> &Member<A> {
        self.membership.local()
    }

    /// Every member known, this node and tombstones (failed, left) included, in no
    /// particular but deterministic order.
    pub fn members(&self) -> impl Iterator<Item = &Member<A>> {
        self.membership.members()
    }

    /// The member called `name`, if known.
    pub fn member(&self, name: &str) -> Option<&Member<A>> {
        self.membership.member(name)
    }

    /// Alive and suspect members, this node included.
    pub fn live_members(&self) -> usize {
        self.membership.live_members()
    }

    /// Order-independent digest of the member table; equal on members that agree.
    pub fn membership_digest(&self) -> u64 {
        self.membership.digest()
    }

    /// Lifeguard's local health score, in `0..Config::awareness_max`: 0 when this
    /// node's probes succeed, higher while they fail and the nacks it expected
    /// from others are missing (a sign that this node is slow or cut off). The
    /// probe interval and timeout are currently stretched by `score + 1`.
    pub fn local_health(&self) -> u32 {
        self.membership.local_health()
    }

    /// This node's network coordinate, or `None` if
    /// [`Config::coordinates`](crate::Config::coordinates) is off. It starts
    /// at the origin with the largest error and settles as probes return;
    /// its [`error`](Coordinate::error) says how far to trust it.
    pub fn coordinate(&self) -> Option<&Coordinate> {
        self.membership.vivaldi().map(Vivaldi::local)
    }

    /// The network coordinate member `name` last sent this node (on a probe
    /// or an ack), if any.
    pub fn member_coordinate(&self, name: &str) -> Option<&Coordinate> {
        self.membership.vivaldi()?.coordinate_of(name)
    }

    /// The round trip to member `name` predicted from the network
    /// coordinates, without probing it: `None` until `name` has sent its
    /// coordinate (members exchange them with every probe, so within a probe
    /// round or two of joining), or if coordinates are off. The prediction
    /// is as good as both coordinates' errors suggest: in the simulator's
    /// five datacentres (62–150 ms apart) its median relative error is 5%
    /// once coordinates settle (about 250 probes per node), while inside a
    /// datacentre it is off by a fraction of a millisecond, much of a 1 ms
    /// round trip.
    ///
    /// ```
    /// # use gossip_core::{Config, Identity, Instant, Node};
    /// # use rand_core::SeedableRng;
    /// # let identity = Identity::new("a", 1u32).unwrap();
    /// # let rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(1);
    /// # let mut secrets = rand_chacha::ChaCha20Rng::seed_from_u64(1);
    /// # let node = Node::new(Config::lan(), identity, rng, &mut secrets, Instant::ZERO).unwrap();
    /// // Order replicas by how near they are, unknown ones last.
    /// let mut replicas = ["b", "c", "d"];
    /// replicas.sort_by_key(|name| node.estimated_rtt(name).unwrap_or(gossip_core::Duration::MAX));
    /// ```
    pub fn estimated_rtt(&self, name: &str) -> Option<Duration> {
        self.membership.vivaldi()?.estimated_rtt(name)
    }

    /// True while a join is waiting for a seed to answer.
    pub fn is_joining(&self) -> bool {
        self.membership.is_joining()
    }

    /// True once [`leave`](Self::leave) was called.
    pub fn has_left(&self) -> bool {
        self.membership.has_left()
    }

    /// True after [`leave`](Self::leave) until the departure has been sent as
    /// often as the protocol intends ([`Event::LeaveCompleted`]).
    pub fn is_leaving(&self) -> bool {
        self.membership.is_departing()
    }

    /// How full each bounded buffer is.
    pub fn footprint(&self) -> Footprint {
        let mut footprint = self.membership.footprint();
        footprint.replay_windows = self.sealer.as_ref().map_or(0, Sealer::senders);
        self.broadcasts.add_footprint(&mut footprint);
        self.replica.add_footprint(&mut footprint);
        footprint
    }

    /// Counters since creation.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The configuration in force: its `encryption` holds the keys and mode
    /// as they are now, after [`install_key`](Self::install_key) and the
    /// other changes of the keyring.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The latest time this node was given (at most one nanosecond before
    /// [`Instant::MAX`], whose deadlines are never due).
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Makes room for `additional` more members (capped by `max_members`), so that
    /// learning a large cluster's table does not reallocate as it grows: a
    /// node about to join a cluster of known size, or a simulator bootstrapping
    /// thousands of nodes, calls it first.
    pub fn reserve_members(&mut self, additional: usize) {
        self.membership.reserve_members(additional);
    }

    /// The value of `key` in the replicated store, or `None` if it is absent or
    /// deleted. Under [`Conflicts::Siblings`](crate::Conflicts::Siblings) with
    /// a conflict pending, the newest of the concurrent values (see
    /// [`get_all`](Self::get_all)); under
    /// [`Conflicts::Merge`](crate::Conflicts::Merge), their combination.
    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.replica.get(key)
    }

    /// Every value of `key` not superseded by another write: one normally,
    /// several after concurrent writes under `Conflicts::Siblings` or
    /// `Conflicts::Merge`, none if it is absent or deleted.
    pub fn get_all(&self, key: &[u8]) -> impl Iterator<Item = &[u8]> {
        self.replica.get_all(key)
    }

    /// The version of `key` (deleted keys too, until their tombstone is
    /// collected): compare two with [`VersionVector::compare`].
    pub fn version(&self, key: &[u8]) -> Option<&VersionVector> {
        self.replica.version(key)
    }

    /// Every key of the replicated store with its value, deleted keys left out,
    /// in no particular order.
    pub fn entries(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.replica.entries()
    }

    /// This node's identity as a writer in version vectors.
    pub fn replica_id(&self) -> ReplicaId {
        self.replica.id()
    }

    /// The digest of the replicated store (its Merkle root): equal on replicas
    /// with equal state.
    pub fn state_digest(&self) -> u64 {
        self.replica.digest()
    }

    /// How many live members are estimated to share this node's replicated
    /// state, from the latest digest of each live member heard within three
    /// `state_sync_interval`s (piggybacked on probes, acks and gossip of keys).
    /// [`Event::Converged`] reports when the estimate reaches every live member.
    pub fn convergence(&self) -> Convergence {
        let membership = &self.membership;
        self.replica
            .convergence(self.now, membership.live_members(), |addr| {
                membership.is_live_addr(addr)
            })
    }

    // ---- inputs ------------------------------------------------------------------

    /// Feeds a datagram received from `from`.
    ///
    /// The whole datagram is decoded and checked before anything is applied: on
    /// error the node is unchanged but for a counter in [`DatagramStats::rejected`](crate::DatagramStats::rejected).
    pub fn handle_message(
        &mut self,
        now: Instant,
        from: A,
        datagram: &[u8],
    ) -> Result<(), MessageError> {
        self.advance(now);
        self.stats.datagrams.packets_in += 1;
        self.stats.datagrams.bytes_in += datagram.len() as u64;
        let result = self.accept(from, datagram);
        if let Err(error) = &result {
            self.stats.datagrams.rejected.count(error);
        }
        result
    }

    /// Tells the node that time has reached `now`. Calling it before the deadline
    /// from [`poll_timeout`](Self::poll_timeout), or twice, is harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
        let gossip_waiting = self.gossip_waiting();
        let (mut env, membership, broadcasts, replica) = self.parts();
        membership.handle_timeout(&mut env, gossip_waiting);
        if !membership.has_left() {
            broadcasts.handle_timeout(&mut env, &*membership);
            replica.handle_timeout(&mut env, &*membership);
        }
    }

    // ---- commands ----------------------------------------------------------------

    /// Joins the cluster through `seeds`: each is sent a join request, retried with
    /// exponential backoff until one answers with its member list
    /// ([`Event::JoinCompleted`]) or `join_max_attempts` pass
    /// ([`Event::JoinFailed`]). This node's own address among the seeds is skipped;
    /// if it is the only one, there is nobody to contact and the node waits to be
    /// joined.
    pub fn join(&mut self, now: Instant, seeds: &[A]) -> Result<(), JoinError> {
        self.with_membership(now, |membership, env| membership.join(env, seeds))
    }

    /// Leaves gracefully: the departure is sent at once to as many members
    /// as a rumor is sent to (`retransmit_mult · ceil(log10(n + 1))`; drain
    /// [`poll_transmit`](Self::poll_transmit) to send it) or, where there are
    /// fewer, to `gossip_fanout` of them every `gossip_interval` until it has
    /// been sent that many times; then [`Event::LeaveCompleted`], and no more
    /// deadlines. From the call on, the node stops probing, gossiping and
    /// syncing, and ignores what it receives. Others report
    /// [`Event::MemberLeft`], not a failure.
    pub fn leave(&mut self, now: Instant) -> Result<(), LeaveError> {
        self.with_membership(now, |membership, env| membership.leave(env))?;
        self.broadcasts.stop();
        self.replica.stop();
        Ok(())
    }

    /// Replaces this node's metadata and announces it to the cluster.
    pub fn set_metadata(&mut self, now: Instant, metadata: &[u8]) -> Result<(), MetadataError> {
        self.with_membership(now, |membership, env| {
            membership.set_metadata(env, metadata)
        })
    }

    /// Sends `payload` to every member: exactly one [`Event::Broadcast`] on each
    /// member it reaches, this one included (queued now). How it spreads, and
    /// for how long a member that missed it can still get it, is set by
    /// `Config::dissemination`, `termination` and `broadcast_retention`.
    ///
    /// Held broadcasts are bounded by `max_broadcasts`: a new one beyond that
    /// evicts the oldest, counted in [`BroadcastStats::broadcasts_evicted`](crate::BroadcastStats::broadcasts_evicted).
    ///
    /// ```
    /// # use gossip_core::{BroadcastError, Config, Event, Identity, Instant, Node};
    /// # use rand_core::SeedableRng;
    /// # use rand_xoshiro::Xoshiro256PlusPlus as Rng;
    /// let identity = Identity::new("a", 1u32).unwrap();
    /// # let mut secrets = rand_chacha::ChaCha20Rng::seed_from_u64(1);
    /// let mut node = Node::new(Config::lan(), identity, Rng::seed_from_u64(1), &mut secrets, Instant::ZERO).unwrap();
    /// let id = node.broadcast(Instant::ZERO, b"deploy v2").unwrap();
    /// assert!(matches!(node.poll_event(), Some(Event::Broadcast(b)) if b.id == id));
    /// assert!(matches!(
    ///     node.broadcast(Instant::ZERO, &[0; 4096]),
    ///     Err(BroadcastError::TooLarge { len: 4096, max: 1024 })
    /// ));
    /// ```
    pub fn broadcast(
        &mut self,
        now: Instant,
        payload: &[u8],
    ) -> Result<BroadcastId, BroadcastError> {
        self.advance(now);
        if self.membership.has_left() {
            return Err(BroadcastError::Left);
        }
        let max = self.config.max_broadcast_size;
        if payload.len() > max {
            return Err(BroadcastError::TooLarge {
                len: payload.len(),
                max,
            });
        }
        let (mut env, membership, broadcasts, _) = self.parts();
        let origin = membership.local().name.clone();
        Ok(broadcasts.originate(&mut env, origin, payload))
    }

    /// Writes `value` under `key` in the replicated store. The change is
    /// applied here at once (with its [`Event::KeyChanged`], queued now),
    /// then spreads to every member as a rumor, and anti-entropy repairs
    /// whatever the rumor misses. Concurrent writes elsewhere are resolved by
    /// `Config::conflicts`.
    ///
    /// ```
    /// # use gossip_core::{Config, Event, Identity, Instant, Node, StateError};
    /// # use rand_core::SeedableRng;
    /// # use rand_xoshiro::Xoshiro256PlusPlus as Rng;
    /// let identity = Identity::new("a", 1u32).unwrap();
    /// # let mut secrets = rand_chacha::ChaCha20Rng::seed_from_u64(1);
    /// let mut node = Node::new(Config::lan(), identity, Rng::seed_from_u64(1), &mut secrets, Instant::ZERO).unwrap();
    /// node.set(Instant::ZERO, b"leader", b"a").unwrap();
    /// assert_eq!(node.get(b"leader"), Some(&b"a"[..]));
    /// assert!(matches!(node.poll_event(), Some(Event::KeyChanged(c)) if c.key == b"leader"));
    /// assert!(matches!(
    ///     node.set(Instant::ZERO, b"big", &[0; 4096]),
    ///     Err(StateError::ValueTooLarge { len: 4096, max: 512 })
    /// ));
    /// ```
    pub fn set(&mut self, now: Instant, key: &[u8], value: &[u8]) -> Result<(), StateError> {
        self.write(now, key, Some(value))
    }

    /// Deletes `key` from the replicated store, leaving a tombstone that wins
    /// over the older values other replicas may still hold, until
    /// `key_tombstone_retention` has passed. Returns whether the key had a
    /// value here; deleting an absent key still records the delete (another
    /// replica may hold a value this one has not seen yet).
    pub fn delete(&mut self, now: Instant, key: &[u8]) -> Result<bool, StateError> {
        let had = self.replica.get(key).is_some();
        self.write(now, key, None)?;
        Ok(had)
    }

    /// Tells the node the wall-clock time (since the Unix epoch) at `now`, so
    /// that the stamps of its writes, which last-writer-wins compares across
    /// members, follow real time. Without it, stamps count from the caller's
    /// epoch: replicas still converge, but which of two concurrent writes wins
    /// follows the members' epochs rather than the order of the writes.
    /// Adapters call it once at start.
    pub fn set_wall_clock(&mut self, now: Instant, since_unix_epoch: Duration) {
        self.advance(now);
        self.wall.set(self.now, since_unix_epoch);
    }

    fn write(&mut self, now: Instant, key: &[u8], value: Option<&[u8]>) -> Result<(), StateError> {
        self.advance(now);
        if self.membership.has_left() {
            return Err(StateError::Left);
        }
        let (mut env, _, _, replica) = self.parts();
        replica.write_key(&mut env, key, value)
    }

    // ---- outputs -----------------------------------------------------------------

    /// The next datagram to send, if any. What waits to spread (member
    /// updates, keys, broadcasts, …) is piggybacked in the room its primary
    /// message leaves, in the order `node/egress.rs` sets.
    pub fn poll_transmit(&mut self) -> Option<Transmit<'_, A>> {
        loop {
            let cluster_id = self.config.cluster_id;
            let (to, len) = if let Some(outgoing) = self.membership.poll_outgoing() {
                if let Outgoing::Encoded { to, datagram } = outgoing {
                    let len = datagram.len();
                    self.held = Some(datagram);
                    (to, len)
                } else {
                    let Some(len) = self.write_membership(&outgoing) else {
                        continue; // gossip with nothing left to say
                    };
                    self.held = None;
                    (outgoing.to().clone(), len)
                }
            } else if let Some(outgoing) = self.broadcasts.poll_outgoing() {
                let Some(len) = self.write_dissemination(&outgoing) else {
                    continue; // what it was about has expired
                };
                self.held = None;
                (outgoing.to().clone(), len)
            } else {
                let outgoing = self.replica.poll_outgoing()?;
                let mut writer = PacketWriter::new(&mut self.scratch, cluster_id);
                if !self.replica.write(&outgoing, &mut writer, &mut self.stats) {
                    continue;
                }
                let len = writer.len();
                self.held = None;
                (outgoing.to().clone(), len)
            };
            let plaintext = match &self.held {
                Some(datagram) => &datagram[..],
                None => &self.scratch[..len],
            };
            let wall_ms = self.wall.millis(self.now);
            let payload = sealing::seal_outgoing(
                self.sealer.as_mut(),
                plaintext,
                wall_ms,
                &mut self.sealed,
                &mut self.stats,
            );
            self.stats.datagrams.packets_out += 1;
            self.stats.datagrams.bytes_out += payload.len() as u64;
            return Some(Transmit { to, payload });
        }
    }

    /// The next event for the application, if any.
    pub fn poll_event(&mut self) -> Option<Event<A>> {
        self.membership
            .poll_event()
            .or_else(|| self.broadcasts.poll_event().map(Event::Broadcast))
            .or_else(|| self.replica.poll_event().map(Event::KeyChanged))
            .or_else(|| self.replica.poll_convergence().map(Event::Converged))
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called; `None`
    /// once the node has left.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let membership = self.membership.poll_timeout()?;
        let others = [self.broadcasts.poll_timeout(), self.replica.poll_timeout()];
        Some(others.into_iter().flatten().fold(membership, Instant::min))
    }

    /// Runs `input` on the membership with this node's time, generator and
    /// counters, after advancing the time to `now`.
    fn with_membership<T>(
        &mut self,
        now: Instant,
        input: impl FnOnce(&mut Membership<A>, &mut Env<'_, R>) -> T,
    ) -> T {
        self.advance(now);
        let (mut env, membership, _, _) = self.parts();
        input(membership, &mut env)
    }

    /// The sub-machines, and what they borrow from the node for one input: its
    /// time, generator and counters.
    fn parts(
        &mut self,
    ) -> (
        Env<'_, R>,
        &mut Membership<A>,
        &mut Broadcasts<A>,
        &mut Replica<A>,
    ) {
        let queued = self.membership.outgoing_len()
            + self.broadcasts.outbox_len()
            + self.replica.outbox_len();
        let env = Env {
            now: self.now,
            wall: self.wall,
            rng: &mut self.rng,
            stats: &mut self.stats,
            transmit_room: self.config.max_pending_transmits.saturating_sub(queued),
        };
        (
            env,
            &mut self.membership,
            &mut self.broadcasts,
            &mut self.replica,
        )
    }

    /// The membership, for tests that set up states no input reaches quickly.
    #[cfg(test)]
    pub(crate) fn membership_mut(&mut self) -> &mut Membership<A> {
        &mut self.membership
    }

    fn advance(&mut self, now: Instant) {
        self.now = self.now.max(now.min(Instant::LAST));
        self.broadcasts.expire(self.now);
    }
}

impl<A: Address, R> core::fmt::Debug for Node<A, R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Node")
            .field("name", &self.membership.local().name)
            .field("now", &self.now)
            .field("live_members", &self.membership.live_members())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use crate::testing::{
        TestNode, alive, datagram, drain_transmits, events, gossip, node, update,
        with_three_members,
    };
    use crate::wire::{self, Message, MessageKind};
    use crate::{DecodeError, Event, Instant, MemberState, MessageError};

    /// Everything observable about a node but the counters of received datagrams.
    fn observable(node: &TestNode) -> impl PartialEq + core::fmt::Debug + use<> {
        let mut stats = node.stats().clone();
        stats.datagrams.packets_in = 0;
        stats.datagrams.bytes_in = 0;
        stats.datagrams.rejected = Default::default();
        let members: Vec<_> = node.members().cloned().collect();
        (members, stats, node.poll_timeout(), node.footprint())
    }

    #[test]
    fn one_budget_bounds_the_undrained_datagrams_of_every_part() {
        let mut config = crate::Config::lan();
        config.max_pending_transmits = 16;
        let mut n = with_three_members(config);
        // Nobody drains: probes, gossip, pulls and joins pile up until the
        // budget is spent, whichever part queues them; it is never exceeded.
        n.broadcast(Instant::ZERO, b"news").unwrap();
        for tenth in 1..=300 {
            n.handle_timeout(Instant::from_millis(100 * tenth));
            if tenth % 50 == 0 {
                n.join(n.now(), &[1, 2, 3]).unwrap();
            }
            assert!(n.footprint().pending_transmits <= 16);
        }
        assert_eq!(n.footprint().pending_transmits, 16);
        let dropped = n.stats().datagrams.transmits_dropped;
        assert!(dropped > 0);
        let kinds: Vec<MessageKind> = crate::testing::messages(drain_transmits(&mut n))
            .into_iter()
            .map(|(_, m)| m.kind())
            .collect();
        assert!(kinds.contains(&MessageKind::Ping), "{kinds:?}");
        assert_eq!(n.footprint().pending_transmits, 0);
        n.handle_timeout(Instant::from_millis(30_100));
        n.handle_timeout(Instant::from_secs(32));
        assert!(
            n.footprint().pending_transmits > 0,
            "drained, it sends again"
        );
        // One input that queues more than the room left stops at the budget.
        drain_transmits(&mut n);
        let dropped = n.stats().datagrams.transmits_dropped;
        let seeds: Vec<u32> = (10..40).collect();
        n.join(n.now(), &seeds).unwrap();
        assert_eq!(n.footprint().pending_transmits, 16);
        assert_eq!(n.stats().datagrams.transmits_dropped, dropped + 14);
    }

    #[test]
    fn bad_datagrams_get_a_typed_error_a_counter_and_change_nothing() {
        let mut n = node();
        gossip(&mut n, 1, &[update("x", 0, 0, alive(7))]);
        events(&mut n);
        drain_transmits(&mut n);
        let ping = datagram(&[Message::Ping {
            seq: 1,
            target: "self",
        }]);
        let big_metadata = [0u8; 600];
        let cases: Vec<(Vec<u8>, MessageError)> = alloc::vec![
            (Vec::new(), MessageError::Decode(DecodeError::Truncated)),
            (
                b"garbage!".to_vec(),
                MessageError::Decode(DecodeError::BadMagic)
            ),
            (
                alloc::vec![b'G', b'S', 9, 9, 0, 1],
                MessageError::Decode(DecodeError::UnsupportedVersion { found: 9 })
            ),
            (
                alloc::vec![b'G', b'S', 2, 2, 5, 1],
                MessageError::Decode(DecodeError::WrongCluster { found: 5 })
            ),
            (
                alloc::vec![b'G', b'S', 2, 2, 0],
                MessageError::Decode(DecodeError::Empty)
            ),
            (
                // An unknown tag without the length of its body.
                alloc::vec![b'G', b'S', 2, 2, 0, 200],
                MessageError::Decode(DecodeError::Malformed)
            ),
            (
                // Version 1, the untagged format.
                alloc::vec![b'G', b'S', 1, 1, 0, 2, 1],
                MessageError::Decode(DecodeError::UnsupportedVersion { found: 1 })
            ),
            (
                ping[..ping.len() - 1].to_vec(),
                MessageError::Decode(DecodeError::Malformed)
            ),
            (
                alloc::vec![0u8; 1401],
                MessageError::Oversized {
                    len: 1401,
                    max: 1400
                }
            ),
            (
                datagram(&[update("y", 0, 0, alive(1)), Message::Ack { seq: 1 }]),
                MessageError::Decode(DecodeError::MisplacedMessage),
            ),
            (
                datagram(&[update(
                    "y",
                    0,
                    0,
                    wire::Status::Alive {
                        addr: 1,
                        metadata: &big_metadata
                    }
                )]),
                MessageError::MetadataTooLarge { len: 600, max: 512 },
            ),
            (
                // From a stranger: a transfer whose resend request could not
                // fit a datagram (it used to trip a debug assertion).
                datagram(&[
                    Message::State {
                        session: 1,
                        reply: false,
                        fresh: true,
                        chunk: 0,
                        chunks: 65_535,
                    },
                    update("y", 0, 0, alive(1)),
                ]),
                MessageError::Decode(DecodeError::OutOfRange),
            ),
            (
                datagram(&[Message::State {
                    session: 1,
                    reply: false,
                    fresh: true,
                    chunk: 3,
                    chunks: 3,
                }]),
                MessageError::Decode(DecodeError::OutOfRange),
            ),
            (
                datagram(&[Message::StateResend {
                    session: 1,
                    missing: &[0xff; 257],
                }]),
                MessageError::Decode(DecodeError::OutOfRange),
            ),
            (
                // A valid update followed by a bad one: the valid one is not applied.
                [datagram(&[update("y", 0, 0, alive(1))]), alloc::vec![0xff]].concat(),
                MessageError::Decode(DecodeError::Malformed),
            ),
        ];
        for (i, (bytes, expected)) in cases.into_iter().enumerate() {
            let before = observable(&n);
            let rejected = n.stats().datagrams.rejected.total();
            assert_eq!(
                n.handle_message(Instant::from_secs(2), 99, &bytes),
                Err(expected),
                "case {i}"
            );
            assert_eq!(observable(&n), before, "case {i} changed the node");
            assert_eq!(
                n.stats().datagrams.rejected.total(),
                rejected + 1,
                "case {i} was not counted"
            );
            assert!(
                n.poll_transmit().is_none() && n.poll_event().is_none(),
                "case {i}"
            );
        }
        assert!(n.member("y").is_none());
    }

    /// The first message of each datagram, with its destination. Decoding borrows
    /// from the datagrams, which are leaked: this is a test.
    fn primaries(sent: Vec<(u32, Vec<u8>)>) -> Vec<(u32, Message<'static, u32>)> {
        sent.into_iter()
            .map(|(to, bytes)| {
                let bytes: &'static [u8] = Vec::leak(bytes);
                (
                    to,
                    wire::decode::<u32>(bytes, 0)
                        .unwrap()
                        .next()
                        .unwrap()
                        .unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn a_ping_is_answered_with_an_ack_and_a_misdirected_one_is_not() {
        let mut n = node();
        let ping = datagram(&[Message::Ping {
            seq: 42,
            target: "self",
        }]);
        n.handle_message(Instant::ZERO, 9, &ping).unwrap();
        let out = primaries(drain_transmits(&mut n));
        assert!(out.contains(&(9, Message::Ack { seq: 42 })), "{out:?}");

        let misdirected = datagram(&[Message::Ping {
            seq: 43,
            target: "other",
        }]);
        n.handle_message(Instant::ZERO, 9, &misdirected).unwrap();
        assert!(drain_transmits(&mut n).is_empty());
        assert_eq!(n.stats().detection.misdirected_pings, 1);
    }

    #[test]
    fn an_indirect_probe_is_relayed_and_its_ack_forwarded() {
        let mut n = node();
        let request = datagram(&[Message::IndirectPing {
            seq: 7,
            target: "t",
            target_addr: 5,
            nack: false,
        }]);
        n.handle_message(Instant::ZERO, 9, &request).unwrap();
        let out = primaries(drain_transmits(&mut n));
        let Some(&(5, Message::Ping { seq, target: "t" })) = out.iter().find(|(to, _)| *to == 5)
        else {
            panic!("expected a ping to the target: {out:?}");
        };
        n.handle_message(
            Instant::from_millis(1),
            5,
            &datagram(&[Message::Ack { seq }]),
        )
        .unwrap();
        let out = primaries(drain_transmits(&mut n));
        assert!(
            out.contains(&(9, Message::Ack { seq: 7 })),
            "the ack goes back to the requester: {out:?}"
        );
        assert_eq!(n.stats().detection.relayed_probes, 1);
    }

    /// Runs `node` alone to `until`, answering nothing, and returns what it sent.
    fn run_silent(n: &mut TestNode, until: Instant) -> Vec<(u32, Vec<u8>)> {
        let mut sent = drain_transmits(n);
        while let Some(at) = n.poll_timeout().filter(|&at| at <= until) {
            n.handle_timeout(at);
            assert!(
                n.poll_timeout().is_none_or(|next| next > at),
                "a deadline in the past"
            );
            sent.extend(drain_transmits(n));
        }
        sent
    }

    #[test]
    fn a_request_for_the_missing_chunks_of_the_largest_transfer_fits_the_smallest_sealed_datagram()
    {
        let mut config = crate::Config::lan();
        config.max_packet_size = crate::MIN_PACKET_SIZE;
        config.max_metadata_size = 64;
        config.max_broadcast_size = 256;
        config.max_value_size = 64;
        config.max_key_size = 32;
        config.encryption = Some(crate::Encryption::new(crate::Keyring::new(
            crate::Key::from_bytes([7; 32]),
        )));
        let mut n = crate::testing::node_with(config.clone());
        let mut plain = config.clone();
        plain.encryption = None;
        // Chunk 0 of the largest transfer decoding allows: every other chunk
        // will be asked for again.
        let chunk = datagram(&[
            Message::State {
                session: 1,
                reply: false,
                fresh: true,
                chunk: 0,
                chunks: wire::MAX_STATE_CHUNKS,
            },
            update("y", 0, 0, alive(1)),
        ]);
        let sealed = crate::testing::seal(&config, 1, Instant::ZERO, &chunk);
        n.handle_message(Instant::ZERO, 1, &sealed).unwrap();
        drain_transmits(&mut n);
        let sent = run_silent(&mut n, Instant::from_secs(1));
        let resend = sent
            .iter()
            .filter(|(to, _)| *to == 1)
            .map(|(_, bytes)| crate::testing::open(&config, bytes))
            .find(|bytes| {
                wire::decode::<u32>(bytes, 0)
                    .unwrap()
                    .any(|m| m.unwrap().kind() == MessageKind::StateResend)
            })
            .expect("the missing chunks are asked for");
        assert!(resend.len() <= plain.payload_size());
        assert_eq!(n.stats().datagrams.transmits_unencodable, 0);
    }

    #[test]
    fn the_end_of_time_fires_each_due_timer_once_and_returns() {
        let mut n = with_three_members(crate::Config::lan());
        // Arm every part's timers: probes, gossip, broadcasts, key rumors.
        n.broadcast(Instant::from_secs(1), b"b").unwrap();
        n.set(Instant::from_secs(1), b"k", b"v").unwrap();
        drain_transmits(&mut n);
        n.handle_timeout(Instant::MAX);
        drain_transmits(&mut n);
        events(&mut n);
        assert!(n.now() < Instant::MAX);
        assert!(
            n.poll_timeout().is_none_or(|at| at > n.now()),
            "a deadline is due again at once: {:?}",
            n.poll_timeout()
        );
        n.handle_timeout(Instant::MAX);
        assert!(drain_transmits(&mut n).is_empty(), "nothing more was due");
    }

    #[test]
    fn an_unanswered_probe_goes_indirect_then_suspects_then_fails() {
        let mut n = with_three_members(crate::Config::lan());
        let sent = run_silent(&mut n, Instant::from_secs(3));
        let kinds: Vec<MessageKind> = sent
            .iter()
            .map(|(_, bytes)| {
                wire::decode::<u32>(bytes, 0)
                    .unwrap()
                    .next()
                    .unwrap()
                    .unwrap()
                    .kind()
            })
            .collect();
        assert!(kinds.contains(&MessageKind::Ping));
        assert!(kinds.contains(&MessageKind::IndirectPing), "{kinds:?}");
        assert!(n.stats().detection.probes_failed >= 1);
        assert!(
            events(&mut n)
                .iter()
                .any(|e| matches!(e, Event::MemberSuspected(_)))
        );
        // With 4 live members the minimum suspicion timeout is 4 · max(1, log10 4)
        // · 1 s = 4 s; a lone suspecter (nobody confirms) waits Lifeguard's
        // maximum, 6 times that. Meanwhile Lifeguard's local health stretches
        // the probe period (every probe fails and no nack arrives, which looks
        // like this node's own fault), so the last member is first probed
        // about 13 s in.
        run_silent(&mut n, Instant::from_secs(20));
        assert_eq!(
            events(&mut n)
                .iter()
                .filter(|e| matches!(e, Event::MemberFailed(_)))
                .count(),
            0
        );
        run_silent(&mut n, Instant::from_secs(60));
        let failed = events(&mut n)
            .into_iter()
            .filter(|e| matches!(e, Event::MemberFailed(_)))
            .count();
        assert_eq!(failed, 3, "nobody answers, so everyone fails");
        assert_eq!(n.live_members(), 1);
        assert_eq!(n.local_member().state(), MemberState::Alive, "never itself");
    }

    #[test]
    fn after_leaving_a_node_announces_it_then_ignores_everything() {
        let mut n = node();
        crate::testing::announce(&mut n, "a", 1);
        crate::testing::announce(&mut n, "b", 2);
        drain_transmits(&mut n);
        events(&mut n);
        n.leave(Instant::from_secs(1)).unwrap();
        let departures = |sent: &[(u32, Vec<u8>)]| {
            sent.iter()
                .filter(|(_, bytes)| {
                    wire::decode::<u32>(bytes, 0)
                        .unwrap()
                        .any(|m| m.unwrap().kind() == MessageKind::Left)
                })
                .count()
        };
        let out = drain_transmits(&mut n);
        assert_eq!(out.len(), 2, "one announcement to each live member");
        assert_eq!(departures(&out), 2);
        assert!(n.is_leaving(), "2 of the 4 transmissions of a rumor");
        assert!(events(&mut n).is_empty());
        // The next gossip round sends the other two; then nothing is due.
        let later = run_silent(&mut n, Instant::from_secs(2));
        assert_eq!(departures(&later), 2);
        assert!(!n.is_leaving());
        assert_eq!(events(&mut n), [Event::LeaveCompleted]);
        assert_eq!(n.poll_timeout(), None);
        assert_eq!(
            n.leave(Instant::from_secs(1)),
            Err(crate::LeaveError::AlreadyLeft)
        );
        n.handle_message(
            Instant::from_secs(2),
            1,
            &datagram(&[Message::Ping {
                seq: 1,
                target: "self",
            }]),
        )
        .unwrap();
        assert!(drain_transmits(&mut n).is_empty());
        assert_eq!(n.stats().datagrams.ignored_after_leave, 1);
        assert!(n.join(Instant::from_secs(3), &[1]).is_err());
    }

    #[test]
    fn metadata_is_bounded_and_announced_with_a_new_incarnation() {
        let mut n = node();
        let too_big = [0u8; 513];
        assert!(matches!(
            n.set_metadata(Instant::ZERO, &too_big),
            Err(crate::MetadataError::TooLarge { len: 513, max: 512 })
        ));
        n.set_metadata(Instant::ZERO, b"zone=a").unwrap();
        assert_eq!(n.local_member().incarnation(), 1);
        assert_eq!(n.local_member().metadata().as_bytes(), b"zone=a");
        assert_eq!(n.footprint().rumors, 1);
    }

    #[test]
    fn joining_needs_seeds_and_skips_its_own_address() {
        let mut n = node();
        assert_eq!(n.join(Instant::ZERO, &[]), Err(crate::JoinError::NoSeeds));
        n.join(Instant::ZERO, &[0]).unwrap();
        assert!(!n.is_joining(), "only itself: nothing to contact");
        n.join(Instant::ZERO, &[0, 4]).unwrap();
        assert!(n.is_joining());
        let out = drain_transmits(&mut n);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0, 4);
    }

    /// The join requests `sent` carries to `seed`, as (session, cookie).
    fn join_requests(sent: Vec<(u32, Vec<u8>)>, seed: u32) -> Vec<(u32, u64)> {
        crate::testing::messages(sent)
            .into_iter()
            .filter_map(|(to, m)| match m {
                Message::PushPull {
                    session,
                    join: true,
                    cookie,
                    ..
                } if to == seed => Some((session, cookie)),
                _ => None,
            })
            .collect()
    }

    /// A seed that answers with a cookie is up: if the exchange is then lost,
    /// the joiner tries again after the initial interval rather than the
    /// doubled backoff meant for seeds that do not answer (at 10% loss a
    /// joiner that got its seed's cookie at 31 s and lost the rest of the
    /// exchange waited until 61 s for its seventh attempt).
    #[test]
    fn a_join_answered_with_a_cookie_retries_after_the_initial_interval() {
        let mut n = node();
        n.join(Instant::ZERO, &[4]).unwrap();
        let first = join_requests(drain_transmits(&mut n), 4);
        let [(session, 0)] = first[..] else {
            panic!("{first:?}")
        };
        // Unanswered: attempts at 1 s, then 3 s.
        assert_eq!(
            join_requests(crate::testing::run_until(&mut n, Instant::from_secs(1)), 4).len(),
            1
        );
        let cookie = datagram(&[Message::Cookie {
            session,
            cookie: 77,
        }]);
        n.handle_message(Instant::from_millis(1_100), 4, &cookie)
            .unwrap();
        assert_eq!(join_requests(drain_transmits(&mut n), 4), [(session, 77)]);
        // The answer to that is lost: the next attempt 1 s after the cookie,
        // then doubling again while the seed stays silent.
        for (until, attempts) in [
            (2_099, 0),
            (2_100, 1),
            (3_099, 0),
            (3_100, 1),
            (5_099, 0),
            (5_100, 1),
        ] {
            let sent = crate::testing::run_until(&mut n, Instant::from_millis(until));
            assert_eq!(join_requests(sent, 4).len(), attempts, "by {until} ms");
        }
        assert!(n.is_joining());
    }

    #[test]
    fn every_datagram_fits_the_packet_size_even_with_many_rumors() {
        let mut n = node();
        let names: Vec<alloc::string::String> =
            (0..300).map(|i| alloc::format!("member-{i:04}")).collect();
        for chunk in names.chunks(50) {
            let updates: Vec<_> = chunk
                .iter()
                .enumerate()
                .map(|(i, name)| update(name, 0, 0, alive(i as u32 + 1)))
                .collect();
            gossip(&mut n, 0, &updates);
        }
        for addr in 1..=50 {
            // Heard from: gossip partners.
            let hello = datagram(&[Message::Ack { seq: 0 }]);
            n.handle_message(Instant::ZERO, addr, &hello).unwrap();
        }
        let sent = run_silent(&mut n, Instant::from_secs(2));
        assert!(sent.len() > 10);
        for (_, bytes) in &sent {
            assert!(bytes.len() <= 1400, "{} bytes", bytes.len());
        }
        assert!(
            sent.iter().any(|(_, bytes)| bytes.len() > 1300),
            "datagrams are filled"
        );
    }
}
