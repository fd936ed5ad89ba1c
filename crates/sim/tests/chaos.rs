//! Random scenarios: for each seed, a minute of crashes, restarts (with and without the
//! data directory), leaves, partitions, stalls, writes, deletes and writes with a time to
//! live over a lossy, duplicating, reordering network, with lifecycle timers short enough
//! that tombstones are collected, resets sent and dead peers removed meanwhile; then the
//! network heals, every node is restarted or left running, writes stop, and the cluster
//! must converge without ever having broken an invariant.
//!
//! `SIM_CHAOS_SEEDS=n` runs n seeds instead of the default 12; `SIM_CHAOS_FIRST=k` starts
//! at seed k (replay a failure with `SIM_CHAOS_FIRST=<seed> SIM_CHAOS_SEEDS=1`);
//! `SIM_CHAOS_nodes=n` runs n nodes instead of 10 (above ~80 digests take several pages).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::time::Duration;

use common::assert_healthy;
use leviathan_gossip_core::NodeConfig;
use leviathan_gossip_sim::{Action, Latency, LinkModel, NetworkModel, NodeIndex, Simulation};
use leviathan_gossip_wire::Key;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Builds the random scenario of `seed`; returns the simulation and when chaos ends.
fn chaos(seed: u64, nodes: usize) -> (Simulation, Duration) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let link = LinkModel {
        latency: Latency::Uniform {
            min: Duration::from_millis(1),
            max: Duration::from_millis(rng.random_range(2..200)),
        },
        loss: rng.random_range(0.0..0.2),
        duplicate: rng.random_range(0.0..0.1),
    };
    let lifecycle = NodeConfig {
        tombstone_grace: Duration::from_secs(10),
        remove_after: Duration::from_secs(15),
        quarantine: Duration::from_secs(120),
        ..NodeConfig::default()
    };
    let mut sim = Simulation::builder(seed)
        .nodes(nodes)
        .node_config(lifecycle)
        .network(NetworkModel::new(link))
        .encode_packets(seed.is_multiple_of(2))
        .build()
        .unwrap();
    let keys: Vec<Key> = ["a", "b", "c", "d"]
        .iter()
        .map(|k| Key::new(*k).unwrap())
        .collect();
    let chaos_end = Duration::from_secs(60);
    let mut at = Duration::from_secs(3);
    while at < chaos_end {
        let node = NodeIndex(rng.random_range(0..nodes));
        let action = match rng.random_range(0..100) {
            0..=34 => Action::Set {
                node,
                key: keys.choose(&mut rng).unwrap().clone(),
                value: format!("{seed}-{}", at.as_millis()).into(),
            },
            35..=44 => Action::Delete {
                node,
                key: keys.choose(&mut rng).unwrap().clone(),
            },
            45..=49 => Action::SetWithTtl {
                node,
                key: keys.choose(&mut rng).unwrap().clone(),
                value: format!("{seed}-{}-ttl", at.as_millis()).into(),
                ttl: Duration::from_millis(rng.random_range(500..20_000)),
            },
            50..=59 => Action::Crash(node),
            60..=65 => Action::Restart(node),
            66..=71 => Action::RestartWithData(node),
            72..=75 => Action::Leave(node),
            76..=85 => Action::Stall {
                node,
                duration: Duration::from_millis(rng.random_range(100..6000)),
            },
            86..=93 => {
                let side: Vec<NodeIndex> = (0..nodes)
                    .filter(|_| rng.random_bool(0.5))
                    .map(NodeIndex)
                    .collect();
                Action::Partition(vec![side])
            }
            _ => Action::Heal,
        };
        sim.at(at, action);
        at += Duration::from_millis(rng.random_range(200..4000));
    }
    // Everything heals: the partition ends, and every node that crashed or left comes back.
    sim.at(chaos_end, Action::Heal);
    (sim, chaos_end)
}

#[test]
fn random_scenarios_keep_the_invariants_and_converge() {
    let first = env("SIM_CHAOS_FIRST", 1000);
    let count = env("SIM_CHAOS_SEEDS", 12);
    let nodes = env("SIM_CHAOS_NODES", 10) as usize;
    for seed in first..first + count {
        let (mut sim, chaos_end) = chaos(seed, nodes);
        sim.run_until(chaos_end);
        let after = chaos_end + Duration::from_secs(1);
        for node in sim.indices().collect::<Vec<_>>() {
            if !sim.is_running(node) || sim.has_left(node) {
                sim.restart(after, node);
            }
        }
        sim.run_until(chaos_end + Duration::from_secs(150));
        assert_healthy(&sim);
    }
}
