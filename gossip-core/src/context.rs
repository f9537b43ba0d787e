//! What a part borrows from its node for one input.

use crate::stats::Stats;
use crate::time::{Instant, WallClock};

/// What a part (the membership, the broadcasts, the replica) borrows from
/// its node for one input: the time, the generator, the counters.
pub(crate) struct Env<'a, R> {
    /// The node's time, never earlier than any time it was given before.
    pub(crate) now: Instant,
    /// The node's wall clock, for stamps that other members compare.
    pub(crate) wall: WallClock,
    pub(crate) rng: &'a mut R,
    pub(crate) stats: &'a mut Stats,
}
