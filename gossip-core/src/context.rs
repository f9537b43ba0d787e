//! What a part borrows from its node for one input.

use alloc::collections::VecDeque;

use rand_core::Rng;

use crate::stats::Stats;
use crate::time::{Instant, WallClock};

/// What a part (the membership, the broadcasts, the replica) borrows from
/// its node for one input: the time, the generator, the counters, and the
/// room left for datagrams.
pub(crate) struct Env<'a, R> {
    /// The node's time, never earlier than any time it was given before.
    pub(crate) now: Instant,
    /// The node's wall clock, for stamps that other members compare.
    pub(crate) wall: WallClock,
    pub(crate) rng: &'a mut R,
    pub(crate) stats: &'a mut Stats,
    /// How many more datagrams may be queued, by any part, before the
    /// application drains them: `max_pending_transmits` less what all the
    /// parts' queues hold when the input began.
    pub(crate) transmit_room: usize,
}

impl<R> Env<'_, R> {
    /// Queues `datagram` on a part's `queue` if the node's one budget of
    /// undrained datagrams has room; otherwise drops it and counts it in
    /// `transmits_dropped`. The budget is shared first come, first served:
    /// an application that does not drain stops every part alike. Returns
    /// whether it was queued.
    pub(crate) fn queue_transmit<T>(&mut self, queue: &mut VecDeque<T>, datagram: T) -> bool {
        if self.transmit_room == 0 {
            self.stats.datagrams.transmits_dropped += 1;
            return false;
        }
        self.transmit_room -= 1;
        queue.push_back(datagram);
        true
    }
}

/// What the broadcasts and the replica see of the membership: who is live,
/// and whom to gossip with. The membership implements it; the node lends
/// it to the other parts for one input.
/// Gossip partners' addresses: a handful, so inline.
pub(crate) type Partners<A> = smallvec::SmallVec<[A; 4]>;

pub(crate) trait Peers<A> {
    /// Alive and suspect members, this node included.
    fn live_members(&self) -> usize;
    /// True if `addr` is an alive or suspect member's.
    fn is_live(&self, addr: &A) -> bool;
    /// Addresses of up to `count` live gossip partners (this node excluded),
    /// chosen as `peer_selection` says; a fanout of up to four allocates
    /// nothing.
    fn sample_live<R: Rng>(&self, rng: &mut R, count: usize) -> Partners<A>;
}
