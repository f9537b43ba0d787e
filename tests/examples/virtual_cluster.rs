//! Six nodes in virtual time: they join, one crashes, one broadcasts, one
//! writes a key, one leaves, the crashed one restarts, the network splits (a
//! broadcast is sent and the key written on both sides) and heals. Prints what
//! node n0 sees, then every node's view.
//!
//! `cargo run --release -p gossip-sim --example virtual_cluster`
//!
//! The story is [`gossip_sim::demo::virtual_cluster`], so that the README
//! check (`tests/readme.rs`) runs the same code and quotes what it prints.

fn main() {
    print!("{}", gossip_sim::demo::virtual_cluster().output);
}
