//! Lifeguard's local health awareness (Dadgar et al. 2017, §4.1).
//!
//! A node that is itself slow (CPU starvation, a GC pause, a saturated link)
//! sees its probes fail and blames the targets. The awareness score counts the
//! evidence that the fault is local, and the node stretches its probe interval
//! and probe timeout by `score + 1`: it probes less often and waits longer,
//! so it raises fewer false suspicions while it is unhealthy.

use core::time::Duration;

/// Evidence, each worth one point of the score.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Health {
    /// A probe was answered: the node can talk to others.
    ProbeSucceeded,
    /// A probe failed.
    ProbeFailed,
    /// A member asked to probe on our behalf did not send the nack it owed.
    NackMissed,
    /// Others suspected this node, which means it failed to answer them.
    Refuted,
}

/// The local health score, in `0..max`; 0 is healthy.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Awareness {
    score: u32,
    max: u32,
}

impl Awareness {
    /// `max` is `Config::awareness_max`; 1 keeps the score at 0 for good.
    pub(crate) fn new(max: u32) -> Self {
        Awareness {
            score: 0,
            max: max.max(1),
        }
    }

    pub(crate) fn score(&self) -> u32 {
        self.score
    }

    pub(crate) fn record(&mut self, evidence: Health) {
        self.score = match evidence {
            Health::ProbeSucceeded => self.score.saturating_sub(1),
            Health::ProbeFailed | Health::NackMissed | Health::Refuted => {
                (self.score + 1).min(self.max - 1)
            }
        };
    }

    /// `base` stretched by the score: `base · (score + 1)`.
    pub(crate) fn scale(&self, base: Duration) -> Duration {
        base.saturating_mul(self.score + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_score_rises_with_bad_news_falls_with_good_and_stays_in_range() {
        let mut a = Awareness::new(8);
        let second = Duration::from_secs(1);
        assert_eq!(a.scale(second), second, "healthy: no stretching");
        a.record(Health::ProbeFailed);
        a.record(Health::NackMissed);
        a.record(Health::NackMissed);
        a.record(Health::Refuted);
        assert_eq!(a.score(), 4);
        assert_eq!(
            a.scale(Duration::from_millis(500)),
            Duration::from_millis(2_500)
        );
        for _ in 0..20 {
            a.record(Health::NackMissed);
        }
        assert_eq!(a.score(), 7, "at most awareness_max − 1");
        assert_eq!(a.scale(second), Duration::from_secs(8));
        for _ in 0..10 {
            a.record(Health::ProbeSucceeded);
        }
        assert_eq!(a.score(), 0, "never below zero");
    }

    #[test]
    fn a_maximum_of_one_switches_it_off() {
        let mut a = Awareness::new(1);
        a.record(Health::ProbeFailed);
        a.record(Health::Refuted);
        assert_eq!(a.score(), 0);
        assert_eq!(a.scale(Duration::from_secs(1)), Duration::from_secs(1));
    }
}
