//! Lifecycle scenarios: deletes across a partition longer than the tombstone grace period,
//! a peer offline past the garbage-collection watermark, restarts with and without the data
//! directory, and hours of churn with memory bounded. Each checks the safety invariants on
//! every packet and event (no resurrection, versions never go back, records match their
//! owner's writes) and convergence at the end; failures name the seed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::time::Duration;

use common::{assert_healthy, value_at};
use leviathan_gossip_core::{Event, NodeConfig};
use leviathan_gossip_sim::experiments::{ClusterSpec, churn};
use leviathan_gossip_sim::{NodeIndex, Simulation};
use leviathan_gossip_wire::Key;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn key(k: &str) -> Key {
    Key::new(k).unwrap()
}

/// Default settings with a tombstone grace period of `grace` seconds.
fn with_grace(grace: u64) -> NodeConfig {
    NodeConfig {
        tombstone_grace: secs(grace),
        ..NodeConfig::default()
    }
}

fn resets_received(sim: &Simulation, nodes: impl IntoIterator<Item = usize>) -> u64 {
    nodes
        .into_iter()
        .filter_map(|i| sim.node(NodeIndex(i)))
        .map(|node| node.stats().resets_received)
        .sum()
}

#[test]
fn deletes_during_a_partition_longer_than_the_grace_period_do_not_come_back() {
    let mut sim = Simulation::builder(21)
        .nodes(12)
        .node_config(with_grace(20))
        .build()
        .unwrap();
    for owner in [3, 9] {
        for k in ["a", "b", "c"] {
            sim.set(secs(2), NodeIndex(owner), key(k), format!("{owner}{k}"));
        }
    }
    let (left, right): (Vec<_>, Vec<_>) = (0..12).map(NodeIndex).partition(|i| i.0 < 6);
    sim.partition(secs(10), secs(100), vec![left, right]);
    // Each side deletes (and rewrites) keys of its own member while apart; the tombstones
    // are collected long before the heal.
    sim.delete(secs(20), NodeIndex(3), key("a"));
    sim.delete(secs(20), NodeIndex(9), key("b"));
    sim.set(secs(25), NodeIndex(9), key("c"), "rewritten");
    sim.run_until(secs(100));
    assert_eq!(
        value_at(&sim, 8, 3, "a").as_deref(),
        Some("3a"),
        "not apart"
    );
    sim.run_until(secs(200));
    assert_healthy(&sim);
    for observer in 0..12 {
        assert_eq!(value_at(&sim, observer, 3, "a"), None);
        assert_eq!(value_at(&sim, observer, 9, "b"), None);
        assert_eq!(
            value_at(&sim, observer, 9, "c").as_deref(),
            Some("rewritten")
        );
    }
    assert!(resets_received(&sim, 6..12) > 0, "seed 21: no reset sent");
    assert!(resets_received(&sim, 0..6) > 0, "seed 21: no reset sent");
}

#[test]
fn a_peer_offline_past_the_watermark_rejoins_without_resurrecting() {
    let mut sim = Simulation::builder(22)
        .nodes(10)
        .node_config(with_grace(20))
        .build()
        .unwrap();
    for k in ["a", "b", "c", "d"] {
        sim.set(secs(2), NodeIndex(2), key(k), "v");
    }
    // Node 7's process freezes for 90 s: it misses the deletes and their collection.
    sim.stall(secs(10), NodeIndex(7), secs(90));
    sim.delete(secs(15), NodeIndex(2), key("a"));
    sim.delete(secs(16), NodeIndex(2), key("b"));
    sim.set(secs(17), NodeIndex(2), key("c"), "rewritten");
    sim.run_until(secs(160));
    assert_healthy(&sim);
    assert_eq!(value_at(&sim, 7, 2, "a"), None);
    assert_eq!(value_at(&sim, 7, 2, "c").as_deref(), Some("rewritten"));
    assert!(
        resets_received(&sim, [7]) > 0,
        "seed 22: node 7 got no reset"
    );
}

#[test]
fn restarts_with_and_without_the_data_directory() {
    let mut sim = Simulation::builder(23)
        .nodes(8)
        .record_events(true)
        .build()
        .unwrap();
    let node = NodeIndex(4);
    sim.set(secs(2), node, key("x"), "1");
    sim.set(secs(2), node, key("y"), "2");
    sim.delete(secs(3), node, key("y"));
    sim.set_with_ttl(secs(3), node, key("lease"), "held", secs(100));
    sim.restart_with_data(secs(30), node);
    sim.run_until(secs(60));
    for observer in (0..8).filter(|o| *o != 4) {
        assert_eq!(value_at(&sim, observer, 4, "x").as_deref(), Some("1"));
        assert_eq!(value_at(&sim, observer, 4, "y"), None);
        assert_eq!(
            value_at(&sim, observer, 4, "lease").as_deref(),
            Some("held")
        );
    }
    // The restored TTL still runs out on time (at 103 s), issued by the new incarnation.
    sim.run_until(secs(130));
    for observer in 0..8 {
        assert_eq!(value_at(&sim, observer, 4, "lease"), None);
    }
    // Without the data directory the node comes back empty, and so does every view of it.
    sim.restart(secs(140), node);
    sim.run_until(secs(200));
    assert_healthy(&sim);
    for observer in 0..8 {
        assert_eq!(value_at(&sim, observer, 4, "x"), None);
    }
    for observer in (0..8).filter(|o| *o != 4).map(NodeIndex) {
        let restarts = sim
            .events()
            .iter()
            .filter(|e| e.node == observer)
            .filter(|e| matches!(&e.event, Event::PeerRestarted { node, .. } if *node == node4()))
            .count();
        assert_eq!(restarts, 2, "seed 23: {observer} saw {restarts} restarts");
    }
}

fn node4() -> leviathan_gossip_wire::NodeName {
    leviathan_gossip_wire::NodeName::new(NodeIndex(4).name()).unwrap()
}

/// Two simulated hours of churn at 3 % of the nodes a minute, with fresh keys written,
/// expiring and deleted all along: what each node holds stays bounded by what is live plus
/// what the grace period, `remove_after` and the quarantine retain, not by the history.
/// With tombstone collection off (a grace period longer than the run) the same scenario
/// exceeds the bound.
#[test]
fn hours_of_churn_keep_memory_bounded_and_nothing_comes_back() {
    let run = |grace: u64| {
        let mut cluster = ClusterSpec::new(20);
        cluster.seed = 24;
        cluster.node_config = NodeConfig {
            tombstone_grace: secs(grace),
            remove_after: secs(120),
            quarantine: secs(grace.max(240)),
            ..NodeConfig::default()
        };
        let mut options = churn::Options::new(cluster, secs(2 * 3600));
        options.churn_per_minute = 0.03;
        options.sample_every = secs(600);
        options.sample_observers = 20;
        churn::run(&options).unwrap()
    };
    let outcome = run(60);
    println!("{}", churn::totals(&outcome));
    print!("{}", churn::table(std::slice::from_ref(&outcome)));
    assert!(
        outcome.run.violations.is_empty(),
        "seed 24: {:?}",
        outcome.run.first_violations
    );
    assert!(
        outcome.differences.is_empty(),
        "seed 24: {:?}",
        outcome.first_differences
    );
    assert!(outcome.removed_events > 0 && outcome.tombstones_collected > 0);
    // 20 nodes × (8 live keys + TTL keys and tombstones of the last minutes).
    let bound = 20 * 30;
    let peak = outcome.samples.iter().map(|s| s.records_max).max().unwrap();
    assert!(peak <= bound, "seed 24: {peak} records held by one node");
    assert!(outcome.samples.iter().all(|s| s.nodes_max <= 20));
    // Restarted and removed peers' health slots are reused: at most the 19 other nodes.
    assert!(outcome.samples.iter().all(|s| s.health_slots_max <= 19));

    let without_gc = run(3 * 3600);
    let peak = without_gc
        .samples
        .iter()
        .map(|s| s.records_max)
        .max()
        .unwrap();
    assert!(
        peak > bound,
        "the bound does not depend on collection ({peak})"
    );
}
