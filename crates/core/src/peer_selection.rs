//! Choosing whom to gossip with each round (Cassandra's rules, with a configurable fanout).
//!
//! 1. `fanout` distinct live peers, uniformly at random.
//! 2. With probability `unreachable / (live + 1)`, one random suspect or dead peer, so a
//!    healed partition or a recovered node is found again without waiting for it to call.
//! 3. If no seed was chosen so far, or there are fewer live peers than seeds, with
//!    probability `seeds / (live + unreachable + 1)` one random seed, so separately
//!    started groups merge; with no live peer at all this probability is 1.

use std::net::SocketAddr;

use rand::Rng;
use rand::seq::IndexedRandom;

/// The candidates of one round.
#[derive(Debug, Default)]
pub struct Candidates<'a> {
    /// Addresses of live peers.
    pub live: &'a [SocketAddr],
    /// Addresses of suspect and dead peers.
    pub unreachable: &'a [SocketAddr],
    /// Seed addresses, this node's own address excluded.
    pub seeds: &'a [SocketAddr],
}

/// Picks this round's targets, each at most once.
pub fn select_targets(
    candidates: &Candidates<'_>,
    fanout: usize,
    rng: &mut impl Rng,
) -> Vec<SocketAddr> {
    let mut targets: Vec<SocketAddr> = candidates
        .live
        .choose_multiple(rng, fanout)
        .copied()
        .collect();
    let live = candidates.live.len();
    let unreachable = candidates.unreachable.len();
    if unreachable > 0 && rng.random_bool(ratio(unreachable, live + 1)) {
        push_random(&mut targets, candidates.unreachable, rng);
    }
    let seeds = candidates.seeds.len();
    let seed_chosen = targets.iter().any(|t| candidates.seeds.contains(t));
    if seeds > 0
        && (!seed_chosen || live < seeds)
        && (live == 0 || rng.random_bool(ratio(seeds, live + unreachable + 1)))
    {
        push_random(&mut targets, candidates.seeds, rng);
    }
    targets
}

fn ratio(numerator: usize, denominator: usize) -> f64 {
    (numerator as f64 / denominator.max(1) as f64).min(1.0)
}

fn push_random(targets: &mut Vec<SocketAddr>, from: &[SocketAddr], rng: &mut impl Rng) {
    if let Some(address) = from.choose(rng)
        && !targets.contains(address)
    {
        targets.push(*address);
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
        let candidates = Candidates {
            seeds: &seeds,
            ..Candidates::default()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for _ in 0..100 {
            let targets = select_targets(&candidates, 3, &mut rng);
            assert_eq!(targets.len(), 1);
            assert!(seeds.contains(&targets[0]));
        }
    }

    #[test]
    fn fanout_live_peers_are_distinct_and_unreachable_are_visited_sometimes() {
        let live = addresses(10..30);
        let unreachable = addresses(100..105);
        let candidates = Candidates {
            live: &live,
            unreachable: &unreachable,
            seeds: &[],
        };
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let mut visits = 0;
        for _ in 0..2000 {
            let targets = select_targets(&candidates, 3, &mut rng);
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
}
