//! Nodes on 127.0.0.1 over real UDP, each on a thread of its own: they
//! converge, detect a stopped node, see a graceful leave, deliver a broadcast
//! and replicate a key (the tokio adapter's loopback tests, blocking).
//! Timings here are wall-clock bounds with wide margins, not measurements.

use std::thread::sleep;
use std::time::{Duration, Instant};

use gossip_core::{Config, MemberState};
use gossip_std::{Builder, CommandError, Event, Events, Gossip, JoinError, LeaveError, RecvError};

const PATIENCE: Duration = Duration::from_secs(30);

/// `n` nodes with `Config::local()`, all joined through the first: they
/// converge as the join rumors spread (a member one missed is learnt when it
/// next probes, within seconds).
fn cluster(n: usize) -> Vec<Gossip> {
    cluster_with(n, &Config::local(), Seeds::First)
}

/// `n` nodes, each joined through every node started before it, for the
/// tests whose subject comes after convergence: the joins reach each member
/// directly, so these tests seldom wait seconds for a probe to repair a
/// missed join rumor.
fn meshed(n: usize, config: &Config) -> Vec<Gossip> {
    cluster_with(n, config, Seeds::AllBefore)
}

/// Whom a new node joins through.
#[derive(Clone, Copy)]
enum Seeds {
    First,
    AllBefore,
}

fn cluster_with(n: usize, config: &Config, seeds: Seeds) -> Vec<Gossip> {
    let first = Gossip::start(Builder::new("n0").config(config.clone())).unwrap();
    let mut nodes = vec![first];
    for i in 1..n {
        let before = nodes.iter().map(Gossip::advertise_addr);
        let builder = Builder::new(format!("n{i}"))
            .config(config.clone())
            .seeds(match seeds {
                Seeds::First => before.take(1).collect::<Vec<_>>(),
                Seeds::AllBefore => before.collect(),
            });
        nodes.push(Gossip::start(builder).unwrap());
    }
    nodes
}

/// Waits until `check` holds for every node, or panics after [`PATIENCE`].
fn until_all(nodes: &[Gossip], what: &str, check: impl Fn(&Gossip) -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !nodes.iter().all(&check) {
        assert!(
            Instant::now() < deadline,
            "not every node {what} in {PATIENCE:?}"
        );
        sleep(Duration::from_millis(50));
    }
}

fn live(node: &Gossip) -> usize {
    node.stats().unwrap().live_members
}

fn state_of(node: &Gossip, name: &str) -> Option<MemberState> {
    let members = node.members().unwrap();
    members.iter().find(|m| m.name() == name).map(|m| m.state())
}

/// Receives until `wanted` picks an event, or panics after [`PATIENCE`].
fn wait_for<T>(events: &Events, what: &str, wanted: impl Fn(Event) -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(Some(event)) => {
                if let Some(found) = wanted(event) {
                    return found;
                }
            }
            Ok(None) => panic!("no {what} in {PATIENCE:?}"),
            Err(error) => panic!("waiting for {what}: {error}"),
        }
    }
}

#[test]
fn ten_nodes_converge_and_detect_a_stopped_one() {
    let nodes = cluster(10);
    until_all(&nodes, "sees 10 live", |n| live(n) == 10);

    let (stopped, rest) = nodes.split_last().unwrap();
    let events = stopped.events();
    stopped.shutdown();
    assert!(stopped.members().is_err(), "a stopped node answers");
    while events.recv() != Err(RecvError::Closed) {}
    assert_eq!(stopped.events().recv(), Err(RecvError::Closed));
    until_all(rest, "declared n9 failed", |n| {
        state_of(n, "n9") == Some(MemberState::Failed)
    });
    for node in rest {
        assert_eq!(live(node), 9);
    }
}

#[test]
fn a_graceful_leave_is_seen_as_left_by_all() {
    let nodes = meshed(5, &Config::local());
    until_all(&nodes, "sees 5 live", |n| live(n) == 5);
    let (leaver, rest) = nodes.split_last().unwrap();
    leaver.leave().unwrap();
    assert!(matches!(leaver.leave(), Err(LeaveError::Refused(_))));
    until_all(rest, "saw n4 leave", |n| {
        state_of(n, "n4") == Some(MemberState::Left)
    });
    let stats = rest[0].stats().unwrap();
    assert_eq!(
        stats.stats.members.failures_declared, 0,
        "a leave is not a failure"
    );
}

/// With `Config::lan()` a leave in a cluster of three or more used to time
/// out after 5 s (it waited for every rumor of the node to be spent). It
/// returns once the departure has been sent as often as a rumor is: with
/// three nodes after one more gossip round, with ten at once.
#[test]
fn a_leave_returns_within_two_probe_intervals_with_three_and_ten_nodes() {
    let config = Config::lan();
    for n in [3, 10] {
        let nodes = meshed(n, &config);
        until_all(&nodes, "sees every node live", |node| live(node) == n);
        let (leaver, rest) = nodes.split_last().unwrap();
        let started = Instant::now();
        leaver.leave().unwrap();
        let took = started.elapsed();
        assert!(
            took < 2 * config.probe_interval,
            "{n} nodes: the leave took {took:?}"
        );
        let name = format!("n{}", n - 1);
        until_all(rest, "saw the leave", |node| {
            state_of(node, &name) == Some(MemberState::Left)
        });
    }
}

#[test]
fn a_broadcast_and_a_key_reach_every_node() {
    let nodes = meshed(10, &Config::local());
    until_all(&nodes, "sees 10 live", |n| live(n) == 10);
    let subscriptions: Vec<_> = nodes.iter().map(Gossip::events).collect();

    nodes[3].broadcast(b"deploy v2".to_vec()).unwrap();
    nodes[5]
        .set(b"config/leader".to_vec(), b"n5".to_vec())
        .unwrap();

    for events in &subscriptions {
        let (origin, payload) = wait_for(events, "broadcast", |event| match event {
            Event::Broadcast(b) => Some((b.origin, b.payload)),
            _ => None,
        });
        assert_eq!((origin.as_str(), &payload[..]), ("n3", &b"deploy v2"[..]));
    }
    until_all(&nodes, "has config/leader", |n| {
        n.get(b"config/leader".to_vec()).unwrap() == Some(b"n5".to_vec())
    });
}

#[test]
fn commands_are_refused_with_typed_errors_and_a_dropped_handle_stops_the_node() {
    let node = Gossip::start(Builder::new("solo")).unwrap();
    let too_large = vec![0u8; 64 * 1024];
    assert!(matches!(
        node.set(b"k".to_vec(), too_large.clone()),
        Err(CommandError::Refused(_))
    ));
    assert!(matches!(
        node.broadcast(too_large),
        Err(CommandError::Refused(_))
    ));
    assert!(matches!(node.join(vec![]), Err(JoinError::Refused(_))));
    // Alone, a leave has no one to tell: it returns at once.
    node.leave().unwrap();
    let events = node.events();
    let clone = node.clone();
    drop(node);
    assert!(clone.members().is_ok(), "a clone keeps the node running");
    // Dropping the last handle joins the thread: the events end at once.
    drop(clone);
    loop {
        match events.try_recv() {
            Ok(Some(_)) | Err(RecvError::Lagged(_)) => {}
            Ok(None) => panic!("the node's thread still runs after the last handle was dropped"),
            Err(RecvError::Closed) => break,
        }
    }
}

#[test]
fn the_first_subscriber_sees_the_join_and_the_join_loses_no_datagram() {
    let a = Gossip::start(Builder::new("a").config(Config::local())).unwrap();
    let b = Gossip::start(
        Builder::new("b")
            .config(Config::local())
            .seeds([a.advertise_addr()]),
    )
    .unwrap();
    let events = b.events();
    wait_for(&events, "JoinCompleted", |event| {
        matches!(event, Event::JoinCompleted { .. }).then_some(())
    });
    let socket = b.stats().unwrap().socket;
    assert_eq!(socket.sends_dropped + socket.send_errors, 0, "{socket:?}");
    assert!(socket.datagrams_out > 0 && socket.datagrams_in > 0);
}

#[test]
fn a_command_wakes_the_thread_and_its_wake_up_is_not_a_datagram() {
    // Alone with WAN timings, the node's next timer is a second or more away:
    // commands are answered at once only if they wake the thread.
    let node = Gossip::start(Builder::new("idle").config(Config::wan())).unwrap();
    let before = node.stats().unwrap().socket;
    let started = Instant::now();
    for _ in 0..100 {
        node.get(b"k".to_vec()).unwrap();
    }
    let per_command = started.elapsed() / 100;
    assert!(
        per_command < Duration::from_millis(20),
        "a command took {per_command:?}: the thread was not woken"
    );
    let after = node.stats().unwrap().socket;
    assert_eq!(after.datagrams_in, before.datagrams_in, "{after:?}");
    assert_eq!(after.recv_errors, 0, "{after:?}");
}

#[test]
fn encrypted_nodes_converge_and_rotate_keys_through_their_handles() {
    use gossip_core::{Encryption, Key, Keyring};
    let (old, new) = (Key::from_bytes([1; 32]), Key::from_bytes([2; 32]));
    let encryption = Encryption::new(Keyring::new(old.clone())).with_label("loopback");
    let first = Gossip::start(
        Builder::new("s0")
            .config(Config::local())
            .encryption(encryption.clone()),
    )
    .unwrap();
    let seed = first.advertise_addr();
    let mut nodes = vec![first];
    for i in 1..3 {
        let builder = Builder::new(format!("s{i}"))
            .config(Config::local())
            .encryption(encryption.clone())
            .seeds([seed]);
        nodes.push(Gossip::start(builder).unwrap());
    }
    until_all(&nodes, "sees 3 live", |n| live(n) == 3);
    for node in &nodes {
        node.install_key(new.clone()).unwrap();
    }
    for node in &nodes {
        node.use_key(new.id()).unwrap();
    }
    for node in &nodes {
        node.remove_key(old.id()).unwrap();
        assert_eq!(node.keys().unwrap(), Some(vec![new.id()]));
    }
    assert!(matches!(
        nodes[0].remove_key(new.id()),
        Err(CommandError::Refused(_))
    ));
    nodes[1].set(b"k".to_vec(), b"v".to_vec()).unwrap();
    until_all(&nodes, "has k", |n| {
        n.get(b"k".to_vec()).unwrap() == Some(b"v".to_vec())
    });
    for node in &nodes {
        let stats = node.stats().unwrap().stats;
        assert_eq!(stats.seal.datagrams_sealed, stats.datagrams.packets_out);
        assert_eq!(
            stats.datagrams.rejected.total(),
            0,
            "{:?}",
            stats.datagrams.rejected
        );
    }
}
