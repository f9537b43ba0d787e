//! Refusing replayed sealed datagrams: a sliding window per sender, as
//! IPsec's and WireGuard's anti-replay windows, and an age bound for what
//! the windows no longer remember.
//!
//! Each node seals under a *session* (12 random bytes drawn from its secret
//! generator when it starts) and numbers its datagrams; both travel in the
//! authenticated nonce, with the sender's wall-clock send time. A receiver
//! keeps, per session, the highest number accepted and a bitmap of the
//! [`WINDOW`] numbers below it. A datagram is refused if its number was
//! accepted before or fell out of the window, or if it was sent more than the
//! maximum age before (or after) the receiver's clock.
//!
//! Windows are kept in two generations, swapped every twice the maximum age:
//! a window untouched for a whole generation is dropped, which is safe
//! because every datagram it accepted is by then older than the maximum age
//! and refused by the age bound alone. So replay protection holds for as long
//! as the key does, in bounded memory, with O(1) work per datagram.

use core::time::Duration;

use foldhash::fast::FixedState;
use hashbrown::HashMap;

use super::SealError;
use crate::time::Instant;

/// Numbers a window remembers below the highest accepted: a sender's burst to
/// one receiver (a state transfer, an anti-entropy answer) arriving in any
/// order is accepted whole.
pub(crate) const WINDOW: u64 = 1024;
const WORDS: usize = (WINDOW / 64) as usize;

/// A sender's process, as named in its datagrams' nonces.
pub(crate) type Session = [u8; 12];

/// Where a sealed datagram says it comes from, read from its authenticated
/// nonce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Origin {
    pub(crate) session: Session,
    pub(crate) seq: u64,
    /// The sender's wall-clock send time, in milliseconds since the Unix epoch.
    pub(crate) sent_ms: u64,
}

/// One sender's window.
#[derive(Clone, Debug)]
struct Window {
    highest: u64,
    /// Bit `i` of the bitmap: number `highest - i` was accepted.
    seen: [u64; WORDS],
}

impl Window {
    fn new(seq: u64) -> Self {
        let mut seen = [0; WORDS];
        seen[0] = 1;
        Window { highest: seq, seen }
    }

    fn accepts(&self, seq: u64) -> bool {
        if seq > self.highest {
            return true;
        }
        let back = self.highest - seq;
        back < WINDOW && self.seen[(back / 64) as usize] & (1 << (back % 64)) == 0
    }

    fn remember(&mut self, seq: u64) {
        if seq > self.highest {
            self.shift(seq - self.highest);
            self.highest = seq;
        }
        let back = self.highest - seq;
        if back < WINDOW {
            self.seen[(back / 64) as usize] |= 1 << (back % 64);
        }
    }

    /// Moves the window up by `by` numbers.
    fn shift(&mut self, by: u64) {
        if by >= WINDOW {
            self.seen = [0; WORDS];
            return;
        }
        let (words, bits) = ((by / 64) as usize, by % 64);
        for i in (0..WORDS).rev() {
            let from = i.checked_sub(words);
            let high = from.map_or(0, |j| self.seen[j]);
            let low = from
                .and_then(|j| j.checked_sub(1))
                .map_or(0, |j| self.seen[j]);
            self.seen[i] = if bits == 0 {
                high
            } else {
                (high << bits) | (low >> (64 - bits))
            };
        }
    }
}

/// Every sender's window, bounded.
pub(crate) struct ReplayWindows {
    current: HashMap<Session, Window, FixedState>,
    previous: HashMap<Session, Window, FixedState>,
    /// When `current` became the current generation.
    since: Instant,
    max_age: Duration,
    capacity: usize,
}

impl ReplayWindows {
    /// Windows for at most `capacity` senders at once, refusing datagrams
    /// older than `max_age`; `hash_seed` keys the tables (it is secret).
    pub(crate) fn new(max_age: Duration, capacity: usize, hash_seed: u64, now: Instant) -> Self {
        ReplayWindows {
            current: HashMap::with_hasher(FixedState::with_seed(hash_seed)),
            previous: HashMap::with_hasher(FixedState::with_seed(hash_seed.rotate_left(32))),
            since: now,
            max_age,
            capacity,
        }
    }

    /// Whether a datagram from `origin`, opened at `now` (`now_ms` on this
    /// node's wall clock), is fresh. Changes nothing: [`remember`](Self::remember)
    /// it once the datagram is accepted.
    pub(crate) fn check(&self, origin: &Origin, now_ms: u64) -> Result<(), SealError> {
        let max_age = u64::try_from(self.max_age.as_millis()).unwrap_or(u64::MAX);
        if origin.sent_ms.saturating_add(max_age) < now_ms
            || origin.sent_ms > now_ms.saturating_add(max_age)
        {
            return Err(SealError::Stale);
        }
        let window = self
            .current
            .get(&origin.session)
            .or_else(|| self.previous.get(&origin.session));
        match window {
            Some(window) if !window.accepts(origin.seq) => Err(SealError::Replayed),
            Some(_) => Ok(()),
            None if self.current.len() + self.previous.len() >= self.capacity => {
                Err(SealError::TooManySenders)
            }
            None => Ok(()),
        }
    }

    /// Notes that a datagram from `origin` was accepted at `now`.
    pub(crate) fn remember(&mut self, origin: &Origin, now: Instant) {
        self.expire(now);
        let window = match self.previous.remove(&origin.session) {
            Some(window) => self.current.entry(origin.session).insert(window).into_mut(),
            None => self
                .current
                .entry(origin.session)
                .or_insert_with(|| Window::new(origin.seq)),
        };
        window.remember(origin.seq);
    }

    /// Drops the windows untouched for a whole generation (twice the maximum
    /// age): whatever they accepted is older than the maximum age by now.
    /// Called before every check, so that a full table makes room in time.
    pub(crate) fn expire(&mut self, now: Instant) {
        let generation = self.max_age * 2;
        let elapsed = now - self.since;
        if elapsed < generation {
            return;
        }
        // Last touched before `since`: sent at most `max_age` after it (later
        // ones are refused), so older than `max_age` now.
        self.previous.clear();
        core::mem::swap(&mut self.previous, &mut self.current);
        if elapsed >= generation * 2 {
            // Untouched since a generation ago too (a touch would have
            // rotated): every window is covered by the age bound.
            self.previous.clear();
        }
        self.since = now;
    }

    /// Senders remembered.
    pub(crate) fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(session: u8, seq: u64, sent_ms: u64) -> Origin {
        Origin {
            session: [session; 12],
            seq,
            sent_ms,
        }
    }

    fn windows() -> ReplayWindows {
        ReplayWindows::new(Duration::from_secs(60), 4, 1, Instant::ZERO)
    }

    /// `check`, then `remember` if fresh, as the node does.
    fn take(w: &mut ReplayWindows, o: Origin, now_s: u64) -> Result<(), SealError> {
        let now = Instant::from_secs(now_s);
        w.expire(now);
        w.check(&o, now_s * 1000)?;
        w.remember(&o, now);
        Ok(())
    }

    #[test]
    fn each_number_is_accepted_once_in_any_order_within_the_window() {
        let mut w = windows();
        for seq in [5, 3, 9, 4, 1_000, 6, 500] {
            assert_eq!(take(&mut w, origin(1, seq, 0), 0), Ok(()), "{seq}");
        }
        for seq in [5, 3, 9, 4, 1_000, 6, 500] {
            assert_eq!(take(&mut w, origin(1, seq, 0), 0), Err(SealError::Replayed));
        }
        assert_eq!(take(&mut w, origin(1, 7, 0), 0), Ok(()), "never seen");
        take(&mut w, origin(1, 3_000, 0), 0).unwrap();
        assert_eq!(
            take(&mut w, origin(1, 3_000 - WINDOW, 0), 0),
            Err(SealError::Replayed),
            "fell out of the window"
        );
        assert_eq!(take(&mut w, origin(1, 3_000 - WINDOW + 1, 0), 0), Ok(()));
        assert_eq!(take(&mut w, origin(2, 3, 0), 0), Ok(()), "another sender");
    }

    #[test]
    fn the_window_shifts_bit_exactly() {
        // Against a set of accepted numbers, over shifts of every size.
        let mut w = Window::new(0);
        let mut accepted = alloc::collections::BTreeSet::from([0u64]);
        let mut seq = 0u64;
        for step in 1..3_000u64 {
            seq += (step * 7919) % 200;
            let candidate = seq.saturating_sub((step * 31) % 1_100);
            let fresh = w.accepts(candidate);
            let expected = !accepted.contains(&candidate)
                && w.highest.saturating_sub(candidate) < WINDOW
                || candidate > w.highest;
            assert_eq!(fresh, expected, "step {step}: {candidate}");
            if fresh {
                w.remember(candidate);
                accepted.insert(candidate);
            }
            w.remember(seq);
            accepted.insert(seq);
        }
    }

    #[test]
    fn datagrams_older_or_younger_than_the_maximum_age_are_stale() {
        let mut w = windows();
        let now = 100;
        assert_eq!(
            take(&mut w, origin(1, 1, 39_999), now),
            Err(SealError::Stale)
        );
        assert_eq!(take(&mut w, origin(1, 2, 40_000), now), Ok(()));
        assert_eq!(take(&mut w, origin(1, 3, 160_000), now), Ok(()));
        assert_eq!(
            take(&mut w, origin(1, 4, 160_001), now),
            Err(SealError::Stale)
        );
    }

    #[test]
    fn windows_of_silent_senders_are_dropped_only_once_the_age_bound_covers_them() {
        let mut w = windows();
        take(&mut w, origin(1, 10, 0), 0).unwrap();
        // Touched again in the next generation: kept.
        take(&mut w, origin(2, 10, 119_000), 119).unwrap();
        take(&mut w, origin(2, 11, 125_000), 125).unwrap();
        take(&mut w, origin(2, 12, 250_000), 250).unwrap();
        assert_eq!(
            take(&mut w, origin(2, 11, 250_000), 250),
            Err(SealError::Replayed)
        );
        // Sender 1 was silent for two generations: forgotten, and its old
        // datagram is refused by its age.
        assert_eq!(w.len(), 1);
        assert_eq!(take(&mut w, origin(1, 10, 0), 250), Err(SealError::Stale));
    }

    #[test]
    fn senders_beyond_the_capacity_are_refused_until_windows_age_out() {
        let mut w = windows();
        for session in 0..4 {
            take(&mut w, origin(session, 1, 0), 0).unwrap();
        }
        assert_eq!(
            take(&mut w, origin(9, 1, 0), 0),
            Err(SealError::TooManySenders)
        );
        assert_eq!(
            take(&mut w, origin(0, 2, 0), 0),
            Ok(()),
            "known senders go on"
        );
        take(&mut w, origin(0, 3, 130_000), 130).unwrap();
        take(&mut w, origin(0, 4, 260_000), 260).unwrap();
        assert_eq!(take(&mut w, origin(9, 1, 260_000), 260), Ok(()));
        // A full table of senders that all went silent makes room by itself.
        for session in 20..22 {
            take(&mut w, origin(session, 1, 260_000), 260).unwrap();
        }
        assert_eq!(
            take(&mut w, origin(30, 1, 261_000), 261),
            Err(SealError::TooManySenders)
        );
        assert_eq!(take(&mut w, origin(30, 1, 800_000), 800), Ok(()));
    }
}
