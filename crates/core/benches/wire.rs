//! Encoding and decoding one full 1400-byte datagram (crate `leviathan-gossip-wire`).
//!
//! * `wire/encode/page_ack`, `wire/decode/page_ack`: an `Ack` carrying a digest page of
//!   about 39 entries (the 8-bit range around `node-05000` of a 10,000-node cluster);
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
        ("page_ack", common::full_page_ack(&state, &sender)),
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
