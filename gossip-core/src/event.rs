//! What the node tells the application.

use alloc::string::String;
use core::fmt;

use crate::dissemination::Broadcast;
use crate::identity::{Generation, Incarnation};
use crate::member::Member;
use crate::state::{Convergence, KeyChange};

/// An event for the application, drained with [`Node::poll_event`](crate::Node::poll_event).
///
/// Membership events carry a snapshot of the member after the change.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event<A> {
    /// A member not known before is alive.
    MemberJoined(Member<A>),
    /// A member came back as a new generation (it restarted): whatever its former
    /// life was (alive, suspect, failed), that life is over.
    MemberRestarted {
        /// The member in its new generation.
        member: Member<A>,
        /// The generation it replaces.
        previous_generation: Generation,
    },
    /// A live member announced new metadata or a new address.
    MemberUpdated(Member<A>),
    /// A member missed a probe and is suspected; it is declared failed unless it
    /// refutes in time.
    MemberSuspected(Member<A>),
    /// A suspected or failed member proved it is alive (it refuted).
    MemberRecovered(Member<A>),
    /// A member was declared failed.
    MemberFailed(Member<A>),
    /// A member left gracefully.
    MemberLeft(Member<A>),
    /// This node has received a member's table: it is part of the cluster.
    JoinCompleted {
        /// The member that answered first: a seed, or a member that contacted this
        /// node while it was joining.
        via: A,
    },
    /// This node's departure ([`Node::leave`](crate::Node::leave)) has been
    /// sent as often as any rumor is (`retransmit_mult · ceil(log10(n + 1))`
    /// times, to distinct members where there are enough), or there was
    /// nobody left to tell: the node can stop. It has no deadlines after this.
    LeaveCompleted,
    /// No seed answered within `join_max_attempts` attempts; the node stopped trying.
    JoinFailed {
        /// Attempts made.
        attempts: u32,
    },
    /// Another process announces this node's name, from `addr` (memberlist's
    /// conflict delegate): two processes were given one name. This node does
    /// not refute it (the two would outbid each other forever); members may
    /// reach either. Give each process its own name. Emitted once per
    /// conflicting address; every such announcement is counted in
    /// [`MemberStats::name_conflicts`](crate::MemberStats::name_conflicts).
    NameConflict {
        /// Where the other process announces itself.
        addr: A,
        /// The generation it announces.
        generation: Generation,
    },
    /// This node heard itself suspected or declared failed, and refuted by
    /// announcing a higher incarnation (or, had its incarnations run out, a
    /// new generation).
    Refuted {
        /// The generation announced: this node's own, unless its
        /// incarnations ran out.
        generation: Generation,
        /// The incarnation announced.
        incarnation: Incarnation,
    },
    /// A broadcast, delivered once on every member it reaches, its sender
    /// included (the sender's event is queued by
    /// [`Node::broadcast`](crate::Node::broadcast) itself, so that every member
    /// handles broadcasts in one place).
    Broadcast(Broadcast),
    /// A key of the replicated store changed: a write or delete by this node
    /// (queued by [`Node::set`](crate::Node::set) itself) or one learned from
    /// another member. Once per change this node had not seen; a delete of a
    /// key this node holds no value of (never had, or deleted already) is no
    /// change to a reader and is not told.
    KeyChanged(KeyChange),
    /// Every live member is estimated to hold the same replicated state as
    /// this node ("converged with k of n live members", k = n). Emitted each
    /// time agreement is reached again after a change, from the digests heard:
    /// not when it comes from a member that held another state failing or
    /// leaving (nothing spread then). The estimate at any time is
    /// [`Node::convergence`](crate::Node::convergence).
    Converged(Convergence),
    /// The member table is full (`max_members`) of live members and a newcomer was
    /// refused. Emitted once each time the table fills up.
    MemberLimitReached {
        /// The limit.
        max_members: usize,
    },
}

/// One line for a human: `n3 is suspected`, `broadcast from n2: "deploy v2"`,
/// `config/leader = n1 (written by n1)`. Byte strings print as lossy UTF-8.
impl<A: fmt::Debug> fmt::Display for Event<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::MemberJoined(m) => write!(f, "{} joined", m.name()),
            Event::MemberRestarted {
                member,
                previous_generation,
            } => write!(
                f,
                "{} restarted (generation {previous_generation} → {})",
                member.name(),
                member.generation()
            ),
            Event::MemberUpdated(m) => write!(f, "{} updated its metadata", m.name()),
            Event::MemberSuspected(m) => write!(f, "{} is suspected", m.name()),
            Event::MemberRecovered(m) => {
                write!(f, "{} refuted (incarnation {})", m.name(), m.incarnation())
            }
            Event::MemberFailed(m) => write!(f, "{} FAILED", m.name()),
            Event::MemberLeft(m) => write!(f, "{} left", m.name()),
            Event::JoinCompleted { via } => write!(f, "joined the cluster via {via:?}"),
            Event::JoinFailed { attempts } => write!(f, "join failed after {attempts} attempts"),
            Event::LeaveCompleted => f.write_str("left the cluster: the departure was sent"),
            Event::NameConflict { addr, generation } => write!(
                f,
                "NAME CONFLICT: another process announces this node's name from {addr:?} \
                 (generation {generation}); give each process its own name"
            ),
            Event::Refuted { incarnation, .. } => {
                write!(
                    f,
                    "refuted a claim about itself (incarnation {incarnation})"
                )
            }
            Event::Broadcast(b) => write!(
                f,
                "broadcast from {}: {:?}",
                b.origin,
                String::from_utf8_lossy(&b.payload)
            ),
            Event::KeyChanged(change) => {
                let key = String::from_utf8_lossy(&change.key);
                match &change.value {
                    Some(value) => write!(f, "{key} = {}", String::from_utf8_lossy(value))?,
                    None => write!(f, "{key} deleted")?,
                }
                write!(f, " (written by {})", change.origin)
            }
            Event::Converged(c) => write!(
                f,
                "replicated state converged with {} of {} live members",
                c.agreeing, c.members
            ),
            Event::MemberLimitReached { max_members } => {
                write!(
                    f,
                    "member table full ({max_members}): a newcomer was refused"
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::ToString;

    use super::*;
    use crate::MemberState;
    use crate::testing::record;

    #[test]
    fn events_read_as_one_line() {
        let failed: Event<u32> = Event::MemberFailed(record("n3", MemberState::Failed, 0));
        assert_eq!(failed.to_string(), "n3 FAILED");
        let joined: Event<u32> = Event::JoinCompleted { via: 7 };
        assert_eq!(joined.to_string(), "joined the cluster via 7");
    }
}
