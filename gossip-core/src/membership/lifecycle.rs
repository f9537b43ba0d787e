//! A member's life here: leaving gracefully, changing metadata, and reaping
//! the tombstones of members that failed or left.

use super::*;

/// Where this node stands: leaving, at the table's limit, or sharing its name.
pub(super) struct Lifecycle<A> {
    pub(super) left: bool,
    /// Left, and the departure not yet sent as often as a rumor is.
    pub(super) departing: bool,
    /// Set while the table is full, so the limit event is emitted once per episode.
    pub(super) table_full: bool,
    /// The address of the last process seen announcing this node's name.
    pub(super) reported_conflict: Option<A>,
}

impl<A: Address> Membership<A> {
    pub(super) fn reap<R: Rng>(&mut self, env: &mut Env<'_, R>) {
        self.timers
            .set(Timer::Reap, env.now + reap_period(&self.config));
        // Oldest first, O(log n) each: no scan of the table.
        while let Some((since, index)) = self.table.oldest_tombstone() {
            if env.now - since < self.config.tombstone_timeout {
                break;
            }
            let removed = self.table.remove(index);
            self.forget(env, &removed);
        }
    }

    /// Drops everything kept about a member removed from the table, and follows
    /// the member that moved into its slot.
    pub(super) fn forget<R>(&mut self, env: &mut Env<'_, R>, removed: &Removed<A>) {
        self.detection.probe_order.remove(removed.index);
        if let Some(from) = removed.moved_from {
            self.detection.probe_order.renumber(from, removed.index);
        }
        self.rumors.remove(&removed.member.name);
        self.detection.suspicions.clear(&removed.member.name);
        if let Some(vivaldi) = self.vivaldi.as_mut() {
            vivaldi.forget(removed.member.name.as_str());
        }
        self.lifecycle.table_full = false;
        env.stats.members.tombstones_reaped += 1;
    }

    /// Announces the departure to as many live members as a rumor's retransmit
    /// limit at once; where there are fewer, to `gossip_fanout` of them every
    /// `gossip_interval` until it has been sent that many times (then
    /// [`Event::LeaveCompleted`]). Meanwhile nothing else runs, and incoming
    /// datagrams are ignored.
    pub(crate) fn leave<R: Rng>(&mut self, env: &mut Env<'_, R>) -> Result<(), LeaveError> {
        if self.lifecycle.left {
            return Err(LeaveError::AlreadyLeft);
        }
        self.table.update(LOCAL, |m| {
            m.state = MemberState::Left;
            m.state_changed = env.now;
        });
        // Only the departure matters now; it must not queue behind older news.
        self.rumors.clear();
        self.gossip_member(LOCAL, None);
        self.lifecycle.left = true;
        self.lifecycle.departing = true;
        self.timers.clear_all();
        self.detection.probe = None;
        self.exchange.joining = None;
        let limit = retransmit_limit(self.config.retransmit_mult, self.table.live());
        self.send_departure(env, limit as usize);
        Ok(())
    }

    /// Sends the departure to up to `count` live members and waits a gossip
    /// interval for the next round; with nobody left to tell, the leave is
    /// complete.
    pub(super) fn send_departure<R: Rng>(&mut self, env: &mut Env<'_, R>, count: usize) {
        let targets = self.table.sample(env.rng, count, |m| m.state.is_live());
        if targets.is_empty() {
            self.lifecycle.departing = false;
            self.emit(env, Event::LeaveCompleted);
            return;
        }
        for target in targets {
            let to = self.table.get(target).addr.clone();
            self.send(env, Outgoing::Gossip { to });
        }
        self.timers
            .set(Timer::Gossip, env.now + self.config.gossip_interval);
    }

    /// Replaces this node's metadata and announces it with a higher incarnation.
    pub(crate) fn set_metadata<R>(
        &mut self,
        env: &mut Env<'_, R>,
        metadata: &[u8],
    ) -> Result<(), MetadataError> {
        if self.lifecycle.left {
            return Err(MetadataError::Left);
        }
        if metadata.len() > self.config.max_metadata_size {
            return Err(MetadataError::TooLarge {
                len: metadata.len(),
                max: self.config.max_metadata_size,
            });
        }
        self.table.update(LOCAL, |m| {
            m.metadata = Metadata::from(metadata);
            m.incarnation = m.incarnation.saturating_add(1);
            m.state_changed = env.now;
        });
        self.gossip_member(LOCAL, None);
        Ok(())
    }
}
