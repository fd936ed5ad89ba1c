//! The Scuttlebutt steps of one handshake, each alone, against 10,000 known nodes.
//!
//! * `ranges/answer_root/10k`: answering a peer's fingerprint of the whole order that
//!   differs from ours (`answer_summaries`: 16 children's fingerprints, read from the
//!   maintained sums); `ranges/answer_12_bits/10k`: answering a differing 12-bit range
//!   (about 2.4 nodes, walked) with its page.
//! * `reconcile_page/{in_sync,slightly_behind,newcomer}/10k`: comparing a received page with
//!   10,000 known nodes (`reconcile_page`): a page identical to ours; the same page from a
//!   peer 1–3 heartbeats behind on every node and 1–3 versions behind on every fourth; a
//!   newcomer's full-range digest that holds only itself (→ 10,000 `NeverSeen` candidates).
//! * `order_candidates/{newcomer,slightly_behind}`: shuffling and sorting those candidates
//!   (`order_candidates`; 10,000 and about 60 of them).
//! * `build_deltas/{newcomer,slightly_behind}`: filling the `SynAck`'s room (1400 bytes
//!   minus header and requests) from the ordered candidates (`build_deltas`);
//!   `build_deltas/newcomer_tight_end`: the same for a newcomer with an order (the first
//!   seed found) whose packet ends with 24 or more bytes unused — the builder's stop
//!   threshold — but too few for another delta header.
//! * `apply/full_delta`: merging one node's delta that fills a 1400-byte packet alone
//!   (19 records of 50-byte values) into an empty replica (`NodeState::apply`).
//!
//! Run: `cargo bench -p leviathan-gossip-core --bench anti_entropy`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

mod common;

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use leviathan_gossip_core::internals::ClusterState;
use leviathan_gossip_core::internals::Quarantine;
use leviathan_gossip_core::internals::{
    DeltaCandidate, answer_summaries, reconcile_page, requests_len,
};
use leviathan_gossip_core::internals::{build_deltas, order_candidates};
use leviathan_gossip_wire::{COUNT_LEN, Digest, Fingerprint, NameRange, NodeDelta, RangeSummary};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn anti_entropy(c: &mut Criterion) {
    let state = common::cluster(common::NODES);
    // We are node-00000; the peer is node-00042 (both among the 10,000).
    let own = common::id(0);
    let own_header = common::header(&own, state[&own.name].incarnation());
    let peer = common::id(42);
    let in_sync = common::middle_page(
        &state,
        &common::header(&peer, state[&peer.name].incarnation()),
    );
    let behind = common::behind(&in_sync);
    let newcomer = common::newcomer_page(&common::newcomer());

    // ----- ranges -----
    let budget = common::body_budget(&own_header);
    let differing = |range: NameRange| RangeSummary {
        range,
        fingerprint: Fingerprint::default(),
    };
    let root = [differing(NameRange::ALL)];
    let hash = common::name(common::NODES / 2).order_hash();
    let narrow = [differing(NameRange::new(12, hash >> 52).unwrap())];
    for (name, summaries) in [("answer_root", &root), ("answer_12_bits", &narrow)] {
        let answer = answer_summaries(&state, summaries, budget / 2, 0);
        eprintln!(
            "ranges/{name}: {} summaries, {} pages, {} bytes",
            answer.summaries.len(),
            answer.pages.len(),
            answer.encoded_len()
        );
        c.bench_function(&format!("ranges/{name}/10k"), |b| {
            b.iter(|| answer_summaries(black_box(&state), summaries, budget / 2, 0));
        });
    }

    // ----- reconcile -----
    let pages: [(&str, &Digest); 3] = [
        ("in_sync", &in_sync),
        ("slightly_behind", &behind),
        ("newcomer", &newcomer),
    ];
    let mut reconciled = Vec::new();
    for (name, page) in pages {
        let result = reconcile_page(&state, &own.name, &Quarantine::default(), page);
        eprintln!(
            "reconcile {name}: {} entries in page → {} candidates, {} requests",
            page.entries.len(),
            result.candidates.len(),
            result.requests.len()
        );
        c.bench_function(&format!("reconcile_page/{name}/10k"), |b| {
            b.iter(|| {
                reconcile_page(
                    black_box(&state),
                    &own.name,
                    &Quarantine::default(),
                    black_box(page),
                )
            });
        });
        reconciled.push((name, result));
    }

    // ----- order and build -----
    let mut rng = ChaCha8Rng::seed_from_u64(common::SEED);
    for (name, result) in reconciled.into_iter().skip(1) {
        let candidates = result.candidates;
        let size = if candidates.len() > 1000 {
            BatchSize::LargeInput
        } else {
            BatchSize::SmallInput
        };
        c.bench_function(&format!("order_candidates/{name}"), |b| {
            b.iter_batched(
                || candidates.clone(),
                |mut candidates| {
                    order_candidates(&mut candidates, &mut rng);
                    candidates
                },
                size,
            );
        });
        // As `Node` answers a Syn: requests first (here all fit), deltas in the rest.
        let budget = common::body_budget(&own_header) - requests_len(&result.requests);
        let mut orders = vec![(name.to_string(), common::ordered(candidates.clone()))];
        if name == "newcomer" {
            // The packet's end depends on the order. An order that leaves at least the
            // builder's stop threshold (24 bytes) unused, but less than any delta header,
            // makes it look at every remaining candidate: measure that case too.
            let tight = (0..1000).find_map(|seed| {
                let mut order = candidates.clone();
                order_candidates(&mut order, &mut ChaCha8Rng::seed_from_u64(seed));
                (unused(&state, &order, budget) >= 24).then_some(order)
            });
            match tight {
                Some(order) => orders.push(("newcomer_tight_end".to_string(), order)),
                None => eprintln!("no order leaves 24 bytes unused: newcomer_tight_end skipped"),
            }
        }
        for (name, ordered) in orders {
            let deltas = build_deltas(&state, &ordered, budget);
            eprintln!(
                "build_deltas {name}: {} deltas, {} records, {} bytes unused of {budget}",
                deltas.len(),
                deltas.iter().map(|d| d.records.len()).sum::<usize>(),
                unused(&state, &ordered, budget)
            );
            c.bench_function(&format!("build_deltas/{name}"), |b| {
                b.iter(|| build_deltas(black_box(&state), black_box(&ordered), budget));
            });
        }
    }

    // ----- apply -----
    let (replica, delta) = common::full_single_delta(&peer);
    eprintln!(
        "apply: one delta of {} records, {} bytes",
        delta.records.len(),
        delta.encoded_len()
    );
    c.bench_function("apply/full_delta", |b| {
        b.iter_batched(
            || replica.clone(),
            |mut replica| {
                let applied = replica.apply(black_box(&delta)).unwrap();
                assert_eq!(applied.len(), delta.records.len());
                (replica, applied)
            },
            BatchSize::SmallInput,
        );
    });
}

/// Bytes of `budget` that `build_deltas` leaves unused for `ordered`.
fn unused(state: &ClusterState, ordered: &[DeltaCandidate], budget: usize) -> usize {
    let deltas = build_deltas(state, ordered, budget);
    budget - COUNT_LEN - deltas.iter().map(NodeDelta::encoded_len).sum::<usize>()
}

criterion_group!(benches, anti_entropy);
criterion_main!(benches);
