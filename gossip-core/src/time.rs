//! Virtual time: the core never reads a clock, the caller passes `now` in.

use core::fmt;
use core::ops::{Add, AddAssign, Sub};
use core::time::Duration;

/// A point in monotonic time, measured from an arbitrary epoch chosen by the caller.
///
/// A simulator starts at [`Instant::ZERO`]; an adapter converts its runtime's clock
/// by measuring from the moment it created the node. Only differences between
/// instants carry meaning. Nanosecond resolution covers 584 years.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(u64);

impl Instant {
    /// The epoch.
    pub const ZERO: Instant = Instant(0);
    /// The latest representable instant. A deadline that saturates here is
    /// never reached: a node's time stops one nanosecond short of it.
    pub const MAX: Instant = Instant(u64::MAX);
    /// The latest time a node keeps: a later `now` is taken as this, so that
    /// every deadline `now + interval` (saturating at [`Instant::MAX`]) stays
    /// in the future and `handle_timeout(Instant::MAX)` fires each due timer
    /// once instead of forever.
    pub(crate) const LAST: Instant = Instant(u64::MAX - 1);

    /// The instant `nanos` nanoseconds after the epoch.
    pub const fn from_nanos(nanos: u64) -> Self {
        Instant(nanos)
    }

    /// The instant `millis` milliseconds after the epoch (saturating).
    pub const fn from_millis(millis: u64) -> Self {
        Instant(millis.saturating_mul(1_000_000))
    }

    /// The instant `secs` seconds after the epoch (saturating).
    pub const fn from_secs(secs: u64) -> Self {
        Instant(secs.saturating_mul(1_000_000_000))
    }

    /// The instant `since_epoch` after the epoch (saturating).
    pub const fn from_duration(since_epoch: Duration) -> Self {
        let nanos = since_epoch.as_nanos();
        if nanos > u64::MAX as u128 {
            Instant::MAX
        } else {
            Instant(nanos as u64)
        }
    }

    /// Nanoseconds since the epoch.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Time since the epoch.
    pub const fn since_epoch(self) -> Duration {
        Duration::from_nanos(self.0)
    }

    /// Time elapsed from `earlier` to `self`, or zero if `earlier` is later.
    pub const fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }

    /// `self + duration`, or `None` on overflow.
    pub fn checked_add(self, duration: Duration) -> Option<Instant> {
        let nanos = u64::try_from(duration.as_nanos()).ok()?;
        self.0.checked_add(nanos).map(Instant)
    }

    /// `self + duration`, clamped to [`Instant::MAX`].
    pub fn saturating_add(self, duration: Duration) -> Instant {
        self.checked_add(duration).unwrap_or(Instant::MAX)
    }
}

/// A node's wall clock: its `now` plus an offset set by the application
/// ([`Node::set_wall_clock`](crate::Node::set_wall_clock)), in milliseconds
/// since the Unix epoch. Until it is set, wall time is `now` itself, so nodes
/// of one simulation agree.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct WallClock {
    offset_ms: i64,
}

impl WallClock {
    /// Makes `now` read as `since_unix_epoch`.
    pub(crate) fn set(&mut self, now: Instant, since_unix_epoch: Duration) {
        let wall = i64::try_from(since_unix_epoch.as_millis()).unwrap_or(i64::MAX);
        self.offset_ms = wall.saturating_sub(Self::local_ms(now));
    }

    /// The wall-clock time at `now`.
    pub(crate) fn millis(&self, now: Instant) -> u64 {
        let wall = Self::local_ms(now).saturating_add(self.offset_ms);
        u64::try_from(wall).unwrap_or(0)
    }

    fn local_ms(now: Instant) -> i64 {
        i64::try_from(now.as_nanos() / 1_000_000).unwrap_or(i64::MAX)
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;

    /// Saturates at [`Instant::MAX`] rather than panicking: deadlines far in the
    /// future are simply never reached.
    fn add(self, rhs: Duration) -> Instant {
        self.saturating_add(rhs)
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, rhs: Duration) {
        *self = *self + rhs;
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;

    /// Saturates at zero.
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;

    /// Saturates at the epoch.
    fn sub(self, rhs: Duration) -> Instant {
        let nanos = u64::try_from(rhs.as_nanos()).unwrap_or(u64::MAX);
        Instant(self.0.saturating_sub(nanos))
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.since_epoch())
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.since_epoch();
        write!(f, "{}.{:03}s", d.as_secs(), d.subsec_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_instead_of_panicking() {
        assert_eq!(Instant::MAX + Duration::from_secs(1), Instant::MAX);
        assert_eq!(Instant::ZERO - Duration::from_secs(1), Instant::ZERO);
        assert_eq!(Instant::ZERO - Instant::from_secs(5), Duration::ZERO);
        assert_eq!(Instant::from_duration(Duration::MAX), Instant::MAX);
    }

    #[test]
    fn conversions_agree() {
        let t = Instant::from_millis(1_500);
        assert_eq!(t, Instant::from_nanos(1_500_000_000));
        assert_eq!(t.since_epoch(), Duration::from_millis(1_500));
        assert_eq!(t - Instant::from_secs(1), Duration::from_millis(500));
        assert_eq!(alloc::format!("{t}"), "1.500s");
    }
}
