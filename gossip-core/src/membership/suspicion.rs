//! SWIM suspicion: a member that missed a probe gets time to refute before it is
//! declared failed.

use alloc::collections::BinaryHeap;
use core::cmp::Reverse;
use core::time::Duration;

use foldhash::fast::FixedState;
use hashbrown::HashMap;
use smallvec::SmallVec;

use crate::identity::{Generation, Incarnation, NodeName};
use crate::time::Instant;

/// Lifeguard's bounds for a suspicion in a cluster of a given size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Bounds {
    /// The timeout once `k` independent confirmations arrived.
    pub(crate) min: Duration,
    /// The timeout without any confirmation.
    pub(crate) max: Duration,
    /// Confirmations expected of a real failure.
    pub(crate) k: u32,
}

impl Bounds {
    /// memberlist's rules: min = `mult · max(1, log10 n) · probe_interval`, max =
    /// `max_mult · min`, and K = `mult − 2`, or 0 when the cluster has too few
    /// members to give K confirmations (then the timeout is the minimum).
    pub(crate) fn new(mult: u32, max_mult: u32, members: usize, probe_interval: Duration) -> Self {
        let min = suspicion_timeout(mult, members, probe_interval);
        let k = mult.saturating_sub(2);
        let k = if members < k as usize + 2 { 0 } else { k };
        Bounds {
            min,
            max: min.saturating_mul(max_mult.max(1)),
            k,
        }
    }

    /// Lifeguard's dynamic suspicion timeout after `confirmations` independent
    /// confirmations: `max(min, max − (max − min) · ln(C + 1) / ln(K + 1))`. It
    /// starts long, so a lone false suspicion leaves time to refute, and shrinks
    /// as other members confirm, so a real failure is declared quickly.
    pub(crate) fn timeout(&self, confirmations: u32) -> Duration {
        if self.k == 0 || confirmations >= self.k {
            return self.min;
        }
        let fraction =
            libm::log(f64::from(confirmations) + 1.0) / libm::log(f64::from(self.k) + 1.0);
        let span = self.max.saturating_sub(self.min);
        self.max
            .saturating_sub(span.mul_f64(fraction))
            .max(self.min)
    }
}

/// An open suspicion about one member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Suspicion {
    /// The generation and incarnation suspected; a refutation must exceed them.
    pub(crate) generation: Generation,
    pub(crate) incarnation: Incarnation,
    pub(crate) started: Instant,
    /// When the member is declared failed unless it refutes.
    pub(crate) deadline: Instant,
    bounds: Bounds,
    /// Distinct members that suspect it, the first one first; at most K + 1.
    suspecters: SmallVec<[NodeName; 4]>,
}

impl Suspicion {
    pub(crate) fn new(
        generation: Generation,
        incarnation: Incarnation,
        started: Instant,
        bounds: Bounds,
        by: NodeName,
    ) -> Self {
        let mut suspecters = SmallVec::new();
        suspecters.push(by);
        Suspicion {
            generation,
            incarnation,
            started,
            deadline: started + bounds.timeout(0),
            bounds,
            suspecters,
        }
    }

    /// Independent confirmations so far (suspecters besides the first).
    pub(crate) fn confirmations(&self) -> u32 {
        self.suspecters.len() as u32 - 1
    }
}

/// memberlist's suspicion timeout: `mult · max(1, log10 n) · probe_interval`, so
/// that the time for a refutation to spread grows with the cluster as gossip does.
pub(crate) fn suspicion_timeout(mult: u32, members: usize, probe_interval: Duration) -> Duration {
    let scale = libm::log10(members.max(1) as f64).max(1.0);
    probe_interval.mul_f64(f64::from(mult) * scale)
}

/// The open suspicions, keyed by member, with their deadlines earliest first.
///
/// A suspicion that ends early (refuted, superseded, the member failed) leaves its
/// deadline in the heap; the map, not the heap, is the truth, so a stale deadline
/// is skipped when it comes due, and the heap is compacted when stale entries
/// outnumber open suspicions.
pub(crate) struct Suspicions {
    open: HashMap<NodeName, Suspicion, FixedState>,
    deadlines: BinaryHeap<Reverse<(Instant, NodeName)>>,
}

impl Suspicions {
    pub(crate) fn new(hash_seed: u64) -> Self {
        Suspicions {
            open: HashMap::with_hasher(FixedState::with_seed(hash_seed)),
            deadlines: BinaryHeap::new(),
        }
    }

    /// Opens (or replaces) the suspicion about `member`.
    pub(crate) fn start(&mut self, member: NodeName, suspicion: Suspicion) {
        if self.deadlines.len() > 2 * self.open.len() + 64 {
            let open = &self.open;
            self.deadlines.retain(|Reverse((deadline, name))| {
                open.get(name).is_some_and(|s| s.deadline == *deadline)
            });
        }
        self.deadlines
            .push(Reverse((suspicion.deadline, member.clone())));
        self.open.insert(member, suspicion);
    }

    /// Counts `by` as confirming the open suspicion about `member`; true if it is a
    /// new, independent confirmation (which brings the deadline closer).
    pub(crate) fn confirm(&mut self, member: &str, by: &str) -> bool {
        let Some(suspicion) = self.open.get_mut(member) else {
            return false;
        };
        if suspicion.confirmations() >= suspicion.bounds.k
            || suspicion.suspecters.iter().any(|s| s.as_str() == by)
        {
            return false;
        }
        let Ok(by) = NodeName::new(by) else {
            return false;
        };
        suspicion.suspecters.push(by);
        let deadline = suspicion.started + suspicion.bounds.timeout(suspicion.confirmations());
        self.advance(member, deadline);
        true
    }

    /// Gives the open suspicion about `member` the shortest timeout, as if it
    /// were fully confirmed: someone else's suspicion of it already expired.
    /// False if there is no open suspicion about `member`.
    pub(crate) fn settle(&mut self, member: &str) -> bool {
        let Some(suspicion) = self.open.get(member) else {
            return false;
        };
        let deadline = suspicion.started + suspicion.bounds.min;
        self.advance(member, deadline);
        true
    }

    /// Moves the deadline of the open suspicion about `member` to `deadline`
    /// if that is earlier.
    fn advance(&mut self, member: &str, deadline: Instant) {
        let Some((name, suspicion)) = self.open.get_key_value_mut(member) else {
            return;
        };
        if deadline < suspicion.deadline {
            suspicion.deadline = deadline;
            self.deadlines.push(Reverse((deadline, name.clone())));
        }
    }

    /// Who first suspected `member`, while the suspicion is open.
    pub(crate) fn first_suspecter(&self, member: &str) -> Option<&str> {
        self.open.get(member).map(|s| s.suspecters[0].as_str())
    }

    /// Closes the suspicion about `member`, if any.
    pub(crate) fn clear(&mut self, member: &str) {
        self.open.remove(member);
    }

    /// The earliest deadline (possibly of a suspicion since closed: waking for
    /// it is harmless).
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines
            .peek()
            .map(|Reverse((deadline, _))| *deadline)
    }

    /// Closes and returns the next open suspicion whose deadline has passed.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<(NodeName, Suspicion)> {
        while self.next_deadline()? <= now {
            let Reverse((deadline, name)) = self.deadlines.pop()?;
            if self.open.get(&name).is_some_and(|s| s.deadline == deadline) {
                let suspicion = self.open.remove(&name)?;
                return Some((name, suspicion));
            }
        }
        None
    }

    /// Open suspicions.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.open.len()
    }

    /// Deadlines held, stale ones included.
    pub(crate) fn deadlines(&self) -> usize {
        self.deadlines.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_scales_with_log10_of_the_cluster() {
        let second = Duration::from_secs(1);
        assert_eq!(suspicion_timeout(4, 1, second), Duration::from_secs(4));
        assert_eq!(suspicion_timeout(4, 10, second), Duration::from_secs(4));
        assert_eq!(suspicion_timeout(4, 1_000, second), Duration::from_secs(12));
        assert_eq!(
            suspicion_timeout(4, 10_000, second),
            Duration::from_secs(16)
        );
        let t = suspicion_timeout(4, 100_000, Duration::from_millis(500));
        assert_eq!(t, Duration::from_secs(10));
    }

    fn suspicion(deadline: u64) -> Suspicion {
        let fixed = Bounds {
            min: Duration::from_secs(deadline),
            max: Duration::from_secs(deadline),
            k: 0,
        };
        Suspicion::new(0, 0, Instant::ZERO, fixed, NodeName::new("by").unwrap())
    }

    #[test]
    fn lifeguard_bounds_match_the_worked_example() {
        // n = 1,000, probe interval 1 s, suspicion_mult 4, max mult 6.
        let bounds = Bounds::new(4, 6, 1_000, Duration::from_secs(1));
        assert_eq!(bounds.min, Duration::from_secs(12));
        assert_eq!(bounds.max, Duration::from_secs(72));
        assert_eq!(bounds.k, 2);
        assert_eq!(bounds.timeout(0), Duration::from_secs(72));
        let one = bounds.timeout(1).as_secs_f64();
        assert!((one - 34.14).abs() < 0.01, "one confirmation: {one} s");
        assert_eq!(bounds.timeout(2), Duration::from_secs(12));
        assert_eq!(bounds.timeout(9), Duration::from_secs(12));
    }

    #[test]
    fn small_clusters_and_a_max_mult_of_one_use_the_fixed_timeout() {
        let tiny = Bounds::new(4, 6, 3, Duration::from_secs(1));
        assert_eq!(tiny.k, 0);
        assert_eq!(tiny.timeout(0), tiny.min);
        let classic = Bounds::new(4, 1, 1_000, Duration::from_secs(1));
        assert_eq!(classic.timeout(0), Duration::from_secs(12));
    }

    #[test]
    fn independent_confirmations_bring_the_deadline_closer() {
        let mut s = Suspicions::new(0);
        let bounds = Bounds::new(4, 6, 1_000, Duration::from_secs(1));
        let x = NodeName::new("x").unwrap();
        s.start(
            x.clone(),
            Suspicion::new(0, 0, Instant::ZERO, bounds, NodeName::new("a").unwrap()),
        );
        assert_eq!(s.next_deadline(), Some(Instant::from_secs(72)));
        assert!(
            !s.confirm("x", "a"),
            "the first suspecter again is not independent"
        );
        assert!(s.confirm("x", "b"));
        assert!(!s.confirm("x", "b"));
        assert!(s.confirm("x", "c"));
        assert!(
            !s.confirm("x", "d"),
            "K = 2 confirmations reach the minimum"
        );
        assert_eq!(s.pop_expired(Instant::from_secs(11)), None);
        let (name, suspicion) = s.pop_expired(Instant::from_secs(12)).unwrap();
        assert_eq!((name.as_str(), suspicion.confirmations()), ("x", 2));
    }

    #[test]
    fn suspicions_expire_in_deadline_order_unless_cleared() {
        let mut s = Suspicions::new(0);
        let name = |n: &str| NodeName::new(n).unwrap();
        s.start(name("b"), suspicion(5));
        s.start(name("a"), suspicion(3));
        s.start(name("c"), suspicion(4));
        s.clear("c");
        assert_eq!(s.next_deadline(), Some(Instant::from_secs(3)));
        assert_eq!(s.pop_expired(Instant::from_secs(2)), None);
        let (first, _) = s.pop_expired(Instant::from_secs(9)).unwrap();
        assert_eq!(first.as_str(), "a");
        let (second, _) = s.pop_expired(Instant::from_secs(9)).unwrap();
        assert_eq!(second.as_str(), "b", "the cleared one is skipped");
        assert_eq!(s.pop_expired(Instant::from_secs(9)), None);
        assert_eq!(s.len(), 0);
    }

    #[test]
    fn a_renewed_suspicion_replaces_the_old_deadline() {
        let mut s = Suspicions::new(0);
        let x = NodeName::new("x").unwrap();
        s.start(x.clone(), suspicion(3));
        s.start(x.clone(), suspicion(8));
        assert_eq!(
            s.pop_expired(Instant::from_secs(5)),
            None,
            "the old deadline is stale"
        );
        assert!(s.pop_expired(Instant::from_secs(8)).is_some());
    }

    #[test]
    fn stale_deadlines_stay_bounded() {
        let mut s = Suspicions::new(0);
        let x = NodeName::new("x").unwrap();
        for i in 0..1_000 {
            s.start(x.clone(), suspicion(i));
            s.clear("x");
        }
        assert!(
            s.deadlines() <= 2 * s.len() + 65,
            "{} deadlines held",
            s.deadlines()
        );
    }
}
