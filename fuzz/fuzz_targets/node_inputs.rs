//! One node under arbitrary interleavings of datagrams, timeouts and
//! commands keeps every invariant (see `gossip_sim::fuzzing::node_inputs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gossip_sim::fuzzing::node_inputs(data));
