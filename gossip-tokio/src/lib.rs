//! Tokio UDP adapter for [`gossip_core`]: one task owns a node, a socket and a
//! timer. Not yet implemented; it arrives with its own issue. Until then, drive a
//! [`gossip_core::Node`] directly.

pub use gossip_core;
