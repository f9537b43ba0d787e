//! The agent's parts that its tests and examples use too: a node on either
//! adapter (`gossip-tokio` or `gossip-std`) behind one blocking interface.

pub mod node;

pub use node::{Adapter, Node, Subscription};
