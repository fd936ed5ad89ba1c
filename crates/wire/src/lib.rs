//! Wire format of leviathan-gossip: the messages nodes exchange and their codec.
//!
//! This crate is pure: no I/O, no clock. It defines
//!
//! * the protocol's vocabulary ([`NodeName`], [`Generation`], [`Version`], [`Incarnation`],
//!   [`NodeId`], [`Key`]) as newtypes that carry their invariants,
//! * the messages of the Scuttlebutt handshake ([`Syn`], [`SynAck`], [`Ack`]), reconciled by
//!   fingerprints over ranges of names ([`RangeSummary`]), inside a [`Packet`] that names the
//!   cluster and the sender,
//! * an exact-size codec: every type has `encoded_len()`, equal to the bytes
//!   [`Packet::encode`] writes, so the core can fill a datagram up to its limit without
//!   encoding twice; [`Packet::decode`] trusts nothing: any byte string gives a packet or a
//!   [`DecodeError`], never a panic, never an allocation larger than the input.
//!
//! The byte layout is specified in `docs/PROTOCOL.md` at the repository root.
//!
//! ```
//! use leviathan_gossip_wire::{
//!     ClusterId, Generation, Header, Incarnation, Message, NodeName, Packet, RangeClaims, Syn,
//! };
//!
//! let packet = Packet {
//!     header: Header {
//!         cluster_id: ClusterId::new("demo").unwrap(),
//!         sender: NodeName::new("node1").unwrap(),
//!         generation: Generation(1),
//!         incarnation: Incarnation(7),
//!     },
//!     message: Message::Syn(Syn {
//!         ranges: RangeClaims::default(),
//!         news: Vec::new(),
//!         rumors: Vec::new(),
//!     }),
//! };
//! let bytes = packet.encode();
//! assert_eq!(bytes.len(), packet.encoded_len());
//! assert_eq!(Packet::decode(&bytes).unwrap(), packet);
//! ```

mod codec;
mod error;
mod identity;
mod message;
mod node_name;
mod ranges;
mod version;

pub use codec::{COUNT_LEN, MAGIC, WIRE_VERSION, entries_len, rumors_len, string_len};
pub use error::{DecodeError, InvalidName};
pub use identity::{
    ClusterId, Generation, Incarnation, Key, MAX_NAME_LEN, NodeId, NodeName, Version,
};
pub use message::{
    Ack, Digest, DigestEntry, Header, Message, MessageKind, NodeDelta, NodeStatus, NodeTag, Packet,
    Probe, ProbeAck, ProbeRequest, Record, Rumor, Syn, SynAck,
};
pub use ranges::{Fingerprint, NameRange, RangeClaims, RangeSummary};
pub use version::WireVersion;
