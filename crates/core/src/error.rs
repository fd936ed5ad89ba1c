//! Errors of local operations on a node. Remote input never produces an error value: it is
//! applied, or dropped and counted in [`crate::Stats`].

use leviathan_gossip_wire::Version;
use thiserror::Error;

/// Why a local write (`set`, `del`) was refused. The node's state is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The value could never be gossiped: a delta carrying it alone would exceed
    /// `max_packet_size`.
    #[error(
        "value of {len} bytes is too large: at most {max} bytes fit in one packet for this key"
    )]
    ValueTooLarge {
        /// Size of the refused value.
        len: usize,
        /// Largest value that fits for this key.
        max: usize,
    },
    /// The node has left the cluster; its state is frozen.
    #[error("the node has left the cluster")]
    Left,
    /// A new key would take the node beyond `max_keys_per_node` keys held (tombstones,
    /// kept for `tombstone_grace`, included).
    #[error("too many keys: this node already holds {max} (tombstones included)")]
    TooManyKeys {
        /// The limit, `max_keys_per_node`.
        max: usize,
    },
    /// [`crate::Node::commit`] was given a write this node did not prepare, or one already
    /// committed or abandoned (a bug in the driver).
    #[error("version {version} was not prepared by this node, or is no longer in flight")]
    NotPrepared {
        /// The write's version.
        version: Version,
    },
}

/// Why [`crate::Node::restore_own_records`] refused; the node's state is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RestoreError {
    /// The node already wrote: restored versions could collide with its own.
    #[error("the node already wrote; restore only into a fresh node")]
    AlreadyWritten,
    /// A record claims a version above the stated maximum.
    #[error("record {key:?} has version {version}, above the maximum {max_version}")]
    VersionAboveMax {
        /// The record's key.
        key: String,
        /// Its version.
        version: Version,
        /// The stated maximum.
        max_version: Version,
    },
}
