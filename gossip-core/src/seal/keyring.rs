//! Keys and the keyring: one primary key seals, every key opens.

use alloc::vec::Vec;
use core::fmt;

use rand_core::CryptoRng;

/// Bytes in a key.
pub const KEY_LEN: usize = 32;
/// Most keys a keyring holds: enough for a rotation or two in flight.
pub const MAX_KEYS: usize = 8;

/// A 256-bit secret key. Its `Debug` shows only its [`KeyId`].
#[derive(Clone, PartialEq, Eq)]
pub struct Key([u8; KEY_LEN]);

/// Names a key on the wire without revealing it: 32 bits of a pseudo-random
/// function of the key (its cipher's keystream at a fixed nonce), so that a
/// receiver picks the key to open a datagram with at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub u32);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

impl Key {
    /// A key of these bytes.
    pub const fn from_bytes(bytes: [u8; KEY_LEN]) -> Key {
        Key(bytes)
    }

    /// A key from 64 hexadecimal digits (surrounding whitespace ignored).
    ///
    /// ```
    /// use gossip_core::Key;
    /// let key = Key::from_hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f").unwrap();
    /// assert_eq!(Key::from_hex(&key.to_hex()), Ok(key));
    /// assert!(Key::from_hex("abc").is_err());
    /// ```
    pub fn from_hex(hex: &str) -> Result<Key, KeyError> {
        let hex = hex.trim().as_bytes();
        if hex.len() != 2 * KEY_LEN {
            return Err(KeyError::Length { digits: hex.len() });
        }
        let digit = |c: u8| match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            b'A'..=b'F' => Ok(c - b'A' + 10),
            _ => Err(KeyError::NotHex),
        };
        let mut bytes = [0u8; KEY_LEN];
        for (byte, pair) in bytes.iter_mut().zip(hex.chunks_exact(2)) {
            *byte = digit(pair[0])? << 4 | digit(pair[1])?;
        }
        Ok(Key(bytes))
    }

    /// The key as 64 lower-case hexadecimal digits (to store it in a file).
    pub fn to_hex(&self) -> alloc::string::String {
        use core::fmt::Write;
        let mut hex = alloc::string::String::with_capacity(2 * KEY_LEN);
        for byte in self.0 {
            let _ = write!(hex, "{byte:02x}");
        }
        hex
    }

    /// A new key from `rng` (seed it from the operating system's entropy).
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Key {
        let mut bytes = [0u8; KEY_LEN];
        rng.fill_bytes(&mut bytes);
        Key(bytes)
    }

    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// The key's id.
    pub fn id(&self) -> KeyId {
        KeyId(super::keyed_hash(&self.0, *b"gossip-core key id 00000") as u32)
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({})", self.id())
    }
}

/// Why text is not a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyError {
    /// Not 64 digits.
    Length {
        /// Digits found.
        digits: usize,
    },
    /// A character is not a hexadecimal digit.
    NotHex,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::Length { digits } => {
                write!(f, "a key is 64 hexadecimal digits, not {digits}")
            }
            KeyError::NotHex => {
                f.write_str("a key is 64 hexadecimal digits; found another character")
            }
        }
    }
}

impl core::error::Error for KeyError {}

/// The keys a node opens datagrams with; the first, the primary, also seals
/// them. To rotate without downtime: [`install`](Self::install) the new key
/// on every member, then [`use_key`](Self::use_key) it on every member, then
/// [`remove`](Self::remove) the old one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keyring {
    /// The primary first.
    keys: Vec<Key>,
}

impl Keyring {
    /// A keyring of one key.
    pub fn new(primary: Key) -> Keyring {
        Keyring {
            keys: alloc::vec![primary],
        }
    }

    /// A keyring of `primary` and `others` (installed after it).
    pub fn with_keys(
        primary: Key,
        others: impl IntoIterator<Item = Key>,
    ) -> Result<Keyring, KeyringError> {
        let mut keyring = Keyring::new(primary);
        for key in others {
            keyring.install(key)?;
        }
        Ok(keyring)
    }

    /// The key that seals.
    pub fn primary(&self) -> &Key {
        &self.keys[0]
    }

    /// Every key, the primary first.
    pub fn keys(&self) -> impl Iterator<Item = &Key> {
        self.keys.iter()
    }

    /// The key named `id`.
    pub fn get(&self, id: KeyId) -> Option<&Key> {
        self.keys.iter().find(|k| k.id() == id)
    }

    /// Adds `key` for opening (installing a key held already does nothing).
    pub fn install(&mut self, key: Key) -> Result<(), KeyringError> {
        if self.keys.contains(&key) {
            return Ok(());
        }
        let id = key.id();
        if self.get(id).is_some() {
            return Err(KeyringError::IdCollision(id));
        }
        if self.keys.len() == MAX_KEYS {
            return Err(KeyringError::Full { max: MAX_KEYS });
        }
        self.keys.push(key);
        Ok(())
    }

    /// Makes the installed key `id` the primary.
    pub fn use_key(&mut self, id: KeyId) -> Result<(), KeyringError> {
        let at = self.position(id)?;
        self.keys[..=at].rotate_right(1);
        Ok(())
    }

    /// Removes the key `id`; the primary cannot be removed.
    pub fn remove(&mut self, id: KeyId) -> Result<(), KeyringError> {
        match self.position(id)? {
            0 => Err(KeyringError::RemovingPrimary(id)),
            at => {
                self.keys.remove(at);
                Ok(())
            }
        }
    }

    fn position(&self, id: KeyId) -> Result<usize, KeyringError> {
        self.keys
            .iter()
            .position(|k| k.id() == id)
            .ok_or(KeyringError::UnknownKey(id))
    }
}

/// Why a keyring refused a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyringError {
    /// The keyring holds [`MAX_KEYS`] keys already.
    Full {
        /// The limit.
        max: usize,
    },
    /// No key with this id is installed.
    UnknownKey(KeyId),
    /// The primary key cannot be removed; make another primary first.
    RemovingPrimary(KeyId),
    /// Another installed key has the same id (one chance in 2³² per pair).
    IdCollision(KeyId),
    /// The node was started without encryption.
    NotEncrypted,
}

impl fmt::Display for KeyringError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyringError::Full { max } => write!(f, "the keyring holds {max} keys already"),
            KeyringError::UnknownKey(id) => write!(f, "no key {id} is installed"),
            KeyringError::RemovingPrimary(id) => {
                write!(f, "key {id} is the primary; make another primary first")
            }
            KeyringError::IdCollision(id) => write!(f, "another key has the id {id}"),
            KeyringError::NotEncrypted => f.write_str("the node was started without encryption"),
        }
    }
}

impl core::error::Error for KeyringError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> Key {
        Key::from_bytes([n; KEY_LEN])
    }

    #[test]
    fn a_rotation_installs_uses_then_removes() {
        let mut ring = Keyring::new(key(1));
        ring.install(key(2)).unwrap();
        ring.install(key(2)).unwrap();
        assert_eq!(ring.keys().count(), 2);
        assert_eq!(
            ring.remove(key(1).id()),
            Err(KeyringError::RemovingPrimary(key(1).id()))
        );
        ring.use_key(key(2).id()).unwrap();
        assert_eq!(ring.primary(), &key(2));
        ring.remove(key(1).id()).unwrap();
        assert_eq!(ring.keys().collect::<Vec<_>>(), [&key(2)]);
        assert_eq!(
            ring.use_key(key(1).id()),
            Err(KeyringError::UnknownKey(key(1).id()))
        );
    }

    #[test]
    fn a_keyring_is_bounded_and_ids_differ() {
        let mut ring = Keyring::new(key(0));
        for n in 1..MAX_KEYS as u8 {
            ring.install(key(n)).unwrap();
        }
        assert_eq!(
            ring.install(key(99)),
            Err(KeyringError::Full { max: MAX_KEYS })
        );
        let mut ids: Vec<KeyId> = ring.keys().map(Key::id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), MAX_KEYS);
    }

    #[test]
    fn a_key_never_prints_its_bytes() {
        let shown = alloc::format!("{:?}", key(0xab));
        assert!(
            !shown.contains("ab, ") && !shown.contains("abab"),
            "{shown}"
        );
        assert!(shown.starts_with("Key("));
    }
}
