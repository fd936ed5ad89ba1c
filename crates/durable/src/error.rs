//! What can go wrong, and what each failure did to the state on disk and in memory.

use std::fmt;
use std::io;
use std::path::PathBuf;

use leviathan_gossip_wire::Version;

/// Why [`DataDir::open`](crate::DataDir::open) failed. Opening never replaces, truncates or
/// deletes a data file it cannot read: every variant leaves the directory's files as they
/// were (except the lock file and leftover `*.tmp` files), so an operator can inspect them.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Another handle, in this process or another, holds the directory. Nothing was read
    /// or changed. Two nodes sharing one data directory would corrupt each other's state;
    /// the lock is the OS's, so it is never left behind by a process that died.
    #[error(
        "data directory {} is already open{}; two nodes sharing one would corrupt it",
        path.display(),
        holder.map(|pid| format!(" (lock held by pid {pid})")).unwrap_or_default()
    )]
    Locked {
        /// The data directory.
        path: PathBuf,
        /// Process id the holder wrote into the lock file, if it could be read.
        holder: Option<u32>,
    },
    /// The directory holds the state of another cluster or another node. Nothing was
    /// changed: using it would publish someone else's keys under this node's name. Point
    /// the node at its own directory (or an empty one).
    #[error(
        "{} belongs to {field} {found:?}, not {expected:?}; refusing to use another node's state",
        path.display()
    )]
    Foreign {
        /// The file that names the other owner.
        path: PathBuf,
        /// Which part of the identity differs.
        field: IdentityField,
        /// This node's value.
        expected: String,
        /// The value in the file.
        found: String,
    },
    /// A file is damaged, is not a leviathan-gossip data file, has a format version this
    /// build does not read, or the files do not fit together (one is missing, or they come
    /// from different compactions). Nothing was changed and nothing is replaced: restore
    /// the directory from a backup, or move it away to start this node afresh (its keys
    /// are then lost, and peers learn the new incarnation's state instead).
    ///
    /// A torn final log record — an append cut short by a crash, never acknowledged — is
    /// not corruption: it is dropped on open and reported by
    /// [`Recovery::torn_bytes_dropped`](crate::Recovery::torn_bytes_dropped).
    #[error("{} is unusable: {reason}; refusing to open (the file is left untouched)", path.display())]
    Corrupt {
        /// The file at fault.
        path: PathBuf,
        /// What is wrong with it, with byte offsets where they help.
        reason: String,
    },
    /// Reading or writing a file failed (permissions, disk full, I/O error). The
    /// directory is as it was, except possibly a completed recovery step (a torn tail
    /// removed, an interrupted compaction finished, files of an older format version
    /// rewritten in the current one), which is safe to repeat.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS's error.
        #[source]
        source: io::Error,
    },
}

/// The part of a node's identity that a data directory is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityField {
    /// The cluster id.
    ClusterId,
    /// The node name.
    NodeName,
}

impl fmt::Display for IdentityField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdentityField::ClusterId => "cluster id",
            IdentityField::NodeName => "node name",
        })
    }
}

/// Why a write ([`record_write`](crate::DataDir::record_write),
/// [`record_write_expiring`](crate::DataDir::record_write_expiring),
/// [`next_generation`](crate::DataDir::next_generation),
/// [`compact`](crate::DataDir::compact)) failed. Each variant says what changed; none
/// is caused by remote peers.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The version is not above every version recorded so far. Nothing changed. A bug in
    /// the caller: versions come from the node's own counter, which only grows.
    #[error("version {version} is not above the highest recorded version {max_version}")]
    NotIncreasing {
        /// The version offered.
        version: Version,
        /// The highest version already recorded.
        max_version: Version,
    },
    /// Key plus value exceed [`MAX_RECORD_LEN`](crate::MAX_RECORD_LEN). Nothing changed.
    #[error("record of {len} bytes (key + value) exceeds the {max}-byte limit")]
    TooLarge {
        /// Key plus value, in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The generation already reached `u64::MAX` and cannot grow. Nothing changed.
    #[error("generation cannot grow past {}", u64::MAX)]
    GenerationExhausted,
    /// The write failed cleanly: it was rolled back, nothing changed on disk or in memory,
    /// and the handle stays usable; retrying is safe. (For `compact`: the new snapshot
    /// was not installed; the old snapshot and log still hold the state.)
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS's error.
        #[source]
        source: io::Error,
    },
    /// The write failed in a way that leaves its durability unknown (typically a failed
    /// fsync): it is not in memory and was not acknowledged, but it may or may not be
    /// found on disk after a restart. The handle is now poisoned: every later write fails
    /// with [`WriteError::Poisoned`]. Restart (reopen the directory) to continue; reading
    /// the in-memory state stays fine.
    #[error("{}: {source}; durability unknown, reopen the data directory", path.display())]
    Indeterminate {
        /// The file or directory.
        path: PathBuf,
        /// The OS's error.
        #[source]
        source: io::Error,
    },
    /// An earlier write failed with [`WriteError::Indeterminate`]. Nothing changed.
    #[error("an earlier write failed with unknown durability; reopen the data directory")]
    Poisoned,
}
