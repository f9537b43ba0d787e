//! Failure detection: the probe cycle (SWIM's protocol period, stretched by
//! Lifeguard's local health), direct and indirect probes, acks and nacks,
//! suspicions that expire, and what a datagram tells the member it is about
//! (the buddy system, corrections of stale claims, the coordinate).

use super::*;

/// What failure detection keeps.
pub(super) struct Detection<A> {
    /// Members in the order they are probed, shuffled each pass.
    pub(super) probe_order: ProbeOrder,
    /// The probe of this period, until it ends.
    pub(super) probe: Option<ProbeRound<A>>,
    /// Probes this node makes for others (indirect probes).
    pub(super) relays: Relays<A>,
    /// Lifeguard's local health.
    pub(super) awareness: Awareness,
    pub(super) suspicions: Suspicions,
    /// The sequence number of the last probe sent.
    pub(super) last_seq: u32,
    /// Senders of claims about this node older than its incarnation (a
    /// suspicion or failure it already refuted): the next datagram to each
    /// carries this node's alive record. Bounded; the oldest goes first.
    pub(super) stale_viewers: VecDeque<A>,
}

/// How many senders of stale claims about this node are remembered for a
/// correction; forged claims from more addresses push out the oldest.
const MAX_STALE_VIEWERS: usize = 16;

impl<A> Detection<A> {
    /// The sequence number of a new probe.
    pub(super) fn next_seq(&mut self) -> u32 {
        self.last_seq = self.last_seq.wrapping_add(1);
        self.last_seq
    }
}

impl<A: Address> Membership<A> {
    /// Piggybacks what a probe says of coordinates, if this node keeps them
    /// and it fits: on a ping whose target's coordinate this node lacks (or
    /// holds old or stale), a request for it; on the ack to such a ping,
    /// this node's coordinate.
    pub(crate) fn write_coordinate(
        &self,
        outgoing: &Outgoing<A>,
        now: Instant,
        writer: &mut PacketWriter<'_>,
        stats: &mut Stats,
    ) {
        let Some(vivaldi) = &self.vivaldi else {
            return;
        };
        match outgoing {
            Outgoing::Ping { target, .. } if vivaldi.wants_coordinate(target.as_str(), now) => {
                let message: Message<'_, A> = Message::CoordinateWanted;
                let _ = writer.push_counted(&message, stats);
            }
            Outgoing::Ack {
                coordinate: true, ..
            } => {
                let _ = vivaldi
                    .local_message()
                    .write(writer, &mut stats.datagrams.messages_out);
            }
            _ => {}
        }
    }

    /// Piggybacks what this node holds against the member `outgoing` is
    /// about (a ping's target, a gossip's or an ack's receiver), told to
    /// that member itself (see [`write_buddy_suspicion`](Self::write_buddy_suspicion)).
    pub(crate) fn write_buddy(
        &self,
        outgoing: &Outgoing<A>,
        writer: &mut PacketWriter<'_>,
        stats: &mut Stats,
    ) -> bool {
        let suspect = match outgoing {
            Outgoing::Ping { target, .. } => self.table.find(target).map(|i| self.table.get(i)),
            Outgoing::Gossip { to } | Outgoing::Ack { to, .. } => self.table.at_addr(to),
            _ => None,
        };
        suspect.is_some_and(|member| self.write_buddy_suspicion(member, writer, stats))
    }

    /// Lifeguard's buddy system: a ping to a member this node suspects carries
    /// the suspicion, so the member hears it first-hand and refutes in its ack,
    /// instead of waiting for the rumor to find it among many others. Gossip
    /// and acks to it carry it too: probes of a member come seldom when local
    /// health slows them (a member on the small side of a partition went 33 s
    /// suspected and unprobed, while its peers' gossip reached it and their
    /// rumor of its suspicion did not, until a stale failure from the other
    /// side buried it). An ack to a member this node holds failed carries the
    /// failure: a member that still probes this node is alive, and either
    /// refutes or, if the failure is older than its incarnation, corrects this
    /// node with its alive record. True if the claim was written.
    pub(super) fn write_buddy_suspicion(
        &self,
        member: &Member<A>,
        writer: &mut PacketWriter<'_>,
        stats: &mut Stats,
    ) -> bool {
        let claimed = matches!(member.state, MemberState::Suspect | MemberState::Failed);
        if !self.config.buddy_system || !claimed {
            return false;
        }
        let by = self
            .detection
            .suspicions
            .first_suspecter(member.name.as_str())
            .unwrap_or(self.table.local().name.as_str());
        let message = Message::Update(update_of(member, by));
        if writer.push_counted(&message, stats).is_err() {
            return false;
        }
        stats.detection.buddy_suspicions += 1;
        true
    }

    /// Writes this node's alive record into a datagram to `to` if `to` was
    /// heard claiming this node suspect or failed at an incarnation it has
    /// already refuted. The refutation's rumor is spent after a few copies,
    /// and under loss a member can miss them all: it then holds the stale
    /// suspicion until it times out and declares this node failed (a 10-node
    /// cluster at 20% loss did, 24 s after the refutation, and kept the
    /// failure 47 s more). Its buddy-system claims reach this node, so this
    /// node answers them first-hand. True if the record was written.
    pub(crate) fn write_correction(
        &mut self,
        to: &A,
        writer: &mut PacketWriter<'_>,
        stats: &mut Stats,
    ) -> bool {
        let Some(at) = self
            .detection
            .stale_viewers
            .iter()
            .position(|viewer| viewer == to)
        else {
            return false;
        };
        let message = Message::Update(update_of(self.table.local(), ""));
        if writer.push_counted(&message, stats).is_err() {
            return false;
        }
        stats.detection.stale_claims_corrected += 1;
        self.detection.stale_viewers.remove(at);
        true
    }

    /// Remembers that `from` holds a view of this node older than its
    /// incarnation, for [`write_correction`](Self::write_correction).
    /// Only members are remembered: datagrams to strangers carry no updates.
    pub(super) fn heard_stale_claim(&mut self, from: &A) {
        if !self.table.knows_addr(from) || self.detection.stale_viewers.contains(from) {
            return;
        }
        if self.detection.stale_viewers.len() == MAX_STALE_VIEWERS {
            self.detection.stale_viewers.pop_front();
        }
        self.detection.stale_viewers.push_back(from.clone());
    }

    pub(super) fn handle_ping<R>(
        &mut self,
        env: &mut Env<'_, R>,
        from: &A,
        seq: u32,
        target: &str,
        coordinate: bool,
    ) {
        if target == self.local().name.as_str() {
            self.send(
                env,
                Outgoing::Ack {
                    to: from.clone(),
                    seq,
                    coordinate,
                },
            );
        } else {
            // Someone else used to live at this address; staying silent lets the
            // prober suspect the member it meant.
            env.stats.detection.misdirected_pings += 1;
        }
    }

    pub(super) fn handle_indirect_ping<R>(
        &mut self,
        env: &mut Env<'_, R>,
        from: &A,
        requester_seq: u32,
        target: &str,
        target_addr: A,
        nack: bool,
    ) {
        if target == self.local().name.as_str() {
            self.send(
                env,
                Outgoing::Ack {
                    to: from.clone(),
                    seq: requester_seq,
                    coordinate: false,
                },
            );
            return;
        }
        let Ok(target) = NodeName::new(target) else {
            return; // names were checked when decoding
        };
        let seq = self.detection.next_seq();
        let relay = Relay {
            seq,
            requester: from.clone(),
            requester_seq,
            nack_at: nack.then(|| env.now + nack_delay(&self.config)),
            expires: env.now + self.config.probe_timeout,
        };
        if self.detection.relays.insert(env.now, relay) {
            env.stats.detection.relayed_probes_dropped += 1;
        }
        self.arm_nack_timer();
        env.stats.detection.relayed_probes += 1;
        self.send(
            env,
            Outgoing::Ping {
                to: target_addr,
                seq,
                target,
            },
        );
    }

    /// Returns the round trip of this node's probe if `from` is its target
    /// answering the first ping in time: a sample for the coordinates.
    pub(super) fn handle_ack<R>(
        &mut self,
        env: &mut Env<'_, R>,
        from: &A,
        seq: u32,
    ) -> Option<Duration> {
        if let Some(round) = self
            .detection
            .probe
            .as_mut()
            .filter(|round| round.seq == seq)
        {
            let first = !round.acked && !round.timed_out && round.addr == *from;
            round.acked = true;
            self.timers.clear(Timer::ProbeTimeout);
            return first.then(|| env.now - round.sent_at);
        } else if let Some(relay) = self.detection.relays.take(env.now, seq) {
            self.arm_nack_timer();
            self.send(
                env,
                Outgoing::Ack {
                    to: relay.requester,
                    seq: relay.requester_seq,
                    coordinate: false,
                },
            );
        } else {
            env.stats.detection.unmatched_acks += 1;
        }
        None
    }

    /// A member's coordinate, with the round trip of this node's probe if
    /// the datagram was its direct ack. Coordinates are kept for members only
    /// (never under this node's own name), so that strangers cannot fill the
    /// memory.
    pub(super) fn heard_coordinate<R>(
        &mut self,
        env: &mut Env<'_, R>,
        from: &A,
        wire: &crate::wire::CoordinateRecord,
        rtt: Option<Duration>,
    ) {
        let Some(vivaldi) = self.vivaldi.as_mut() else {
            return;
        };
        let member = self
            .table
            .at_addr(from)
            .filter(|m| m.name != self.table.local().name);
        let (Some(member), Some(coordinate)) = (member, Coordinate::from_wire(wire)) else {
            env.stats.coordinates.coordinates_refused += 1;
            return;
        };
        vivaldi.heard(&member.name, coordinate, env.now);
        if let Some(rtt) = rtt {
            self.observe_rtt(env, from, rtt);
        }
    }

    /// The round trip of this node's probe to the member at `from`, against
    /// the coordinate held of it (just heard, or held still since).
    pub(super) fn observe_rtt<R>(&mut self, env: &mut Env<'_, R>, from: &A, rtt: Duration) {
        let (Some(vivaldi), Some(member)) = (self.vivaldi.as_mut(), self.table.at_addr(from))
        else {
            return;
        };
        if vivaldi.coordinate_of(member.name.as_str()).is_none() {
            return; // its coordinate has not arrived yet
        }
        match vivaldi.observe(member.name.as_str(), rtt) {
            VivaldiSample::Applied => env.stats.coordinates.rtt_samples += 1,
            VivaldiSample::Discarded => env.stats.coordinates.rtt_samples_discarded += 1,
        }
    }

    pub(super) fn handle_nack<R>(&mut self, env: &mut Env<'_, R>, seq: u32) {
        match self
            .detection
            .probe
            .as_mut()
            .filter(|round| round.seq == seq)
        {
            Some(round) if round.nacks_received < round.nacks_expected => {
                round.nacks_received += 1;
                env.stats.detection.nacks_received += 1;
            }
            _ => env.stats.detection.unmatched_acks += 1,
        }
    }

    /// Relayed probes whose target stayed silent: tell their requesters.
    pub(super) fn send_due_nacks<R>(&mut self, env: &mut Env<'_, R>) {
        while let Some((to, seq)) = self.detection.relays.pop_due_nack(env.now) {
            env.stats.detection.nacks_sent += 1;
            self.send(env, Outgoing::Nack { to, seq });
        }
        self.arm_nack_timer();
    }

    pub(super) fn arm_nack_timer(&mut self) {
        match self.detection.relays.next_nack() {
            Some(at) => self.timers.set(Timer::Nack, at),
            None => self.timers.clear(Timer::Nack),
        }
    }

    /// A SWIM protocol period: conclude the previous probe, start the next.
    /// Lifeguard stretches the period and the probe timeout by the local health
    /// score, so a node that is itself struggling blames others less.
    pub(super) fn probe_period<R: Rng>(&mut self, env: &mut Env<'_, R>) {
        self.timers.clear(Timer::ProbeTimeout);
        if let Some(round) = self.detection.probe.take() {
            self.conclude_probe(env, &round);
        }
        if self.detection.awareness.score() > 0 {
            env.stats.detection.probes_degraded += 1;
        }
        let interval = self.detection.awareness.scale(self.config.probe_interval);
        self.timers.set(Timer::Probe, env.now + interval);
        let Some(index) = self.detection.probe_order.next(env.rng, &self.table) else {
            return;
        };
        let seq = self.detection.next_seq();
        let target = &self.table.get(index);
        let round = ProbeRound {
            seq,
            target: target.name.clone(),
            addr: target.addr.clone(),
            generation: target.generation,
            incarnation: target.incarnation,
            acked: false,
            sent_at: env.now,
            timed_out: false,
            nacks_expected: 0,
            nacks_received: 0,
        };
        env.stats.detection.probes += 1;
        self.send(
            env,
            Outgoing::Ping {
                to: round.addr.clone(),
                seq: round.seq,
                target: round.target.clone(),
            },
        );
        self.detection.probe = Some(round);
        let timeout = self.detection.awareness.scale(self.config.probe_timeout);
        self.timers.set(Timer::ProbeTimeout, env.now + timeout);
    }

    /// The end of a probe: the local health score learns from it (Lifeguard),
    /// and a target that never answered is suspected.
    pub(super) fn conclude_probe<R: Rng>(&mut self, env: &mut Env<'_, R>, round: &ProbeRound<A>) {
        if round.acked {
            self.detection.awareness.record(Health::ProbeSucceeded);
            return;
        }
        env.stats.detection.probes_failed += 1;
        self.detection.awareness.record(Health::ProbeFailed);
        for _ in round.nacks_received..round.nacks_expected {
            env.stats.detection.nacks_missed += 1;
            self.detection.awareness.record(Health::NackMissed);
        }
        self.suspect_unanswered(env, round);
    }

    /// No direct ack within the probe timeout: ask `indirect_checks` members to
    /// probe the target (SWIM's ping-req), and ping it once more ourselves, so that
    /// one lost datagram does not raise a suspicion.
    pub(super) fn probe_timed_out<R: Rng>(&mut self, env: &mut Env<'_, R>) {
        let Some(round) = self.detection.probe.as_mut().filter(|round| !round.acked) else {
            return;
        };
        round.timed_out = true;
        // A member never heard from gets the second ping and the helpers too:
        // in a cluster that formed by joining, most members are only heard
        // of until each has probed the others once (n seconds), and without
        // them one lost datagram raised a suspicion. What a forged
        // announcement draws stays bounded: bare pings, at most
        // `indirect_checks + 2` per prober and probe round.
        let helpers = self
            .table
            .sample(env.rng, self.config.indirect_checks, |m| {
                m.state == MemberState::Alive && m.name != round.target
            });
        let nack = self.config.nacks;
        if nack {
            // Each helper owes a nack should the target stay silent (Lifeguard).
            round.nacks_expected = helpers.len() as u32;
        }
        let round = round.clone();
        for helper in helpers {
            env.stats.detection.indirect_probes += 1;
            let to = self.table.get(helper).addr.clone();
            self.send(
                env,
                Outgoing::IndirectPing {
                    to,
                    seq: round.seq,
                    target: round.target.clone(),
                    target_addr: round.addr.clone(),
                    nack,
                },
            );
        }
        self.send(
            env,
            Outgoing::Ping {
                to: round.addr,
                seq: round.seq,
                target: round.target,
            },
        );
    }

    pub(super) fn suspect_unanswered<R: Rng>(
        &mut self,
        env: &mut Env<'_, R>,
        round: &ProbeRound<A>,
    ) {
        let Some(index) = self.table.find(&round.target) else {
            return;
        };
        let member = self.table.get(index);
        let unchanged =
            member.generation == round.generation && member.incarnation == round.incarnation;
        match member.state {
            MemberState::Alive if unchanged => {
                let (generation, incarnation) = (round.generation, round.incarnation);
                self.suspect(env, index, generation, incarnation, None, Source::Local);
            }
            // Our own failed probe independently confirms someone else's suspicion.
            MemberState::Suspect if unchanged => {
                self.confirm_suspicion(env, index, None, Source::Local);
            }
            _ => {}
        }
    }

    /// A suspicion ran out without a refutation: the member failed.
    pub(super) fn suspicion_expired<R: Rng>(
        &mut self,
        env: &mut Env<'_, R>,
        name: &str,
        suspicion: Suspicion,
    ) {
        let Some(index) = self.table.find(name) else {
            return;
        };
        let member = self.table.get(index);
        let current = member.state == MemberState::Suspect
            && member.generation == suspicion.generation
            && member.incarnation == suspicion.incarnation;
        if current {
            env.stats.members.failures_declared += 1;
            let (generation, incarnation) = (suspicion.generation, suspicion.incarnation);
            self.bury(
                env,
                index,
                generation,
                incarnation,
                MemberState::Failed,
                Source::Local,
            );
        }
    }
}
