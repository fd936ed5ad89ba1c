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
pub const FORMAT_VERSION: u8 = 1;

/// Length of the header: [`MAGIC`] and [`FORMAT_VERSION`]. The header is the AEAD's
/// associated data: authenticated, not encrypted.
pub const HEADER_LEN: usize = 3;

/// Length of the random XChaCha20 nonce that follows the header.
pub const NONCE_LEN: usize = 24;

/// Length of the Poly1305 tag that ends a sealed datagram.
pub const TAG_LEN: usize = 16;

/// Bytes a sealed datagram has beyond its plaintext: header, nonce and tag,
/// 3 + 24 + 16 = 43. The runtime gives the protocol a packet budget this much smaller
/// than its `max_packet_size`.
pub const OVERHEAD: usize = HEADER_LEN + NONCE_LEN + TAG_LEN;

/// Largest sealed datagram [`Keyring::seal`] writes: 65,535 bytes, the most a UDP
/// datagram's length field can describe.
pub const MAX_SEALED_LEN: usize = 65_535;

/// Largest plaintext [`Keyring::seal`] accepts: [`MAX_SEALED_LEN`] − [`OVERHEAD`].
pub const MAX_PLAINTEXT_LEN: usize = MAX_SEALED_LEN - OVERHEAD;

/// The header of every sealed datagram this crate writes.
const HEADER: [u8; HEADER_LEN] = [MAGIC[0], MAGIC[1], FORMAT_VERSION];

/// Whether `datagram` starts with the sealed datagram's [`MAGIC`], `LE`. This says what
/// the sender meant, not that the datagram is authentic: only [`Keyring::open`] tells.
pub fn is_sealed(datagram: &[u8]) -> bool {
    datagram.starts_with(&MAGIC)
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
    /// The datagram starts with [`MAGIC`] but is too short to hold a version, a nonce and
    /// a tag ([`OVERHEAD`] bytes).
    #[error("sealed datagram cut short: {len} bytes, at least {OVERHEAD} needed")]
    Truncated {
        /// The datagram's length.
        len: usize,
    },
    /// The datagram has a format version this build does not open.
    #[error("sealed datagram of format version {0}; this build opens version {FORMAT_VERSION}")]
    UnsupportedVersion(u8),
    /// No installed key opens the datagram: it was sealed with a key not installed here,
    /// or altered on the way, or forged.
    #[error("sealed datagram failed authentication with every installed key")]
    Unauthenticated,
}

impl Keyring {
    /// Seals `plaintext` with the primary key under `nonce`, and returns the sealed
    /// datagram, [`OVERHEAD`] bytes longer than the plaintext.
    ///
    /// The nonce must never repeat under one key: draw it from a cryptographic random
    /// generator ([`Keyring::seal_with_rng`] does). 24 random bytes repeat with negligible
    /// probability however many datagrams are sealed.
    ///
    /// # Errors
    ///
    /// [`SealError::TooLong`] if the plaintext is longer than [`MAX_PLAINTEXT_LEN`].
    pub fn seal(&self, plaintext: &[u8], nonce: [u8; NONCE_LEN]) -> Result<Vec<u8>, SealError> {
        let mut datagram = Vec::new();
        self.seal_into(plaintext, nonce, &mut datagram)?;
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
        rng: &mut R,
    ) -> Result<Vec<u8>, SealError> {
        check_plaintext(plaintext)?;
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        self.seal(plaintext, nonce)
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
        nonce: [u8; NONCE_LEN],
        out: &mut Vec<u8>,
    ) -> Result<(), SealError> {
        check_plaintext(plaintext)?;
        let start = out.len();
        out.reserve(OVERHEAD + plaintext.len());
        out.extend_from_slice(&HEADER);
        out.extend_from_slice(&nonce);
        let body_start = out.len();
        out.extend_from_slice(plaintext);
        // `body_start` is at most `out.len()`, so the split is in range.
        let (_, body) = out.split_at_mut(body_start);
        match self
            .primary()
            .cipher()
            .encrypt_in_place_detached(&XNonce::from(nonce), &HEADER, body)
        {
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

    /// Opens a sealed datagram: checks the header, then tries each installed key, the
    /// primary first ([`Keyring::keys`] order), and returns the plaintext of the first that
    /// authenticates it. Never panics; allocates at most the datagram's length.
    ///
    /// # Errors
    ///
    /// [`OpenError::NotSealed`] for a datagram without the `LE` magic (plaintext or
    /// garbage), [`OpenError::Truncated`], [`OpenError::UnsupportedVersion`], and
    /// [`OpenError::Unauthenticated`] when no installed key opens it.
    pub fn open(&self, datagram: &[u8]) -> Result<Vec<u8>, OpenError> {
        let mut plaintext = Vec::new();
        self.open_into(datagram, &mut plaintext)?;
        Ok(plaintext)
    }

    /// As [`Keyring::open`], appending the plaintext to `out` (which is left as it was on
    /// error), and returning the fingerprint of the key that opened the datagram. A
    /// runtime may count datagrams opened by a key other than the primary: while any
    /// arrive, some member still seals with an old key, and that key must stay installed.
    ///
    /// # Errors
    ///
    /// As [`Keyring::open`].
    pub fn open_into(&self, datagram: &[u8], out: &mut Vec<u8>) -> Result<Fingerprint, OpenError> {
        if !is_sealed(datagram) {
            return Err(OpenError::NotSealed);
        }
        let (header, rest) = datagram
            .split_first_chunk::<HEADER_LEN>()
            .ok_or_else(|| short(datagram))?;
        let [.., version] = *header;
        if version != FORMAT_VERSION {
            return Err(OpenError::UnsupportedVersion(version));
        }
        let (nonce, rest) = rest
            .split_first_chunk::<NONCE_LEN>()
            .ok_or_else(|| short(datagram))?;
        let (ciphertext, tag) = rest
            .split_last_chunk::<TAG_LEN>()
            .ok_or_else(|| short(datagram))?;
        let nonce = XNonce::from(*nonce);
        let tag = Tag::from(*tag);

        let start = out.len();
        out.extend_from_slice(ciphertext);
        // `start` is at most `out.len()`, so the split is in range.
        let (_, body) = out.split_at_mut(start);
        for (key, _) in self.keys() {
            if key
                .cipher()
                .decrypt_in_place_detached(&nonce, header, body, &tag)
                .is_ok()
            {
                return Ok(key.fingerprint());
            }
            // The AEAD checks the tag before it decrypts, so `body` is still the
            // ciphertext; restore it anyway rather than rely on that.
            body.copy_from_slice(ciphertext);
        }
        out.truncate(start);
        Err(OpenError::Unauthenticated)
    }
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
