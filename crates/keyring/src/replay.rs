//! The replay window: which opened datagrams are fresh, by their authenticated send
//! timestamp and nonce.

use std::collections::VecDeque;
use std::num::NonZeroUsize;
use std::time::Duration;

use crate::seal::NONCE_LEN;

/// How far a datagram's send timestamp may be from the receiver's clock, either way, by
/// default: 30 seconds. Hosts kept by NTP agree within milliseconds (tens of them over a
/// WAN), so this tolerates an unsynchronised host's drift for a long while, and a late
/// datagram (queued, retransmitted by nothing: UDP) is never this late; a captured
/// datagram is refused once it is older.
pub const DEFAULT_REPLAY_WINDOW: Duration = Duration::from_secs(30);

/// How many accepted datagrams a [`ReplayWindow`] remembers by default: 65,536, 32 bytes
/// each (timestamp and nonce), so at most 2 MiB. That holds every datagram of a 60-second
/// span (30 s either side of the clock) up to some 1,090 accepted a second, far more than
/// gossip sends; beyond, the oldest are forgotten and the window's lower edge moves up.
pub const DEFAULT_REPLAY_CAPACITY: NonZeroUsize = match NonZeroUsize::new(65_536) {
    Some(capacity) => capacity,
    None => NonZeroUsize::MIN,
};

/// Refuses sealed datagrams that are stale, from too far in the future, or replays of one
/// already accepted. Pure: the caller passes its clock (`now`, milliseconds since the Unix
/// epoch) and the authenticated timestamp and nonce of each opened datagram
/// ([`crate::Envelope`]), and parses the plaintext only if [`ReplayWindow::check`] says
/// `Ok`.
///
/// A datagram is refused when its timestamp is more than the window (default
/// [`DEFAULT_REPLAY_WINDOW`]) before or after `now`, or when a datagram with the same
/// timestamp and nonce was accepted before. Accepted ones are remembered while they are
/// within the window, and at most `capacity` of them (default [`DEFAULT_REPLAY_CAPACITY`],
/// 32 bytes each). A datagram is forgotten only by raising the **edge**: from then on,
/// every datagram sent at or before the newest forgotten timestamp is refused as
/// [`ReplayError::Forgotten`], so a forgotten datagram can never be replayed, even if the
/// receiver's clock steps back. When the window is full the oldest is forgotten first. A
/// flood of authentic datagrams (only a key holder can make one) moves the edge up and may
/// refuse a slow peer's datagrams; it cannot make the window allocate more or panic.
///
/// The window lives in memory: a node restarted within the window accepts, once, a
/// datagram its previous run accepted, as any member hearing it first would.
///
/// ```
/// use leviathan_gossip_keyring::{ReplayError, ReplayWindow};
///
/// let mut window = ReplayWindow::default();
/// let now = 1_700_000_000_000; // milliseconds since the Unix epoch
/// assert_eq!(window.check(now - 40, [1; 24], now), Ok(()));
/// assert_eq!(window.check(now - 40, [1; 24], now + 5), Err(ReplayError::Replayed));
/// assert!(matches!(window.check(now - 31_000, [2; 24], now), Err(ReplayError::TooOld { .. })));
/// ```
#[derive(Debug, Clone)]
pub struct ReplayWindow {
    /// The window either side of the clock, in milliseconds.
    window_ms: u64,
    /// Most datagrams remembered.
    capacity: usize,
    /// Accepted datagrams as (timestamp, nonce), ascending: the oldest first.
    seen: VecDeque<(u64, [u8; NONCE_LEN])>,
    /// The newest timestamp of a forgotten datagram: datagrams sent at or before it are
    /// refused. `None` while nothing was forgotten.
    edge: Option<u64>,
}

/// Why [`ReplayWindow::check`] refused a datagram. The window's memory is unchanged, but
/// for datagrams that fell out of the window, which it forgets at every check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// Sealed more than the window before the receiver's clock: a stale or captured
    /// datagram, or a sender whose clock is behind.
    #[error("sealed {behind_ms} ms before this node's clock, beyond the {window_ms} ms window")]
    TooOld {
        /// How far behind the clock.
        behind_ms: u64,
        /// The window.
        window_ms: u64,
    },
    /// Sealed more than the window after the receiver's clock: a sender whose clock is
    /// ahead (or the receiver's behind).
    #[error("sealed {ahead_ms} ms after this node's clock, beyond the {window_ms} ms window")]
    TooNew {
        /// How far ahead of the clock.
        ahead_ms: u64,
        /// The window.
        window_ms: u64,
    },
    /// Sealed at or before the edge, the newest timestamp the window forgot (it was full,
    /// or the clock moved on): it might be a replay of a forgotten datagram.
    #[error("sealed at {sent_at}, at or before the window's edge {edge}")]
    Forgotten {
        /// The datagram's timestamp, milliseconds since the Unix epoch.
        sent_at: u64,
        /// The edge.
        edge: u64,
    },
    /// A datagram with this timestamp and nonce was already accepted: a replay.
    #[error("a datagram with this nonce was already accepted: a replay")]
    Replayed,
}

impl ReplayError {
    /// Whether the datagram is a replay of one accepted, rather than outside the window.
    pub fn is_replay(&self) -> bool {
        matches!(self, ReplayError::Replayed)
    }
}

impl Default for ReplayWindow {
    /// [`DEFAULT_REPLAY_WINDOW`] and [`DEFAULT_REPLAY_CAPACITY`].
    fn default() -> Self {
        ReplayWindow::new(DEFAULT_REPLAY_WINDOW, DEFAULT_REPLAY_CAPACITY)
    }
}

impl ReplayWindow {
    /// A window of `window` either side of the clock (rounded down to the millisecond),
    /// remembering at most `capacity` accepted datagrams (32 bytes each). Allocates
    /// nothing until datagrams are accepted.
    pub fn new(window: Duration, capacity: NonZeroUsize) -> Self {
        ReplayWindow {
            window_ms: u64::try_from(window.as_millis()).unwrap_or(u64::MAX),
            capacity: capacity.get(),
            seen: VecDeque::new(),
            edge: None,
        }
    }

    /// Checks the datagram sealed at `sent_at` under `nonce`, received at `now` (both in
    /// milliseconds since the Unix epoch), and remembers it if it is accepted. First
    /// forgets the datagrams now out of the window.
    ///
    /// # Errors
    ///
    /// [`ReplayError::TooOld`] or [`ReplayError::TooNew`] beyond the window,
    /// [`ReplayError::Forgotten`] at or before the edge, [`ReplayError::Replayed`] for a
    /// datagram already accepted. Nothing is remembered of a refused datagram.
    pub fn check(
        &mut self,
        sent_at: u64,
        nonce: [u8; NONCE_LEN],
        now: u64,
    ) -> Result<(), ReplayError> {
        let lower = now.saturating_sub(self.window_ms);
        self.forget_before(lower);
        if sent_at < lower {
            return Err(ReplayError::TooOld {
                behind_ms: now.saturating_sub(sent_at),
                window_ms: self.window_ms,
            });
        }
        if sent_at > now.saturating_add(self.window_ms) {
            return Err(ReplayError::TooNew {
                ahead_ms: sent_at.saturating_sub(now),
                window_ms: self.window_ms,
            });
        }
        if let Some(edge) = self.edge.filter(|&edge| sent_at <= edge) {
            return Err(ReplayError::Forgotten { sent_at, edge });
        }
        let entry = (sent_at, nonce);
        let Err(mut index) = self.seen.binary_search(&entry) else {
            return Err(ReplayError::Replayed);
        };
        if self.seen.len() >= self.capacity {
            if index == 0 {
                // Full, and this is the oldest: accept it, and forget it at once.
                self.raise_edge(sent_at);
                return Ok(());
            }
            if let Some((oldest, _)) = self.seen.pop_front() {
                self.raise_edge(oldest);
                index = index.saturating_sub(1);
            }
        }
        if self.seen.len() == self.seen.capacity() {
            // Grow as a `VecDeque` would (doubling), but never beyond `capacity`.
            let room = self.capacity.saturating_sub(self.seen.len());
            self.seen.reserve_exact(self.seen.len().max(16).min(room));
        }
        self.seen.insert(index, entry);
        Ok(())
    }

    /// The window either side of the clock.
    pub fn window(&self) -> Duration {
        Duration::from_millis(self.window_ms)
    }

    /// Most datagrams remembered.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Datagrams remembered now.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether no datagram is remembered.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// The edge: the newest timestamp forgotten, at or before which every datagram is
    /// refused; `None` while nothing was forgotten.
    pub fn edge(&self) -> Option<u64> {
        self.edge
    }

    /// Forgets the datagrams sent before `lower`, raising the edge over them.
    fn forget_before(&mut self, lower: u64) {
        while let Some(&(oldest, _)) = self.seen.front() {
            if oldest >= lower {
                break;
            }
            self.seen.pop_front();
            self.raise_edge(oldest);
        }
    }

    fn raise_edge(&mut self, forgotten: u64) {
        self.edge = Some(self.edge.map_or(forgotten, |edge| edge.max(forgotten)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000_000;

    fn nonce(i: u64) -> [u8; NONCE_LEN] {
        let mut nonce = [0xEE; NONCE_LEN];
        nonce[..8].copy_from_slice(&i.to_le_bytes());
        nonce
    }

    fn small(capacity: usize) -> ReplayWindow {
        ReplayWindow::new(
            Duration::from_secs(30),
            NonZeroUsize::new(capacity).unwrap(),
        )
    }

    #[test]
    fn a_replay_is_refused_and_a_fresh_nonce_accepted() {
        let mut window = ReplayWindow::default();
        assert_eq!(window.check(NOW, nonce(1), NOW), Ok(()));
        assert_eq!(window.check(NOW, nonce(1), NOW), Err(ReplayError::Replayed));
        // Later, still within the window.
        assert_eq!(
            window.check(NOW, nonce(1), NOW + 29_000),
            Err(ReplayError::Replayed)
        );
        assert_eq!(window.check(NOW, nonce(2), NOW), Ok(()));
        // The same nonce at another time is another datagram (only a key holder can seal
        // one, and random nonces do not repeat).
        assert_eq!(window.check(NOW + 1, nonce(1), NOW), Ok(()));
        assert_eq!(window.len(), 3);
        assert!(ReplayError::Replayed.is_replay());
    }

    #[test]
    fn a_datagram_older_than_the_window_is_refused() {
        let mut window = ReplayWindow::default();
        assert_eq!(
            window.check(NOW - 30_000, nonce(1), NOW),
            Ok(()),
            "at the edge"
        );
        assert_eq!(
            window.check(NOW - 30_001, nonce(2), NOW),
            Err(ReplayError::TooOld {
                behind_ms: 30_001,
                window_ms: 30_000
            })
        );
        // Accepted once, then replayed after the window: stale, and forgotten.
        let mut window = ReplayWindow::default();
        assert_eq!(window.check(NOW, nonce(3), NOW), Ok(()));
        assert!(matches!(
            window.check(NOW, nonce(3), NOW + 30_001),
            Err(ReplayError::TooOld { .. })
        ));
        assert!(window.is_empty());
        assert_eq!(window.edge(), Some(NOW));
        assert!(
            !ReplayError::TooOld {
                behind_ms: 1,
                window_ms: 1
            }
            .is_replay()
        );
    }

    #[test]
    fn a_datagram_from_beyond_the_window_in_the_future_is_refused() {
        let mut window = ReplayWindow::default();
        assert_eq!(window.check(NOW + 30_000, nonce(1), NOW), Ok(()));
        assert_eq!(
            window.check(NOW + 30_001, nonce(2), NOW),
            Err(ReplayError::TooNew {
                ahead_ms: 30_001,
                window_ms: 30_000
            })
        );
        assert!(matches!(
            window.check(u64::MAX, nonce(3), NOW),
            Err(ReplayError::TooNew { .. })
        ));
        assert_eq!(window.len(), 1);
    }

    #[test]
    fn extreme_clocks_and_timestamps_do_not_panic() {
        let mut window = ReplayWindow::new(Duration::MAX, NonZeroUsize::MIN);
        for (sent_at, now) in [(0, 0), (u64::MAX, 0), (0, u64::MAX), (u64::MAX, u64::MAX)] {
            let _ = window.check(sent_at, nonce(sent_at), now);
        }
        assert!(window.len() <= 1);
        let mut window = small(2);
        for (sent_at, now) in [(0, 0), (u64::MAX, 0), (0, u64::MAX), (u64::MAX, u64::MAX)] {
            let _ = window.check(sent_at, nonce(1), now);
        }
    }

    #[test]
    fn the_bound_holds_under_a_flood_of_distinct_nonces() {
        let capacity = 1_000;
        let mut window = small(capacity);
        let mut accepted = 0;
        for i in 0..20_000u64 {
            // Timestamps spread over the window, out of order.
            let sent_at = NOW - 29_000 + (i * 7_919) % 58_000;
            if window.check(sent_at, nonce(i), NOW).is_ok() {
                accepted += 1;
            }
            assert!(window.len() <= capacity);
            assert!(
                window.seen.capacity() <= capacity,
                "allocated beyond the bound"
            );
        }
        assert_eq!(window.len(), capacity);
        assert!(accepted >= capacity);
        // The default bound: 65,536 entries of 32 bytes, 2 MiB.
        assert_eq!(
            DEFAULT_REPLAY_CAPACITY.get() * std::mem::size_of::<(u64, [u8; NONCE_LEN])>(),
            2 << 20
        );
    }

    #[test]
    fn the_default_window_holds_its_bound_under_a_flood() {
        let mut window = ReplayWindow::default();
        let capacity = window.capacity();
        for i in 0..(capacity as u64 + 10_000) {
            let _ = window.check(NOW - 20_000 + i % 40_000, nonce(i), NOW);
        }
        assert_eq!(window.len(), capacity);
        assert!(window.seen.capacity() <= capacity);
    }

    #[test]
    fn an_evicted_nonce_can_never_be_replayed() {
        let mut window = small(4);
        for i in 0..4 {
            assert_eq!(window.check(NOW + i, nonce(i), NOW), Ok(()));
        }
        // Full: the oldest (NOW, nonce 0) goes, and the edge moves up to it.
        assert_eq!(window.check(NOW + 10, nonce(10), NOW), Ok(()));
        assert_eq!(window.edge(), Some(NOW));
        assert_eq!(
            window.check(NOW, nonce(0), NOW),
            Err(ReplayError::Forgotten {
                sent_at: NOW,
                edge: NOW
            })
        );
        // Nor an unseen datagram sent at the edge or before: it might be one forgotten.
        assert!(window.check(NOW, nonce(99), NOW).is_err());
        assert!(window.check(NOW - 5, nonce(98), NOW).is_err());
        // Every remembered one is still a replay.
        for i in [1, 2, 3, 10] {
            assert_eq!(
                window.check(NOW + i, nonce(i), NOW),
                Err(ReplayError::Replayed)
            );
        }
        // A new datagram older than all remembered, when full: accepted, and forgotten at
        // once behind the edge.
        assert_eq!(window.check(NOW + 1, nonce(0), NOW), Ok(()));
        assert_eq!(window.edge(), Some(NOW + 1));
        assert!(window.check(NOW + 1, nonce(0), NOW).is_err());
    }

    #[test]
    fn a_datagram_forgotten_with_time_stays_refused_if_the_clock_steps_back() {
        let mut window = ReplayWindow::default();
        assert_eq!(window.check(NOW, nonce(1), NOW), Ok(()));
        // The clock moves on: it is forgotten.
        assert!(window.check(NOW + 31_000, nonce(2), NOW + 31_000).is_ok());
        assert_eq!(window.len(), 1);
        // The clock steps back 20 s: the datagram is inside the window again, but behind
        // the edge.
        assert_eq!(
            window.check(NOW, nonce(1), NOW + 11_000),
            Err(ReplayError::Forgotten {
                sent_at: NOW,
                edge: NOW
            })
        );
    }
}
