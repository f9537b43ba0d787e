//! Network topology: Vivaldi coordinates learnt from the round trips of
//! probes, and gossip partners chosen near rather than anywhere.
//!
//! A ping asks for the target's [`Coordinate`] when the prober holds none,
//! or an unsettled, old or wrong one, and the ack then carries it (about 13
//! bytes on a LAN); the prober moves its own coordinate by the round trip of
//! each direct ack, against the copy it holds. Once coordinates settle, the distance between two of them
//! predicts the round trip between their members
//! ([`Node::estimated_rtt`](crate::Node::estimated_rtt)) without probing.
//! With [`PeerSelection::Nearby`], gossip, pulls and anti-entropy prefer near
//! members, which keeps most traffic inside a datacentre, while probes stay
//! uniform so that failure detection is unaffected.

mod coordinate;
mod vivaldi;

pub use self::coordinate::{Coordinate, DIMENSIONS, MAX_ERROR, WIRE_UNIT_SECS};
pub(crate) use self::vivaldi::{Sample, Vivaldi};

/// How a node chooses whom to gossip to (rumor pushes, broadcast pulls and
/// anti-entropy of the replicated store). Probing, indirect probes and the
/// membership's push-pull exchanges always choose uniformly: failure
/// detection and partition healing must not depend on where members are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PeerSelection {
    /// Uniformly among the members (the default).
    #[default]
    Uniform,
    /// Demers et al.'s spatial partner choice: each partner is, with
    /// probability `far_percent`%, a uniformly random member, and otherwise
    /// the nearest (by estimated round trip) of `candidates` members drawn at
    /// random. The random share carries every rumor across datacentres in a
    /// round or two, and the nearest-of-several draw keeps the rest local
    /// without a distance threshold to tune: in a cluster spread evenly over
    /// five datacentres, 16 candidates miss the local one 3% of the time.
    /// Members whose coordinates are not yet known count as far. Needs
    /// [`Config::coordinates`](crate::Config::coordinates).
    Nearby {
        /// Members drawn per partner, of which the nearest is chosen (1 to 64).
        candidates: u8,
        /// Share of partners chosen uniformly instead, in percent (1 to 100).
        far_percent: u8,
    },
}

impl PeerSelection {
    /// [`PeerSelection::Nearby`] with 16 candidates and 10% far partners: in
    /// the simulator's five datacentres (250 nodes, `Config::wan`) it cuts
    /// the bytes that cross between datacentres while broadcasts spread by
    /// 4.9–5.1× (20 seeds), and the slowest broadcast takes 0.9–1.2× the
    /// rounds it takes with uniform partners.
    pub const NEARBY: PeerSelection = PeerSelection::Nearby {
        candidates: NEAR_CANDIDATES,
        far_percent: FAR_PERCENT,
    };
}

/// [`PeerSelection::NEARBY`]'s candidates per partner.
pub const NEAR_CANDIDATES: u8 = 16;
/// [`PeerSelection::NEARBY`]'s share of uniformly chosen partners, in percent.
pub const FAR_PERCENT: u8 = 10;
