//! Which peers have proven that they hold the address they speak from.
//!
//! A UDP source address is not checked by anyone: a forged Syn or SynAck would otherwise
//! draw a full packet onto whatever address it names, a reflection many times the forger's
//! own traffic. So a node answers an address with at most three times the bytes it
//! received from it (QUIC's anti-amplification rule), until the address proves itself: a
//! member whose advertised address a Syn comes from is sent a small probe there, and an
//! answer carrying the probe's random sequence shows that the address's holder received
//! it. From then on that incarnation's address gets full answers. The proof is kept in the
//! member's entry ([`crate::state::NodeState::prove_address`]), so a restart at a new
//! address must prove itself anew.
//!
//! Pending proofs are few and short-lived: at most [`MAX_PENDING`], each for a few probe
//! timeouts, one per address; an answer from another address, or too late, proves nothing.
//!
//! A SynAck from an address this node just sent a Syn to was asked for: the Ack it draws
//! goes to a peer (or seed) of this node's own choosing, as much as a round sends anyway,
//! so it is not held to the limit.
//!
//! A roster owed: an answer to an unproven address that left out never-seen nodes (a
//! joiner meeting this node for the first time, the common case while a large cluster
//! forms) asks for proof and keeps their names with the pending probe; the proof's answer
//! releases them as a roster stream, one round trip later. The answer may come before
//! the prover's entry does (its own delta is still on its way): the proof is then kept,
//! with what is owed, until the entry arrives.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use leviathan_gossip_wire::NodeName;

/// How many times a reply may outweigh the datagram that asked for it, until its address
/// is proven: a forged source address draws at most this much traffic onto its victim.
pub(crate) const AMPLIFICATION_LIMIT: usize = 3;

/// Proof probes awaiting an answer, at most: a burst of Syns from unproven addresses
/// (a cluster forming) asks for no more, and the rest ask again at their next Syn.
const MAX_PENDING: usize = 64;

/// Probe timeouts a proof probe may wait for its answer.
const WAIT_TIMEOUTS: u32 = 4;

/// Syn destinations remembered, at most: a few rounds' fanout.
const MAX_SOLICITED: usize = 64;

/// Names of never-seen nodes owed to a peer once its address is proven, at most.
pub(crate) const MAX_OWED: usize = 512;

/// Never-seen nodes a SynAck to an unproven address left out, to stream once it is
/// proven.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OwedRoster {
    /// The nodes, at most [`MAX_OWED`].
    pub(crate) names: Vec<NodeName>,
}

#[derive(Debug, Clone)]
struct Pending {
    sequence: u64,
    name: NodeName,
    address: SocketAddr,
    until: Instant,
    owed: Option<OwedRoster>,
}

/// A proof whose answer came before the prover's entry: applied when the entry arrives.
#[derive(Debug, Clone)]
struct Early {
    name: NodeName,
    address: SocketAddr,
    until: Instant,
    owed: Option<OwedRoster>,
}

/// The proof probes this node awaits answers to, and the addresses it sent Syns to lately.
#[derive(Debug, Clone, Default)]
pub(crate) struct AddressProofs {
    pending: VecDeque<Pending>,
    /// Proofs answered before their prover's entry arrived; at most [`MAX_PENDING`].
    early: VecDeque<Early>,
    /// Syn destinations, and until when their SynAcks count as asked for; oldest first.
    solicited: VecDeque<(SocketAddr, Instant)>,
}

impl AddressProofs {
    /// Whether a proof probe with `sequence` should go to `name` at `address`: not when one
    /// to that address is already awaited, nor when [`MAX_PENDING`] are. Records it if so.
    pub(crate) fn ask(
        &mut self,
        name: &NodeName,
        address: SocketAddr,
        sequence: u64,
        probe_timeout: Duration,
        now: Instant,
    ) -> bool {
        self.pending.retain(|pending| pending.until > now);
        if self.pending.len() >= MAX_PENDING
            || self
                .pending
                .iter()
                .any(|pending| pending.address == address)
        {
            return false;
        }
        self.pending.push_back(Pending {
            sequence,
            name: name.clone(),
            address,
            until: now + probe_timeout * WAIT_TIMEOUTS,
            owed: None,
        });
        true
    }

    /// Whether a proof of `address` is awaited.
    pub(crate) fn is_pending(&self, address: SocketAddr, now: Instant) -> bool {
        self.pending
            .iter()
            .any(|pending| pending.address == address && pending.until > now)
    }

    /// Keeps `owed` with the proof awaited for `address` (replacing what was owed), to be
    /// streamed once it is proven. Nothing is kept without a proof awaited.
    pub(crate) fn owe(&mut self, address: SocketAddr, mut owed: OwedRoster) {
        owed.names.truncate(MAX_OWED);
        if let Some(pending) = self
            .pending
            .iter_mut()
            .find(|pending| pending.address == address)
        {
            pending.owed = Some(owed);
        }
    }

    /// An answer with `sequence` came from `from`: the member whose address it proves and
    /// what is owed to it, if it answers a proof probe sent to that address that is still
    /// awaited.
    pub(crate) fn answered(
        &mut self,
        sequence: u64,
        from: SocketAddr,
        now: Instant,
    ) -> Option<(NodeName, Option<OwedRoster>)> {
        let at = self
            .pending
            .iter()
            .position(|pending| pending.sequence == sequence)?;
        let pending = self.pending.remove(at)?;
        (pending.address == from && pending.until > now).then_some((pending.name, pending.owed))
    }

    /// A proof of `name` at `address` answered before `name`'s entry at that address
    /// arrived: kept (with what is owed) for a few probe timeouts.
    pub(crate) fn proven_early(
        &mut self,
        name: NodeName,
        address: SocketAddr,
        owed: Option<OwedRoster>,
        probe_timeout: Duration,
        now: Instant,
    ) {
        self.early
            .retain(|early| early.until > now && early.address != address);
        if self.early.len() >= MAX_PENDING {
            self.early.pop_front();
        }
        self.early.push_back(Early {
            name,
            address,
            until: now + probe_timeout * WAIT_TIMEOUTS,
            owed,
        });
    }

    /// The early proof of `name` at `address`, if one is kept: taken, with what is owed.
    pub(crate) fn take_early(
        &mut self,
        name: &NodeName,
        address: SocketAddr,
        now: Instant,
    ) -> Option<Option<OwedRoster>> {
        let at = self.early.iter().position(|early| {
            early.name == *name && early.address == address && early.until > now
        })?;
        self.early.remove(at).map(|early| early.owed)
    }

    /// A Syn went to `address`: its SynAck is asked for until `until`.
    pub(crate) fn syn_sent(&mut self, address: SocketAddr, until: Instant) {
        self.solicited.retain(|(earlier, _)| *earlier != address);
        if self.solicited.len() >= MAX_SOLICITED {
            self.solicited.pop_front();
        }
        self.solicited.push_back((address, until));
    }

    /// Whether a SynAck from `from` answers a Syn this node sent there lately.
    pub(crate) fn is_solicited(&self, from: SocketAddr, now: Instant) -> bool {
        self.solicited
            .iter()
            .any(|(address, until)| *address == from && *until > now)
    }

    /// Whether `sequence` is that of an awaited proof probe (its answer is not a monitor's).
    pub(crate) fn awaits(&self, sequence: u64) -> bool {
        self.pending
            .iter()
            .any(|pending| pending.sequence == sequence)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn name(n: &str) -> NodeName {
        NodeName::new(n).unwrap()
    }

    const TIMEOUT: Duration = Duration::from_millis(500);

    #[test]
    fn only_the_awaited_answer_from_the_probed_address_in_time_proves_it() {
        let now = Instant::now();
        let a: SocketAddr = "10.0.0.1:1".parse().unwrap();
        let b: SocketAddr = "10.0.0.2:1".parse().unwrap();
        let mut proofs = AddressProofs::default();
        assert!(proofs.ask(&name("m"), a, 7, TIMEOUT, now));
        assert!(
            !proofs.ask(&name("m"), a, 8, TIMEOUT, now),
            "one per address"
        );
        assert_eq!(proofs.answered(9, a, now), None, "unknown sequence");
        assert_eq!(proofs.answered(7, b, now), None, "from elsewhere");
        // The forged answer used the probe up: the member asks again.
        assert!(proofs.ask(&name("m"), a, 10, TIMEOUT, now));
        let late = now + TIMEOUT * WAIT_TIMEOUTS;
        assert_eq!(proofs.answered(10, a, late), None, "too late");
        assert!(proofs.ask(&name("m"), a, 11, TIMEOUT, now));
        assert_eq!(proofs.answered(11, a, now), Some((name("m"), None)));
    }

    #[test]
    fn a_synack_is_asked_for_only_from_a_recent_syn_destination() {
        let now = Instant::now();
        let later = now + Duration::from_secs(2);
        let mut proofs = AddressProofs::default();
        let peer = SocketAddr::from(([10, 0, 0, 1], 1));
        proofs.syn_sent(peer, later);
        assert!(proofs.is_solicited(peer, now));
        assert!(!proofs.is_solicited(SocketAddr::from(([10, 0, 0, 2], 1)), now));
        assert!(!proofs.is_solicited(peer, later));
        for port in 2..=MAX_SOLICITED as u16 + 1 {
            proofs.syn_sent(SocketAddr::from(([10, 0, 0, 1], port)), later);
        }
        assert!(!proofs.is_solicited(peer, now), "the oldest made room");
        assert_eq!(proofs.solicited.len(), MAX_SOLICITED);
    }

    #[test]
    fn pending_proofs_are_bounded() {
        let now = Instant::now();
        let mut proofs = AddressProofs::default();
        let asked = (0..200u16)
            .filter(|i| {
                let address = SocketAddr::from(([10, 0, 0, 1], *i + 1));
                proofs.ask(&name("m"), address, u64::from(*i), TIMEOUT, now)
            })
            .count();
        assert_eq!(asked, MAX_PENDING);
        // Lapsed ones make room.
        let address = SocketAddr::from(([10, 0, 0, 2], 1));
        assert!(proofs.ask(
            &name("m"),
            address,
            999,
            TIMEOUT,
            now + TIMEOUT * WAIT_TIMEOUTS
        ));
    }

    #[test]
    fn what_is_owed_follows_the_proof_and_an_early_proof_waits_for_its_entry() {
        let now = Instant::now();
        let a: SocketAddr = "10.0.0.1:1".parse().unwrap();
        let mut proofs = AddressProofs::default();
        let owed = OwedRoster {
            names: (0..MAX_OWED + 10).map(|i| name(&format!("n{i}"))).collect(),
        };
        // Nothing is owed without a proof awaited.
        proofs.owe(a, owed.clone());
        assert!(proofs.ask(&name("m"), a, 7, TIMEOUT, now));
        assert!(proofs.is_pending(a, now));
        proofs.owe(a, owed);
        let (prover, owed) = proofs.answered(7, a, now).unwrap();
        let owed = owed.unwrap();
        assert_eq!(owed.names.len(), MAX_OWED, "bounded");
        assert!(!proofs.is_pending(a, now));
        // The prover's entry is not there yet: the proof waits for it, at that address only.
        proofs.proven_early(prover.clone(), a, Some(owed.clone()), TIMEOUT, now);
        let b: SocketAddr = "10.0.0.2:1".parse().unwrap();
        assert_eq!(proofs.take_early(&prover, b, now), None);
        assert_eq!(proofs.take_early(&prover, a, now), Some(Some(owed)));
        assert_eq!(proofs.take_early(&prover, a, now), None, "taken once");
        proofs.proven_early(prover.clone(), a, None, TIMEOUT, now);
        assert_eq!(
            proofs.take_early(&prover, a, now + TIMEOUT * WAIT_TIMEOUTS),
            None,
            "lapsed"
        );
    }
}
