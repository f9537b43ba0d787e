//! The node's time: `gossip_core::Instant` counts from the moment the node
//! started, read from the monotonic clock.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gossip_core::Instant;

/// Converts between the monotonic clock and the node's time.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    origin: std::time::Instant,
}

impl Clock {
    /// A clock whose zero is now.
    pub fn start() -> Self {
        Clock {
            origin: std::time::Instant::now(),
        }
    }

    /// The node's time now.
    pub fn now(&self) -> Instant {
        self.to_node(std::time::Instant::now())
    }

    /// `at` as the node's time (zero if before the start).
    pub fn to_node(&self, at: std::time::Instant) -> Instant {
        Instant::ZERO + at.saturating_duration_since(self.origin)
    }

    /// The node's time `at` on the monotonic clock.
    pub fn to_std(&self, at: Instant) -> std::time::Instant {
        self.origin + at.since_epoch()
    }

    /// Time since the Unix epoch, for last-writer-wins stamps across machines.
    pub fn unix_time() -> Duration {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_time_and_monotonic_time_convert_both_ways() {
        let clock = Clock::start();
        let later = Instant::from_millis(1_500);
        assert_eq!(clock.to_node(clock.to_std(later)), later);
        assert!(clock.now() < Instant::from_secs(60));
    }
}
