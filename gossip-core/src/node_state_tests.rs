//! The replicated key-value store, driven through `Node` on a small cluster.

use alloc::vec::Vec;
use core::time::Duration;

use crate::testing::{Cluster, Union, datagram, messages, node, run_until, with_three_members};
use crate::wire::{EntryRecord, Message, SiblingRecord};
use crate::{
    Causality, Config, Conflicts, Event, Instant, KeyChange, MessageError, StateError,
    VersionVector,
};

fn changes(events: Vec<Event<u32>>) -> Vec<KeyChange> {
    events
        .into_iter()
        .filter_map(|e| match e {
            Event::KeyChanged(change) => Some(change),
            _ => None,
        })
        .collect()
}

fn digests(cluster: &Cluster) -> Vec<u64> {
    cluster.nodes.iter().map(|n| n.state_digest()).collect()
}

fn all_equal(values: &[u64]) -> bool {
    values.windows(2).all(|w| w[0] == w[1])
}

#[test]
fn a_write_reaches_every_member_with_one_event_each() {
    let mut c = Cluster::new(5, &Config::lan());
    for i in 0..5 {
        c.take_events(i);
    }
    c.nodes[2].set(c.now, b"leader", b"n2").unwrap();
    c.run_for(Duration::from_secs(2));
    for i in 0..5 {
        assert_eq!(c.nodes[i].get(b"leader"), Some(&b"n2"[..]), "node {i}");
        let changes = changes(c.take_events(i));
        assert_eq!(changes.len(), 1, "node {i}: {changes:?}");
        assert_eq!(changes[0].value.as_deref(), Some(&b"n2"[..]));
        assert_eq!(changes[0].origin.as_str(), "n2");
    }
    assert!(all_equal(&digests(&c)));
    assert_ne!(c.nodes[0].state_digest(), 0);
}

#[test]
fn a_delete_wins_over_the_value_it_deletes_and_is_told() {
    let mut c = Cluster::new(3, &Config::lan());
    c.nodes[0].set(c.now, b"k", b"v").unwrap();
    c.run_for(Duration::from_secs(2));
    assert_eq!(c.nodes[1].delete(c.now, b"k"), Ok(true));
    c.run_for(Duration::from_secs(2));
    for i in 0..3 {
        assert_eq!(c.nodes[i].get(b"k"), None, "node {i}");
        let last = changes(c.take_events(i)).pop().unwrap();
        assert_eq!((last.value, last.origin.as_str()), (None, "n1"));
        assert_eq!(c.nodes[i].entries().count(), 0);
    }
    assert!(all_equal(&digests(&c)));
}

#[test]
fn anti_entropy_repairs_a_replica_that_missed_every_rumor() {
    let mut config = Config::lan();
    config.state_sync_interval = Duration::from_secs(2);
    let mut c = Cluster::new(4, &config);
    // Node 3 hears nothing for 20 s (long enough for the rumors to run out,
    // short enough not to be declared failed for good).
    let cut_until = c.now + Duration::from_secs(20);
    c.cut = |_, to, now| to == 3 && now < Instant::from_secs(25);
    assert!(cut_until <= Instant::from_secs(25));
    for k in 0..50u32 {
        let key = alloc::format!("key-{k}");
        c.nodes[(k % 3) as usize]
            .set(c.now, key.as_bytes(), &k.to_le_bytes())
            .unwrap();
    }
    c.run_for(Duration::from_secs(20));
    assert_eq!(c.nodes[3].entries().count(), 0, "node 3 heard nothing");
    assert!(c.nodes[0].footprint().key_rumors == 0, "the rumors ran out");
    c.run_for(Duration::from_secs(30));
    assert_eq!(c.nodes[3].entries().count(), 50);
    assert!(all_equal(&digests(&c)), "{:?}", digests(&c));
    assert!(
        c.nodes
            .iter()
            .map(|n| n.stats().state.state_sync_steps)
            .sum::<u64>()
            > 0
    );
}

#[test]
fn concurrent_writes_resolve_alike_everywhere_by_last_writer_wins() {
    let mut c = Cluster::new(3, &Config::lan());
    // Nodes 0 and 1 cannot hear each other for a while and write the same key.
    c.cut = |from, to, now| now < Instant::from_secs(30) && from + to == 1;
    c.nodes[0].set(c.now, b"k", b"from-0").unwrap();
    c.run_for(Duration::from_millis(10));
    c.nodes[1].set(c.now, b"k", b"from-1").unwrap();
    let (v0, v1) = (
        c.nodes[0].version(b"k").unwrap().clone(),
        c.nodes[1].version(b"k").unwrap().clone(),
    );
    assert_eq!(v0.compare(&v1), Causality::Concurrent);
    c.run_for(Duration::from_secs(60));
    for i in 0..3 {
        assert_eq!(c.nodes[i].get(b"k"), Some(&b"from-1"[..]), "node {i}");
    }
    let merged = c.nodes[2].version(b"k").unwrap();
    assert!(merged.descends(&v0) && merged.descends(&v1));
    assert!(all_equal(&digests(&c)));
}

#[test]
fn siblings_keep_concurrent_values_until_the_application_resolves_them() {
    let mut config = Config::lan();
    config.conflicts = Conflicts::Siblings;
    let mut c = Cluster::new(3, &config);
    c.cut = |from, to, now| now < Instant::from_secs(30) && from + to == 1;
    c.nodes[0].set(c.now, b"k", b"a").unwrap();
    c.nodes[1].set(c.now, b"k", b"b").unwrap();
    c.run_for(Duration::from_secs(60));
    for i in 0..3 {
        let mut all: Vec<&[u8]> = c.nodes[i].get_all(b"k").collect();
        all.sort();
        assert_eq!(all, [&b"a"[..], &b"b"[..]], "node {i}");
    }
    let conflict = changes(c.take_events(2))
        .into_iter()
        .find(|change| change.siblings.len() == 2);
    assert!(conflict.is_some(), "the conflict is told with every value");
    c.nodes[2].set(c.now, b"k", b"ab").unwrap();
    c.run_for(Duration::from_secs(5));
    for i in 0..3 {
        assert_eq!(c.nodes[i].get_all(b"k").collect::<Vec<_>>(), [&b"ab"[..]]);
    }
}

#[test]
fn a_merge_function_combines_concurrent_values() {
    let mut config = Config::lan();
    config.conflicts = Conflicts::merge(Union);
    let mut c = Cluster::new(3, &config);
    c.cut = |_, _, now| now < Instant::from_secs(20);
    for i in 0..3 {
        c.nodes[i].set(c.now, b"set", &[i as u8 + 1]).unwrap();
    }
    c.run_for(Duration::from_secs(60));
    for i in 0..3 {
        assert_eq!(c.nodes[i].get(b"set"), Some(&[1u8, 2, 3][..]), "node {i}");
    }
}

#[test]
fn writes_are_bounded_with_typed_errors() {
    let mut n = node();
    let now = Instant::ZERO;
    assert_eq!(
        n.set(now, &[0; 129], b""),
        Err(StateError::KeyTooLarge { len: 129, max: 128 })
    );
    assert_eq!(
        n.set(now, b"k", &[0; 513]),
        Err(StateError::ValueTooLarge { len: 513, max: 512 })
    );
    let mut config = Config::lan();
    config.max_keys = 2;
    let mut n = crate::testing::node_with(config);
    n.set(now, b"a", b"1").unwrap();
    n.delete(now, b"b").unwrap();
    assert_eq!(n.set(now, b"c", b"3"), Err(StateError::Full { max: 2 }));
    n.set(now, b"a", b"overwrite is fine").unwrap();
    n.leave(now).unwrap();
    assert_eq!(n.set(now, b"a", b"x"), Err(StateError::Left));
}

fn record<'a>(siblings: Vec<SiblingRecord<'a>>) -> EntryRecord<'a> {
    let mut version = VersionVector::new();
    for s in &siblings {
        for _ in 0..s.counter {
            version.increment(crate::ReplicaId(s.replica));
        }
    }
    EntryRecord {
        version: version.iter().map(|(r, c)| (r.0, c)).collect(),
        siblings,
    }
}

fn sibling(replica: u64, counter: u64, value: &[u8]) -> SiblingRecord<'_> {
    SiblingRecord {
        replica,
        counter,
        millis: 0,
        logical: 0,
        origin: "x",
        value: Some(value),
    }
}

#[test]
fn bad_entries_from_the_network_are_rejected_whole_and_counted() {
    let mut n = node();
    let big = [0u8; 600];
    let cases = [
        (
            datagram(&[Message::KeyEntry {
                key: b"k",
                entry: record(alloc::vec![sibling(1, 1, &big)]),
            }]),
            MessageError::EntryTooLarge { len: 600, max: 512 },
        ),
        (
            datagram(&[Message::KeyEntry {
                key: b"k",
                entry: record(alloc::vec![sibling(2, 1, b"b"), sibling(1, 1, b"a")]),
            }]),
            MessageError::Decode(crate::DecodeError::Malformed),
        ),
        (
            datagram(&[Message::KeyEntry {
                key: b"k",
                entry: record(Vec::new()),
            }]),
            MessageError::Decode(crate::DecodeError::Malformed),
        ),
    ];
    for (i, (bytes, expected)) in cases.into_iter().enumerate() {
        assert_eq!(
            n.handle_message(Instant::ZERO, 9, &bytes),
            Err(expected),
            "case {i}"
        );
    }
    assert_eq!(n.stats().datagrams.rejected.total(), 3);
    assert_eq!(n.footprint().keys, 0);
    // A good one is merged.
    let good = datagram(&[Message::KeyEntry {
        key: b"k",
        entry: record(alloc::vec![sibling(1, 1, b"a")]),
    }]);
    n.handle_message(Instant::ZERO, 9, &good).unwrap();
    assert_eq!(n.get(b"k"), Some(&b"a"[..]));
}

#[test]
fn convergence_is_estimated_from_digests_on_probes_and_announced() {
    let mut c = Cluster::new(5, &Config::lan());
    c.nodes[0].set(c.now, b"k", b"v").unwrap();
    c.run_for(Duration::from_secs(30));
    for i in 0..5 {
        let convergence = c.nodes[i].convergence();
        assert_eq!(convergence.members, 5);
        assert_eq!(convergence.agreeing, 5, "node {i}: {convergence:?}");
        assert!(convergence.sampled >= 2);
        let events = c.take_events(i);
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Event::Converged(c) if c.agreeing == 5)),
            "node {i}"
        );
    }
    // A write that node 4 does not hear: the writer counts it out, and once
    // node 4 is declared failed, no longer counts it at all.
    c.cut = |_, to, _| to == 4;
    c.nodes[0].set(c.now, b"k", b"w").unwrap();
    c.run_for(Duration::from_secs(2));
    let convergence = c.nodes[0].convergence();
    assert!(convergence.agreeing < 5, "{convergence:?}");
    c.run_for(Duration::from_secs(20));
    let convergence = c.nodes[0].convergence();
    assert_eq!(
        (convergence.agreeing, convergence.members),
        (4, 4),
        "{convergence:?}"
    );
}

/// Agreement is claimed from the digests of every other live member in a
/// small cluster, not from the first one heard ("4 of 4" after one digest),
/// nor while a crashed member that is only suspected has merely gone quiet.
#[test]
fn convergence_is_claimed_from_every_member_of_a_small_cluster() {
    let mut config = Config::lan();
    // Long suspicions: a crashed member stays suspect (live) for a while.
    config.suspicion_mult = 20;
    let mut c = Cluster::new(4, &config);
    c.run_for(Duration::from_secs(30));
    for i in 0..4 {
        for event in c.take_events(i) {
            if let Event::Converged(convergence) = event {
                assert_eq!(convergence.sampled, 3, "node {i}: {convergence:?}");
            }
        }
    }
    // n3 crashes, then a write spreads to the others only.
    c.cut = |from, to, _| from == 3 || to == 3;
    c.nodes[0].set(c.now, b"k", b"v").unwrap();
    // Past the 15 s window of n3's last digest, before the suspicion ends.
    c.run_for(Duration::from_secs(18));
    for i in 0..3 {
        let n3 = c.nodes[i].member("n3").unwrap().state();
        assert_eq!(n3, crate::MemberState::Suspect, "node {i}");
        let claims: Vec<_> = c
            .take_events(i)
            .into_iter()
            .filter(|e| matches!(e, Event::Converged(_)))
            .collect();
        assert!(claims.is_empty(), "node {i}: {claims:?}");
        assert!(!c.nodes[i].convergence().is_converged(), "node {i}");
    }
}

#[test]
fn a_member_that_fails_holding_another_state_is_counted_out_without_a_claim_of_convergence() {
    let mut c = Cluster::new(4, &Config::lan());
    c.run_for(Duration::from_secs(30));
    for i in 0..4 {
        c.take_events(i);
    }
    // n3 crashes, then n0 writes a key that n1 and n2 take and n3 never
    // hears: n3's last digest, still within the window, disagrees.
    c.cut = |from, to, _| from == 3 || to == 3;
    c.run_for(Duration::from_millis(100));
    c.nodes[0].set(c.now, b"k", b"v").unwrap();
    c.run_for(Duration::from_secs(1));
    for i in 0..3 {
        let convergence = c.nodes[i].convergence();
        let figures = (convergence.agreeing, convergence.members);
        assert_eq!(figures, (3, 4), "node {i}: {convergence:?}");
    }
    // n3 is declared failed: the estimate no longer counts it, but nothing
    // spread, so nothing is announced ("converged with 3 of 3 members" was).
    c.run_for(Duration::from_secs(20));
    for i in 0..3 {
        let events = c.take_events(i);
        let failed =
            |e: &Event<u32>| matches!(e, Event::MemberFailed(m) if m.name().as_str() == "n3");
        assert!(events.iter().any(failed), "node {i}: {events:?}");
        let convergence = c.nodes[i].convergence();
        let figures = (convergence.agreeing, convergence.members);
        assert_eq!(figures, (3, 3), "node {i}: {convergence:?}");
        let claims: Vec<_> = events
            .iter()
            .filter(|e| matches!(e, Event::Converged(_)))
            .map(alloc::string::ToString::to_string)
            .collect();
        assert!(claims.is_empty(), "node {i}: {claims:?}");
    }
    // A write seen to reach every live member is announced, of live members.
    c.nodes[1].set(c.now, b"k", b"w").unwrap();
    c.run_for(Duration::from_secs(20));
    for i in 0..3 {
        let claims: Vec<_> = c
            .take_events(i)
            .iter()
            .filter(|e| matches!(e, Event::Converged(_)))
            .map(alloc::string::ToString::to_string)
            .collect();
        assert_eq!(
            claims,
            ["replicated state converged with 3 of 3 live members"],
            "node {i}"
        );
    }
}

#[test]
fn tombstones_are_collected_after_their_retention() {
    let mut config = Config::lan();
    config.key_tombstone_retention = Duration::from_secs(60);
    let mut c = Cluster::new(2, &config);
    c.nodes[0].set(c.now, b"k", b"v").unwrap();
    c.run_for(Duration::from_secs(2));
    c.nodes[0].delete(c.now, b"k").unwrap();
    c.run_for(Duration::from_secs(2));
    assert_eq!(c.nodes[1].footprint().key_tombstones, 1);
    c.run_for(Duration::from_secs(70));
    for i in 0..2 {
        assert_eq!(c.nodes[i].footprint().keys, 0, "node {i}");
        assert_eq!(c.nodes[i].stats().state.key_tombstones_collected, 1);
    }
    assert_eq!(c.nodes[0].state_digest(), 0);
}

#[test]
fn a_replica_far_behind_catches_up_within_the_anti_entropy_budget() {
    let mut config = Config::lan();
    config.state_tree_depth = 4;
    config.state_sync_interval = Duration::from_secs(1);
    let mut c = Cluster::new(2, &config);
    // 20,000 keys of 300 bytes reach node 0 only, from outside: about 4,500
    // datagrams of entries, more than four intervals' budget.
    let value = [7u8; 300];
    for batch in 0..5_000u32 {
        let keys: Vec<alloc::string::String> = (0..4)
            .map(|i| alloc::format!("key-{:06}", batch * 4 + i))
            .collect();
        let messages: Vec<Message<'_, u32>> = keys
            .iter()
            .map(|key| Message::KeyEntry {
                key: key.as_bytes(),
                entry: record(alloc::vec![SiblingRecord {
                    value: Some(&value),
                    ..sibling(1, 1, b"")
                }]),
            })
            .collect();
        c.nodes[0]
            .handle_message(c.now, 99, &datagram(&messages))
            .unwrap();
    }
    c.run_for(Duration::from_secs(1));
    assert!(c.nodes[1].footprint().keys < 20_000);
    c.run_for(Duration::from_secs(60));
    assert!(
        c.nodes[0].stats().state.state_sync_throttled > 0,
        "the budget held"
    );
    assert_eq!(c.nodes[1].footprint().keys, 20_000);
    assert!(all_equal(&digests(&c)));
}

#[test]
fn gossip_of_key_changes_carries_the_state_digest() {
    let mut n = with_three_members(Config::lan());
    n.set(Instant::ZERO, b"k", b"v").unwrap();
    let digest = n.state_digest();
    let sent = run_until(&mut n, Instant::from_millis(300));
    let mut gossiped = 0;
    for datagram in sent {
        let kinds: Vec<Message<'_, u32>> = messages(alloc::vec![datagram])
            .into_iter()
            .map(|(_, m)| m)
            .collect();
        if kinds.iter().any(|m| matches!(m, Message::KeyEntry { .. })) {
            gossiped += 1;
            assert!(
                kinds
                    .iter()
                    .any(|m| matches!(m, Message::StateRoot { root } if root == &digest)),
                "{kinds:?}"
            );
        }
    }
    assert!(gossiped > 0, "the write was not gossiped");
}

/// A tombstone this replica collected, sent back by a member that still holds
/// it (one that collects later: another phase of collection, or a clock
/// behind), is a delete the application was told of already: it must not be
/// stored again nor told a second time.
#[test]
fn a_collected_tombstone_coming_back_is_not_a_second_change() {
    let mut config = Config::lan();
    config.key_tombstone_retention = Duration::from_secs(60);
    let mut c = Cluster::new(2, &config);
    // Node 1's clock is 30 s behind node 0's (well within MAX_CLOCK_LEAD), so
    // it keeps the tombstone about 30 s longer than node 0.
    let wall = Duration::from_secs(1_700_000_000);
    c.nodes[0].set_wall_clock(c.now, wall);
    c.nodes[1].set_wall_clock(c.now, wall - Duration::from_secs(30));
    c.nodes[0].set(c.now, b"color", b"red").unwrap();
    c.run_for(Duration::from_secs(2));
    for i in 0..2 {
        c.take_events(i);
    }
    c.nodes[0].delete(c.now, b"color").unwrap();
    // Past both replicas' collections, with anti-entropy every 5 s meanwhile.
    c.run_for(Duration::from_secs(120));
    for i in 0..2 {
        let changes = changes(c.take_events(i));
        assert_eq!(changes.len(), 1, "node {i}: {changes:?}");
        assert_eq!(
            (changes[0].value.as_deref(), changes[0].origin.as_str()),
            (None, "n0")
        );
        assert_eq!(c.nodes[i].footprint().keys, 0, "node {i}");
    }
}

/// The same on one node, by hand: it deletes a key, collects the tombstone,
/// then hears the very tombstone again from a member.
#[test]
fn a_tombstone_heard_again_after_its_collection_is_not_told_again() {
    let mut config = Config::lan();
    config.key_tombstone_retention = Duration::from_secs(60);
    let mut n = with_three_members(config);
    n.set(Instant::ZERO, b"color", b"red").unwrap();
    n.delete(Instant::ZERO, b"color").unwrap();
    let sent = run_until(&mut n, Instant::from_secs(2));
    let tombstone = messages(sent)
        .into_iter()
        .map(|(_, m)| m)
        .find(|m| matches!(m, Message::KeyEntry { key, .. } if *key == b"color"))
        .expect("the delete was gossiped");
    assert_eq!(
        changes(crate::testing::events(&mut n)).len(),
        2,
        "the write, the delete"
    );
    run_until(&mut n, Instant::from_secs(70));
    assert_eq!(n.stats().state.key_tombstones_collected, 1);
    n.handle_message(Instant::from_secs(70), 1, &datagram(&[tombstone]))
        .unwrap();
    let again = changes(crate::testing::events(&mut n));
    assert!(again.is_empty(), "told again: {again:?}");
    assert_eq!(n.footprint().keys, 0, "the collected tombstone came back");
}

/// A delete of a key this node never had a value of (it joined after the
/// write) changes nothing a reader sees: the tombstone is kept, untold.
#[test]
fn a_delete_of_a_key_never_held_is_kept_but_not_told() {
    let mut n = with_three_members(Config::lan());
    n.set(Instant::ZERO, b"color", b"red").unwrap();
    n.delete(Instant::ZERO, b"color").unwrap();
    let sent = run_until(&mut n, Instant::from_secs(2));
    let tombstone = messages(sent)
        .into_iter()
        .map(|(_, m)| m)
        .find(|m| matches!(m, Message::KeyEntry { key, .. } if *key == b"color"))
        .expect("the delete was gossiped");
    let mut late = crate::testing::node();
    late.handle_message(Instant::from_secs(2), 1, &datagram(&[tombstone]))
        .unwrap();
    assert!(changes(crate::testing::events(&mut late)).is_empty());
    assert_eq!(
        late.footprint().key_tombstones,
        1,
        "kept, so older values lose"
    );
    assert_eq!(late.state_digest(), n.state_digest());
}

/// Anti-entropy goes only to a member whose digest differs from this
/// replica's: members heard with the same digest get no sync round, and a
/// replica that has heard only agreeing digests sends none at all.
#[test]
fn a_sync_round_goes_to_a_member_whose_digest_differs_and_only_then() {
    let config = Config {
        probe_interval: Duration::from_secs(3600),
        ..Config::lan()
    };
    let mut n = with_three_members(config);
    let syncs_to = |sent: Vec<(u32, Vec<u8>)>| -> Vec<u32> {
        messages(sent)
            .into_iter()
            .filter(|(_, m)| matches!(m, Message::SyncHashes { .. }))
            .map(|(to, _)| to)
            .collect()
    };
    let root_from = |n: &mut crate::testing::TestNode, from: u32, root: u64| {
        let now = n.now();
        n.handle_message(now, from, &datagram(&[Message::StateRoot { root }]))
            .unwrap();
    };
    // The same (empty) digest from every member: no sync in a minute.
    for from in 1..=3 {
        root_from(&mut n, from, 0);
    }
    assert!(syncs_to(run_until(&mut n, Instant::from_secs(60))).is_empty());
    // Member 2 holds something else: the next rounds go to it alone.
    root_from(&mut n, 2, 0x5eed);
    let sent = syncs_to(run_until(&mut n, Instant::from_secs(71)));
    assert!(
        !sent.is_empty() && sent.iter().all(|&to| to == 2),
        "{sent:?}"
    );
    // Once it agrees again, they stop.
    root_from(&mut n, 2, 0);
    assert!(syncs_to(run_until(&mut n, Instant::from_secs(120))).is_empty());
}
