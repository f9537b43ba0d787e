//! The hot path of failure detection: decode a ping, handle it, encode the ack.
//!
//! `cargo bench -p gossip-core --bench hot_path`

// criterion's macros define public functions without docs.
#![allow(missing_docs)]

#[path = "../tests/support/mod.rs"]
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

criterion_group!(benches, ping_to_ack);
criterion_main!(benches);
