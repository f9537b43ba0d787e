//! Sealing: opening datagrams that come sealed, sealing those that go out,
//! and the commands that change the keys or the mode.

use alloc::sync::Arc;
use alloc::vec::Vec;

use rand_core::Rng;

use super::Node;
use crate::config::Config;
use crate::error::MessageError;
use crate::identity::Address;
use crate::seal::{self, Encryption, Key, KeyId, Keyring, KeyringError, SealError, Sealer};
use crate::stats::Stats;

impl<A: Address, R: Rng> Node<A, R> {
    /// Opens a sealed datagram, or takes a plaintext one, as the
    /// encryption mode says; then hands the plaintext to the ingress.
    pub(super) fn accept(&mut self, from: A, datagram: &[u8]) -> Result<(), MessageError> {
        let max = self.config.max_packet_size;
        if datagram.len() > max {
            return Err(MessageError::Oversized {
                len: datagram.len(),
                max,
            });
        }
        let sealed = seal::is_sealed(datagram);
        if let Some(sealer) = self.sealer.as_mut().filter(|_| sealed) {
            sealer.expire(self.now);
        }
        match &self.sealer {
            None if sealed => Err(MessageError::Seal(SealError::NotEncrypted)),
            None => self.accept_plaintext(from, datagram),
            Some(sealer) if sealed => {
                // Opened into a buffer of the node's own, lent out meanwhile.
                let mut opened = core::mem::take(&mut self.sealed);
                let wall_ms = self.wall.millis(self.now);
                let origin = sealer
                    .open(datagram, &mut opened)
                    .and_then(|origin| sealer.check(&origin, wall_ms).map(|()| origin));
                let result = match origin {
                    Ok(origin) => {
                        self.stats.seal.datagrams_opened += 1;
                        let accepted = self.accept_plaintext(from, &opened);
                        if accepted.is_ok() {
                            // Only a datagram taken counts as seen: one that
                            // failed to decode changed nothing.
                            if let Some(sealer) = self.sealer.as_mut() {
                                sealer.remember(&origin, self.now);
                            }
                        }
                        accepted
                    }
                    Err(error) => Err(MessageError::Seal(error)),
                };
                self.sealed = opened;
                result
            }
            Some(sealer) if sealer.accept_plaintext => {
                self.stats.seal.plaintext_accepted += 1;
                self.accept_plaintext(from, datagram)
            }
            Some(_) => Err(MessageError::Seal(SealError::PlaintextRefused)),
        }
    }

    /// The keys datagrams are sealed and opened with; `None` without
    /// encryption.
    pub fn keyring(&self) -> Option<&Keyring> {
        self.sealer.as_ref().map(Sealer::keyring)
    }

    /// Installs `key` for opening datagrams; the first step of a rotation
    /// (see [`Keyring`]).
    pub fn install_key(&mut self, key: Key) -> Result<(), KeyringError> {
        self.change_keyring(|keyring| keyring.install(key))
    }

    /// Seals with the installed key `id` from now on.
    pub fn use_key(&mut self, id: KeyId) -> Result<(), KeyringError> {
        self.change_keyring(|keyring| keyring.use_key(id))
    }

    /// Removes the key `id` (not the primary).
    pub fn remove_key(&mut self, id: KeyId) -> Result<(), KeyringError> {
        self.change_keyring(|keyring| keyring.remove(id))
    }

    /// Switches sealing of outgoing datagrams and acceptance of plaintext
    /// ones, for the steps of a rolling upgrade (see
    /// [`Encryption::with_mode`](crate::Encryption::with_mode)).
    pub fn set_encryption_mode(
        &mut self,
        encrypt_outgoing: bool,
        accept_plaintext: bool,
    ) -> Result<(), KeyringError> {
        let sealer = self.sealer.as_mut().ok_or(KeyringError::NotEncrypted)?;
        sealer.encrypt_outgoing = encrypt_outgoing;
        sealer.accept_plaintext = accept_plaintext;
        self.encryption_changed();
        Ok(())
    }

    fn change_keyring(
        &mut self,
        change: impl FnOnce(&mut Keyring) -> Result<(), KeyringError>,
    ) -> Result<(), KeyringError> {
        self.sealer
            .as_mut()
            .ok_or(KeyringError::NotEncrypted)?
            .change(change)?;
        self.encryption_changed();
        Ok(())
    }

    /// Writes the sealer's keys and mode into the configuration, and hands
    /// the new configuration to every part.
    fn encryption_changed(&mut self) {
        let (Some(sealer), Some(encryption)) = (&self.sealer, &self.config.encryption) else {
            return;
        };
        let mut config = Config::clone(&self.config);
        config.encryption = Some(Encryption {
            keyring: sealer.keyring().clone(),
            encrypt_outgoing: sealer.encrypt_outgoing,
            accept_plaintext: sealer.accept_plaintext,
            ..encryption.clone()
        });
        self.config = Arc::new(config);
        self.membership.set_config(Arc::clone(&self.config));
        self.broadcasts.set_config(Arc::clone(&self.config));
        self.replica.set_config(Arc::clone(&self.config));
    }
}

/// The datagram as it goes on the wire: `plaintext` sealed into `sealed`
/// when the sealer encrypts outgoing datagrams, else as it is.
pub(super) fn seal_outgoing<'a>(
    sealer: Option<&mut Sealer>,
    plaintext: &'a [u8],
    wall_ms: u64,
    sealed: &'a mut Vec<u8>,
    stats: &mut Stats,
) -> &'a [u8] {
    match sealer {
        Some(sealer) if sealer.encrypt_outgoing => {
            sealer.seal(plaintext, wall_ms, sealed);
            stats.seal.datagrams_sealed += 1;
            &sealed[..]
        }
        _ => plaintext,
    }
}
