//! The bodies of the fuzz targets in `fuzz/` (run there with cargo-fuzz on
//! nightly), kept here so that their corpora replay on stable as ordinary
//! tests (`tests/fuzz_corpora.rs`), with what their seed corpora start from.
//!
//! Each target takes the fuzzer's raw bytes and panics on a broken invariant:
//!
//! - [`wire`]: decoding never panics; what decodes survives a round trip.
//! - [`node_inputs`]: one node fed an arbitrary interleaving of datagrams
//!   (random bytes and well-formed messages with random fields), timeouts at
//!   monotone times and commands keeps every invariant after every step, and
//!   the same inputs give the same outputs.
//! - [`cluster`]: a small simulated cluster under arbitrary faults converges
//!   once the faults stop.

mod cluster;
mod node_inputs;
mod wire;

pub use cluster::cluster;
pub use node_inputs::{Input, check_node_inputs, draw_inputs, node_inputs};
pub use wire::{seed_datagrams, wire};

/// The cluster id every fuzzed datagram is decoded with (the simulator's).
pub const CLUSTER_ID: u32 = 0;
