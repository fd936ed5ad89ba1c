//! The vocabulary of scenarios: which node, and what happens to it or to the network.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use leviathan_gossip_wire::Key;
use serde::Serialize;

use crate::network::LinkModel;

/// A simulated node's position in the simulation: `0..nodes`. Survives restarts (the
/// name and address stay, the generation grows).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct NodeIndex(pub usize);

impl fmt::Display for NodeIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

impl NodeIndex {
    /// The node's name: `node-00042`.
    pub fn name(self) -> String {
        format!("node-{:05}", self.0)
    }

    /// The node's (never contacted) address: `10.x.y.z:7946`, from the index's low 24 bits.
    pub fn address(self) -> SocketAddr {
        let [_, x, y, z] = (self.0 as u32).to_be_bytes();
        SocketAddr::from((Ipv4Addr::new(10, x, y, z), 7946))
    }
}

/// What a node waking from a stall handles first: its overdue timer or the datagrams that
/// arrived for it meanwhile. A real runtime may do either (tokio polls its timer and its
/// socket in no fixed order), and a node must not convict live peers either way. Set with
/// [`crate::SimulationBuilder::wake_order`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub enum WakeOrder {
    /// Everything postponed by the stall runs at its end in the order it was postponed:
    /// datagrams that arrived before the timer came due go first, later ones after it. The
    /// default.
    #[default]
    AsPostponed,
    /// The overdue timer first (`handle_timeout`), then the backlog of datagrams.
    TimersFirst,
    /// The backlog of datagrams first, then the overdue timer.
    MessagesFirst,
}

/// Something that happens at a scheduled time; see [`crate::Simulation::at`].
///
/// Inputs to a stalled node (writes, leave) wait until its stall ends, like its timers and
/// datagrams. Actions on a node that is not running are counted and ignored.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Starts a node that was never started (nodes start by themselves at build time,
    /// spread over `start_spread`). No-op if it is running or was ever started.
    Start(NodeIndex),
    /// Kills the process: its state is dropped, its timers and datagrams in flight from it
    /// are lost; datagrams to it are dropped until it restarts.
    Crash(NodeIndex),
    /// Starts the node again (crashing it first if it runs): same name, address and seeds,
    /// the next generation, empty state (no data directory, or a lost one).
    Restart(NodeIndex),
    /// Starts the node again (crashing it first if it runs) with its data directory: the
    /// next generation, its own keys, versions, tombstones and TTL deadlines restored.
    RestartWithData(NodeIndex),
    /// Fault injection: restarts without raising the generation, breaking the rule that
    /// a restart is a new incarnation. The checks must report it (the owner reuses versions).
    RestartSameGeneration(NodeIndex),
    /// Graceful leave: `Node::leave`. The node keeps running (answering gossip) until
    /// crashed.
    Leave(NodeIndex),
    /// The node's process stops for `duration` (GC pause, CPU starvation): its timers,
    /// datagrams and commands are postponed to the end of the stall, and handled then in
    /// the simulation's [`WakeOrder`].
    Stall {
        /// The node.
        node: NodeIndex,
        /// How long it is stalled.
        duration: Duration,
    },
    /// Splits the network: datagrams between different groups are dropped (checked both
    /// when sent and when delivered). Nodes in no group form one more group together.
    /// Replaces any partition in force.
    Partition(Vec<Vec<NodeIndex>>),
    /// Ends the partition.
    Heal,
    /// Replaces the default link model (e.g. loss starts or stops).
    SetLink(LinkModel),
    /// Overrides one directed link (`None`: back to the default): a one-way failure is
    /// `from → to` losing everything while `to → from` works.
    SetLinkBetween {
        /// Sender side.
        from: NodeIndex,
        /// Receiver side.
        to: NodeIndex,
        /// The link's model, or `None` for the default one.
        link: Option<LinkModel>,
    },
    /// A flaky host: the node loses `loss` of the datagrams it sends and receives, on top
    /// of its links' loss (0 ends it).
    SetNodeLoss {
        /// The node.
        node: NodeIndex,
        /// Probability in `[0, 1]`.
        loss: f64,
    },
    /// `Node::set` on the node; the simulation records the write as ground truth.
    Set {
        /// The owner.
        node: NodeIndex,
        /// The key.
        key: Key,
        /// The value.
        value: Bytes,
    },
    /// `Node::set_with_ttl` on the node; recorded as ground truth. The owner deletes the
    /// key when the TTL runs out (the simulation issues the node's `Output::Expired` expiries,
    /// as a runtime does, and records the deletions as ground truth).
    SetWithTtl {
        /// The owner.
        node: NodeIndex,
        /// The key.
        key: Key,
        /// The value.
        value: Bytes,
        /// Its time to live.
        ttl: Duration,
    },
    /// `Node::delete` on the node; recorded as ground truth.
    Delete {
        /// The owner.
        node: NodeIndex,
        /// The key.
        key: Key,
    },
}

impl Action {
    /// The node the action is addressed to, if it is addressed to one.
    pub fn node(&self) -> Option<NodeIndex> {
        match self {
            Action::Start(node)
            | Action::Crash(node)
            | Action::Restart(node)
            | Action::RestartWithData(node)
            | Action::RestartSameGeneration(node)
            | Action::Leave(node)
            | Action::Stall { node, .. }
            | Action::Set { node, .. }
            | Action::SetWithTtl { node, .. }
            | Action::Delete { node, .. } => Some(*node),
            Action::Partition(_)
            | Action::Heal
            | Action::SetLink(_)
            | Action::SetLinkBetween { .. }
            | Action::SetNodeLoss { .. } => None,
        }
    }

    /// Whether a stalled node must wait for the end of its stall before this applies.
    pub(crate) fn waits_for_stall(&self) -> bool {
        matches!(
            self,
            Action::Leave(_)
                | Action::Set { .. }
                | Action::SetWithTtl { .. }
                | Action::Delete { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_addresses_are_distinct() {
        assert_eq!(NodeIndex(42).name(), "node-00042");
        assert_eq!(NodeIndex(0x01_02_03).address().to_string(), "10.1.2.3:7946");
        assert_ne!(NodeIndex(255).address(), NodeIndex(256).address());
    }
}
