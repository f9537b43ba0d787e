//! The simulated network: how long a datagram takes, and whether it arrives.

use std::collections::HashMap;
use std::time::Duration;

use rand_core::Rng;
use serde::{Deserialize, Serialize};

use crate::geometry::Geometry;

/// Identifies a simulated node; also its network address.
pub type NodeId = u32;

/// One-way delay of a datagram, before jitter.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Latency {
    /// Always the same.
    Fixed(#[serde(with = "crate::units::duration")] Duration),
    /// Uniform between `min` and `max`.
    Uniform {
        /// Shortest delay.
        #[serde(with = "crate::units::duration")]
        min: Duration,
        /// Longest delay.
        #[serde(with = "crate::units::duration")]
        max: Duration,
    },
    /// Long-tailed: Pareto with scale `min` and shape `shape` (smaller is heavier;
    /// 1.5 gives a median of 1.6 × `min` and a 99th percentile of 21 × `min`),
    /// capped at `max`.
    Pareto {
        /// The smallest delay and scale of the distribution.
        #[serde(with = "crate::units::duration")]
        min: Duration,
        /// The tail index α.
        shape: f64,
        /// No delay exceeds this.
        #[serde(with = "crate::units::duration")]
        max: Duration,
    },
}

impl Latency {
    fn sample<R: Rng>(&self, rng: &mut R) -> Duration {
        match *self {
            Latency::Fixed(d) => d,
            Latency::Uniform { min, max } => min + (max.saturating_sub(min)).mul_f64(unit(rng)),
            Latency::Pareto { min, shape, max } => {
                let u = 1.0 - unit(rng); // in (0, 1]
                min.mul_f64(u.powf(-1.0 / shape)).min(max)
            }
        }
    }
}

/// Bursty loss as a two-state Markov chain (Gilbert–Elliott), stepped once per
/// datagram a node sends: each node's outgoing path is good or bad, and loses
/// datagrams at the rate of its state.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct GilbertElliott {
    /// Chance per datagram of going from good to bad.
    pub good_to_bad: f64,
    /// Chance per datagram of going from bad to good (1 / mean burst length).
    pub bad_to_good: f64,
    /// Loss rate while good.
    pub loss_good: f64,
    /// Loss rate while bad.
    pub loss_bad: f64,
}

impl GilbertElliott {
    /// A chain that loses `mean_loss` of datagrams on average, in bursts of
    /// `burst_len` datagrams on average during which `loss_bad` are lost.
    pub fn with_mean(mean_loss: f64, burst_len: f64, loss_bad: f64) -> Self {
        let bad_to_good = 1.0 / burst_len.max(1.0);
        // Stationary share of bad = mean_loss / loss_bad = g2b / (g2b + b2g).
        let bad_share = (mean_loss / loss_bad).clamp(0.0, 0.999);
        let good_to_bad = bad_share * bad_to_good / (1.0 - bad_share);
        GilbertElliott {
            good_to_bad,
            bad_to_good,
            loss_good: 0.0,
            loss_bad,
        }
    }

    /// The long-run loss rate.
    pub fn mean_loss(&self) -> f64 {
        let bad = self.good_to_bad / (self.good_to_bad + self.bad_to_good);
        bad * self.loss_bad + (1.0 - bad) * self.loss_good
    }
}

/// A network model, configured fluently:
///
/// ```
/// use gossip_sim::{Latency, Network};
/// use std::time::Duration;
/// let network = Network::default()
///     .latency(Latency::Uniform { min: Duration::from_millis(1), max: Duration::from_millis(5) })
///     .jitter(Duration::from_millis(1))
///     .loss(0.05)
///     .duplicate(0.01);
/// ```
#[derive(Clone, Debug)]
pub struct Network {
    latency: Latency,
    /// Replaces `latency` when set: delays follow the datacentres' RTTs.
    geometry: Option<Geometry>,
    jitter: Duration,
    loss: f64,
    bursts: Option<GilbertElliott>,
    duplicate: f64,
    reorder: f64,
    reorder_delay: Duration,
    link_loss: HashMap<(NodeId, NodeId), f64>,
    outbound_loss: HashMap<NodeId, f64>,
    inbound_loss: HashMap<NodeId, f64>,
    /// `group_of[node]` while partitioned.
    partition: Option<Vec<u32>>,
    /// Per node: whether its outgoing path is in the bad state.
    burst_state: Vec<bool>,
}

/// The default network, a LAN: 1 ms one way, up to 1 ms of jitter.
pub(crate) const LAN_LATENCY: Latency = Latency::Fixed(Duration::from_millis(1));
pub(crate) const LAN_JITTER: Duration = Duration::from_millis(1);
/// How long a reordered datagram is held back at most, unless told otherwise.
pub(crate) const DEFAULT_REORDER_DELAY: Duration = Duration::from_millis(50);

impl Default for Network {
    /// A LAN: 1 ms one way, up to 1 ms of jitter, nothing lost.
    fn default() -> Self {
        Network {
            latency: LAN_LATENCY,
            geometry: None,
            jitter: LAN_JITTER,
            loss: 0.0,
            bursts: None,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: DEFAULT_REORDER_DELAY,
            link_loss: HashMap::new(),
            outbound_loss: HashMap::new(),
            inbound_loss: HashMap::new(),
            partition: None,
            burst_state: Vec::new(),
        }
    }
}

impl Network {
    /// One-way delay before jitter.
    pub fn latency(mut self, latency: Latency) -> Self {
        self.latency = latency;
        self
    }

    /// Places the nodes in datacentres: a datagram's delay before `jitter`
    /// becomes half the RTT between its sender's and receiver's datacentres
    /// (see [`Geometry`]) instead of `latency`. Loss, duplication, reordering and
    /// partitions apply as before.
    pub fn geometry(mut self, geometry: Geometry) -> Self {
        self.geometry = Some(geometry);
        self
    }

    /// The geometry the delays follow, if one was set.
    pub fn geometry_ref(&self) -> Option<&Geometry> {
        self.geometry.as_ref()
    }

    /// Extra delay, uniform in `0..jitter`, drawn per datagram.
    pub fn jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self
    }

    /// Probability that a datagram is lost, independently of all others.
    pub fn loss(mut self, loss: f64) -> Self {
        self.loss = loss;
        self
    }

    /// Bursty loss on every node's outgoing path, on top of uniform loss.
    pub fn bursts(mut self, bursts: GilbertElliott) -> Self {
        self.bursts = Some(bursts);
        self
    }

    /// Probability that a datagram arrives twice (each copy delayed on its own).
    pub fn duplicate(mut self, probability: f64) -> Self {
        self.duplicate = probability;
        self
    }

    /// Probability that a datagram is held back by up to `delay` more, so that
    /// later datagrams overtake it.
    pub fn reorder(mut self, probability: f64, delay: Duration) -> Self {
        self.reorder = probability;
        self.reorder_delay = delay;
        self
    }

    /// Loss on the directed link `from → to`, replacing the uniform rate there.
    pub fn link_loss(mut self, from: NodeId, to: NodeId, loss: f64) -> Self {
        self.link_loss.insert((from, to), loss);
        self
    }

    /// Loss of everything `node` sends, replacing the uniform rate.
    pub fn outbound_loss(mut self, node: NodeId, loss: f64) -> Self {
        self.outbound_loss.insert(node, loss);
        self
    }

    /// Loss of everything sent to `node`, replacing the uniform rate.
    pub fn inbound_loss(mut self, node: NodeId, loss: f64) -> Self {
        self.inbound_loss.insert(node, loss);
        self
    }

    pub(crate) fn set_loss(&mut self, loss: f64) {
        self.loss = loss;
    }

    /// Cuts the network into groups: `group_of[node]` names each node's group, and
    /// datagrams between different groups are lost.
    pub(crate) fn partition(&mut self, group_of: Vec<u32>) {
        self.partition = Some(group_of);
    }

    pub(crate) fn heal(&mut self) {
        self.partition = None;
    }

    pub(crate) fn is_partitioned(&self) -> bool {
        self.partition.is_some()
    }

    /// The partition's group of each node, while partitioned.
    pub(crate) fn groups(&self) -> Option<&[u32]> {
        self.partition.as_deref()
    }

    fn reachable(&self, from: NodeId, to: NodeId) -> bool {
        match &self.partition {
            None => true,
            Some(groups) => groups.get(from as usize) == groups.get(to as usize),
        }
    }

    fn loss_rate(&self, from: NodeId, to: NodeId) -> f64 {
        if let Some(&loss) = self.link_loss.get(&(from, to)) {
            return loss;
        }
        match (self.outbound_loss.get(&from), self.inbound_loss.get(&to)) {
            (Some(&a), Some(&b)) => 1.0 - (1.0 - a) * (1.0 - b),
            (Some(&a), None) | (None, Some(&a)) => a,
            (None, None) => self.loss,
        }
    }

    /// Whether the bursty chain of `from` loses this datagram (and steps it).
    fn burst_loses<R: Rng>(&mut self, rng: &mut R, from: NodeId) -> bool {
        let Some(chain) = self.bursts else {
            return false;
        };
        let from = from as usize;
        if self.burst_state.len() <= from {
            self.burst_state.resize(from + 1, false);
        }
        let bad = self.burst_state[from];
        let flip = if bad {
            chain.bad_to_good
        } else {
            chain.good_to_bad
        };
        if unit(rng) < flip {
            self.burst_state[from] = !bad;
        }
        let rate = if self.burst_state[from] {
            chain.loss_bad
        } else {
            chain.loss_good
        };
        unit(rng) < rate
    }

    /// The delays after which copies of a datagram sent now from `from` to `to`
    /// arrive: none if it is lost, two if it is duplicated.
    pub(crate) fn transit<R: Rng>(&mut self, rng: &mut R, from: NodeId, to: NodeId) -> Arrivals {
        let mut arrivals = Arrivals::default();
        if !self.reachable(from, to) {
            return arrivals;
        }
        let lost_in_burst = self.burst_loses(rng, from);
        let loss = self.loss_rate(from, to);
        if lost_in_burst || (loss > 0.0 && unit(rng) < loss) {
            return arrivals;
        }
        arrivals.push(self.delay(rng, from, to));
        if self.duplicate > 0.0 && unit(rng) < self.duplicate {
            arrivals.push(self.delay(rng, from, to));
        }
        arrivals
    }

    fn delay<R: Rng>(&self, rng: &mut R, from: NodeId, to: NodeId) -> Duration {
        let mut delay = match &self.geometry {
            Some(geometry) => geometry.one_way_delay(rng, from, to),
            None => self.latency.sample(rng),
        };
        if !self.jitter.is_zero() {
            delay += self.jitter.mul_f64(unit(rng));
        }
        if self.reorder > 0.0 && unit(rng) < self.reorder {
            delay += self.reorder_delay.mul_f64(unit(rng));
        }
        delay
    }
}

/// Arrival delays of the copies of one datagram (zero, one or two).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Arrivals {
    delays: [Duration; 2],
    len: usize,
}

impl Arrivals {
    fn push(&mut self, delay: Duration) {
        self.delays[self.len] = delay;
        self.len += 1;
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = Duration> + '_ {
        self.delays[..self.len].iter().copied()
    }
}

/// A uniform float in `[0, 1)` with 53 bits of randomness.
pub(crate) fn unit<R: Rng>(rng: &mut R) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::SeedableRng;
    use rand_xoshiro::Xoshiro256PlusPlus;

    fn rate(network: &mut Network, from: NodeId, to: NodeId) -> f64 {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        let n = 100_000;
        let delivered = (0..n)
            .filter(|_| !network.transit(&mut rng, from, to).is_empty())
            .count();
        delivered as f64 / n as f64
    }

    #[test]
    fn uniform_loss_drops_its_share() {
        let delivered = rate(&mut Network::default().loss(0.1), 0, 1);
        assert!((delivered - 0.9).abs() < 0.005, "{delivered}");
    }

    #[test]
    fn bursts_lose_the_mean_rate_in_runs() {
        let chain = GilbertElliott::with_mean(0.05, 10.0, 0.5);
        assert!((chain.mean_loss() - 0.05).abs() < 1e-9);
        let mut network = Network::default().bursts(chain);
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(2);
        let fates: Vec<bool> = (0..200_000)
            .map(|_| network.transit(&mut rng, 0, 1).is_empty())
            .collect();
        let lost = fates.iter().filter(|&&l| l).count() as f64 / fates.len() as f64;
        assert!((lost - 0.05).abs() < 0.01, "{lost}");
        // Losses cluster: after a loss, another is far likelier than on average.
        let after_loss = fates.windows(2).filter(|w| w[0]).count() as f64;
        let loss_after_loss = fates.windows(2).filter(|w| w[0] && w[1]).count() as f64;
        assert!(
            loss_after_loss / after_loss > 0.3,
            "{}",
            loss_after_loss / after_loss
        );
    }

    #[test]
    fn directed_overrides_apply_one_way() {
        let mut network = Network::default()
            .loss(0.0)
            .link_loss(1, 2, 1.0)
            .outbound_loss(3, 0.5);
        assert_eq!(rate(&mut network, 1, 2), 0.0);
        assert_eq!(rate(&mut network, 2, 1), 1.0);
        assert!((rate(&mut network, 3, 0) - 0.5).abs() < 0.01);
        assert_eq!(rate(&mut network, 0, 3), 1.0);
    }

    #[test]
    fn partitions_cut_between_groups_only() {
        let mut network = Network::default();
        network.partition(vec![0, 0, 1]);
        assert_eq!(rate(&mut network, 0, 1), 1.0);
        assert_eq!(rate(&mut network, 0, 2), 0.0);
        network.heal();
        assert_eq!(rate(&mut network, 0, 2), 1.0);
    }

    #[test]
    fn duplication_and_reordering() {
        let mut network = Network::default().duplicate(1.0).jitter(Duration::ZERO);
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        assert_eq!(network.transit(&mut rng, 0, 1).iter().count(), 2);
        let mut network = Network::default()
            .jitter(Duration::ZERO)
            .reorder(1.0, Duration::from_millis(100));
        let late = network.transit(&mut rng, 0, 1).iter().next().unwrap();
        assert!(late > Duration::from_millis(1) && late <= Duration::from_millis(101));
    }

    #[test]
    fn a_geometry_replaces_the_latency_and_keeps_the_faults() {
        let geometry = Geometry::five_datacenters().jitter_share(0.0).unwrap();
        let mut network = Network::default()
            .latency(Latency::Fixed(Duration::from_secs(9)))
            .jitter(Duration::ZERO)
            .geometry(geometry);
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
        let mut delay = |network: &mut Network, from, to| {
            network.transit(&mut rng, from, to).iter().next().unwrap()
        };
        // Nodes 0 and 3: us-east and asia, 148 ms apart; 0 and 10 share us-east.
        assert_eq!(delay(&mut network, 0, 3), Duration::from_millis(74));
        assert_eq!(delay(&mut network, 3, 0), Duration::from_millis(74));
        assert_eq!(delay(&mut network, 0, 10), Duration::from_micros(500));
        let mut network = network.jitter(Duration::from_millis(2));
        let jittered = delay(&mut network, 0, 3);
        assert!(jittered >= Duration::from_millis(74) && jittered < Duration::from_millis(76));
        let delivered = rate(&mut network.clone().loss(0.5), 0, 3);
        assert!((delivered - 0.5).abs() < 0.01, "{delivered}");
        network.partition(vec![0, 0, 0, 1]);
        assert_eq!(rate(&mut network, 0, 3), 0.0);
    }

    #[test]
    fn latency_distributions_stay_in_range() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(4);
        let ms = Duration::from_millis;
        let pareto = Latency::Pareto {
            min: ms(1),
            shape: 1.5,
            max: ms(500),
        };
        let mut samples: Vec<Duration> = (0..10_000).map(|_| pareto.sample(&mut rng)).collect();
        samples.sort();
        assert!(samples[0] >= ms(1) && samples[9_999] <= ms(500));
        let median = samples[5_000];
        assert!(median > ms(1) && median < ms(2), "{median:?}");
        assert!(
            samples[9_900] > ms(10),
            "a long tail: p99 {:?}",
            samples[9_900]
        );
        let uniform = Latency::Uniform {
            min: ms(2),
            max: ms(4),
        };
        assert!(
            (0..1_000)
                .map(|_| uniform.sample(&mut rng))
                .all(|d| d >= ms(2) && d <= ms(4))
        );
    }
}
