//! Every node's view of every other node's liveness, rebuilt from events alone.
//!
//! Querying `Node::members` for N nodes costs O(N²) per query; experiments instead fold
//! the membership events into a [`MembershipView`] as they happen (via
//! [`crate::Simulation::run_until_with`]) and ask it cheap questions, such as "does every
//! node see every other node as live?".

use std::collections::HashMap;

use leviathan_gossip_core::{Event, MemberState};
use leviathan_gossip_wire::NodeName;

use crate::{NodeIndex, Simulation, TimedEvent};

/// Per (observer, subject) state as the observer's events announced it. `N × N` bytes.
#[derive(Debug, Clone)]
pub struct MembershipView {
    nodes: usize,
    states: Vec<u8>,
    live_count: Vec<usize>,
    known_count: Vec<usize>,
    by_name: HashMap<NodeName, NodeIndex>,
}

const UNKNOWN: u8 = 0;

fn code(state: MemberState) -> u8 {
    match state {
        MemberState::Live => 1,
        MemberState::Suspect => 2,
        MemberState::Dead => 3,
        MemberState::Left => 4,
        // A state a newer core adds: not one this view can tell apart.
        _ => UNKNOWN,
    }
}

impl MembershipView {
    /// An empty view (nobody knows anybody) of `sim`'s nodes.
    pub fn new(sim: &Simulation) -> Self {
        let nodes = sim.len();
        let by_name = sim
            .indices()
            .filter_map(|i| Some((sim.name(i)?.clone(), i)))
            .collect();
        MembershipView {
            nodes,
            states: vec![UNKNOWN; nodes.saturating_mul(nodes)],
            live_count: vec![0; nodes],
            known_count: vec![0; nodes],
            by_name,
        }
    }

    /// Folds one event in.
    pub fn observe(&mut self, event: &TimedEvent) {
        let observer = event.node;
        let (peers, state) = match &event.event {
            Event::PeersDiscovered(peers) | Event::PeersRecovered(peers) => {
                (peers.as_slice(), MemberState::Live)
            }
            Event::PeersSuspected(peers) => (peers.as_slice(), MemberState::Suspect),
            Event::PeersDead(peers) => (peers.as_slice(), MemberState::Dead),
            Event::PeersLeft(peers) => (peers.as_slice(), MemberState::Left),
            Event::PeerRestarted { node, .. } => {
                // The core adopts a new incarnation as live; a `PeersLeft` in the same
                // batch (an incarnation that already left) follows and overrides it.
                self.set(observer, node, MemberState::Live);
                return;
            }
            Event::PeersRemoved(peers) => {
                for peer in peers {
                    self.forget(observer, peer);
                }
                return;
            }
            _ => return,
        };
        for peer in peers {
            self.set(observer, peer, state);
        }
    }

    /// `observer` restarted: it knows nobody again.
    pub fn forget_observer(&mut self, observer: NodeIndex) {
        let start = observer.0.saturating_mul(self.nodes);
        if let Some(row) = self.states.get_mut(start..start + self.nodes) {
            row.fill(UNKNOWN);
        }
        for counts in [&mut self.live_count, &mut self.known_count] {
            if let Some(count) = counts.get_mut(observer.0) {
                *count = 0;
            }
        }
    }

    /// `observer` removed `subject` from its state: it no longer lists it.
    fn forget(&mut self, observer: NodeIndex, subject: &NodeName) {
        self.put(observer, subject, UNKNOWN);
    }

    fn set(&mut self, observer: NodeIndex, subject: &NodeName, state: MemberState) {
        self.put(observer, subject, code(state));
    }

    /// Stores `observer`'s view of `subject` and keeps the counts in step.
    fn put(&mut self, observer: NodeIndex, subject: &NodeName, new: u8) {
        let Some(subject) = self.by_name.get(subject) else {
            return;
        };
        let cell = observer
            .0
            .saturating_mul(self.nodes)
            .saturating_add(subject.0);
        let Some(old) = self.states.get_mut(cell) else {
            return;
        };
        let was = std::mem::replace(old, new);
        let live = code(MemberState::Live);
        let changes = [
            (&mut self.known_count, was != UNKNOWN, new != UNKNOWN),
            (&mut self.live_count, was == live, new == live),
        ];
        for (counts, before, after) in changes {
            if let Some(count) = counts.get_mut(observer.0) {
                match (before, after) {
                    (false, true) => *count += 1,
                    (true, false) => *count = count.saturating_sub(1),
                    _ => {}
                }
            }
        }
    }

    /// The index of the node called `name`.
    pub fn index_of(&self, name: &NodeName) -> Option<NodeIndex> {
        self.by_name.get(name).copied()
    }

    /// `observer`'s view of `subject` (`None`: never heard of it).
    pub fn state(&self, observer: NodeIndex, subject: NodeIndex) -> Option<MemberState> {
        let cell = observer.0.checked_mul(self.nodes)?.checked_add(subject.0)?;
        match *self.states.get(cell)? {
            1 => Some(MemberState::Live),
            2 => Some(MemberState::Suspect),
            3 => Some(MemberState::Dead),
            4 => Some(MemberState::Left),
            _ => None,
        }
    }

    /// How many peers `observer` sees as live.
    pub fn live_count(&self, observer: NodeIndex) -> usize {
        self.live_count.get(observer.0).copied().unwrap_or(0)
    }

    /// How many peers `observer` lists, whatever their state (removed peers no longer
    /// count).
    pub fn known_count(&self, observer: NodeIndex) -> usize {
        self.known_count.get(observer.0).copied().unwrap_or(0)
    }

    /// How many of `observers` have heard of at least `peers` peers.
    pub fn knowing(&self, observers: &[NodeIndex], peers: usize) -> usize {
        observers
            .iter()
            .filter(|&&o| self.known_count(o) >= peers)
            .count()
    }

    /// How many of `observers` see at least `peers` peers as live.
    pub fn complete(&self, observers: &[NodeIndex], peers: usize) -> usize {
        observers
            .iter()
            .filter(|&&o| self.live_count(o) >= peers)
            .count()
    }
}
