//! Tokio nodes and std nodes in one process and one cluster, over real UDP
//! on 127.0.0.1: the two adapters speak the same wire, so each kind sees the
//! other's joins, broadcasts and keys. Timings are wall-clock bounds with
//! wide margins, not measurements.

use std::sync::Arc;
use std::thread::sleep;
use std::time::{Duration, Instant};

use gossip_agent::{Adapter, Node, Subscription};
use gossip_core::{Config, Event};
use gossip_tokio::Builder;

const PATIENCE: Duration = Duration::from_secs(30);

/// `n` nodes, alternately on tokio (even, sharing one runtime) and std
/// (odd), all joined through the first.
fn cluster(n: usize) -> Vec<Node> {
    let runtime = Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap(),
    );
    let mut nodes: Vec<Node> = Vec::new();
    for i in 0..n {
        let mut builder = Builder::new(format!("n{i}")).config(Config::local());
        if let Some(first) = nodes.first() {
            builder = builder.seeds([first.advertise_addr()]);
        }
        let node = if i % 2 == 0 {
            Node::start_on(&runtime, builder)
        } else {
            Node::start(Adapter::Std, builder)
        };
        nodes.push(node.unwrap());
    }
    nodes
}

/// Waits until `check` holds for every node, or panics after [`PATIENCE`].
fn until_all(nodes: &[Node], what: &str, check: impl Fn(&Node) -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !nodes.iter().all(&check) {
        assert!(
            Instant::now() < deadline,
            "not every node {what} in {PATIENCE:?}"
        );
        sleep(Duration::from_millis(50));
    }
}

/// The payloads of the first `count` broadcasts delivered, sorted.
fn broadcasts(events: &mut Subscription, count: usize) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + PATIENCE;
    let mut payloads = Vec::new();
    while payloads.len() < count {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left).unwrap() {
            Some(Event::Broadcast(b)) => payloads.push(b.payload),
            Some(_) => {}
            None => panic!("only {payloads:?} delivered in {PATIENCE:?}"),
        }
    }
    payloads.sort();
    payloads
}

fn get(node: &Node, key: &[u8]) -> Option<Vec<u8>> {
    node.get(key.to_vec()).unwrap()
}

#[test]
fn tokio_and_std_nodes_form_one_cluster_and_share_broadcasts_and_keys() {
    let nodes = cluster(6);
    until_all(&nodes, "sees 6 live", |n| {
        n.stats().unwrap().live_members == 6
    });
    let mut subscriptions: Vec<_> = nodes.iter().map(Node::events).collect();

    let [tokio_node, std_node, ..] = &nodes[..] else {
        unreachable!()
    };
    assert_eq!(
        (tokio_node.adapter(), std_node.adapter()),
        (Adapter::Tokio, Adapter::Std)
    );
    tokio_node.broadcast(b"from tokio".to_vec()).unwrap();
    std_node.broadcast(b"from std".to_vec()).unwrap();
    for events in &mut subscriptions {
        assert_eq!(
            broadcasts(events, 2),
            [b"from std".to_vec(), b"from tokio".to_vec()]
        );
    }

    tokio_node.set(b"by/tokio".to_vec(), b"t".to_vec()).unwrap();
    std_node.set(b"by/std".to_vec(), b"s".to_vec()).unwrap();
    // Both kinds write one key at once: every replica settles on one value.
    tokio_node
        .set(b"contended".to_vec(), b"tokio's".to_vec())
        .unwrap();
    std_node
        .set(b"contended".to_vec(), b"std's".to_vec())
        .unwrap();
    until_all(&nodes, "has both keys", |n| {
        get(n, b"by/tokio").as_deref() == Some(b"t") && get(n, b"by/std").as_deref() == Some(b"s")
    });
    let sorted = |n: &Node| {
        let mut entries = n.entries().unwrap();
        entries.sort();
        entries
    };
    until_all(&nodes, "holds the same entries", |n| {
        sorted(n) == sorted(&nodes[0])
    });
    assert!(get(tokio_node, b"contended").is_some());

    // A std node leaves: the tokio nodes see it go, and the other way round.
    std_node.leave().unwrap();
    tokio_node.leave().unwrap();
    let rest = &nodes[2..];
    until_all(rest, "saw n0 and n1 leave", |n| {
        let members = n.members().unwrap();
        let left = |name: &str| {
            members
                .iter()
                .any(|m| m.name() == name && m.state() == gossip_core::MemberState::Left)
        };
        left("n0") && left("n1")
    });
    for node in &nodes {
        node.shutdown();
    }
}
