//! What the gossip adapters share, so that [`gossip-tokio`] and
//! [`gossip-std`] differ only in how they wait: the [`Builder`] a node is
//! started with, the [`Command`]s a handle sends and their one-shot replies
//! (awaitable and blockable), the [`Clock`] that maps the monotonic clock to
//! the node's time, and the [`Driver`] that owns a [`gossip_core::Node`],
//! feeds it and drains it. It holds no protocol logic and does no IO: the
//! adapters own the socket and the waiting.
//!
//! An adapter's loop, in outline:
//!
//! ```text
//! loop {
//!     wait for: a datagram | a command | driver.deadline()
//!     driver.handle_datagram(..) (at most max_datagrams_per_turn) / handle_command(..)
//!     driver.handle_timeout()            // fires timers that are due, every turn
//!     driver.drain(send, deliver)        // every datagram out, every event to subscribers
//! }
//! ```
//!
//! [`gossip-tokio`]: https://docs.rs/gossip-tokio
//! [`gossip-std`]: https://docs.rs/gossip-std

mod clock;
mod command;
mod driver;
mod error;
mod options;
mod reply;

pub use clock::Clock;
pub use command::{Command, Entries, MemberInfo, SocketStats, Status};
pub use driver::{Driver, NodeRng, UdpNode};
pub use error::{CommandError, JoinError, LeaveError, StartError, Stopped};
pub use gossip_core;
pub use options::Builder;
pub use reply::{ReplyReceiver, ReplySender, reply_channel};
