//! Blocking-thread UDP adapter for [`gossip_core`], for programs that do not
//! use async: one thread owns a [`gossip_core::Node`] and a
//! `std::net::UdpSocket`; a cheap [`Gossip`] handle sends it commands, blocks
//! for their answers, and subscribes to its events. No async runtime is
//! involved, and the adapter holds no protocol logic: the builder, the
//! commands and the drain of the node are shared with `gossip-tokio` through
//! [`gossip_driver`], and the two speak the same wire.
//!
//! ```no_run
//! use gossip_std::{Builder, Gossip};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let a = Gossip::start(Builder::new("a"))?;
//! let b = Gossip::start(Builder::new("b").seeds([a.advertise_addr()]))?;
//! let events = a.events();
//! b.broadcast(b"hello".to_vec())?;
//! b.set(b"leader".to_vec(), b"b".to_vec())?;
//! while let Ok(event) = events.recv() {
//!     println!("{event}");
//! }
//! # Ok(()) }
//! ```
//!
//! The loop (as str0m's README shows it): take every queued command, fire
//! the timers that are due, drain the node (send every datagram, publish
//! every event), then block on the socket with `set_read_timeout` until the
//! node's next deadline. A handle wakes the thread for a command with an
//! empty datagram from a socket of its own. Timers are checked after every
//! datagram, so one busy peer cannot starve probes (one datagram per turn:
//! [`Builder::max_datagrams_per_turn`] is met by construction, and
//! `SocketStats::turns_capped` stays 0). Socket errors are logged
//! and counted ([`SocketStats`]), never fatal. Dropping the last handle, or
//! [`Gossip::shutdown`], stops the thread and joins it.

mod events;
mod handle;
mod thread;
mod waker;

pub use events::{Event, Events, RecvError};
pub use gossip_core;
pub use gossip_driver::{
    Builder, CommandError, Entries, JoinError, LeaveError, MemberInfo, SocketStats, StartError,
    Status, Stopped,
};
pub use handle::Gossip;
