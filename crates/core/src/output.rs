//! What a node asks of its driver: one typed output, and the one loop that hands it out.
//!
//! After every input (a datagram, a timeout, a command), the driver drains the node:
//! [`Node::drain`](crate::Node::drain) with a [`Driver`], or [`Node::poll`](crate::Node::poll)
//! until `None`, then sleeps until [`Node::poll_timeout`](crate::Node::poll_timeout). Every
//! driver — the tokio runtime, the simulator, the fuzz targets, the benches — goes through
//! `drain`, so none re-implements the order.

use std::net::SocketAddr;

use bytes::Bytes;
use leviathan_gossip_wire::{Generation, Key, Packet, WireVersion};

use crate::event::Event;
use crate::expiry::Expired;

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Where to send it.
    pub destination: SocketAddr,
    /// What to send; its encoding in `wire_version` fits the node's `max_packet_size`.
    pub packet: Packet,
    /// The version to encode it in: the one the destination is known or expected to read
    /// (`docs/PROTOCOL.md` §3.1).
    pub wire_version: WireVersion,
}

impl Transmit {
    /// The datagram's bytes.
    pub fn encode(&self) -> Bytes {
        self.packet.encode_as(self.wire_version)
    }

    /// The datagram's length in bytes.
    pub fn encoded_len(&self) -> usize {
        self.packet.encoded_len_as(self.wire_version)
    }
}

/// One thing the node asks its driver to do. [`Node::poll`](crate::Node::poll) hands them
/// out in this order: expiries, collected tombstones, a new generation, datagrams, events.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[must_use = "an output is an instruction to the driver"]
pub enum Output {
    /// An own key's time to live ran out: issue its deletion as
    /// [`Write::Expire`](crate::Write::Expire), through the same path as every own write
    /// (with a durable store: prepare, persist, commit).
    Expired(Expired),
    /// Garbage collection dropped the tombstone of this own key: a durable store may forget
    /// it.
    Collected(Key),
    /// The node re-asserted itself under this generation against a false claim about it.
    /// For logs and checks: never persist it (it was derived from a claim nobody verified,
    /// `docs/PROTOCOL.md` §6.7a).
    Reasserted(Generation),
    /// Send this datagram.
    Transmit(Transmit),
    /// Deliver this event to the application.
    Event(Event),
}

/// A driver's side of the contract: what it does with each [`Output`]. The node calls
/// these from [`Node::drain`](crate::Node::drain), in [`Output`]'s order.
///
/// A driver cannot touch the node from inside these calls (it is being drained): it keeps
/// expiries and issues them after `drain` returns.
pub trait Driver {
    /// Send `transmit` (the simulator puts it on its modelled network).
    fn transmit(&mut self, transmit: Transmit);
    /// Deliver `event` to the application.
    fn event(&mut self, event: Event);
    /// Issue the deletion of `expired` (as [`Write::Expire`](crate::Write::Expire)) after
    /// the drain.
    fn expired(&mut self, expired: Expired);
    /// A durable store may forget `key` (its tombstone was collected). Default: nothing.
    fn collected(&mut self, key: Key) {
        let _ = key;
    }
    /// The node moved to `generation` to refute a false claim. Default: nothing.
    fn reasserted(&mut self, generation: Generation) {
        let _ = generation;
    }
}

/// Hands one output to `driver`.
pub(crate) fn dispatch(output: Output, driver: &mut impl Driver) {
    match output {
        Output::Expired(expired) => driver.expired(expired),
        Output::Collected(key) => driver.collected(key),
        Output::Reasserted(generation) => driver.reasserted(generation),
        Output::Transmit(transmit) => driver.transmit(transmit),
        Output::Event(event) => driver.event(event),
    }
}

/// A [`Driver`] that keeps every output: for drivers that act on them after the drain
/// (outside a lock, in a batch) and for tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outputs {
    /// Datagrams to send, in order.
    pub transmits: Vec<Transmit>,
    /// Events to deliver, in order.
    pub events: Vec<Event>,
    /// Expiries to issue as [`Write::Expire`](crate::Write::Expire).
    pub expired: Vec<Expired>,
    /// Own keys whose tombstones were collected.
    pub collected: Vec<Key>,
    /// The latest generation the node re-asserted itself under, if any.
    pub reasserted: Option<Generation>,
}

impl Outputs {
    /// Whether nothing was handed out.
    pub fn is_empty(&self) -> bool {
        *self == Outputs::default()
    }
}

impl Driver for Outputs {
    fn transmit(&mut self, transmit: Transmit) {
        self.transmits.push(transmit);
    }

    fn event(&mut self, event: Event) {
        self.events.push(event);
    }

    fn expired(&mut self, expired: Expired) {
        self.expired.push(expired);
    }

    fn collected(&mut self, key: Key) {
        self.collected.push(key);
    }

    fn reasserted(&mut self, generation: Generation) {
        self.reasserted = Some(generation);
    }
}
