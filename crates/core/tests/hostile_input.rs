//! Hostile or foreign input to one node: another cluster's packets are dropped and
//! counted, so two clusters never merge; a flood of invented nodes, or of keys of one
//! node, is dropped and counted, never stored; local writes beyond the limit get a clear
//! error.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use leviathan_gossip_core::{Node, NodeConfig, WriteError};
use leviathan_gossip_wire::{
    Ack, Generation, Header, Heartbeat, Key, Message, NodeDelta, NodeId, NodeName, NodeStatus,
    Packet, Record, Version,
};

fn config() -> NodeConfig {
    NodeConfig {
        max_nodes: 10,
        max_keys_per_node: 5,
        ..NodeConfig::default()
    }
}

fn node(now: Instant) -> Node {
    let id = NodeId {
        name: NodeName::new("local").unwrap(),
        address: "127.0.0.1:9000".parse().unwrap(),
        generation: Generation(1),
    };
    Node::new(config(), id, [], now, 1).unwrap()
}

fn delta_of(name: &str, keys: usize) -> NodeDelta {
    let records: Vec<Record> = (0..keys)
        .map(|i| Record {
            key: Key::new(format!("k{i}")).unwrap(),
            version: Version(i as u64 + 1),
            value: Some(Bytes::from_static(b"v")),
        })
        .collect();
    NodeDelta {
        node: NodeId {
            name: NodeName::new(name).unwrap(),
            address: "127.0.0.1:9100".parse().unwrap(),
            generation: Generation(1),
        },
        heartbeat: Heartbeat(1),
        status: NodeStatus::Alive,
        gc_watermark: Version(0),
        from_version: Version(0),
        to_version: Version(keys as u64),
        complete: true,
        records,
    }
}

fn deliver(node: &mut Node, deltas: Vec<NodeDelta>, now: Instant) {
    let packet = Packet {
        header: Header {
            cluster_id: node.config().cluster_id.clone(),
            sender: NodeName::new("flooder").unwrap(),
            generation: Generation(1),
            heartbeat: Heartbeat(1),
        },
        message: Message::Ack(Ack { deltas }),
    };
    let from: SocketAddr = "127.0.0.1:9200".parse().unwrap();
    node.handle_packet(from, packet, now);
}

#[test]
fn a_flood_of_invented_nodes_stops_at_max_nodes() {
    let now = Instant::now();
    let mut node = node(now);
    let flood: Vec<NodeDelta> = (0..50).map(|i| delta_of(&format!("fake-{i}"), 1)).collect();
    deliver(&mut node, flood, now);
    assert_eq!(node.footprint().nodes, 10);
    assert_eq!(node.stats().dropped_over_limit, 41);
}

#[test]
fn a_node_with_too_many_keys_is_refused_whole() {
    let now = Instant::now();
    let mut node = node(now);
    deliver(
        &mut node,
        vec![delta_of("big", 6), delta_of("fits", 5)],
        now,
    );
    assert!(
        node.members(now)
            .iter()
            .all(|m| m.id.name.as_str() != "big")
    );
    assert_eq!(node.entries("fits").len(), 5);
    // More keys of a known node, beyond the limit: the delta is dropped, nothing changes.
    let mut more = delta_of("fits", 7);
    more.from_version = Version(5);
    more.records.drain(..5);
    deliver(&mut node, vec![more], now);
    assert_eq!(node.entries("fits").len(), 5);
    assert_eq!(node.stats().dropped_over_limit, 2);
    // Newer versions of keys it holds add none: taken at the limit.
    let mut overwrites = delta_of("fits", 5);
    for record in &mut overwrites.records {
        record.version = Version(record.version.0 + 5);
        record.value = Some(Bytes::from_static(b"w"));
    }
    overwrites.from_version = Version(5);
    overwrites.to_version = Version(10);
    deliver(&mut node, vec![overwrites], now);
    assert_eq!(node.stats().dropped_over_limit, 2);
    let entries = node.entries("fits");
    assert_eq!(entries.len(), 5);
    assert!(entries.iter().all(|(_, _, value)| value.as_ref() == b"w"));
}

#[test]
fn local_writes_beyond_the_key_limit_are_refused_with_the_limit() {
    let now = Instant::now();
    let mut node = node(now);
    for i in 0..5 {
        node.set(Key::new(format!("k{i}")).unwrap(), Bytes::from_static(b"v"))
            .unwrap();
    }
    let refused = node.set(Key::new("k5").unwrap(), Bytes::from_static(b"v"));
    assert_eq!(refused, Err(WriteError::TooManyKeys { max: 5 }));
    // Overwriting a key it holds is fine; a tombstone still counts until collected.
    node.set(Key::new("k0").unwrap(), Bytes::from_static(b"w"))
        .unwrap();
    node.delete(&Key::new("k1").unwrap()).unwrap();
    let refused = node.set(Key::new("k6").unwrap(), Bytes::from_static(b"v"));
    assert_eq!(refused, Err(WriteError::TooManyKeys { max: 5 }));
}

#[test]
fn packets_of_another_cluster_are_dropped_and_counted() {
    let now = Instant::now();
    let mut node = node(now);
    let mut foreign = delta_of("outsider", 1);
    foreign.node.name = NodeName::new("outsider").unwrap();
    let packet = Packet {
        header: Header {
            cluster_id: leviathan_gossip_wire::ClusterId::new("another").unwrap(),
            sender: NodeName::new("outsider").unwrap(),
            generation: Generation(1),
            heartbeat: Heartbeat(1),
        },
        message: Message::Ack(Ack {
            deltas: vec![foreign],
        }),
    };
    let from: SocketAddr = "127.0.0.1:9300".parse().unwrap();
    node.handle_packet(from, packet.clone(), now);
    node.handle_datagram(from, &packet.encode(), now);
    assert_eq!(node.stats().dropped_foreign_cluster, 2);
    assert_eq!(node.footprint().nodes, 1, "the outsider was not merged");
    assert!(node.poll_transmit().is_none(), "nothing is answered");
}
