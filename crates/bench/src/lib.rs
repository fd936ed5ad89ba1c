//! A real-socket benchmark comparing leviathan-gossip with [chitchat] on loopback UDP.
//!
//! One process starts N nodes of one system on `127.0.0.1`, measures it, stops it, then
//! does the same with the other system: never both at once, so the process's CPU time
//! during a measurement window belongs to one system. Both get the same gossip interval,
//! φ threshold, fanout (3) and seed topology (the first two nodes are the seeds of all),
//! and start the same way: spread evenly over one gossip interval, so their rounds do not
//! tick in lockstep.
//!
//! The four measures, taken by the same code ([`measure::measure`]) for both systems
//! through the [`System`] trait:
//!
//! * **formation**: from just before the first node starts until every node sees all N
//!   nodes live;
//! * **dissemination**: one node writes a key; until the first and until every other
//!   node reads its value;
//! * **cost** at steady state: over an idle window, UDP payload bytes and datagrams sent
//!   and process CPU time, per node per second;
//! * **detection**: one node stops without any leave announcement; until the first and
//!   until every survivor no longer reports it live.
//!
//! Every wait polls every 10 ms and gives up after a timeout, which the report shows as
//! such. [`report`] renders the side-by-side table and the JSON file.
//!
//! [chitchat]: https://crates.io/crates/chitchat

pub mod chitchat;
pub mod counting;
pub mod flood;
pub mod leviathan;
pub mod machine;
pub mod measure;
pub mod report;
mod settings;
mod system;

pub use settings::{ChitchatProtocol, Settings};
pub use system::{System, Traffic, node_name, reserve_addresses, start_offset};

/// The chitchat release measured: the exact version this crate's `Cargo.toml` pins.
pub const CHITCHAT_VERSION: &str = "0.13.0";
