//! Typed errors, one enum per operation that can fail.

use core::fmt;
use core::time::Duration;

/// Why a [`Config`](crate::Config) was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A duration that must be positive is zero.
    ZeroDuration {
        /// The field.
        field: &'static str,
    },
    /// The probe timeout must leave room for indirect probes within the interval.
    ProbeTimeoutNotBelowInterval {
        /// `probe_timeout`.
        timeout: Duration,
        /// `probe_interval`.
        interval: Duration,
    },
    /// A number is outside its accepted range.
    OutOfRange {
        /// The field.
        field: &'static str,
        /// Its value.
        value: u64,
        /// Smallest accepted value.
        min: u64,
        /// Largest accepted value.
        max: u64,
    },
    /// Two fields contradict each other.
    Inconsistent {
        /// The field at fault.
        field: &'static str,
        /// What it must satisfy.
        reason: &'static str,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::ZeroDuration { field } => write!(f, "config: {field} must be positive"),
            ConfigError::ProbeTimeoutNotBelowInterval { timeout, interval } => write!(
                f,
                "config: probe_timeout ({timeout:?}) must be shorter than probe_interval ({interval:?})"
            ),
            ConfigError::OutOfRange {
                field,
                value,
                min,
                max,
            } => write!(f, "config: {field} = {value} is outside {min}..={max}"),
            ConfigError::Inconsistent { field, reason } => write!(f, "config: {field} {reason}"),
        }
    }
}

impl core::error::Error for ConfigError {}

/// Why a node name was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdentityError {
    /// Names must not be empty.
    EmptyName,
    /// The name is longer than [`MAX_NAME_LEN`](crate::MAX_NAME_LEN).
    NameTooLong {
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
}

impl fmt::Display for IdentityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdentityError::EmptyName => f.write_str("node name is empty"),
            IdentityError::NameTooLong { len, max } => {
                write!(f, "node name is {len} bytes, the limit is {max}")
            }
        }
    }
}

impl core::error::Error for IdentityError {}

/// Why a datagram could not be decoded. Stateless: the same bytes always give the
/// same error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DecodeError {
    /// Shorter than a header.
    Truncated,
    /// Does not start with the protocol's magic bytes: not one of ours.
    BadMagic,
    /// A protocol version this node does not speak.
    UnsupportedVersion {
        /// The version in the header.
        found: u8,
    },
    /// From a cluster with another id.
    WrongCluster {
        /// The cluster id in the header.
        found: u32,
    },
    /// A message is cut short, has an unknown tag or an invalid field.
    Malformed,
    /// A node name is empty or longer than [`MAX_NAME_LEN`](crate::MAX_NAME_LEN).
    InvalidName,
    /// No message after the header.
    Empty,
    /// More messages than a datagram may carry.
    TooManyMessages,
    /// A message that must come first in a packet appears later.
    MisplacedMessage,
    /// A number is outside what the protocol allows: a state transfer of
    /// more than 2,048 chunks, a
    /// chunk numbered past its transfer's end, a resend request for chunks
    /// no transfer has.
    OutOfRange,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated => f.write_str("datagram shorter than a header"),
            DecodeError::BadMagic => f.write_str("not a gossip datagram (bad magic)"),
            DecodeError::UnsupportedVersion { found } => {
                write!(f, "unsupported protocol version {found}")
            }
            DecodeError::WrongCluster { found } => write!(f, "datagram of cluster {found}"),
            DecodeError::Malformed => f.write_str("malformed message"),
            DecodeError::InvalidName => f.write_str("invalid node name"),
            DecodeError::Empty => f.write_str("datagram carries no message"),
            DecodeError::TooManyMessages => f.write_str("too many messages in one datagram"),
            DecodeError::MisplacedMessage => f.write_str("message out of place in a datagram"),
            DecodeError::OutOfRange => f.write_str("a number outside what the protocol allows"),
        }
    }
}

impl core::error::Error for DecodeError {}

/// Why [`Node::handle_message`](crate::Node::handle_message) rejected a datagram.
/// A rejected datagram changes nothing but a counter in [`Stats`](crate::Stats).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MessageError {
    /// Larger than `max_packet_size`.
    Oversized {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The bytes do not decode.
    Decode(DecodeError),
    /// An alive announcement carries more metadata than `max_metadata_size`.
    MetadataTooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A broadcast's payload is larger than `max_broadcast_size`.
    BroadcastTooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A key of the replicated store is longer than `max_key_size`, or one of
    /// its values longer than `max_value_size`.
    EntryTooLarge {
        /// The longest key or value.
        len: usize,
        /// The limit it exceeds.
        max: usize,
    },
    /// Not opened: failed authentication, an unknown key, or a plaintext or
    /// sealed datagram this node does not take. Nothing of it was decoded.
    Seal(crate::seal::SealError),
}

impl fmt::Display for MessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MessageError::Oversized { len, max } => {
                write!(f, "datagram of {len} bytes exceeds the limit of {max}")
            }
            MessageError::Decode(e) => fmt::Display::fmt(e, f),
            MessageError::MetadataTooLarge { len, max } => {
                write!(f, "metadata of {len} bytes exceeds the limit of {max}")
            }
            MessageError::BroadcastTooLarge { len, max } => {
                write!(f, "broadcast of {len} bytes exceeds the limit of {max}")
            }
            MessageError::EntryTooLarge { len, max } => {
                write!(f, "key or value of {len} bytes exceeds the limit of {max}")
            }
            MessageError::Seal(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl core::error::Error for MessageError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            MessageError::Decode(e) => Some(e),
            MessageError::Seal(e) => Some(e),
            _ => None,
        }
    }
}

impl From<DecodeError> for MessageError {
    fn from(e: DecodeError) -> Self {
        MessageError::Decode(e)
    }
}

/// Why [`Node::join`](crate::Node::join) refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum JoinError {
    /// The seed list is empty.
    NoSeeds,
    /// The node has left; create a new node (with a larger generation) to rejoin.
    Left,
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::NoSeeds => f.write_str("join: no seed addresses given"),
            JoinError::Left => f.write_str("join: the node has left the cluster"),
        }
    }
}

impl core::error::Error for JoinError {}

/// Why [`Node::leave`](crate::Node::leave) refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LeaveError {
    /// The node has already left.
    AlreadyLeft,
}

impl fmt::Display for LeaveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LeaveError::AlreadyLeft => f.write_str("leave: the node has already left"),
        }
    }
}

impl core::error::Error for LeaveError {}

/// Why [`Node::set_metadata`](crate::Node::set_metadata) refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetadataError {
    /// Larger than `max_metadata_size`.
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The node has left.
    Left,
}

impl fmt::Display for MetadataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetadataError::TooLarge { len, max } => {
                write!(f, "metadata of {len} bytes exceeds the limit of {max}")
            }
            MetadataError::Left => f.write_str("metadata: the node has left the cluster"),
        }
    }
}

impl core::error::Error for MetadataError {}

/// Why [`Node::broadcast`](crate::Node::broadcast) refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BroadcastError {
    /// The payload is larger than `max_broadcast_size` (a broadcast travels in
    /// one datagram).
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The node has left.
    Left,
}

impl fmt::Display for BroadcastError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BroadcastError::TooLarge { len, max } => {
                write!(f, "broadcast of {len} bytes exceeds the limit of {max}")
            }
            BroadcastError::Left => f.write_str("broadcast: the node has left the cluster"),
        }
    }
}

impl core::error::Error for BroadcastError {}

/// Why a write to the replicated store ([`Node::set`](crate::Node::set),
/// [`Node::delete`](crate::Node::delete)) was refused. A refused write changes
/// nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StateError {
    /// The key is longer than `max_key_size`.
    KeyTooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The value is longer than `max_value_size`. Values are not split: an
    /// entry travels in one datagram. Keep large data elsewhere and store a
    /// reference to it.
    ValueTooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Key, value and version together would not fit one datagram (the
    /// version names every member that wrote the key, up to 32).
    EntryTooLarge {
        /// The encoded entry's length.
        len: usize,
        /// What a datagram has room for.
        max: usize,
    },
    /// `max_keys` keys (deleted ones included, until their tombstones are
    /// collected) are held; this write would add one.
    Full {
        /// The limit.
        max: usize,
    },
    /// The node has left.
    Left,
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateError::KeyTooLarge { len, max } => {
                write!(f, "key of {len} bytes exceeds the limit of {max}")
            }
            StateError::ValueTooLarge { len, max } => {
                write!(f, "value of {len} bytes exceeds the limit of {max}")
            }
            StateError::EntryTooLarge { len, max } => write!(
                f,
                "entry of {len} bytes (key, value and version) exceeds the {max} a datagram holds"
            ),
            StateError::Full { max } => write!(f, "the store holds its limit of {max} keys"),
            StateError::Left => f.write_str("state: the node has left the cluster"),
        }
    }
}

impl core::error::Error for StateError {}
