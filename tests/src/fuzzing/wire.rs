//! Target `wire`, and real datagrams to seed fuzz corpora with.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use gossip_core::wire::{self, HEADER_MAX_LEN, Message, PacketWriter};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::CLUSTER_ID;
use crate::{Network, NodeId, Simulation};

/// Target `wire`: decoding arbitrary bytes as a datagram never panics, and a
/// datagram whose every message decodes survives re-encoding: written again
/// with [`PacketWriter`], it decodes to the same messages (those of kinds
/// this version does not know are skipped, and not written again). Tried with both
/// address types the project uses (the simulator's `u32`, the adapters'
/// `SocketAddr`).
pub fn wire(data: &[u8]) {
    round_trip::<NodeId>(data);
    round_trip::<SocketAddr>(data);
}

fn round_trip<A>(data: &[u8])
where
    A: Serialize + DeserializeOwned + Debug + PartialEq,
{
    let Ok(packet) = wire::decode::<A>(data, CLUSTER_ID) else {
        return;
    };
    let Ok(messages) = packet.collect::<Result<Vec<Message<'_, A>>, _>>() else {
        return;
    };
    if messages.is_empty() {
        // Only kinds this version does not know: nothing to write again.
        return;
    }
    // Re-encoding is canonical, so never longer than what was decoded.
    let mut buf = vec![0u8; data.len() + HEADER_MAX_LEN];
    let mut writer = PacketWriter::new(&mut buf, CLUSTER_ID);
    for message in &messages {
        writer
            .push(message)
            .unwrap_or_else(|_| panic!("no room to re-encode {message:?}"));
    }
    let len = writer.len();
    let again = wire::decode::<A>(&buf[..len], CLUSTER_ID)
        .expect("a re-encoded header decodes")
        .collect::<Result<Vec<Message<'_, A>>, _>>()
        .expect("re-encoded messages decode");
    assert_eq!(again, messages, "a round trip changed the messages");
}

/// Real datagrams to seed the `wire` corpus: from a 6-node simulated
/// cluster that joins, broadcasts, writes and deletes keys, is partitioned
/// and heals, loses a member and sees one leave. At most `per_kind` of each
/// datagram's first message kind, the shortest first.
pub fn seed_datagrams(per_kind: usize) -> Vec<Vec<u8>> {
    let mut sim = Simulation::builder()
        .nodes(6)
        .network(Network::default().loss(0.05))
        .seed(11)
        .build();
    let seen: Rc<RefCell<BTreeMap<String, Vec<Vec<u8>>>>> = Rc::default();
    let tap = Rc::clone(&seen);
    sim.set_tap(Box::new(move |_, _, _, bytes, _| {
        let Ok(mut packet) = wire::decode::<NodeId>(bytes, CLUSTER_ID) else {
            return;
        };
        let Some(Ok(first)) = packet.next() else {
            return;
        };
        let kind = format!("{:?}", first.kind());
        let mut seen = tap.borrow_mut();
        let kept = seen.entry(kind).or_default();
        if kept.len() < 4 * per_kind && !kept.iter().any(|k| k == bytes) {
            kept.push(bytes.to_vec());
        }
    }));
    sim.join_all_through(0);
    sim.run_for(Duration::from_secs(5));
    for (i, key) in [b"a", b"b", b"c"].iter().enumerate() {
        sim.write(i as NodeId, *key, Some(b"value"));
    }
    sim.broadcast(2, b"hello");
    sim.run_for(Duration::from_secs(5));
    sim.partition(&[&[0, 1, 2]]);
    sim.write(0, b"a", Some(b"left side"));
    sim.write(4, b"a", Some(b"right side"));
    sim.write(5, b"b", None);
    sim.run_for(Duration::from_secs(20));
    sim.heal();
    sim.apply(crate::Action::Crash(3));
    sim.run_for(Duration::from_secs(30));
    sim.apply(crate::Action::Leave(1));
    sim.run_for(Duration::from_secs(10));
    drop(sim);
    let seen = Rc::try_unwrap(seen).expect("the tap is gone").into_inner();
    seen.into_values()
        .flat_map(|mut kept| {
            kept.sort_by_key(Vec::len);
            kept.truncate(per_kind);
            kept
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_datagrams_cover_the_message_kinds_and_round_trip() {
        let seeds = seed_datagrams(2);
        let kinds: std::collections::BTreeSet<String> = seeds
            .iter()
            .map(|d| {
                let first = wire::decode::<NodeId>(d, CLUSTER_ID).unwrap().next();
                format!("{:?}", first.unwrap().unwrap().kind())
            })
            .collect();
        assert!(kinds.len() >= 10, "only {kinds:?}");
        seeds.iter().for_each(|d| wire(d));
    }
}
