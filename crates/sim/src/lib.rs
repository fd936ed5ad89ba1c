//! Deterministic discrete-event simulator of leviathan-gossip clusters.
//!
//! A [`Simulation`] runs N real [`leviathan_gossip_core::Node`]s — the very code the UDP
//! runtime drives, no copy of the protocol — in virtual time, over a
//! modelled network ([`NetworkModel`]: latency distributions, loss, duplication,
//! reordering through jitter, a fault-injecting tamper hook), through a scenario of
//! [`Action`]s (partitions that start and heal, crashes, restarts with a new generation,
//! graceful leaves, stalled nodes, writes and deletes). A run is a function of one `u64`
//! seed and the times it is advanced to ([`Simulation::run_until`] closes the batch of
//! parallel steps in progress): same seed, same `run_until` times, same run, on any number
//! of threads ([`SimulationBuilder::threads`]: the nodes' inputs within one window shorter
//! than the network's shortest latency run in parallel; everything else runs in queue
//! order, so events and violations are listed in processing order, which may step back in
//! time by less than that latency from one batch to the next).
//!
//! Every run is checked ([`invariants`]): every datagram fits the packet size; versions an
//! observer reports for a (node, generation) never go back; a deleted key never comes back;
//! every reported record is a write its owner made. Convergence is checked on demand with
//! [`Simulation::check_converged`].
//!
//! ```
//! use std::time::Duration;
//! use leviathan_gossip_sim::{LinkModel, NetworkModel, NodeIndex, Simulation};
//! use leviathan_gossip_wire::Key;
//!
//! let secs = Duration::from_secs;
//! let mut sim = Simulation::builder(7)
//!     .nodes(8)
//!     .network(NetworkModel::new(LinkModel::lossy(0.1)))
//!     .build()?;
//! sim.set(secs(5), NodeIndex(3), Key::new("color")?, "blue");
//! sim.crash(secs(10), NodeIndex(5));
//! sim.restart(secs(15), NodeIndex(5));
//! sim.run_until(secs(60));
//!
//! sim.check()?; // no invariant violated (the error names the seed)
//! assert_eq!(sim.check_converged(), []);
//! let node = sim.node(NodeIndex(0)).unwrap();
//! assert_eq!(node.get("node-00003", "color").map(|v| &v[..]), Some(&b"blue"[..]));
//! println!("{}", sim.speed()); // simulated node-seconds per wall second
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Reading order: [`simulation`] (the event loop; `batch.rs` runs its batches in
//! parallel), [`network`], [`scenario`],
//! [`invariants`], [`convergence`], [`view`] (membership from events, for experiments),
//! then [`experiments`] (what the `leviathan-gossip-sim` binary runs).

mod batch;
pub mod convergence;
mod data_dir;
pub mod experiments;
pub mod invariants;
pub mod network;
mod queue;
pub mod scenario;
pub mod simulation;
pub mod view;

pub use convergence::{Difference, DifferenceKind};
pub use invariants::{InvariantChecker, Violation, ViolationKind};
pub use network::{Delivery, Latency, LinkModel, NetworkModel, Tamper, Tap};
pub use scenario::{Action, NodeIndex, WakeOrder};
pub use simulation::{
    CheckFailure, NetworkCounters, SimError, Simulation, SimulationBuilder, Speed, TimedEvent,
    Traffic,
};
pub use view::MembershipView;
