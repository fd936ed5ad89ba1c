//! What happened to datagrams around the socket, before the core saw them: dropped over a
//! source's rate limit, and (feature `encryption`) sealed, opened or refused.

use std::sync::atomic::{AtomicU64, Ordering};

/// What the transport did to the datagrams since start.
#[derive(Debug, Default)]
pub(crate) struct TransportCounters {
    #[cfg(feature = "encryption")]
    pub(crate) sealed: AtomicU64,
    #[cfg(feature = "encryption")]
    pub(crate) opened: AtomicU64,
    #[cfg(feature = "encryption")]
    pub(crate) unauthenticated: AtomicU64,
    #[cfg(feature = "encryption")]
    pub(crate) plaintext_refused: AtomicU64,
    pub(crate) rate_limited: AtomicU64,
}

/// Counts of what encryption and the rate limit did to this node's datagrams since it
/// started. The counts about sealing exist with the `encryption` feature.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransportStats {
    /// Datagrams sent sealed.
    #[cfg(feature = "encryption")]
    pub sealed: u64,
    /// Sealed datagrams received that an installed key opened.
    #[cfg(feature = "encryption")]
    pub opened: u64,
    /// Sealed datagrams (or datagrams posing as sealed) that no installed key opened —
    /// another cluster's key, tampering or forgery — dropped unparsed.
    #[cfg(feature = "encryption")]
    pub dropped_unauthenticated: u64,
    /// Plaintext datagrams dropped because this node requires encryption.
    #[cfg(feature = "encryption")]
    pub dropped_plaintext: u64,
    /// Datagrams dropped unread because their source exceeded
    /// `max_datagrams_per_source` a second.
    pub dropped_rate_limited: u64,
}

impl TransportCounters {
    /// A snapshot.
    pub(crate) fn snapshot(&self) -> TransportStats {
        TransportStats {
            #[cfg(feature = "encryption")]
            sealed: self.sealed.load(Ordering::Relaxed),
            #[cfg(feature = "encryption")]
            opened: self.opened.load(Ordering::Relaxed),
            #[cfg(feature = "encryption")]
            dropped_unauthenticated: self.unauthenticated.load(Ordering::Relaxed),
            #[cfg(feature = "encryption")]
            dropped_plaintext: self.plaintext_refused.load(Ordering::Relaxed),
            dropped_rate_limited: self.rate_limited.load(Ordering::Relaxed),
        }
    }
}
