//! Authenticated encryption of every datagram: a pure transform between the
//! node's plaintext datagrams and the wire, keyed by a [`Keyring`], with
//! replay protection. No IO, no clock.
//!
//! A sealed datagram is `"GE" | key id (4, LE) | nonce (24) | ciphertext |
//! tag (16)`: [`SEAL_OVERHEAD`] = 46 bytes more than the plaintext one it
//! carries, which the node reserves out of `max_packet_size`. The cipher is
//! XChaCha20-Poly1305; the cluster's label is its associated data, so a
//! datagram of another cluster (or with another key) fails authentication
//! before anything of it is decoded.
//!
//! The nonce is `session (12) | number (6, LE) | send time (6, LE)`: the
//! sender's session (12 bytes from its secret generator, new each time a
//! node starts), the number of the datagram in that session, and the
//! sender's wall-clock send time in milliseconds. Authenticated with the rest,
//! they let a receiver refuse replays ([`replay`]): each nonce is unique
//! without a random draw per datagram.

mod keyring;
mod replay;
mod sealer;

use alloc::vec::Vec;
use core::time::Duration;

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

pub use keyring::{KEY_LEN, Key, KeyError, KeyId, Keyring, KeyringError, MAX_KEYS};
pub use sealer::{SEAL_MAGIC, SEAL_OVERHEAD, SealError};
pub(crate) use sealer::{Sealer, is_sealed};

/// Longest cluster label.
pub const MAX_LABEL_LEN: usize = 64;

/// A 64-bit pseudo-random function of `input` under `key`: the first bytes
/// of XChaCha20's keystream with `input` as the nonce. Unpredictable without
/// the key, whatever outputs an observer collects.
pub(crate) fn keyed_hash(key: &[u8; 32], input: [u8; 24]) -> u64 {
    let cipher = XChaCha20Poly1305::new(key.into());
    let mut stream = [0u8; 8];
    // Encrypting zeros yields the keystream; the tag is not needed.
    let _tag = cipher
        .encrypt_in_place_detached(&XNonce::from(input), b"", &mut stream)
        .expect("eight bytes are within the cipher's limits");
    u64::from_le_bytes(stream)
}

/// Default [`Encryption::max_datagram_age`].
pub const DEFAULT_MAX_DATAGRAM_AGE: Duration = Duration::from_secs(120);

/// How a node encrypts: its keys, its cluster's label, the two switches of a
/// rolling upgrade from plaintext, and how old a datagram may be.
///
/// ```
/// use gossip_core::{Config, Encryption, Key, Keyring};
///
/// let key = Key::from_hex("5f1c0b8e2a7d4c6e9f3a1b0d8c7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e").unwrap();
/// let mut config = Config::lan();
/// config.encryption = Some(Encryption::new(Keyring::new(key)).with_label("prod-eu"));
/// assert!(config.validate().is_ok());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Encryption {
    /// The keys; the primary seals.
    pub keyring: Keyring,
    /// Authenticated with every datagram, never sent: members of clusters
    /// with other labels cannot read or forge each other's datagrams even
    /// with the same key. At most [`MAX_LABEL_LEN`] bytes.
    pub label: Vec<u8>,
    /// Seal outgoing datagrams (default). Off only during a rolling upgrade
    /// from plaintext, while some members cannot open them yet.
    pub encrypt_outgoing: bool,
    /// Accept plaintext datagrams too (default off). On only during a
    /// rolling upgrade; each kind of datagram accepted is counted.
    pub accept_plaintext: bool,
    /// A sealed datagram sent longer ago than this by its sender's wall
    /// clock (or this far ahead of this node's) is refused as a replay
    /// (default 2 minutes): what the replay windows forget is refused by
    /// age. Members' clocks must agree to well within it (adapters pass the
    /// system clock; see [`Node::set_wall_clock`](crate::Node::set_wall_clock)).
    pub max_datagram_age: Duration,
}

impl Encryption {
    /// Sealing with `keyring`, no label, plaintext refused.
    pub fn new(keyring: Keyring) -> Encryption {
        Encryption {
            keyring,
            label: Vec::new(),
            encrypt_outgoing: true,
            accept_plaintext: false,
            max_datagram_age: DEFAULT_MAX_DATAGRAM_AGE,
        }
    }

    /// With `max_datagram_age` (see the field).
    pub fn with_max_datagram_age(mut self, max_datagram_age: Duration) -> Encryption {
        self.max_datagram_age = max_datagram_age;
        self
    }

    /// With the cluster label `label`.
    pub fn with_label(mut self, label: impl AsRef<[u8]>) -> Encryption {
        self.label = label.as_ref().to_vec();
        self
    }

    /// For the steps of a rolling upgrade from plaintext: first every member
    /// accepts both and sends plaintext, then every member seals, then every
    /// member refuses plaintext.
    pub fn with_mode(mut self, encrypt_outgoing: bool, accept_plaintext: bool) -> Encryption {
        self.encrypt_outgoing = encrypt_outgoing;
        self.accept_plaintext = accept_plaintext;
        self
    }
}
