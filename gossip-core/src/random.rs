//! Uniform choices from the injected generator. The core has no other source of
//! randomness, so a seeded generator makes a node reproducible.

use core::time::Duration;

use rand_core::Rng;

/// A uniform integer in `0..n`, without modulo bias (Lemire's method).
///
/// # Panics
/// If `n` is zero (a programming error).
pub(crate) fn below<R: Rng>(rng: &mut R, n: usize) -> usize {
    below_u64(rng, n as u64) as usize
}

/// A uniform integer in `0..n`; see [`below`].
pub(crate) fn below_u64<R: Rng>(rng: &mut R, n: u64) -> u64 {
    assert!(n > 0, "below(0)");
    let threshold = n.wrapping_neg() % n;
    loop {
        let product = u128::from(rng.next_u64()) * u128::from(n);
        if (product as u64) >= threshold {
            return (product >> 64) as u64;
        }
    }
}

/// Fisher–Yates shuffle.
pub(crate) fn shuffle<R: Rng, T>(rng: &mut R, items: &mut [T]) {
    for i in (1..items.len()).rev() {
        items.swap(i, below(rng, i + 1));
    }
}

/// A uniform duration in `0..max` (zero if `max` is zero), at nanosecond resolution.
pub(crate) fn duration_below<R: Rng>(rng: &mut R, max: Duration) -> Duration {
    let nanos = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
    if nanos == 0 {
        Duration::ZERO
    } else {
        Duration::from_nanos(below_u64(rng, nanos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::SeedableRng;
    use rand_xoshiro::Xoshiro256PlusPlus;

    #[test]
    fn below_is_uniform_enough() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        let mut counts = [0u32; 6];
        for _ in 0..60_000 {
            counts[below(&mut rng, 6)] += 1;
        }
        for c in counts {
            assert!((9_500..10_500).contains(&c), "{counts:?}");
        }
    }

    #[test]
    fn shuffle_permutes() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(2);
        let mut items: [u32; 10] = core::array::from_fn(|i| i as u32);
        shuffle(&mut rng, &mut items);
        let mut sorted = items;
        sorted.sort_unstable();
        assert_eq!(sorted, core::array::from_fn(|i| i as u32));
        assert_ne!(
            items, sorted,
            "ten items staying in order is a 1 in 3.6M chance"
        );
    }

    #[test]
    fn durations_stay_below_their_bound() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        for _ in 0..1000 {
            assert!(
                duration_below(&mut rng, Duration::from_millis(200)) < Duration::from_millis(200)
            );
        }
        assert_eq!(duration_below(&mut rng, Duration::ZERO), Duration::ZERO);
    }
}
