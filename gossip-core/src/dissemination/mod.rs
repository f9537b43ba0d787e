//! Epidemic dissemination: member updates and user broadcasts, spread as rumors
//! piggybacked on every datagram with room to spare and pushed by gossip rounds,
//! and, for broadcasts, pulled by members that missed them.

mod broadcasts;
mod digest;

pub use broadcasts::{Broadcast, BroadcastId};
pub(crate) use broadcasts::{BroadcastTransmit, Broadcasts};

/// How user broadcasts spread (Demers et al. 1987; Karp et al. 2000). Member
/// updates are always pushed.
///
/// | mode | a gossip round | a pull round | a member that missed a broadcast |
/// |---|---|---|---|
/// | `Push` | sends new broadcasts to `gossip_fanout` members | — | misses it |
/// | `Pull` | — | asks `pull_fanout` members for what it lacks | gets it at its next pull |
/// | `PushPull` | sends new broadcasts | asks, and sends its own new ones along | gets it at its next pull |
///
/// In the push modes broadcasts are also piggybacked on probes and acks, after
/// member updates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Dissemination {
    /// Rumor mongering: a member that hears something new pushes it to random
    /// members until it loses interest (see [`Termination`]). Costs nothing
    /// when nothing happens; a member that misses every push misses the
    /// broadcast.
    Push,
    /// Every `pull_interval` a member sends a compact digest (a Bloom filter) of
    /// the broadcasts it has heard to `pull_fanout` random members, which answer
    /// with what it is missing. Slow to start (the first pulls find nothing),
    /// fast to finish, and it recovers what loss and partitions took, as long as
    /// the broadcast is retained.
    Pull,
    /// Both: pushes spread a broadcast fast, pulls finish the job and recover
    /// what was missed. The default.
    #[default]
    PushPull,
}

impl Dissemination {
    /// True if broadcasts are pushed (rumor mongering).
    pub fn pushes(self) -> bool {
        matches!(self, Dissemination::Push | Dissemination::PushPull)
    }

    /// True if members pull what they miss.
    pub fn pulls(self) -> bool {
        matches!(self, Dissemination::Pull | Dissemination::PushPull)
    }
}

/// When a member of a pull mode pulls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PullSchedule {
    /// Only while there is something to ask for. A member that holds
    /// broadcasts (within their retention) pulls from `pull_fanout` random
    /// members every `pull_interval`, as on the periodic schedule. A member
    /// that holds none pulls only when a probe or an ack shows that its
    /// sender holds some: while a member holds broadcasts its probes and
    /// acks carry a digest of them (10 bytes), and a member holding none
    /// that hears one pulls from the sender, at most once per
    /// `pull_interval`. A member that missed the only broadcast learns it
    /// within a probe or two (each takes part in about two a second); a
    /// cluster with nothing held sends no pulls and no digests. The default.
    #[default]
    WhileActive,
    /// Every `pull_interval`, from `pull_fanout` random members, whether or
    /// not anything differs: Demers et al.'s anti-entropy, for holding
    /// dissemination against the theory in synchronous rounds.
    Periodic,
}

/// When a member stops pushing a broadcast (loses interest in the rumor), as in
/// Demers et al. 1987, "Epidemic algorithms for replicated database
/// maintenance". Pulls are not affected: a retained broadcast is given to whoever
/// asks for it until its retention time ends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Termination {
    /// Each broadcast is pushed `retransmit_mult · ceil(log10(n + 1))` times, as
    /// member updates are (memberlist's rule). The default.
    #[default]
    RetransmitLimit,
    /// Feedback and counter: a receiver that already had a pushed broadcast says
    /// so, and the sender stops after `k` such unnecessary contacts.
    FeedbackCounter {
        /// Unnecessary contacts before a member loses interest.
        k: u32,
    },
    /// Blind and coin: after each push, the sender loses interest with
    /// probability `1/k`, without feedback.
    BlindCoin {
        /// The inverse of the probability of losing interest after a push.
        k: u32,
    },
}
