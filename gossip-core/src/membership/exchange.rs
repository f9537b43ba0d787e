//! Push-pull state exchange: sessions this node opened, and its member table cut
//! into datagrams.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use serde::Serialize;

use super::*;

use super::table::{LOCAL, MemberTable};
use crate::member::{Member, MemberState};
use crate::stats::TrafficByKind;
use crate::time::Instant;
use crate::wire::{
    MAX_MESSAGES_PER_PACKET, MAX_STATE_CHUNKS, Message, PacketWriter, Status, Update,
};

/// What joins, push-pull and state transfers keep.
pub(super) struct Exchange<A> {
    /// Exchanges this node opened and waits to hear back from.
    pub(super) awaiting: Exchanges,
    pub(super) sent_transfers: SentTransfers<A>,
    pub(super) receiving_transfers: ReceivingTransfers<A>,
    pub(super) joining: Option<Joining<A>>,
    /// Earliest time a datagram from a stranger may trigger a state exchange.
    pub(super) next_discovery: Instant,
    /// Validates the addresses of strangers asking for the table.
    pub(super) cookies: Cookies,
}

/// A join in progress.
pub(super) struct Joining<A> {
    pub(super) seeds: Vec<A>,
    pub(super) attempts: u32,
    /// Attempts since a seed last answered: what the backoff doubles on.
    pub(super) unanswered: u32,
    pub(super) session: u32,
}

/// An exchange request, as received.
pub(super) struct Request {
    pub(super) session: u32,
    pub(super) digest: u64,
    pub(super) join: bool,
    pub(super) cookie: u64,
    /// Padded as requests to strangers are.
    pub(super) padded: bool,
}

/// Most exchanges this node waits on at once; an older one is forgotten (the next
/// exchange repeats its work).
const MAX_OPEN_EXCHANGES: usize = 16;

/// Exchanges this node opened and has not yet answered. Only an open exchange gets
/// this node's state in return, so a forged state chunk asking for a reply cannot
/// make the node send its table to an arbitrary address.
#[derive(Default)]
pub(crate) struct Exchanges {
    /// Session, expiry, and whether it was asked again with a cookie.
    open: VecDeque<(u32, Instant, bool)>,
}

impl Exchanges {
    pub(crate) fn open(&mut self, now: Instant, session: u32, expires: Instant) {
        self.open
            .retain(|&(s, expiry, _)| s != session && expiry > now);
        if self.open.len() == MAX_OPEN_EXCHANGES {
            self.open.pop_front();
        }
        self.open.push_back((session, expires, false));
    }

    /// Closes `session` if it is open and unexpired; true if it was.
    pub(crate) fn close(&mut self, now: Instant, session: u32) -> bool {
        match self.open.iter().position(|&(s, ..)| s == session) {
            Some(at) => self
                .open
                .remove(at)
                .is_some_and(|(_, expiry, _)| expiry > now),
            None => false,
        }
    }

    /// True, once per opening, if `session` is open and unexpired: it may be
    /// asked again with the cookie its peer gave (a second cookie for one
    /// request would be a loop).
    pub(crate) fn retry_with_cookie(&mut self, now: Instant, session: u32) -> bool {
        self.open
            .iter_mut()
            .find(|(s, expiry, retried)| *s == session && *expiry > now && !*retried)
            .map(|(_, _, retried)| *retried = true)
            .is_some()
    }
}

/// The update that states what this node knows of `member`; `local_name` is
/// named as the suspecter of suspect members.
pub(crate) fn update_of<'m, A>(member: &'m Member<A>, suspected_by: &'m str) -> Update<'m, A>
where
    A: Clone,
{
    let status = match member.state {
        MemberState::Alive => Status::Alive {
            addr: member.addr.clone(),
            metadata: member.metadata.as_bytes(),
        },
        MemberState::Suspect => Status::Suspect { by: suspected_by },
        MemberState::Failed => Status::Failed,
        MemberState::Left => Status::Left,
    };
    Update {
        name: &member.name,
        generation: member.generation,
        incarnation: member.incarnation,
        status,
    }
}

/// Where and how a member table is sent.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StateHeader {
    pub(crate) cluster_id: u32,
    pub(crate) max_packet_size: usize,
    pub(crate) session: u32,
    pub(crate) reply: bool,
    /// Where in the table the other members start, so that a table larger
    /// than [`MAX_STATE_CHUNKS`] is sent a different part each exchange.
    pub(crate) start: usize,
}

/// The member table as datagrams of at most `max_packet_size` bytes, each
/// opened by a [`Message::State`] that numbers it, so the receiver merges it as
/// remote state and can tell which chunks it missed. This node's own entry
/// comes first, then the others from `header.start` on; entries for which
/// `fresh` holds go first, in chunks marked fresh. At most
/// [`MAX_STATE_CHUNKS`] chunks: the rest of a larger table is left out. The
/// messages are counted in `sent`.
pub(crate) fn encode_state<'t, A: Clone + Eq + core::hash::Hash + Serialize>(
    table: &'t MemberTable<A>,
    header: StateHeader,
    fresh: impl Fn(&Member<A>) -> bool,
    suspecter: impl Fn(&str) -> Option<&'t str>,
    sent: &mut TrafficByKind,
) -> Vec<Arc<[u8]>> {
    let local = table.local().name.clone();
    let mut buf = alloc::vec![0u8; header.max_packet_size];
    // The largest opening, so that real ones (with smaller numbers) always fit.
    let widest_opening: Message<'_, A> = Message::State {
        session: u32::MAX,
        reply: true,
        fresh: true,
        chunk: u16::MAX,
        chunks: u16::MAX,
    };
    let room = {
        let mut writer = PacketWriter::new(&mut buf, header.cluster_id);
        writer
            .push(&widest_opening)
            .expect("a state opening fits a datagram");
        writer.remaining()
    };
    // First pass: cut the entries into chunk bodies.
    let others = table.len() - 1;
    let start = header.start % others.max(1);
    let order = core::iter::once(LOCAL).chain((0..others).map(|i| 1 + (start + i) % others));
    let mut bodies: Vec<(bool, Vec<u8>)> = Vec::new();
    for freshness in [true, false] {
        let mut records = order
            .clone()
            .map(|index| table.get(index))
            .filter(|member| fresh(member) == freshness)
            .peekable();
        while records.peek().is_some() && bodies.len() < usize::from(MAX_STATE_CHUNKS) {
            let mut body = Vec::new();
            let mut messages = 1;
            while let Some(record) = records.peek() {
                // A suspect entry names who first suspected it, not this node:
                // passing a suspicion on is not confirming it independently.
                let by = suspecter(&record.name).unwrap_or(&local);
                let update = Message::Update(update_of(record, by));
                let Ok(encoded) = crate::wire::encode_into(&update, &mut buf) else {
                    break;
                };
                if messages == MAX_MESSAGES_PER_PACKET || body.len() + encoded.len() > room {
                    break;
                }
                sent[update.kind()].record(encoded.len());
                body.extend_from_slice(encoded);
                messages += 1;
                records.next();
            }
            assert!(
                messages > 1,
                "config validation guarantees one member fits a datagram"
            );
            bodies.push((freshness, body));
        }
    }
    // Second pass: number the chunks.
    let chunks = bodies.len() as u16;
    let mut datagrams = Vec::with_capacity(bodies.len());
    for (index, (freshness, body)) in bodies.iter().enumerate() {
        let opening: Message<'_, A> = Message::State {
            session: header.session,
            reply: header.reply,
            fresh: *freshness,
            chunk: index as u16,
            chunks,
        };
        let mut writer = PacketWriter::new(&mut buf, header.cluster_id);
        let before = writer.len();
        writer
            .push(&opening)
            .expect("checked against the widest opening");
        sent[opening.kind()].record(writer.len() - before);
        writer.push_encoded(body).expect("bodies were cut to fit");
        let len = writer.len();
        datagrams.push(Arc::from(&buf[..len]));
    }
    datagrams
}

impl<A: Address> Membership<A> {
    /// A probe or gossip from an address not in the member table means this
    /// node's view is missing someone: exchange state with the sender rather than
    /// wait for a rumor that may have run out or the next periodic exchange. At
    /// most once per probe interval, so forged datagrams cannot make it chatty.
    pub(super) fn discover<R: Rng>(
        &mut self,
        env: &mut Env<'_, R>,
        from: &A,
        first: Option<MessageKind>,
    ) {
        if !self.config.discovery
            || env.now < self.exchange.next_discovery
            || self.table.knows_addr(from)
        {
            return;
        }
        let exchange_traffic = matches!(
            first,
            Some(
                MessageKind::PushPull
                    | MessageKind::State
                    | MessageKind::StateResend
                    | MessageKind::Cookie
            )
        );
        if exchange_traffic {
            return;
        }
        self.exchange.next_discovery = env.now + self.config.probe_interval;
        env.stats.exchange.discovery_push_pulls += 1;
        self.open_exchange(env, from.clone());
    }

    pub(super) fn handle_push_pull<R: Rng>(
        &mut self,
        env: &mut Env<'_, R>,
        from: &A,
        request: Request,
    ) {
        let Request {
            session,
            digest,
            join,
            cookie,
            padded,
        } = request;
        if !self.table.knows_addr(from) {
            // A stranger gets the table only from an address proven to
            // receive: otherwise one small cookie, to ask again with, and
            // only for a request that outweighs it.
            if !padded {
                env.stats.exchange.unpadded_requests += 1;
                return;
            }
            let addr_hash = self.table.addr_hash(from);
            if !self.exchange.cookies.check(addr_hash, env.now, cookie) {
                env.stats.exchange.cookies_sent += 1;
                let cookie = self.exchange.cookies.issue(addr_hash, env.now);
                self.send(
                    env,
                    Outgoing::Cookie {
                        to: from.clone(),
                        session,
                        cookie,
                    },
                );
                return;
            }
        }
        if join || digest != self.table.digest() {
            self.send_state(env, from.clone(), session, true, join);
        } else {
            env.stats.exchange.push_pulls_in_sync += 1;
        }
    }

    /// A peer asks this node to repeat its exchange request with a cookie:
    /// once per request this node opened, never for one it did not.
    pub(super) fn handle_cookie<R>(
        &mut self,
        env: &mut Env<'_, R>,
        from: &A,
        session: u32,
        cookie: u64,
    ) {
        if !self.exchange.awaiting.retry_with_cookie(env.now, session) {
            env.stats.exchange.cookies_ignored += 1;
            return;
        }
        let join = match self.exchange.joining.as_mut() {
            Some(joining) if joining.session == session => {
                // The seed is up: if this exchange is lost now, that is loss,
                // not a seed that is down, and the next attempt comes after
                // the initial interval instead of a doubled one (a joiner at
                // 10% loss got its seed's cookie at 31 s, lost the rest of the
                // exchange and waited 30 s more for its seventh attempt).
                joining.unanswered = 0;
                let retry = env.now + self.config.join_retry_initial;
                if self
                    .timers
                    .get(Timer::JoinRetry)
                    .is_some_and(|at| at > retry)
                {
                    self.timers.set(Timer::JoinRetry, retry);
                }
                true
            }
            _ => false,
        };
        self.send(
            env,
            Outgoing::PushPull {
                to: from.clone(),
                session,
                join,
                cookie,
            },
        );
    }

    /// A chunk of remote state begins: note it, so gaps get repaired. While
    /// joining, any member's state (a seed's answer, or the answer to a discovery
    /// exchange) completes the join.
    pub(super) fn state_begins<R>(
        &mut self,
        env: &mut Env<'_, R>,
        from: &A,
        session: u32,
        chunk: u16,
        chunks: u16,
    ) {
        let check_at = env.now + self.config.probe_timeout;
        self.exchange
            .receiving_transfers
            .note(session, from, chunk, chunks, check_at);
        self.arm_transfer_check();
        if self.exchange.joining.take().is_some() {
            self.timers.clear(Timer::JoinRetry);
            self.emit(env, Event::JoinCompleted { via: from.clone() });
        }
    }

    pub(super) fn handle_state_resend<R>(
        &mut self,
        env: &mut Env<'_, R>,
        from: &A,
        session: u32,
        missing: &[u8],
    ) {
        let chunks: Vec<Arc<[u8]>> = self
            .exchange
            .sent_transfers
            .resend(env.now, session, from, missing)
            .cloned()
            .collect();
        for datagram in chunks {
            self.send(
                env,
                Outgoing::Encoded {
                    to: from.clone(),
                    datagram,
                },
            );
        }
    }

    /// Asks senders of incomplete transfers for what is missing.
    pub(super) fn check_transfers<R>(&mut self, env: &mut Env<'_, R>) {
        let retry_at = env.now + self.config.probe_timeout;
        for request in self.exchange.receiving_transfers.due(env.now, retry_at) {
            self.send(
                env,
                Outgoing::StateResend {
                    to: request.to,
                    session: request.session,
                    missing: request.missing,
                },
            );
        }
        self.arm_transfer_check();
    }

    pub(super) fn arm_transfer_check(&mut self) {
        match self.exchange.receiving_transfers.next_check() {
            Some(at) => self.timers.set(Timer::TransferCheck, at),
            None => self.timers.clear(Timer::TransferCheck),
        }
    }

    /// Open a state exchange with a random member. Failed members are candidates
    /// while their tombstones last: that is how the two sides of a healed
    /// partition find each other again. Members only heard of (a restarted
    /// node's tombstones, learned from another's table) are candidates one
    /// round in [`ANY_PARTNER`] (drawn among themselves), or when no member
    /// heard from is: enough to heal, and one small request now and then to
    /// an address a forged announcement named.
    pub(super) fn push_pull_round<R: Rng>(&mut self, env: &mut Env<'_, R>) {
        self.timers
            .set(Timer::PushPull, env.now + self.config.push_pull_interval);
        let candidate = |m: &Member<A>| m.state != MemberState::Left;
        // The round for members only heard of draws among them alone: drawn
        // among all, one such member of a large table would wait for its
        // turn many times longer than the others.
        let mut partner = if random::below(env.rng, ANY_PARTNER) == 0 {
            self.table
                .sample_where(env.rng, 1, |m, heard| !heard && candidate(m))
        } else {
            Sample::new()
        };
        if partner.is_empty() {
            partner = self.table.sample(env.rng, 1, candidate);
        }
        if partner.is_empty() {
            partner = self.table.sample_any(env.rng, 1, candidate);
        }
        let Some(&partner) = partner.first() else {
            return;
        };
        let to = self.table.get(partner).addr.clone();
        self.open_exchange(env, to);
    }

    /// Sends our digest to `to`; if its table differs, it answers with its state
    /// and we answer with ours.
    pub(super) fn open_exchange<R: Rng>(&mut self, env: &mut Env<'_, R>, to: A) {
        let session = env.rng.next_u32();
        self.exchange
            .awaiting
            .open(env.now, session, env.now + self.config.push_pull_interval);
        env.stats.exchange.push_pulls += 1;
        self.send(
            env,
            Outgoing::PushPull {
                to,
                session,
                join: false,
                cookie: 0,
            },
        );
    }

    pub(crate) fn join<R: Rng>(
        &mut self,
        env: &mut Env<'_, R>,
        seeds: &[A],
    ) -> Result<(), JoinError> {
        if self.lifecycle.left {
            return Err(JoinError::Left);
        }
        if seeds.is_empty() {
            return Err(JoinError::NoSeeds);
        }
        let own = &self.local().addr;
        let seeds: Vec<A> = seeds.iter().filter(|s| *s != own).cloned().collect();
        if seeds.is_empty() {
            // Only our own address: we are the seed the others join.
            return Ok(());
        }
        let session = env.rng.next_u32();
        self.exchange.joining = Some(Joining {
            seeds,
            attempts: 0,
            unanswered: 0,
            session,
        });
        self.gossip_member(LOCAL, None);
        self.join_attempt(env);
        Ok(())
    }

    /// Contacts every seed with a join request carrying our alive announcement,
    /// then waits with exponential backoff while no seed answers.
    pub(super) fn join_attempt<R: Rng>(&mut self, env: &mut Env<'_, R>) {
        let Some(joining) = self.exchange.joining.as_mut() else {
            return;
        };
        if self
            .config
            .join_max_attempts
            .is_some_and(|max| joining.attempts >= max)
        {
            let attempts = joining.attempts;
            self.exchange.joining = None;
            self.emit(env, Event::JoinFailed { attempts });
            return;
        }
        let backoff = self
            .config
            .join_retry_initial
            .saturating_mul(1 << joining.unanswered.min(16))
            .min(self.config.join_retry_max);
        joining.attempts += 1;
        joining.unanswered += 1;
        let (session, seeds) = (joining.session, joining.seeds.clone());
        self.timers.set(Timer::JoinRetry, env.now + backoff);
        self.exchange
            .awaiting
            .open(env.now, session, env.now + backoff);
        for seed in seeds {
            self.send(
                env,
                Outgoing::PushPull {
                    to: seed,
                    session,
                    join: true,
                    cookie: 0,
                },
            );
        }
    }

    /// Sends the whole member table. To a joiner, only the entries this node is
    /// still gossiping are marked fresh, and its own (in a forming cluster, the
    /// answering seed is news to the joiner's peers too); in a periodic exchange
    /// every difference is news to pass on, as memberlist does.
    pub(super) fn send_state<R: Rng>(
        &mut self,
        env: &mut Env<'_, R>,
        to: A,
        session: u32,
        reply: bool,
        to_joiner: bool,
    ) {
        env.stats.exchange.states_sent += 1;
        let rumors = &self.rumors;
        let suspicions = &self.detection.suspicions;
        let local = &self.table.local().name;
        let chunks = encode_state(
            &self.table,
            StateHeader {
                cluster_id: self.config.cluster_id,
                max_packet_size: self.config.payload_size(),
                session,
                reply,
                start: random::below(env.rng, self.table.len()),
            },
            |member| !to_joiner || rumors.contains(&member.name) || member.name == *local,
            |name| suspicions.first_suspecter(name),
            &mut env.stats.datagrams.messages_out,
        );
        if chunks.len() > 1 {
            // Long enough for the receiver's resend rounds, one probe timeout apart.
            let expires = env.now + self.config.probe_interval * 4;
            self.exchange.sent_transfers.keep(
                env.now,
                session,
                to.clone(),
                chunks.clone(),
                expires,
            );
        }
        for datagram in chunks {
            self.send(
                env,
                Outgoing::Encoded {
                    to: to.clone(),
                    datagram,
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::member::Metadata;
    use crate::testing;
    use crate::wire::decode;

    /// A member with some metadata, so that the table needs several datagrams.
    fn record(name: &str) -> Member<u32> {
        let mut member = testing::record(name, MemberState::Alive, 0);
        member.metadata = Metadata::from(&b"0123456789"[..]);
        member
    }

    #[test]
    fn the_table_is_cut_into_datagrams_that_each_fit() {
        let mut table = MemberTable::new(record("local"), 1_000, 0);
        for i in 0..500 {
            table.insert(record(&alloc::format!("member-{i}"))).unwrap();
        }
        let header = StateHeader {
            cluster_id: 7,
            max_packet_size: 512,
            session: 99,
            reply: true,
            start: 123,
        };
        let fresh = |m: &Member<u32>| m.name.ends_with('7');
        let chunks = encode_state(
            &table,
            header,
            fresh,
            |_| None,
            &mut TrafficByKind::default(),
        );
        assert!(chunks.len() > 1);
        let mut names = Vec::new();
        for (seen, chunk) in chunks.iter().enumerate() {
            assert!(chunk.len() <= 512);
            let mut messages = decode::<u32>(chunk, 7).unwrap();
            let Message::State {
                session: 99,
                reply: true,
                fresh,
                chunk,
                chunks: total,
            } = messages.next().unwrap().unwrap()
            else {
                panic!("a chunk opens with its state header")
            };
            assert_eq!(usize::from(total), chunks.len());
            assert_eq!(usize::from(chunk), seen);
            for message in messages {
                let Message::Update(update) = message.unwrap() else {
                    panic!("only updates follow")
                };
                assert_eq!(update.name.ends_with('7'), fresh);
                names.push(alloc::string::String::from(update.name));
            }
        }
        assert_eq!(names.len(), 501);
        assert!(
            names[..50].iter().all(|n| n.ends_with('7')),
            "fresh entries first"
        );
        let settled: Vec<_> = names.iter().filter(|n| !n.ends_with('7')).collect();
        assert_eq!(settled[0], "local", "this node's own entry first");
        assert_eq!(
            settled[1], "member-123",
            "the others from table index `start` + 1 on"
        );
    }

    #[test]
    fn a_table_too_large_for_one_transfer_is_sent_in_part_from_the_start_given() {
        let mut table = MemberTable::new(record("local"), 100_000, 0);
        for i in 0..60_000 {
            table
                .insert(record(&alloc::format!("member-{i:05}")))
                .unwrap();
        }
        let header = StateHeader {
            cluster_id: 7,
            max_packet_size: 512,
            session: 99,
            reply: true,
            start: 40_000,
        };
        let chunks = encode_state(&table, header, |_| true, |_| None, &mut Default::default());
        assert_eq!(chunks.len(), usize::from(MAX_STATE_CHUNKS));
        let names: Vec<alloc::string::String> = chunks
            .iter()
            .flat_map(|chunk| decode::<u32>(chunk, 7).unwrap().skip(1))
            .map(|message| match message.unwrap() {
                Message::Update(update) => alloc::string::String::from(update.name),
                other => panic!("{other:?}"),
            })
            .collect();
        assert!(names.len() < 60_001, "some are left out: {}", names.len());
        assert_eq!(names[0], "local");
        assert_eq!(names[1], "member-40000", "table index 40,001 on");
    }

    #[test]
    fn only_open_unexpired_exchanges_are_answered_once() {
        let mut exchanges = Exchanges::default();
        exchanges.open(Instant::ZERO, 1, Instant::from_secs(30));
        exchanges.open(Instant::ZERO, 2, Instant::from_secs(1));
        assert!(!exchanges.close(Instant::ZERO, 3));
        assert!(exchanges.close(Instant::from_secs(5), 1));
        assert!(!exchanges.close(Instant::from_secs(5), 1), "answered once");
        assert!(!exchanges.close(Instant::from_secs(5), 2), "expired");
        for session in 10..10 + MAX_OPEN_EXCHANGES as u32 + 1 {
            exchanges.open(Instant::ZERO, session, Instant::from_secs(30));
        }
        assert!(!exchanges.close(Instant::ZERO, 10), "the oldest made room");
        assert!(exchanges.close(Instant::ZERO, 11));
    }
}
