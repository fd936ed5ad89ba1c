//! Choosing whom to gossip with each round (Cassandra's rules, with a configurable fanout).
//!
//! 1. `fanout` distinct live peers, uniformly at random.
//! 2. With probability `unreachable / (live + 1)`, one random suspect or dead peer, so a
//!    healed partition or a recovered node is found again without waiting for it to call.
//! 3. If no seed was chosen so far, or there are fewer live peers than seeds, with
//!    probability `seeds / (live + unreachable + 1)` one random seed, so separately
//!    started groups merge; with no live peer at all this probability is 1.
//!
//! Peers are drawn by rank, and only the ranks drawn are looked up ([`Roster`]): a node
//! knowing 10,000 peers does not copy 10,000 addresses every round to use three.

use std::net::SocketAddr;

use rand::Rng;
use rand::seq::{IndexedRandom, index};

use leviathan_gossip_wire::NodeName;

use crate::health_table::HealthTable;
use crate::state::{ClusterState, NodeState};

/// The peers a round draws from, in a fixed order: how many are live and how many
/// unreachable (suspect or dead), and the addresses at given ranks among each.
pub trait Roster {
    /// Number of live peers.
    fn live_count(&self) -> usize;

    /// Number of suspect and dead peers.
    fn unreachable_count(&self) -> usize;

    /// The addresses of the live peers at `live_ranks` (distinct, each below
    /// [`Self::live_count`]; in that order), and of the unreachable peer at
    /// `unreachable_rank`.
    fn addresses(
        &self,
        live_ranks: &[usize],
        unreachable_rank: Option<usize>,
    ) -> (Vec<SocketAddr>, Option<SocketAddr>);
}

/// A roster of address lists: the simplest roster, for tests of the selection rules.
#[cfg(test)]
#[derive(Debug, Default)]
pub struct Lists<'a> {
    /// Addresses of live peers.
    pub live: &'a [SocketAddr],
    /// Addresses of suspect and dead peers.
    pub unreachable: &'a [SocketAddr],
}

#[cfg(test)]
impl Roster for Lists<'_> {
    fn live_count(&self) -> usize {
        self.live.len()
    }

    fn unreachable_count(&self) -> usize {
        self.unreachable.len()
    }

    fn addresses(
        &self,
        live_ranks: &[usize],
        unreachable_rank: Option<usize>,
    ) -> (Vec<SocketAddr>, Option<SocketAddr>) {
        let live = live_ranks
            .iter()
            .filter_map(|rank| self.live.get(*rank).copied())
            .collect();
        let unreachable = unreachable_rank.and_then(|rank| self.unreachable.get(rank).copied());
        (live, unreachable)
    }
}

/// A node's peers as a roster: ranks in the order of its health table, found by walking
/// the table only as far as the highest rank drawn; addresses from the peers' entries.
pub(crate) struct PeerRoster<'a> {
    pub(crate) state: &'a ClusterState,
    pub(crate) health: &'a HealthTable,
}

impl Roster for PeerRoster<'_> {
    fn live_count(&self) -> usize {
        self.health.census().live
    }

    fn unreachable_count(&self) -> usize {
        self.health.census().unreachable
    }

    fn addresses(
        &self,
        live_ranks: &[usize],
        unreachable_rank: Option<usize>,
    ) -> (Vec<SocketAddr>, Option<SocketAddr>) {
        let address = |name: &NodeName| self.state.get(name).map(NodeState::address);
        let (live, unreachable) = self.health.at_ranks(live_ranks, unreachable_rank);
        (
            live.into_iter().filter_map(address).collect(),
            unreachable.and_then(address),
        )
    }
}

/// Picks this round's targets among `peers` and `seeds` (this node's own address
/// excluded), each at most once.
pub fn select_targets(
    peers: &impl Roster,
    seeds: &[SocketAddr],
    fanout: usize,
    rng: &mut impl Rng,
) -> Vec<SocketAddr> {
    let live = peers.live_count();
    let unreachable = peers.unreachable_count();
    let live_ranks = index::sample(rng, live, fanout.min(live)).into_vec();
    let unreachable_rank = (unreachable > 0 && rng.random_bool(ratio(unreachable, live + 1)))
        .then(|| rng.random_range(..unreachable));
    let (mut targets, extra) = peers.addresses(&live_ranks, unreachable_rank);
    if let Some(address) = extra {
        push_new(&mut targets, address);
    }
    let seed_chosen = targets.iter().any(|t| seeds.contains(t));
    if !seeds.is_empty()
        && (!seed_chosen || live < seeds.len())
        && (live == 0 || rng.random_bool(ratio(seeds.len(), live + unreachable + 1)))
        && let Some(seed) = seeds.choose(rng)
    {
        push_new(&mut targets, *seed);
    }
    targets
}

fn ratio(numerator: usize, denominator: usize) -> f64 {
    (numerator as f64 / denominator.max(1) as f64).min(1.0)
}

fn push_new(targets: &mut Vec<SocketAddr>, address: SocketAddr) {
    if !targets.contains(&address) {
        targets.push(address);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn addresses(range: std::ops::Range<u16>) -> Vec<SocketAddr> {
        range
            .map(|port| SocketAddr::from(([127, 0, 0, 1], port)))
            .collect()
    }

    #[test]
    fn a_lonely_node_always_calls_a_seed() {
        let seeds = addresses(1..3);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for _ in 0..100 {
            let targets = select_targets(&Lists::default(), &seeds, 3, &mut rng);
            assert_eq!(targets.len(), 1);
            assert!(seeds.contains(&targets[0]));
        }
    }

    #[test]
    fn fanout_live_peers_are_distinct_and_unreachable_are_visited_sometimes() {
        let live = addresses(10..30);
        let unreachable = addresses(100..105);
        let peers = Lists {
            live: &live,
            unreachable: &unreachable,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let mut visits = 0;
        for _ in 0..2000 {
            let targets = select_targets(&peers, &[], 3, &mut rng);
            let live_targets: Vec<_> = targets.iter().filter(|t| live.contains(t)).collect();
            assert_eq!(live_targets.len(), 3);
            let mut unique = targets.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), targets.len());
            visits += targets.iter().filter(|t| unreachable.contains(t)).count();
        }
        // Expected 5/21 per round.
        assert!((300..650).contains(&visits), "{visits} visits");
    }

    #[test]
    fn a_node_finds_the_addresses_of_the_peers_at_the_drawn_ranks() {
        use crate::member::{Health, MemberState};
        use leviathan_gossip_wire::{Generation, Incarnation, NodeId};

        let peers = [
            ("a", MemberState::Live),
            ("b", MemberState::Suspect),
            ("c", MemberState::Live),
            ("d", MemberState::Left),
            ("e", MemberState::Dead),
            ("f", MemberState::Live),
        ];
        let mut state = ClusterState::default();
        let mut health = HealthTable::default();
        for (port, (name, member)) in (1..).zip(peers) {
            let id = NodeId {
                name: NodeName::new(name).unwrap(),
                address: SocketAddr::from(([127, 0, 0, 1], port)),
                generation: Generation(1),
            };
            let mut node = NodeState::new(id.clone(), Incarnation(1));
            let slot = health.track(id.name.clone(), Health::new(member, 0));
            node.set_health_slot(slot);
            state.insert(id.name, node);
        }
        let roster = PeerRoster {
            state: &state,
            health: &health,
        };
        assert_eq!((roster.live_count(), roster.unreachable_count()), (3, 2));
        let port = |address: SocketAddr| address.port();
        // Live: a, c, f (ports 1, 3, 6); unreachable: b, e (ports 2, 5).
        let (live, unreachable) = roster.addresses(&[2, 0], Some(1));
        assert_eq!(live.into_iter().map(port).collect::<Vec<_>>(), [6, 1]);
        assert_eq!(unreachable.map(port), Some(5));
        let (live, unreachable) = roster.addresses(&[1], None);
        assert_eq!(live.into_iter().map(port).collect::<Vec<_>>(), [3]);
        assert_eq!(unreachable, None);
    }
}
