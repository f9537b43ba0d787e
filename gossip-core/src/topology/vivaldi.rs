//! This node's Vivaldi coordinate and what it knows of its members': updated
//! from the round trips of its probes, as Serf's `coordinate.Client` does.

use core::time::Duration;

use foldhash::fast::FixedState;
use hashbrown::HashMap;

use super::coordinate::{
    Coordinate, DIMENSIONS, MAX_ERROR, MAX_RTT_SECS, ZERO_THRESHOLD, magnitude,
};
use crate::identity::NodeName;
use crate::rumor_queue::Encoded;
use crate::time::Instant;
use crate::wire::Message;

/// How much a sample moves the error estimate (Vivaldi's c_e).
const ERROR_GAIN: f64 = 0.25;
/// How much a sample moves the coordinate (Vivaldi's c_c).
const MOVE_GAIN: f64 = 0.25;
/// Samples averaged into the adjustment term.
const ADJUSTMENT_WINDOW: usize = 20;
/// Round trips to one member of which the median is used: one slow answer
/// does not throw the coordinate.
const LATENCY_FILTER: usize = 3;
/// Gravity's reach, in seconds: a coordinate this far from the origin is
/// pulled back by a force of one second (Serf's `GravityRho`), so that the
/// whole cluster's coordinates do not drift away together.
const GRAVITY_RHO: f64 = 150.0;

/// A member's coordinate is asked for again once the copy held is this old:
/// coordinates drift slowly once settled, and a copy this old still
/// predicts within the noise; a member that moved shows sooner, by
/// [`MISPREDICTION`].
pub(crate) const COORDINATE_REFRESH: Duration = Duration::from_secs(600);
/// A member whose copy has an error estimate above this has not settled: its
/// coordinate still moves from probe to probe, so every probe asks for it.
const SETTLED_ERROR: f64 = 0.2;
/// A round trip this many times further from the prediction than this
/// node's error estimate says the member's copy is stale: it is asked for
/// again at the next probe.
const MISPREDICTION: f64 = 3.0;
/// The least error estimate [`MISPREDICTION`] is held to: a node that
/// believes itself exact does not take every jitter for a move.
const MIN_MISPREDICTION_ERROR: f64 = 0.1;

/// What this node knows of one member's position.
#[derive(Clone, Debug)]
struct Peer {
    coordinate: Coordinate,
    /// When the copy arrived.
    heard_at: Instant,
    /// A round trip measured against it was far off the prediction.
    mispredicted: bool,
    /// The last round trips measured to it, in seconds, oldest first.
    rtts: [f64; LATENCY_FILTER],
    samples: usize,
}

/// This node's coordinate and its members'.
pub(crate) struct Vivaldi {
    local: Coordinate,
    /// `local` as its message travels, encoded once per change rather than
    /// once per ping and ack.
    local_message: Encoded,
    adjustment_samples: [f64; ADJUSTMENT_WINDOW],
    adjustment_next: usize,
    peers: HashMap<NodeName, Peer, FixedState>,
    /// Seeds the directions chosen where two coordinates coincide.
    direction_seed: u64,
    updates: u64,
}

/// The outcome of a round-trip sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sample {
    Applied,
    /// Longer than any network round trip (a stall), or this node's
    /// coordinate would have become invalid: discarded.
    Discarded,
}

impl Vivaldi {
    /// `seed` keys the table's hash and the directions chosen where
    /// coordinates coincide.
    pub(crate) fn new(seed: u64) -> Self {
        Vivaldi {
            local: Coordinate::default(),
            local_message: message_of(&Coordinate::default()),
            adjustment_samples: [0.0; ADJUSTMENT_WINDOW],
            adjustment_next: 0,
            peers: HashMap::with_hasher(FixedState::with_seed(seed)),
            direction_seed: seed.rotate_left(32),
            updates: 0,
        }
    }

    pub(crate) fn local(&self) -> &Coordinate {
        &self.local
    }

    /// This node's coordinate, encoded as probes and acks carry it.
    pub(crate) fn local_message(&self) -> &Encoded {
        &self.local_message
    }

    pub(crate) fn coordinate_of(&self, name: &str) -> Option<&Coordinate> {
        self.peers.get(name).map(|peer| &peer.coordinate)
    }

    /// The predicted round trip to `name`, in seconds, if its coordinate is known.
    pub(crate) fn distance_to(&self, name: &str) -> Option<f64> {
        self.coordinate_of(name)
            .map(|other| self.local.distance_to(other))
    }

    pub(crate) fn estimated_rtt(&self, name: &str) -> Option<Duration> {
        self.coordinate_of(name)
            .map(|other| self.local.estimated_rtt(other))
    }

    pub(crate) fn known(&self) -> usize {
        self.peers.len()
    }

    /// True if a probe of `name` should ask for its coordinate: none is
    /// held, the member had not settled ([`SETTLED_ERROR`]), the copy is
    /// [`COORDINATE_REFRESH`] old, or a round trip showed it stale.
    pub(crate) fn wants_coordinate(&self, name: &str, now: Instant) -> bool {
        self.peers.get(name).is_none_or(|peer| {
            peer.mispredicted
                || peer.coordinate.error > SETTLED_ERROR
                || now.saturating_duration_since(peer.heard_at) >= COORDINATE_REFRESH
        })
    }

    /// Remembers where member `name` says it is, at `now`.
    pub(crate) fn heard(&mut self, name: &NodeName, coordinate: Coordinate, now: Instant) {
        match self.peers.get_mut(name.as_str()) {
            Some(peer) => {
                peer.coordinate = coordinate;
                peer.heard_at = now;
                peer.mispredicted = false;
            }
            None => {
                self.peers.insert(
                    name.clone(),
                    Peer {
                        coordinate,
                        heard_at: now,
                        mispredicted: false,
                        rtts: [0.0; LATENCY_FILTER],
                        samples: 0,
                    },
                );
            }
        }
    }

    /// Forgets a member that left the table.
    pub(crate) fn forget(&mut self, name: &str) {
        self.peers.remove(name);
    }

    /// A round trip of `rtt` measured to member `name`, whose coordinate was
    /// just [`heard`](Self::heard): moves this node's coordinate (Vivaldi's
    /// spring relaxation, with Serf's latency filter, adjustment and gravity).
    pub(crate) fn observe(&mut self, name: &str, rtt: Duration) -> Sample {
        let rtt = rtt.as_secs_f64();
        if rtt > MAX_RTT_SECS {
            return Sample::Discarded;
        }
        let Some(peer) = self.peers.get_mut(name) else {
            return Sample::Discarded;
        };
        peer.rtts.rotate_left(1);
        peer.rtts[LATENCY_FILTER - 1] = rtt;
        peer.samples += 1;
        let rtt = median(&peer.rtts[LATENCY_FILTER - peer.samples.min(LATENCY_FILTER)..]);
        let other = peer.coordinate.clone();
        let predicted = self.local.distance_to(&other);
        let wrongness = (predicted - rtt).abs() / rtt.max(ZERO_THRESHOLD);
        if wrongness > MISPREDICTION * self.local.error.max(MIN_MISPREDICTION_ERROR) {
            peer.mispredicted = true;
        }
        let before = (
            self.local.clone(),
            self.adjustment_samples,
            self.adjustment_next,
        );
        self.update_coordinate(&other, rtt);
        self.update_adjustment(&other, rtt);
        self.update_gravity();
        if !self.local.is_sane() {
            // A sample that would throw the coordinate out of range is
            // dropped whole rather than poison every estimate.
            (self.local, self.adjustment_samples, self.adjustment_next) = before;
            return Sample::Discarded;
        }
        self.updates += 1;
        self.local_message = message_of(&self.local);
        Sample::Applied
    }

    fn update_coordinate(&mut self, other: &Coordinate, rtt: f64) {
        let rtt = rtt.max(ZERO_THRESHOLD);
        let distance = self.local.distance_to(other);
        let wrongness = (distance - rtt).abs() / rtt;
        let total_error = (self.local.error + other.error).max(ZERO_THRESHOLD);
        let weight = self.local.error / total_error;
        self.local.error = (ERROR_GAIN * weight * wrongness
            + self.local.error * (1.0 - ERROR_GAIN * weight))
            .min(MAX_ERROR);
        let force = MOVE_GAIN * weight * (rtt - distance);
        let direction = self.direction();
        self.local.apply_force(force, other, || direction);
    }

    fn update_adjustment(&mut self, other: &Coordinate, rtt: f64) {
        self.adjustment_samples[self.adjustment_next] = rtt - self.local.raw_distance_to(other);
        self.adjustment_next = (self.adjustment_next + 1) % ADJUSTMENT_WINDOW;
        let sum: f64 = self.adjustment_samples.iter().sum();
        self.local.adjustment = sum / (2.0 * ADJUSTMENT_WINDOW as f64);
    }

    fn update_gravity(&mut self) {
        let origin = Coordinate {
            height: super::coordinate::MIN_HEIGHT,
            ..Coordinate::default()
        };
        let distance = self.local.distance_to(&origin);
        let force = -libm::pow(distance / GRAVITY_RHO, 2.0);
        let direction = self.direction();
        self.local.apply_force(force, &origin, || direction);
    }

    /// A pseudo-random unit vector, for when two coordinates coincide (every
    /// coordinate starts at the origin). Derived from a seed and a counter
    /// rather than drawn from the node's generator, so that turning
    /// coordinates on does not shift anything else a seeded run draws.
    fn direction(&self) -> [f64; DIMENSIONS] {
        let mut state = self.direction_seed ^ self.updates.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let mut vector: [f64; DIMENSIONS] = core::array::from_fn(|_| {
            state = splitmix64(state);
            (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        });
        let length = magnitude(&vector);
        if length > ZERO_THRESHOLD {
            vector.iter_mut().for_each(|c| *c /= length);
        } else {
            vector = [0.0; DIMENSIONS];
            vector[0] = 1.0;
        }
        vector
    }
}

fn message_of(coordinate: &Coordinate) -> Encoded {
    Encoded::new::<()>(&Message::Coordinate(coordinate.to_wire()))
}

fn splitmix64(state: u64) -> u64 {
    let mut z = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The median of one to three samples.
fn median(samples: &[f64]) -> f64 {
    let mut sorted = [0.0; LATENCY_FILTER];
    sorted[..samples.len()].copy_from_slice(samples);
    let sorted = &mut sorted[..samples.len()];
    sorted.sort_unstable_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::vec::Vec;

    fn name(i: usize) -> NodeName {
        NodeName::new(&format!("n{i}")).unwrap()
    }

    /// Nodes on a line, 10 ms apart, each with a 1 ms access link: every
    /// pair's true RTT is `10 ms · |i − j| + 2 ms`, an embedding Vivaldi
    /// with heights can learn exactly.
    fn true_rtt(i: usize, j: usize) -> Duration {
        Duration::from_micros(10_000 * i.abs_diff(j) as u64 + 2_000)
    }

    #[test]
    fn coordinates_learn_a_simple_network_from_round_trips() {
        let n = 8;
        let mut nodes: Vec<Vivaldi> = (0..n).map(|i| Vivaldi::new(i as u64)).collect();
        let mut state = 7u64;
        for _ in 0..3_000 {
            state = splitmix64(state);
            let i = (state % n as u64) as usize;
            let j = ((state >> 32) % n as u64) as usize;
            if i == j {
                continue;
            }
            let theirs = nodes[j].local().clone();
            nodes[i].heard(&name(j), theirs, Instant::ZERO);
            assert_eq!(
                nodes[i].observe(name(j).as_str(), true_rtt(i, j)),
                Sample::Applied
            );
        }
        let mut errors = Vec::new();
        for (i, node) in nodes.iter().enumerate() {
            assert!(node.local().error() < 0.2, "{}", node.local().error());
            for j in (0..n).filter(|&j| j != i) {
                let estimate = node.local().estimated_rtt(nodes[j].local()).as_secs_f64();
                let truth = true_rtt(i, j).as_secs_f64();
                errors.push((estimate - truth).abs() / truth);
            }
        }
        errors.sort_by(f64::total_cmp);
        let median = errors[errors.len() / 2];
        assert!(median < 0.05, "median relative error {median}");
    }

    /// A probe asks for a member's coordinate when none is held, when the
    /// member had not settled, when the copy is ten minutes old, and when a
    /// round trip far off the prediction shows it stale; not otherwise.
    #[test]
    fn a_coordinate_is_asked_for_only_when_the_copy_held_is_missing_unsettled_old_or_wrong() {
        let b = name(1);
        let settled = |x_units: i32| {
            Coordinate::from_wire(&crate::wire::CoordinateRecord {
                vector: [x_units, 0, 0, 0, 0, 0, 0, 0],
                height: 100,
                adjustment: 0,
                error: 100,
            })
            .unwrap()
        };
        let mut a = Vivaldi::new(1);
        // `a` settled 10 ms from `b`'s coordinate.
        a.local = settled(1_000 - 200);
        a.local.error = 0.1;
        let t0 = Instant::from_secs(100);
        assert!(a.wants_coordinate("n1", t0), "none held");
        a.heard(&b, Coordinate::default(), t0);
        assert!(a.wants_coordinate("n1", t0), "unsettled: the default error");
        a.heard(&b, settled(1_000), t0);
        assert!(!a.wants_coordinate("n1", t0));
        let predicted = a.local.distance_to(&settled(1_000));
        let rtt = Duration::from_secs_f64(predicted);
        assert_eq!(a.observe("n1", rtt), Sample::Applied);
        assert!(!a.wants_coordinate("n1", t0 + Duration::from_secs(599)));
        assert!(a.wants_coordinate("n1", t0 + COORDINATE_REFRESH), "old");
        // Heard again, then a round trip five times the prediction.
        a.heard(&b, settled(1_000), t0);
        for _ in 0..3 {
            a.observe("n1", rtt * 5);
        }
        assert!(a.wants_coordinate("n1", t0), "wrong");
        a.heard(&b, settled(1_000), t0);
        assert!(!a.wants_coordinate("n1", t0), "told again");
    }

    #[test]
    fn the_median_of_the_last_three_round_trips_is_used() {
        let mut a = Vivaldi::new(1);
        let b = name(1);
        a.heard(&b, Coordinate::default(), Instant::ZERO);
        for rtt in [10, 10, 10] {
            a.observe(b.as_str(), Duration::from_millis(rtt));
        }
        let settled = a.local().clone();
        let mut spiked = Vivaldi::new(1);
        spiked.heard(&b, Coordinate::default(), Instant::ZERO);
        for rtt in [10, 10, 900] {
            spiked.observe(b.as_str(), Duration::from_millis(rtt));
        }
        assert_eq!(
            spiked.local(),
            &settled,
            "one slow answer among three moves nothing"
        );
    }

    #[test]
    fn stalls_and_unknown_members_are_not_samples() {
        let mut a = Vivaldi::new(1);
        assert_eq!(a.observe("x", Duration::from_millis(5)), Sample::Discarded);
        a.heard(&name(1), Coordinate::default(), Instant::ZERO);
        assert_eq!(
            a.observe(name(1).as_str(), Duration::from_secs(11)),
            Sample::Discarded
        );
        assert_eq!(a.local(), &Coordinate::default());
        a.forget(name(1).as_str());
        assert_eq!(a.known(), 0);
        assert_eq!(a.estimated_rtt(name(1).as_str()), None);
    }
}
