//! The φ-accrual failure detector (`PhiAccrualDetector<NodeName>`, as `Node` uses it).
//!
//! Peers heartbeat about every second with ±200 ms of seeded jitter; each has 200 arrivals
//! behind it, so its statistics are in the steady state.
//!
//! * `failure_detector/phi/one_peer`: φ of one peer 1.5 s after its last heartbeat, the
//!   detector tracking only that peer;
//! * `failure_detector/phi/one_peer_of_10k`: the same with 10,000 peers tracked;
//! * `failure_detector/phi/all_10k`: φ of each of 10,000 peers, what one health check of a
//!   node at 10,000 nodes computes;
//! * `failure_detector/observe/one_peer{,_of_10k}`: one heartbeat arrival (the next counter,
//!   about a second later).
//!
//! Run: `cargo bench -p leviathan-gossip-core --bench failure_detector`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use leviathan_gossip_core::{FailureDetector, PhiAccrualDetector, PhiConfig};
use leviathan_gossip_wire::NodeName;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Arrivals fed to every peer before measuring.
const HISTORY: u64 = 200;

/// Seeded heartbeat intervals of 800–1200 ms.
fn intervals() -> Vec<Duration> {
    let mut rng = ChaCha8Rng::seed_from_u64(common::SEED ^ 0xf1);
    (0..1024)
        .map(|_| Duration::from_millis(rng.random_range(800..=1200)))
        .collect()
}

/// Feeds node `i` `HISTORY` arrivals from `start` on; returns its last arrival.
fn feed(
    detector: &mut PhiAccrualDetector<NodeName>,
    i: usize,
    start: Instant,
    jitter: &[Duration],
) -> Instant {
    let name = common::name(i);
    let mut at = start;
    for heartbeat in 1..=HISTORY {
        at += jitter[(i + heartbeat as usize) % jitter.len()];
        detector.observe(&name, heartbeat, at);
    }
    at
}

/// A detector tracking the nodes `peers`, and the latest arrival among them.
fn detector(
    peers: impl IntoIterator<Item = usize>,
    start: Instant,
    jitter: &[Duration],
) -> (PhiAccrualDetector<NodeName>, Instant) {
    let mut detector = PhiAccrualDetector::new(PhiConfig::default());
    let mut latest = start;
    for i in peers {
        latest = latest.max(feed(&mut detector, i, start, jitter));
    }
    (detector, latest)
}

fn failure_detector(c: &mut Criterion) {
    let jitter = intervals();
    let start = Instant::now();
    let peer = common::name(42);
    // node-00042's last arrival, the same whichever detector tracks it.
    let last = feed(
        &mut PhiAccrualDetector::new(PhiConfig::default()),
        42,
        start,
        &jitter,
    );
    let now = last + Duration::from_millis(1500);
    let mut group = c.benchmark_group("failure_detector");
    let cases = [
        ("one_peer", detector([42], start, &jitter)),
        (
            "one_peer_of_10k",
            detector(0..common::NODES, start, &jitter),
        ),
    ];
    for (label, (mut detector, latest)) in cases {
        eprintln!(
            "{label}: {} peers, φ of node-00042 1.5 s after its last heartbeat = {:.3}",
            detector.len(),
            detector.phi(&peer, now).unwrap()
        );
        group.bench_function(format!("phi/{label}"), |b| {
            b.iter(|| detector.phi(black_box(&peer), black_box(now)));
        });
        if label == "one_peer_of_10k" {
            let names: Vec<NodeName> = (0..common::NODES).map(common::name).collect();
            let now = latest + Duration::from_millis(1500);
            group.bench_function("phi/all_10k", |b| {
                b.iter(|| {
                    names
                        .iter()
                        .map(|name| detector.phi(name, now).unwrap_or(0.0))
                        .fold(0.0, f64::max)
                });
            });
        }
        // Arrivals keep coming about a second apart: the steady state, every call counted.
        let mut heartbeat = HISTORY;
        let mut at = last;
        group.bench_function(format!("observe/{label}"), |b| {
            b.iter(|| {
                heartbeat += 1;
                at += jitter[heartbeat as usize % jitter.len()];
                detector.observe(black_box(&peer), heartbeat, at)
            });
        });
    }
    group.finish();
}

criterion_group!(benches, failure_detector);
criterion_main!(benches);
