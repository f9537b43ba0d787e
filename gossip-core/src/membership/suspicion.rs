//! SWIM suspicion: a member that missed a probe gets time to refute before it is
//! declared failed.

use alloc::collections::BinaryHeap;
use core::cmp::Reverse;
use core::time::Duration;

use foldhash::fast::FixedState;
use hashbrown::HashMap;

use crate::identity::{Generation, Incarnation, NodeName};
use crate::time::Instant;

/// An open suspicion about one member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Suspicion {
    /// The generation and incarnation suspected; a refutation must exceed them.
    pub(crate) generation: Generation,
    pub(crate) incarnation: Incarnation,
    pub(crate) started: Instant,
    /// When the member is declared failed unless it refutes.
    pub(crate) deadline: Instant,
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
        Suspicion {
            generation: 0,
            incarnation: 0,
            started: Instant::ZERO,
            deadline: Instant::from_secs(deadline),
        }
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
