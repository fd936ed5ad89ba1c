//! Sans-io core of leviathan-gossip: one cluster member as a deterministic state machine.
//!
//! A [`Node`] owns a key-value map that it publishes, replicates every other member's map
//! by Scuttlebutt anti-entropy (a `Syn` / `SynAck` / `Ack` handshake, see
//! [`leviathan_gossip_wire`]) and judges each peer's liveness with a φ-accrual failure
//! detector fed by gossiped heartbeats. It does no I/O and owns no clock or entropy:
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
//! benches drive the very same code through it. Reading order, top-down:
//!
//! * [`node`] — the state machine and the order to call its methods in;
//! * [`state`] — the replicated data and its merge rules (versions never go back);
//! * [`digest`] — bounded digest pages and reconciliation ("who is behind on what");
//! * [`news`] — recently changed nodes, advertised beside the pages so changes spread in
//!   O(log N) rounds;
//! * [`delta`] — deltas in scuttle-depth order that fit a byte budget;
//! * [`peer_selection`] — whom to gossip with each round;
//! * [`failure_detector`] and [`membership`] — φ-accrual and live/suspect/dead/left;
//! * [`quarantine`] and [`expiry`] — the lifecycle: removed peers kept out for a while,
//!   keys written with a time to live (tombstone garbage collection and resets live in
//!   [`state`] and [`node`]);
//! * [`config`], [`event`], [`stats`], [`error`] — the vocabulary around them.
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

mod address;
pub mod config;
pub mod delta;
pub mod digest;
pub mod error;
pub mod event;
pub mod expiry;
pub mod failure_detector;
mod generation_horizon;
mod health_check;
mod health_table;
pub mod membership;
pub mod news;
pub mod node;
mod output;
mod own_writes;
pub mod peer_selection;
pub mod quarantine;
pub mod state;
pub mod stats;

pub use config::{ConfigError, NodeConfig};
pub use error::{RestoreError, WriteError};
pub use event::{Event, Update};
pub use expiry::Expired;
pub use failure_detector::{FailureDetector, PhiAccrualDetector, PhiConfig};
pub use generation_horizon::MAX_GENERATION_AHEAD;
pub use membership::{Member, MemberState, PeerCounts};
pub use node::{Footprint, Node};
pub use output::{Driver, Output, Outputs, Transmit};
pub use own_writes::{NodeAccess, PreparedWrite, Store, Write, WriteAheadError, write_ahead};
pub use stats::Stats;
