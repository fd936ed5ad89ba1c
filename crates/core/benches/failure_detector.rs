//! The φ-accrual failure detector (`PhiAccrualDetector`, as `Node` uses it).
//!
//! Peers heartbeat about every second with ±200 ms of seeded jitter; each has 200 arrivals
//! behind it, so its statistics are in the steady state.
//!
//! * `failure_detector/phi/one_peer`: φ of one peer 1.5 s after its last heartbeat;
//! * `failure_detector/exceeds/one_peer`: whether that φ exceeds 8 (what a health check
//!   asks; cheaper than φ itself);
//! * `failure_detector/{phi,exceeds}/all_10k`: the same for each of 10,000 peers, what one
//!   health check of a node at 10,000 nodes computes;
//! * `failure_detector/arrival/one_peer`: one heartbeat arrival (about a second later).
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
use leviathan_gossip_core::PhiConfig;
use leviathan_gossip_core::internals::Arrivals;
use leviathan_gossip_core::internals::{FailureDetector, PhiAccrualDetector};
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

/// Estimate of node `i` after `HISTORY` arrivals from `start` on, and its last arrival.
fn fed(
    detector: &mut PhiAccrualDetector,
    i: usize,
    start: Instant,
    jitter: &[Duration],
) -> (Arrivals, Instant) {
    let mut at = start;
    let mut estimate = detector.first_arrival(at);
    for incarnation in 1..=HISTORY {
        at += jitter[(i + incarnation as usize) % jitter.len()];
        detector.arrival(&mut estimate, at);
    }
    (estimate, at)
}

fn failure_detector(c: &mut Criterion) {
    let jitter = intervals();
    let start = Instant::now();
    let mut detector =
        PhiAccrualDetector::new(PhiConfig::default(), start).with_usual_threshold(8.0);
    let (one, last) = fed(&mut detector, 42, start, &jitter);
    let now = last + Duration::from_millis(1500);
    let mut group = c.benchmark_group("failure_detector");
    eprintln!(
        "φ of node-00042 1.5 s after its last arrival = {:.3}",
        detector.phi(&one, now)
    );
    group.bench_function("phi/one_peer", |b| {
        b.iter(|| detector.phi(black_box(&one), black_box(now)));
    });
    group.bench_function("exceeds/one_peer", |b| {
        b.iter(|| detector.exceeds(black_box(&one), black_box(now), 8.0));
    });
    // Every peer's estimate, kept inline as `Node` keeps them (one entry per peer).
    let peers: Vec<(Arrivals, Instant)> = (0..common::NODES)
        .map(|i| fed(&mut detector, i, start, &jitter))
        .collect();
    let latest = peers.iter().map(|(_, at)| *at).max().unwrap();
    let now = latest + Duration::from_millis(1500);
    group.bench_function("phi/all_10k", |b| {
        b.iter(|| {
            peers
                .iter()
                .map(|(estimate, _)| detector.phi(estimate, now))
                .fold(0.0, f64::max)
        });
    });
    group.bench_function("exceeds/all_10k", |b| {
        b.iter(|| {
            peers
                .iter()
                .filter(|(estimate, _)| detector.exceeds(estimate, now, 8.0))
                .count()
        });
    });
    // Arrivals keep coming about a second apart: the steady state, every call counted.
    let mut estimate = one;
    let mut incarnation = HISTORY;
    let mut at = last;
    group.bench_function("arrival/one_peer", |b| {
        b.iter(|| {
            incarnation += 1;
            at += jitter[incarnation as usize % jitter.len()];
            detector.arrival(black_box(&mut estimate), at);
        });
    });
    group.finish();
}

criterion_group!(benches, failure_detector);
criterion_main!(benches);
