//! Address validation for exchanges that strangers ask for: a node sends its
//! member table (many datagrams) to an address outside its table only once
//! that address has echoed a cookie the node gave it, so that a forged or
//! replayed request cannot aim the table at a victim. As QUIC's Retry and
//! DNS cookies: stateless, one round trip, keyed by a secret of the node's.

use core::time::Duration;

use crate::seal::keyed_hash;
use crate::time::Instant;

/// How long a cookie stays valid: its epoch and the next.
const EPOCH: Duration = Duration::from_secs(60);
/// Separates cookies from any other use of the key.
const DOMAIN: [u8; 8] = *b"cookie01";

/// Issues and checks cookies: a pseudo-random function of the address and
/// the epoch under a key of the node's, drawn from its secret generator, so
/// that no number of cookies seen predicts another address's.
pub(crate) struct Cookies {
    key: [u8; 32],
}

impl Cookies {
    pub(crate) fn new(key: [u8; 32]) -> Self {
        Cookies { key }
    }

    /// The cookie of the address hashing to `addr_hash` now.
    pub(crate) fn issue(&self, addr_hash: u64, now: Instant) -> u64 {
        self.at_epoch(addr_hash, epoch(now))
    }

    /// True if `cookie` was issued to that address in this epoch or the last.
    pub(crate) fn check(&self, addr_hash: u64, now: Instant, cookie: u64) -> bool {
        let epoch = epoch(now);
        cookie != 0
            && (cookie == self.at_epoch(addr_hash, epoch)
                || cookie == self.at_epoch(addr_hash, epoch.wrapping_sub(1)))
    }

    fn at_epoch(&self, addr_hash: u64, epoch: u64) -> u64 {
        let mut input = [0; 24];
        input[..8].copy_from_slice(&DOMAIN);
        input[8..16].copy_from_slice(&addr_hash.to_le_bytes());
        input[16..].copy_from_slice(&epoch.to_le_bytes());
        // Never 0, which means "no cookie".
        keyed_hash(&self.key, input) | 1
    }
}

fn epoch(now: Instant) -> u64 {
    now.as_nanos() / EPOCH.as_nanos() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_is_valid_for_its_address_and_two_epochs_only() {
        let cookies = Cookies::new([42; 32]);
        let now = Instant::from_secs(100);
        let cookie = cookies.issue(7, now);
        assert!(cookies.check(7, now, cookie));
        assert!(cookies.check(7, now + EPOCH, cookie));
        assert!(!cookies.check(7, now + EPOCH * 2, cookie));
        assert!(!cookies.check(8, now, cookie), "another address");
        assert!(!Cookies::new([43; 32]).check(7, now, cookie), "another key");
        assert!(!cookies.check(7, now, 0));
    }
}
