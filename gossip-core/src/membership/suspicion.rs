//! SWIM suspicion: a member that missed a probe gets time to refute before it is
//! declared failed.

use alloc::collections::BinaryHeap;
use core::cmp::Reverse;
use core::time::Duration;

use crate::identity::{Incarnation, NodeName};
use crate::time::Instant;

/// An open suspicion about one member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Suspicion {
    /// The incarnation suspected; a refutation must exceed it.
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

/// Deadlines of open suspicions, earliest first.
///
/// A refuted or superseded suspicion leaves its entry behind; the entry is
/// recognised as stale when it comes due (the member's record, not this heap, is
/// the truth), and the heap is compacted if stale entries pile up.
#[derive(Default)]
pub(crate) struct SuspicionDeadlines {
    heap: BinaryHeap<Reverse<(Instant, NodeName)>>,
}

impl SuspicionDeadlines {
    pub(crate) fn push(&mut self, deadline: Instant, member: NodeName) {
        self.heap.push(Reverse((deadline, member)));
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((deadline, _))| *deadline)
    }

    /// The earliest entry due at `now`, if any.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Instant, NodeName)> {
        if self.next_deadline()? <= now {
            self.heap.pop().map(|Reverse(entry)| entry)
        } else {
            None
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    /// Drops every entry for which `is_current` is false.
    pub(crate) fn retain(&mut self, mut is_current: impl FnMut(Instant, &NodeName) -> bool) {
        self.heap
            .retain(|Reverse((deadline, name))| is_current(*deadline, name));
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

    #[test]
    fn deadlines_come_due_in_order() {
        let mut d = SuspicionDeadlines::default();
        let a = NodeName::new("a").unwrap();
        let b = NodeName::new("b").unwrap();
        d.push(Instant::from_secs(5), b.clone());
        d.push(Instant::from_secs(3), a.clone());
        assert_eq!(d.next_deadline(), Some(Instant::from_secs(3)));
        assert_eq!(d.pop_due(Instant::from_secs(2)), None);
        assert_eq!(
            d.pop_due(Instant::from_secs(9)),
            Some((Instant::from_secs(3), a))
        );
        d.retain(|_, name| name.as_str() != "b");
        assert_eq!(d.len(), 0);
    }
}
