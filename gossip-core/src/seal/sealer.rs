//! Sealing and opening datagrams with a keyring.

use alloc::vec::Vec;
use core::fmt;

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{Tag, XChaCha20Poly1305, XNonce};
use rand_core::Rng;

use super::{Encryption, KeyId, Keyring, KeyringError};

/// First bytes of a sealed datagram (a plaintext one starts `"GS"`).
pub const SEAL_MAGIC: [u8; 2] = *b"GE";
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// Magic, key id and nonce.
const HEADER_LEN: usize = SEAL_MAGIC.len() + 4 + NONCE_LEN;
/// Bytes a sealed datagram has beyond the plaintext one it carries.
pub const SEAL_OVERHEAD: usize = HEADER_LEN + TAG_LEN;

/// Why a datagram was not opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SealError {
    /// Tampered with, truncated, sealed with another cluster's label, or
    /// with another key of the same id.
    Unauthenticated,
    /// Sealed with a key this node does not hold.
    UnknownKey(KeyId),
    /// A plaintext datagram, and this node accepts only sealed ones.
    PlaintextRefused,
    /// A sealed datagram, and this node has no keys.
    NotEncrypted,
}

impl fmt::Display for SealError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SealError::Unauthenticated => f.write_str("datagram failed authentication"),
            SealError::UnknownKey(id) => write!(f, "datagram sealed with unknown key {id}"),
            SealError::PlaintextRefused => f.write_str("plaintext datagram refused"),
            SealError::NotEncrypted => f.write_str("sealed datagram, but encryption is off"),
        }
    }
}

impl core::error::Error for SealError {}

/// The keyring with a cipher ready for each key.
pub(crate) struct Sealer {
    keyring: Keyring,
    /// In the keyring's order: the primary first.
    ciphers: Vec<(KeyId, XChaCha20Poly1305)>,
    label: Vec<u8>,
    pub(crate) encrypt_outgoing: bool,
    pub(crate) accept_plaintext: bool,
}

impl Sealer {
    pub(crate) fn new(encryption: &Encryption) -> Sealer {
        let mut sealer = Sealer {
            keyring: encryption.keyring.clone(),
            ciphers: Vec::new(),
            label: encryption.label.clone(),
            encrypt_outgoing: encryption.encrypt_outgoing,
            accept_plaintext: encryption.accept_plaintext,
        };
        sealer.prepare();
        sealer
    }

    fn prepare(&mut self) {
        self.ciphers = self
            .keyring
            .keys()
            .map(|key| (key.id(), XChaCha20Poly1305::new(key.as_bytes().into())))
            .collect();
    }

    pub(crate) fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// Changes the keyring with `change`, if it allows.
    pub(crate) fn change(
        &mut self,
        change: impl FnOnce(&mut Keyring) -> Result<(), KeyringError>,
    ) -> Result<(), KeyringError> {
        change(&mut self.keyring)?;
        self.prepare();
        Ok(())
    }

    /// `plaintext` sealed with the primary key into `out` (cleared first).
    pub(crate) fn seal(&self, plaintext: &[u8], rng: &mut impl Rng, out: &mut Vec<u8>) {
        let (id, cipher) = &self.ciphers[0];
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        out.clear();
        out.extend_from_slice(&SEAL_MAGIC);
        out.extend_from_slice(&id.0.to_le_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        let tag = cipher
            .encrypt_in_place_detached(&XNonce::from(nonce), &self.label, &mut out[HEADER_LEN..])
            .expect("a datagram is within the cipher's limits");
        out.extend_from_slice(&tag);
    }

    /// Opens the sealed datagram `sealed` into `out` (cleared first): the
    /// plaintext datagram, authenticated.
    pub(crate) fn open(&self, sealed: &[u8], out: &mut Vec<u8>) -> Result<(), SealError> {
        if sealed.len() < SEAL_OVERHEAD || !is_sealed(sealed) {
            return Err(SealError::Unauthenticated);
        }
        let (header, rest) = sealed.split_at(HEADER_LEN);
        let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
        let id = KeyId(u32::from_le_bytes(
            header[2..6].try_into().expect("four bytes"),
        ));
        let nonce = XNonce::from_slice(&header[6..]);
        let (_, cipher) = self
            .ciphers
            .iter()
            .find(|(held, _)| *held == id)
            .ok_or(SealError::UnknownKey(id))?;
        out.clear();
        out.extend_from_slice(ciphertext);
        cipher
            .decrypt_in_place_detached(nonce, &self.label, out, Tag::from_slice(tag))
            .map_err(|_| {
                out.clear();
                SealError::Unauthenticated
            })
    }
}

/// True if `datagram` is sealed (rather than plaintext or garbage).
pub(crate) fn is_sealed(datagram: &[u8]) -> bool {
    datagram.starts_with(&SEAL_MAGIC)
}

#[cfg(test)]
mod tests {
    use rand_core::SeedableRng;
    use rand_xoshiro::Xoshiro256PlusPlus;

    use super::*;
    use crate::seal::Key;

    fn sealer(key: u8, label: &str) -> Sealer {
        let keyring = Keyring::new(Key::from_bytes([key; 32]));
        Sealer::new(&Encryption::new(keyring).with_label(label))
    }

    #[test]
    fn a_sealed_datagram_opens_with_the_same_key_and_label_only() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        let (mut sealed, mut opened) = (Vec::new(), Vec::new());
        let a = sealer(1, "prod");
        a.seal(b"GS\x01\x00hello", &mut rng, &mut sealed);
        assert_eq!(sealed.len(), 9 + SEAL_OVERHEAD);
        assert!(is_sealed(&sealed));
        a.open(&sealed, &mut opened).unwrap();
        assert_eq!(opened, b"GS\x01\x00hello");

        assert_eq!(
            sealer(1, "test").open(&sealed, &mut opened),
            Err(SealError::Unauthenticated),
            "another label"
        );
        let sealed_with = Key::from_bytes([1; 32]).id();
        assert_eq!(
            sealer(2, "prod").open(&sealed, &mut opened),
            Err(SealError::UnknownKey(sealed_with))
        );
        for at in [0, 7, 40, sealed.len() - 1] {
            let mut tampered = sealed.clone();
            tampered[at] ^= 1;
            assert!(a.open(&tampered, &mut opened).is_err(), "byte {at} flipped");
        }
        assert_eq!(
            a.open(&sealed[..20], &mut opened),
            Err(SealError::Unauthenticated)
        );
    }

    #[test]
    fn two_seals_of_one_datagram_differ() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        let (mut one, mut two) = (Vec::new(), Vec::new());
        let a = sealer(1, "");
        a.seal(b"same", &mut rng, &mut one);
        a.seal(b"same", &mut rng, &mut two);
        assert_ne!(one, two, "nonces repeat");
    }
}
