//! Decoding arbitrary datagrams never panics; whatever decodes survives a
//! round trip (see `gossip_sim::fuzzing::wire`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gossip_sim::fuzzing::wire(data));
