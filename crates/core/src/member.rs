//! The vocabulary of membership: a peer's state, this node's judgement of it, and the
//! snapshots `members()` and `peer_counts()` hand out. The rules that move peers between
//! states are in `membership.rs`.

use std::fmt;

use leviathan_gossip_wire::{Heartbeat, NodeId, Version};

use crate::failure_detector::Arrivals;

/// A peer's state, from this node's point of view.
///
/// ```text
///   Live ──φ > threshold──▶ Suspect ──dead_after──▶ Dead
///    ▲                        │                      │
///    └──── fresh heartbeat ───┴──────────────────────┘
///   any ──announced leave──▶ Left    (a new generation makes it Live again)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MemberState {
    /// Heartbeats arrive as expected.
    Live,
    /// Heartbeats are late enough that φ crossed the threshold.
    Suspect,
    /// Suspect for longer than `dead_after`.
    Dead,
    /// Announced a graceful leave.
    Left,
}

impl MemberState {
    /// Lower-case name, as used in JSON and metrics.
    pub fn name(self) -> &'static str {
        match self {
            MemberState::Live => "live",
            MemberState::Suspect => "suspect",
            MemberState::Dead => "dead",
            MemberState::Left => "left",
        }
    }
}

impl fmt::Display for MemberState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How many peers a node lists, and in which state: kept up to date as they change, so
/// reading it costs nothing, unlike [`crate::Node::members`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerCounts {
    /// Peers listed, whatever their state (removed ones no longer count).
    pub known: usize,
    /// Peers seen as live.
    pub live: usize,
    /// Peers suspected or dead.
    pub unreachable: usize,
}

/// A snapshot of one cluster member, for `members()`.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// Name, address and generation.
    pub id: NodeId,
    /// Live, suspect, dead or left. The local node is always live (or left after `leave`).
    pub state: MemberState,
    /// Current φ (`None` for the local node and for peers that left).
    pub phi: Option<f64>,
    /// Highest heartbeat known.
    pub heartbeat: Heartbeat,
    /// Every record of its key-value map up to this version is known (during a reset,
    /// how far the reset got).
    pub max_version: Version,
    /// Its tombstones up to this version were garbage-collected: a peer knowing less gets a
    /// reset. `max(max_version, gc_watermark)` never goes back for one incarnation.
    pub gc_watermark: Version,
    /// Number of live keys known.
    pub key_count: usize,
    /// Whether this is the local node.
    pub is_local: bool,
}

/// This node's judgement of one peer incarnation's liveness: local, never gossiped. Kept
/// in the node's health table, in a slot the peer's [`crate::state::NodeState`] points
/// to; a new incarnation gets a fresh one. 32 bytes, as every node keeps one per peer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Health {
    /// Heartbeat arrival statistics.
    pub(crate) arrivals: Arrivals,
    pub(crate) state: MemberState,
    /// For a suspect peer, when it was suspected, in ms after its last arrival (which
    /// cannot change while it is suspect: an arrival makes it live). Saturates at 49 days.
    pub(crate) suspected_after_ms: u32,
}

impl Health {
    /// A peer just heard from, or that just left.
    pub(crate) fn new(state: MemberState, arrivals: Arrivals) -> Self {
        Health {
            arrivals,
            state,
            suspected_after_ms: 0,
        }
    }
}
