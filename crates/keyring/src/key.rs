//! One secret key, its public fingerprint, and how keys are written down.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::AeadInPlace as _;
use chacha20poly1305::{KeyInit as _, XChaCha20Poly1305, XNonce};
use rand::CryptoRng;
use zeroize::{Zeroize as _, Zeroizing};

/// Length of a [`SecretKey`] in bytes.
pub const KEY_LEN: usize = 32;

/// Length of a [`Fingerprint`] in bytes (it is written as twice as many hex digits).
pub const FINGERPRINT_LEN: usize = 8;

/// The fixed nonce under which a key's [`Fingerprint`] is computed (24 ASCII bytes).
/// Sealing uses random nonces, which hit this one with probability 2⁻¹⁹².
pub const FINGERPRINT_NONCE: [u8; 24] = *b"leviathan-gossip/key-fp!";

/// A 32-byte XChaCha20-Poly1305 key.
///
/// Written down as standard base64 (44 characters, `=`-padded): [`SecretKey::from_base64`]
/// and [`SecretKey::to_base64`]. Shown in logs and listings only by its public
/// [`Fingerprint`]: `Debug` prints `SecretKey(<fingerprint>)` and nothing else.
///
/// The key bytes are overwritten with zeros when a `SecretKey` is dropped. This is best
/// effort: a move may leave a copy of the bytes on the stack, and the strings returned by
/// [`SecretKey::to_base64`] are the caller's to wipe.
///
/// Two keys compare equal when their bytes are equal; the comparison has no early exit.
#[derive(Clone)]
pub struct SecretKey {
    bytes: [u8; KEY_LEN],
    fingerprint: Fingerprint,
}

impl SecretKey {
    /// A new random key from `rng`, which must be a cryptographic generator (for example
    /// `rand::rng()` with rand's `thread_rng` feature, or `OsRng`).
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> SecretKey {
        let mut bytes = [0u8; KEY_LEN];
        rng.fill_bytes(&mut bytes);
        let key = SecretKey::from_bytes(bytes);
        bytes.zeroize();
        key
    }

    /// The key with these bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> SecretKey {
        let fingerprint = Fingerprint::of(&bytes);
        SecretKey { bytes, fingerprint }
    }

    /// Parses a key written in standard base64 (alphabet `A–Z a–z 0–9 + /`, padded with
    /// `=`), surrounded by optional whitespace. It must decode to exactly 32 bytes.
    ///
    /// # Errors
    ///
    /// [`KeyError::NotBase64`] or [`KeyError::WrongLength`]; neither repeats any part of
    /// the input, which may be a secret with a typo.
    pub fn from_base64(text: &str) -> Result<SecretKey, KeyError> {
        let text = text.trim();
        let mut decoded = Zeroizing::new(Vec::with_capacity(text.len()));
        STANDARD
            .decode_vec(text, &mut decoded)
            .map_err(|_| KeyError::NotBase64)?;
        let mut bytes = [0u8; KEY_LEN];
        if decoded.len() != KEY_LEN {
            return Err(KeyError::WrongLength { len: decoded.len() });
        }
        bytes.copy_from_slice(&decoded);
        let key = SecretKey::from_bytes(bytes);
        bytes.zeroize();
        Ok(key)
    }

    /// The key in standard base64: 44 characters, the form [`SecretKey::from_base64`] reads.
    /// The string is the secret itself.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.bytes)
    }

    /// The key's public [`Fingerprint`], for listing keys, logging, and naming a key in
    /// [`Keyring::use_key`](crate::Keyring::use_key) and
    /// [`Keyring::remove`](crate::Keyring::remove).
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    /// The AEAD cipher of this key.
    pub(crate) fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&self.bytes.into())
    }
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

impl PartialEq for SecretKey {
    fn eq(&self, other: &SecretKey) -> bool {
        let difference = self
            .bytes
            .iter()
            .zip(other.bytes.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        std::hint::black_box(difference) == 0
    }
}

impl Eq for SecretKey {}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({})", self.fingerprint)
    }
}

impl FromStr for SecretKey {
    type Err = KeyError;

    /// Same as [`SecretKey::from_base64`].
    fn from_str(text: &str) -> Result<SecretKey, KeyError> {
        SecretKey::from_base64(text)
    }
}

/// The public name of a [`SecretKey`]: 8 bytes written as 16 lowercase hex digits, such as
/// `3f2a9c1d0b7e4a55`.
///
/// It is the first 8 bytes of the XChaCha20 keystream of the key under the fixed nonce
/// [`FINGERPRINT_NONCE`] — precisely, the ciphertext of 8 zero bytes sealed with
/// XChaCha20-Poly1305 under that key and nonce with empty associated data, tag dropped —
/// so any XChaCha20-Poly1305 implementation reproduces it. A stream cipher's keystream
/// reveals nothing about its key, so the fingerprint can be shown, logged and sent over an
/// admin API. Keys are random, so two keys of one keyring share a fingerprint with
/// negligible probability (about n²/2⁶⁵ for n keys).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint([u8; FINGERPRINT_LEN]);

impl Fingerprint {
    /// The fingerprint of a key with these bytes.
    fn of(key: &[u8; KEY_LEN]) -> Fingerprint {
        let mut stream = [0u8; FINGERPRINT_LEN];
        let cipher = XChaCha20Poly1305::new(&(*key).into());
        // Encryption fails only past 256 GiB; on that impossible path the fingerprint
        // would be all zeros, never a panic.
        let _tag =
            cipher.encrypt_in_place_detached(&XNonce::from(FINGERPRINT_NONCE), b"", &mut stream);
        Fingerprint(stream)
    }

    /// The 8 bytes.
    pub fn as_bytes(&self) -> &[u8; FINGERPRINT_LEN] {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

impl FromStr for Fingerprint {
    type Err = ParseFingerprintError;

    /// Reads 16 hex digits (either case), surrounded by optional whitespace.
    fn from_str(text: &str) -> Result<Fingerprint, ParseFingerprintError> {
        let text = text.trim();
        if text.len() != 2 * FINGERPRINT_LEN {
            return Err(ParseFingerprintError);
        }
        let mut bytes = [0u8; FINGERPRINT_LEN];
        for (byte, pair) in bytes.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
            let digits = std::str::from_utf8(pair).map_err(|_| ParseFingerprintError)?;
            *byte = u8::from_str_radix(digits, 16).map_err(|_| ParseFingerprintError)?;
        }
        Ok(Fingerprint(bytes))
    }
}

/// A string that is not a [`Fingerprint`]: not exactly 16 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a key fingerprint is exactly 16 hex digits")]
pub struct ParseFingerprintError;

/// Where in a keyring's text a key was read: a line of a file, or an entry of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// Line number in a keyring file ([`Keyring::from_file_contents`](crate::Keyring::from_file_contents)),
    /// from 1.
    Line(usize),
    /// Position in a list of keys ([`Keyring::from_env_value`](crate::Keyring::from_env_value)),
    /// from 1.
    Entry(usize),
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Line(line) => write!(f, "line {line}"),
            Place::Entry(entry) => write!(f, "key {entry} of the list"),
        }
    }
}

/// Why a key, a key reference or a keyring could not be read. Reading changes nothing,
/// and no message repeats the text of a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The text is not standard base64 (stray characters, URL-safe `-`/`_`, missing or
    /// misplaced `=` padding).
    #[error(
        "the key is not valid standard base64 (A-Z a-z 0-9 + / padded with =; 44 characters for a key)"
    )]
    NotBase64,
    /// The text is base64 but does not decode to 32 bytes.
    #[error("the key decodes to {len} bytes; a key is exactly 32 bytes (44 base64 characters)")]
    WrongLength {
        /// How many bytes it decodes to.
        len: usize,
    },
    /// A keyring's text holds no key; a keyring needs at least its primary.
    #[error("no key found: a keyring needs at least one key, its primary")]
    NoKeys,
    /// The key at `place` could not be read.
    #[error("{place}: {error}")]
    At {
        /// Where the key was.
        place: Place,
        /// What is wrong with it.
        error: Box<KeyError>,
    },
    /// The key at `place` is the same key as the one at `first`.
    #[error("{place}: the same key as {first}")]
    Duplicate {
        /// Where the repeated key is.
        place: Place,
        /// Where it first appeared.
        first: Place,
    },
}
