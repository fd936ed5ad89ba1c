//! Joining at run time: `Node::join` adds addresses to the seeds and calls them at once;
//! `Node::set_seeds` replaces the list; a node that joined through a peer's address sees
//! the peer, and the peer sees it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use leviathan_gossip_core::{Node, NodeConfig, Outputs};
use leviathan_gossip_wire::{Generation, Message, NodeId, NodeName};

fn address(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn node(name: &str, port: u16, seeds: &[SocketAddr], now: Instant) -> Node {
    let id = NodeId {
        name: NodeName::new(name).unwrap(),
        address: address(port),
        generation: Generation(1),
    };
    Node::new(NodeConfig::default(), id, seeds.iter().copied(), now, 7).unwrap()
}

fn drain(node: &mut Node) -> Outputs {
    let mut outputs = Outputs::default();
    node.drain(&mut outputs);
    outputs
}

#[test]
fn join_adds_new_addresses_once_and_calls_each_at_once() {
    let now = Instant::now();
    let mut a = node("a", 1, &[address(5)], now);
    let called = a.join([address(1), address(3), address(2), address(3), address(5)]);
    assert_eq!(called, 3, "own address and the duplicate skipped");
    assert_eq!(a.seeds(), [address(2), address(3), address(5)]);
    let outputs = drain(&mut a);
    let mut destinations: Vec<SocketAddr> =
        outputs.transmits.iter().map(|t| t.destination).collect();
    destinations.sort();
    assert_eq!(destinations, [address(2), address(3), address(5)]);
    assert!(
        outputs
            .transmits
            .iter()
            .all(|t| matches!(t.packet.message, Message::Syn(_)))
    );
    assert_eq!(a.join([address(1)]), 0);
    assert!(drain(&mut a).transmits.is_empty());
}

#[test]
fn set_seeds_replaces_the_list_without_calling_anyone() {
    let now = Instant::now();
    let mut a = node("a", 1, &[address(5), address(6)], now);
    a.set_seeds([address(9), address(1), address(8), address(9)]);
    assert_eq!(a.seeds(), [address(8), address(9)]);
    assert!(drain(&mut a).transmits.is_empty());
    a.set_seeds([]);
    assert!(a.seeds().is_empty());
}

#[test]
fn a_node_that_joins_a_peer_sees_it_and_is_seen() {
    let start = Instant::now();
    let mut a = node("a", 1, &[], start);
    let mut b = node("b", 2, &[], start);
    assert_eq!(a.join([address(2)]), 1);
    let mut now = start;
    for _ in 0..20 {
        // Deliver everything queued, both ways, until quiet, then a round passes.
        loop {
            let from_a = drain(&mut a).transmits;
            let from_b = drain(&mut b).transmits;
            if from_a.is_empty() && from_b.is_empty() {
                break;
            }
            for t in from_a {
                assert_eq!(t.destination, address(2));
                b.handle_packet(address(1), t.packet, now);
            }
            for t in from_b {
                assert_eq!(t.destination, address(1));
                a.handle_packet(address(2), t.packet, now);
            }
        }
        now += Duration::from_millis(500);
        a.handle_timeout(now);
        b.handle_timeout(now);
    }
    let names = |node: &Node| -> Vec<String> {
        node.members(now)
            .iter()
            .map(|m| m.id.name.to_string())
            .collect()
    };
    assert_eq!(names(&a), ["a", "b"]);
    assert_eq!(names(&b), ["a", "b"]);
}
