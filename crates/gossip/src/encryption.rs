//! Encryption around the socket: every datagram sealed with the keyring's primary key and
//! opened with any installed key (see [`leviathan_gossip_keyring`] for the format), and the
//! phases of an upgrade from a plaintext cluster.
//!
//! | phase | `encrypt_outgoing` | `accept_plaintext` | sends | accepts |
//! |---|---|---|---|---|
//! | no keyring | — | — | plaintext | plaintext |
//! | 1: keys installed everywhere | false | true | plaintext | both |
//! | 2: encrypting | true | true | sealed | both |
//! | 3: required (the default with a keyring) | true | false | sealed | sealed only |
//!
//! Every node moves to the next phase only once every node is in the current one, so at
//! each step everyone reads what everyone sends. Datagrams that fail authentication, and
//! plaintext ones a node does not accept, are dropped and counted before any parsing.
//!
//! Every datagram is sealed with the wall clock and the cluster id in its associated data,
//! and an opened one goes through a [`ReplayWindow`] before the core sees it: a replay of a
//! datagram accepted within the window (30 s), or one sealed more than the window from
//! this node's clock, is dropped and counted (`dropped_replayed`, `dropped_stale`).

use std::borrow::Cow;
use std::sync::atomic::Ordering;

use leviathan_gossip_keyring::{
    Envelope, Fingerprint, KeyRef, Keyring, KeyringError, ReplayWindow, SecretKey, is_sealed,
};
use tracing::{debug, info, trace};

use crate::config::Config;
use crate::error::StartError;
use crate::transport::TransportCounters;
use crate::wall_clock::unix_millis_now;

/// A node's keyring and phase, changed at runtime through [`crate::Gossip`].
#[derive(Debug)]
pub(crate) struct Encryption {
    keyring: Option<Keyring>,
    encrypt_outgoing: bool,
    accept_plaintext: bool,
    /// Authenticated with every sealed datagram, never sent: a datagram of another cluster
    /// does not open here even under a shared key.
    cluster_id: String,
    /// The sealed datagrams accepted lately, to refuse replays and stale ones.
    replay: ReplayWindow,
}

/// The keyring and phase as [`crate::Gossip::encryption`] reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptionStatus {
    /// Installed keys by fingerprint, the primary (which seals) first.
    pub keys: Vec<Fingerprint>,
    /// Whether datagrams are sent sealed.
    pub encrypt_outgoing: bool,
    /// Whether plaintext datagrams are accepted.
    pub accept_plaintext: bool,
}

impl Encryption {
    /// Bytes sealing adds to a packet: a received datagram may be this much longer than
    /// `max_packet_size`.
    pub(crate) const OVERHEAD: usize = leviathan_gossip_keyring::OVERHEAD;

    /// The keyring and phase `config` asks for: the keyring given, or read from
    /// `keyring_file`, or none (plaintext).
    pub(crate) fn from_config(config: &Config) -> Result<Self, StartError> {
        let keyring = load_keyring(config)?;
        Ok(Encryption::new(
            keyring,
            config.encrypt_outgoing,
            config.accept_plaintext,
            config.cluster_id.clone(),
        ))
    }

    /// Encryption with `keyring` (none: plaintext) in the phase the two flags say, for the
    /// cluster `cluster_id`.
    pub(crate) fn new(
        keyring: Option<Keyring>,
        encrypt_outgoing: bool,
        accept_plaintext: bool,
        cluster_id: String,
    ) -> Self {
        Encryption {
            keyring,
            encrypt_outgoing,
            accept_plaintext,
            cluster_id,
            replay: ReplayWindow::default(),
        }
    }

    /// The datagram to send for an encoded packet: sealed with the primary key, stamped
    /// with the wall clock, for this cluster; or as it is.
    pub(crate) fn outgoing<'a>(
        &self,
        packet: &'a [u8],
        counters: &TransportCounters,
    ) -> Cow<'a, [u8]> {
        let Some(keyring) = self.keyring.as_ref().filter(|_| self.encrypt_outgoing) else {
            return Cow::Borrowed(packet);
        };
        let sealed = keyring.seal_with_rng(
            packet,
            unix_millis_now(),
            self.cluster_id.as_bytes(),
            &mut rand::rng(),
        );
        match sealed {
            Ok(sealed) => {
                counters.sealed.fetch_add(1, Ordering::Relaxed);
                Cow::Owned(sealed)
            }
            // Packets are bounded by max_packet_size, far below the sealing limit.
            Err(error) => {
                debug!(%error, "cannot seal a packet; sent as plaintext");
                Cow::Borrowed(packet)
            }
        }
    }

    /// The packet bytes of a received datagram, or `None` (counted) if it is to be dropped.
    /// A sealed one must open for this cluster and pass the replay window, checked against
    /// the wall clock.
    pub(crate) fn incoming<'a>(
        &mut self,
        datagram: &'a [u8],
        counters: &TransportCounters,
    ) -> Option<Cow<'a, [u8]>> {
        if is_sealed(datagram) {
            let Some(keyring) = &self.keyring else {
                counters.unauthenticated.fetch_add(1, Ordering::Relaxed);
                return None;
            };
            let opened = match keyring.open(datagram, self.cluster_id.as_bytes()) {
                Ok(opened) => opened,
                Err(error) => {
                    trace!(%error, "dropped a datagram that failed authentication");
                    counters.unauthenticated.fetch_add(1, Ordering::Relaxed);
                    return None;
                }
            };
            counters.opened.fetch_add(1, Ordering::Relaxed);
            let Envelope { sent_at, nonce, .. } = opened.envelope;
            if let Err(error) = self.replay.check(sent_at, nonce, unix_millis_now()) {
                trace!(%error, "dropped a sealed datagram: replayed or stale");
                let counter = if error.is_replay() {
                    &counters.replayed
                } else {
                    &counters.stale
                };
                counter.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            return Some(Cow::Owned(opened.plaintext));
        }
        if self.keyring.is_some() && !self.accept_plaintext {
            counters.plaintext_refused.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Some(Cow::Borrowed(datagram))
    }

    /// Installs `key`; returns whether it was new. The first key of a node started without
    /// one starts phase 1 of an upgrade (plaintext sent, both accepted).
    pub(crate) fn install(&mut self, key: SecretKey) -> bool {
        match &mut self.keyring {
            Some(keyring) => keyring.install(key),
            None => {
                info!(key = %key.fingerprint(), "first key installed: upgrade phase 1");
                self.keyring = Some(Keyring::new(key));
                self.encrypt_outgoing = false;
                self.accept_plaintext = true;
                true
            }
        }
    }

    /// Makes an installed key the primary.
    pub(crate) fn use_key(&mut self, key: KeyRef) -> Result<(), KeyringError> {
        let keyring = self.keyring.as_mut().ok_or(KeyringError::NotInstalled {
            key: key.fingerprint(),
        })?;
        keyring.use_key(key)
    }

    /// Removes an installed key other than the primary.
    pub(crate) fn remove(&mut self, key: KeyRef) -> Result<(), KeyringError> {
        let keyring = self.keyring.as_mut().ok_or(KeyringError::NotInstalled {
            key: key.fingerprint(),
        })?;
        keyring.remove(key)
    }

    /// Moves to the phase the two flags say (see the module docs).
    pub(crate) fn set_phase(&mut self, encrypt_outgoing: bool, accept_plaintext: bool) {
        self.encrypt_outgoing = encrypt_outgoing;
        self.accept_plaintext = accept_plaintext;
    }

    /// The keyring and phase.
    pub(crate) fn status(&self) -> EncryptionStatus {
        let keys = self
            .keyring
            .iter()
            .flat_map(|keyring| keyring.keys().map(|(key, _)| key.fingerprint()))
            .collect();
        let encrypting = self.keyring.is_some();
        EncryptionStatus {
            keys,
            encrypt_outgoing: encrypting && self.encrypt_outgoing,
            accept_plaintext: !encrypting || self.accept_plaintext,
        }
    }
}

/// The keyring of `config`: given, or read from `keyring_file`, or none.
fn load_keyring(config: &Config) -> Result<Option<Keyring>, StartError> {
    if let Some(keyring) = &config.keyring {
        return Ok(Some(keyring.clone()));
    }
    let Some(path) = &config.keyring_file else {
        return Ok(None);
    };
    let error = |reason: String| StartError::Keyring {
        path: path.clone(),
        reason,
    };
    let contents = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
    Keyring::from_file_contents(&contents)
        .map(Some)
        .map_err(|e| error(e.to_string()))
}
