//! Sealing and opening datagrams with a keyring.

use alloc::vec::Vec;
use core::fmt;

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{Tag, XChaCha20Poly1305, XNonce};
use rand_core::CryptoRng;

use super::replay::{Origin, ReplayWindows, Session};
use super::{Encryption, KeyId, Keyring, KeyringError};
use crate::time::Instant;

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
#[non_exhaustive]
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
    /// Authentic, but accepted before (or older than its sender's replay
    /// window): a replay.
    Replayed,
    /// Authentic, but sent longer than `max_datagram_age` before this node's
    /// clock, or that far after it: a replay, or a clock far off.
    Stale,
    /// Authentic, from a sender this node has no room to remember: as many
    /// others sent within twice `max_datagram_age` as the member table holds.
    TooManySenders,
}

impl fmt::Display for SealError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SealError::Unauthenticated => f.write_str("datagram failed authentication"),
            SealError::UnknownKey(id) => write!(f, "datagram sealed with unknown key {id}"),
            SealError::PlaintextRefused => f.write_str("plaintext datagram refused"),
            SealError::NotEncrypted => f.write_str("sealed datagram, but encryption is off"),
            SealError::Replayed => f.write_str("sealed datagram replayed"),
            SealError::Stale => {
                f.write_str("sealed datagram sent outside max_datagram_age of this node's clock")
            }
            SealError::TooManySenders => f.write_str("sealed datagram from one sender too many"),
        }
    }
}

impl core::error::Error for SealError {}

/// Largest sequence number and send time a nonce carries (48 bits each).
const MAX_U48: u64 = (1 << 48) - 1;

/// The keyring with a cipher ready for each key, this node's sending
/// session, and every sender's replay window.
pub(crate) struct Sealer {
    keyring: Keyring,
    /// In the keyring's order: the primary first.
    ciphers: Vec<(KeyId, XChaCha20Poly1305)>,
    label: Vec<u8>,
    pub(crate) encrypt_outgoing: bool,
    pub(crate) accept_plaintext: bool,
    /// Names this node's datagrams in their nonces; drawn from the secret
    /// generator, so that nonces never repeat across nodes and restarts.
    session: Session,
    /// Number of the next datagram sealed in `session`.
    next_seq: u64,
    windows: ReplayWindows,
}

impl Sealer {
    /// A sealer for `encryption` remembering at most `senders` senders at
    /// once; its session and table keys are drawn from `secrets`.
    pub(crate) fn new<S: CryptoRng + ?Sized>(
        encryption: &Encryption,
        senders: usize,
        secrets: &mut S,
        now: Instant,
    ) -> Sealer {
        let mut session = [0; 12];
        secrets.fill_bytes(&mut session);
        let windows = ReplayWindows::new(
            encryption.max_datagram_age,
            senders,
            secrets.next_u64(),
            now,
        );
        let mut sealer = Sealer {
            keyring: encryption.keyring.clone(),
            ciphers: Vec::new(),
            label: encryption.label.clone(),
            encrypt_outgoing: encryption.encrypt_outgoing,
            accept_plaintext: encryption.accept_plaintext,
            session,
            next_seq: 0,
            windows,
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

    /// Senders whose replay windows are kept.
    pub(crate) fn senders(&self) -> usize {
        self.windows.len()
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

    /// `plaintext` sealed with the primary key into `out` (cleared first),
    /// stamped with this node's session, the next number and `sent_ms`
    /// (this node's wall clock, milliseconds since the Unix epoch).
    pub(crate) fn seal(&mut self, plaintext: &[u8], sent_ms: u64, out: &mut Vec<u8>) {
        if self.next_seq > MAX_U48 {
            // 2⁴⁸ datagrams: go on in the next session (still unique).
            for byte in &mut self.session {
                *byte = byte.wrapping_add(1);
                if *byte != 0 {
                    break;
                }
            }
            self.next_seq = 0;
        }
        let origin = Origin {
            session: self.session,
            seq: self.next_seq,
            sent_ms: sent_ms.min(MAX_U48),
        };
        self.next_seq += 1;
        let nonce = nonce_of(&origin);
        let (id, cipher) = &self.ciphers[0];
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
    /// plaintext datagram, authenticated, and where it says it comes from.
    /// Whether it is fresh is [`check`](Self::check)'s question.
    pub(crate) fn open(&self, sealed: &[u8], out: &mut Vec<u8>) -> Result<Origin, SealError> {
        if sealed.len() < SEAL_OVERHEAD || !is_sealed(sealed) {
            return Err(SealError::Unauthenticated);
        }
        let (header, rest) = sealed.split_at(HEADER_LEN);
        let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
        let mut id = [0; 4];
        id.copy_from_slice(&header[2..6]);
        let id = KeyId(u32::from_le_bytes(id));
        let mut nonce = [0; NONCE_LEN];
        nonce.copy_from_slice(&header[6..]);
        let (_, cipher) = self
            .ciphers
            .iter()
            .find(|(held, _)| *held == id)
            .ok_or(SealError::UnknownKey(id))?;
        out.clear();
        out.extend_from_slice(ciphertext);
        cipher
            .decrypt_in_place_detached(&XNonce::from(nonce), &self.label, out, Tag::from_slice(tag))
            .map_err(|_| {
                out.clear();
                SealError::Unauthenticated
            })?;
        Ok(origin_of(&nonce))
    }

    /// Forgets the replay windows that the age bound now covers.
    pub(crate) fn expire(&mut self, now: Instant) {
        self.windows.expire(now);
    }

    /// Whether an opened datagram from `origin` is fresh at `now_ms` on
    /// this node's wall clock. Changes nothing.
    pub(crate) fn check(&self, origin: &Origin, now_ms: u64) -> Result<(), SealError> {
        self.windows.check(origin, now_ms)
    }

    /// Notes that the datagram from `origin` was accepted at `now`.
    pub(crate) fn remember(&mut self, origin: &Origin, now: Instant) {
        self.windows.remember(origin, now);
    }
}

/// The nonce of a datagram from `origin`: session, number and send time,
/// unique for every datagram any node seals (a session is 96 random bits).
fn nonce_of(origin: &Origin) -> [u8; NONCE_LEN] {
    let mut nonce = [0; NONCE_LEN];
    nonce[..12].copy_from_slice(&origin.session);
    nonce[12..18].copy_from_slice(&origin.seq.to_le_bytes()[..6]);
    nonce[18..].copy_from_slice(&origin.sent_ms.to_le_bytes()[..6]);
    nonce
}

fn origin_of(nonce: &[u8; NONCE_LEN]) -> Origin {
    let u48 = |bytes: &[u8]| {
        let mut wide = [0; 8];
        wide[..6].copy_from_slice(bytes);
        u64::from_le_bytes(wide)
    };
    let mut session = [0; 12];
    session.copy_from_slice(&nonce[..12]);
    Origin {
        session,
        seq: u48(&nonce[12..18]),
        sent_ms: u48(&nonce[18..]),
    }
}

/// True if `datagram` is sealed (rather than plaintext or garbage).
pub(crate) fn is_sealed(datagram: &[u8]) -> bool {
    datagram.starts_with(&SEAL_MAGIC)
}

#[cfg(test)]
mod tests {
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    use super::*;
    use crate::seal::Key;

    fn sealer(key: u8, label: &str, secrets: u64) -> Sealer {
        let keyring = Keyring::new(Key::from_bytes([key; 32]));
        let encryption = Encryption::new(keyring).with_label(label);
        let mut secrets = ChaCha20Rng::seed_from_u64(secrets);
        Sealer::new(&encryption, 16, &mut secrets, Instant::ZERO)
    }

    #[test]
    fn a_sealed_datagram_opens_with_the_same_key_and_label_only() {
        let (mut sealed, mut opened) = (Vec::new(), Vec::new());
        let mut a = sealer(1, "prod", 1);
        a.seal(b"GS\x01\x00hello", 1_000, &mut sealed);
        assert_eq!(sealed.len(), 9 + SEAL_OVERHEAD);
        assert!(is_sealed(&sealed));
        let origin = a.open(&sealed, &mut opened).unwrap();
        assert_eq!(opened, b"GS\x01\x00hello");
        assert_eq!((origin.seq, origin.sent_ms), (0, 1_000));

        assert_eq!(
            sealer(1, "test", 2).open(&sealed, &mut opened),
            Err(SealError::Unauthenticated),
            "another label"
        );
        let sealed_with = Key::from_bytes([1; 32]).id();
        assert_eq!(
            sealer(2, "prod", 2).open(&sealed, &mut opened),
            Err(SealError::UnknownKey(sealed_with))
        );
        // Every byte is authenticated, the nonce's session, number and send
        // time included.
        for at in 0..sealed.len() {
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
    fn nonces_never_repeat_within_a_node_nor_across_nodes() {
        let (mut one, mut two) = (Vec::new(), Vec::new());
        let mut a = sealer(1, "", 1);
        a.seal(b"same", 5, &mut one);
        a.seal(b"same", 5, &mut two);
        assert_ne!(one[6..30], two[6..30], "a node's nonces repeat");
        let mut b = sealer(1, "", 2);
        b.seal(b"same", 5, &mut two);
        let mut a_again = sealer(1, "", 1);
        a_again.seal(b"same", 5, &mut one);
        assert_ne!(one[6..18], two[6..18], "two nodes share a session");
    }

    #[test]
    fn a_session_out_of_numbers_goes_on_in_the_next() {
        let mut a = sealer(1, "", 1);
        let (mut sealed, mut opened) = (Vec::new(), Vec::new());
        a.next_seq = MAX_U48;
        a.seal(b"x", 5, &mut sealed);
        let last = a.open(&sealed, &mut opened).unwrap();
        a.seal(b"x", 5, &mut sealed);
        let next = a.open(&sealed, &mut opened).unwrap();
        assert_eq!(last.seq, MAX_U48);
        assert_eq!(next.seq, 0);
        assert_ne!(last.session, next.session);
    }
}
