//! Causality: version vectors and hybrid logical clocks.

use core::cmp::Ordering;
use core::fmt;

use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

use crate::wire::VersionRecord;

/// Identifies one life of one member as a writer: a hash of its name and
/// generation, so that a member restarted with an empty store never reuses the
/// counters of its former life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ReplicaId(pub u64);

impl fmt::Display for ReplicaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// How two versions are related.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Causality {
    /// The first version happened before the second: the second supersedes it.
    Before,
    /// The first version happened after the second.
    After,
    /// The same version.
    Equal,
    /// Neither has seen the other: concurrent writes, a conflict.
    Concurrent,
}

/// Most writers a version vector names. Past it, the components of the
/// smallest replica ids are dropped (deterministically, so every replica drops
/// the same ones); see [`VersionVector::merge`].
pub const MAX_VERSION_VECTOR_LEN: usize = crate::wire::MAX_VERSION_LEN;

/// A version vector: for each writer, how many of its writes a version has seen.
///
/// Versions are partially ordered by [`compare`](Self::compare);
/// [`merge`](Self::merge) is their least upper bound.
///
/// ```
/// use gossip_core::{Causality, ReplicaId, VersionVector};
/// let (a, b) = (ReplicaId(1), ReplicaId(2));
/// let mut x = VersionVector::new();
/// x.increment(a);
/// let mut y = x.clone();
/// y.increment(b);
/// assert_eq!(x.compare(&y), Causality::Before);
/// x.increment(a);
/// assert_eq!(x.compare(&y), Causality::Concurrent);
/// x.merge(&y);
/// assert_eq!(x.compare(&y), Causality::After);
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct VersionVector(SmallVec<[(u64, u64); 2]>);

impl VersionVector {
    /// The version that has seen nothing.
    pub fn new() -> Self {
        VersionVector(SmallVec::new())
    }

    /// Writes of `replica` seen.
    pub fn get(&self, replica: ReplicaId) -> u64 {
        self.position(replica).map_or(0, |i| self.0[i].1)
    }

    /// Writers named, with their counts, by increasing replica id.
    pub fn iter(&self) -> impl Iterator<Item = (ReplicaId, u64)> + '_ {
        self.0.iter().map(|&(r, c)| (ReplicaId(r), c))
    }

    /// Number of writers named.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True if no write has been seen.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Counts one more write by `replica`; returns its new count.
    pub fn increment(&mut self, replica: ReplicaId) -> u64 {
        let count = self.get(replica).saturating_add(1);
        self.set(replica, count);
        count
    }

    /// True if this version has seen the write numbered `counter` of `replica`.
    pub fn covers(&self, replica: ReplicaId, counter: u64) -> bool {
        self.get(replica) >= counter
    }

    /// How this version relates to `other`.
    pub fn compare(&self, other: &VersionVector) -> Causality {
        let (mut less, mut greater) = (false, false);
        let (mut i, mut j) = (0, 0);
        let (a, b) = (&self.0, &other.0);
        while i < a.len() || j < b.len() {
            let order = match (a.get(i), b.get(j)) {
                (Some(x), Some(y)) => x.0.cmp(&y.0),
                (Some(_), None) => Ordering::Less,
                (None, _) => Ordering::Greater,
            };
            match order {
                Ordering::Less => {
                    greater = true; // only self names a[i] (counts are positive)
                    i += 1;
                }
                Ordering::Greater => {
                    less = true;
                    j += 1;
                }
                Ordering::Equal => {
                    match a[i].1.cmp(&b[j].1) {
                        Ordering::Less => less = true,
                        Ordering::Greater => greater = true,
                        Ordering::Equal => {}
                    }
                    i += 1;
                    j += 1;
                }
            }
        }
        match (less, greater) {
            (false, false) => Causality::Equal,
            (true, false) => Causality::Before,
            (false, true) => Causality::After,
            (true, true) => Causality::Concurrent,
        }
    }

    /// True if this version has seen everything `other` has.
    pub fn descends(&self, other: &VersionVector) -> bool {
        matches!(self.compare(other), Causality::After | Causality::Equal)
    }

    /// Becomes the least upper bound of both: each writer's largest count.
    /// Beyond [`MAX_VERSION_VECTOR_LEN`] writers, those with the smallest ids
    /// are dropped; the bound keeps every entry within one datagram, and it
    /// stays commutative, associative and idempotent (which ids survive
    /// depends only on the union of the ids).
    pub fn merge(&mut self, other: &VersionVector) {
        let mut merged: SmallVec<[(u64, u64); 2]> = SmallVec::new();
        let (a, b) = (&self.0, &other.0);
        let (mut i, mut j) = (0, 0);
        while i < a.len() || j < b.len() {
            match (a.get(i), b.get(j)) {
                (Some(x), Some(y)) if x.0 == y.0 => {
                    merged.push((x.0, x.1.max(y.1)));
                    i += 1;
                    j += 1;
                }
                (Some(x), Some(y)) if x.0 < y.0 => {
                    merged.push(*x);
                    i += 1;
                }
                (Some(x), None) => {
                    merged.push(*x);
                    i += 1;
                }
                (_, Some(y)) => {
                    merged.push(*y);
                    j += 1;
                }
                (None, None) => unreachable!("the loop condition"),
            }
        }
        self.0 = merged;
        self.trim();
    }

    /// True if the components are sorted, unique, positive and within bounds.
    #[cfg(test)]
    pub(crate) fn is_well_formed(&self) -> bool {
        self.0.len() <= MAX_VERSION_VECTOR_LEN
            && self.0.windows(2).all(|w| w[0].0 < w[1].0)
            && self.0.iter().all(|&(_, c)| c > 0)
    }

    /// The version a well-formed record describes (checked when decoded).
    pub(crate) fn from_record(record: &VersionRecord) -> Self {
        VersionVector(record.clone())
    }

    /// The version as it travels.
    pub(crate) fn record(&self) -> VersionRecord {
        self.0.clone()
    }

    /// Drops the components of the smallest replica ids until `len` are left.
    pub(crate) fn truncate_smallest(&mut self, len: usize) {
        if self.0.len() > len {
            let excess = self.0.len() - len;
            self.0.drain(..excess);
        }
    }

    fn position(&self, replica: ReplicaId) -> Option<usize> {
        self.0.binary_search_by_key(&replica.0, |e| e.0).ok()
    }

    fn set(&mut self, replica: ReplicaId, count: u64) {
        match self.0.binary_search_by_key(&replica.0, |e| e.0) {
            Ok(i) => self.0[i].1 = count,
            Err(i) => {
                self.0.insert(i, (replica.0, count));
                self.trim();
            }
        }
    }

    fn trim(&mut self) {
        if self.0.len() > MAX_VERSION_VECTOR_LEN {
            let excess = self.0.len() - MAX_VERSION_VECTOR_LEN;
            self.0.drain(..excess);
        }
    }
}

impl fmt::Debug for VersionVector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(r, c)| (ReplicaId(*r), c)))
            .finish()
    }
}

/// A hybrid logical clock reading (Kulkarni et al. 2014): physical milliseconds
/// and a logical counter that orders events within one millisecond and keeps
/// causality when clocks disagree. A write that has seen another always has
/// a larger stamp, whatever the writers' clocks say.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct Hlc {
    /// Milliseconds on the writer's clock (the node's `now` plus its wall-clock
    /// offset), or later if it had seen a later stamp.
    pub millis: u64,
    /// Orders stamps with equal milliseconds.
    pub logical: u32,
}

/// How far ahead of this node's physical time a stamp it observes may be:
/// one day, far beyond any clock skew NTP leaves.
pub(crate) const MAX_CLOCK_LEAD_MS: u64 = 24 * 3_600 * 1_000;

/// A node's hybrid logical clock.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct HlcClock {
    last: Hlc,
}

impl HlcClock {
    /// A stamp for a local write at physical time `millis`, larger than every
    /// stamp issued or observed before.
    pub(crate) fn tick(&mut self, millis: u64) -> Hlc {
        self.last = if millis > self.last.millis {
            Hlc { millis, logical: 0 }
        } else if self.last.logical < u32::MAX {
            Hlc {
                millis: self.last.millis,
                logical: self.last.logical + 1,
            }
        } else {
            Hlc {
                millis: self.last.millis.saturating_add(1),
                logical: 0,
            }
        };
        self.last
    }

    /// Takes note of a stamp seen in another node's write.
    pub(crate) fn observe(&mut self, seen: Hlc) {
        self.last = self.last.max(seen);
    }

    /// As [`observe`](Self::observe), unless `seen` is more than
    /// [`MAX_CLOCK_LEAD`] ahead of the physical time `millis`: a member with a
    /// wild clock (or a forged stamp) must not drag this clock, and with it
    /// every later write here, into the far future. False if ignored.
    pub(crate) fn observe_bounded(&mut self, seen: Hlc, millis: u64) -> bool {
        let bounded = seen.millis <= millis.saturating_add(MAX_CLOCK_LEAD_MS);
        if bounded {
            self.observe(seen);
        }
        bounded
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn vv(components: &[(u64, u64)]) -> VersionVector {
        let mut v = VersionVector::new();
        for &(r, c) in components {
            if c > 0 {
                v.set(ReplicaId(r), c);
            }
        }
        v
    }

    fn arb_vv() -> impl Strategy<Value = VersionVector> {
        proptest::collection::vec((0u64..6, 0u64..4), 0..6).prop_map(|c| vv(&c))
    }

    fn flip(c: Causality) -> Causality {
        match c {
            Causality::Before => Causality::After,
            Causality::After => Causality::Before,
            other => other,
        }
    }

    #[test]
    fn comparison_examples() {
        assert_eq!(vv(&[]).compare(&vv(&[])), Causality::Equal);
        assert_eq!(vv(&[]).compare(&vv(&[(1, 1)])), Causality::Before);
        assert_eq!(vv(&[(1, 2)]).compare(&vv(&[(1, 1)])), Causality::After);
        assert_eq!(vv(&[(1, 1)]).compare(&vv(&[(2, 1)])), Causality::Concurrent);
        assert_eq!(
            vv(&[(1, 1), (2, 3)]).compare(&vv(&[(1, 2), (2, 3)])),
            Causality::Before
        );
    }

    #[test]
    fn a_vector_keeps_at_most_its_bound_of_writers_and_drops_the_same_ones_everywhere() {
        let mut a = VersionVector::new();
        for r in 0..40 {
            a.increment(ReplicaId(r));
        }
        assert_eq!(a.len(), MAX_VERSION_VECTOR_LEN);
        assert_eq!(a.get(ReplicaId(7)), 0, "the smallest ids go");
        assert_eq!(a.get(ReplicaId(39)), 1);
        assert!(a.is_well_formed());
    }

    #[test]
    fn a_stamp_from_the_far_future_neither_drags_the_clock_nor_overflows_it() {
        let mut clock = HlcClock::default();
        let wild = Hlc {
            millis: u64::MAX,
            logical: u32::MAX,
        };
        assert!(!clock.observe_bounded(wild, 1_000));
        assert_eq!(clock.tick(1_000).millis, 1_000);
        assert!(clock.observe_bounded(
            Hlc {
                millis: 2_000,
                logical: 0
            },
            1_000
        ));
        // Even a clock at the end of time ticks without overflowing.
        clock.observe(wild);
        assert_eq!(clock.tick(1_000).millis, u64::MAX);
    }

    #[test]
    fn the_clock_is_monotonic_and_follows_what_it_observes() {
        let mut clock = HlcClock::default();
        let a = clock.tick(100);
        let b = clock.tick(100);
        let c = clock.tick(50); // the physical clock went back
        assert!(a < b && b < c);
        clock.observe(Hlc {
            millis: 500,
            logical: 7,
        });
        let d = clock.tick(200);
        assert_eq!(
            d,
            Hlc {
                millis: 500,
                logical: 8
            }
        );
        assert_eq!(clock.tick(900).millis, 900);
    }

    proptest! {
        /// Comparison is a partial order: reflexive, antisymmetric, transitive,
        /// and its two directions agree.
        #[test]
        fn comparison_is_a_partial_order(a in arb_vv(), b in arb_vv(), c in arb_vv()) {
            prop_assert_eq!(a.compare(&a), Causality::Equal);
            prop_assert_eq!(a.compare(&b), flip(b.compare(&a)));
            if a.compare(&b) == Causality::Equal {
                prop_assert_eq!(&a, &b);
            }
            if a.descends(&b) && b.descends(&c) {
                prop_assert!(a.descends(&c));
            }
        }

        /// Merge is the least upper bound: commutative, associative, idempotent,
        /// and above both.
        #[test]
        fn merge_is_a_least_upper_bound(a in arb_vv(), b in arb_vv(), c in arb_vv()) {
            let merge = |x: &VersionVector, y: &VersionVector| {
                let mut m = x.clone();
                m.merge(y);
                m
            };
            prop_assert_eq!(merge(&a, &b), merge(&b, &a));
            prop_assert_eq!(merge(&merge(&a, &b), &c), merge(&a, &merge(&b, &c)));
            prop_assert_eq!(merge(&a, &a), a.clone());
            let ab = merge(&a, &b);
            prop_assert!(ab.descends(&a) && ab.descends(&b));
            if c.descends(&a) && c.descends(&b) {
                prop_assert!(c.descends(&ab));
            }
            prop_assert!(ab.is_well_formed());
        }

        /// Beyond the bound, merging stays a semilattice.
        #[test]
        fn bounded_merge_is_still_associative(
            a in proptest::collection::vec((0u64..80, 1u64..3), 0..40),
            b in proptest::collection::vec((0u64..80, 1u64..3), 0..40),
            c in proptest::collection::vec((0u64..80, 1u64..3), 0..40),
        ) {
            let (a, b, c) = (vv(&a), vv(&b), vv(&c));
            let merge = |x: &VersionVector, y: &VersionVector| {
                let mut m = x.clone();
                m.merge(y);
                m
            };
            prop_assert_eq!(merge(&merge(&a, &b), &c), merge(&a, &merge(&b, &c)));
            prop_assert_eq!(merge(&a, &b), merge(&b, &a));
        }
    }
}
