//! Where the nodes are: datacentres, and the round-trip times inside and between
//! them, from which the network takes each datagram's delay.

use std::time::Duration;

use rand_core::Rng;

use crate::network::{NodeId, unit};

/// Datacentres and the round-trip times (RTTs) between them. Node `i` lives in
/// datacentre `i % datacenters()`, so that any cluster size spreads evenly and a
/// restarted node comes back where it was.
///
/// A datagram from `a` to `b` takes half the RTT of its pair of datacentres,
/// plus a uniform share of that up to [`jitter_share`](Self::jitter_share): the
/// geometry dominates, yet no two round trips measure the same.
///
/// ```
/// use gossip_sim::Geometry;
/// use std::time::Duration;
///
/// let ms = Duration::from_millis;
/// let geometry = Geometry::new(ms(1), vec![vec![ms(0), ms(80)], vec![ms(80), ms(0)]]).unwrap();
/// assert_eq!(geometry.datacenter(5), 1);
/// assert_eq!(geometry.rtt(0, 5), ms(80));
/// assert_eq!(geometry.rtt(0, 4), ms(1));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Geometry {
    names: Vec<String>,
    intra_rtt: Duration,
    /// `inter_rtt[a][b]`: the RTT between datacentres `a` and `b` (symmetric).
    inter_rtt: Vec<Vec<Duration>>,
    jitter_share: f64,
}

/// The jitter of a geometry unless told otherwise: 5% of the one-way delay.
pub const DEFAULT_JITTER_SHARE: f64 = 0.05;

impl Geometry {
    /// `inter_rtt.len()` datacentres named `dc0`, `dc1`, …, with `intra_rtt`
    /// between two nodes of one datacentre and `inter_rtt[a][b]` between
    /// datacentres `a` and `b`. The matrix must be square and symmetric, with
    /// at least one datacentre; its diagonal is not used (`intra_rtt` is).
    pub fn new(intra_rtt: Duration, inter_rtt: Vec<Vec<Duration>>) -> Result<Geometry, String> {
        let datacenters = inter_rtt.len();
        if datacenters == 0 {
            return Err("a geometry needs at least one datacentre".into());
        }
        if let Some((row, cells)) = inter_rtt
            .iter()
            .enumerate()
            .find(|(_, cells)| cells.len() != datacenters)
        {
            return Err(format!(
                "the RTT matrix is not square: row {row} has {} entries, not {datacenters}",
                cells.len()
            ));
        }
        let mut pairs = (0..datacenters).flat_map(|a| (a + 1..datacenters).map(move |b| (a, b)));
        if let Some((a, b)) = pairs.find(|&(a, b)| inter_rtt[a][b] != inter_rtt[b][a]) {
            return Err(format!(
                "the RTT matrix is not symmetric: [{a}][{b}] is {:?} but [{b}][{a}] is {:?}",
                inter_rtt[a][b], inter_rtt[b][a]
            ));
        }
        Ok(Geometry {
            names: (0..datacenters).map(|dc| format!("dc{dc}")).collect(),
            intra_rtt,
            inter_rtt,
            jitter_share: DEFAULT_JITTER_SHARE,
        })
    }

    /// Five datacentres on four continents, 1 ms RTT inside each: us-east,
    /// us-west, europe, asia and south-america, 62 ms to 150 ms apart.
    ///
    /// The figures are not distances in any space: us-west reaches europe in
    /// 142 ms, slower than through us-east (62 + 76 ms), as real routes do.
    /// Network coordinates can only approximate such a matrix.
    pub fn five_datacenters() -> Geometry {
        const NAMES: [&str; 5] = ["us-east", "us-west", "europe", "asia", "south-america"];
        const RTT_MS: [[u64; 5]; 5] = [
            [0, 62, 76, 148, 118],
            [62, 0, 142, 104, 150],
            [76, 142, 0, 136, 145],
            [148, 104, 136, 0, 150],
            [118, 150, 145, 150, 0],
        ];
        let inter_rtt = RTT_MS
            .iter()
            .map(|row| row.iter().map(|&ms| Duration::from_millis(ms)).collect())
            .collect();
        Geometry::new(Duration::from_millis(1), inter_rtt)
            .and_then(|g| g.named(NAMES.iter().map(|name| name.to_string()).collect()))
            .expect("the preset is square and symmetric")
    }

    /// Names the datacentres, one name each, in order.
    pub fn named(mut self, names: Vec<String>) -> Result<Geometry, String> {
        if names.len() != self.datacenters() {
            return Err(format!(
                "{} names for {} datacentres",
                names.len(),
                self.datacenters()
            ));
        }
        self.names = names;
        Ok(self)
    }

    /// The largest extra delay, as a share of the one-way delay: each datagram
    /// takes up to `share` longer, uniformly (0 makes delays exact).
    pub fn jitter_share(mut self, share: f64) -> Result<Geometry, String> {
        if !(0.0..=1.0).contains(&share) {
            return Err(format!("jitter_share = {share} is not between 0 and 1"));
        }
        self.jitter_share = share;
        Ok(self)
    }

    /// How many datacentres there are.
    pub fn datacenters(&self) -> usize {
        self.inter_rtt.len()
    }

    /// The datacentres' names, by index.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The datacentre `node` lives in.
    pub fn datacenter(&self, node: NodeId) -> usize {
        node as usize % self.datacenters()
    }

    /// Whether a datagram from `from` to `to` leaves its datacentre.
    pub fn crosses(&self, from: NodeId, to: NodeId) -> bool {
        self.datacenter(from) != self.datacenter(to)
    }

    /// The true round-trip time between two nodes, without jitter: what
    /// network coordinates estimate. (Measured round trips are up to
    /// `jitter_share` longer, 2.5% on average by default.)
    pub fn rtt(&self, from: NodeId, to: NodeId) -> Duration {
        let (a, b) = (self.datacenter(from), self.datacenter(to));
        if a == b {
            self.intra_rtt
        } else {
            self.inter_rtt[a][b]
        }
    }

    /// The delay of one datagram from `from` to `to`: half the RTT, plus jitter.
    pub(crate) fn one_way_delay<R: Rng>(&self, rng: &mut R, from: NodeId, to: NodeId) -> Duration {
        let base = self.rtt(from, to) / 2;
        if self.jitter_share > 0.0 {
            base + base.mul_f64(self.jitter_share * unit(rng))
        } else {
            base
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::SeedableRng;
    use rand_xoshiro::Xoshiro256PlusPlus;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn one_way_delays_are_half_the_rtt_plus_at_most_the_jitter_share() {
        let geometry = Geometry::five_datacenters();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        // Node 3 lives in asia, node 5 in us-east with node 0.
        for (from, to, half) in [(0, 3, 74.0), (3, 0, 74.0), (0, 5, 0.5)] {
            let delays: Vec<f64> = (0..1_000)
                .map(|_| geometry.one_way_delay(&mut rng, from, to).as_secs_f64() * 1e3)
                .collect();
            let (least, most) = delays
                .iter()
                .fold((f64::MAX, 0.0f64), |(l, m), &d| (l.min(d), m.max(d)));
            assert!(least >= half && most <= half * 1.05, "{least}..{most} ms");
            // Jittered, yet by less than the share: neither constant nor wild.
            assert!(most - least > half * 0.04, "{least}..{most} ms");
        }
    }

    #[test]
    fn without_jitter_delays_are_exact() {
        let geometry = Geometry::five_datacenters().jitter_share(0.0).unwrap();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(2);
        assert_eq!(geometry.one_way_delay(&mut rng, 1, 2), MS(71));
        assert_eq!(geometry.rtt(2, 1), MS(142));
    }

    #[test]
    fn nodes_are_placed_round_robin() {
        let geometry = Geometry::five_datacenters();
        assert_eq!(geometry.datacenters(), 5);
        assert_eq!(geometry.names()[geometry.datacenter(7)], "europe");
        assert!(geometry.crosses(0, 1) && !geometry.crosses(1, 6));
        assert_eq!(geometry.rtt(4, 9), MS(1));
    }

    #[test]
    fn the_preset_is_realistic_and_no_metric() {
        let geometry = Geometry::five_datacenters();
        let dcs = 0..geometry.datacenters() as NodeId;
        for a in dcs.clone() {
            for b in dcs.clone().filter(|&b| b != a) {
                let rtt = geometry.rtt(a, b);
                assert!(rtt >= MS(30) && rtt <= MS(150), "{a}-{b}: {rtt:?}");
            }
        }
        let shortcut = dcs.clone().any(|a| {
            dcs.clone().any(|b| {
                dcs.clone().any(|via| {
                    a != b
                        && via != a
                        && via != b
                        && geometry.rtt(a, via) + geometry.rtt(via, b) < geometry.rtt(a, b)
                })
            })
        });
        assert!(shortcut, "some detour is faster than the direct route");
    }

    #[test]
    fn invalid_matrices_are_refused() {
        let ragged = vec![vec![MS(0), MS(10)], vec![MS(10)]];
        assert!(Geometry::new(MS(1), ragged).unwrap_err().contains("square"));
        let lopsided = vec![vec![MS(0), MS(10)], vec![MS(20), MS(0)]];
        assert!(
            Geometry::new(MS(1), lopsided)
                .unwrap_err()
                .contains("symmetric")
        );
        assert!(Geometry::new(MS(1), vec![]).is_err());
        let one = Geometry::new(MS(1), vec![vec![MS(0)]]).unwrap();
        assert!(one.clone().named(vec!["a".into(), "b".into()]).is_err());
        assert!(one.jitter_share(1.5).is_err());
    }
}
