//! Address validation for exchanges that strangers ask for: a node sends its
//! member table (many datagrams) to an address outside its table only once
//! that address has echoed a cookie the node gave it, so that a forged or
//! replayed request cannot aim the table at a victim. As QUIC's Retry and
//! DNS cookies: stateless, one round trip, keyed by a secret of the node's.

use core::time::Duration;

use crate::state::StableHasher;
use crate::time::Instant;

/// How long a cookie stays valid: its epoch and the next.
const EPOCH: Duration = Duration::from_secs(60);
/// Separates cookies from the node's other uses of the hash.
const DOMAIN: u64 = 0xc00c_1e5e_ed00_0001;

/// Issues and checks cookies.
pub(crate) struct Cookies {
    secret: u64,
}

impl Cookies {
    pub(crate) fn new(secret: u64) -> Self {
        Cookies { secret }
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
        let mut hasher = StableHasher::new(DOMAIN);
        hasher.write_u64(self.secret);
        hasher.write_u64(addr_hash);
        hasher.write_u64(epoch);
        // Never 0, which means "no cookie".
        hasher.finish() | 1
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
        let cookies = Cookies::new(42);
        let now = Instant::from_secs(100);
        let cookie = cookies.issue(7, now);
        assert!(cookies.check(7, now, cookie));
        assert!(cookies.check(7, now + EPOCH, cookie));
        assert!(!cookies.check(7, now + EPOCH * 2, cookie));
        assert!(!cookies.check(8, now, cookie), "another address");
        assert!(!Cookies::new(43).check(7, now, cookie), "another secret");
        assert!(!cookies.check(7, now, 0));
    }
}
