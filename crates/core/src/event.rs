//! What a node tells its application.

use bytes::Bytes;
use leviathan_gossip_wire::{Generation, Key, NodeName, Version};

/// Something the application should know. Events about several peers come batched, as in
/// the original library (`peers_discover(peers)`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Nodes seen for the first time (`peers_discover`).
    PeersDiscovered(Vec<NodeName>),
    /// Live peers whose φ crossed the threshold (`peers_suspend`).
    PeersSuspected(Vec<NodeName>),
    /// Suspect or dead peers heard from again (`peers_recover`).
    PeersRecovered(Vec<NodeName>),
    /// Peers suspect for longer than `dead_after`.
    PeersDead(Vec<NodeName>),
    /// Peers that announced a graceful leave.
    PeersLeft(Vec<NodeName>),
    /// Dead or departed peers removed from state after `remove_after`: forget them. One
    /// that comes back is discovered again.
    PeersRemoved(Vec<NodeName>),
    /// A peer came back as a new incarnation: drop what you held for it; its new keys
    /// arrive as [`Event::Updates`].
    PeerRestarted {
        /// The peer.
        node: NodeName,
        /// Its new generation.
        generation: Generation,
    },
    /// Newer values of peers' keys (`updates`).
    Updates(Vec<Update>),
    /// Another live process answered under this node's name (at `address`, under
    /// `generation`): two nodes share a name, a misconfiguration, or a process rescheduled
    /// while the old one still runs. Peers follow the newer generation; this node does not
    /// fight it for the name. Stop one of the two. Repeated at most once a minute while both
    /// run.
    DuplicateName {
        /// Where the other process answered.
        address: std::net::SocketAddr,
        /// Its generation.
        generation: Generation,
    },
    /// A peer deleted one of its keys (`delete`).
    Deleted {
        /// The owner of the key.
        node: NodeName,
        /// The deleted key.
        key: Key,
        /// The version of the deletion.
        version: Version,
    },
}

impl Event {
    /// Snake-case name matching the original library's event names where one exists.
    pub fn name(&self) -> &'static str {
        match self {
            Event::PeersDiscovered(_) => "peers_discover",
            Event::PeersSuspected(_) => "peers_suspend",
            Event::PeersRecovered(_) => "peers_recover",
            Event::PeersDead(_) => "peers_dead",
            Event::PeersLeft(_) => "peers_left",
            Event::PeersRemoved(_) => "peers_removed",
            Event::PeerRestarted { .. } => "peer_restarted",
            Event::Updates(_) => "updates",
            Event::Deleted { .. } => "delete",
            Event::DuplicateName { .. } => "duplicate_name",
        }
    }
}

/// One replicated write: `node` set `key` to `value` at `version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    /// The key's owner.
    pub node: NodeName,
    /// The key.
    pub key: Key,
    /// The new value.
    pub value: Bytes,
    /// The owner's version of this write.
    pub version: Version,
}

/// Collects what one input (a packet, a timeout) caused, then emits it as batched events.
#[derive(Debug, Default)]
pub(crate) struct EventBatch {
    discovered: Vec<NodeName>,
    suspected: Vec<NodeName>,
    recovered: Vec<NodeName>,
    dead: Vec<NodeName>,
    left: Vec<NodeName>,
    removed: Vec<NodeName>,
    restarted: Vec<(NodeName, Generation)>,
    updates: Vec<Update>,
    deleted: Vec<(NodeName, Key, Version)>,
}

impl EventBatch {
    pub(crate) fn discovered(&mut self, node: NodeName) {
        self.discovered.push(node);
    }
    pub(crate) fn suspected(&mut self, node: NodeName) {
        self.suspected.push(node);
    }
    pub(crate) fn recovered(&mut self, node: NodeName) {
        self.recovered.push(node);
    }
    pub(crate) fn dead(&mut self, node: NodeName) {
        self.dead.push(node);
    }
    pub(crate) fn left(&mut self, node: NodeName) {
        self.left.push(node);
    }
    pub(crate) fn removed(&mut self, node: NodeName) {
        self.removed.push(node);
    }
    pub(crate) fn restarted(&mut self, node: NodeName, generation: Generation) {
        self.restarted.push((node, generation));
    }
    pub(crate) fn updated(&mut self, update: Update) {
        self.updates.push(update);
    }
    pub(crate) fn deleted(&mut self, node: NodeName, key: Key, version: Version) {
        self.deleted.push((node, key, version));
    }

    /// Appends the batch to `queue` in causal order: membership first, then data, so an
    /// application sees a node discovered before its keys.
    pub(crate) fn drain_into(&mut self, queue: &mut std::collections::VecDeque<Event>) {
        let lists = [
            (&mut self.discovered, Event::PeersDiscovered as fn(_) -> _),
            (&mut self.recovered, Event::PeersRecovered),
            (&mut self.suspected, Event::PeersSuspected),
            (&mut self.dead, Event::PeersDead),
            (&mut self.left, Event::PeersLeft),
            (&mut self.removed, Event::PeersRemoved),
        ];
        let mut membership = Vec::new();
        for (list, make) in lists {
            if !list.is_empty() {
                membership.push(make(std::mem::take(list)));
            }
        }
        // A restart is reported before the batch's discoveries/recoveries are acted upon.
        for (node, generation) in self.restarted.drain(..) {
            queue.push_back(Event::PeerRestarted { node, generation });
        }
        queue.extend(membership);
        if !self.updates.is_empty() {
            queue.push_back(Event::Updates(std::mem::take(&mut self.updates)));
        }
        for (node, key, version) in self.deleted.drain(..) {
            queue.push_back(Event::Deleted { node, key, version });
        }
    }
}
