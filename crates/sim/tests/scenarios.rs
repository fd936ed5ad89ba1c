//! Seeded whole-cluster scenarios: every one checks the safety invariants on every packet
//! and event (`sim.check()`) and convergence at the end (`sim.check_converged()`). A
//! failure message names the seed; rerun with that seed to replay it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::time::Duration;

use common::{assert_healthy, value_at};
use leviathan_gossip_core::{Event, MemberState};
use leviathan_gossip_sim::{
    Action, Latency, LinkModel, MembershipView, NetworkModel, NodeIndex, Simulation,
};
use leviathan_gossip_wire::{Generation, Key};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn key(k: &str) -> Key {
    Key::new(k).unwrap()
}

#[test]
fn converges_with_loss_duplication_and_reordering() {
    for seed in [1, 2, 3] {
        let link = LinkModel {
            // Up to 40 ms of jitter: datagrams of one link overtake each other.
            latency: Latency::Uniform {
                min: Duration::from_millis(1),
                max: Duration::from_millis(40),
            },
            loss: 0.1,
            duplicate: 0.1,
        };
        let mut sim = Simulation::builder(seed)
            .nodes(16)
            .network(NetworkModel::new(link))
            .encode_packets(true)
            .build()
            .unwrap();
        for i in 0..16 {
            let at = Duration::from_millis(2000 + 700 * i as u64);
            sim.set(at, NodeIndex(i), key("color"), format!("c{i}"));
            sim.set(at + secs(3), NodeIndex(i), key("size"), format!("s{i}"));
        }
        sim.set(secs(20), NodeIndex(3), key("color"), "overwritten");
        sim.delete(secs(21), NodeIndex(4), key("size"));
        sim.run_until(secs(60));
        assert_healthy(&sim);
        assert!(sim.counters().lost > 0 && sim.counters().duplicated > 0);
        assert_eq!(
            value_at(&sim, 9, 3, "color").as_deref(),
            Some("overwritten")
        );
        assert_eq!(value_at(&sim, 9, 4, "size"), None);
        assert_eq!(value_at(&sim, 0, 15, "size").as_deref(), Some("s15"));
    }
}

#[test]
fn long_tailed_latency_converges() {
    let link = LinkModel {
        latency: Latency::LogNormal {
            median: Duration::from_millis(20),
            sigma: 1.0,
            cap: Duration::from_secs(2),
        },
        loss: 0.05,
        duplicate: 0.0,
    };
    let mut sim = Simulation::builder(11)
        .nodes(24)
        .network(NetworkModel::new(link))
        .build()
        .unwrap();
    for i in 0..24 {
        sim.set(secs(5), NodeIndex(i), key("k"), "v");
    }
    sim.run_until(secs(60));
    assert_healthy(&sim);
}

#[test]
fn crash_and_restart_with_a_new_generation() {
    let mut sim = Simulation::builder(5).nodes(12).build().unwrap();
    let node = NodeIndex(5);
    sim.set(secs(3), node, key("old"), "from generation 1");
    sim.set(secs(4), node, key("kept"), "a");
    sim.crash(secs(10), node);
    // In-flight datagrams from the crashed node are lost; the rest must cope.
    sim.restart(secs(20), node);
    sim.set(secs(25), node, key("kept"), "b");
    sim.run_until(secs(15));
    assert!(!sim.is_running(node));
    sim.run_until(secs(90));
    assert_healthy(&sim);
    assert_eq!(sim.generation(node), Generation(2));
    for observer in 0..12 {
        if observer == 5 {
            continue;
        }
        assert_eq!(value_at(&sim, observer, 5, "old"), None, "seed 5");
        assert_eq!(value_at(&sim, observer, 5, "kept").as_deref(), Some("b"));
        let members = sim
            .node(NodeIndex(observer))
            .unwrap()
            .members(sim.instant());
        let member = members
            .iter()
            .find(|m| m.id.name.as_str() == node.name())
            .unwrap();
        assert_eq!(member.id.generation, Generation(2));
        assert_eq!(member.state, MemberState::Live);
    }
}

#[test]
fn a_crashed_node_is_suspected_by_everyone_and_seen_not_live() {
    let mut sim = Simulation::builder(6)
        .nodes(10)
        .record_events(true)
        .build()
        .unwrap();
    sim.crash(secs(30), NodeIndex(7));
    sim.run_until(secs(70));
    assert_healthy(&sim);
    let name = NodeIndex(7).name();
    let suspecting: std::collections::BTreeSet<NodeIndex> = sim
        .events()
        .iter()
        .filter(|e| e.at >= secs(30))
        .filter(|e| matches!(&e.event, Event::PeersSuspected(p) if p.iter().any(|n| n.as_str() == name)))
        .map(|e| e.node)
        .collect();
    assert_eq!(suspecting.len(), 9, "seed 6: {suspecting:?}");
}

#[test]
fn partition_and_heal_reconverge() {
    let mut sim = Simulation::builder(7).nodes(16).build().unwrap();
    let (left, right): (Vec<NodeIndex>, Vec<NodeIndex>) = sim.indices().partition(|i| i.0 < 8);
    sim.partition(secs(10), secs(70), vec![left, right]);
    // Writes on both sides while apart (longer than dead_after, 30 s).
    sim.set(secs(20), NodeIndex(1), key("side"), "left");
    sim.set(secs(20), NodeIndex(12), key("side"), "right");
    sim.run_until(secs(60));
    let differences = sim.check_converged();
    assert!(
        differences.len() >= 8 * 8 * 2,
        "seed 7: a split cluster must not look converged ({} differences)",
        differences.len()
    );
    assert_eq!(value_at(&sim, 12, 1, "side"), None);
    sim.run_until(secs(140));
    assert_healthy(&sim);
    assert_eq!(value_at(&sim, 12, 1, "side").as_deref(), Some("left"));
    assert_eq!(value_at(&sim, 1, 12, "side").as_deref(), Some("right"));
}

#[test]
fn a_graceful_leave_is_seen_as_left_and_refuses_writes() {
    let mut sim = Simulation::builder(8).nodes(12).build().unwrap();
    let leaver = NodeIndex(3);
    sim.set(secs(5), leaver, key("k"), "v");
    sim.leave(secs(15), leaver);
    sim.set(secs(16), leaver, key("k"), "after leaving");
    sim.crash(secs(20), leaver);
    sim.run_until(secs(60));
    assert_healthy(&sim);
    assert_eq!(sim.counters().refused_writes, 1);
    for observer in sim.live_nodes() {
        let members = sim.node(observer).unwrap().members(sim.instant());
        let member = members
            .iter()
            .find(|m| m.id.name.as_str() == leaver.name())
            .unwrap();
        assert_eq!(member.state, MemberState::Left, "seed 8, {observer}");
    }
}

#[test]
fn a_delete_during_a_partition_does_not_come_back() {
    let mut sim = Simulation::builder(9)
        .nodes(16)
        .network(NetworkModel::new(LinkModel::lossy(0.05)))
        .build()
        .unwrap();
    let owner = NodeIndex(2);
    sim.set(secs(5), owner, key("doomed"), "alive");
    sim.set(secs(5), owner, key("other"), "x");
    let (left, right): (Vec<NodeIndex>, Vec<NodeIndex>) = sim.indices().partition(|i| i.0 < 8);
    sim.partition(secs(20), secs(60), vec![left, right]);
    sim.delete(secs(30), owner, key("doomed"));
    sim.run_until(secs(50));
    // The far side still holds the old value; the owner's side has the tombstone.
    assert_eq!(value_at(&sim, 12, 2, "doomed").as_deref(), Some("alive"));
    assert_eq!(value_at(&sim, 5, 2, "doomed"), None);
    sim.run_until(secs(130));
    assert_healthy(&sim);
    for observer in 0..16 {
        assert_eq!(value_at(&sim, observer, 2, "doomed"), None, "seed 9");
    }
}

#[test]
fn a_stalled_node_is_postponed_and_does_not_convict_everyone_on_waking() {
    let mut sim = Simulation::builder(10)
        .nodes(12)
        .record_events(true)
        .build()
        .unwrap();
    let slow = NodeIndex(4);
    sim.stall(secs(30), slow, secs(6));
    sim.set(secs(31), slow, key("late"), "written after the stall");
    sim.run_until(secs(33));
    assert!(sim.is_stalled(slow));
    assert_eq!(sim.node(slow).unwrap().version(&slow.name(), "late"), None);
    sim.run_until(secs(80));
    assert_healthy(&sim);
    assert!(sim.counters().postponed > 0);
    let stats = sim.node(slow).unwrap().stats();
    assert!(stats.local_pauses >= 1, "the core noticed its own stall");
    let convicted: usize = sim
        .events()
        .iter()
        .filter(|e| e.node == slow && e.at >= secs(30))
        .map(|e| match &e.event {
            Event::PeersSuspected(peers) => peers.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(
        convicted, 0,
        "seed 10: the stalled node suspected peers on waking"
    );
}

#[test]
fn the_membership_view_matches_the_nodes() {
    let mut sim = Simulation::builder(12)
        .nodes(14)
        .network(NetworkModel::new(LinkModel::lossy(0.2)))
        .build()
        .unwrap();
    let mut view = MembershipView::new(&sim);
    sim.crash(secs(20), NodeIndex(6));
    sim.leave(secs(25), NodeIndex(9));
    sim.restart(secs(40), NodeIndex(6));
    sim.run_until_with(secs(75), &mut |event| view.observe(event));
    let now = sim.instant();
    for observer in sim.live_nodes() {
        for member in sim.node(observer).unwrap().members(now) {
            if member.is_local {
                continue;
            }
            let subject = sim.index_of(member.id.name.as_str()).unwrap();
            assert_eq!(
                view.state(observer, subject),
                Some(member.state),
                "seed 12: {observer} about {subject}"
            );
        }
        // The counts every node keeps agree with its members and with the view.
        let node = sim.node(observer).unwrap();
        let members = node.members(now);
        let names: Vec<&str> = members.iter().map(|m| m.id.name.as_str()).collect();
        assert!(
            names.is_sorted(),
            "seed 12: members of {observer} not in alphabetical order"
        );
        let peers: Vec<_> = members.iter().filter(|m| !m.is_local).collect();
        let counts = node.peer_counts();
        let live = peers
            .iter()
            .filter(|m| m.state == MemberState::Live)
            .count();
        let unreachable = peers
            .iter()
            .filter(|m| matches!(m.state, MemberState::Suspect | MemberState::Dead))
            .count();
        assert_eq!(
            (counts.known, counts.live, counts.unreachable),
            (peers.len(), live, unreachable),
            "seed 12: counts of {observer}"
        );
        assert_eq!(
            (counts.known, counts.live),
            (view.known_count(observer), view.live_count(observer)),
            "seed 12: counts of {observer} against the view"
        );
    }
}

#[test]
fn actions_on_stopped_nodes_are_ignored() {
    let mut sim = Simulation::builder(13).nodes(4).build().unwrap();
    sim.crash(secs(2), NodeIndex(1));
    sim.at(secs(3), Action::Leave(NodeIndex(1)));
    sim.set(secs(3), NodeIndex(1), key("k"), "v");
    sim.at(secs(3), Action::Crash(NodeIndex(1)));
    sim.run_until(secs(5));
    assert_eq!(sim.counters().ignored_actions, 3);
    assert_eq!(sim.running(), 3);
    sim.check().unwrap();
}
