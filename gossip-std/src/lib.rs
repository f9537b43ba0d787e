//! Blocking-thread UDP adapter for [`gossip_core`]: one thread owns a node and a
//! `std::net::UdpSocket`. Not yet implemented; it arrives with its own issue. Until
//! then, drive a [`gossip_core::Node`] directly.

pub use gossip_core;
