//! A node speaks the wire version before its own to peers that speak no newer one: it
//! answers a packet in the version it came in, and calls a peer whose Syns came in the
//! older version mostly in that version, with a page that fits the packet. The rolling
//! upgrade itself, against the last build of the older version, is
//! `scripts/rolling-upgrade.sh`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use leviathan_gossip_core::{Node, NodeConfig, Outputs, Transmit};
use leviathan_gossip_wire::{
    Ack, Digest, DigestEntry, Generation, Header, Incarnation, Message, NodeDelta, NodeId,
    NodeName, NodeStatus, Packet, RangeClaims, Syn, Version, WireVersion,
};

fn id(name: &str, port: u16) -> NodeId {
    NodeId {
        name: NodeName::new(name).unwrap(),
        address: SocketAddr::from(([127, 0, 0, 1], port)),
        generation: Generation(1),
    }
}

fn header(node: &Node, sender: &NodeId) -> Header {
    Header {
        cluster_id: node.config().cluster_id.clone(),
        sender: sender.name.clone(),
        generation: sender.generation,
        incarnation: Incarnation(0),
    }
}

fn delta(node: NodeId) -> NodeDelta {
    NodeDelta {
        node,
        incarnation: Incarnation(0),
        status: NodeStatus::Alive,
        gc_watermark: Version(0),
        from_version: Version(0),
        records: Vec::new(),
        to_version: Version(0),
        complete: true,
    }
}

fn entry(node: &NodeId) -> DigestEntry {
    DigestEntry {
        name: node.name.clone(),
        generation: node.generation,
        incarnation: Incarnation(0),
        max_version: Version(0),
        gc_watermark: Version(0),
        status: NodeStatus::Alive,
    }
}

/// A node that knows `old` and `others` more nodes, told by `old` itself.
fn member(old: &NodeId, others: u16, now: Instant) -> Node {
    let config = NodeConfig {
        max_introductions_per_sender: usize::from(others) + 1,
        ..NodeConfig::default()
    };
    let mut node = Node::new(config, id("member", 9000), [], now, 5).unwrap();
    let deltas = std::iter::once(delta(old.clone()))
        .chain((1..=others).map(|i| delta(id(&format!("n{i}"), 10_000 + i))))
        .collect();
    let packet = Packet {
        header: header(&node, old),
        message: Message::Ack(Ack::with_deltas(deltas)),
    };
    node.handle_packet(old.address, packet, now);
    node.drain(&mut Outputs::default());
    node
}

/// The bytes of a Syn from `old` in the oldest version: a page listing only itself.
fn old_syn(node: &Node, old: &NodeId) -> Vec<u8> {
    let syn = Syn {
        ranges: RangeClaims {
            summaries: Vec::new(),
            pages: vec![Digest::full(vec![entry(old)])],
        },
        news: vec![entry(old)],
        rumors: Vec::new(),
    };
    Packet {
        header: header(node, old),
        message: Message::Syn(syn),
    }
    .encode_as(WireVersion::OLDEST)
    .to_vec()
}

fn transmits(node: &mut Node) -> Vec<Transmit> {
    let mut outputs = Outputs::default();
    node.drain(&mut outputs);
    outputs.transmits
}

#[test]
fn a_syn_in_the_oldest_version_is_answered_in_it_with_what_the_sender_lacks() {
    let now = Instant::now();
    let old = id("old", 9100);
    let mut node = member(&old, 40, now);
    node.handle_datagram(old.address, &old_syn(&node, &old), now);
    let answers: Vec<Transmit> = transmits(&mut node)
        .into_iter()
        .filter(|t| t.destination == old.address && matches!(t.packet.message, Message::SynAck(_)))
        .collect();
    assert!(!answers.is_empty(), "no answer to the old Syn");
    for answer in &answers {
        assert_eq!(answer.wire_version, WireVersion::OLDEST);
        let bytes = answer.encode();
        assert!(bytes.len() <= node.config().max_packet_size);
        let (decoded, version) = Packet::decode_versioned(&bytes).unwrap();
        assert_eq!(version, WireVersion::OLDEST);
        let Message::SynAck(synack) = decoded.message else {
            unreachable!("filtered above");
        };
        assert!(
            synack
                .deltas
                .iter()
                .any(|delta| delta.node.name.as_str().starts_with('n')),
            "the old node lacks the other nodes, and gets some"
        );
    }
}

#[test]
fn a_peer_heard_in_the_oldest_version_is_called_mostly_in_it_and_sometimes_in_the_current() {
    let mut now = Instant::now();
    let old = id("old", 9100);
    let mut node = member(&old, 0, now);
    node.handle_datagram(old.address, &old_syn(&node, &old), now);
    transmits(&mut node);
    let mut versions = Vec::new();
    for _ in 0..8 {
        now += node.config().gossip_interval;
        node.handle_timeout(now);
        for transmit in transmits(&mut node) {
            if transmit.destination == old.address
                && matches!(transmit.packet.message, Message::Syn(_))
            {
                let (_, version) = Packet::decode_versioned(&transmit.encode()).unwrap();
                assert_eq!(version, transmit.wire_version);
                versions.push(version);
            }
            assert!(transmit.encode().len() <= node.config().max_packet_size);
        }
    }
    let oldest = versions
        .iter()
        .filter(|v| **v == WireVersion::OLDEST)
        .count();
    assert_eq!(
        versions.len(),
        8,
        "one Syn a round to the only peer: {versions:?}"
    );
    assert_eq!(
        oldest, 6,
        "three in four in the oldest version: {versions:?}"
    );

    // Once the peer's Syn comes in the current version, it is called in that.
    let syn = Packet {
        header: header(&node, &old),
        message: Message::Syn(Syn {
            ranges: RangeClaims::default(),
            news: vec![entry(&old)],
            rumors: Vec::new(),
        }),
    };
    node.handle_datagram(old.address, &syn.encode(), now);
    transmits(&mut node);
    for _ in 0..4 {
        now += node.config().gossip_interval;
        node.handle_timeout(now);
        for transmit in transmits(&mut node) {
            if matches!(transmit.packet.message, Message::Syn(_)) {
                assert_eq!(transmit.wire_version, WireVersion::CURRENT);
            }
        }
    }
    assert_eq!(node.footprint().older_wire_peers, 0);
}

#[test]
fn a_syn_in_the_oldest_version_from_a_large_cluster_carries_a_page_that_fits_the_packet() {
    let now = Instant::now() + Duration::from_secs(1);
    let old = id("old", 9100);
    let mut node = member(&old, 2_000, now);
    node.handle_datagram(old.address, &old_syn(&node, &old), now);
    transmits(&mut node);
    assert_eq!(node.footprint().older_wire_peers, 1);
    // A join calls at once: the first Syn to a peer heard in the oldest version is in it.
    node.join([old.address]);
    let syn = transmits(&mut node)
        .into_iter()
        .find(|t| t.destination == old.address && matches!(t.packet.message, Message::Syn(_)))
        .expect("a Syn to the old peer");
    assert_eq!(syn.wire_version, WireVersion::OLDEST);
    let bytes = syn.encode();
    assert_eq!(bytes.len(), syn.encoded_len());
    assert!(
        bytes.len() <= node.config().max_packet_size,
        "{} bytes",
        bytes.len()
    );
    let (decoded, _) = Packet::decode_versioned(&bytes).unwrap();
    let Message::Syn(decoded) = decoded.message else {
        unreachable!("found above");
    };
    let listed: usize = decoded
        .ranges
        .pages
        .iter()
        .map(|page| page.entries.len())
        .sum();
    assert!(
        listed >= 10,
        "a page of a range small enough to fit, with the nodes in it: {listed} listed"
    );
    assert_eq!(decoded.news[0].name.as_str(), "member", "own entry first");
}
