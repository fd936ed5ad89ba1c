//! What happened to datagrams around the socket, before the core saw them: dropped over a
//! source's rate limit or as larger than any member sends, and (feature `encryption`) sealed, opened, or refused as
//! unauthenticated, plaintext, replayed or stale.

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
    #[cfg(feature = "encryption")]
    pub(crate) replayed: AtomicU64,
    #[cfg(feature = "encryption")]
    pub(crate) stale: AtomicU64,
    pub(crate) rate_limited: AtomicU64,
    pub(crate) oversized: AtomicU64,
}

/// Counts of what encryption and the rate limit did to this node's datagrams since it
/// started. The counts about sealing exist with the `encryption` feature.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransportStats {
    /// Datagrams sent sealed.
    #[cfg(feature = "encryption")]
    pub sealed: u64,
    /// Sealed datagrams received that an installed key opened, those then dropped as
    /// replayed or stale included.
    #[cfg(feature = "encryption")]
    pub opened: u64,
    /// Sealed datagrams (or datagrams posing as sealed) that no installed key opened for
    /// this cluster id — a key not installed here, another cluster sharing the key,
    /// tampering, forgery, or a sealed format version this build does not open — dropped
    /// unparsed.
    #[cfg(feature = "encryption")]
    pub dropped_unauthenticated: u64,
    /// Plaintext datagrams dropped because this node requires encryption.
    #[cfg(feature = "encryption")]
    pub dropped_plaintext: u64,
    /// Authentic sealed datagrams dropped unparsed as replays: one with the same nonce and
    /// timestamp was accepted within the replay window (30 s). A captured datagram sent
    /// again.
    #[cfg(feature = "encryption")]
    pub dropped_replayed: u64,
    /// Authentic sealed datagrams dropped unparsed as stale: sealed more than the replay
    /// window (30 s) before or after this node's clock, or at or before the window's edge
    /// once it forgot older datagrams. A captured datagram sent late, or a sender whose
    /// clock is off: keep members' clocks in sync (NTP).
    #[cfg(feature = "encryption")]
    pub dropped_stale: u64,
    /// Datagrams dropped unread because their source exceeded
    /// `max_datagrams_per_source` a second.
    pub dropped_rate_limited: u64,
    /// Datagrams dropped unread because they were longer than `max_packet_size` (plus the
    /// seal's overhead): no member sends such a datagram. The receive buffer holds no more.
    pub dropped_oversized: u64,
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
            #[cfg(feature = "encryption")]
            dropped_replayed: self.replayed.load(Ordering::Relaxed),
            #[cfg(feature = "encryption")]
            dropped_stale: self.stale.load(Ordering::Relaxed),
            dropped_rate_limited: self.rate_limited.load(Ordering::Relaxed),
            dropped_oversized: self.oversized.load(Ordering::Relaxed),
        }
    }
}
