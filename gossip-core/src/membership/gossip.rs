//! The gossip round: member updates piggybacked least-sent first, and the
//! partners gossip and pulls go to (uniform, or near ones first).

use super::*;

impl<A: Address> Membership<A> {
    /// Piggybacks as many member updates as fit, least-sent first; returns how
    /// many. A departure whose rumor is now spent completes.
    pub(crate) fn write_rumors(
        &mut self,
        writer: &mut PacketWriter<'_>,
        stats: &mut Stats,
    ) -> usize {
        let limit = retransmit_limit(self.config.retransmit_mult, self.table.live());
        let sent = &mut stats.datagrams.messages_out;
        let written = self.rumors.fill(
            writer,
            limit,
            |_, rumor, writer| rumor.write(writer, sent),
            |_| true,
        );
        if self.lifecycle.departing && self.rumors.is_empty() {
            // The departure has now been sent as often as any rumor.
            self.lifecycle.departing = false;
            self.timers.clear_all();
            push_or_count(&mut self.events, Event::LeaveCompleted, &self.config, stats);
        }
        written
    }

    /// True if member updates wait to be gossiped.
    pub(crate) fn has_rumors(&self) -> bool {
        !self.rumors.is_empty()
    }

    /// Addresses of up to `count` live gossip partners (this node excluded),
    /// chosen as `peer_selection` says.
    pub(crate) fn sample_live<R: Rng>(&self, rng: &mut R, count: usize) -> Partners<A> {
        self.partners(rng, count, |m, heard| heard && m.state.is_live())
            .into_iter()
            .map(|index| self.table.get(index).addr.clone())
            .collect()
    }

    /// Up to `count` gossip partners among the members for which `eligible`
    /// holds: uniformly, or near ones first ([`PeerSelection::Nearby`]).
    pub(super) fn partners<R: Rng>(
        &self,
        rng: &mut R,
        count: usize,
        eligible: impl FnMut(&Member<A>, bool) -> bool,
    ) -> table::Sample {
        match (self.config.peer_selection, &self.vivaldi) {
            (
                PeerSelection::Nearby {
                    candidates,
                    far_percent,
                },
                Some(vivaldi),
            ) => self.table.sample_nearby(
                rng,
                count,
                candidates.into(),
                far_percent.into(),
                eligible,
                |m| vivaldi.distance_to(m.name.as_str()),
            ),
            _ => self.table.sample_where(rng, count, eligible),
        }
    }

    /// If `gossip_waiting` (some source a gossip datagram takes has rumors:
    /// member updates, writes or broadcasts), sends gossip to `gossip_fanout`
    /// random members, including members failed within `gossip_to_the_dead`
    /// so that a wrongly failed one can refute.
    pub(super) fn gossip_round<R: Rng>(&mut self, env: &mut Env<'_, R>, gossip_waiting: bool) {
        self.timers
            .set(Timer::Gossip, env.now + self.config.gossip_interval);
        if !gossip_waiting {
            return;
        }
        let (now, to_the_dead) = (env.now, self.config.gossip_to_the_dead);
        // A member only heard of gets gossip while alive: a joiner needs the
        // news before it has spoken to everyone. Once suspected (a forged
        // announcement is, at its first unanswered probe) it gets nothing
        // but bare pings.
        let targets = self.partners(env.rng, self.config.gossip_fanout, |m, heard| {
            m.state == MemberState::Alive
                || heard
                    && (m.state == MemberState::Suspect
                        || (m.state == MemberState::Failed && now - m.state_changed < to_the_dead))
        });
        for target in targets {
            let to = self.table.get(target).addr.clone();
            self.send(env, Outgoing::Gossip { to });
        }
    }

    /// Queues this node's view of member `index` as a rumor. `suspected_by` names
    /// the suspecter when the member is suspect.
    pub(super) fn gossip_member(&mut self, index: usize, suspected_by: Option<&str>) {
        let member = &self.table.get(index);
        let by = suspected_by
            .or_else(|| self.detection.suspicions.first_suspecter(&member.name))
            .unwrap_or(self.table.local().name.as_str());
        let message = Message::Update(update_of(member, by));
        self.rumors
            .push(member.name.clone(), Encoded::new(&message));
    }
}
