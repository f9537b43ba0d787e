//! Nodes on 127.0.0.1 over real UDP: they converge, detect a stopped node,
//! see a graceful leave, deliver a broadcast and replicate a key.
//! Timings here are wall-clock bounds with wide margins, not measurements.

use std::time::Duration;

use gossip_core::{Config, Event, MemberState};
use gossip_tokio::{Builder, Gossip, LeaveError};
use tokio::time::{Instant, sleep};

const PATIENCE: Duration = Duration::from_secs(30);

/// `n` nodes with `Config::local()`, all joined through the first: they
/// converge as the join rumors spread (a member one missed is learnt when it
/// next probes, within seconds).
async fn cluster(n: usize) -> Vec<Gossip> {
    cluster_with(n, &Config::local(), Seeds::First).await
}

/// `n` nodes, each joined through every node started before it, for the
/// tests whose subject comes after convergence: the joins reach each member
/// directly, so these tests seldom wait seconds for a probe to repair a
/// missed join rumor.
async fn meshed(n: usize, config: &Config) -> Vec<Gossip> {
    cluster_with(n, config, Seeds::AllBefore).await
}

/// Whom a new node joins through.
#[derive(Clone, Copy)]
enum Seeds {
    First,
    AllBefore,
}

async fn cluster_with(n: usize, config: &Config, seeds: Seeds) -> Vec<Gossip> {
    let first = Gossip::start(Builder::new("n0").config(config.clone()))
        .await
        .unwrap();
    let mut nodes = vec![first];
    for i in 1..n {
        let before = nodes.iter().map(Gossip::advertise_addr);
        let builder = Builder::new(format!("n{i}"))
            .config(config.clone())
            .seeds(match seeds {
                Seeds::First => before.take(1).collect::<Vec<_>>(),
                Seeds::AllBefore => before.collect(),
            });
        nodes.push(Gossip::start(builder).await.unwrap());
    }
    nodes
}

/// Waits until `check` holds for every node, or panics after [`PATIENCE`].
async fn until_all(nodes: &[Gossip], what: &str, check: impl AsyncFn(&Gossip) -> bool) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let mut all = true;
        for node in nodes {
            all &= check(node).await;
        }
        if all {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "not every node {what} in {PATIENCE:?}"
        );
        sleep(Duration::from_millis(50)).await;
    }
}

async fn live(node: &Gossip) -> usize {
    node.stats().await.unwrap().live_members
}

async fn state_of(node: &Gossip, name: &str) -> Option<MemberState> {
    let members = node.members().await.unwrap();
    members.iter().find(|m| m.name() == name).map(|m| m.state())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_nodes_converge_and_detect_a_stopped_one() {
    let nodes = cluster(10).await;
    until_all(&nodes, "sees 10 live", async |n| live(n).await == 10).await;

    let (stopped, rest) = nodes.split_last().unwrap();
    let mut events = stopped.events();
    stopped.shutdown().await;
    assert!(stopped.members().await.is_err(), "a stopped node answers");
    while events.recv().await != Err(gossip_tokio::RecvError::Closed) {}
    assert_eq!(
        stopped.events().recv().await,
        Err(gossip_tokio::RecvError::Closed)
    );
    until_all(rest, "declared n9 failed", async |n| {
        state_of(n, "n9").await == Some(MemberState::Failed)
    })
    .await;
    for node in rest {
        assert_eq!(live(node).await, 9);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_leave_is_seen_as_left_by_all() {
    let nodes = meshed(5, &Config::local()).await;
    until_all(&nodes, "sees 5 live", async |n| live(n).await == 5).await;
    let (leaver, rest) = nodes.split_last().unwrap();
    leaver.leave().await.unwrap();
    assert!(matches!(leaver.leave().await, Err(LeaveError::Refused(_))));
    until_all(rest, "saw n4 leave", async |n| {
        state_of(n, "n4").await == Some(MemberState::Left)
    })
    .await;
    let stats = rest[0].stats().await.unwrap();
    assert_eq!(
        stats.stats.members.failures_declared, 0,
        "a leave is not a failure"
    );
}

/// With `Config::lan()` a leave in a cluster of three or more used to time
/// out after 5 s (it waited for every rumor of the node to be spent). It
/// returns once the departure has been sent as often as a rumor is: with
/// three nodes after one more gossip round, with ten at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leave_returns_within_two_probe_intervals_with_three_and_ten_nodes() {
    let config = Config::lan();
    for n in [3, 10] {
        let nodes = meshed(n, &config).await;
        until_all(&nodes, "sees every node live", async |node| {
            live(node).await == n
        })
        .await;
        let (leaver, rest) = nodes.split_last().unwrap();
        let started = Instant::now();
        leaver.leave().await.unwrap();
        let took = started.elapsed();
        assert!(
            took < 2 * config.probe_interval,
            "{n} nodes: the leave took {took:?}"
        );
        let name = format!("n{}", n - 1);
        until_all(rest, "saw the leave", async |node| {
            state_of(node, &name).await == Some(MemberState::Left)
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_and_a_key_reach_every_node() {
    let nodes = meshed(10, &Config::local()).await;
    until_all(&nodes, "sees 10 live", async |n| live(n).await == 10).await;
    let mut subscriptions: Vec<_> = nodes.iter().map(Gossip::events).collect();

    nodes[3].broadcast(b"deploy v2".to_vec()).await.unwrap();
    nodes[5]
        .set(b"config/leader".to_vec(), b"n5".to_vec())
        .await
        .unwrap();

    for (i, events) in subscriptions.iter_mut().enumerate() {
        let deadline = Instant::now() + PATIENCE;
        let mut got_broadcast = false;
        while !got_broadcast {
            let event = tokio::time::timeout_at(deadline, events.recv())
                .await
                .unwrap_or_else(|_| panic!("n{i} never got the broadcast"))
                .unwrap();
            if let Event::Broadcast(b) = event {
                assert_eq!(
                    (b.origin.as_str(), &b.payload[..]),
                    ("n3", &b"deploy v2"[..])
                );
                got_broadcast = true;
            }
        }
    }
    until_all(&nodes, "has config/leader", async |n| {
        n.get(b"config/leader".to_vec()).await.unwrap() == Some(b"n5".to_vec())
    })
    .await;
}

#[tokio::test]
async fn commands_are_refused_with_typed_errors_and_a_dropped_handle_stops_the_node() {
    let node = Gossip::start(Builder::new("solo")).await.unwrap();
    let too_large = vec![0u8; 64 * 1024];
    assert!(matches!(
        node.set(b"k".to_vec(), too_large.clone()).await,
        Err(gossip_tokio::CommandError::Refused(_))
    ));
    assert!(matches!(
        node.broadcast(too_large).await,
        Err(gossip_tokio::CommandError::Refused(_))
    ));
    assert!(matches!(
        node.join(vec![]).await,
        Err(gossip_tokio::JoinError::Refused(_))
    ));
    // Alone, a leave has no one to tell: it returns at once.
    node.leave().await.unwrap();
    let events = node.events();
    drop(node);
    let mut events = events;
    let closed = tokio::time::timeout(PATIENCE, async {
        loop {
            if let Err(gossip_tokio::RecvError::Closed) = events.recv().await {
                return;
            }
        }
    });
    closed
        .await
        .expect("the task ended when the last handle was dropped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_subscriber_sees_the_join_and_the_join_loses_no_datagram() {
    let a = Gossip::start(Builder::new("a").config(Config::local()))
        .await
        .unwrap();
    let b = Gossip::start(
        Builder::new("b")
            .config(Config::local())
            .seeds([a.advertise_addr()]),
    )
    .await
    .unwrap();
    let mut events = b.events();
    let joined = tokio::time::timeout(PATIENCE, async {
        loop {
            if let Event::JoinCompleted { .. } = events.recv().await.unwrap() {
                return;
            }
        }
    });
    joined
        .await
        .expect("the first subscriber missed JoinCompleted");
    let socket = b.stats().await.unwrap().socket;
    assert_eq!(socket.sends_dropped + socket.send_errors, 0, "{socket:?}");
    assert!(socket.datagrams_out > 0 && socket.datagrams_in > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_nodes_converge_and_rotate_keys_through_their_handles() {
    use gossip_core::{Encryption, Key, Keyring};
    let (old, new) = (Key::from_bytes([1; 32]), Key::from_bytes([2; 32]));
    let encryption = Encryption::new(Keyring::new(old.clone())).with_label("loopback");
    let builder = |i: usize| {
        Builder::new(format!("t{i}"))
            .config(Config::local())
            .encryption(encryption.clone())
    };
    let first = Gossip::start(builder(0)).await.unwrap();
    let seed = first.advertise_addr();
    let mut nodes = vec![first];
    for i in 1..3 {
        nodes.push(Gossip::start(builder(i).seeds([seed])).await.unwrap());
    }
    until_all(&nodes, "sees 3 live", async |n| live(n).await == 3).await;
    for node in &nodes {
        node.install_key(new.clone()).await.unwrap();
    }
    for node in &nodes {
        node.use_key(new.id()).await.unwrap();
    }
    for node in &nodes {
        node.remove_key(old.id()).await.unwrap();
        assert_eq!(node.keys().await.unwrap(), Some(vec![new.id()]));
    }
    nodes[1].set(b"k".to_vec(), b"v".to_vec()).await.unwrap();
    until_all(&nodes, "has k", async |n| {
        n.get(b"k".to_vec()).await.unwrap() == Some(b"v".to_vec())
    })
    .await;
    for node in &nodes {
        let stats = node.stats().await.unwrap().stats;
        assert_eq!(stats.seal.datagrams_sealed, stats.datagrams.packets_out);
        assert_eq!(
            stats.datagrams.rejected.total(),
            0,
            "{:?}",
            stats.datagrams.rejected
        );
    }
}
