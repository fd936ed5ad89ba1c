//! A node joining a large cluster learns its members in a few round trips: once its
//! address is proven, an answer to a peer that never saw most nodes streams the roster in
//! several packets; before that, answers are held to three times what they answer.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use leviathan_gossip_core::{Node, NodeConfig, Outputs};
use leviathan_gossip_wire::{
    Ack, Generation, Header, Incarnation, Message, NodeDelta, NodeId, NodeName, NodeStatus, Packet,
    Version,
};

const MEMBERS: u16 = 2_000;

fn id(name: &str, port: u16) -> NodeId {
    NodeId {
        name: NodeName::new(name).unwrap(),
        address: SocketAddr::from(([127, 0, 0, 1], port)),
        generation: Generation(1),
    }
}

/// A member of a cluster of `MEMBERS` nodes that knows them all (told by one of them,
/// allowed to introduce them all at once).
fn member(now: Instant) -> Node {
    let config = NodeConfig {
        max_introductions_per_sender: usize::from(MEMBERS),
        ..NodeConfig::default()
    };
    let mut node = Node::new(config, id("member", 9000), [], now, 3).unwrap();
    let deltas: Vec<NodeDelta> = (1..=MEMBERS)
        .map(|i| NodeDelta {
            node: id(&format!("n{i}"), 10_000 + i),
            incarnation: Incarnation(0),
            status: NodeStatus::Alive,
            gc_watermark: Version(0),
            from_version: Version(0),
            records: Vec::new(),
            to_version: Version(0),
            complete: true,
        })
        .collect();
    let sender = id("n1", 10_001);
    let packet = Packet {
        header: Header {
            cluster_id: node.config().cluster_id.clone(),
            sender: sender.name,
            generation: Generation(1),
            incarnation: Incarnation(0),
        },
        message: Message::Ack(Ack::with_deltas(deltas)),
    };
    node.handle_packet(sender.address, packet, now);
    node.drain(&mut Outputs::default());
    node
}

/// One round of the joiner: its first Syn of the round goes to the member (whichever
/// member it was meant for: every member here answers like this one, from the address
/// the Syn went to), and every datagram between the two until both are quiet. Returns the
/// largest datagram and how many the member sent.
fn round(joiner: &mut Node, member: &mut Node, now: Instant) -> (usize, usize) {
    let j = joiner.identity().address;
    joiner.handle_timeout(now);
    let mut largest = 0;
    let mut from_member = 0;
    let mut to_member: Vec<Packet> = Vec::new();
    let mut outputs = Outputs::default();
    joiner.drain(&mut outputs);
    let Some(syn) = outputs
        .transmits
        .into_iter()
        .find(|t| matches!(t.packet.message, Message::Syn(_)))
    else {
        return (0, 0);
    };
    let m = syn.destination;
    to_member.push(syn.packet);
    while !to_member.is_empty() {
        let mut to_joiner = Vec::new();
        for packet in to_member.drain(..) {
            largest = largest.max(packet.encoded_len());
            member.handle_packet(j, packet, now);
        }
        let mut outputs = Outputs::default();
        member.drain(&mut outputs);
        for transmit in outputs.transmits.into_iter().filter(|t| t.destination == j) {
            largest = largest.max(transmit.packet.encoded_len());
            from_member += 1;
            to_joiner.push(transmit.packet);
        }
        for packet in to_joiner {
            joiner.handle_packet(m, packet, now);
        }
        let mut outputs = Outputs::default();
        joiner.drain(&mut outputs);
        to_member.extend(
            outputs
                .transmits
                .into_iter()
                .filter(|t| t.destination == m)
                .map(|t| t.packet),
        );
    }
    (largest, from_member)
}

/// A member of the cluster of `MEMBERS` and a joiner whose only seed it is.
fn member_and_joiner(start: Instant) -> (Node, Node) {
    let member = member(start);
    let seed = member.identity().address;
    let joiner = Node::new(NodeConfig::default(), id("joiner", 9500), [seed], start, 4).unwrap();
    (member, joiner)
}

#[test]
fn a_joiner_with_a_proven_address_gets_the_roster_in_a_few_round_trips() {
    let start = Instant::now();
    let (mut member, mut joiner) = member_and_joiner(start);
    let limit = NodeConfig::default().max_packet_size;
    let mut known = Vec::new();
    for i in 0..6 {
        let now = start + Duration::from_secs(i);
        let (largest, _) = round(&mut joiner, &mut member, now);
        assert!(largest <= limit, "a {largest}-byte datagram");
        known.push(joiner.peer_counts().known);
    }
    // At about 35 never-seen nodes a packet, a packet per exchange leaves the joiner
    // knowing about 700 after six rounds (measured without the stream); each stream of 8
    // packets brings about 280.
    assert!(
        *known.last().unwrap() >= 1_200,
        "members known after each round: {known:?}"
    );
}

/// A joiner the member never heard of (their first contact, the common case while a large
/// cluster forms) gets one packet at once and the rest of the roster one round trip later,
/// once it answers the probe that proves its address: not one packet per exchange until
/// some later exchange finds it proven.
#[test]
fn a_joiner_unknown_to_the_member_gets_the_roster_once_it_proves_its_address() {
    let start = Instant::now();
    let (mut member, mut joiner) = member_and_joiner(start);
    let (largest, from_member) = round(&mut joiner, &mut member, start);
    assert!(largest <= NodeConfig::default().max_packet_size);
    let known = joiner.peer_counts().known;
    // One packet holds about 35 never-seen nodes; a stream of 8, about 280.
    assert!(
        known >= 200,
        "after the first exchange the joiner knows {known} ({from_member} datagrams from the member)"
    );
}
