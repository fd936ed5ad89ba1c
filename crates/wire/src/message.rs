//! The messages of the Scuttlebutt handshake, reconciled by range fingerprints.
//!
//! ```text
//!  initiator                                       responder
//!      │ Syn(fingerprint of the whole digest, news)    │
//!      │──────────────────────────────────────────────▶│ equal: no answer
//!      │   SynAck(children of differing ranges, pages, │
//!      │          requests, deltas for the initiator)  │
//!      │◀──────────────────────────────────────────────│
//!      │ Ack(children, pages, requests, deltas)        │
//!      │──────────────────────────────────────────────▶│
//!      │                    … until nothing differs     │
//! ```
//!
//! A digest says, per node, how far the sender's knowledge goes (generation, incarnation,
//! max version, GC watermark, status). Two nodes compare fingerprints of their digests over
//! ranges of the name order ([`RangeSummary`](crate::RangeSummary)); a differing range is
//! answered with its children's fingerprints or, once small, with a [`Digest`] page that
//! lists every node the sender knows in it, so the receiver can tell "the sender does not
//! know node X" (X in range, absent). Each step answers the last, so an exchange ends
//! when a step has nothing to say. Deltas carry, per node, the records the receiver lacks
//! in version order with no gaps, so any prefix of a delta is a valid delta.

use std::net::SocketAddr;

use bytes::Bytes;

use crate::identity::{ClusterId, Generation, Incarnation, Key, NodeId, NodeName, Version};
use crate::ranges::{NameRange, RangeClaims};

/// One datagram: who sends it, in which cluster, and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// Cluster and sender.
    pub header: Header,
    /// The handshake step.
    pub message: Message,
}

/// Fields every packet starts with (after magic and wire version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Packets of other clusters are dropped.
    pub cluster_id: ClusterId,
    /// Sender's name (lets a node drop its own packets, e.g. when it is its own seed).
    pub sender: NodeName,
    /// Sender's generation.
    pub generation: Generation,
    /// Sender's current incarnation: a node that refuted a suspicion says so in every
    /// packet it sends.
    pub incarnation: Incarnation,
}

/// The three steps of the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Step 1: the initiator's digest.
    Syn(Syn),
    /// Step 2: what the initiator lacks, and what the responder wants.
    SynAck(SynAck),
    /// Step 3: what the responder asked for. Also used on its own to push state (leave).
    Ack(Ack),
    /// Failure detection: "are you alive?", from an observer to a node it watches, or from
    /// a relay on an observer's behalf.
    Probe(Probe),
    /// Failure detection: the answer to a [`Probe`] or [`ProbeRequest`].
    ProbeAck(ProbeAck),
    /// Failure detection: "probe this node for me", from an observer whose own probe went
    /// unanswered, to a few relays, so a broken path between two nodes alone raises no alert.
    ProbeRequest(ProbeRequest),
}

/// The kind byte of each message on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MessageKind {
    /// [`Syn`].
    Syn = 1,
    /// [`SynAck`].
    SynAck = 2,
    /// [`Ack`].
    Ack = 3,
    /// [`Probe`].
    Probe = 4,
    /// [`ProbeAck`].
    ProbeAck = 5,
    /// [`ProbeRequest`].
    ProbeRequest = 6,
}

impl MessageKind {
    /// All kinds, for iteration in statistics.
    pub const ALL: [MessageKind; 6] = [
        MessageKind::Syn,
        MessageKind::SynAck,
        MessageKind::Ack,
        MessageKind::Probe,
        MessageKind::ProbeAck,
        MessageKind::ProbeRequest,
    ];

    /// Lower-case name, as used in metrics and logs.
    pub fn name(self) -> &'static str {
        match self {
            MessageKind::Syn => "syn",
            MessageKind::SynAck => "synack",
            MessageKind::Ack => "ack",
            MessageKind::Probe => "probe",
            MessageKind::ProbeAck => "probe_ack",
            MessageKind::ProbeRequest => "probe_request",
        }
    }
}

impl Message {
    /// The message's kind.
    pub fn kind(&self) -> MessageKind {
        match self {
            Message::Syn(_) => MessageKind::Syn,
            Message::SynAck(_) => MessageKind::SynAck,
            Message::Ack(_) => MessageKind::Ack,
            Message::Probe(_) => MessageKind::Probe,
            Message::ProbeAck(_) => MessageKind::ProbeAck,
            Message::ProbeRequest(_) => MessageKind::ProbeRequest,
        }
    }
}

/// Step 1: "this is how my digest looks, and these nodes changed lately".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Syn {
    /// The initiator's digest summarised over name ranges (the whole order, usually): a
    /// responder whose fingerprints agree has nothing to say.
    pub ranges: RangeClaims,
    /// Entries of nodes whose state (generation, records or status) changed lately, the
    /// initiator's own entry first. The list says nothing about the nodes it omits: it
    /// spreads news in O(log N) rounds, and reconciliation by ranges is the safety net.
    pub news: Vec<DigestEntry>,
    /// Failure-detection rumours the initiator is spreading.
    pub rumors: Vec<Rumor>,
}

/// Step 2, and every even step after it: the responder's answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SynAck {
    /// Ranges where the two digests differ: split into children, or listed as pages.
    pub ranges: RangeClaims,
    /// Nodes the responder lacks or is behind on, each with how far its knowledge goes
    /// (version 0 and generation 0 for a node it has never seen).
    pub requests: Vec<DigestEntry>,
    /// State the initiator lacks, never-seen nodes first, then most-behind first.
    pub deltas: Vec<NodeDelta>,
}

/// Step 3, and every odd step after it: the initiator's answer. On its own (with deltas
/// only) it also pushes state, as a leaving node does.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ack {
    /// Ranges where the two digests differ, as in [`SynAck::ranges`].
    pub ranges: RangeClaims,
    /// Nodes the initiator lacks, as in [`SynAck::requests`].
    pub requests: Vec<DigestEntry>,
    /// State, in the same order rules as [`SynAck::deltas`].
    pub deltas: Vec<NodeDelta>,
}

impl Ack {
    /// An Ack that only carries state.
    pub fn with_deltas(deltas: Vec<NodeDelta>) -> Ack {
        Ack {
            deltas,
            ..Ack::default()
        }
    }
}

/// A page of a digest: entries for every node the sender knows in `range`, in name order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    /// The names covered.
    pub range: NameRange,
    /// One entry per known node in the range, in name order.
    pub entries: Vec<DigestEntry>,
}

impl Digest {
    /// A digest covering every name.
    pub fn full(entries: Vec<DigestEntry>) -> Self {
        Digest {
            range: NameRange::ALL,
            entries,
        }
    }

    /// Whether `name` lies in the range this page covers.
    pub fn covers(&self, name: &NodeName) -> bool {
        self.range.contains(name)
    }
}

/// How far the sender's knowledge of one node goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestEntry {
    /// The node.
    pub name: NodeName,
    /// The generation the sender knows.
    pub generation: Generation,
    /// Highest incarnation the sender has seen for that generation.
    pub incarnation: Incarnation,
    /// Highest version the sender holds: it has every record up to it.
    pub max_version: Version,
    /// Versions at or below this may have been garbage-collected (tombstones dropped);
    /// a peer knowing less than it needs a full reset, not a delta. 0 until GC exists.
    pub gc_watermark: Version,
    /// Whether the node announced its departure.
    pub status: NodeStatus,
}

/// A node's own announcement of its lifecycle, monotonic within a generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(u8)]
pub enum NodeStatus {
    /// Running.
    #[default]
    Alive = 0,
    /// Left the cluster gracefully; peers need not wait for the failure detector.
    Left = 1,
}

/// The records of one node that the receiver lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeDelta {
    /// The node, with its address so a receiver that never saw it can reach it.
    pub node: NodeId,
    /// The node's heartbeat as the sender knows it.
    pub incarnation: Incarnation,
    /// The node's status as the sender knows it.
    pub status: NodeStatus,
    /// The sender's GC watermark for this node (see [`DigestEntry::gc_watermark`]).
    pub gc_watermark: Version,
    /// The records cover every current record with a version above this one, up to the
    /// last record's version: a receiver holding less than `from_version` must drop the
    /// delta rather than create a gap.
    pub from_version: Version,
    /// Records in increasing version order.
    pub records: Vec<Record>,
    /// After applying the delta the receiver holds every current record up to this
    /// version: the last record's version (or `from_version` when there is none), or more
    /// when the sender had nothing above it — its last versions were tombstones it has
    /// garbage-collected. Never below the last record's version or `from_version`.
    pub to_version: Version,
    /// The records are all the sender's current records above `from_version`, and
    /// `to_version` is the sender's max version: a receiver then holds the sender's whole
    /// state (what ends a reset). `false` for a delta cut to fit the packet, or one that
    /// carries no records by choice; `to_version` is then the last record's version.
    pub complete: bool,
}

impl NodeDelta {
    /// The smallest `to_version` this delta may carry: its last record's version, or
    /// `from_version` when there is none.
    pub fn last_version(&self) -> Version {
        self.records
            .last()
            .map_or(self.from_version, |record| record.version)
    }
}

/// One key of one node at one version: a value, or a tombstone (`value == None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The key.
    pub key: Key,
    /// The version the owner gave this write.
    pub version: Version,
    /// The value; `None` is a tombstone (the key was deleted at `version`).
    pub value: Option<Bytes>,
}

/// An observer's probe of a node it watches (or a relay's, on an observer's behalf).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// Chosen by the prober, echoed by the answer.
    pub sequence: u64,
    /// The node meant, as a fingerprint of its name: a node answers only probes meant for
    /// it, so a probe sent to an address another node has since taken proves nothing.
    pub target: NodeTag,
    /// Rumours the prober is spreading, those about the target first: a suspect hears
    /// that it is suspected from its observers' probes, and refutes at once.
    pub rumors: Vec<Rumor>,
}

/// The answer to a [`Probe`] (from its target) or to a [`ProbeRequest`] (from the relay).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeAck {
    /// The sequence of the probe or request answered.
    pub sequence: u64,
    /// `true`: the target answered. `false`: a relay's "nack" — it probed the target and
    /// heard nothing in time, which at least tells the requester that the relay is reachable.
    pub reached: bool,
    /// Rumours the sender is spreading.
    pub rumors: Vec<Rumor>,
}

/// An observer's request to a relay: probe `target` and tell me whether it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeRequest {
    /// The requester's sequence, echoed by the relay's [`ProbeAck`].
    pub sequence: u64,
    /// The node to probe, with its address (the relay may not know it yet).
    pub target: NodeId,
    /// Rumours the requester is spreading.
    pub rumors: Vec<Rumor>,
}

/// What one node says of another's liveness at one incarnation: that observers found it
/// unreachable (an alert), or, with no alerters, that it is alive at that incarnation (a
/// refutation, which only the subject itself can start, by raising its incarnation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rumor {
    /// The node the rumour is about.
    pub subject: NodeName,
    /// Its generation.
    pub generation: Generation,
    /// Its incarnation within that generation.
    pub incarnation: Incarnation,
    /// The observers that raised an alert about this incarnation, as fingerprints of
    /// their names ([`NodeTag::of`]), in increasing order without duplicates (receivers
    /// must not rely on it). Empty: the subject is alive at this incarnation.
    pub alerters: Vec<NodeTag>,
}

/// A 32-bit fingerprint of a node's name: enough to count distinct alerters (a collision
/// only undercounts) or to say whom a probe is for, in four bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeTag(pub u32);

impl NodeTag {
    /// The tag of the node called `name`.
    pub fn of(name: &NodeName) -> NodeTag {
        // The high half: the low half's bits already ordered the name's neighbours.
        NodeTag((name.order_hash() >> 32) as u32)
    }
}

/// Where a [`NodeDelta`] says the node lives (kept here to document the address layout).
pub(crate) fn address_len(address: &SocketAddr) -> usize {
    match address {
        SocketAddr::V4(_) => 1 + 4 + 2,
        SocketAddr::V6(_) => 1 + 16 + 2,
    }
}
