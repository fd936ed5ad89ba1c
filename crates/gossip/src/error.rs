//! Errors of the runtime: starting a node and calling it.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

#[cfg(feature = "durable")]
use leviathan_gossip_core::RestoreError;
use leviathan_gossip_core::{ConfigError, WriteError};
#[cfg(feature = "durable")]
use leviathan_gossip_durable::OpenError;
use leviathan_gossip_wire::InvalidName;
use thiserror::Error;

/// Why [`crate::Gossip::start`] failed. Nothing was started; no socket stays bound.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StartError {
    /// A configuration field is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The UDP socket could not be bound.
    #[error("cannot bind UDP socket on {address}: {source}")]
    Bind {
        /// The `listen` address.
        address: SocketAddr,
        /// The operating system's reason.
        source: io::Error,
    },
    /// The data directory could not be opened: locked by another process, another node's
    /// or cluster's, corrupt, or unreadable. Its files were left as they were.
    #[cfg(feature = "durable")]
    #[error("data directory: {0}")]
    DataDir(#[from] OpenError),
    /// The data directory could not record the new generation (its files hold the
    /// previous state).
    #[cfg(feature = "durable")]
    #[error("data directory: cannot record the new generation: {0}")]
    Generation(#[source] leviathan_gossip_durable::WriteError),
    /// The data directory's records could not be restored into the node.
    #[cfg(feature = "durable")]
    #[error("data directory: {0}")]
    Restore(#[from] RestoreError),
    /// The keyring file could not be read or holds no valid keyring (the reason names the
    /// line; it never shows key material).
    #[cfg(feature = "encryption")]
    #[error("keyring file {path}: {reason}")]
    Keyring {
        /// The `keyring_file` as configured.
        path: std::path::PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Why a call on a running [`crate::Gossip`] failed. The node's state is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Error {
    /// The key is not a valid key (empty, too long, control characters).
    #[error("invalid key {key:?}: {reason}")]
    InvalidKey {
        /// The key as given.
        key: String,
        /// What is wrong with it.
        reason: InvalidName,
    },
    /// The time to live given to [`crate::Gossip::set_with_ttl`] cannot work: zero, or
    /// too large to represent as a deadline.
    #[error("invalid ttl {ttl:?}: {reason}")]
    InvalidTtl {
        /// The time to live as given.
        ttl: Duration,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The write was refused (value too large, or the node has left).
    #[error(transparent)]
    Write(#[from] WriteError),
    /// The write could not be made durable in the data directory, so it was not made.
    /// After a failed fsync (the reason says "durability unknown") it may still be found
    /// on disk at the next start, and the node refuses further writes until restarted.
    #[cfg(feature = "durable")]
    #[error("the write was not made: the data directory failed: {reason}")]
    Durable {
        /// What the data directory reported.
        reason: String,
    },
    /// The node was shut down.
    #[error("the gossip node is shut down")]
    Shutdown,
    /// The node's task stopped without being asked to (a bug, logged when it happened):
    /// nothing gossips any more, so nothing written would reach peers. Restart the node.
    #[error("the gossip node's task stopped unexpectedly; restart the node")]
    Stopped,
    /// [`crate::Gossip::join`] was given no address that resolved: nothing was joined.
    #[error("cannot join: {}", join_failures(failures))]
    Join {
        /// Each address given, with the resolver's reason (`host:port: reason`).
        failures: Vec<String>,
    },
    /// A keyring change was refused (the key is not installed, or is the primary and
    /// cannot be removed); the keyring is unchanged.
    #[cfg(feature = "encryption")]
    #[error(transparent)]
    Keyring(#[from] leviathan_gossip_keyring::KeyringError),
}

/// What [`Error::Join`] says of the addresses given.
fn join_failures(failures: &[String]) -> String {
    if failures.is_empty() {
        return "no address given".to_string();
    }
    format!("no address resolved ({})", failures.join("; "))
}

/// Why [`crate::Events::recv`] returned no event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RecvError {
    /// This subscriber fell behind by this many events, which it will never see; the
    /// current state is still available through `get` and `members`.
    #[error("missed {0} events: the subscriber was too slow")]
    Lagged(u64),
    /// The node shut down; no more events will come.
    #[error("the gossip node is shut down")]
    Closed,
}
