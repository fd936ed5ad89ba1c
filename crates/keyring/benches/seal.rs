//! Cost of sealing and opening a 1400-byte datagram (a 1349-byte protocol packet), and of
//! the replay window's check.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use leviathan_gossip_keyring::{Keyring, NONCE_LEN, OVERHEAD, ReplayWindow, SecretKey};
use rand::SeedableRng as _;
use rand_chacha::ChaCha20Rng;

const DATAGRAM: usize = 1400;
const CLUSTER: &[u8] = b"bench-cluster";
const NOW: u64 = 1_700_000_000_000;

fn seal_open(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let old = SecretKey::generate(&mut rng);
    let new = SecretKey::generate(&mut rng);
    let keyring = Keyring::new(old.clone());
    let plaintext = vec![0x5A; DATAGRAM - OVERHEAD];
    let sealed = keyring
        .seal(&plaintext, NOW, CLUSTER, [7; NONCE_LEN])
        .unwrap();
    // During a rotation: the datagram was sealed with the second key tried.
    let mut rotating = Keyring::new(new);
    rotating.install(old);

    let mut group = c.benchmark_group("1400-byte datagram");
    group.throughput(Throughput::Bytes(DATAGRAM as u64));
    group.bench_function("seal", |b| {
        let mut out = Vec::with_capacity(DATAGRAM);
        b.iter(|| {
            out.clear();
            keyring
                .seal_into(
                    black_box(&plaintext),
                    NOW,
                    CLUSTER,
                    [7; NONCE_LEN],
                    &mut out,
                )
                .unwrap();
        });
    });
    group.bench_function("seal_with_rng", |b| {
        b.iter(|| {
            keyring
                .seal_with_rng(black_box(&plaintext), NOW, CLUSTER, &mut rng)
                .unwrap()
        });
    });
    group.bench_function("open", |b| {
        let mut out = Vec::with_capacity(DATAGRAM);
        b.iter(|| {
            out.clear();
            keyring
                .open_into(black_box(&sealed), CLUSTER, &mut out)
                .unwrap();
        });
    });
    group.bench_function("seal+open", |b| {
        let mut out = Vec::with_capacity(DATAGRAM);
        let mut back = Vec::with_capacity(DATAGRAM);
        b.iter(|| {
            out.clear();
            back.clear();
            keyring
                .seal_into(
                    black_box(&plaintext),
                    NOW,
                    CLUSTER,
                    [7; NONCE_LEN],
                    &mut out,
                )
                .unwrap();
            keyring.open_into(&out, CLUSTER, &mut back).unwrap();
        });
    });
    group.bench_function("open with the second key", |b| {
        let mut out = Vec::with_capacity(DATAGRAM);
        b.iter(|| {
            out.clear();
            rotating
                .open_into(black_box(&sealed), CLUSTER, &mut out)
                .unwrap();
        });
    });
    group.bench_function("refuse a forgery (2 keys)", |b| {
        let mut forged = sealed.clone();
        if let Some(byte) = forged.last_mut() {
            *byte ^= 1;
        }
        let mut out = Vec::with_capacity(DATAGRAM);
        b.iter(|| {
            rotating
                .open_into(black_box(&forged), CLUSTER, &mut out)
                .is_err()
        });
    });
    group.finish();

    // The runtime checks every opened datagram: a full window (65,536 remembered), each
    // new datagram a millisecond later, the oldest forgotten.
    c.bench_function("replay window check (full)", |b| {
        let mut window = ReplayWindow::default();
        let mut i = 0u64;
        let mut next = || {
            i += 1;
            let mut nonce = [0u8; NONCE_LEN];
            nonce[..8].copy_from_slice(&i.to_le_bytes());
            (NOW + i / 4, nonce)
        };
        for _ in 0..window.capacity() {
            let (sent_at, nonce) = next();
            window.check(sent_at, nonce, NOW).unwrap();
        }
        b.iter(|| {
            let (sent_at, nonce) = next();
            window
                .check(black_box(sent_at), nonce, NOW + 20_000)
                .is_ok()
        });
    });
}

criterion_group!(benches, seal_open);
criterion_main!(benches);
