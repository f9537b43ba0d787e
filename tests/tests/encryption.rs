//! Encrypted clusters in the simulator: every datagram sealed, outsiders (another
//! key, another label) shut out and counted, keys rotated and a plaintext
//! cluster upgraded to encryption without a member being declared failed.

mod common;

use std::time::Duration;

use gossip_core::{Config, Encryption, Key, Keyring, Stats};
use gossip_sim::{NodeId, Simulation};

const NODES: usize = 20;

fn key(n: u8) -> Key {
    Key::from_bytes([n; 32])
}

fn encrypted(keyring: Keyring, label: &str) -> Config {
    let mut config = Config::lan();
    config.encryption = Some(Encryption::new(keyring).with_label(label));
    config
}

fn cluster(config: Config, seed: u64) -> Simulation {
    common::formed_cluster(NODES, config, seed, Duration::from_secs(10))
}

fn stats(sim: &Simulation, id: NodeId) -> &Stats {
    sim.node(id).expect("running").stats()
}

/// Every running node holds `value` at `key`.
fn replicated(sim: &Simulation, key: &[u8], value: &[u8]) -> bool {
    sim.running()
        .all(|id| sim.node(id).unwrap().get(key) == Some(value))
}

#[test]
fn an_encrypted_cluster_works_and_outsiders_are_shut_out_and_counted() {
    let mut sim = cluster(encrypted(Keyring::new(key(1)), "prod"), 1);
    sim.write(5, b"leader", Some(b"n5"));
    sim.run_for(Duration::from_secs(10));
    assert!(replicated(&sim, b"leader", b"n5"));
    for id in 0..NODES as NodeId {
        let s = stats(&sim, id);
        assert_eq!(
            s.seal.datagrams_sealed, s.datagrams.packets_out,
            "n{id} sent plaintext"
        );
        assert!(s.seal.datagrams_opened > 0);
        assert_eq!(s.seal.plaintext_accepted, 0);
        assert_eq!(
            s.datagrams.rejected.total(),
            0,
            "n{id}: {:?}",
            s.datagrams.rejected
        );
    }

    // n18 comes back with another key, n19 with another cluster's label.
    sim.restart_with(18, encrypted(Keyring::new(key(2)), "prod"), &[0]);
    sim.restart_with(19, encrypted(Keyring::new(key(1)), "test"), &[0]);
    sim.run_for(Duration::from_secs(30));
    for outsider in [18, 19] {
        assert_eq!(
            sim.node(outsider).unwrap().live_members(),
            1,
            "n{outsider} got in"
        );
    }
    let insiders = 0..18;
    for id in insiders.clone() {
        let node = sim.node(id).unwrap();
        assert_eq!(
            node.live_members(),
            18,
            "n{id} still counts an outsider live"
        );
    }
    let rejected = |id| stats(&sim, id).datagrams.rejected.clone();
    let unknown_key: u64 = insiders.clone().map(|id| rejected(id).unknown_key).sum();
    let unauthenticated: u64 = insiders.map(|id| rejected(id).unauthenticated).sum();
    assert!(unknown_key > 0, "n18's datagrams were not counted");
    assert!(unauthenticated > 0, "n19's datagrams were not counted");
    // The outsiders learnt nothing: their replicas stay empty.
    for outsider in [18, 19] {
        assert_eq!(sim.node(outsider).unwrap().get(b"leader"), None);
    }
}

#[test]
fn keys_rotate_without_downtime() {
    let mut sim = cluster(encrypted(Keyring::new(key(1)), ""), 2);
    let everyone: Vec<NodeId> = sim.running().collect();
    // Install the new key everywhere, then make it primary everywhere, then
    // remove the old one everywhere, a member at a time.
    let new = key(2);
    let (old_id, new_id) = (key(1).id(), new.id());
    for &id in &everyone {
        sim.with_node(id, |node, _| node.install_key(new.clone()))
            .unwrap()
            .unwrap();
        sim.run_for(Duration::from_millis(200));
    }
    for &id in &everyone {
        sim.with_node(id, |node, _| node.use_key(new_id))
            .unwrap()
            .unwrap();
        sim.run_for(Duration::from_millis(200));
    }
    sim.write(3, b"after", Some(b"rotation"));
    for &id in &everyone {
        sim.with_node(id, |node, _| node.remove_key(old_id))
            .unwrap()
            .unwrap();
        sim.run_for(Duration::from_millis(200));
    }
    sim.run_for(Duration::from_secs(20));

    assert!(
        sim.metrics().false_positives().is_empty(),
        "a member was declared failed"
    );
    assert!(sim.converged_by_inspection());
    assert!(replicated(&sim, b"after", b"rotation"));
    for &id in &everyone {
        let node = sim.node(id).unwrap();
        let keys: Vec<_> = node.keyring().unwrap().keys().map(Key::id).collect();
        assert_eq!(keys, [new_id]);
        let rejected = &node.stats().datagrams.rejected;
        assert_eq!(
            rejected.unknown_key + rejected.unauthenticated,
            0,
            "n{id}: {rejected:?}"
        );
    }
}

#[test]
fn a_plaintext_cluster_upgrades_to_encryption_without_downtime() {
    let mut sim = cluster(Config::lan(), 3);
    let everyone: Vec<NodeId> = sim.running().collect();
    let keyring = Keyring::new(key(7));
    // 1. Each member restarts with the key, taking both and sending plaintext.
    let transition = encrypted(keyring, "prod");
    let mut accept_both = transition.clone();
    if let Some(e) = accept_both.encryption.take() {
        accept_both.encryption = Some(e.with_mode(false, true));
    }
    for &id in &everyone {
        sim.restart_with(id, accept_both.clone(), &[(id + 1) % NODES as NodeId]);
        sim.run_for(Duration::from_secs(2));
    }
    sim.run_for(Duration::from_secs(10));
    assert!(sim.converged_by_inspection(), "after step 1");
    // 2. Each member seals, still taking plaintext from those that do not yet.
    for &id in &everyone {
        sim.with_node(id, |node, _| node.set_encryption_mode(true, true))
            .unwrap()
            .unwrap();
        sim.run_for(Duration::from_millis(500));
    }
    let mixed: u64 = everyone
        .iter()
        .map(|&id| stats(&sim, id).seal.plaintext_accepted)
        .sum();
    assert!(mixed > 0, "no plaintext was taken while members switched");
    // 3. Each member refuses plaintext.
    for &id in &everyone {
        sim.with_node(id, |node, _| node.set_encryption_mode(true, false))
            .unwrap()
            .unwrap();
        sim.run_for(Duration::from_millis(500));
    }
    sim.run_for(Duration::from_secs(10));
    sim.write(4, b"sealed", Some(b"yes"));
    sim.run_for(Duration::from_secs(10));

    assert!(
        sim.metrics().false_positives().is_empty(),
        "a member was declared failed"
    );
    assert!(sim.converged_by_inspection(), "after step 3");
    assert!(replicated(&sim, b"sealed", b"yes"));
    for &id in &everyone {
        let s = stats(&sim, id);
        assert!(s.seal.datagrams_opened > 0);
        assert_eq!(
            s.datagrams.rejected.plaintext_refused, 0,
            "n{id} refused a member's plaintext"
        );
    }
    // A plaintext datagram now is refused and counted.
    let plaintext = sim_plaintext_ping();
    sim.inject(1, 0, plaintext);
    sim.run_for(Duration::from_millis(100));
    assert_eq!(stats(&sim, 0).datagrams.rejected.plaintext_refused, 1);
}

/// A well-formed plaintext datagram (a ping of n0) of the simulator's cluster.
fn sim_plaintext_ping() -> Vec<u8> {
    let mut buf = [0u8; 64];
    let mut writer = gossip_core::wire::PacketWriter::new(&mut buf, 0);
    writer
        .push::<NodeId>(&gossip_core::wire::Message::Ping {
            seq: 1,
            target: "n0",
        })
        .unwrap();
    let len = writer.len();
    buf[..len].to_vec()
}
