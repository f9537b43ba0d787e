//! The hot path of failure detection: decode a ping, handle it, encode the ack.
//!
//! `cargo bench -p gossip-bench --bench hot_path`

// criterion's macros define public functions without docs.
#![allow(missing_docs)]

#[path = "../../gossip-core/tests/support/mod.rs"]
mod support;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gossip_core::wire::Message;
use support::{datagram, quiet_node};

fn ping_to_ack(c: &mut Criterion) {
    let (mut node, now) = quiet_node(1_000);
    let ping = datagram(&Message::Ping {
        seq: 7,
        target: "self",
    });
    let mut group = c.benchmark_group("hot_path");
    group.throughput(Throughput::Elements(1));
    group.bench_function("ping_to_ack", |b| {
        b.iter(|| {
            node.handle_message(now, 1, black_box(&ping)).unwrap();
            let ack = node.poll_transmit().unwrap();
            black_box(ack.payload.len());
        })
    });
    let ack = datagram(&Message::Ack { seq: 7 });
    group.bench_function("ack_in", |b| {
        b.iter(|| node.handle_message(now, 1, black_box(&ack)).unwrap())
    });
    group.finish();
}

/// A datagram of 60 newcomers at the 200,000-member cap, the table full of
/// live members: each is refused (this used to scan the table per name).
fn full_table(c: &mut Criterion) {
    let max = gossip_core::Config::lan().max_members as u32;
    let (mut node, now) = quiet_node(max - 1);
    let names: Vec<String> = (0..60).map(|i| format!("newcomer-{i}")).collect();
    let updates: Vec<_> = names
        .iter()
        .map(|name| {
            Message::Update(gossip_core::wire::Update {
                name,
                generation: 0,
                incarnation: 0,
                status: gossip_core::wire::Status::Alive {
                    addr: 7,
                    metadata: b"",
                },
            })
        })
        .collect();
    let mut buf = [0u8; 1400];
    let mut writer = gossip_core::wire::PacketWriter::new(&mut buf, 0);
    for update in &updates {
        writer.push(update).unwrap();
    }
    let len = writer.len();
    let datagram = buf[..len].to_vec();
    let mut group = c.benchmark_group("full_table");
    group.throughput(Throughput::Elements(1));
    group.bench_function("sixty_newcomers_refused", |b| {
        b.iter(|| {
            node.handle_message(now, 1, black_box(&datagram)).unwrap();
            while node.poll_event().is_some() {}
        })
    });
    group.finish();
}

/// A ping to a node holding 10,000 members, carrying the updates a ping
/// usually carries in a quiet cluster: eight members' alive records the node
/// already holds (found by name, compared, dropped), then the ack back.
fn ten_thousand_members(c: &mut Criterion) {
    let (mut node, now) = quiet_node(10_000);
    let names: Vec<String> = (1..=8).map(|i| format!("member-{}", i * 1_237)).collect();
    let mut buf = [0u8; 1400];
    let mut writer = gossip_core::wire::PacketWriter::new(&mut buf, 0);
    writer
        .push::<u32>(&Message::Ping {
            seq: 7,
            target: "self",
        })
        .unwrap();
    for (i, name) in names.iter().enumerate() {
        let update = Message::Update(gossip_core::wire::Update {
            name,
            generation: 0,
            incarnation: 0,
            status: gossip_core::wire::Status::Alive {
                addr: (i as u32 + 1) * 1_237,
                metadata: b"",
            },
        });
        writer.push(&update).unwrap();
    }
    let len = writer.len();
    let datagram = buf[..len].to_vec();
    let mut group = c.benchmark_group("ten_thousand_members");
    group.throughput(Throughput::Elements(1));
    group.bench_function("ping_with_eight_updates_to_ack", |b| {
        b.iter(|| {
            node.handle_message(now, 1, black_box(&datagram)).unwrap();
            let ack = node.poll_transmit().unwrap();
            black_box(ack.payload.len());
        })
    });
    group.finish();
}

criterion_group!(benches, ping_to_ack, full_table, ten_thousand_members);
criterion_main!(benches);
