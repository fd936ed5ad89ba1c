//! Replication scenarios: writes, overwrites and deletions reach every node, through loss
//! and reordering, across restarts and from a restored data directory. Each runs one seed
//! over 1–20 ms links with the default timings unless it says otherwise; besides its own
//! assertions, every run checks the invariants on every packet and event (packets fit and
//! round-trip through the codec, versions and every node's knowledge of its peers never
//! go back, nothing deleted comes back, every record is one its owner wrote). Failures
//! name the seed; `SIM_SEED_OFFSET=k` runs every test at its seed plus k.
//!
//! Node 0 and node 1 are everyone's seeds.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use common::{
    Expected, Kind, all_live, assert_no_false_suspicion, assert_safe, cluster, deletions,
    events_of, has_all_keys, key, member, ms, names, peers_named, reported_after_deletion,
    run_until_true, running, secs, value_at, write_keys,
};
use leviathan_gossip_core::Versioned;
use leviathan_gossip_core::{Event, MemberState, Node, NodeConfig, RestoreError};
use leviathan_gossip_sim::{Latency, LinkModel, NetworkModel, NodeIndex, Simulation};
use leviathan_gossip_wire::{Generation, NodeId, NodeName, Version};

/// Every (peer, key, value) node `observer` received in `Updates` events.
fn updates_seen(sim: &Simulation, observer: usize) -> BTreeSet<(String, String, String)> {
    events_of(sim, observer)
        .filter_map(|logged| match &logged.event {
            Event::Updates(updates) => Some(updates),
            _ => None,
        })
        .flatten()
        .map(|u| {
            let value = String::from_utf8_lossy(&u.value).into_owned();
            (u.node.to_string(), u.key.to_string(), value)
        })
        .collect()
}

/// Each of 8 nodes discovered each other node exactly once, and was told of every expected
/// value through an `Updates` event.
fn check_eight_converged(sim: &Simulation, expected: &Expected) {
    let seed = sim.seed();
    for observer in 0..8 {
        let others = names((0..8).filter(|p| *p != observer));
        let discovered = peers_named(sim, observer, Kind::Discovered);
        let unique: BTreeSet<String> = discovered.iter().cloned().collect();
        assert_eq!(unique, others, "seed {seed}: node {observer} discovered");
        assert_eq!(
            discovered.len(),
            7,
            "seed {seed}: node {observer} discovered a peer twice"
        );
        let updates = updates_seen(sim, observer);
        for ((owner, key), value) in expected.iter().filter(|((o, _), _)| *o != observer) {
            let update = (NodeIndex(*owner).name(), key.clone(), value.clone());
            assert!(
                updates.contains(&update),
                "seed {seed}: node {observer} got no Updates event for {update:?}"
            );
        }
    }
}

/// Builds 8 nodes over `link`, each writing `keys_each` keys once all have started.
fn eight(seed: u64, link: LinkModel, keys_each: usize) -> (Simulation, Expected) {
    let mut sim = cluster(seed, 8)
        .network(NetworkModel::new(link))
        .build()
        .unwrap();
    let expected = write_keys(&mut sim, secs(1), 0..8, keys_each);
    sim.run_until(secs(1));
    (sim, expected)
}

#[test]
fn eight_nodes_converge() {
    let (mut sim, mut expected) = eight(0x8_c0de, common::link(0.0), 3);
    let seed = sim.seed();
    let took = run_until_true(&mut sim, secs(60), ms(250), |sim| {
        has_all_keys(sim, &expected) && all_live(sim)
    })
    .unwrap_or_else(|| panic!("seed {seed}: 8 nodes did not converge in 60 s"));
    println!("seed {seed}: 8 nodes converged {took:?} after the writes");
    check_eight_converged(&sim, &expected);

    // A later write overwrites everywhere with a higher version.
    let owner = NodeIndex(2).name();
    let old = sim.node(NodeIndex(4)).unwrap().version(&owner, "key-0");
    sim.set(sim.now(), NodeIndex(2), key("key-0"), "rewritten");
    expected.insert((2, "key-0".into()), "rewritten".into());
    let took = run_until_true(&mut sim, secs(20), ms(100), |sim| {
        has_all_keys(sim, &expected)
    });
    assert!(took.is_some(), "seed {seed}: the rewrite did not spread");
    let version = sim.node(NodeIndex(2)).unwrap().version(&owner, "key-0");
    assert!(
        old.is_some() && version.is_some() && old < version,
        "seed {seed}: rewritten at {version:?} after {old:?}"
    );
    for observer in 0..8 {
        let seen = sim
            .node(NodeIndex(observer))
            .unwrap()
            .version(&owner, "key-0");
        assert_eq!(seen, version, "seed {seed}: node {observer}");
    }
    sim.run_for(secs(30));
    assert!(all_live(&sim), "seed {seed}: not all live after 30 s more");
    assert_no_false_suspicion(&sim, &running(&sim), &[]);
    assert_safe(&sim);
}

#[test]
fn eight_nodes_converge_under_20_percent_loss() {
    let (mut sim, expected) = eight(0x1055, common::link(0.2), 3);
    let seed = sim.seed();
    let took = run_until_true(&mut sim, secs(180), ms(250), |sim| {
        has_all_keys(sim, &expected) && all_live(sim)
    })
    .unwrap_or_else(|| panic!("seed {seed}: no convergence in 180 s at 20 % loss"));
    let counters = sim.counters();
    println!(
        "seed {seed}: 8 nodes converged under 20 % loss {took:?} after the writes \
         ({} of {} datagrams lost)",
        counters.lost,
        sim.total_traffic().datagrams_sent
    );
    assert!(counters.lost > 0, "seed {seed}: nothing was lost");
    check_eight_converged(&sim, &expected);
    assert_safe(&sim);
}

#[test]
fn eight_nodes_converge_with_reordering_and_loss() {
    // Up to 1.5 s of latency: datagrams overtake each other on every link, across rounds.
    let link = LinkModel {
        latency: Latency::Uniform {
            min: Duration::ZERO,
            max: ms(1500),
        },
        loss: 0.05,
        duplicate: 0.0,
    };
    let (mut sim, mut expected) = eight(0x0dd, link, 2);
    let seed = sim.seed();
    // Overwrites and deletions while messages overtake each other.
    for round in 0..10u64 {
        let at = sim.now() + ms(700 * (round + 1));
        let owner = (round % 8) as usize;
        let value = format!("round {round}");
        sim.set(at, NodeIndex(owner), key("key-0"), value.clone());
        expected.insert((owner, "key-0".into()), value);
        if round % 3 == 0 {
            sim.delete(at, NodeIndex(owner), key("key-1"));
            expected.remove(&(owner, "key-1".into()));
        }
    }
    sim.run_for(ms(7000));
    let took = run_until_true(&mut sim, secs(120), ms(250), |sim| {
        has_all_keys(sim, &expected)
            && (0..8).all(|observer| {
                (0..8).all(|owner| {
                    expected.contains_key(&(owner, "key-1".into()))
                        || value_at(sim, observer, owner, "key-1").is_none()
                })
            })
    })
    .unwrap_or_else(|| panic!("seed {seed}: no convergence with reordering"));
    println!(
        "seed {seed}: converged with 0-1.5 s latency and 5 % loss {took:?} after the last write"
    );
    assert_safe(&sim);
}

#[test]
fn a_deleted_key_replicates_and_never_comes_back() {
    let (owner, away) = (2, 6);
    let mut sim = cluster(0xde1, 8)
        .network(NetworkModel::new(common::link(0.1)))
        .build()
        .unwrap();
    let seed = sim.seed();
    sim.set(secs(1), NodeIndex(owner), key("doomed"), "x");
    sim.set(secs(1), NodeIndex(owner), key("kept"), "y");
    sim.run_until(secs(1));
    let took = run_until_true(&mut sim, secs(60), ms(250), |sim| {
        (0..8).all(|p| value_at(sim, p, owner, "doomed").is_some())
    });
    assert!(took.is_some(), "seed {seed}: the key did not spread");

    // Node 6 keeps the old value through the deletion, then rejoins. The second deletion
    // of the same key writes nothing.
    let cut = sim.now();
    sim.partition(cut, cut + secs(10), vec![vec![NodeIndex(away)]]);
    sim.delete(cut, NodeIndex(owner), key("doomed"));
    sim.delete(cut, NodeIndex(owner), key("doomed"));
    sim.run_until(cut + secs(10) - ms(1));
    assert_eq!(
        value_at(&sim, away, owner, "doomed").as_deref(),
        Some("x"),
        "seed {seed}"
    );
    let took = run_until_true(&mut sim, secs(60), ms(250), |sim| {
        (0..8).all(|p| value_at(sim, p, owner, "doomed").is_none())
    });
    assert!(took.is_some(), "seed {seed}: the deletion did not spread");

    let owner_name = NodeIndex(owner).name();
    for _ in 0..60 {
        sim.run_for(secs(1));
        for observer in 0..8 {
            let node = sim.node(NodeIndex(observer)).unwrap();
            assert_eq!(
                value_at(&sim, observer, owner, "doomed"),
                None,
                "seed {seed}"
            );
            assert_eq!(node.version(&owner_name, "doomed"), None, "seed {seed}");
            assert_eq!(
                value_at(&sim, observer, owner, "kept").as_deref(),
                Some("y"),
                "seed {seed}"
            );
        }
    }
    // "doomed" was version 1, "kept" version 2: the tombstone is version 3, and the
    // second deletion wrote no version 4.
    let generation = sim.generation(NodeIndex(owner));
    assert!(
        sim.checker()
            .write(NodeIndex(owner), generation, Version(4))
            .is_none(),
        "seed {seed}: a key deleted twice got two tombstones"
    );
    for observer in (0..8).filter(|p| *p != owner) {
        assert_eq!(
            deletions(&sim, observer, owner, "doomed"),
            [3],
            "seed {seed}: node {observer}'s Deleted events"
        );
        assert!(
            !reported_after_deletion(&sim, observer, owner, "doomed"),
            "seed {seed}: node {observer} saw the key again"
        );
    }
    assert_safe(&sim);
}

#[test]
fn a_restarted_node_replaces_its_old_state() {
    let restarting = NodeIndex(7);
    let mut sim = cluster(0x4e57, 8).build().unwrap();
    let seed = sim.seed();
    sim.set(secs(1), restarting, key("old-only"), "gone-soon");
    sim.set(secs(1), restarting, key("shared"), "v1");
    sim.run_until(secs(1));
    let took = run_until_true(&mut sim, secs(30), ms(250), |sim| {
        (0..7).all(|p| {
            value_at(sim, p, 7, "old-only").is_some() && value_at(sim, p, 7, "shared").is_some()
        })
    });
    assert!(
        took.is_some(),
        "seed {seed}: first incarnation did not spread"
    );

    let restarted = sim.now() + secs(10);
    sim.crash(sim.now(), restarting);
    sim.restart(restarted, restarting);
    sim.set(restarted, restarting, key("shared"), "v2");
    sim.set(restarted, restarting, key("new"), "fresh");
    sim.run_until(restarted);
    assert_eq!(sim.generation(restarting), Generation(2), "seed {seed}");
    let took = run_until_true(&mut sim, secs(30), ms(100), |sim| {
        (0..7).all(|p| {
            value_at(sim, p, 7, "shared").as_deref() == Some("v2")
                && value_at(sim, p, 7, "new").as_deref() == Some("fresh")
        }) && all_live(sim)
    })
    .unwrap_or_else(|| panic!("seed {seed}: restart did not spread in 30 s"));
    println!("seed {seed}: restarted incarnation adopted everywhere in {took:?}");

    let name: NodeName = restarting.name().as_str().try_into().unwrap();
    for observer in 0..7 {
        let restarts: Vec<&Event> = events_of(&sim, observer)
            .filter(|logged| logged.at >= restarted)
            .map(|logged| &logged.event)
            .filter(|event| matches!(event, Event::PeerRestarted { .. }))
            .collect();
        assert_eq!(
            restarts,
            [&Event::PeerRestarted {
                node: name.clone(),
                generation: Generation(2),
            }],
            "seed {seed}: node {observer}"
        );
        let member = member(&sim, observer, 7).unwrap();
        assert_eq!(member.id.generation, Generation(2), "seed {seed}");
        assert_eq!(member.state, MemberState::Live, "seed {seed}");
        assert_eq!(member.key_count, 2, "seed {seed}: node {observer}");
    }
    // The old incarnation's keys never come back, however long gossip runs.
    for _ in 0..20 {
        sim.run_for(secs(1));
        for observer in 0..7 {
            assert_eq!(value_at(&sim, observer, 7, "old-only"), None, "seed {seed}");
        }
    }
    assert_safe(&sim);
}

/// Digest pages cover a few dozen of 250 names, so a page covering the writer comes round
/// only every few exchanges; news (the writer's own entry in its Syns, relayed changes in
/// everyone's, and responders pushing their fresh changes back) must carry a write to
/// every node in O(log N) rounds even at fanout 1. The push-pull bound is log₃250 +
/// log₂log₂250 ≈ 8 rounds.
#[test]
fn news_spreads_a_write_in_log_n_rounds_at_fanout_one() {
    let config = NodeConfig {
        fanout: 1,
        ..NodeConfig::default()
    };
    let n = 250;
    // The O(N)-per-input checks of `cluster` are left out at this size.
    let mut sim = Simulation::builder(common::seeded(0x250))
        .nodes(n)
        .node_config(config)
        .network(NetworkModel::new(common::link(0.0)))
        .build()
        .unwrap();
    let seed = sim.seed();
    sim.run_until(secs(1));
    let formed = run_until_true(&mut sim, secs(300), ms(500), |sim| {
        running(sim)
            .into_iter()
            .all(|p| common::members(sim, p).len() == n)
    });
    assert!(
        formed.is_some(),
        "seed {seed}: {n} nodes did not all meet in 300 s"
    );
    sim.set(sim.now(), NodeIndex(6), key("news"), "fresh");
    let expected: Expected = [((6, "news".to_string()), "fresh".to_string())].into();
    let took = run_until_true(&mut sim, secs(60), ms(250), |sim| {
        has_all_keys(sim, &expected)
    })
    .unwrap_or_else(|| panic!("seed {seed}: the write did not reach all {n} nodes in 60 s"));
    println!("seed {seed}: one write reached all {n} nodes at fanout 1 in {took:?}");
    assert!(took <= secs(15), "seed {seed}: took {took:?} (≈ 15 rounds)");
    assert_safe(&sim);
}

/// A node restarted from its data directory (a new generation, its records restored with
/// their versions) publishes them to its peers, tombstones included, and its next write
/// continues above the restored versions.
#[test]
fn restored_records_replicate_and_writes_continue_above_them() {
    let restoring = NodeIndex(3);
    let mut sim = cluster(0x5e5, 4).build().unwrap();
    let seed = sim.seed();
    sim.set(secs(1), restoring, key("kept"), "from disk"); // version 1
    sim.set(secs(1), restoring, key("gone"), "x"); // version 2
    sim.delete(secs(2), restoring, key("gone")); // version 3
    sim.restart_with_data(secs(10), restoring);
    sim.set(secs(11), restoring, key("new"), "after restart");
    let expected: Expected = [
        ((3, "kept".to_string()), "from disk".to_string()),
        ((3, "new".to_string()), "after restart".to_string()),
    ]
    .into();
    sim.run_until(secs(11));
    let name = restoring.name();
    assert_eq!(sim.generation(restoring), Generation(2), "seed {seed}");
    assert_eq!(
        sim.node(restoring).unwrap().version(&name, "new"),
        Some(Version(4)),
        "seed {seed}: the next write continues above the restored"
    );
    let took = run_until_true(&mut sim, secs(30), ms(250), |sim| {
        has_all_keys(sim, &expected)
    });
    assert!(
        took.is_some(),
        "seed {seed}: restored records did not spread"
    );
    for observer in 0..3 {
        assert_eq!(value_at(&sim, observer, 3, "gone"), None, "seed {seed}");
        let node = sim.node(NodeIndex(observer)).unwrap();
        assert_eq!(node.version(&name, "kept"), Some(Version(1)), "seed {seed}");
        let generation = member(&sim, observer, 3).map(|m| m.id.generation);
        assert_eq!(generation, Some(Generation(2)), "seed {seed}");
    }
    assert_safe(&sim);
}

/// Restoring is refused, changing nothing, when a record lies above the maximum version
/// given, or once the node holds records. (A node-level check the restart path above
/// relies on; it needs no network.)
#[test]
fn restoring_into_a_node_that_holds_records_or_above_the_maximum_is_refused() {
    let identity = NodeId {
        name: NodeIndex(0).name().as_str().try_into().unwrap(),
        address: NodeIndex(0).address(),
        generation: Generation(2),
    };
    let now = std::time::Instant::now();
    let mut node = Node::new(NodeConfig::default(), identity, [], now, 0).unwrap();
    let record = |version: u64, value: Option<&'static str>| Versioned {
        version: Version(version),
        value: value.map(|v| Bytes::from_static(v.as_bytes())),
    };
    let restored = [
        (key("kept"), record(3, Some("from disk"))),
        (key("gone"), record(5, None)),
    ];
    let too_high = node.restore_own_records(restored.clone(), Version(4));
    assert!(
        matches!(too_high, Err(RestoreError::VersionAboveMax { .. })),
        "{too_high:?}"
    );
    assert_eq!(node.version(&NodeIndex(0).name(), "kept"), None);
    node.restore_own_records(restored, Version(7)).unwrap();
    assert_eq!(node.version(&NodeIndex(0).name(), "kept"), Some(Version(3)));
    let again = node.restore_own_records([], Version(1));
    assert_eq!(again, Err(RestoreError::AlreadyWritten));
}
