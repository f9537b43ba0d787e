//! The digest a pull carries: a salted Bloom filter over broadcast ids.
//!
//! Its size grows with what it summarizes (about 10 bits per id, rounded up to
//! a power of two) up to a cap; a false positive makes the answering member
//! withhold a broadcast the puller lacks, and since the salt changes with every
//! pull, the next pull gets it. The hash is written out here rather than taken
//! from a crate so that every version of this library agrees on it.

use alloc::vec::Vec;

/// Probes per id: close to optimal at 10 bits per id (about 1% false positives).
const PROBES: u32 = 4;
const BITS_PER_ID: usize = 10;
const MIN_LEN: usize = 8;

/// Builds a filter of `ids` salted with `salt`, at most `max_len` bytes (a power
/// of two, at least 8). Returns the filter's bytes.
pub(crate) fn build(salt: u32, ids: &[u64], max_len: usize) -> Vec<u8> {
    if ids.is_empty() {
        return Vec::new();
    }
    let wanted = (ids.len() * BITS_PER_ID).div_ceil(8).next_power_of_two();
    let cap = if max_len.is_power_of_two() {
        max_len
    } else {
        max_len.next_power_of_two() / 2
    };
    let len = wanted.clamp(MIN_LEN, cap.max(MIN_LEN));
    let mut filter = alloc::vec![0u8; len];
    for &id in ids {
        for bit in probes(salt, id, len) {
            filter[bit / 8] |= 1 << (bit % 8);
        }
    }
    filter
}

/// True if `filter` (built with `salt`) may hold `id`; false if it surely
/// does not. An empty filter holds nothing.
pub(crate) fn contains(filter: &[u8], salt: u32, id: u64) -> bool {
    if filter.is_empty() || !filter.len().is_power_of_two() {
        return false;
    }
    probes(salt, id, filter.len()).all(|bit| filter[bit / 8] & (1 << (bit % 8)) != 0)
}

/// The bits `id` sets in a filter of `len` bytes (a power of two): double
/// hashing over a splitmix64 of the salted id.
fn probes(salt: u32, id: u64, len: usize) -> impl Iterator<Item = usize> {
    let hash = splitmix64(id ^ u64::from(salt).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let (h1, h2) = (hash as u32, ((hash >> 32) as u32) | 1);
    let mask = (len * 8 - 1) as u32;
    (0..PROBES).map(move |i| (h1.wrapping_add(i.wrapping_mul(h2)) & mask) as usize)
}

/// A well-mixed hash of a broadcast id, for the digest that probes carry:
/// the XOR of these over the ids held.
pub(crate) fn id_hash(id: u64) -> u64 {
    splitmix64(id)
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_found_and_the_false_positive_rate_is_about_one_percent() {
        let ids: Vec<u64> = (0..500u64).map(|i| i * 7_919 + 3).collect();
        let filter = build(42, &ids, 1_024);
        assert_eq!(filter.len(), 1_024, "500 ids · 10 bits → 625 bytes → 1,024");
        assert!(ids.iter().all(|&id| contains(&filter, 42, id)));
        let false_positives = (1_000_000..1_010_000u64)
            .filter(|&id| contains(&filter, 42, id))
            .count();
        assert!(false_positives < 100, "{false_positives} of 10,000");
    }

    #[test]
    fn a_capped_filter_still_holds_every_member() {
        let ids: Vec<u64> = (0..5_000).collect();
        let filter = build(1, &ids, 1_024);
        assert_eq!(filter.len(), 1_024);
        assert!(ids.iter().all(|&id| contains(&filter, 1, id)));
        assert_eq!(build(1, &ids, 1_000).len(), 512, "a power of two");
    }

    #[test]
    fn the_salt_moves_false_positives_and_empty_holds_nothing() {
        let ids: Vec<u64> = (0..50).collect();
        let a = build(1, &ids, 1_024);
        let b = build(2, &ids, 1_024);
        let fp = |filter: &[u8], salt| {
            (1_000..11_000u64)
                .filter(|&id| contains(filter, salt, id))
                .collect::<Vec<_>>()
        };
        let (fa, fb) = (fp(&a, 1), fp(&b, 2));
        assert!(fa.iter().filter(|id| fb.contains(id)).count() < fa.len().max(1));
        assert!(build(1, &[], 1_024).is_empty());
        assert!(!contains(&[], 1, 5));
    }
}
