//! A 64-bit hash every replica computes alike, written out here rather than
//! taken from a crate whose output may change between versions: replicas
//! compare Merkle trees built from it, and place keys in leaves by it.

/// Hashes a sequence of byte strings and integers. Not cryptographic: it
/// tells honest replicas apart (a difference goes unnoticed with probability
/// 2⁻⁶⁴ per entry); authenticity is the wire encryption's job.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StableHasher {
    state: u64,
}

impl StableHasher {
    pub(crate) const fn new(domain: u64) -> Self {
        StableHasher {
            state: domain ^ 0x243f_6a88_85a3_08d3,
        }
    }

    pub(crate) fn write_u64(&mut self, value: u64) {
        self.state = mix(self.state ^ value).wrapping_add(0x9e37_79b9_7f4a_7c15);
    }

    /// Writes `bytes` and its length, so that concatenations differ.
    pub(crate) fn write_bytes(&mut self, bytes: &[u8]) {
        self.write_u64(bytes.len() as u64);
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.write_u64(u64::from_le_bytes(chunk.try_into().expect("eight bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            self.write_u64(u64::from_le_bytes(last));
        }
    }

    pub(crate) fn finish(self) -> u64 {
        mix(self.state)
    }
}

/// The splitmix64 finalizer: every input bit affects every output bit.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Where a key lives in the Merkle tree.
pub(crate) fn key_hash(key: &[u8]) -> u64 {
    let mut hasher = StableHasher::new(0x006b_6579); // "key"
    hasher.write_bytes(key);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_pinned() {
        // Replicas of different versions must agree: changing the hash is a
        // wire format change.
        assert_eq!(key_hash(b""), 0x0bfe_2e3a_f3b5_02c9);
        assert_eq!(key_hash(b"config/leader"), 0x9045_129e_f11a_1ecf);
        assert_ne!(key_hash(b"ab"), key_hash(b"ab\0"));
    }
}
