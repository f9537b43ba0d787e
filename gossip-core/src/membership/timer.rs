//! The membership's periodic timers: one deadline per kind, the next wakeup is the
//! earliest. A timer that is cleared or re-armed cannot fire stale, because the
//! table, not a queue of past requests, is the truth.

use crate::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Timer {
    /// Start of a protocol period: conclude the last probe, send the next.
    Probe,
    /// No direct ack yet: ask helpers to probe indirectly.
    ProbeTimeout,
    /// Send pending rumors to a few random members.
    Gossip,
    /// Exchange state with a random member.
    PushPull,
    /// Contact the seeds again.
    JoinRetry,
    /// Remove old tombstones.
    Reap,
    /// Ask for chunks missing from state transfers.
    TransferCheck,
    /// Tell requesters of relayed probes that their target stayed silent.
    Nack,
}

impl Timer {
    const ALL: [Timer; 8] = [
        Timer::Probe,
        Timer::ProbeTimeout,
        Timer::Gossip,
        Timer::PushPull,
        Timer::JoinRetry,
        Timer::Reap,
        Timer::TransferCheck,
        Timer::Nack,
    ];
}

#[derive(Default)]
pub(crate) struct Timers([Option<Instant>; Timer::ALL.len()]);

impl Timers {
    pub(crate) fn set(&mut self, timer: Timer, at: Instant) {
        self.0[timer as usize] = Some(at);
    }

    pub(crate) fn clear(&mut self, timer: Timer) {
        self.0[timer as usize] = None;
    }

    pub(crate) fn clear_all(&mut self) {
        self.0 = Default::default();
    }

    pub(crate) fn get(&self, timer: Timer) -> Option<Instant> {
        self.0[timer as usize]
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.0.iter().flatten().min().copied()
    }

    /// Disarms and returns the timer due earliest at `now` (ties in declaration
    /// order), so that a late caller still sees timers fire in deadline order.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Timer> {
        let timer = Timer::ALL
            .into_iter()
            .filter_map(|t| self.get(t).filter(|&at| at <= now).map(|at| (at, t)))
            .min_by_key(|&(at, t)| (at, t as usize))?
            .1;
        self.clear(timer);
        Some(timer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_timers_pop_in_deadline_order_once() {
        let mut timers = Timers::default();
        timers.set(Timer::Gossip, Instant::from_secs(3));
        timers.set(Timer::Probe, Instant::from_secs(5));
        timers.set(Timer::Reap, Instant::from_secs(1));
        assert_eq!(timers.next_deadline(), Some(Instant::from_secs(1)));
        let now = Instant::from_secs(4);
        assert_eq!(timers.pop_due(now), Some(Timer::Reap));
        assert_eq!(timers.pop_due(now), Some(Timer::Gossip));
        assert_eq!(timers.pop_due(now), None);
        assert_eq!(timers.next_deadline(), Some(Instant::from_secs(5)));
        timers.clear_all();
        assert_eq!(timers.next_deadline(), None);
    }
}
