//! The sealed datagram: its layout, sealing with the primary key, opening with any key.

use chacha20poly1305::aead::AeadInPlace as _;
use chacha20poly1305::{Tag, XNonce};
use rand::CryptoRng;

use crate::key::Fingerprint;
use crate::keyring::Keyring;

/// First two bytes of every sealed datagram. A plaintext datagram of the protocol starts
/// with `LG` instead (`leviathan_gossip_wire::MAGIC`), so a receiver tells them apart.
pub const MAGIC: [u8; 2] = *b"LE";

/// Format version of the sealed datagrams this crate writes, and the only one it opens.
/// Version 1 (no timestamp, no cluster id in the associated data) is refused.
pub const FORMAT_VERSION: u8 = 2;

/// Length of the send timestamp in the header: milliseconds since the Unix epoch, a
/// big-endian `u64`.
pub const TIMESTAMP_LEN: usize = 8;

/// Length of the header: [`MAGIC`], [`FORMAT_VERSION`] and the send timestamp
/// ([`TIMESTAMP_LEN`] bytes), 2 + 1 + 8 = 11. The header is authenticated, not encrypted:
/// it opens the AEAD's associated data, which goes on with the cluster id.
pub const HEADER_LEN: usize = MAGIC_AND_VERSION_LEN + TIMESTAMP_LEN;

/// Length of the random XChaCha20 nonce that follows the header.
pub const NONCE_LEN: usize = 24;

/// Length of the Poly1305 tag that ends a sealed datagram.
pub const TAG_LEN: usize = 16;

/// Bytes a sealed datagram has beyond its plaintext: header, nonce and tag,
/// 11 + 24 + 16 = 51. The runtime seals the protocol's packet whole, so a sealed datagram
/// is up to this much longer than `max_packet_size`.
pub const OVERHEAD: usize = HEADER_LEN + NONCE_LEN + TAG_LEN;

/// Largest sealed datagram [`Keyring::seal`] writes: 65,535 bytes, the most a UDP
/// datagram's length field can describe.
pub const MAX_SEALED_LEN: usize = 65_535;

/// Largest plaintext [`Keyring::seal`] accepts: [`MAX_SEALED_LEN`] − [`OVERHEAD`].
pub const MAX_PLAINTEXT_LEN: usize = MAX_SEALED_LEN - OVERHEAD;

/// Length of the magic and the version, which the timestamp follows.
const MAGIC_AND_VERSION_LEN: usize = MAGIC.len() + 1;

/// Length of the cluster id's length prefix in the associated data: a big-endian `u64`.
const CLUSTER_ID_PREFIX_LEN: usize = 8;

/// Associated data up to this length is built on the stack; a longer one (a cluster id
/// over 237 bytes) on the heap.
const INLINE_ASSOCIATED_DATA: usize = 256;

/// Whether `datagram` starts with the sealed datagram's [`MAGIC`], `LE`. This says what
/// the sender meant, not that the datagram is authentic: only [`Keyring::open`] tells.
pub fn is_sealed(datagram: &[u8]) -> bool {
    datagram.starts_with(&MAGIC)
}

/// What an opened datagram's envelope said, all of it authenticated by the key that opened
/// it: when it was sealed, under which nonce, and by which key. A runtime checks the first
/// two against a [`crate::ReplayWindow`] before it parses the plaintext.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Envelope {
    /// When the sender sealed it, in milliseconds since the Unix epoch by the sender's
    /// clock.
    pub sent_at: u64,
    /// The nonce it was sealed under: random, so it names this one datagram.
    pub nonce: [u8; NONCE_LEN],
    /// The installed key that opened it. A runtime may count datagrams opened by a key
    /// other than the primary: while any arrive, some member still seals with an old key,
    /// and that key must stay installed.
    pub key: Fingerprint,
}

/// An opened datagram ([`Keyring::open`]): its plaintext and its [`Envelope`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The plaintext: the protocol's `LG…` packet.
    pub plaintext: Vec<u8>,
    /// When it was sealed, under which nonce, by which key.
    pub envelope: Envelope,
}

/// Why [`Keyring::seal`] refused. Nothing was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The plaintext is longer than [`MAX_PLAINTEXT_LEN`].
    #[error(
        "plaintext of {len} bytes is over the {MAX_PLAINTEXT_LEN}-byte limit of a sealed datagram; nothing was sealed"
    )]
    TooLong {
        /// The plaintext's length.
        len: usize,
    },
}

/// Why [`Keyring::open`] refused a datagram. Nothing of it should be parsed further; the
/// keyring never changes when opening, and an output buffer is left as it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// The datagram does not start with [`MAGIC`]: it is plaintext (a protocol datagram
    /// starts with `LG`) or garbage. The runtime parses it as plaintext only while it
    /// accepts plaintext.
    #[error("not a sealed datagram (no `LE` magic)")]
    NotSealed,
    /// The datagram starts with [`MAGIC`] but is too short to hold a version, a timestamp,
    /// a nonce and a tag ([`OVERHEAD`] bytes).
    #[error("sealed datagram cut short: {len} bytes, at least {OVERHEAD} needed")]
    Truncated {
        /// The datagram's length.
        len: usize,
    },
    /// The datagram has a format version this build does not open: version 1 (from a
    /// build before timestamps and cluster ids), or an unknown one.
    #[error("sealed datagram of format version {0}; this build opens version {FORMAT_VERSION}")]
    UnsupportedVersion(u8),
    /// No installed key opens the datagram for this cluster id: it was sealed with a key
    /// not installed here, or for another cluster, or altered on the way, or forged.
    #[error("sealed datagram failed authentication with every installed key")]
    Unauthenticated,
}

impl Keyring {
    /// Seals `plaintext` for the cluster `cluster_id` with the primary key under `nonce`,
    /// stamped `sent_at` (milliseconds since the Unix epoch: the caller's clock, as this
    /// crate reads none), and returns the sealed datagram, [`OVERHEAD`] bytes longer than
    /// the plaintext.
    ///
    /// The cluster id is not sent: it is authenticated with the header, so the datagram
    /// opens only for a receiver that passes the same id to [`Keyring::open`]. Two
    /// clusters that share a key cannot read each other's datagrams.
    ///
    /// The nonce must never repeat under one key: draw it from a cryptographic random
    /// generator ([`Keyring::seal_with_rng`] does). 24 random bytes repeat with negligible
    /// probability however many datagrams are sealed.
    ///
    /// # Errors
    ///
    /// [`SealError::TooLong`] if the plaintext is longer than [`MAX_PLAINTEXT_LEN`].
    pub fn seal(
        &self,
        plaintext: &[u8],
        sent_at: u64,
        cluster_id: &[u8],
        nonce: [u8; NONCE_LEN],
    ) -> Result<Vec<u8>, SealError> {
        let mut datagram = Vec::new();
        self.seal_into(plaintext, sent_at, cluster_id, nonce, &mut datagram)?;
        Ok(datagram)
    }

    /// As [`Keyring::seal`] with a nonce drawn from `rng`, which must be a cryptographic
    /// generator (for example `rand::rng()`).
    ///
    /// # Errors
    ///
    /// As [`Keyring::seal`]; no nonce is drawn then.
    pub fn seal_with_rng<R: CryptoRng + ?Sized>(
        &self,
        plaintext: &[u8],
        sent_at: u64,
        cluster_id: &[u8],
        rng: &mut R,
    ) -> Result<Vec<u8>, SealError> {
        check_plaintext(plaintext)?;
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        self.seal(plaintext, sent_at, cluster_id, nonce)
    }

    /// As [`Keyring::seal`], appending the sealed datagram to `out` (which is left as it was
    /// on error), so a runtime can reuse one buffer.
    ///
    /// # Errors
    ///
    /// As [`Keyring::seal`].
    pub fn seal_into(
        &self,
        plaintext: &[u8],
        sent_at: u64,
        cluster_id: &[u8],
        nonce: [u8; NONCE_LEN],
        out: &mut Vec<u8>,
    ) -> Result<(), SealError> {
        check_plaintext(plaintext)?;
        let header = header(sent_at);
        let start = out.len();
        out.reserve(OVERHEAD + plaintext.len());
        out.extend_from_slice(&header);
        out.extend_from_slice(&nonce);
        let body_start = out.len();
        out.extend_from_slice(plaintext);
        // `body_start` is at most `out.len()`, so the split is in range.
        let (_, body) = out.split_at_mut(body_start);
        let sealed = with_associated_data(&header, cluster_id, |associated_data| {
            self.primary().cipher().encrypt_in_place_detached(
                &XNonce::from(nonce),
                associated_data,
                body,
            )
        });
        match sealed {
            Ok(tag) => {
                out.extend_from_slice(&tag);
                Ok(())
            }
            // The AEAD refuses only messages over 256 GiB, far above the length checked.
            Err(_) => {
                out.truncate(start);
                Err(SealError::TooLong {
                    len: plaintext.len(),
                })
            }
        }
    }

    /// Opens a sealed datagram of the cluster `cluster_id`: checks the header, then tries
    /// each installed key, the primary first ([`Keyring::keys`] order), and returns the
    /// plaintext and [`Envelope`] of the first that authenticates it. Never panics;
    /// allocates at most the datagram's length (and, for a cluster id over 237 bytes, the
    /// associated data).
    ///
    /// Opening says the datagram is authentic, not that it is fresh: the runtime checks
    /// the envelope's timestamp and nonce against a [`crate::ReplayWindow`] before parsing
    /// the plaintext.
    ///
    /// # Errors
    ///
    /// [`OpenError::NotSealed`] for a datagram without the `LE` magic (plaintext or
    /// garbage), [`OpenError::UnsupportedVersion`], [`OpenError::Truncated`], and
    /// [`OpenError::Unauthenticated`] when no installed key opens it for `cluster_id`.
    pub fn open(&self, datagram: &[u8], cluster_id: &[u8]) -> Result<Opened, OpenError> {
        let mut plaintext = Vec::new();
        let envelope = self.open_into(datagram, cluster_id, &mut plaintext)?;
        Ok(Opened {
            plaintext,
            envelope,
        })
    }

    /// As [`Keyring::open`], appending the plaintext to `out` (which is left as it was on
    /// error), and returning the [`Envelope`].
    ///
    /// # Errors
    ///
    /// As [`Keyring::open`].
    pub fn open_into(
        &self,
        datagram: &[u8],
        cluster_id: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<Envelope, OpenError> {
        if !is_sealed(datagram) {
            return Err(OpenError::NotSealed);
        }
        // The version is checked before the length, so an old sender's datagram is named
        // as such whatever its length.
        match datagram.get(MAGIC.len()) {
            Some(&FORMAT_VERSION) => {}
            Some(&version) => return Err(OpenError::UnsupportedVersion(version)),
            None => return Err(short(datagram)),
        }
        let (_, rest) = datagram
            .split_first_chunk::<MAGIC_AND_VERSION_LEN>()
            .ok_or_else(|| short(datagram))?;
        let (timestamp, rest) = rest
            .split_first_chunk::<TIMESTAMP_LEN>()
            .ok_or_else(|| short(datagram))?;
        let (nonce, rest) = rest
            .split_first_chunk::<NONCE_LEN>()
            .ok_or_else(|| short(datagram))?;
        let (ciphertext, tag) = rest
            .split_last_chunk::<TAG_LEN>()
            .ok_or_else(|| short(datagram))?;
        let sent_at = u64::from_be_bytes(*timestamp);
        // The header's bytes as read: magic and version were checked above.
        let header = header(sent_at);
        let nonce_bytes = *nonce;
        let nonce = XNonce::from(nonce_bytes);
        let tag = Tag::from(*tag);

        let start = out.len();
        out.extend_from_slice(ciphertext);
        // `start` is at most `out.len()`, so the split is in range.
        let (_, body) = out.split_at_mut(start);
        let opened_by = with_associated_data(&header, cluster_id, |associated_data| {
            for (key, _) in self.keys() {
                if key
                    .cipher()
                    .decrypt_in_place_detached(&nonce, associated_data, body, &tag)
                    .is_ok()
                {
                    return Some(key.fingerprint());
                }
                // The AEAD checks the tag before it decrypts, so `body` is still the
                // ciphertext; restore it anyway rather than rely on that.
                body.copy_from_slice(ciphertext);
            }
            None
        });
        match opened_by {
            Some(key) => Ok(Envelope {
                sent_at,
                nonce: nonce_bytes,
                key,
            }),
            None => {
                out.truncate(start);
                Err(OpenError::Unauthenticated)
            }
        }
    }
}

/// The header of a datagram sealed at `sent_at`.
fn header(sent_at: u64) -> [u8; HEADER_LEN] {
    let mut header = [0u8; HEADER_LEN];
    let (magic_and_version, timestamp) = header.split_at_mut(MAGIC_AND_VERSION_LEN);
    magic_and_version.copy_from_slice(&[MAGIC[0], MAGIC[1], FORMAT_VERSION]);
    timestamp.copy_from_slice(&sent_at.to_be_bytes());
    header
}

/// Calls `f` with the associated data of a datagram with `header` in the cluster
/// `cluster_id`: the header, then the cluster id's length as a big-endian `u64`, then the
/// cluster id. The length prefix keeps two different (header, cluster id) pairs from ever
/// giving the same bytes.
fn with_associated_data<T>(
    header: &[u8; HEADER_LEN],
    cluster_id: &[u8],
    f: impl FnOnce(&[u8]) -> T,
) -> T {
    // A `usize` always fits a `u64` on the platforms Rust supports.
    let prefix = u64::try_from(cluster_id.len())
        .unwrap_or(u64::MAX)
        .to_be_bytes();
    let len = HEADER_LEN + CLUSTER_ID_PREFIX_LEN + cluster_id.len();
    let mut inline = [0u8; INLINE_ASSOCIATED_DATA];
    let mut heap = Vec::new();
    let buffer: &mut [u8] = match inline.get_mut(..len) {
        Some(inline) => inline,
        None => {
            heap.resize(len, 0);
            &mut heap
        }
    };
    let (head, id) = buffer.split_at_mut(HEADER_LEN + CLUSTER_ID_PREFIX_LEN);
    let (head_header, head_prefix) = head.split_at_mut(HEADER_LEN);
    head_header.copy_from_slice(header);
    head_prefix.copy_from_slice(&prefix);
    id.copy_from_slice(cluster_id);
    f(buffer)
}

/// The error for a sealed datagram too short to hold a header, a nonce and a tag.
fn short(datagram: &[u8]) -> OpenError {
    OpenError::Truncated {
        len: datagram.len(),
    }
}

/// Refuses a plaintext too long to seal.
fn check_plaintext(plaintext: &[u8]) -> Result<(), SealError> {
    if plaintext.len() > MAX_PLAINTEXT_LEN {
        return Err(SealError::TooLong {
            len: plaintext.len(),
        });
    }
    Ok(())
}
