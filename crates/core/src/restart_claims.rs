//! Restarts of live members, confirmed by the member before they are believed.
//!
//! Only a node itself takes a new generation, so the news that a member restarted can be
//! a forgery: believed, it makes a peer drop the member's state and report a restart, and
//! the member, hearing the claim, re-asserts itself under a generation above it, which
//! peers take for one more restart. A forger repeating the claim every few seconds kept
//! the whole cluster reporting restarts of a healthy node for as long as it liked.
//!
//! So a newer generation of a member this node holds for live, told by anyone, is held
//! until the member says so itself: a probe goes to the address the claim gives, and its
//! answer (carrying the probe's random sequence, from that address) names the generation
//! its sender runs in its header. The claimed generation is taken only if that is the
//! one the answer names; a lower one refutes the claim, and no answer lets it lapse. A
//! member that is suspect, dead or gone gets no probe: its restart is believed at once,
//! as before, since a node that crashed and came back is the common case there.
//!
//! Held claims are few and short-lived: at most [`MAX_PENDING`], one per member and
//! address, each for a few probe timeouts. A claim about a member already awaited at that
//! address is dropped; gossip brings it again if it is true. One per address, not per
//! member: a forger's claims at an address where nothing answers cannot keep the slot that
//! the member's true restart needs.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use leviathan_gossip_wire::{Generation, NodeDelta, NodeName};

/// Claims awaiting their member's word, at most.
const MAX_PENDING: usize = 64;

/// Probe timeouts a confirmation may wait for its answer.
const WAIT_TIMEOUTS: u32 = 4;

/// What a probe's answer makes of the claim it was sent to confirm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Confirmation {
    /// The member runs the claimed generation: the claim's delta, to adopt.
    Confirmed(Box<NodeDelta>),
    /// The member runs an older generation than claimed: the claim was false.
    Refuted,
    /// The member runs a newer generation than claimed: this claim is outdated, and
    /// gossip will bring the newer one.
    Outdated,
}

#[derive(Debug, Clone)]
struct Pending {
    sequence: u64,
    delta: NodeDelta,
    until: Instant,
}

/// Newer generations of live members, each held until its member confirms it.
#[derive(Debug, Clone, Default)]
pub(crate) struct RestartClaims {
    pending: VecDeque<Pending>,
}

impl RestartClaims {
    /// Whether a confirmation probe with `sequence` should go to the address `delta`
    /// gives: not when one for that member at that address is awaited, nor when
    /// [`MAX_PENDING`] are.
    /// Holds the delta if so.
    pub(crate) fn ask(
        &mut self,
        delta: &NodeDelta,
        sequence: u64,
        probe_timeout: Duration,
        now: Instant,
    ) -> bool {
        self.pending.retain(|pending| pending.until > now);
        if self.pending.len() >= MAX_PENDING
            || self.pending.iter().any(|pending| {
                pending.delta.node.name == delta.node.name
                    && pending.delta.node.address == delta.node.address
            })
        {
            return false;
        }
        self.pending.push_back(Pending {
            sequence,
            delta: delta.clone(),
            until: now + probe_timeout * WAIT_TIMEOUTS,
        });
        true
    }

    /// Whether `sequence` is that of an awaited confirmation probe.
    pub(crate) fn awaits(&self, sequence: u64) -> bool {
        self.pending
            .iter()
            .any(|pending| pending.sequence == sequence)
    }

    /// An answer with `sequence` came from `from`, sent by `sender` running `generation`:
    /// what it makes of the claim it confirms, if it answers a probe still awaited, from
    /// the address probed, by the member claimed. Any other answer proves nothing, and
    /// uses the probe up.
    pub(crate) fn answered(
        &mut self,
        sequence: u64,
        from: SocketAddr,
        sender: &NodeName,
        generation: Generation,
        now: Instant,
    ) -> Option<Confirmation> {
        let at = self
            .pending
            .iter()
            .position(|pending| pending.sequence == sequence)?;
        let pending = self.pending.remove(at)?;
        let claim = &pending.delta.node;
        if claim.address != from || claim.name != *sender || pending.until <= now {
            return None;
        }
        Some(match generation.cmp(&claim.generation) {
            std::cmp::Ordering::Equal => Confirmation::Confirmed(Box::new(pending.delta)),
            std::cmp::Ordering::Less => Confirmation::Refuted,
            std::cmp::Ordering::Greater => Confirmation::Outdated,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use leviathan_gossip_wire::{Incarnation, NodeId, NodeStatus, Version};

    use super::*;

    const TIMEOUT: Duration = Duration::from_millis(500);

    fn claim(name: &str, generation: u64) -> NodeDelta {
        NodeDelta {
            node: NodeId {
                name: NodeName::new(name).unwrap(),
                address: "10.0.0.1:1".parse().unwrap(),
                generation: Generation(generation),
            },
            incarnation: Incarnation(0),
            status: NodeStatus::Alive,
            gc_watermark: Version(0),
            from_version: Version(0),
            to_version: Version(0),
            complete: true,
            records: Vec::new(),
        }
    }

    #[test]
    fn only_the_member_answering_from_the_claimed_address_in_time_decides() {
        let now = Instant::now();
        let m = NodeName::new("m").unwrap();
        let there: SocketAddr = "10.0.0.1:1".parse().unwrap();
        let elsewhere: SocketAddr = "10.0.0.2:1".parse().unwrap();
        let mut claims = RestartClaims::default();
        assert!(claims.ask(&claim("m", 5), 7, TIMEOUT, now));
        assert!(
            !claims.ask(&claim("m", 6), 8, TIMEOUT, now),
            "one per member and address"
        );
        let mut moved = claim("m", 6);
        moved.node.address = elsewhere;
        assert!(claims.ask(&moved, 20, TIMEOUT, now), "another address");
        assert!(claims.awaits(7));
        assert_eq!(claims.answered(9, there, &m, Generation(5), now), None);
        assert_eq!(
            claims.answered(7, elsewhere, &m, Generation(5), now),
            None,
            "from another address"
        );
        assert!(!claims.awaits(7), "a wrong answer uses the probe up");

        assert!(claims.ask(&claim("m", 5), 10, TIMEOUT, now));
        let other = NodeName::new("other").unwrap();
        assert_eq!(claims.answered(10, there, &other, Generation(5), now), None);

        assert!(claims.ask(&claim("m", 5), 11, TIMEOUT, now));
        let late = now + TIMEOUT * WAIT_TIMEOUTS;
        assert_eq!(claims.answered(11, there, &m, Generation(5), late), None);

        for (sequence, runs, expected) in [
            (12, 4, Confirmation::Refuted),
            (13, 6, Confirmation::Outdated),
            (14, 5, Confirmation::Confirmed(Box::new(claim("m", 5)))),
        ] {
            assert!(claims.ask(&claim("m", 5), sequence, TIMEOUT, now));
            assert_eq!(
                claims.answered(sequence, there, &m, Generation(runs), now),
                Some(expected)
            );
        }
        assert_eq!(claims.pending.len(), 1, "the other address's claim waits");
    }

    #[test]
    fn held_claims_are_bounded_and_lapse() {
        let now = Instant::now();
        let mut claims = RestartClaims::default();
        let asked = (0..200u64)
            .filter(|i| claims.ask(&claim(&format!("n{i}"), 5), *i, TIMEOUT, now))
            .count();
        assert_eq!(asked, MAX_PENDING);
        assert!(claims.ask(
            &claim("late", 5),
            999,
            TIMEOUT,
            now + TIMEOUT * WAIT_TIMEOUTS
        ));
        assert_eq!(claims.pending.len(), 1, "the lapsed made room");
    }
}
