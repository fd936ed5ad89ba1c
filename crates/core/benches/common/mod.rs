//! Deterministic data shared by the benchmarks: a 10,000-node cluster as one node knows it,
//! packets that fill a 1400-byte datagram, and the peers' digest pages used against it.
//!
//! Everything comes from fixed seeds, so every run measures the same bytes. Nodes are named
//! `node-00000` … `node-09999`, live at `10.x.y.z:7946`, carry a millisecond-epoch
//! generation, a heartbeat in the hundreds or thousands, and six keys of 50-byte values
//! rewritten a few times each (so versions run from 6 to about 25).

#![allow(dead_code, reason = "each bench target uses a different subset")]

use std::net::SocketAddr;

use bytes::Bytes;
use leviathan_gossip_core::NodeConfig;
use leviathan_gossip_core::internals::Quarantine;
use leviathan_gossip_core::internals::{ClusterState, NodeState};
use leviathan_gossip_core::internals::{DeltaCandidate, Lag, page_of, reconcile_page};
use leviathan_gossip_core::internals::{build_deltas, order_candidates};
use leviathan_gossip_wire::{
    Ack, COUNT_LEN, Digest, Generation, Header, Incarnation, Key, Message, NameRange, NodeDelta,
    NodeId, NodeName, Packet, RangeClaims, Version,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Nodes in the big cluster.
pub const NODES: usize = 10_000;
/// Datagram limit, as in the default `NodeConfig`.
pub const PACKET: usize = 1400;
/// Keys every node publishes.
pub const KEYS: [&str; 6] = [
    "service",
    "http_addr",
    "grpc_addr",
    "build_version",
    "zone",
    "load",
];
/// Length of every value.
pub const VALUE_LEN: usize = 50;
/// Seed of the cluster's data.
pub const SEED: u64 = 0x1e71a7a5;

/// `node-00042`.
pub fn name(i: usize) -> NodeName {
    NodeName::new(format!("node-{i:05}")).unwrap()
}

/// Where node `i` listens: `10.x.y.z:7946`.
pub fn address(i: usize) -> SocketAddr {
    let [_, b, c, d] = u32::try_from(i).unwrap().to_be_bytes();
    SocketAddr::from(([10, b, c, d.wrapping_add(1)], 7946))
}

/// Node `i`'s identity: its start time in epoch milliseconds as its generation.
pub fn id(i: usize) -> NodeId {
    NodeId {
        name: name(i),
        address: address(i),
        generation: Generation(1_750_000_000_000 + i as u64 * 1_000),
    }
}

/// A printable 50-byte value.
pub fn value(rng: &mut ChaCha8Rng) -> Bytes {
    (0..VALUE_LEN)
        .map(|_| rng.random_range(b'a'..=b'z'))
        .collect::<Vec<u8>>()
        .into()
}

/// Node `i` as a peer knows it: every key written once, then a few rewrites.
pub fn node_state(i: usize, rng: &mut ChaCha8Rng) -> NodeState {
    let mut node = NodeState::new(id(i), Incarnation(rng.random_range(100..5_000)));
    for key in KEYS {
        node.write(Key::new(key).unwrap(), Some(value(rng)));
    }
    for _ in 0..rng.random_range(0..20) {
        let key = KEYS[rng.random_range(0..KEYS.len())];
        node.write(Key::new(key).unwrap(), Some(value(rng)));
    }
    node
}

/// The whole cluster `node-00000` … `node-{n-1}` as one node knows it.
pub fn cluster(n: usize) -> ClusterState {
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    (0..n).map(|i| (name(i), node_state(i, &mut rng))).collect()
}

/// The header `sender` puts on its packets (default cluster id).
pub fn header(sender: &NodeId, incarnation: Incarnation) -> Header {
    Header {
        cluster_id: NodeConfig::default().cluster_id,
        sender: sender.name.clone(),
        generation: sender.generation,
        incarnation,
    }
}

/// Bytes left for a message body after `header` and the kind byte, as `Node` computes it.
pub fn body_budget(header: &Header) -> usize {
    PACKET - header.encoded_len() - 1
}

/// A packet from `sender`.
pub fn packet(sender: &NodeId, incarnation: Incarnation, message: Message) -> Packet {
    Packet {
        header: header(sender, incarnation),
        message,
    }
}

/// The widest page of `state` (a prefix of 8 bits or more, in steps of 4) that holds
/// `node-05000` and fits a packet from a peer sending `header`: about 39 entries of the
/// 10,000, the page a differing range ends in.
pub fn middle_page(state: &ClusterState, header: &Header) -> Digest {
    let target = name(NODES / 2);
    (8..=64)
        .step_by(4)
        .filter_map(|bits| NameRange::new(bits, target.order_hash() >> (64 - u32::from(bits))))
        .map(|range| page_of(state, range))
        .find(|page| {
            page.encoded_len() + RangeClaims::EMPTY_LEN + 2 * COUNT_LEN <= body_budget(header)
        })
        .unwrap()
}

/// `page` as a peer slightly behind would send it: every heartbeat 1 to 3 beats older, and
/// every fourth node 1 to 3 versions behind.
pub fn behind(page: &Digest) -> Digest {
    let mut rng = ChaCha8Rng::seed_from_u64(SEED ^ 0xbe41d);
    let mut page = page.clone();
    for (i, entry) in page.entries.iter_mut().enumerate() {
        entry.incarnation = Incarnation(entry.incarnation.0 - rng.random_range(1..=3));
        if i % 4 == 0 {
            entry.max_version = Version(entry.max_version.0 - rng.random_range(1..=3));
        }
    }
    page
}

/// A newcomer's first `Syn`: a full digest holding only itself.
pub fn newcomer_page(newcomer: &NodeId) -> Digest {
    Digest::full(vec![
        NodeState::new(newcomer.clone(), Incarnation(1)).digest_entry(&newcomer.name),
    ])
}

/// The newcomer that knows nothing: `node-10000`.
pub fn newcomer() -> NodeId {
    id(NODES)
}

/// Candidates for a newcomer: every node of `state` (10,000 `NeverSeen`), from
/// `reconcile_page` as the responder computes them.
pub fn newcomer_candidates(state: &ClusterState, own: &NodeName) -> Vec<DeltaCandidate> {
    let quarantine = Quarantine::default();
    let candidates =
        reconcile_page(state, own, &quarantine, &newcomer_page(&newcomer())).candidates;
    assert!(candidates.iter().all(|c| c.lag == Lag::NeverSeen));
    candidates
}

/// Ordered (fixed seed) like a responder does before building deltas.
pub fn ordered(mut candidates: Vec<DeltaCandidate>) -> Vec<DeltaCandidate> {
    order_candidates(&mut candidates, &mut ChaCha8Rng::seed_from_u64(SEED));
    candidates
}

/// An `Ack` from `sender` filled up to the datagram limit with deltas for a newcomer: the
/// first nodes of the ordered `NeverSeen` candidates, all their records.
pub fn full_ack(state: &ClusterState, sender: &NodeId) -> Packet {
    let incarnation = state[&sender.name].incarnation();
    let budget = body_budget(&header(sender, incarnation));
    let candidates = ordered(newcomer_candidates(state, &sender.name));
    let deltas = build_deltas(state, &candidates, budget);
    let packet = packet(sender, incarnation, Message::Ack(Ack::with_deltas(deltas)));
    assert_full(&packet);
    packet
}

/// An `Ack` carrying `page` as a range claim, the step where an exchange reaches the
/// differing nodes.
pub fn page_ack(page: Digest) -> Message {
    Message::Ack(Ack {
        ranges: RangeClaims {
            summaries: Vec::new(),
            pages: vec![page],
        },
        ..Default::default()
    })
}

/// An `Ack` from `sender` carrying its page around `node-05000`.
pub fn full_page_ack(state: &ClusterState, sender: &NodeId) -> Packet {
    let incarnation = state[&sender.name].incarnation();
    let page = middle_page(state, &header(sender, incarnation));
    packet(sender, incarnation, page_ack(page))
}

/// One node's delta filling a whole 1400-byte `Ack` alone: a node holding 40 keys, sent
/// from version 0 to a replica that has none of them.
pub fn full_single_delta(sender: &NodeId) -> (NodeState, NodeDelta) {
    let mut rng = ChaCha8Rng::seed_from_u64(SEED ^ 0xde17a);
    let mut owner = NodeState::new(id(7), Incarnation(1234));
    for k in 0..40 {
        owner.write(
            Key::new(format!("config/key-{k:02}")).unwrap(),
            Some(value(&mut rng)),
        );
    }
    let header = header(sender, Incarnation(1));
    let mut delta = NodeDelta {
        node: id(7),
        incarnation: owner.incarnation(),
        status: owner.status(),
        gc_watermark: Version(0),
        from_version: Version(0),
        records: Vec::new(),
        to_version: Version(0),
        complete: false,
    };
    let mut used = header.encoded_len() + 1 + COUNT_LEN + delta.header_len();
    for record in owner.records_after(Version(0)) {
        used += record.encoded_len();
        if used > PACKET {
            break;
        }
        delta.records.push(record);
    }
    delta.to_version = delta.last_version();
    let replica = NodeState::new(id(7), Incarnation(1000));
    let packet = Packet {
        header,
        message: Message::Ack(Ack {
            deltas: vec![delta.clone()],
            ..Default::default()
        }),
    };
    assert_full(&packet);
    (replica, delta)
}

/// Checks that a packet fits the datagram and leaves less than one record's room.
pub fn assert_full(packet: &Packet) {
    let len = packet.encoded_len();
    assert!(
        (PACKET - 80..=PACKET).contains(&len),
        "packet of {len} bytes is not full"
    );
}

/// One line to stderr describing a packet, so the report can say what was measured.
pub fn describe(what: &str, packet: &Packet) {
    let detail = match &packet.message {
        Message::Syn(syn) => format!("{} news entries", syn.news.len()),
        Message::SynAck(synack) => format!(
            "{} range answers, {} requests, {} deltas, {} records",
            synack.ranges.summaries.len() + synack.ranges.pages.len(),
            synack.requests.len(),
            synack.deltas.len(),
            synack.deltas.iter().map(|d| d.records.len()).sum::<usize>()
        ),
        Message::Ack(ack) => format!(
            "{} pages, {} deltas, {} records",
            ack.ranges.pages.len(),
            ack.deltas.len(),
            ack.deltas.iter().map(|d| d.records.len()).sum::<usize>()
        ),
        other => format!("a {}", other.kind().name()),
    };
    eprintln!("{what}: {} bytes, {detail}", packet.encoded_len());
}
