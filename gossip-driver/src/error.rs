//! The errors an adapter's handle returns.

use std::fmt;
use std::io;

/// The node's task or thread is no longer running: it was shut down, or every
/// handle was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stopped;

impl fmt::Display for Stopped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the gossip node has stopped")
    }
}

impl std::error::Error for Stopped {}

/// Why a node could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum StartError {
    /// Binding or configuring the socket failed.
    Io(io::Error),
    /// The name is not a valid member name.
    Identity(gossip_core::IdentityError),
    /// The configuration is inconsistent.
    Config(gossip_core::ConfigError),
    /// The metadata is too large.
    Metadata(gossip_core::MetadataError),
    /// The socket is bound to an unspecified address (0.0.0.0 or ::) and no
    /// advertise address says where other members reach this node.
    NoAdvertiseAddress,
    /// The operating system's random generator failed: the node's secrets
    /// cannot be drawn.
    Entropy(io::Error),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Io(e) => write!(f, "start: socket: {e}"),
            StartError::Identity(e) => write!(f, "start: {e}"),
            StartError::Config(e) => write!(f, "start: {e}"),
            StartError::Metadata(e) => write!(f, "start: {e}"),
            StartError::NoAdvertiseAddress => {
                f.write_str("start: bound to an unspecified address; give an advertise address")
            }
            StartError::Entropy(e) => write!(f, "start: the system's random generator: {e}"),
        }
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StartError::Io(e) | StartError::Entropy(e) => Some(e),
            StartError::Identity(e) => Some(e),
            StartError::Config(e) => Some(e),
            StartError::Metadata(e) => Some(e),
            StartError::NoAdvertiseAddress => None,
        }
    }
}

/// Why a command failed: the node refused it, or it no longer runs.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommandError<E> {
    /// The node refused the command.
    Refused(E),
    /// The node no longer runs.
    Stopped,
}

impl<E> CommandError<E> {
    /// A command's reply as a handle returns it: the node's refusal, or
    /// [`CommandError::Stopped`] if the node stopped before answering.
    pub fn from_reply<T>(reply: Result<Result<T, E>, Stopped>) -> Result<T, Self> {
        reply?.map_err(CommandError::Refused)
    }
}

impl<E> From<Stopped> for CommandError<E> {
    fn from(_: Stopped) -> Self {
        CommandError::Stopped
    }
}

impl<E: fmt::Display> fmt::Display for CommandError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::Refused(e) => e.fmt(f),
            CommandError::Stopped => Stopped.fmt(f),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for CommandError<E> {}

/// Why joining failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum JoinError {
    /// The node refused (no seeds, or it has left).
    Refused(gossip_core::JoinError),
    /// No seed answered within the join attempts.
    Unanswered {
        /// Attempts made.
        attempts: u32,
    },
    /// The node no longer runs.
    Stopped,
}

impl From<Stopped> for JoinError {
    fn from(_: Stopped) -> Self {
        JoinError::Stopped
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Refused(e) => e.fmt(f),
            JoinError::Unanswered { attempts } => {
                write!(f, "join: no seed answered in {attempts} attempts")
            }
            JoinError::Stopped => Stopped.fmt(f),
        }
    }
}

impl std::error::Error for JoinError {}

/// Why a graceful leave failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LeaveError {
    /// The node refused (it has already left).
    Refused(gossip_core::LeaveError),
    /// The departure was sent, but not yet gossiped its full number of times
    /// when the leave timeout passed.
    TimedOut,
    /// The node no longer runs.
    Stopped,
}

impl From<Stopped> for LeaveError {
    fn from(_: Stopped) -> Self {
        LeaveError::Stopped
    }
}

impl fmt::Display for LeaveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LeaveError::Refused(e) => e.fmt(f),
            LeaveError::TimedOut => f.write_str("leave: timed out spreading the departure"),
            LeaveError::Stopped => Stopped.fmt(f),
        }
    }
}

impl std::error::Error for LeaveError {}
