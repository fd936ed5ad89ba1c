//! The checks catch a broken protocol rule: each test breaks one on purpose — through the
//! network's tamper hook or a restart that keeps its generation — and asserts that the
//! matching invariant is reported. Without these, a green scenario would prove nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use leviathan_gossip_sim::{
    Action, Delivery, DifferenceKind, NetworkModel, NodeIndex, Simulation, ViolationKind,
};
use leviathan_gossip_wire::{Key, Message, NodeDelta, Packet, Record, Version};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn key(k: &str) -> Key {
    Key::new(k).unwrap()
}

/// Calls `f` on every node delta a packet carries.
fn for_each_delta(packet: &mut Packet, f: impl FnMut(&mut NodeDelta)) {
    let deltas = match &mut packet.message {
        Message::SynAck(synack) => &mut synack.deltas,
        Message::Ack(ack) => &mut ack.deltas,
        _ => return,
    };
    deltas.iter_mut().for_each(f);
}

fn about(delta: &NodeDelta, node: NodeIndex) -> bool {
    delta.node.name.as_str() == node.name()
}

fn kinds(sim: &Simulation) -> Vec<ViolationKind> {
    sim.checker().counts().keys().copied().collect()
}

fn difference_kinds(sim: &Simulation) -> Vec<DifferenceKind> {
    let mut kinds: Vec<DifferenceKind> = sim.check_converged().iter().map(|d| d.kind).collect();
    kinds.sort();
    kinds.dedup();
    kinds
}

/// Both with per-key tracking and with the per-node checks long runs use.
#[test]
fn a_lowered_version_is_reported() {
    for per_key in [true, false] {
        lowered_version_is_reported(per_key);
    }
}

fn lowered_version_is_reported(per_key: bool) {
    let owner = NodeIndex(0);
    let done = Rc::new(Cell::new(false));
    let flag = done.clone();
    // Every delta bringing a peer the owner's first records is cut to its last record,
    // relabelled with the first version (as if "accept an older version" were the rule).
    // Every one: which delta a peer takes first depends on timing (a roster stream may
    // bring the records before an exchange does), and a peer that holds them already
    // skips a broken copy.
    let network = NetworkModel::default().with_tamper(move |_: &Delivery, packet: &mut Packet| {
        for_each_delta(packet, |delta| {
            if about(delta, owner) && delta.from_version == Version(0) && delta.records.len() >= 2 {
                let mut last = delta.records.pop().unwrap();
                last.version = Version(1);
                delta.records = vec![last];
                flag.set(true);
            }
        });
    });
    let mut sim = Simulation::builder(21)
        .nodes(8)
        .network(network)
        .per_key_checks(per_key)
        .build()
        .unwrap();
    for (i, k) in ["a", "b", "c"].iter().enumerate() {
        sim.set(secs(5), owner, key(k), format!("v{}", i + 1));
    }
    sim.run_until(secs(40));
    assert!(done.get(), "the tamper found a delta to break");
    assert!(
        kinds(&sim).contains(&ViolationKind::UnknownWrite),
        "{:?}",
        kinds(&sim)
    );
    assert!(sim.check().is_err());
    assert!(difference_kinds(&sim).contains(&DifferenceKind::StaleData));
}

/// Both with per-key tracking and with the per-node checks long runs use.
#[test]
fn a_stale_record_replayed_after_a_delete_is_a_resurrection() {
    for per_key in [true, false] {
        stale_record_replayed_after_a_delete_is_a_resurrection(per_key);
    }
}

fn stale_record_replayed_after_a_delete_is_a_resurrection(per_key: bool) {
    let owner = NodeIndex(0);
    let stale: Rc<RefCell<Option<Record>>> = Rc::default();
    let replayed = Rc::new(Cell::new(false));
    let (seen, flag) = (stale.clone(), replayed.clone());
    // Remember the key's value as first gossiped; once the tombstone travels, put the old
    // value back in its place (as if a relay had kept the pre-delete record).
    let network = NetworkModel::default().with_tamper(move |_: &Delivery, packet: &mut Packet| {
        for_each_delta(packet, |delta| {
            if !about(delta, owner) {
                return;
            }
            for record in &mut delta.records {
                if record.key.as_str() != "doomed" {
                    continue;
                }
                if record.value.is_some() {
                    if seen.borrow().is_none() {
                        *seen.borrow_mut() = Some(record.clone());
                    }
                } else if !flag.get()
                    && let Some(old) = seen.borrow().as_ref()
                {
                    record.value = old.value.clone();
                    flag.set(true);
                }
            }
        });
    });
    let mut sim = Simulation::builder(22)
        .nodes(8)
        .network(network)
        .per_key_checks(per_key)
        .build()
        .unwrap();
    sim.set(secs(5), owner, key("doomed"), Bytes::from_static(b"old"));
    sim.delete(secs(20), owner, key("doomed"));
    sim.run_until(secs(50));
    assert!(replayed.get(), "the tamper replayed the stale value");
    let found = kinds(&sim);
    assert!(
        found.contains(&ViolationKind::DeletedKeyResurrected),
        "{found:?}"
    );
    let failure = sim.check().unwrap_err().to_string();
    assert!(failure.contains("seed 22"), "{failure}");
    assert!(difference_kinds(&sim).contains(&DifferenceKind::StaleData));
}

#[test]
fn an_oversized_datagram_is_reported() {
    let done = Rc::new(Cell::new(false));
    let flag = done.clone();
    // Once: pad a digest far beyond the packet size (as if the size check were dropped).
    let network = NetworkModel::default().with_tamper(move |_: &Delivery, packet: &mut Packet| {
        if flag.get() {
            return;
        }
        if let Message::Syn(syn) = &mut packet.message
            && let Some(entry) = syn.news.first().cloned()
        {
            syn.news = vec![entry; 200];
            flag.set(true);
        }
    });
    let mut sim = Simulation::builder(23)
        .nodes(4)
        .network(network)
        .build()
        .unwrap();
    sim.run_until(secs(5));
    assert!(done.get());
    assert_eq!(kinds(&sim), [ViolationKind::OversizedDatagram]);
}

/// The write right after the restart reuses version 1 of the generation: reported. Then
/// the node hears its peers claim more of it than it has, and re-asserts itself under a
/// new generation, which repairs the cluster.
#[test]
fn a_restart_that_keeps_its_generation_is_reported() {
    let node = NodeIndex(5);
    let mut sim = Simulation::builder(24).nodes(8).build().unwrap();
    sim.set(secs(3), node, key("a"), "1");
    sim.set(secs(4), node, key("b"), "2");
    sim.at(secs(15), Action::RestartSameGeneration(node));
    sim.set(secs(15), node, key("c"), "3");
    sim.run_until(secs(60));
    assert!(
        kinds(&sim).contains(&ViolationKind::VersionReused),
        "{:?}",
        kinds(&sim)
    );
    assert!(sim.node(node).unwrap().stats().reassertions >= 1);
    assert_eq!(sim.check_converged(), []);
}

#[test]
fn a_lost_update_shows_in_the_convergence_check() {
    let (owner, victim) = (NodeIndex(0), NodeIndex(6));
    // Every delta about the owner reaching the victim loses its records.
    let network =
        NetworkModel::default().with_tamper(move |delivery: &Delivery, packet: &mut Packet| {
            if delivery.to != victim {
                return;
            }
            for_each_delta(packet, |delta| {
                if about(delta, owner) {
                    delta.records.clear();
                }
            });
        });
    let mut sim = Simulation::builder(25)
        .nodes(8)
        .network(network)
        .build()
        .unwrap();
    sim.set(secs(5), owner, key("k"), "v");
    sim.run_until(secs(40));
    // Nothing unsafe happened, but the victim never converges (nor do the peers it
    // passed its hollow version on to).
    sim.check().unwrap();
    let differences = sim.check_converged();
    assert!(
        differences.iter().any(|d| d.observer == victim),
        "{differences:?}"
    );
    assert!(
        differences
            .iter()
            .all(|d| d.subject == owner && d.kind == DifferenceKind::StaleData),
        "{differences:?}"
    );
}

#[test]
fn a_reset_stripped_of_its_watermark_leaves_a_deleted_key_behind() {
    let (owner, sleeper) = (NodeIndex(0), NodeIndex(6));
    let stripped = Rc::new(Cell::new(0u32));
    let count = stripped.clone();
    // Resets of the owner's state lose their watermark: the receiver takes them as
    // ordinary deltas from version 0 and keeps what it held, a deleted key included.
    let network = NetworkModel::default().with_tamper(move |_: &Delivery, packet: &mut Packet| {
        for_each_delta(packet, |delta| {
            if about(delta, owner)
                && delta.from_version == Version(0)
                && delta.gc_watermark > Version(0)
            {
                delta.gc_watermark = Version(0);
                count.set(count.get() + 1);
            }
        });
    });
    let config = leviathan_gossip_core::NodeConfig {
        tombstone_grace: secs(10),
        ..leviathan_gossip_core::NodeConfig::default()
    };
    let mut sim = Simulation::builder(26)
        .nodes(8)
        .node_config(config)
        .network(network)
        .build()
        .unwrap();
    sim.set(secs(2), owner, key("doomed"), "old");
    sim.set(secs(2), owner, key("kept"), "v");
    // The sleeper misses the delete and its collection: cut off meanwhile (a write is
    // pushed to peers at once, so a stall alone may not keep it from the sleeper).
    let others: Vec<NodeIndex> = (0..8).map(NodeIndex).filter(|n| *n != sleeper).collect();
    sim.partition(secs(10), secs(50), vec![vec![sleeper], others]);
    sim.delete(secs(12), owner, key("doomed"));
    sim.run_until(secs(120));
    assert!(stripped.get() > 0, "no reset was sent");
    let differences = sim.check_converged();
    assert!(
        differences
            .iter()
            .any(|d| d.observer == sleeper && d.kind == DifferenceKind::StaleData),
        "{differences:?}"
    );
}
