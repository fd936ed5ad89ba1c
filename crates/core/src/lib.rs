//! Sans-io core of leviathan-gossip: one cluster member as a deterministic state machine.
//!
//! A [`Node`] owns a key-value map that it publishes, replicates every other member's map
//! by Scuttlebutt anti-entropy (a `Syn` / `SynAck` / `Ack` handshake, see
//! [`leviathan_gossip_wire`]) and judges each peer's liveness from first-hand evidence:
//! every node is watched by a few observers that probe it, and is suspected only when
//! several of them found it unreachable. It does no I/O and owns no clock or entropy:
//!
//! ```text
//!   handle_datagram / handle_timeout (with `now`)       drain(&mut impl Driver):
//!   prepare(write) → [persist] → commit(prepared) ──▶  Node ──▶ Output::{Transmit, Event,
//!                                                              Expired, Collected, Reasserted}
//!                                                         poll_timeout() → next deadline
//! ```
//!
//! That is the whole contract ([`Output`], [`Driver`], [`Write`], [`PreparedWrite`]): the
//! tokio runtime (crate `leviathan-gossip`), the simulator, the fuzz targets and the
//! benches drive the very same code through it. Only that contract and the vocabulary
//! around it are public; the modules are private. Reading order of the source, top-down
//! (`src/`):
//!
//! * `node.rs` — the state machine's dispatch: inputs, outputs, commands, the handshake;
//! * `output.rs` and `own_writes.rs` — the contract with the driver;
//! * `state.rs` — the replicated data and its merge rules (versions never go back, resets
//!   after garbage collection);
//! * `member.rs` — a peer's state and this node's judgement of it, the vocabulary of:
//! * `membership.rs` — who is live: the health table (`health_table.rs`) and check
//!   (`health_check.rs`), and how facts about peers reach them;
//! * `node/liveness.rs` — failure detection, fed by the node: who watches whom
//!   (`rings.rs`), probes and checks with a φ-accrual detector per watched peer
//!   (`monitor.rs`, `failure_detector.rs`), this node's doubt about itself
//!   (`local_health.rs`), alerts and refutations spread as rumours (`rumors.rs`);
//! * `cluster_state.rs` — every known node, with fingerprints of the digest over ranges
//!   kept up to date;
//! * `range_answers.rs` — answering a peer's range fingerprints: split, list or stop;
//! * `digest.rs` — comparing digest entries (pages, news, requests): who is behind on what;
//! * `news.rs` — recently changed nodes, advertised beside the fingerprint so changes
//!   spread in O(log N) rounds;
//! * `delta.rs` — deltas in scuttle-depth order that fit a byte budget;
//! * `peer_selection.rs` — whom to gossip with each round;
//! * `quarantine.rs`, `expiry.rs` and `generation_horizon.rs` — removed peers kept out for
//!   a while, keys written with a time to live, generations too far ahead refused;
//! * `timers.rs` — the periodic duties (health check, gossip round) as data;
//! * `config.rs`, `event.rs`, `stats.rs`, `error.rs` — the vocabulary around them.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use leviathan_gossip_core::{Node, NodeConfig, Outputs};
//! use leviathan_gossip_wire::{Generation, Key, NodeId, NodeName};
//!
//! let now = Instant::now();
//! let id = |name: &str, port| NodeId {
//!     name: NodeName::new(name).unwrap(),
//!     address: ([127, 0, 0, 1], port).into(),
//!     generation: Generation(1),
//! };
//! let mut a = Node::new(NodeConfig::default(), id("a", 1), [], now, 1).unwrap();
//! let mut b = Node::new(NodeConfig::default(), id("b", 2), [a.identity().address], now, 2).unwrap();
//! a.set(Key::new("color").unwrap(), "blue".into()).unwrap();
//!
//! // Drain `from` and hand every datagram it sends to `to`; true if there was one.
//! fn deliver(from: &mut Node, to: &mut Node, now: Instant) -> bool {
//!     let mut outputs = Outputs::default();
//!     from.drain(&mut outputs);
//!     for transmit in &outputs.transmits {
//!         to.handle_packet(from.identity().address, transmit.packet.clone(), now);
//!     }
//!     !outputs.transmits.is_empty()
//! }
//!
//! let mut time = now;
//! for _ in 0..3 {
//!     a.handle_timeout(time);
//!     b.handle_timeout(time);
//!     while deliver(&mut a, &mut b, time) | deliver(&mut b, &mut a, time) {}
//!     time += Duration::from_secs(1);
//! }
//! assert_eq!(b.get("a", "color").map(|v| &v[..]), Some(&b"blue"[..]));
//! ```

#![deny(missing_docs)]

mod address;
mod address_proof;
mod cluster_state;
mod config;
mod delta;
mod digest;
mod duplicates;
mod error;
mod event;
mod expiry;
mod failure_detector;
mod generation_horizon;
mod health_check;
mod health_table;
mod informed_peers;
mod introductions;
mod local_health;
mod member;
mod membership;
mod monitor;
mod news;
mod node;
mod output;
mod own_writes;
mod peer_selection;
mod quarantine;
mod range_answers;
mod restart_claims;
mod rings;
mod rumors;
mod state;
mod stats;
mod timers;
mod wire_versions;

pub use config::{
    ConfigError, MAX_INDIRECT_PROBES, MAX_OBSERVERS, MAX_PACKET_SIZE, MIN_PACKET_SIZE,
    MIN_REMOTE_BYTES, NodeConfig, QUARANTINE_MARGIN,
};
pub use error::{RestoreError, WriteError};
pub use event::{Event, Update};
pub use expiry::Expired;
pub use failure_detector::PhiConfig;
pub use generation_horizon::MAX_GENERATION_AHEAD;
pub use member::{Member, MemberState, PeerCounts};
pub use node::{Footprint, Node, REASSERT_INTERVAL};
pub use output::{Driver, Output, Outputs, Transmit};
pub use own_writes::{
    NodeAccess, PreparedWrite, Store, Write, WriteAheadError, write_ahead, write_ahead_group,
};
pub use quarantine::MAX_QUARANTINED;
pub use state::Versioned;
pub use stats::{KindCounters, Stats};

/// Internals reached by this crate's benches and property tests, and nothing else: not
/// part of the API, they change without notice. Drivers use the crate root.
#[doc(hidden)]
pub mod internals {
    pub use crate::delta::{build_deltas, order_candidates};
    pub use crate::digest::{DeltaCandidate, Lag, reconcile_page, requests_len};
    pub use crate::failure_detector::{Arrivals, FailureDetector, PhiAccrualDetector};
    pub use crate::quarantine::Quarantine;
    pub use crate::range_answers::{PAGE_ENTRIES, answer_summaries, page_of};
    pub use crate::state::{ClusterState, NodeState};
}
