//! User broadcasts at the level of one node: delivery exactly once, pushes and
//! their termination, pulls and their answers, priorities and bounds, each
//! against hand-fed datagrams.

use alloc::vec::Vec;
use core::time::Duration;

use crate::testing::{
    TestNode, alive, datagram, drain_transmits, events, gossip, messages, run_until, update,
    with_three_members,
};
use crate::wire::{self, Message, MessageKind};
use crate::{
    BroadcastError, Config, Dissemination, Event, Instant, MessageError, PullSchedule, Termination,
};

fn push_only() -> Config {
    Config {
        dissemination: Dissemination::Push,
        ..Config::lan()
    }
}

fn broadcast_message(id: u64, age_ms: u32, feedback: bool) -> Message<'static, u32> {
    Message::Broadcast {
        id,
        origin: "a",
        age_ms,
        feedback,
        payload: b"hello",
    }
}

fn delivered(n: &mut TestNode) -> Vec<u64> {
    events(n)
        .into_iter()
        .filter_map(|e| match e {
            Event::Broadcast(b) => Some(b.id.0),
            _ => None,
        })
        .collect()
}

/// The broadcasts in `sent`, as (destination, id).
fn pushed(sent: Vec<(u32, Vec<u8>)>) -> Vec<(u32, u64)> {
    messages(sent)
        .into_iter()
        .filter_map(|(to, m)| match m {
            Message::Broadcast { id, .. } => Some((to, id)),
            _ => None,
        })
        .collect()
}

#[test]
fn each_broadcast_is_delivered_once_whatever_the_copies_and_their_order() {
    let mut n = with_three_members(push_only());
    let at = Instant::from_secs(1);
    let first = datagram(&[broadcast_message(7, 10, false)]);
    let both = datagram(&[
        broadcast_message(8, 0, false),
        broadcast_message(7, 30, false),
    ]);
    // A later datagram first, then duplicates of both.
    for bytes in [&both, &first, &both, &first] {
        n.handle_message(at, 1, bytes).unwrap();
    }
    assert_eq!(delivered(&mut n), [8, 7]);
    assert_eq!(n.stats().broadcasts.broadcasts_received, 2);
    assert_eq!(n.stats().broadcasts.broadcasts_duplicate, 4);
    // Still once, much later, as long as the id is remembered (twice the retention).
    let later = at + Duration::from_secs(100);
    n.handle_message(later, 2, &first).unwrap();
    assert!(delivered(&mut n).is_empty());
}

#[test]
fn the_sender_gets_its_own_event_and_errors_are_typed() {
    let mut n = with_three_members(push_only());
    let id = n.broadcast(Instant::from_secs(1), b"x").unwrap();
    assert_eq!(delivered(&mut n), [id.0]);
    assert_eq!(
        n.broadcast(Instant::from_secs(1), &[0; 1025]),
        Err(BroadcastError::TooLarge {
            len: 1025,
            max: 1024
        })
    );
    n.leave(Instant::from_secs(2)).unwrap();
    assert_eq!(
        n.broadcast(Instant::from_secs(2), b"x"),
        Err(BroadcastError::Left)
    );
}

#[test]
fn received_broadcasts_over_the_limit_or_past_retention_are_not_delivered() {
    let mut n = with_three_members(push_only());
    let big = [0u8; 1100];
    let oversized = datagram(&[Message::Broadcast {
        id: 1,
        origin: "a",
        age_ms: 0,
        feedback: false,
        payload: &big,
    }]);
    assert_eq!(
        n.handle_message(Instant::from_secs(1), 1, &oversized),
        Err(MessageError::BroadcastTooLarge {
            len: 1100,
            max: 1024
        })
    );
    assert_eq!(n.stats().datagrams.rejected.broadcast_too_large, 1);
    let stale = datagram(&[broadcast_message(2, 60_000, false)]);
    n.handle_message(Instant::from_secs(1), 1, &stale).unwrap();
    assert!(delivered(&mut n).is_empty());
    assert_eq!(n.stats().broadcasts.broadcasts_stale, 1);
}

#[test]
fn a_gossip_round_pushes_a_broadcast_until_the_retransmit_limit() {
    let mut n = with_three_members(push_only());
    let id = n.broadcast(Instant::ZERO, b"deploy").unwrap().0;
    let sent = pushed(run_until(&mut n, Instant::from_secs(10)));
    // 4 live members: limit 4 · ceil(log10 5) = 4 transmissions, to random members.
    assert_eq!(sent.len(), 4, "{sent:?}");
    assert!(
        sent.iter()
            .all(|&(to, sent_id)| sent_id == id && (1..=3).contains(&to))
    );
    assert_eq!(n.footprint().broadcasts_pushing, 0);
    assert_eq!(n.footprint().broadcasts, 1, "still held for pulls");
}

#[test]
fn with_feedback_and_counter_a_member_stops_after_k_unnecessary_contacts_in_a_row() {
    let config = Config {
        termination: Termination::FeedbackCounter { k: 2 },
        ..push_only()
    };
    let mut n = with_three_members(config);
    let id = n.broadcast(Instant::ZERO, b"x").unwrap().0.to_le_bytes();
    let known = datagram(&[Message::Feedback {
        known: &id,
        new: &[],
    }]);
    let new = datagram(&[Message::Feedback {
        known: &[],
        new: &id,
    }]);
    n.handle_message(Instant::ZERO, 1, &known).unwrap();
    assert_eq!(
        n.footprint().broadcasts_pushing,
        1,
        "one unnecessary contact of two"
    );
    n.handle_message(Instant::ZERO, 2, &new).unwrap();
    n.handle_message(Instant::ZERO, 3, &known).unwrap();
    assert_eq!(
        n.footprint().broadcasts_pushing,
        1,
        "a necessary contact started the count again"
    );
    n.handle_message(Instant::ZERO, 1, &known).unwrap();
    assert_eq!(n.footprint().broadcasts_pushing, 0, "lost interest");

    // The receiving side: a push asking for feedback gets it, saying whether
    // the broadcast was news; one that does not ask gets none.
    let mut r = with_three_members(push_only());
    let feedback = |r: &mut TestNode| -> Vec<_> {
        messages(drain_transmits(r))
            .into_iter()
            .filter(|(_, m)| matches!(m, Message::Feedback { .. }))
            .collect()
    };
    let push = datagram(&[broadcast_message(5, 0, true)]);
    let five = 5u64.to_le_bytes();
    r.handle_message(Instant::ZERO, 1, &push).unwrap();
    let expected = Message::Feedback {
        known: &[],
        new: &five,
    };
    assert_eq!(feedback(&mut r), [(1, expected)]);
    // A copy close behind the first raced it: not the sender's waste.
    r.handle_message(Instant::from_millis(10), 2, &push)
        .unwrap();
    let raced = Message::Feedback {
        known: &[],
        new: &five,
    };
    assert_eq!(feedback(&mut r), [(2, raced)]);
    r.handle_message(Instant::from_secs(1), 2, &push).unwrap();
    let expected = Message::Feedback {
        known: &five,
        new: &[],
    };
    assert_eq!(feedback(&mut r), [(2, expected)]);
    let blind = datagram(&[broadcast_message(5, 0, false)]);
    r.handle_message(Instant::from_secs(1), 2, &blind).unwrap();
    assert!(feedback(&mut r).is_empty());
}

#[test]
fn with_blind_coin_k_1_a_member_stops_after_one_push() {
    let config = Config {
        termination: Termination::BlindCoin { k: 1 },
        ..push_only()
    };
    let mut n = with_three_members(config);
    n.broadcast(Instant::ZERO, b"x").unwrap();
    let sent = pushed(run_until(&mut n, Instant::from_secs(10)));
    assert_eq!(sent.len(), 1);
}

#[test]
fn member_updates_go_before_broadcasts_and_many_broadcasts_share_the_room() {
    let mut n = with_three_members(push_only());
    for i in 0..30u8 {
        n.broadcast(Instant::ZERO, &[i; 100]).unwrap();
    }
    gossip(&mut n, 0, &[update("d", 0, 0, alive(4))]);
    let sent = run_until(&mut n, Instant::from_millis(250));
    let first: Vec<MessageKind> = wire::decode::<u32>(&sent[0].1, 0)
        .unwrap()
        .map(|m| m.unwrap().kind())
        .collect();
    let last_update = first.iter().rposition(|&k| k == MessageKind::Alive);
    let first_broadcast = first.iter().position(|&k| k == MessageKind::Broadcast);
    assert!(
        matches!((last_update, first_broadcast), (Some(u), Some(b)) if u < b),
        "{first:?}"
    );
    // Each datagram holds about 12 of the 30; fewest-sent first means that the
    // first three datagrams between them carry every broadcast.
    let ids: Vec<u64> = pushed(sent.into_iter().take(3).collect())
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    let mut distinct = ids.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        30,
        "{} of 30 in {} pushes",
        distinct.len(),
        ids.len()
    );
}

#[test]
fn the_held_broadcasts_are_bounded_and_the_oldest_go_first() {
    let config = Config {
        max_broadcasts: 2,
        ..push_only()
    };
    let mut n = with_three_members(config);
    let ids: Vec<u64> = (0..3)
        .map(|i| n.broadcast(Instant::from_millis(i), b"x").unwrap().0)
        .collect();
    assert_eq!(n.stats().broadcasts.broadcasts_evicted, 1);
    assert_eq!(n.footprint().broadcasts, 2);
    // A pull that knows nothing gets the two newest.
    let pull = datagram(&[Message::Pull {
        salt: 0,
        filter: &[],
    }]);
    n.handle_message(Instant::from_millis(10), 1, &pull)
        .unwrap();
    let answered: Vec<u64> = pushed(drain_transmits(&mut n))
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    assert_eq!(answered, ids[1..]);
}

#[test]
fn a_pull_is_answered_with_what_the_puller_lacks_and_only_for_members() {
    // Pull only, so that the only broadcasts it sends are answers.
    let mut n = with_three_members(Config {
        dissemination: Dissemination::Pull,
        pull_schedule: PullSchedule::Periodic,
        ..Config::lan()
    });
    let old = n.broadcast(Instant::ZERO, b"old").unwrap().0;
    let new = n.broadcast(Instant::ZERO, b"new").unwrap().0;
    drain_transmits(&mut n);
    // A digest holding `old` only.
    let mut peer = with_three_members(Config {
        dissemination: Dissemination::Pull,
        pull_schedule: PullSchedule::Periodic,
        ..Config::lan()
    });
    peer.handle_message(
        Instant::ZERO,
        1,
        &datagram(&[Message::Broadcast {
            id: old,
            origin: "self",
            age_ms: 0,
            feedback: false,
            payload: b"old",
        }]),
    )
    .unwrap();
    let pulls: Vec<(u32, Vec<u8>)> = run_until(&mut peer, Instant::from_secs(2))
        .into_iter()
        .filter(|(_, bytes)| {
            wire::decode::<u32>(bytes, 0)
                .unwrap()
                .any(|m| m.unwrap().kind() == MessageKind::Pull)
        })
        .collect();
    assert!(!pulls.is_empty(), "a pull round within the pull interval");
    assert_eq!(peer.stats().broadcasts.pulls, pulls.len() as u64);
    n.handle_message(Instant::from_secs(2), 1, &pulls[0].1)
        .unwrap();
    let answer = pushed(drain_transmits(&mut n));
    assert_eq!(answer, [(1, new)], "only what the puller lacks");
    assert_eq!(n.stats().broadcasts.pulls_answered, 1);

    // The same pull from an address not in the table is not answered.
    n.handle_message(Instant::from_secs(2), 42, &pulls[0].1)
        .unwrap();
    assert!(pushed(drain_transmits(&mut n)).is_empty());
    assert_eq!(n.stats().broadcasts.pulls_refused, 1);
}

#[test]
fn in_pull_mode_nothing_is_pushed_and_retention_ends_answers() {
    let config = Config {
        dissemination: Dissemination::Pull,
        ..Config::lan()
    };
    let mut n = with_three_members(config);
    n.broadcast(Instant::ZERO, b"x").unwrap();
    assert!(pushed(run_until(&mut n, Instant::from_secs(5))).is_empty());
    let pull = datagram(&[Message::Pull {
        salt: 0,
        filter: &[],
    }]);
    n.handle_message(Instant::from_secs(59), 1, &pull).unwrap();
    assert_eq!(pushed(drain_transmits(&mut n)).len(), 1);
    n.handle_message(Instant::from_secs(61), 1, &pull).unwrap();
    assert!(
        pushed(drain_transmits(&mut n)).is_empty(),
        "retention is over"
    );
    assert_eq!(n.footprint().broadcasts, 0);
    assert_eq!(
        n.footprint().broadcast_ids,
        1,
        "the id is kept for 2 × retention"
    );
    run_until(&mut n, Instant::from_secs(121));
    assert_eq!(n.footprint().broadcast_ids, 0);
}

/// The addresses pulls went to, and the digests probes carried, in what `sent` holds.
fn pulls_and_digests(sent: Vec<(u32, Vec<u8>)>) -> (Vec<u32>, Vec<u64>) {
    let (mut pulls, mut digests) = (Vec::new(), Vec::new());
    for (to, message) in messages(sent) {
        match message {
            Message::Pull { .. } => pulls.push(to),
            Message::BroadcastDigest { digest } => digests.push(digest),
            _ => {}
        }
    }
    (pulls, digests)
}

/// While active (the default): a node holding nothing pulls from a member
/// whose digest it hears, at most once per pull interval (only members'
/// digests count); holding broadcasts, it pulls every interval and its
/// probes carry the digest; idle, it sends neither pulls nor digests.
#[test]
fn pulls_go_out_only_while_broadcasts_are_held_here_or_by_a_member() {
    // Its probes go unanswered: the members stay live for the first seconds.
    let mut n = with_three_members(Config::lan());
    let (pulls, digests) = pulls_and_digests(run_until(&mut n, Instant::from_secs(3)));
    assert_eq!((pulls.len(), digests.len()), (0, 0), "idle");

    let digest_from = |n: &mut TestNode, at: Instant, from: u32| {
        let message = Message::BroadcastDigest { digest: 7 };
        n.handle_message(at, from, &datagram(&[message])).unwrap();
        pulls_and_digests(run_until(n, at)).0
    };
    let t = Instant::from_secs(3);
    assert!(digest_from(&mut n, t, 42).is_empty(), "not a member");
    assert_eq!(digest_from(&mut n, t, 1), [1], "a member holds some");
    // Another within the interval waits for it to end.
    assert!(digest_from(&mut n, t, 2).is_empty());
    let second = pulls_and_digests(run_until(&mut n, t + Duration::from_secs(1))).0;
    assert_eq!(second, [2]);

    // Holding a broadcast: a pull a second to random members, and the
    // digest on probes; a member's digest changes nothing.
    n.broadcast(Instant::from_secs(5), b"held").unwrap();
    let (pulls, digests) = pulls_and_digests(run_until(&mut n, Instant::from_secs(10)));
    assert!((5..=6).contains(&pulls.len()), "{pulls:?}");
    assert!(!digests.is_empty() && digests.iter().all(|&d| d == digests[0] && d != 0));
    // Once its retention ends, nothing more.
    let after = Instant::from_secs(5) + Config::lan().broadcast_retention;
    run_until(&mut n, after);
    let (pulls, digests) = pulls_and_digests(run_until(&mut n, after + Duration::from_secs(5)));
    assert_eq!((pulls.len(), digests.len()), (0, 0), "idle again");
}
