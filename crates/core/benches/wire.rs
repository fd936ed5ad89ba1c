//! Encoding and decoding one full 1400-byte datagram (crate `leviathan-gossip-wire`).
//!
//! * `wire/encode/syn_page`, `wire/decode/syn_page`: a `Syn` whose digest page is full of
//!   entries (a page from the middle of a 10,000-node cluster, `node-04xxx`…`node-05xxx`);
//! * `wire/encode/ack_full`, `wire/decode/ack_full`: an `Ack` full of records (the first
//!   deltas a newcomer gets: whole nodes with six 50-byte values each).
//!
//! Run: `cargo bench -p leviathan-gossip-core --bench wire`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

mod common;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use leviathan_gossip_wire::Packet;

fn wire(c: &mut Criterion) {
    let state = common::cluster(common::NODES);
    let sender = common::id(42);
    let cases = [
        ("syn_page", common::full_syn(&state, &sender)),
        ("ack_full", common::full_ack(&state, &sender)),
    ];
    let mut group = c.benchmark_group("wire");
    for (name, packet) in &cases {
        common::describe(name, packet);
        let bytes = packet.encode();
        assert_eq!(bytes.len(), packet.encoded_len());
        assert_eq!(&Packet::decode(&bytes).unwrap(), packet);
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(format!("encode/{name}"), |b| {
            b.iter(|| black_box(packet).encode());
        });
        group.bench_function(format!("decode/{name}"), |b| {
            b.iter(|| Packet::decode(black_box(&bytes)).unwrap());
        });
    }
    group.finish();
}

criterion_group!(benches, wire);
criterion_main!(benches);
