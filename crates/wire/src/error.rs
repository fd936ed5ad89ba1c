//! Errors of the wire layer. None of them changes any state: decoding is a pure function.

use thiserror::Error;

/// Why a byte string is not a valid packet.
///
/// Returned by [`crate::Packet::decode`]; remote peers can trigger every variant, so callers
/// count these rather than log each one. Decoding never changes state.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The packet ended before a field did.
    #[error("packet truncated while reading {field}")]
    Truncated {
        /// The field being read.
        field: &'static str,
    },
    /// The first bytes are not the protocol's magic: not a leviathan-gossip packet.
    #[error("bad magic bytes")]
    BadMagic,
    /// The packet speaks a wire version this build does not.
    #[error("unsupported wire version {0}")]
    UnsupportedVersion(u8),
    /// An unknown message kind byte.
    #[error("unknown message kind {0}")]
    UnknownMessageKind(u8),
    /// An enumeration field (status, address family, value tag, …) holds an unknown value.
    #[error("invalid value {value} for {field}")]
    InvalidTag {
        /// The field being read.
        field: &'static str,
        /// The byte found.
        value: u8,
    },
    /// A variable-length integer is longer than 10 bytes or overflows 64 bits.
    #[error("malformed varint in {field}")]
    BadVarint {
        /// The field being read.
        field: &'static str,
    },
    /// A name, key or cluster id is empty or not UTF-8.
    #[error("invalid {field}: {reason}")]
    InvalidString {
        /// The field being read.
        field: &'static str,
        /// What is wrong with it.
        reason: InvalidName,
    },
    /// Bytes remain after the message ended.
    #[error("{0} trailing bytes after the message")]
    TrailingBytes(usize),
}

/// Why a string cannot be a [`crate::NodeName`], [`crate::Key`] or [`crate::ClusterId`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum InvalidName {
    /// The string is empty.
    #[error("must not be empty")]
    Empty,
    /// The string is longer than [`crate::MAX_NAME_LEN`] bytes.
    #[error("is {0} bytes long, more than the limit of 128")]
    TooLong(usize),
    /// The bytes are not UTF-8.
    #[error("is not valid UTF-8")]
    NotUtf8,
    /// The string contains a control character.
    #[error("contains a control character")]
    ControlCharacter,
}
