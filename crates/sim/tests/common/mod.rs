//! Assertions and queries shared by the simulator's scenario tests.
//!
//! Nodes are named by index (`0` is `node-00000`); the event queries need a simulation
//! built with `record_events(true)`. Every assertion names the seed: rerun the test with
//! `SIM_SEED_OFFSET` set as it was to replay a failure (see [`seeded`]).

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use leviathan_gossip_core::{Event, Member, MemberState};
use leviathan_gossip_sim::{
    Latency, LinkModel, NetworkModel, NodeIndex, Simulation, SimulationBuilder, TimedEvent,
};
use leviathan_gossip_wire::NodeName;

pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The seed a test runs: `base` plus `SIM_SEED_OFFSET` (default 0). Setting the offset
/// explores other runs of the same scenarios; failures name the seed actually run.
pub fn seeded(base: u64) -> u64 {
    let offset = std::env::var("SIM_SEED_OFFSET")
        .ok()
        .and_then(|offset| offset.parse::<u64>().ok())
        .unwrap_or(0);
    base.wrapping_add(offset)
}

/// A link with 1–20 ms of latency (a LAN with some jitter, slower than the simulator's
/// default so that timers and arrivals interleave) losing `loss` of the datagrams.
pub fn link(loss: f64) -> LinkModel {
    LinkModel {
        latency: Latency::Uniform {
            min: ms(1),
            max: ms(20),
        },
        loss,
        duplicate: 0.0,
    }
}

/// A simulation of `nodes` nodes (the first two are everyone's seeds) over [`link`]`(0)`,
/// recording events, with every packet round-tripped through the codec and every node's
/// knowledge of its peers checked never to go back, besides the checks every run makes.
pub fn cluster(seed: u64, nodes: usize) -> SimulationBuilder {
    Simulation::builder(seeded(seed))
        .nodes(nodes)
        .network(NetworkModel::new(link(0.0)))
        .record_events(true)
        .encode_packets(true)
        .check_member_horizons(true)
}

/// Asserts no invariant was violated and the cluster converged, naming the seed.
pub fn assert_healthy(sim: &Simulation) {
    assert_safe(sim);
    let differences = sim.check_converged();
    assert!(
        differences.is_empty(),
        "seed {}: {} differences after {:?}, first: {}",
        sim.seed(),
        differences.len(),
        sim.now(),
        differences
            .iter()
            .take(5)
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    );
}

/// Asserts no invariant was violated, naming the seed.
pub fn assert_safe(sim: &Simulation) {
    if let Err(failure) = sim.check() {
        panic!("{failure}");
    }
}

/// Node `observer`'s value of node `owner`'s key `k`, as text.
pub fn value_at(sim: &Simulation, observer: usize, owner: usize, k: &str) -> Option<String> {
    let node = sim.node(NodeIndex(observer))?;
    let value = node.get(&NodeIndex(owner).name(), k)?;
    Some(String::from_utf8_lossy(value).into_owned())
}

/// Runs in steps of `step` until `done(sim)` holds (checked before the first step and after
/// each) or `limit` has passed; returns the time it took, or `None` on timeout.
pub fn run_until_true(
    sim: &mut Simulation,
    limit: Duration,
    step: Duration,
    mut done: impl FnMut(&Simulation) -> bool,
) -> Option<Duration> {
    let start = sim.now();
    loop {
        if done(sim) {
            return Some(sim.now() - start);
        }
        if sim.now() - start >= limit {
            return None;
        }
        sim.run_for(step);
    }
}

// ----- what nodes hold -----

/// What every node should eventually hold: (owner, key) → value.
pub type Expected = BTreeMap<(usize, String), String>;

/// Schedules, at `at`, `keys_each` writes on each of `owners`: `key-k` = `value-<owner>-<k>`.
pub fn write_keys(
    sim: &mut Simulation,
    at: Duration,
    owners: impl IntoIterator<Item = usize>,
    keys_each: usize,
) -> Expected {
    let mut expected = Expected::new();
    for owner in owners {
        for k in 0..keys_each {
            let (key, value) = (format!("key-{k}"), format!("value-{owner}-{k}"));
            sim.set(at, NodeIndex(owner), self::key(&key), value.clone());
            expected.insert((owner, key), value);
        }
    }
    expected
}

/// A key from a name the test knows to be valid.
pub fn key(k: &str) -> leviathan_gossip_wire::Key {
    leviathan_gossip_wire::Key::new(k).unwrap_or_else(|e| panic!("bad key {k:?}: {e}"))
}

/// Every running node holds every expected value.
pub fn has_all_keys(sim: &Simulation, expected: &Expected) -> bool {
    running(sim).into_iter().all(|observer| {
        expected.iter().all(|((owner, key), value)| {
            value_at(sim, observer, *owner, key).as_ref() == Some(value)
        })
    })
}

/// Indices of the running nodes, ascending.
pub fn running(sim: &Simulation) -> Vec<usize> {
    sim.indices()
        .filter(|&i| sim.is_running(i))
        .map(|i| i.0)
        .collect()
}

/// Every running node lists exactly the running nodes, all live.
pub fn all_live(sim: &Simulation) -> bool {
    let running = running(sim);
    running.iter().all(|&observer| {
        let members = members(sim, observer);
        members.len() == running.len() && members.iter().all(|m| m.state == MemberState::Live)
    })
}

/// Node `observer`'s view of the cluster now (empty if it is not running).
pub fn members(sim: &Simulation, observer: usize) -> Vec<Member> {
    sim.node(NodeIndex(observer))
        .map(|node| node.members(sim.instant()))
        .unwrap_or_default()
}

/// Node `observer`'s entry for node `about`, if it lists it.
pub fn member(sim: &Simulation, observer: usize, about: usize) -> Option<Member> {
    let name = NodeIndex(about).name();
    members(sim, observer)
        .into_iter()
        .find(|member| member.id.name.as_str() == name)
}

/// Node `observer`'s view of node `about`'s state, if it lists it.
pub fn member_state(sim: &Simulation, observer: usize, about: usize) -> Option<MemberState> {
    member(sim, observer, about).map(|member| member.state)
}

// ----- what nodes reported -----

/// The membership event kinds that carry a list of peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// [`Event::PeersDiscovered`].
    Discovered,
    /// [`Event::PeersSuspected`].
    Suspected,
    /// [`Event::PeersRecovered`].
    Recovered,
    /// [`Event::PeersDead`].
    Dead,
    /// [`Event::PeersLeft`].
    Left,
    /// [`Event::PeersRemoved`].
    Removed,
}

impl Kind {
    /// The peers `event` names if it is of this kind, else none.
    pub fn peers(self, event: &Event) -> &[NodeName] {
        match (self, event) {
            (Kind::Discovered, Event::PeersDiscovered(peers))
            | (Kind::Suspected, Event::PeersSuspected(peers))
            | (Kind::Recovered, Event::PeersRecovered(peers))
            | (Kind::Dead, Event::PeersDead(peers))
            | (Kind::Left, Event::PeersLeft(peers))
            | (Kind::Removed, Event::PeersRemoved(peers)) => peers,
            _ => &[],
        }
    }
}

/// Every event node `observer` emitted, across restarts, oldest first.
pub fn events_of(sim: &Simulation, observer: usize) -> impl Iterator<Item = &TimedEvent> {
    sim.events()
        .iter()
        .filter(move |logged| logged.node == NodeIndex(observer))
}

/// When node `observer` emitted a `kind` event naming node `about`, oldest first.
pub fn times(sim: &Simulation, observer: usize, kind: Kind, about: usize) -> Vec<Duration> {
    let name = NodeIndex(about).name();
    events_of(sim, observer)
        .filter(|logged| {
            kind.peers(&logged.event)
                .iter()
                .any(|peer| peer.as_str() == name)
        })
        .map(|logged| logged.at)
        .collect()
}

/// First time at or after `after` that `observer` emitted a `kind` event about `about`.
pub fn first_time(
    sim: &Simulation,
    observer: usize,
    kind: Kind,
    about: usize,
    after: Duration,
) -> Option<Duration> {
    times(sim, observer, kind, about)
        .into_iter()
        .find(|at| *at >= after)
}

/// Names of the peers node `observer` emitted `kind` events about (with repeats).
pub fn peers_named(sim: &Simulation, observer: usize, kind: Kind) -> Vec<String> {
    events_of(sim, observer)
        .flat_map(|logged| kind.peers(&logged.event))
        .map(NodeName::to_string)
        .collect()
}

/// Names of the nodes `indices`.
pub fn names(indices: impl IntoIterator<Item = usize>) -> BTreeSet<String> {
    indices.into_iter().map(|i| NodeIndex(i).name()).collect()
}

/// Asserts none of `observers` ever suspected a node other than those in `allowed`.
pub fn assert_no_false_suspicion(sim: &Simulation, observers: &[usize], allowed: &[usize]) {
    let allowed = names(allowed.iter().copied());
    for &observer in observers {
        for suspect in peers_named(sim, observer, Kind::Suspected) {
            assert!(
                allowed.contains(&suspect),
                "seed {}: node {observer} suspected live {suspect}",
                sim.seed()
            );
        }
    }
}

/// The versions at which node `observer` reported `owner`'s `key` deleted.
pub fn deletions(sim: &Simulation, observer: usize, owner: usize, key: &str) -> Vec<u64> {
    let owner = NodeIndex(owner).name();
    events_of(sim, observer)
        .filter_map(|logged| match &logged.event {
            Event::Deleted {
                node,
                key: deleted,
                version,
            } if node.as_str() == owner && deleted.as_str() == key => Some(version.0),
            _ => None,
        })
        .collect()
}

/// Whether `observer` ever reported a value of `owner`'s `key` after its first deletion.
pub fn reported_after_deletion(sim: &Simulation, observer: usize, owner: usize, key: &str) -> bool {
    let owner = NodeIndex(owner).name();
    events_of(sim, observer)
        .skip_while(|logged| {
            !matches!(&logged.event, Event::Deleted { node, key: k, .. }
                if node.as_str() == owner && k.as_str() == key)
        })
        .any(|logged| match &logged.event {
            Event::Updates(updates) => updates
                .iter()
                .any(|u| u.node.as_str() == owner && u.key.as_str() == key),
            _ => false,
        })
}
