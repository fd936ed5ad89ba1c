//! A whole `Node` handling one full packet, end to end, as the runtime drives it.
//!
//! * `node/page_to_answer/{in_sync,slightly_behind,newcomer}/10k`: a node that knows 10,000
//!   nodes answering an `Ack` that carries a digest page, the step where an exchange reaches
//!   the differing nodes (`handle_packet` + `poll`): from a peer in sync (no answer is
//!   due), from a peer slightly behind (1–3 incarnations on every node of the page, 1–3
//!   versions on every fourth), and from a newcomer whose page of the whole order holds only
//!   itself (the answer is a full `SynAck` picked from 10,000 `NeverSeen` candidates).
//! * `node/datagram_page_to_answer/…/10k`: the same with the wire included: decode the
//!   datagram (`handle_datagram`), answer, encode the `SynAck`.
//! * `node/ack_full/newcomer`: a node that knows only itself taking an `Ack` full of records
//!   (`handle_packet`, then draining the events it raises: discoveries and updates).
//! * `node/ack_full/behind/10k`: a node that knows 10,000 nodes taking an `Ack` full of new
//!   versions and heartbeats of nodes it already knows; every `Ack` carries fresh versions
//!   (made outside the measurement), so each one really applies.
//!
//! Run: `cargo bench -p leviathan-gossip-core --bench node`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

mod common;

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Instant;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use leviathan_gossip_core::internals::ClusterState;
use leviathan_gossip_core::internals::build_deltas;
use leviathan_gossip_core::internals::{DeltaCandidate, Lag};
use leviathan_gossip_core::{Node, NodeConfig, Output, Outputs};
use leviathan_gossip_wire::{
    Ack, Incarnation, Key, Message, NodeDelta, NodeId, NodeName, Packet, Version,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `node-00000` knowing every node of `state` exactly as `state` has it, with its queues
/// and its news of 10,000 discoveries drained (by gossiping, as a node drains them), and
/// the instant it is ready at. Its peers never fall silent in its eyes (a very high φ
/// threshold), so the time spent draining raises no suspicion.
fn node_knowing(state: &ClusterState, start: Instant) -> (Node, Instant) {
    let own = common::id(0);
    let config = NodeConfig {
        phi_threshold: 1e6,
        ..NodeConfig::default()
    };
    let now = start;
    let mut node = Node::new(config, own.clone(), [], now, common::SEED).unwrap();
    for record in state[&own.name].records_after(Version(0)) {
        node.set(record.key, record.value.unwrap()).unwrap();
    }
    let deltas = state
        .iter()
        .filter(|(name, _)| **name != own.name)
        .map(|(name, n)| NodeDelta {
            node: n.node_id(name),
            incarnation: n.incarnation(),
            status: n.status(),
            gc_watermark: Version(0),
            from_version: Version(0),
            records: n.records_after(Version(0)).collect(),
            to_version: n.max_version(),
            complete: true,
        })
        .collect();
    // Setup only: a packet far above the datagram limit, handed over decoded.
    let sender = common::id(1);
    let introduction = common::packet(
        &sender,
        Incarnation(1),
        Message::Ack(Ack::with_deltas(deltas)),
    );
    node.handle_packet(sender.address, introduction, now);
    node.drain(&mut Outputs::default());
    assert_eq!(node.members(now).len(), state.len());
    let mut now = now;
    for _ in 0..DRAIN_ROUNDS {
        now += NodeConfig::default().gossip_interval;
        node.handle_timeout(now);
        let mut outputs = Outputs::default();
        node.drain(&mut outputs);
        assert!(outputs.events.is_empty(), "no peer may be suspected");
    }
    (node, now)
}

/// Gossip rounds that drain a full news queue at 10,000 nodes: 256 items × 20 sends,
/// ≈ 50 per round.
const DRAIN_ROUNDS: usize = 200;

/// Makes `Ack`s from `sender`, each filling a datagram with versions the node lacks: every
/// node it offers gets three keys rewritten and a heartbeat more, and is sent from the
/// version the node holds (round-robin over `node-00001`…`node-09999`).
struct Writer {
    owner: ClusterState,
    held: HashMap<NodeName, Version>,
    next: usize,
    rng: ChaCha8Rng,
    sender: NodeId,
}

impl Writer {
    fn new(state: &ClusterState, sender: NodeId) -> Self {
        Writer {
            held: state
                .iter()
                .map(|(name, node)| (name.clone(), node.max_version()))
                .collect(),
            owner: state.clone(),
            next: 0,
            rng: ChaCha8Rng::seed_from_u64(common::SEED ^ 0xac4),
            sender,
        }
    }

    fn next_ack(&mut self) -> Packet {
        let incarnation = Incarnation(1);
        let budget = common::body_budget(&common::header(&self.sender, incarnation));
        let mut candidates = Vec::new();
        for k in 0..8 {
            let name = common::name(1 + (self.next + k) % (common::NODES - 1));
            let mut node = self.owner.get_mut(&name).unwrap();
            for _ in 0..3 {
                let key = common::KEYS[self.rng.random_range(0..common::KEYS.len())];
                node.write(Key::new(key).unwrap(), Some(common::value(&mut self.rng)));
            }
            let next = Incarnation(node.incarnation().0 + 1);
            node.observe_incarnation(next);
            let held = self.held[&name];
            let missing = node.records_after_count(held);
            drop(node);
            candidates.push(DeltaCandidate {
                name,
                lag: Lag::Behind,
                from_version: held,
                missing,
            });
        }
        let deltas = build_deltas(&self.owner, &candidates, budget);
        for delta in &deltas {
            self.held.insert(delta.node.name.clone(), delta.to_version);
        }
        self.next += deltas.len();
        common::packet(
            &self.sender,
            incarnation,
            Message::Ack(Ack::with_deltas(deltas)),
        )
    }
}

fn node(c: &mut Criterion) {
    let state = common::cluster(common::NODES);
    let (mut node, now) = node_knowing(&state, Instant::now());

    // ----- Syn → SynAck -----
    let peer = common::id(42);
    let peer_heartbeat = state[&peer.name].incarnation();
    let in_sync = common::full_page_ack(&state, &peer);
    let page = common::middle_page(&state, &in_sync.header);
    let behind = common::packet(
        &peer,
        peer_heartbeat,
        common::page_ack(common::behind(&page)),
    );
    let newcomer = common::newcomer();
    let first_syn = common::packet(
        &newcomer,
        Incarnation(1),
        common::page_ack(common::newcomer_page(&newcomer)),
    );
    let cases = [
        ("in_sync", &peer, in_sync.clone()),
        ("slightly_behind", &peer, behind),
        ("newcomer", &newcomer, first_syn),
    ];
    for (name, from, syn) in &cases {
        node.handle_packet(from.address, syn.clone(), now);
        let mut outputs = Outputs::default();
        node.drain(&mut outputs);
        match outputs.transmits.as_slice() {
            [transmit] => common::describe(&format!("{name}: answer"), &transmit.packet),
            [] => eprintln!("{name}: no answer due"),
            more => panic!("{name}: {} answers", more.len()),
        }
        assert_eq!(outputs.transmits.len(), usize::from(*name != "in_sync"));
        assert!(outputs.events.is_empty());
        c.bench_function(&format!("node/page_to_answer/{name}/10k"), |b| {
            b.iter_batched(
                || syn.clone(),
                |syn| {
                    node.handle_packet(from.address, syn, now);
                    // The answer, if any, is the one output (asserted above).
                    node.poll()
                },
                BatchSize::SmallInput,
            );
        });
        let datagram = syn.encode();
        c.bench_function(&format!("node/datagram_page_to_answer/{name}/10k"), |b| {
            b.iter(|| {
                node.handle_datagram(from.address, black_box(&datagram), now);
                match node.poll() {
                    Some(Output::Transmit(transmit)) => Some(transmit.encode()),
                    _ => None,
                }
            });
        });
    }

    // ----- Ack -----
    let sender = common::id(42);
    let ack = common::full_ack(&state, &sender);
    common::describe("ack_full/newcomer", &ack);
    c.bench_function("node/ack_full/newcomer", |b| {
        b.iter_batched(
            || {
                let node = Node::new(NodeConfig::default(), newcomer.clone(), [], now, 1).unwrap();
                (node, ack.clone())
            },
            |(mut node, ack)| {
                node.handle_packet(sender.address, ack, now);
                let mut outputs = Outputs::default();
                node.drain(&mut outputs);
                (node, outputs.events.len())
            },
            BatchSize::SmallInput,
        );
    });

    let mut writer = Writer::new(&state, common::id(1));
    let sample = writer.next_ack();
    common::describe("ack_full/behind", &sample);
    common::assert_full(&sample);
    let before = node.stats().records_applied;
    node.handle_packet(writer.sender.address, sample, now);
    let mut outputs = Outputs::default();
    node.drain(&mut outputs);
    let events = outputs.events.len();
    let applied = node.stats().records_applied - before;
    eprintln!("ack_full/behind: {applied} records applied, {events} event batches");
    assert!(applied > 0);
    c.bench_function("node/ack_full/behind/10k", |b| {
        b.iter_batched(
            || writer.next_ack(),
            |ack| {
                node.handle_packet(common::address(1), ack, now);
                let mut outputs = Outputs::default();
                node.drain(&mut outputs);
                outputs.events.len()
            },
            BatchSize::SmallInput,
        );
    });
    assert_eq!(node.stats().dropped_gap_deltas, 0);
}

criterion_group!(benches, node);
criterion_main!(benches);
