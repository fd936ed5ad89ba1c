//! Another live process under this node's name.
//!
//! A peer's claim of a newer generation of this node's name is forged, a stale leftover,
//! or another live process started under the same name: a misconfiguration, or a pod
//! rescheduled while the old one still runs. The first two are refuted by re-asserting
//! under a newer generation. Doing that to a live duplicate starts a fight that never
//! ends: each takes a generation above the other's, and every peer reports a restart each
//! time. So before refuting a claim that puts the name at another address, the node
//! probes that address as itself. An answer from a process under its name there is a live
//! duplicate: reported (an event, a warning, a counter) and left alone, the peers following
//! the newer generation as they would a restart. No answer within a few probe timeouts,
//! and the claim is refuted as before.
//!
//! The process probed learns of the other from the probe, a datagram under its own name
//! from another address, and reports it too. Reports are rate-limited: a forger varying
//! addresses and generations gets at most one report per [`REPORT_INTERVAL`].

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use leviathan_gossip_wire::Generation;

/// Probe timeouts a duplicate check waits for its answer.
const WAIT_TIMEOUTS: u32 = 4;

/// Shortest time between two reports of a duplicate.
pub(crate) const REPORT_INTERVAL: Duration = Duration::from_secs(60);

/// A probe sent, as this node, to the address a newer incarnation of its name advertises.
#[derive(Debug, Clone, Copy)]
struct Check {
    address: SocketAddr,
    sequence: u64,
    until: Instant,
}

/// Another process under this node's name, as confirmed by its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duplicate {
    /// Where it answered.
    pub address: SocketAddr,
    /// The generation it answered under.
    pub generation: Generation,
}

/// What to do about a claim of a newer generation of this node's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Wait: a check is under way, or a live duplicate explains the claim.
    Wait,
    /// Probe `address` as this node (a check starts).
    Probe,
    /// Refute the claim: no live duplicate answered.
    Refute,
}

/// The duplicate check under way, and the duplicate last confirmed.
#[derive(Debug, Clone, Default)]
pub(crate) struct Duplicates {
    check: Option<Check>,
    /// The duplicate confirmed, until when it explains claims without a new check.
    confirmed: Option<(Duplicate, Instant)>,
    /// When a duplicate was last reported.
    reported: Option<Instant>,
}

impl Duplicates {
    /// What to do about a claim that this node's name is at `address` (`None`: the claim
    /// does not say) under `generation`, newer than this node's.
    pub(crate) fn judge(
        &mut self,
        address: Option<SocketAddr>,
        generation: Generation,
        now: Instant,
    ) -> Verdict {
        if let Some((duplicate, until)) = self.confirmed
            && until > now
            && generation <= duplicate.generation
        {
            return Verdict::Wait;
        }
        match self.check {
            Some(check) if check.until > now => Verdict::Wait,
            // Unanswered: refute, and probe afresh should the claim come back.
            Some(_) => {
                self.check = None;
                Verdict::Refute
            }
            None if address.is_some() => Verdict::Probe,
            None => Verdict::Refute,
        }
    }

    /// A probe with `sequence` went to `address` for a check.
    pub(crate) fn probing(
        &mut self,
        address: SocketAddr,
        sequence: u64,
        probe_timeout: Duration,
        now: Instant,
    ) {
        self.check = Some(Check {
            address,
            sequence,
            until: now + probe_timeout * WAIT_TIMEOUTS,
        });
    }

    /// An answer with `sequence` came from `from`, a process under this node's name at
    /// `generation`: the duplicate, if it answers the check under way.
    pub(crate) fn answered(
        &mut self,
        sequence: u64,
        from: SocketAddr,
        generation: Generation,
        valid_for: Duration,
        now: Instant,
    ) -> Option<Duplicate> {
        let check = self.check?;
        if check.sequence != sequence || check.address != from || check.until <= now {
            return None;
        }
        self.check = None;
        let duplicate = Duplicate {
            address: from,
            generation,
        };
        self.confirmed = Some((duplicate, now + valid_for));
        Some(duplicate)
    }

    /// Whether a duplicate seen now should be reported (one report per
    /// [`REPORT_INTERVAL`]); records the report if so.
    pub(crate) fn report(&mut self, now: Instant) -> bool {
        if self
            .reported
            .is_some_and(|last| now.saturating_duration_since(last) < REPORT_INTERVAL)
        {
            return false;
        }
        self.reported = Some(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: Duration = Duration::from_millis(500);

    fn address(port: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 2], port))
    }

    #[test]
    fn a_claim_with_an_address_is_checked_before_it_is_refuted() {
        let now = Instant::now();
        let mut duplicates = Duplicates::default();
        let claim = Generation(9);
        assert_eq!(
            duplicates.judge(Some(address(1)), claim, now),
            Verdict::Probe
        );
        duplicates.probing(address(1), 7, TIMEOUT, now);
        assert_eq!(
            duplicates.judge(Some(address(1)), claim, now),
            Verdict::Wait
        );
        // Unanswered after the wait: refuted, once.
        let later = now + TIMEOUT * WAIT_TIMEOUTS;
        assert_eq!(
            duplicates.judge(Some(address(1)), claim, later),
            Verdict::Refute
        );
        assert_eq!(
            duplicates.judge(Some(address(1)), claim, later),
            Verdict::Probe
        );
        // A claim without an address is refuted at once.
        assert_eq!(
            Duplicates::default().judge(None, claim, now),
            Verdict::Refute
        );
    }

    #[test]
    fn an_answer_from_the_address_probed_confirms_a_duplicate_for_a_while() {
        let now = Instant::now();
        let mut duplicates = Duplicates::default();
        duplicates.probing(address(1), 7, TIMEOUT, now);
        let valid = Duration::from_secs(10);
        // Another address or sequence proves nothing.
        assert_eq!(
            duplicates.answered(7, address(2), Generation(9), valid, now),
            None
        );
        assert_eq!(
            duplicates.answered(8, address(1), Generation(9), valid, now),
            None
        );
        let duplicate = duplicates.answered(7, address(1), Generation(9), valid, now);
        assert_eq!(
            duplicate,
            Some(Duplicate {
                address: address(1),
                generation: Generation(9),
            })
        );
        // Claims of that generation or older wait; a newer one, or after the while, asks again.
        assert_eq!(duplicates.judge(None, Generation(9), now), Verdict::Wait);
        assert_eq!(
            duplicates.judge(Some(address(1)), Generation(10), now),
            Verdict::Probe
        );
        assert_eq!(
            duplicates.judge(Some(address(1)), Generation(9), now + valid),
            Verdict::Probe
        );
    }

    #[test]
    fn reports_are_rate_limited() {
        let now = Instant::now();
        let mut duplicates = Duplicates::default();
        assert!(duplicates.report(now));
        assert!(!duplicates.report(now + REPORT_INTERVAL / 2));
        assert!(duplicates.report(now + REPORT_INTERVAL));
    }
}
