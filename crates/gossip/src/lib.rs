//! leviathan-gossip: coordinator-free cluster membership and key-value replication.
//!
//! Every node owns a small key→value map and publishes it; Scuttlebutt anti-entropy
//! (push/pull, a Cassandra-style `Syn` → `SynAck` → `Ack` handshake) replicates every
//! node's map to every other node, and a φ-accrual failure detector over gossiped
//! heartbeats tells the application who is live, suspect, dead or gone.
//!
//! # In ten lines
//!
//! ```no_run
//! use leviathan_gossip::{Config, Event, Gossip, RecvError};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = Config {
//!     name: "node1".into(),
//!     listen: "127.0.0.1:3000".parse()?,
//!     seeds: vec!["127.0.0.1:3000".into(), "127.0.0.1:3003".into()],
//!     ..Config::lan()
//! };
//! let gossip = Gossip::start(config).await?;
//! let mut events = gossip.events();
//! gossip.set("k1", "v1")?;                       // replicated to every node
//! loop {
//!     match events.recv().await {
//!         Ok(Event::Updates(updates)) => println!("{updates:?}"),
//!         Ok(Event::PeersSuspected(peers)) => println!("suspect: {peers:?}"),
//!         Ok(other) => println!("{other:?}"),
//!         // A slow subscriber misses events, is told so, and goes on.
//!         Err(RecvError::Lagged(missed)) => eprintln!("missed {missed} events"),
//!         Err(RecvError::Closed) => break,
//!     }
//! }
//! let value = gossip.get("node2", "k2");         // what node2 published, if known
//! gossip.leave().await?;                         // peers see PeersLeft at once
//! # let _ = value; Ok(()) }
//! ```
//!
//! # Joining
//!
//! Seeds (`Config::seeds`) are IP addresses or DNS names; a name that does not resolve yet
//! is retried with backoff, and every name is resolved again every
//! `Config::seed_refresh_interval` ([`Gossip::seed_stats`] counts how it went).
//! [`Gossip::join`] calls more addresses while the node runs, as Serf's `join` does. With
//! a `data_dir` (feature `durable`) the node remembers the members it heard from last and
//! calls them when it restarts, so it rejoins even if its seeds are down.
//!
//! # Keys with a time to live
//!
//! [`Gossip::set_with_ttl`] writes a key that this node deletes when its time to live
//! runs out (a later [`Gossip::set`] keeps it for good). The deletion is the owner's: peers
//! see an ordinary delete and never expire keys on their own clocks. With a `data_dir`
//! (feature `durable`) the deadline is kept on disk, as wall-clock time, across restarts.
//!
//! # Forgetting
//!
//! Deleted keys leave tombstones, which replicate the deletion; each node drops its own
//! after `tombstone_grace` (a peer away for longer gets a reset, the owner's whole live
//! state, instead). Dead and departed peers are removed after `remove_after`
//! ([`Event::PeersRemoved`]), and second-hand news of them is ignored for `quarantine`.
//!
//! # Encryption
//!
//! With a keyring (`Config::keyring_file`, or `Config::keyring` from code) every datagram
//! is sealed with XChaCha20-Poly1305 under the primary key and opened with any installed
//! key ([`leviathan_gossip_keyring`] specifies the format). Each carries its send time and
//! is bound to the cluster id, both authenticated. Datagrams that fail authentication (the
//! key, or the cluster id, is not this node's), plaintext ones once encryption is
//! required, replays of a datagram already accepted, and datagrams sealed more than 30 s
//! from this node's clock (members' clocks must agree within that: run NTP) are dropped
//! before parsing and counted ([`Gossip::transport_stats`]). Keys rotate at runtime with no
//! member lost: [`Gossip::install_key`] on every node, then [`Gossip::use_key`] on every
//! node, then [`Gossip::remove_key`]. A plaintext cluster upgrades in three phases with
//! [`Gossip::set_encryption`]: keys installed (send plaintext, accept both), encrypting
//! (send sealed, accept both), required (sealed only). Sealing adds 51 bytes to each
//! datagram beyond `max_packet_size`, which bounds the protocol packet inside it: with the
//! default 1400 a sealed datagram is at most 1451 bytes, 1499 with IPv6 and UDP headers
//! (48 bytes), still under a 1500-byte MTU; lower `max_packet_size` by 51 for smaller MTUs.
//! All of it needs the feature `encryption`.
//!
//! # Cargo features
//!
//! Three optional parts, all on by default. `default-features = false` leaves them out
//! (name the ones wanted in `features`): a part left out is not compiled, nor is its
//! dependency, and its config fields, methods, error variants and re-exports do not exist.
//! Gossip, membership, keys with a time to live (in memory) and events need none of them.
//!
//! * `durable`: `Config::data_dir`, the node's own state kept on disk across restarts
//!   (the `leviathan-gossip-durable` crate).
//! * `encryption`: `Config::keyring_file`, `Config::keyring` and the upgrade phases,
//!   `Gossip::install_key` and the other key-rotation methods, the `keyring` re-export
//!   (the `leviathan-gossip-keyring` crate). Without it every datagram is plaintext and
//!   [`TransportStats`] counts only what the rate limit dropped.
//! * `json`: the `json` module, the JSON shape of events and values (`serde_json`,
//!   `base64`).
//!
//! # Layers
//!
//! This crate is the tokio runtime: a UDP socket, timers and the [`Gossip`] handle around
//! the sans-io state machine of [`leviathan_gossip_core`], which speaks the wire format of
//! [`leviathan_gossip_wire`]. The core holds all protocol logic and runs unchanged in the
//! simulator. The protocol is specified in `docs/PROTOCOL.md`.
//!
//! # Events
//!
//! [`Gossip::events`] subscribes to [`Event`]s: `PeersDiscovered`, `PeersSuspected`,
//! `PeersRecovered`, `PeersDead`, `PeersLeft`, `PeersRemoved`, `PeerRestarted`, `Updates`
//! and `Deleted` (the original library's `peers_discover`, `peers_suspend`,
//! `peers_recover`, `updates` and `delete`, plus what Serf and Cassandra users expect). Events are sent over a
//! channel by the node's task after it released its lock, so a slow subscriber never
//! stalls gossip; it is told how many events it missed instead. The first subscription
//! starts when the node started, so it misses nothing that happened before it was taken
//! (up to `event_buffer` events); later ones start when they are taken. [`Events`] is also
//! a `Stream`; a subscriber that fell behind gets [`RecvError::Lagged`] and goes on (see
//! its example). [`Gossip::key_events`] subscribes to the updates and deletes of keys
//! under a prefix, and [`Gossip::watch_members`] watches the member list.

// The "Encryption" section above links to the key-rotation methods, which a build without
// the feature does not have.
#![cfg_attr(not(feature = "encryption"), allow(rustdoc::broken_intra_doc_links))]

mod config;
#[cfg(feature = "durable")]
mod durable;
#[cfg(feature = "encryption")]
mod encryption;
mod error;
mod gossip;
#[cfg(feature = "durable")]
mod group_commit;
#[cfg(not(feature = "durable"))]
mod in_memory;
#[cfg(feature = "json")]
pub mod json;
#[cfg(not(feature = "encryption"))]
mod plaintext;
mod rate_limit;
mod seeds;
mod subscriptions;
mod transport;
mod wall_clock;

pub use config::{Config, Preset};
#[cfg(feature = "encryption")]
pub use encryption::EncryptionStatus;
pub use error::{Error, RecvError, StartError};
pub use gossip::{Gossip, ROUND_BUCKETS, RoundTiming};
#[cfg(feature = "encryption")]
pub use leviathan_gossip_keyring as keyring;
pub use seeds::SeedStats;
pub use subscriptions::{Events, KeyEvents};
pub use transport::TransportStats;

pub use leviathan_gossip_core::{
    ConfigError, Event, Footprint, Member, MemberState, Stats, Update, WriteError,
};
pub use leviathan_gossip_wire::{Generation, Incarnation, Key, NodeId, NodeName, Version};

/// The sans-io core, for simulation and custom drivers.
pub use leviathan_gossip_core as core;
/// The wire format.
pub use leviathan_gossip_wire as wire;
