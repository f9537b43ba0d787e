//! Repairing chunked state transfers over a lossy network.
//!
//! A member table larger than a datagram travels as numbered chunks. The receiver
//! notes which arrived; after a probe timeout it asks for the missing ones by
//! bitmap, a few times at most. The sender keeps what it sent for a short while to
//! answer, and answers only the address it sent to, a bounded number of times, so
//! the repair cannot be used to make this node flood a third party.

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::time::Instant;
use crate::wire::MAX_STATE_CHUNKS;

/// Transfers kept for resending, and transfers being received, at most.
const MAX_TRANSFERS: usize = 8;
/// Times a receiver asks for missing chunks, and a sender answers, per transfer.
pub(crate) const MAX_RESEND_ROUNDS: u8 = 3;

/// A transfer this node sent, kept to resend lost chunks.
struct Sent<A> {
    session: u32,
    to: A,
    /// Shared with the datagrams queued to send: resending copies nothing.
    chunks: Vec<Arc<[u8]>>,
    expires: Instant,
    rounds_left: u8,
}

/// Transfers this node sent recently.
pub(crate) struct SentTransfers<A> {
    recent: VecDeque<Sent<A>>,
}

impl<A> Default for SentTransfers<A> {
    fn default() -> Self {
        SentTransfers {
            recent: VecDeque::new(),
        }
    }
}

impl<A: PartialEq> SentTransfers<A> {
    /// Keeps a multi-chunk transfer until `expires`.
    pub(crate) fn keep(
        &mut self,
        now: Instant,
        session: u32,
        to: A,
        chunks: Vec<Arc<[u8]>>,
        expires: Instant,
    ) {
        self.recent.retain(|s| s.expires > now);
        if self.recent.len() == MAX_TRANSFERS {
            self.recent.pop_front();
        }
        self.recent.push_back(Sent {
            session,
            to,
            chunks,
            expires,
            rounds_left: MAX_RESEND_ROUNDS,
        });
    }

    /// The chunks of `session` sent to `from` that `missing` asks for, if the
    /// transfer is still kept and has resend rounds left.
    pub(crate) fn resend(
        &mut self,
        now: Instant,
        session: u32,
        from: &A,
        missing: &[u8],
    ) -> impl Iterator<Item = &Arc<[u8]>> {
        let sent = self.recent.iter_mut().find(|s| {
            s.session == session && s.to == *from && s.expires > now && s.rounds_left > 0
        });
        let chunks: &[Arc<[u8]>] = match sent {
            Some(sent) => {
                sent.rounds_left -= 1;
                &sent.chunks
            }
            None => &[],
        };
        chunks
            .iter()
            .enumerate()
            .filter(move |(i, _)| bit(missing, *i))
            .map(|(_, chunk)| chunk)
    }
}

/// A transfer this node is receiving.
struct Receiving<A> {
    session: u32,
    from: A,
    received: Vec<u8>,
    chunks: u16,
    check_at: Instant,
    rounds_left: u8,
}

/// Multi-chunk transfers this node is receiving.
pub(crate) struct ReceivingTransfers<A> {
    open: VecDeque<Receiving<A>>,
}

impl<A> Default for ReceivingTransfers<A> {
    fn default() -> Self {
        ReceivingTransfers {
            open: VecDeque::new(),
        }
    }
}

/// A request for missing chunks.
pub(crate) struct ResendRequest<A> {
    pub(crate) to: A,
    pub(crate) session: u32,
    pub(crate) missing: Vec<u8>,
}

impl<A: Clone + PartialEq> ReceivingTransfers<A> {
    /// Notes chunk `chunk` of `chunks` of `session` from `from`; a check for gaps
    /// is due at `check_at` if the transfer is new.
    pub(crate) fn note(
        &mut self,
        session: u32,
        from: &A,
        chunk: u16,
        chunks: u16,
        check_at: Instant,
    ) {
        // Decoding refused larger transfers; checked again here because a
        // request for the missing chunks must fit a datagram.
        if chunks <= 1 || chunk >= chunks || chunks > MAX_STATE_CHUNKS {
            return;
        }
        let at = match self
            .open
            .iter()
            .position(|r| r.session == session && r.from == *from)
        {
            Some(at) => at,
            None => {
                if self.open.len() == MAX_TRANSFERS {
                    self.open.pop_front();
                }
                self.open.push_back(Receiving {
                    session,
                    from: from.clone(),
                    received: alloc::vec![0; usize::from(chunks).div_ceil(8)],
                    chunks,
                    check_at,
                    rounds_left: MAX_RESEND_ROUNDS,
                });
                self.open.len() - 1
            }
        };
        let transfer = &mut self.open[at];
        if chunks != transfer.chunks {
            return; // not the transfer we are tracking
        }
        transfer.received[usize::from(chunk / 8)] |= 1 << (chunk % 8);
        if (0..usize::from(chunks)).all(|i| bit(&transfer.received, i)) {
            self.open.remove(at);
        }
    }

    /// The earliest check for gaps.
    pub(crate) fn next_check(&self) -> Option<Instant> {
        self.open.iter().map(|r| r.check_at).min()
    }

    /// Requests for the chunks still missing from transfers due for a check at
    /// `now`; transfers out of rounds are abandoned. The next check is `retry_at`.
    pub(crate) fn due(&mut self, now: Instant, retry_at: Instant) -> Vec<ResendRequest<A>> {
        let mut requests = Vec::new();
        self.open.retain_mut(|r| {
            if r.check_at > now {
                return true;
            }
            if r.rounds_left == 0 {
                return false;
            }
            r.rounds_left -= 1;
            r.check_at = retry_at;
            let missing = r.received.iter().map(|byte| !byte).collect::<Vec<u8>>();
            requests.push(ResendRequest {
                to: r.from.clone(),
                session: r.session,
                missing: trim_bitmap(missing, r.chunks),
            });
            true
        });
        requests
    }
}

fn bit(bitmap: &[u8], i: usize) -> bool {
    bitmap
        .get(i / 8)
        .is_some_and(|byte| byte & (1 << (i % 8)) != 0)
}

/// Clears the bits past `chunks` in the last byte.
fn trim_bitmap(mut bitmap: Vec<u8>, chunks: u16) -> Vec<u8> {
    let tail = chunks % 8;
    if tail != 0 {
        if let Some(last) = bitmap.last_mut() {
            *last &= (1 << tail) - 1;
        }
    }
    bitmap
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_are_requested_a_bounded_number_of_times() {
        let mut receiving = ReceivingTransfers::default();
        let check = Instant::from_millis(500);
        for chunk in [0, 2, 4] {
            receiving.note(7, &1u32, chunk, 5, check);
        }
        assert_eq!(receiving.next_check(), Some(check));
        assert!(receiving.due(Instant::from_millis(499), check).is_empty());
        let requests = receiving.due(check, Instant::from_secs(1));
        assert_eq!(requests.len(), 1);
        assert_eq!((requests[0].to, requests[0].session), (1, 7));
        assert_eq!(requests[0].missing, [0b01010]);
        for round in 1..MAX_RESEND_ROUNDS {
            let at = Instant::from_secs(u64::from(round));
            assert_eq!(
                receiving
                    .due(at, at + Instant::from_secs(1).since_epoch())
                    .len(),
                1
            );
        }
        assert!(
            receiving
                .due(Instant::from_secs(9), Instant::from_secs(10))
                .is_empty()
        );
        assert_eq!(receiving.next_check(), None, "abandoned after its rounds");
    }

    #[test]
    fn a_complete_transfer_is_forgotten() {
        let mut receiving = ReceivingTransfers::default();
        for chunk in (0..10).rev() {
            receiving.note(7, &1u32, chunk, 10, Instant::ZERO);
        }
        assert_eq!(receiving.next_check(), None);
        receiving.note(8, &1u32, 0, 1, Instant::ZERO);
        assert_eq!(
            receiving.next_check(),
            None,
            "single chunks need no tracking"
        );
    }

    #[test]
    fn only_the_original_recipient_gets_resends_and_only_a_few_times() {
        let mut sent = SentTransfers::default();
        let chunks: Vec<Arc<[u8]>> = (0..4u8).map(|i| Arc::from([i])).collect();
        sent.keep(
            Instant::ZERO,
            7,
            1u32,
            chunks.clone(),
            Instant::from_secs(5),
        );
        let missing = [0b1010];
        let now = Instant::from_secs(1);
        assert_eq!(
            sent.resend(now, 7, &2, &missing).count(),
            0,
            "another address"
        );
        assert_eq!(
            sent.resend(now, 8, &1, &missing).count(),
            0,
            "another session"
        );
        for _ in 0..MAX_RESEND_ROUNDS {
            let resent: Vec<&Arc<[u8]>> = sent.resend(now, 7, &1, &missing).collect();
            assert_eq!(resent, [&chunks[1], &chunks[3]]);
            assert!(Arc::ptr_eq(resent[0], &chunks[1]), "resent, not copied");
        }
        assert_eq!(
            sent.resend(now, 7, &1, &missing).count(),
            0,
            "rounds used up"
        );
        sent.keep(
            Instant::ZERO,
            9,
            1u32,
            alloc::vec![Arc::from([0u8])],
            Instant::from_secs(5),
        );
        assert_eq!(
            sent.resend(Instant::from_secs(6), 9, &1, &[1]).count(),
            0,
            "expired"
        );
    }
}
