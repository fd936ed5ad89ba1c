//! A node's own writes leave it at once: pushed to `fanout` live peers as an Ack with the
//! new records, not held until the next gossip round.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use leviathan_gossip_core::{Node, NodeConfig, Outputs, Write};
use leviathan_gossip_wire::{
    Ack, Generation, Header, Incarnation, Key, Message, NodeDelta, NodeId, NodeName, NodeStatus,
    Version,
};

fn peer(i: u16) -> NodeId {
    NodeId {
        name: NodeName::new(format!("peer-{i}")).unwrap(),
        address: SocketAddr::from(([127, 0, 0, 1], 9100 + i)),
        generation: Generation(1),
    }
}

/// A node that knows eight live peers.
fn node_with_peers(now: Instant) -> Node {
    let id = NodeId {
        name: NodeName::new("writer").unwrap(),
        address: "127.0.0.1:9000".parse().unwrap(),
        generation: Generation(1),
    };
    let mut node = Node::new(NodeConfig::default(), id, [], now, 7).unwrap();
    let deltas: Vec<NodeDelta> = (1..=8)
        .map(|i| NodeDelta {
            node: peer(i),
            incarnation: Incarnation(0),
            status: NodeStatus::Alive,
            gc_watermark: Version(0),
            from_version: Version(0),
            records: Vec::new(),
            to_version: Version(0),
            complete: true,
        })
        .collect();
    let packet = leviathan_gossip_wire::Packet {
        header: Header {
            cluster_id: node.config().cluster_id.clone(),
            sender: peer(1).name,
            generation: Generation(1),
            incarnation: Incarnation(0),
        },
        message: Message::Ack(Ack::with_deltas(deltas)),
    };
    node.handle_packet(peer(1).address, packet, now);
    node.drain(&mut Outputs::default());
    node
}

fn set(node: &mut Node, key: &str, value: &str, now: Instant) -> Outputs {
    let write = Write::Set {
        key: Key::new(key).unwrap(),
        value: Bytes::copy_from_slice(value.as_bytes()),
    };
    node.write(write, now).unwrap();
    let mut outputs = Outputs::default();
    node.drain(&mut outputs);
    outputs
}

/// The pushes among `outputs`: (destination, from version, record versions).
fn pushes(outputs: &Outputs) -> Vec<(SocketAddr, Version, Vec<u64>)> {
    outputs
        .transmits
        .iter()
        .filter_map(|transmit| match &transmit.packet.message {
            Message::Ack(ack) => {
                let [delta] = ack.deltas.as_slice() else {
                    panic!("a push holds the writer's delta alone: {ack:?}");
                };
                assert_eq!(delta.node.name.as_str(), "writer");
                let versions = delta.records.iter().map(|r| r.version.0).collect();
                Some((transmit.destination, delta.from_version, versions))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_write_goes_to_fanout_peers_at_once_and_the_next_only_with_what_is_new() {
    let now = Instant::now();
    let mut node = node_with_peers(now);
    let first = pushes(&set(&mut node, "a", "1", now));
    assert_eq!(first.len(), NodeConfig::default().fanout);
    let destinations: BTreeSet<SocketAddr> = first.iter().map(|(to, _, _)| *to).collect();
    assert_eq!(destinations.len(), first.len(), "distinct peers");
    assert!(
        first
            .iter()
            .all(|(_, from, versions)| *from == Version(0) && versions == &[1])
    );

    let second = pushes(&set(&mut node, "b", "2", now));
    assert_eq!(second.len(), NodeConfig::default().fanout);
    assert!(
        second
            .iter()
            .all(|(_, from, versions)| *from == Version(1) && versions == &[2])
    );

    // Nothing new: nothing pushed.
    let mut outputs = Outputs::default();
    node.drain(&mut outputs);
    assert!(pushes(&outputs).is_empty());
}

#[test]
fn a_node_alone_or_gone_pushes_nothing() {
    let now = Instant::now();
    let id = NodeId {
        name: NodeName::new("writer").unwrap(),
        address: "127.0.0.1:9000".parse().unwrap(),
        generation: Generation(1),
    };
    let mut alone = Node::new(NodeConfig::default(), id, [], now, 7).unwrap();
    assert!(pushes(&set(&mut alone, "a", "1", now)).is_empty());

    let mut node = node_with_peers(now);
    node.leave();
    node.drain(&mut Outputs::default());
    let write = Write::Set {
        key: Key::new("a").unwrap(),
        value: Bytes::from_static(b"1"),
    };
    assert!(
        node.write(write, now).is_err(),
        "a node that left writes nothing"
    );
}
