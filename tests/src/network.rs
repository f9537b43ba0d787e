//! The simulated network: how long a datagram takes, and whether it arrives.

use std::time::Duration;

use rand_core::Rng;

/// Identifies a simulated node; also its network address.
pub type NodeId = u32;

/// A network model, configured fluently:
///
/// ```
/// use gossip_sim::Network;
/// use std::time::Duration;
/// let network = Network::default()
///     .latency(Duration::from_millis(2))
///     .jitter(Duration::from_millis(1))
///     .loss(0.05);
/// ```
#[derive(Clone, Debug)]
pub struct Network {
    latency: Duration,
    jitter: Duration,
    loss: f64,
    partition: Option<Vec<u32>>,
}

impl Default for Network {
    /// A LAN: 1 ms one way, up to 1 ms of jitter, no loss.
    fn default() -> Self {
        Network {
            latency: Duration::from_millis(1),
            jitter: Duration::from_millis(1),
            loss: 0.0,
            partition: None,
        }
    }
}

impl Network {
    /// Fixed one-way delay.
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Extra delay, uniform in `0..jitter`, drawn per datagram (so datagrams
    /// reorder when jitter exceeds their spacing).
    pub fn jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self
    }

    /// Probability that a datagram is lost, independently of all others.
    pub fn loss(mut self, loss: f64) -> Self {
        self.loss = loss;
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

    fn reachable(&self, from: NodeId, to: NodeId) -> bool {
        match &self.partition {
            None => true,
            Some(groups) => groups.get(from as usize) == groups.get(to as usize),
        }
    }

    /// When a datagram sent now from `from` to `to` arrives, or `None` if it is lost.
    pub(crate) fn transit<R: Rng>(
        &self,
        rng: &mut R,
        from: NodeId,
        to: NodeId,
    ) -> Option<Duration> {
        if !self.reachable(from, to) {
            return None;
        }
        if self.loss > 0.0 && unit(rng) < self.loss {
            return None;
        }
        let jitter = if self.jitter.is_zero() {
            Duration::ZERO
        } else {
            self.jitter.mul_f64(unit(rng))
        };
        Some(self.latency + jitter)
    }
}

/// A uniform float in `[0, 1)` with 53 bits of randomness.
pub(crate) fn unit<R: Rng>(rng: &mut R) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}
