//! What the application sees while a reset arrives in pieces, driven by hand-made packets
//! to one node: nothing until a complete delta ends the reset, then exactly what changed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use leviathan_gossip_core::{Event, Node, NodeConfig, Outputs};
use leviathan_gossip_wire::{
    Ack, Generation, Header, Incarnation, Key, Message, NodeDelta, NodeId, NodeName, NodeStatus,
    Packet, Record, Version,
};

fn name(n: &str) -> NodeName {
    NodeName::new(n).unwrap()
}

fn owner() -> NodeId {
    NodeId {
        name: name("owner"),
        address: "127.0.0.1:9001".parse().unwrap(),
        generation: Generation(1),
    }
}

fn record(key: &str, version: u64, value: Option<&str>) -> Record {
    Record {
        key: Key::new(key).unwrap(),
        version: Version(version),
        value: value.map(|v| Bytes::copy_from_slice(v.as_bytes())),
    }
}

/// A delta of the owner's records `(from, to]` under `watermark`; `complete`: it holds all
/// of the sender's records above `from`.
fn delta(watermark: u64, from: u64, records: Vec<Record>, to: u64, complete: bool) -> NodeDelta {
    NodeDelta {
        node: owner(),
        incarnation: Incarnation(to),
        status: NodeStatus::Alive,
        gc_watermark: Version(watermark),
        from_version: Version(from),
        records,
        to_version: Version(to),
        complete,
    }
}

/// Hands `delta` to `node` in an Ack from a relay, and returns the events it caused.
fn deliver(node: &mut Node, delta: NodeDelta, now: Instant) -> Vec<Event> {
    let packet = Packet {
        header: Header {
            cluster_id: node.config().cluster_id.clone(),
            sender: name("relay"),
            generation: Generation(1),
            incarnation: Incarnation(1),
        },
        message: Message::Ack(Ack {
            deltas: vec![delta],
            ..Default::default()
        }),
    };
    let from: SocketAddr = "127.0.0.1:9002".parse().unwrap();
    node.handle_packet(from, packet, now);
    let mut outputs = Outputs::default();
    node.drain(&mut outputs);
    outputs.events
}

fn replica(now: Instant) -> Node {
    let id = NodeId {
        name: name("replica"),
        address: "127.0.0.1:9000".parse().unwrap(),
        generation: Generation(1),
    };
    Node::new(NodeConfig::default(), id, [], now, 7).unwrap()
}

fn deleted(events: &[Event]) -> Vec<(String, u64)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Deleted { key, version, .. } => Some((key.to_string(), version.0)),
            _ => None,
        })
        .collect()
}

fn updated(events: &[Event]) -> Vec<(String, u64)> {
    events
        .iter()
        .flat_map(|e| match e {
            Event::Updates(updates) => updates.clone(),
            _ => Vec::new(),
        })
        .map(|u| (u.key.to_string(), u.version.0))
        .collect()
}

/// The replica holds x@1 and y@2. Meanwhile the owner deleted y (v3, since collected:
/// watermark 3), wrote f4..f6 and rewrote x at v7. The reset comes cut after f5, then the
/// rest. Found in review: the cut part used to end the reset, reporting x — rewritten, never
/// deleted — as deleted.
#[test]
fn a_key_rewritten_beyond_the_cut_of_a_reset_is_not_reported_deleted() {
    let now = Instant::now();
    let mut node = replica(now);
    let first = vec![record("x", 1, Some("a")), record("y", 2, Some("b"))];
    deliver(&mut node, delta(0, 0, first, 2, true), now);

    let cut = vec![record("f4", 4, Some("1")), record("f5", 5, Some("1"))];
    let events = deliver(&mut node, delta(3, 0, cut, 5, false), now);
    assert!(
        deleted(&events).is_empty() && updated(&events).is_empty(),
        "{events:?}"
    );
    // The application still sees the view from before the reset.
    assert_eq!(node.get("owner", "x").map(|v| &v[..]), Some(&b"a"[..]));
    assert_eq!(node.get("owner", "y").map(|v| &v[..]), Some(&b"b"[..]));

    let rest = vec![record("f6", 6, Some("1")), record("x", 7, Some("c"))];
    let events = deliver(&mut node, delta(3, 5, rest, 7, true), now);
    assert_eq!(deleted(&events), [("y".to_string(), 3)]);
    assert_eq!(
        updated(&events),
        [
            ("f4".to_string(), 4),
            ("f5".to_string(), 5),
            ("f6".to_string(), 6),
            ("x".to_string(), 7)
        ]
    );
    assert_eq!(node.get("owner", "x").map(|v| &v[..]), Some(&b"c"[..]));
    assert_eq!(node.get("owner", "y"), None);
}

/// Same, with x deleted (v7) rather than rewritten: one `Deleted` for x, at its tombstone.
#[test]
fn a_key_deleted_beyond_the_cut_of_a_reset_is_reported_once() {
    let now = Instant::now();
    let mut node = replica(now);
    let first = vec![record("x", 1, Some("a")), record("y", 2, Some("b"))];
    deliver(&mut node, delta(0, 0, first, 2, true), now);
    let cut = vec![record("f4", 4, Some("1")), record("f5", 5, Some("1"))];
    let mut events = deliver(&mut node, delta(3, 0, cut, 5, false), now);
    let rest = vec![record("f6", 6, Some("1")), record("x", 7, None)];
    events.extend(deliver(&mut node, delta(3, 5, rest, 7, true), now));
    assert_eq!(
        deleted(&events),
        [("x".to_string(), 7), ("y".to_string(), 3)]
    );
}
