//! Tokio UDP adapter for [`gossip_core`]: one task owns a [`gossip_core::Node`],
//! a `tokio::net::UdpSocket` and one timer; a cheap [`Gossip`] handle sends it
//! commands and subscribes to its events. It holds no protocol logic.
//!
//! ```no_run
//! use gossip_tokio::{Builder, Gossip};
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let a = Gossip::start(Builder::new("a")).await?;
//! let b = Gossip::start(Builder::new("b").seeds([a.advertise_addr()])).await?;
//! let mut events = a.events();
//! b.broadcast(b"hello".to_vec()).await?;
//! b.set(b"leader".to_vec(), b"b".to_vec()).await?;
//! while let Ok(event) = events.recv().await {
//!     println!("{event:?}");
//! }
//! # Ok(()) }
//! ```
//!
//! The loop: wait for a datagram, a command or the node's deadline; handle at
//! most [`Builder::max_datagrams_per_turn`] datagrams, then fire the timers
//! that are due (so one busy peer cannot starve probes); drain the node
//! (send every datagram, publish every event); reset the timer only if the
//! node's deadline moved. Socket errors are logged and counted
//! ([`SocketStats`]), never fatal.

mod handle;
mod task;

pub use gossip_core;
pub use gossip_driver::{
    Builder, CommandError, Entries, JoinError, LeaveError, MemberInfo, SocketStats, StartError,
    Status, Stopped,
};
pub use handle::Gossip;
pub use tokio::sync::broadcast::error::RecvError;

/// The events a node publishes, its members named by socket address.
pub type Event = gossip_core::Event<std::net::SocketAddr>;
