//! How a claim about a member changes what this node believes: the
//! precedence rules ([`decide`]) applied to the member table.
//!
//! Claims about this node itself are never applied: the node refutes them by
//! announcing a higher incarnation (SWIM §4.2). Should a node's own
//! incarnation run out, it refutes by moving to the next generation.

use rand_core::Rng;

use super::Membership;
use super::awareness::Health;
use super::precedence::{Decision, Says, View, decide, implausible};
use super::suspicion::{Bounds, Suspicion};
use super::table::LOCAL;
use crate::context::Env;
use crate::event::Event;
use crate::identity::{Address, Generation, Incarnation, NodeName};
use crate::member::{Member, MemberState, Metadata};
use crate::wire::{Status, Update};

/// Where an update comes from, which decides how it is merged and whether it is
/// passed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// This node's own conclusion (a failed probe, an expired suspicion).
    Local,
    /// A rumor.
    Gossip,
    /// An entry of another member's table, received in a state exchange. A remote
    /// belief that a member failed is merged as a suspicion (as memberlist does),
    /// so that the member gets to refute before this node declares it failed.
    State,
    /// Like `State`, but settled news (a seed's table as sent to a joiner): merged
    /// without passing it on, since the rest of the cluster already knows it.
    SettledState,
}

/// What an update claims, once its source is taken into account.
enum Claim<'u, A> {
    Alive {
        addr: &'u A,
        metadata: &'u [u8],
    },
    /// `by: None` means this node suspects.
    Suspect {
        by: Option<&'u str>,
    },
    Failed,
    Left,
}

impl<'u, A> Claim<'u, A> {
    fn says(&self) -> Says {
        match self {
            Claim::Alive { .. } => Says::Alive,
            Claim::Suspect { .. } => Says::Suspect,
            Claim::Failed => Says::Failed,
            Claim::Left => Says::Left,
        }
    }

    fn of(status: &'u Status<'u, A>, source: Source) -> Self {
        match status {
            Status::Alive { addr, metadata } => Claim::Alive { addr, metadata },
            Status::Suspect { by } => Claim::Suspect { by: Some(by) },
            Status::Failed if matches!(source, Source::State | Source::SettledState) => {
                Claim::Suspect { by: None }
            }
            Status::Failed => Claim::Failed,
            Status::Left => Claim::Left,
        }
    }
}

impl<A: Address> Membership<A> {
    pub(crate) fn apply<R: Rng>(
        &mut self,
        env: &mut Env<'_, R>,
        from: &A,
        update: &Update<'_, A>,
        source: Source,
    ) {
        if update.name == self.local().name.as_str() {
            return self.claim_about_self(env, from, update);
        }
        let claim = Claim::of(&update.status, source);
        let Some(index) = self.table.find(update.name) else {
            return match claim {
                Claim::Alive { addr, metadata } => {
                    self.add_member(env, update, addr.clone(), metadata, source)
                }
                // Nothing to suspect or bury: we never knew it alive.
                _ => env.stats.members.updates_ignored += 1,
            };
        };
        let known = self.table.get(index);
        let (generation, incarnation) = (update.generation, update.incarnation);
        let decision = decide(
            View {
                generation: known.generation,
                incarnation: known.incarnation,
                state: known.state,
            },
            View {
                generation,
                incarnation,
                state: claim.says(),
            },
        );
        match (decision, claim) {
            (Decision::Stale | Decision::Outdated, _) => env.stats.members.updates_ignored += 1,
            (Decision::Implausible, _) => env.stats.members.implausible_claims += 1,
            (Decision::Confirm, Claim::Suspect { by }) => {
                self.confirm_suspicion(env, index, by, source);
            }
            (Decision::FailedElsewhere, _) => {
                self.failed_elsewhere(env, index, generation, incarnation, source);
            }
            // decide() confirms suspicions only.
            (Decision::Confirm, _) => env.stats.members.updates_ignored += 1,
            (Decision::Apply, Claim::Alive { addr, metadata }) => self.set_alive(
                env,
                index,
                generation,
                incarnation,
                addr.clone(),
                metadata,
                source,
            ),
            (Decision::Apply, Claim::Suspect { by }) => {
                self.suspect(env, index, generation, incarnation, by, source)
            }
            (Decision::Apply, Claim::Failed) => self.bury(
                env,
                index,
                generation,
                incarnation,
                MemberState::Failed,
                source,
            ),
            (Decision::Apply, Claim::Left) => self.bury(
                env,
                index,
                generation,
                incarnation,
                MemberState::Left,
                source,
            ),
        }
    }

    /// Someone says something about this node. It never changes this node's own
    /// status; a claim that contradicts it is refuted.
    fn claim_about_self<R>(&mut self, env: &mut Env<'_, R>, from: &A, update: &Update<'_, A>) {
        let local = self.local();
        if update.generation < local.generation {
            // About a former life of ours; our alive announcements supersede it.
            env.stats.members.updates_ignored += 1;
            return;
        }
        let elsewhere = match &update.status {
            Status::Alive { addr, .. } => (*addr != local.addr).then_some(addr),
            _ => None,
        };
        if update.generation > local.generation || elsewhere.is_some() {
            // A newer life of our name, or our life announced from another
            // address: another process runs under our name. Refuting would
            // make the two outbid each other forever (memberlist's conflict:
            // tell, do not fight).
            env.stats.members.name_conflicts += 1;
            if let Some(addr) = elsewhere {
                self.report_conflict(env, update.generation, addr.clone());
            }
            return;
        }
        let contradicts = match &update.status {
            Status::Alive { metadata, .. } => {
                update.incarnation > local.incarnation
                    || (update.incarnation == local.incarnation
                        && *metadata != local.metadata.as_bytes())
            }
            Status::Suspect { .. } | Status::Failed | Status::Left => {
                update.incarnation >= local.incarnation
            }
        };
        if contradicts && implausible(local.incarnation, update.incarnation) {
            env.stats.members.implausible_claims += 1;
        } else if contradicts {
            self.refute(env, update.incarnation);
        } else {
            env.stats.members.updates_ignored += 1;
            if !matches!(update.status, Status::Alive { .. }) {
                // The sender missed the refutation: tell it first-hand.
                self.heard_stale_claim(from);
            }
        }
    }

    /// Tells the application that a process at `addr` announces this node's
    /// name, once per address in a row.
    fn report_conflict<R>(&mut self, env: &mut Env<'_, R>, generation: Generation, addr: A) {
        if self.lifecycle.reported_conflict.as_ref() == Some(&addr) {
            return;
        }
        self.lifecycle.reported_conflict = Some(addr.clone());
        self.emit(env, Event::NameConflict { addr, generation });
    }

    /// Announces an incarnation above `claimed` (SWIM's refutation), or, with
    /// no incarnation left above it, the next generation: a new life
    /// supersedes every claim about the old one. Being suspected means this
    /// node failed to answer someone: Lifeguard counts it against the local
    /// health.
    fn refute<R>(&mut self, env: &mut Env<'_, R>, claimed: Incarnation) {
        let local = self.local();
        let (generation, incarnation) = match claimed.max(local.incarnation).checked_add(1) {
            Some(incarnation) => (local.generation, incarnation),
            None => (local.generation.saturating_add(1), 0),
        };
        self.table.update(LOCAL, |m| {
            m.generation = generation;
            m.incarnation = incarnation;
        });
        self.detection.awareness.record(Health::Refuted);
        env.stats.members.refutations += 1;
        self.gossip_member(LOCAL, None);
        self.emit(
            env,
            Event::Refuted {
                generation,
                incarnation,
            },
        );
    }

    fn add_member<R: Rng>(
        &mut self,
        env: &mut Env<'_, R>,
        update: &Update<'_, A>,
        addr: A,
        metadata: &[u8],
        source: Source,
    ) {
        let Ok(name) = NodeName::new(update.name) else {
            return; // names were checked when decoding
        };
        let member = Member {
            name,
            addr,
            generation: update.generation,
            incarnation: update.incarnation,
            state: MemberState::Alive,
            metadata: Metadata::from(metadata),
            state_changed: env.now,
        };
        match self.table.insert(member) {
            Ok((index, evicted)) => {
                if let Some(evicted) = evicted {
                    self.forget(env, &evicted);
                }
                self.detection.probe_order.insert(env.rng, index);
                if source != Source::SettledState {
                    self.gossip_member(index, None);
                }
                let member = self.table.get(index).clone();
                self.emit(env, Event::MemberJoined(member));
            }
            Err(_) => {
                env.stats.members.members_refused += 1;
                if !self.lifecycle.table_full {
                    self.lifecycle.table_full = true;
                    let max_members = self.config.max_members;
                    self.emit(env, Event::MemberLimitReached { max_members });
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn set_alive<R>(
        &mut self,
        env: &mut Env<'_, R>,
        index: usize,
        generation: Generation,
        incarnation: Incarnation,
        addr: A,
        metadata: &[u8],
        source: Source,
    ) {
        let now = env.now;
        let before = self.table.get(index).clone();
        self.table.update(index, |m| {
            m.generation = generation;
            m.incarnation = incarnation;
            m.addr = addr;
            if m.metadata.as_bytes() != metadata {
                m.metadata = Metadata::from(metadata);
            }
            if m.state != MemberState::Alive || generation != before.generation {
                m.state = MemberState::Alive;
                m.state_changed = now;
            }
        });
        self.detection.suspicions.clear(&before.name);
        if source != Source::SettledState {
            self.gossip_member(index, None);
        }
        let member = self.table.get(index).clone();
        let event = if generation > before.generation {
            Some(Event::MemberRestarted {
                member,
                previous_generation: before.generation,
            })
        } else if before.state != MemberState::Alive {
            Some(Event::MemberRecovered(member))
        } else if member.addr != before.addr || member.metadata != before.metadata {
            Some(Event::MemberUpdated(member))
        } else {
            None
        };
        if let Some(event) = event {
            self.emit(env, event);
        }
    }

    pub(super) fn suspect<R>(
        &mut self,
        env: &mut Env<'_, R>,
        index: usize,
        generation: Generation,
        incarnation: Incarnation,
        by: Option<&str>,
        source: Source,
    ) {
        let now = env.now;
        let bounds = Bounds::new(
            self.config.suspicion_mult,
            self.config.suspicion_max_timeout_mult,
            self.table.live(),
            self.config.probe_interval,
        );
        let suspecter = match by.map(NodeName::new) {
            Some(Ok(name)) => name,
            _ => self.local().name.clone(),
        };
        self.table.update(index, |m| {
            m.generation = generation;
            m.incarnation = incarnation;
            m.state = MemberState::Suspect;
            m.state_changed = now;
        });
        let member = self.table.get(index).clone();
        let suspicion = Suspicion::new(generation, incarnation, now, bounds, suspecter);
        self.detection
            .suspicions
            .start(member.name.clone(), suspicion);
        env.stats.members.suspicions += 1;
        if source != Source::SettledState {
            self.gossip_member(index, by);
        }
        self.emit(env, Event::MemberSuspected(member));
    }

    /// Someone's suspicion of a member we count live expired. Rather than bury
    /// the member at once (SWIM), we give it what is left of one minimum
    /// suspicion timeout, counted from when we began to suspect it: where the
    /// suspicion had spread before the failure (a real crash), that time is
    /// up and the member is declared failed now; where it had not (a rumor
    /// from the far side of a healed partition, about a member we can reach),
    /// the member has a full minimum timeout to refute.
    fn failed_elsewhere<R>(
        &mut self,
        env: &mut Env<'_, R>,
        index: usize,
        generation: Generation,
        incarnation: Incarnation,
        source: Source,
    ) {
        let known = self.table.get(index);
        let name = known.name.clone();
        if known.state == MemberState::Alive || incarnation > known.incarnation {
            self.suspect(env, index, generation, incarnation, None, source);
        }
        if !self.detection.suspicions.settle(&name) {
            self.bury(
                env,
                index,
                generation,
                incarnation,
                MemberState::Failed,
                source,
            );
        }
    }

    /// Another member (`by`; `None` is this node) independently suspects a member
    /// already suspect: Lifeguard counts it, which brings the deadline closer,
    /// and passes it on so that others count it too.
    pub(super) fn confirm_suspicion<R>(
        &mut self,
        env: &mut Env<'_, R>,
        index: usize,
        by: Option<&str>,
        source: Source,
    ) {
        let name = self.table.get(index).name.clone();
        let local = self.local().name.clone();
        let by = by.unwrap_or(&local);
        if self.detection.suspicions.confirm(&name, by) {
            env.stats.members.suspicion_confirmations += 1;
            if source != Source::SettledState {
                // Passed on under the confirmer's name, so others count it too.
                self.gossip_member(index, Some(by));
            }
        } else {
            env.stats.members.updates_ignored += 1;
        }
    }

    /// Turns a record into a tombstone (`Failed` or `Left`) and reports the
    /// change: a failure if the member was live, a departure unless it had
    /// already left.
    pub(super) fn bury<R>(
        &mut self,
        env: &mut Env<'_, R>,
        index: usize,
        generation: Generation,
        incarnation: Incarnation,
        state: MemberState,
        source: Source,
    ) {
        let now = env.now;
        let before = self.table.update(index, |m| {
            let before = m.state;
            m.generation = generation;
            m.incarnation = incarnation;
            m.state = state;
            m.state_changed = now;
            before
        });
        if source != Source::SettledState {
            self.gossip_member(index, None);
        }
        let member = self.table.get(index).clone();
        self.detection.suspicions.clear(&member.name);
        match state {
            MemberState::Failed if before.is_live() => self.emit(env, Event::MemberFailed(member)),
            MemberState::Left if before != MemberState::Left => {
                self.emit(env, Event::MemberLeft(member))
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::precedence::MAX_INCARNATION_JUMP;
    use super::LOCAL;
    use crate::testing::{alive, events, gossip, node, suspect, update};
    use crate::wire::{Message, Status};
    use crate::{Event, MemberState};

    fn state_of(node: &crate::testing::TestNode, name: &str) -> Option<(u64, u64, MemberState)> {
        node.member(name)
            .map(|m| (m.generation(), m.incarnation(), m.state()))
    }

    #[test]
    fn an_unknown_member_is_added_only_when_alive() {
        let mut n = node();
        gossip(
            &mut n,
            1,
            &[
                update("x", 0, 0, suspect()),
                update("y", 0, 0, Status::Failed),
                update("z", 0, 0, Status::Left),
            ],
        );
        assert_eq!(n.members().count(), 1);
        assert_eq!(n.stats().members.updates_ignored, 3);
        gossip(&mut n, 1, &[update("x", 0, 3, alive(7))]);
        assert_eq!(state_of(&n, "x"), Some((0, 3, MemberState::Alive)));
        assert!(
            matches!(events(&mut n)[..], [Event::MemberJoined(ref m)] if m.name().as_str() == "x")
        );
    }

    #[test]
    fn precedence_within_a_generation_follows_swim() {
        // (claim, claim incarnation, resulting state and incarnation) applied in
        // order to a member that starts alive at incarnation 2.
        type Step = (Status<'static, u32>, u64, Option<(u64, MemberState)>);
        let steps: &[Step] = &[
            (alive(7), 2, None),                                  // not newer
            (alive(7), 1, None),                                  // older
            (suspect(), 1, None),                                 // older
            (suspect(), 2, Some((2, MemberState::Suspect))),      // ≥ alive
            (suspect(), 2, None),                                 // same suspicion
            (suspect(), 3, Some((3, MemberState::Suspect))),      // newer suspicion
            (alive(7), 3, None),                                  // must exceed
            (alive(7), 4, Some((4, MemberState::Alive))),         // refuted
            (Status::Failed, 3, None),                            // older
            (Status::Failed, 4, Some((4, MemberState::Suspect))), // ≥ alive: suspected first
            (Status::Failed, 4, None),                            // suspect, expiring sooner
            (Status::Left, 4, Some((4, MemberState::Left))),      // departure trumps suspicion
            (suspect(), 9, None),                                 // no suspecting the departed
            (Status::Failed, 9, None),                            // nor burying them
            (Status::Left, 9, None),                              // already left
            (alive(7), 10, Some((10, MemberState::Alive))),       // back, refuted
        ];
        let mut n = node();
        gossip(&mut n, 1, &[update("x", 0, 2, alive(7))]);
        events(&mut n);
        let mut expected = (2, MemberState::Alive);
        for (i, (status, incarnation, outcome)) in steps.iter().enumerate() {
            gossip(&mut n, 2, &[update("x", 0, *incarnation, status.clone())]);
            if let Some(outcome) = outcome {
                expected = *outcome;
            }
            assert_eq!(
                state_of(&n, "x"),
                Some((0, expected.0, expected.1)),
                "step {i}"
            );
        }
    }

    #[test]
    fn transitions_emit_the_matching_events() {
        let mut n = node();
        gossip(&mut n, 1, &[update("x", 0, 0, alive(7))]);
        events(&mut n);
        let kinds = |n: &mut crate::testing::TestNode| -> alloc::vec::Vec<&'static str> {
            events(n)
                .iter()
                .map(|e| match e {
                    Event::MemberSuspected(_) => "suspected",
                    Event::MemberRecovered(_) => "recovered",
                    Event::MemberFailed(_) => "failed",
                    Event::MemberLeft(_) => "left",
                    Event::MemberUpdated(_) => "updated",
                    Event::MemberRestarted { .. } => "restarted",
                    _ => "other",
                })
                .collect()
        };
        gossip(&mut n, 1, &[update("x", 0, 0, suspect())]);
        assert_eq!(kinds(&mut n), ["suspected"]);
        gossip(&mut n, 1, &[update("x", 0, 1, alive(7))]);
        assert_eq!(kinds(&mut n), ["recovered"]);
        let meta = Status::Alive {
            addr: 7,
            metadata: b"v2",
        };
        gossip(&mut n, 1, &[update("x", 0, 2, meta)]);
        assert_eq!(kinds(&mut n), ["updated"]);
        gossip(&mut n, 1, &[update("x", 0, 3, alive(7))]);
        assert_eq!(kinds(&mut n), ["updated"], "metadata cleared");
        gossip(&mut n, 1, &[update("x", 0, 4, alive(7))]);
        assert!(
            kinds(&mut n).is_empty(),
            "a bare incarnation bump is silent"
        );
        gossip(&mut n, 1, &[update("x", 0, 4, Status::Failed)]);
        assert_eq!(kinds(&mut n), ["suspected"]);
        n.handle_timeout(crate::Instant::from_secs(100));
        assert_eq!(kinds(&mut n), ["failed"]);
        gossip(&mut n, 1, &[update("x", 0, 4, Status::Left)]);
        assert_eq!(kinds(&mut n), ["left"]);
        gossip(&mut n, 1, &[update("x", 1, 0, alive(8))]);
        assert_eq!(kinds(&mut n), ["restarted"]);
        assert_eq!(n.member("x").unwrap().addr(), &8);
    }

    /// A failure rumor about a member this node never suspected (say, from the
    /// far side of a healed partition) gives the member one minimum suspicion
    /// timeout to refute, and is passed on as a suspicion, not as a death.
    #[test]
    fn a_failure_claim_about_an_unsuspected_member_opens_a_short_suspicion() {
        let mut n = node();
        for (name, addr) in [("x", 7), ("y", 8), ("z", 9)] {
            crate::testing::announce(&mut n, name, addr);
        }
        events(&mut n);
        gossip(&mut n, 10, &[update("x", 0, 0, Status::Failed)]);
        assert_eq!(state_of(&n, "x"), Some((0, 0, MemberState::Suspect)));
        n.handle_timeout(crate::Instant::from_millis(10_400));
        let mut about_x = alloc::vec::Vec::new();
        for (_, bytes) in crate::testing::drain_transmits(&mut n) {
            for message in crate::wire::decode::<u32>(&bytes, 0).unwrap() {
                if let Ok(crate::wire::Message::Update(u)) = message {
                    if u.name == "x" {
                        about_x.push(matches!(u.status, Status::Suspect { .. }));
                    }
                }
            }
        }
        assert!(!about_x.is_empty(), "passed on");
        assert!(about_x.iter().all(|&suspect| suspect), "as a suspicion");
        // Four members: the minimum timeout is 4 · max(1, log10 4) · 1 s = 4 s,
        // not Lifeguard's 24 s for a lone suspicion.
        n.handle_timeout(crate::Instant::from_millis(13_999));
        assert_eq!(state_of(&n, "x"), Some((0, 0, MemberState::Suspect)));
        n.handle_timeout(crate::Instant::from_secs(14));
        assert_eq!(state_of(&n, "x"), Some((0, 0, MemberState::Failed)));
    }

    #[test]
    fn a_newer_generation_supersedes_and_an_older_one_is_stale() {
        let mut n = node();
        gossip(&mut n, 1, &[update("x", 3, 9, alive(7))]);
        gossip(&mut n, 1, &[update("x", 2, 99, Status::Failed)]);
        assert_eq!(
            state_of(&n, "x"),
            Some((3, 9, MemberState::Alive)),
            "an older life is stale"
        );
        gossip(&mut n, 1, &[update("x", 4, 0, Status::Failed)]);
        assert_eq!(
            state_of(&n, "x"),
            Some((4, 0, MemberState::Failed)),
            "a newer life's death"
        );
        gossip(&mut n, 1, &[update("x", 4, 0, alive(7))]);
        assert_eq!(
            state_of(&n, "x"),
            Some((4, 0, MemberState::Failed)),
            "that life is over"
        );
        gossip(&mut n, 1, &[update("x", 5, 0, alive(7))]);
        assert_eq!(
            state_of(&n, "x"),
            Some((5, 0, MemberState::Alive)),
            "the next one is not"
        );
    }

    #[test]
    fn remote_state_claiming_failure_is_merged_as_suspicion() {
        let mut n = node();
        gossip(&mut n, 1, &[update("x", 0, 0, alive(7))]);
        let state = Message::State {
            session: 1,
            reply: false,
            fresh: true,
            chunk: 0,
            chunks: 1,
        };
        gossip(&mut n, 1, &[state, update("x", 0, 0, Status::Failed)]);
        assert_eq!(state_of(&n, "x"), Some((0, 0, MemberState::Suspect)));
    }

    #[test]
    fn claims_about_this_node_are_refuted_never_applied() {
        let mut n = node();
        events(&mut n);
        for (i, status) in [suspect(), Status::Failed, Status::Left]
            .into_iter()
            .enumerate()
        {
            let claimed = i as u64 * 10;
            gossip(&mut n, 1, &[update("self", 5, claimed, status)]);
            let local = n.local_member();
            assert_eq!(local.state(), MemberState::Alive);
            assert_eq!(local.incarnation(), claimed + 1);
            assert!(
                matches!(events(&mut n)[..], [Event::Refuted { incarnation, .. }] if incarnation == claimed + 1)
            );
        }
        assert_eq!(n.stats().members.refutations, 3);
        // A claim about an older incarnation is simply stale.
        gossip(&mut n, 1, &[update("self", 5, 0, Status::Failed)]);
        assert_eq!(n.local_member().incarnation(), 21);
        // A newer incarnation claimed alive by someone else: refute it too.
        gossip(&mut n, 1, &[update("self", 5, 30, alive(0))]);
        assert_eq!(n.local_member().incarnation(), 31);
        // About a former life: ignored. About a newer life: a name conflict.
        gossip(&mut n, 1, &[update("self", 4, 99, Status::Failed)]);
        gossip(&mut n, 1, &[update("self", 6, 0, Status::Failed)]);
        assert_eq!(n.local_member().incarnation(), 31);
        assert_eq!(n.local_member().state(), MemberState::Alive);
        assert_eq!(n.stats().members.name_conflicts, 1);
        assert_eq!(n.stats().members.refutations, 4);
    }

    #[test]
    fn a_forged_claim_at_the_last_incarnation_neither_kills_a_member_nor_goes_unrefuted() {
        let mut n = node();
        gossip(&mut n, 1, &[update("x", 0, 3, alive(7))]);
        events(&mut n);
        // Suspect at u64::MAX would win over any refutation x could send.
        gossip(&mut n, 1, &[update("x", 0, u64::MAX, suspect())]);
        gossip(&mut n, 1, &[update("x", 0, u64::MAX, Status::Failed)]);
        assert_eq!(state_of(&n, "x"), Some((0, 3, MemberState::Alive)));
        // The same about this node itself: no refutation is needed.
        gossip(&mut n, 1, &[update("self", 5, u64::MAX, Status::Failed)]);
        assert_eq!(n.local_member().incarnation(), 0);
        assert_eq!(n.stats().members.implausible_claims, 3);
        assert!(events(&mut n).is_empty());
        // Steps a real member could take are believed.
        let step = MAX_INCARNATION_JUMP;
        gossip(&mut n, 1, &[update("x", 0, 3 + step, suspect())]);
        assert_eq!(state_of(&n, "x"), Some((0, 3 + step, MemberState::Suspect)));
    }

    #[test]
    fn a_node_whose_incarnations_ran_out_refutes_with_its_next_generation() {
        let mut n = node();
        events(&mut n);
        n.membership_mut().table.update(LOCAL, |m| {
            m.incarnation = u64::MAX - 1;
        });
        gossip(&mut n, 1, &[update("self", 5, u64::MAX, suspect())]);
        let local = n.local_member();
        assert_eq!((local.generation(), local.incarnation()), (6, 0));
        assert_eq!(local.state(), MemberState::Alive);
        assert_eq!(
            events(&mut n),
            [Event::Refuted {
                generation: 6,
                incarnation: 0
            }]
        );
        // Others believe the new life over the claim.
        let mut other = crate::testing::node_named("other", 9, crate::Config::lan());
        gossip(&mut other, 1, &[update("self", 5, u64::MAX, suspect())]);
        let announcement = crate::testing::drain_transmits(&mut n);
        assert!(!announcement.is_empty());
        gossip(&mut other, 1, &[update("self", 6, 0, alive(0))]);
        assert_eq!(state_of(&other, "self"), Some((6, 0, MemberState::Alive)));
    }
}

#[cfg(test)]
mod lifeguard_tests {
    use alloc::vec::Vec;

    use crate::Instant;
    use crate::testing::{datagram, drain_transmits, events, gossip, node, update};
    use crate::wire::{self, Message, Status};

    /// Every (suspect, suspected by) pair this node sends about `name` until `until`.
    fn suspicions_sent(
        n: &mut crate::testing::TestNode,
        name: &str,
        until: u64,
    ) -> Vec<alloc::string::String> {
        let mut seen = Vec::new();
        let mut record = |sent: Vec<(u32, Vec<u8>)>| {
            for (_, bytes) in sent {
                for message in wire::decode::<u32>(&bytes, 0).unwrap() {
                    if let Ok(Message::Update(u)) = message {
                        if let (true, Status::Suspect { by }) = (u.name == name, u.status) {
                            seen.push(alloc::string::String::from(by));
                        }
                    }
                }
            }
        };
        record(drain_transmits(n));
        while let Some(at) = n
            .poll_timeout()
            .filter(|&at| at <= Instant::from_secs(until))
        {
            n.handle_timeout(at);
            record(drain_transmits(n));
        }
        seen
    }

    fn cluster_with_x() -> crate::testing::TestNode {
        let mut n = node();
        for (addr, name) in (1..).zip(["x", "a", "b", "c", "d"]) {
            crate::testing::announce(&mut n, name, addr);
        }
        events(&mut n);
        n
    }

    #[test]
    fn a_confirmation_is_passed_on_under_the_confirmers_name() {
        let mut n = cluster_with_x();
        gossip(&mut n, 1, &[update("x", 0, 0, Status::Suspect { by: "a" })]);
        gossip(&mut n, 1, &[update("x", 0, 0, Status::Suspect { by: "b" })]);
        assert_eq!(n.stats().members.suspicion_confirmations, 1);
        let sent = suspicions_sent(&mut n, "x", 2);
        assert!(sent.iter().any(|by| by == "b"), "{sent:?}");
    }

    #[test]
    fn a_state_transfer_names_the_original_suspecter_not_the_sender() {
        let mut n = cluster_with_x();
        gossip(&mut n, 1, &[update("x", 0, 0, Status::Suspect { by: "a" })]);
        drain_transmits(&mut n);
        let request = Message::PushPull {
            session: 9,
            digest: 0,
            join: true,
            cookie: 0,
            padding: &[],
        };
        // From a member's address: a stranger would get a cookie first.
        n.handle_message(Instant::from_secs(1), 1, &datagram(&[request]))
            .unwrap();
        let mut by_in_state = Vec::new();
        for (_, bytes) in drain_transmits(&mut n) {
            let mut messages = wire::decode::<u32>(&bytes, 0).unwrap();
            if let Some(Ok(Message::State { .. })) = messages.next() {
                for message in messages {
                    if let Ok(Message::Update(u)) = message {
                        if let (true, Status::Suspect { by }) = (u.name == "x", u.status) {
                            by_in_state.push(alloc::string::String::from(by));
                        }
                    }
                }
            }
        }
        assert_eq!(by_in_state, ["a"]);
    }

    /// Runs `n` to `until` on a network where every member answers its pings.
    fn run_answering(n: &mut crate::testing::TestNode, until: u64) {
        loop {
            for (to, bytes) in drain_transmits(n) {
                if let Some(Ok(Message::Ping { seq, .. })) =
                    wire::decode::<u32>(&bytes, 0).unwrap().next()
                {
                    let now = n.now();
                    n.handle_message(now, to, &datagram(&[Message::Ack { seq }]))
                        .unwrap();
                }
            }
            match n
                .poll_timeout()
                .filter(|&at| at <= Instant::from_secs(until))
            {
                Some(at) => n.handle_timeout(at),
                None => return,
            }
        }
    }

    #[test]
    fn a_lone_suspicion_waits_the_maximum_and_confirmations_shorten_it() {
        // Six live members: minimum 4 s, maximum 24 s, K = 2. x answers every
        // probe, so this node never confirms the suspicion itself.
        let mut lone = cluster_with_x();
        gossip(
            &mut lone,
            0,
            &[update("x", 0, 0, Status::Suspect { by: "a" })],
        );
        run_answering(&mut lone, 23);
        assert!(
            lone.member("x").unwrap().state().is_live(),
            "still suspect at 23 s"
        );
        run_answering(&mut lone, 25);
        assert!(
            !lone.member("x").unwrap().state().is_live(),
            "failed after the maximum"
        );

        let mut confirmed = cluster_with_x();
        gossip(
            &mut confirmed,
            0,
            &[update("x", 0, 0, Status::Suspect { by: "a" })],
        );
        gossip(
            &mut confirmed,
            0,
            &[update("x", 0, 0, Status::Suspect { by: "b" })],
        );
        gossip(
            &mut confirmed,
            0,
            &[update("x", 0, 0, Status::Suspect { by: "c" })],
        );
        run_answering(&mut confirmed, 5);
        assert!(
            !confirmed.member("x").unwrap().state().is_live(),
            "failed after the minimum"
        );
    }
}
