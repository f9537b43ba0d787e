//! A small simulated cluster under arbitrary faults converges once they
//! stop (see `gossip_sim::fuzzing::cluster`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gossip_sim::fuzzing::cluster(data));
