//! Golden fixtures: the bytes of every message kind, written out by hand
//! once and asserted since. A test here fails on any change to the bytes; a
//! change made on purpose is a new protocol version (see the module docs)
//! and new fixtures.

use alloc::string::String;
use alloc::vec::Vec;

use super::*;
use crate::DecodeError;

/// Every kind of message, with field values that exercise each encoding
/// (multi-byte varints, negative numbers, empty and non-empty byte strings),
/// and its bytes in hex, tag first.
fn fixtures() -> Vec<(Message<'static, u32>, &'static str)> {
    let update = |status| {
        Message::Update(Update {
            name: "node-1",
            generation: 3,
            incarnation: 300,
            status,
        })
    };
    alloc::vec![
        (
            Message::Ping {
                seq: 1_000,
                target: "node-2",
            },
            "0109e807066e6f64652d32",
        ),
        (
            Message::IndirectPing {
                seq: 7,
                target: "node-2",
                target_addr: 70_000,
                nack: true,
            },
            "020c07066e6f64652d3201f0a204",
        ),
        (Message::Ack { seq: 128 }, "03028001"),
        (Message::Nack { seq: 0 }, "040100"),
        (
            update(Status::Alive {
                addr: 5,
                metadata: b"dc=1",
            }),
            "0510066e6f64652d3103ac02050464633d31",
        ),
        (
            update(Status::Suspect { by: "node-3" }),
            "0611066e6f64652d3103ac02066e6f64652d33"
        ),
        (update(Status::Failed), "070a066e6f64652d3103ac02"),
        (update(Status::Left), "080a066e6f64652d3103ac02"),
        (
            Message::PushPull {
                session: 9,
                digest: 0x0102_0304_0506_0708,
                join: true,
                cookie: 0xffff_0000_0000_0001,
                padding: &[0; 3],
            },
            "091609080706050403020101010000000000ffff03000000",
        ),
        (
            Message::State {
                session: 9,
                reply: true,
                fresh: false,
                chunk: 2,
                chunks: 300,
            },
            "0a0609010002ac02",
        ),
        (
            Message::StateResend {
                session: 9,
                missing: &[0b101],
            },
            "0b03090105",
        ),
        (
            Message::Broadcast {
                id: 42,
                origin: "node-1",
                age_ms: 1_500,
                feedback: true,
                payload: b"hi",
            },
            "0c152a00000000000000066e6f64652d31dc0b01026869",
        ),
        (
            Message::Pull {
                salt: 5,
                filter: &[0xaa, 0x55],
            },
            "0d040502aa55",
        ),
        (
            Message::Feedback {
                known: &[1, 0, 0, 0, 0, 0, 0, 0],
                new: &[],
            },
            "0e0a08010000000000000000",
        ),
        (
            Message::KeyEntry {
                key: b"k",
                entry: EntryRecord {
                    version: [(1, 2), (0x10, 1)].into_iter().collect(),
                    siblings: alloc::vec![
                        SiblingRecord {
                            replica: 1,
                            counter: 2,
                            millis: 1_000,
                            logical: 1,
                            origin: "a",
                            value: Some(b"v"),
                        },
                        SiblingRecord {
                            replica: 0x10,
                            counter: 1,
                            millis: 999,
                            logical: 0,
                            origin: "b",
                            value: None,
                        },
                    ],
                },
            },
            concat!(
                "0f36016b02010000000000000002100000000000000001020100000000000000",
                "02e807010161010176100000000000000001e70700016200"
            ),
        ),
        (
            Message::StateRoot {
                root: 0x8000_0000_0000_0000,
            },
            "10080000000000000080",
        ),
        (Message::StateRoot { root: 0 }, "1000"),
        (
            Message::BroadcastDigest {
                digest: 0x0102_0304_0506_0708,
            },
            "15080807060504030201",
        ),
        (Message::CoordinateWanted, "1600"),
        (
            Message::SyncHashes {
                depth: 2,
                level: 1,
                root: 1,
                hashes: &[0; SYNC_NODE_LEN],
            },
            concat!(
                "114f020101000000000000004400000000000000000000000000000000000000",
                "0000000000000000000000000000000000000000000000000000000000000000",
                "0000000000000000000000000000000000"
            ),
        ),
        (
            Message::SyncEntries {
                depth: 2,
                want: &[3, 0, 0, 0],
            },
            "1206020403000000",
        ),
        (
            Message::Cookie {
                session: 9,
                cookie: 0x0123_4567_89ab_cdef,
            },
            "130909efcdab8967452301",
        ),
        (
            Message::Coordinate(CoordinateRecord {
                vector: [0, 1, -1, 63, -64, 64, 1_000, -1_000],
                height: 50,
                adjustment: -2,
                error: 1_500,
            }),
            "140f0002017e7f8001d00fcf0f3203dc0b",
        ),
    ]
}

fn hex(bytes: &[u8]) -> String {
    use core::fmt::Write;
    let mut out = String::new();
    for byte in bytes {
        write!(out, "{byte:02x}").unwrap();
    }
    out
}

#[test]
fn every_message_kind_has_its_bytes_pinned() {
    let fixtures = fixtures();
    let mut kinds: Vec<MessageKind> = fixtures.iter().map(|(m, _)| m.kind()).collect();
    kinds.sort();
    kinds.dedup();
    let mut all = MessageKind::ALL.to_vec();
    all.sort();
    assert_eq!(kinds, all, "a kind without a fixture");
    let mut wrong = Vec::new();
    for (message, expected) in &fixtures {
        let bytes = encode_message(message);
        if hex(&bytes) != *expected {
            wrong.push(alloc::format!("{:?}: {}", message.kind(), hex(&bytes)));
        }
    }
    assert!(wrong.is_empty(), "bytes changed:\n{}", wrong.join("\n"));
}

#[test]
fn the_pinned_bytes_decode_to_their_messages() {
    for (message, expected) in fixtures() {
        let mut datagram = alloc::vec![b'G', b'S', 2, 2, 0];
        datagram.extend(unhex(expected));
        let decoded: Vec<_> = decode::<u32>(&datagram, 0).unwrap().collect();
        assert_eq!(decoded, [Ok(message)]);
    }
}

#[test]
fn a_whole_datagram_is_pinned() {
    let mut buf = [0u8; 64];
    let mut writer = PacketWriter::new(&mut buf, 300);
    writer.push::<u32>(&Message::Ack { seq: 1 }).unwrap();
    writer.push::<u32>(&Message::StateRoot { root: 1 }).unwrap();
    let len = writer.len();
    assert_eq!(
        hex(&buf[..len]),
        concat!(
            "4753",                 // magic "GS"
            "02",                   // written in version 2
            "02",                   // the sender reads up to version 2
            "ac02",                 // cluster id 300
            "030101",               // ack 1
            "10080100000000000000", // state root 1
        )
    );
}

#[test]
fn each_value_has_one_encoding_where_it_has_a_short_one() {
    // A zero root is the empty body, never eight zeros.
    let datagram = unhex("47530202001008000000000000000000");
    let decoded: Vec<_> = decode::<u32>(&datagram, 0).unwrap().collect();
    assert_eq!(decoded, [Err(DecodeError::Malformed)]);
}

/// Forged riders: a broadcast digest of 0 (holding nothing is said by
/// sending none), a digest of the wrong length, and a coordinate request
/// with a body are refused, not read.
#[test]
fn forged_digests_and_coordinate_requests_are_refused() {
    for message in [
        "15080000000000000000", // digest 0
        "1504deadbeef",         // digest of four bytes
        "160101",               // a request with a body
    ] {
        let datagram = unhex(&alloc::format!("4753020200{message}"));
        let decoded: Vec<_> = decode::<u32>(&datagram, 0).unwrap().collect();
        assert!(
            matches!(decoded.as_slice(), [Err(_)]),
            "{message}: {decoded:?}"
        );
    }
}

fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}
