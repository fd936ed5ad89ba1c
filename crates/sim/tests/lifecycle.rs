//! Lifecycle scenarios: deletes across a partition longer than the tombstone grace period,
//! a peer offline past the garbage-collection watermark, restarts with and without the data
//! directory, hours of churn with memory bounded, tombstones collected after the grace
//! period, multi-packet resets (also while the owner keeps deleting), and keys with a time
//! to live. Each checks the safety invariants on
//! every packet and event (no resurrection, versions never go back, records match their
//! owner's writes) and convergence at the end; failures name the seed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::{
    assert_healthy, assert_safe, cluster, deletions, key, ms, reported_after_deletion,
    run_until_true, secs, value_at,
};
use leviathan_gossip_core::{Event, NodeConfig};
use leviathan_gossip_sim::experiments::{ClusterSpec, churn};
use leviathan_gossip_sim::{NodeIndex, Simulation};
use leviathan_gossip_wire::Version;

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

// ----- garbage collection, resets and expiry, seen from the events -----

/// Defaults with lifecycle timers short enough for a test.
fn lifecycle_config(grace: u64, remove_after: u64, quarantine: u64) -> NodeConfig {
    NodeConfig {
        tombstone_grace: secs(grace),
        remove_after: secs(remove_after),
        quarantine: secs(quarantine),
        ..NodeConfig::default()
    }
}

/// The watermark node `observer` holds for node `owner`.
fn watermark(sim: &Simulation, observer: usize, owner: usize) -> Version {
    common::member(sim, observer, owner)
        .map(|member| member.gc_watermark)
        .unwrap_or_default()
}

#[test]
fn tombstones_are_collected_everywhere_after_the_grace_period() {
    let owner = 2;
    let mut sim = cluster(0x6c01, 6)
        .node_config(lifecycle_config(20, 600, 900))
        .build()
        .unwrap();
    let seed = sim.seed();
    for k in 0..5 {
        sim.set(secs(1), NodeIndex(owner), key(&format!("key-{k}")), "x");
    }
    sim.run_until(secs(11));
    let records_before: usize = (0..6)
        .map(|p| sim.node(NodeIndex(p)).unwrap().footprint().records)
        .sum();
    assert_eq!(records_before, 6 * 5, "seed {seed}");
    for k in 0..3 {
        sim.delete(secs(11), NodeIndex(owner), key(&format!("key-{k}")));
    }
    sim.run_until(secs(51));
    for observer in 0..6 {
        let member = common::member(&sim, observer, owner).unwrap();
        assert_eq!(
            member.gc_watermark,
            Version(8),
            "seed {seed}: node {observer}"
        );
        assert_eq!(member.key_count, 2, "seed {seed}: node {observer}");
        // Only the two live records are left of node 2's eight writes.
        assert_eq!(
            sim.node(NodeIndex(observer)).unwrap().footprint().records,
            2,
            "seed {seed}: node {observer} still holds tombstones"
        );
        if observer != owner {
            for k in 0..3 {
                let key = format!("key-{k}");
                assert_eq!(
                    deletions(&sim, observer, owner, &key).len(),
                    1,
                    "seed {seed}: node {observer}, {key}"
                );
            }
        }
    }
    let collected = sim
        .node(NodeIndex(owner))
        .unwrap()
        .stats()
        .tombstones_collected;
    assert!(collected >= 3, "seed {seed}: {collected} collected");
    assert_healthy(&sim);
}

/// A peer cut off through a deletion, its collection and more writes, some of them
/// overwrites, rejoins: it must take a reset (node 2's state spans several packets), drop
/// the deleted keys without ever showing them again, and report each deletion once.
#[test]
fn a_peer_away_past_the_grace_period_takes_a_multi_packet_reset() {
    let (owner, away) = (2, 5);
    let mut sim = cluster(0x6c02, 6)
        .node_config(lifecycle_config(10, 600, 900))
        .build()
        .unwrap();
    let seed = sim.seed();
    let big = "v".repeat(200);
    for k in 0..30 {
        sim.set(
            secs(1),
            NodeIndex(owner),
            key(&format!("key-{k:02}")),
            big.clone(),
        );
    }
    sim.run_until(secs(1));
    let spread = run_until_true(&mut sim, secs(60), ms(250), |sim| {
        (0..6).all(|p| value_at(sim, p, owner, "key-29").is_some())
    });
    assert!(spread.is_some(), "seed {seed}: the keys did not spread");

    let cut = sim.now();
    let healed = cut + secs(30);
    sim.partition(cut, healed, vec![vec![NodeIndex(away)]]);
    for k in 0..10 {
        sim.delete(cut, NodeIndex(owner), key(&format!("key-{k:02}")));
    }
    for k in 10..15 {
        sim.set(
            cut,
            NodeIndex(owner),
            key(&format!("key-{k:02}")),
            "rewritten",
        );
    }
    sim.run_until(healed - ms(1));
    assert!(
        watermark(&sim, 0, owner) > Version(30),
        "seed {seed}: not collected yet"
    );
    assert_eq!(
        value_at(&sim, away, owner, "key-00").as_deref(),
        Some(big.as_str()),
        "seed {seed}"
    );

    sim.run_until(healed);
    let took = run_until_true(&mut sim, secs(60), ms(100), |sim| {
        (0..10).all(|k| value_at(sim, away, owner, &format!("key-{k:02}")).is_none())
            && (10..15).all(|k| {
                value_at(sim, away, owner, &format!("key-{k:02}")).as_deref() == Some("rewritten")
            })
            && value_at(sim, away, owner, "key-29").is_some()
    })
    .unwrap_or_else(|| panic!("seed {seed}: node {away} did not catch up"));
    println!("seed {seed}: node {away} caught up {took:?} after the heal");
    assert!(
        resets_received(&sim, [away]) >= 1,
        "seed {seed}: caught up without a reset"
    );
    sim.run_for(secs(30));
    for k in 0..10 {
        let key = format!("key-{k:02}");
        assert_eq!(value_at(&sim, away, owner, &key), None, "seed {seed}");
        assert_eq!(
            deletions(&sim, away, owner, &key).len(),
            1,
            "seed {seed}: {key}"
        );
        assert!(
            !reported_after_deletion(&sim, away, owner, &key),
            "seed {seed}: {key}"
        );
    }
    let entries = sim
        .node(NodeIndex(away))
        .unwrap()
        .entries(&NodeIndex(owner).name());
    assert_eq!(entries.len(), 20, "seed {seed}");
    assert_healthy(&sim);
}

/// Found in review: while the owner keeps deleting, its watermark kept rising every second
/// and restarted a multi-packet reset each time, so a peer back from a partition never
/// finished its reset and kept showing a deleted key. Collection now happens in steps of
/// half a grace period.
#[test]
fn a_multi_packet_reset_completes_while_the_owner_keeps_deleting() {
    let (owner, away) = (2, 5);
    let mut sim = cluster(0x7e01, 6)
        .node_config(lifecycle_config(10, 600, 900))
        .build()
        .unwrap();
    let seed = sim.seed();
    let big = "v".repeat(200);
    for k in 0..120 {
        sim.set(
            secs(1),
            NodeIndex(owner),
            key(&format!("key-{k:03}")),
            big.clone(),
        );
    }
    sim.run_until(secs(1));
    let spread = run_until_true(&mut sim, secs(300), ms(500), |sim| {
        (0..6).all(|p| value_at(sim, p, owner, "key-119").is_some())
    });
    assert!(spread.is_some(), "seed {seed}: the keys did not spread");
    // Node 2 sets and deletes a lease every 250 ms throughout: 5 s, then 40 s with node 5
    // cut off, then 120 s after the heal.
    let start = sim.now();
    for step in 0..(5 + 40 + 120) * 4 {
        let at = start + ms(250 * step);
        let lease = key(&format!("lease-{}", step % 8));
        sim.set(at, NodeIndex(owner), lease.clone(), "l");
        sim.delete(at, NodeIndex(owner), lease);
    }
    let cut = start + secs(5);
    sim.partition(cut, cut + secs(40), vec![vec![NodeIndex(away)]]);
    for k in 0..10 {
        sim.delete(cut, NodeIndex(owner), key(&format!("key-{k:03}")));
    }
    sim.run_until(start + secs(5 + 40 + 120));
    let member = common::member(&sim, away, owner).unwrap();
    assert!(
        member.max_version >= member.gc_watermark,
        "seed {seed}: node {away} still mid-reset ({:?} < {:?})",
        member.max_version,
        member.gc_watermark
    );
    assert!(resets_received(&sim, [away]) >= 1, "seed {seed}");
    assert_eq!(value_at(&sim, away, owner, "key-000"), None, "seed {seed}");
    assert_eq!(
        deletions(&sim, away, owner, "key-000").len(),
        1,
        "seed {seed}"
    );
    assert_safe(&sim);
}

#[test]
fn a_key_with_a_ttl_is_deleted_by_its_owner_everywhere() {
    let owner = 1;
    let mut sim = cluster(0x6c06, 5).build().unwrap();
    let seed = sim.seed();
    let written = secs(6);
    sim.set_with_ttl(written, NodeIndex(owner), key("lease"), "held", secs(10));
    sim.set_with_ttl(written, NodeIndex(owner), key("renewed"), "a", secs(10));
    // Written again without a TTL: it no longer expires.
    sim.set(written + secs(5), NodeIndex(owner), key("renewed"), "b");
    sim.run_until(written + secs(5));
    assert!(
        (0..5).all(|p| value_at(&sim, p, owner, "lease").as_deref() == Some("held")),
        "seed {seed}: the lease did not spread"
    );
    let expired = run_until_true(&mut sim, secs(15), ms(100), |sim| {
        (0..5).all(|p| value_at(sim, p, owner, "lease").is_none())
    })
    .unwrap_or_else(|| panic!("seed {seed}: the lease never expired"));
    println!("seed {seed}: expired everywhere {expired:?} after half its TTL");
    sim.run_for(secs(20));
    for observer in 0..5 {
        assert_eq!(
            value_at(&sim, observer, owner, "renewed").as_deref(),
            Some("b"),
            "seed {seed}: node {observer}"
        );
        if observer != owner {
            assert_eq!(
                deletions(&sim, observer, owner, "lease").len(),
                1,
                "seed {seed}: node {observer}"
            );
        }
    }
    let footprint = sim.node(NodeIndex(owner)).unwrap().footprint();
    assert_eq!(footprint.expiries, 0, "seed {seed}");
    assert_healthy(&sim);
}
