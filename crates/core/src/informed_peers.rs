//! The peers that know the most nodes, for a node that knows far fewer to call.
//!
//! Every Syn carries the fingerprint of its sender's whole digest, so its node count: how
//! many nodes the sender knows. A node that knows clearly fewer than a peer it heard from
//! lately (a joiner, or every node while a large cluster forms) adds one such peer to its
//! round's targets: its exchanges with peers that know as little as itself bring few
//! never-seen nodes, while one with a well-informed peer brings a roster stream. Only live
//! members speaking from their advertised address are remembered (the caller's check), so
//! a forged count draws Syns only onto a member's own address.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::Rng;
use rand::seq::IndexedRandom;

/// Peers remembered, at most: the best informed.
const KEPT: usize = 8;

/// Gossip intervals a peer's count is remembered after its last Syn.
pub(crate) const KEEP_INTERVALS: u32 = 10;

/// A node calls an informed peer while it knows less than this share of the nodes that
/// peer knows.
const BEHIND: f64 = 0.9;

#[derive(Debug, Clone, Copy)]
struct Informed {
    address: SocketAddr,
    count: u64,
    until: Instant,
}

/// The best informed peers heard from lately.
#[derive(Debug, Clone, Default)]
pub(crate) struct InformedPeers {
    peers: Vec<Informed>,
}

impl InformedPeers {
    /// The member at `address` knows `count` nodes (its Syn says), heard at `now`; it is
    /// remembered for `keep` if it is among the best informed.
    pub(crate) fn heard(&mut self, address: SocketAddr, count: u64, keep: Duration, now: Instant) {
        self.peers
            .retain(|peer| peer.until > now && peer.address != address);
        self.peers.push(Informed {
            address,
            count,
            until: now + keep,
        });
        self.peers.sort_by_key(|peer| std::cmp::Reverse(peer.count));
        self.peers.truncate(KEPT);
    }

    /// A peer to call this round, for a node that knows `known` nodes: one of the best
    /// informed, if it knows clearly more.
    pub(crate) fn to_call(
        &self,
        known: usize,
        now: Instant,
        rng: &mut impl Rng,
    ) -> Option<SocketAddr> {
        let ahead: Vec<&Informed> = self
            .peers
            .iter()
            .filter(|peer| peer.until > now && (known as f64) < BEHIND * peer.count as f64)
            .collect();
        ahead.choose(rng).map(|peer| peer.address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn address(port: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 1], port))
    }

    #[test]
    fn a_node_far_behind_calls_one_of_the_best_informed_and_one_caught_up_does_not() {
        let now = Instant::now();
        let keep = Duration::from_secs(10);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut informed = InformedPeers::default();
        for port in 0..20u16 {
            informed.heard(address(port), u64::from(port) * 100, keep, now);
        }
        assert_eq!(informed.peers.len(), KEPT);
        // The best informed know 1,200 to 1,900 nodes.
        for _ in 0..50 {
            let called = informed.to_call(500, now, &mut rng).unwrap();
            assert!(called.port() >= 12, "{called}");
        }
        // Knowing 1,800 nodes, only a peer knowing more than 2,000 would do: none.
        assert_eq!(informed.to_call(1_800, now, &mut rng), None);
        // Forgotten after a while.
        assert_eq!(informed.to_call(0, now + keep, &mut rng), None);
        // A peer heard again is kept once, with its latest count.
        informed.heard(address(19), 50, keep, now);
        let counts: Vec<u64> = informed
            .peers
            .iter()
            .filter(|p| p.address == address(19))
            .map(|p| p.count)
            .collect();
        assert_eq!(counts, [50]);
    }
}
