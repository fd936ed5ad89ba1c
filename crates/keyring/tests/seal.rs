//! Sealing and opening datagrams: round trips, which keys and which cluster open, tampering
//! (the timestamp included), truncation, old format versions, random input, rotation
//! across two nodes, and the plaintext-to-encrypted upgrade.
// Test helpers outside #[test] fns are not covered by clippy.toml's allow-*-in-tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use leviathan_gossip_keyring::{
    Envelope, FORMAT_VERSION, HEADER_LEN, Keyring, MAGIC, MAX_PLAINTEXT_LEN, NONCE_LEN, OVERHEAD,
    OpenError, SealError, SecretKey, TAG_LEN, TIMESTAMP_LEN, is_sealed,
};
use proptest::prelude::*;
use rand::SeedableRng as _;
use rand_chacha::ChaCha20Rng;

/// The cluster id the tests seal for, unless they say otherwise.
const CLUSTER: &[u8] = b"test-cluster";

/// A send time: milliseconds since the Unix epoch.
const T: u64 = 1_700_000_000_123;

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

fn key(seed: u64) -> SecretKey {
    SecretKey::generate(&mut rng(seed))
}

/// Opens `datagram` for [`CLUSTER`] and returns only the plaintext.
fn open(keyring: &Keyring, datagram: &[u8]) -> Result<Vec<u8>, OpenError> {
    keyring
        .open(datagram, CLUSTER)
        .map(|opened| opened.plaintext)
}

/// Seals `plaintext` for [`CLUSTER`] at [`T`].
fn seal(keyring: &Keyring, plaintext: &[u8], nonce: [u8; NONCE_LEN]) -> Vec<u8> {
    keyring.seal(plaintext, T, CLUSTER, nonce).unwrap()
}

/// The associated data of a datagram sealed at `sent_at` for `cluster`, built by hand from
/// the crate docs.
fn associated_data(sent_at: u64, cluster: &[u8]) -> Vec<u8> {
    let mut data = b"LE\x02".to_vec();
    data.extend_from_slice(&sent_at.to_be_bytes());
    data.extend_from_slice(&(cluster.len() as u64).to_be_bytes());
    data.extend_from_slice(cluster);
    data
}

/// A plaintext protocol datagram: starts with the wire's `LG` magic.
fn packet(len: usize) -> Vec<u8> {
    let mut packet = leviathan_gossip_wire::MAGIC.to_vec();
    packet.extend((0..len.saturating_sub(2)).map(|i| (i * 7 + 3) as u8));
    packet.truncate(len);
    packet
}

#[test]
fn overhead_is_header_nonce_and_tag() {
    assert_eq!(OVERHEAD, 51);
    assert_eq!(HEADER_LEN, 2 + 1 + TIMESTAMP_LEN);
    assert_eq!(HEADER_LEN + NONCE_LEN + TAG_LEN, OVERHEAD);
    assert_eq!(FORMAT_VERSION, 2);
    assert_eq!(MAGIC, *b"LE");
    assert_ne!(MAGIC, leviathan_gossip_wire::MAGIC);
    // The packet budget of the crate docs: the default max_packet_size sealed, with IPv6
    // and UDP headers, fits a 1500-byte MTU.
    assert_eq!(1400 + OVERHEAD + 48, 1499);
}

#[test]
fn round_trip_has_the_documented_layout() {
    let key = key(1);
    let keyring = Keyring::new(key.clone());
    let plaintext = packet(1349);
    let nonce = [0xA5; NONCE_LEN];
    let sealed = seal(&keyring, &plaintext, nonce);
    assert_eq!(sealed.len(), 1400);
    assert_eq!(&sealed[..2], b"LE");
    assert_eq!(sealed[2], 2);
    assert_eq!(&sealed[3..11], &T.to_be_bytes());
    assert_eq!(&sealed[11..35], &nonce);
    assert_ne!(&sealed[35..35 + plaintext.len()], &plaintext[..]);
    // The cluster id is not sent.
    assert!(!sealed.windows(CLUSTER.len()).any(|w| w == CLUSTER));
    assert!(is_sealed(&sealed));
    let opened = keyring.open(&sealed, CLUSTER).unwrap();
    assert_eq!(opened.plaintext, plaintext);
    assert_eq!(
        opened.envelope,
        Envelope {
            sent_at: T,
            nonce,
            key: key.fingerprint()
        }
    );
}

#[test]
fn round_trip_of_every_small_length_including_empty() {
    let keyring = Keyring::new(key(1));
    let mut rng = rng(2);
    for len in 0..200 {
        let plaintext = packet(len);
        let sealed = keyring
            .seal_with_rng(&plaintext, T, CLUSTER, &mut rng)
            .unwrap();
        assert_eq!(sealed.len(), len + OVERHEAD);
        assert_eq!(open(&keyring, &sealed).unwrap(), plaintext);
    }
}

#[test]
fn seal_matches_the_xchacha20poly1305_reference_construction() {
    // Independent of this crate's code path: the AEAD's own allocating API.
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};
    let bytes = [0x42; 32];
    let keyring = Keyring::new(SecretKey::from_bytes(bytes));
    let nonce = [9; NONCE_LEN];
    let plaintext = packet(100);
    let sealed = seal(&keyring, &plaintext, nonce);
    let cipher = chacha20poly1305::XChaCha20Poly1305::new(&bytes.into());
    let expected = cipher
        .encrypt(
            &nonce.into(),
            Payload {
                msg: &plaintext,
                aad: &associated_data(T, CLUSTER),
            },
        )
        .unwrap();
    assert_eq!(&sealed[35..], &expected[..]);
}

#[test]
fn a_datagram_sealed_for_one_cluster_does_not_open_for_another_with_the_same_key() {
    let keyring = Keyring::new(key(1));
    let sealed = keyring.seal(b"LGsyn", T, b"a", [4; NONCE_LEN]).unwrap();
    assert_eq!(
        keyring.open(&sealed, b"a").unwrap().plaintext,
        b"LGsyn".to_vec()
    );
    for other in [&b"b"[..], b"", b"A", b"a ", b"ab", b"\0a"] {
        assert_eq!(
            keyring.open(&sealed, other),
            Err(OpenError::Unauthenticated),
            "{other:?}"
        );
    }
    // Two nodes, two clusters, one key: neither reads the other.
    let shared = key(2);
    let (a, b) = (Keyring::new(shared.clone()), Keyring::new(shared));
    let from_a = a.seal_with_rng(b"LGx", T, b"prod", &mut rng(3)).unwrap();
    let from_b = b.seal_with_rng(b"LGx", T, b"staging", &mut rng(4)).unwrap();
    assert_eq!(b.open(&from_a, b"staging"), Err(OpenError::Unauthenticated));
    assert_eq!(a.open(&from_b, b"prod"), Err(OpenError::Unauthenticated));
    // A long cluster id (built on the heap) works the same.
    let long = vec![b'c'; 1000];
    let sealed = keyring.seal(b"LGx", T, &long, [5; NONCE_LEN]).unwrap();
    assert!(keyring.open(&sealed, &long).is_ok());
    assert_eq!(
        keyring.open(&sealed, &long[1..]),
        Err(OpenError::Unauthenticated)
    );
}

#[test]
fn a_tampered_timestamp_does_not_open() {
    let keyring = Keyring::new(key(1));
    let sealed = seal(&keyring, b"LGsyn", [6; NONCE_LEN]);
    for sent_at in [T + 1, T - 1, T + 60_000, 0, u64::MAX] {
        let mut moved = sealed.clone();
        moved[3..11].copy_from_slice(&sent_at.to_be_bytes());
        assert_eq!(
            open(&keyring, &moved),
            Err(OpenError::Unauthenticated),
            "{sent_at}"
        );
    }
    assert!(open(&keyring, &sealed).is_ok());
}

#[test]
fn seal_into_appends_and_open_into_reports_the_key() {
    let old = key(1);
    let new = key(2);
    let mut keyring = Keyring::new(old.clone());
    let mut out = b"prefix".to_vec();
    keyring
        .seal_into(b"LGhello", T, CLUSTER, [1; NONCE_LEN], &mut out)
        .unwrap();
    assert_eq!(&out[..6], b"prefix");
    let sealed = out[6..].to_vec();

    keyring.install(new.clone());
    keyring.use_key(&new).unwrap();
    let mut plain = b"xy".to_vec();
    let envelope = keyring.open_into(&sealed, CLUSTER, &mut plain).unwrap();
    assert_eq!(envelope.key, old.fingerprint());
    assert_eq!(envelope.sent_at, T);
    assert_eq!(envelope.nonce, [1; NONCE_LEN]);
    assert_eq!(plain, b"xyLGhello");

    // On error the output buffer is left as it was.
    let mut plain = b"xy".to_vec();
    let mut forged = sealed.clone();
    forged[38] ^= 0x10;
    assert_eq!(
        keyring.open_into(&forged, CLUSTER, &mut plain),
        Err(OpenError::Unauthenticated)
    );
    assert_eq!(plain, b"xy");
}

#[test]
fn seal_refuses_a_plaintext_over_the_limit_and_writes_nothing() {
    let keyring = Keyring::new(key(1));
    let at_limit = vec![0u8; MAX_PLAINTEXT_LEN];
    assert_eq!(seal(&keyring, &at_limit, [0; NONCE_LEN]).len(), 65_535);
    let over = vec![0u8; MAX_PLAINTEXT_LEN + 1];
    let mut out = b"kept".to_vec();
    assert_eq!(
        keyring.seal_into(&over, T, CLUSTER, [0; NONCE_LEN], &mut out),
        Err(SealError::TooLong {
            len: MAX_PLAINTEXT_LEN + 1
        })
    );
    assert_eq!(out, b"kept");
    assert!(
        keyring
            .seal_with_rng(&over, T, CLUSTER, &mut rng(1))
            .is_err()
    );
}

#[test]
fn every_key_of_the_ring_opens_and_a_key_outside_it_does_not() {
    let keys: Vec<SecretKey> = (1..=4).map(key).collect();
    let mut receiver = Keyring::new(keys[0].clone());
    for k in &keys[1..] {
        assert!(receiver.install(k.clone()));
    }
    for k in &keys {
        let sender = Keyring::new(k.clone());
        let sealed = sender
            .seal_with_rng(b"LGdata", T, CLUSTER, &mut rng(9))
            .unwrap();
        let mut plain = Vec::new();
        assert_eq!(
            receiver
                .open_into(&sealed, CLUSTER, &mut plain)
                .unwrap()
                .key,
            k.fingerprint()
        );
        assert_eq!(plain, b"LGdata");
    }
    let outsider = Keyring::new(key(99));
    let sealed = outsider
        .seal_with_rng(b"LGdata", T, CLUSTER, &mut rng(9))
        .unwrap();
    assert_eq!(open(&receiver, &sealed), Err(OpenError::Unauthenticated));
}

#[test]
fn a_removed_key_no_longer_opens() {
    let old = key(1);
    let new = key(2);
    let sealed = seal(&Keyring::new(old.clone()), b"LGx", [3; NONCE_LEN]);
    let mut keyring = Keyring::new(new);
    keyring.install(old.clone());
    assert!(open(&keyring, &sealed).is_ok());
    keyring.remove(&old).unwrap();
    assert_eq!(open(&keyring, &sealed), Err(OpenError::Unauthenticated));
}

#[test]
fn every_single_bit_flip_is_refused() {
    let mut keyring = Keyring::new(key(1));
    keyring.install(key(2));
    let sealed = seal(&keyring, &packet(64), [7; NONCE_LEN]);
    for byte in 0..sealed.len() {
        for bit in 0..8 {
            let mut altered = sealed.clone();
            altered[byte] ^= 1 << bit;
            let expected = match byte {
                0 | 1 => OpenError::NotSealed,
                2 => OpenError::UnsupportedVersion(FORMAT_VERSION ^ (1 << bit)),
                // Timestamp, nonce, ciphertext and tag.
                _ => OpenError::Unauthenticated,
            };
            assert_eq!(
                open(&keyring, &altered),
                Err(expected),
                "bit {bit} of byte {byte}"
            );
        }
    }
}

#[test]
fn every_truncation_and_extension_is_refused() {
    let keyring = Keyring::new(key(1));
    let sealed = seal(&keyring, &packet(100), [7; NONCE_LEN]);
    for len in 0..sealed.len() {
        let expected = match len {
            0 | 1 => OpenError::NotSealed,
            2..OVERHEAD => OpenError::Truncated { len },
            _ => OpenError::Unauthenticated,
        };
        assert_eq!(
            open(&keyring, &sealed[..len]),
            Err(expected),
            "length {len}"
        );
    }
    let mut longer = sealed.clone();
    longer.push(0);
    assert_eq!(open(&keyring, &longer), Err(OpenError::Unauthenticated));
    // Cut from the front (a header-shifting attack) too.
    for start in 1..sealed.len() {
        assert!(open(&keyring, &sealed[start..]).is_err(), "from {start}");
    }
}

#[test]
fn plaintext_packets_are_not_sealed() {
    let keyring = Keyring::new(key(1));
    for plaintext in [packet(0), packet(1), packet(2), packet(3), packet(1400)] {
        assert!(!is_sealed(&plaintext));
        assert_eq!(open(&keyring, &plaintext), Err(OpenError::NotSealed));
    }
    assert_eq!(open(&keyring, b"L"), Err(OpenError::NotSealed));
    assert_eq!(open(&keyring, b"garbage"), Err(OpenError::NotSealed));
}

#[test]
fn a_version_1_datagram_is_refused() {
    // A genuine version-1 sealing (no timestamp, the 3 header bytes as associated data),
    // built with the AEAD's own API, under a key the receiver holds.
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};
    let bytes = [0x42; 32];
    let keyring = Keyring::new(SecretKey::from_bytes(bytes));
    let nonce = [9; NONCE_LEN];
    let cipher = chacha20poly1305::XChaCha20Poly1305::new(&bytes.into());
    let body = cipher
        .encrypt(
            &nonce.into(),
            Payload {
                msg: &packet(100),
                aad: b"LE\x01",
            },
        )
        .unwrap();
    let mut version_1 = b"LE\x01".to_vec();
    version_1.extend_from_slice(&nonce);
    version_1.extend_from_slice(&body);
    assert_eq!(
        open(&keyring, &version_1),
        Err(OpenError::UnsupportedVersion(1))
    );
    // Relabelled as version 2 it does not authenticate either.
    version_1[2] = 2;
    assert!(open(&keyring, &version_1).is_err());
}

#[test]
fn other_format_versions_are_refused() {
    let keyring = Keyring::new(key(1));
    let mut sealed = seal(&keyring, b"LGx", [7; NONCE_LEN]);
    for version in [0, 1, 3, 0xFF] {
        sealed[2] = version;
        assert_eq!(
            open(&keyring, &sealed),
            Err(OpenError::UnsupportedVersion(version))
        );
    }
    // The version is checked before the length.
    assert_eq!(
        open(&keyring, b"LE\x00"),
        Err(OpenError::UnsupportedVersion(0))
    );
    assert_eq!(
        open(&keyring, b"LE\x01"),
        Err(OpenError::UnsupportedVersion(1))
    );
    assert_eq!(
        open(&keyring, b"LE\x02"),
        Err(OpenError::Truncated { len: 3 })
    );
}

#[test]
fn random_nonces_differ() {
    let keyring = Keyring::new(key(1));
    let mut rng = rng(5);
    let a = keyring
        .seal_with_rng(b"LGsame", T, CLUSTER, &mut rng)
        .unwrap();
    let b = keyring
        .seal_with_rng(b"LGsame", T, CLUSTER, &mut rng)
        .unwrap();
    assert_ne!(a[11..35], b[11..35]);
    assert_ne!(a, b);
}

/// Two or more nodes, each with its own keyring, changing one step at a time.
struct Cluster {
    nodes: Vec<Keyring>,
}

impl Cluster {
    /// Every node opens what every other node seals.
    fn all_talk(&self) -> bool {
        let mut rng = rng(11);
        self.nodes.iter().all(|sender| {
            let sealed = sender
                .seal_with_rng(b"LGping", T, CLUSTER, &mut rng)
                .unwrap();
            self.nodes
                .iter()
                .all(|receiver| open(receiver, &sealed).as_deref() == Ok(&b"LGping"[..]))
        })
    }
}

#[test]
fn rotation_keeps_every_node_talking_at_every_step() {
    let old = key(1);
    let new = key(2);
    let mut cluster = Cluster {
        nodes: (0..3).map(|_| Keyring::new(old.clone())).collect(),
    };
    assert!(cluster.all_talk());
    // Step 1: install the new key, one node at a time.
    for i in 0..cluster.nodes.len() {
        assert!(cluster.nodes[i].install(new.clone()));
        assert!(cluster.all_talk(), "install on node {i}");
    }
    // Step 2: use it, one node at a time (by fingerprint, as an admin API would).
    for i in 0..cluster.nodes.len() {
        cluster.nodes[i].use_key(new.fingerprint()).unwrap();
        assert_eq!(cluster.nodes[i].primary(), &new);
        assert!(cluster.all_talk(), "use on node {i}");
    }
    // Step 3: remove the old key, one node at a time.
    for i in 0..cluster.nodes.len() {
        cluster.nodes[i].remove(&old).unwrap();
        assert_eq!(cluster.nodes[i].len(), 1);
        assert!(cluster.all_talk(), "remove on node {i}");
    }
}

#[test]
fn using_a_key_before_every_node_installed_it_splits_the_cluster() {
    let old = key(1);
    let new = key(2);
    let mut early = Keyring::new(old.clone());
    let late = Keyring::new(old);
    early.install(new.clone());
    early.use_key(&new).unwrap();
    let sealed = early
        .seal_with_rng(b"LGping", T, CLUSTER, &mut rng(1))
        .unwrap();
    assert_eq!(open(&late, &sealed), Err(OpenError::Unauthenticated));
}

/// The runtime's send and receive paths, as the crate docs describe them.
struct Node {
    keyring: Option<Keyring>,
    encrypt_outgoing: bool,
    accept_plaintext: bool,
}

impl Node {
    fn send(&self, packet: &[u8], rng: &mut ChaCha20Rng) -> Vec<u8> {
        match &self.keyring {
            Some(keyring) if self.encrypt_outgoing => {
                keyring.seal_with_rng(packet, T, CLUSTER, rng).unwrap()
            }
            _ => packet.to_vec(),
        }
    }

    fn receive(&self, datagram: &[u8]) -> Option<Vec<u8>> {
        match &self.keyring {
            // Phase 0: a node without a keyring parses everything as plaintext; the wire
            // decoder refuses anything without `LG`.
            None => datagram
                .starts_with(&leviathan_gossip_wire::MAGIC)
                .then(|| datagram.to_vec()),
            Some(keyring) => match open(keyring, datagram) {
                Ok(plaintext) => Some(plaintext),
                Err(OpenError::NotSealed) if self.accept_plaintext => Some(datagram.to_vec()),
                Err(_) => None,
            },
        }
    }
}

#[test]
fn upgrade_from_plaintext_keeps_every_node_talking_in_every_phase() {
    let key = key(1);
    let phase = |phase: u8| match phase {
        0 => Node {
            keyring: None,
            encrypt_outgoing: false,
            accept_plaintext: true,
        },
        _ => Node {
            keyring: Some(Keyring::new(key.clone())),
            encrypt_outgoing: phase >= 2,
            accept_plaintext: phase <= 2,
        },
    };
    let mut rng = rng(3);
    // Nodes in two adjacent phases (mid-rollout) always talk both ways.
    for (a, b) in [(0, 0), (0, 1), (1, 1), (1, 2), (2, 2), (2, 3), (3, 3)] {
        let (a, b) = (phase(a), phase(b));
        for (sender, receiver) in [(&a, &b), (&b, &a)] {
            let datagram = sender.send(b"LGstate", &mut rng);
            assert_eq!(
                receiver.receive(&datagram).as_deref(),
                Some(&b"LGstate"[..])
            );
        }
    }
    // Skipping a phase loses a member: phase 2 seals what phase 0 cannot read, and
    // phase 3 refuses what phase 1 sends.
    let datagram = phase(2).send(b"LGstate", &mut rng);
    assert_eq!(phase(0).receive(&datagram), None);
    let datagram = phase(1).send(b"LGstate", &mut rng);
    assert_eq!(phase(3).receive(&datagram), None);
    // After the upgrade, forged or foreign sealed datagrams are dropped.
    let foreign = seal(
        &Keyring::new(SecretKey::from_bytes([0; 32])),
        b"LGevil",
        [0; NONCE_LEN],
    );
    assert_eq!(phase(3).receive(&foreign), None);
    assert_eq!(phase(2).receive(&foreign), None);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn open_never_panics_on_random_bytes(datagram in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut keyring = Keyring::new(key(1));
        keyring.install(key(2));
        let mut out = b"kept".to_vec();
        let result = keyring.open_into(&datagram, CLUSTER, &mut out);
        prop_assert!(result.is_err());
        prop_assert_eq!(&out, b"kept");
    }

    #[test]
    fn open_never_panics_on_random_bytes_behind_a_valid_header(
        body in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let keyring = Keyring::new(key(1));
        let mut datagram = b"LE\x02".to_vec();
        datagram.extend_from_slice(&body);
        let expected = if datagram.len() < OVERHEAD {
            OpenError::Truncated { len: datagram.len() }
        } else {
            OpenError::Unauthenticated
        };
        prop_assert_eq!(open(&keyring, &datagram), Err(expected));
    }

    #[test]
    fn seal_then_open_is_the_identity(
        plaintext in proptest::collection::vec(any::<u8>(), 0..2000),
        sent_at in any::<u64>(),
        cluster in proptest::collection::vec(any::<u8>(), 0..300),
        nonce in any::<[u8; NONCE_LEN]>(),
        seed in any::<u64>(),
    ) {
        let keyring = Keyring::new(key(seed));
        let sealed = keyring.seal(&plaintext, sent_at, &cluster, nonce).unwrap();
        prop_assert_eq!(sealed.len(), plaintext.len() + OVERHEAD);
        let opened = keyring.open(&sealed, &cluster).unwrap();
        prop_assert_eq!(opened.plaintext, plaintext);
        prop_assert_eq!(opened.envelope.sent_at, sent_at);
        prop_assert_eq!(opened.envelope.nonce, nonce);
    }

    #[test]
    fn a_sealing_opens_for_no_other_cluster_id(
        cluster in proptest::collection::vec(any::<u8>(), 0..40),
        other in proptest::collection::vec(any::<u8>(), 0..40),
    ) {
        prop_assume!(cluster != other);
        let keyring = Keyring::new(key(1));
        let sealed = keyring.seal(b"LGx", T, &cluster, [1; NONCE_LEN]).unwrap();
        prop_assert_eq!(keyring.open(&sealed, &other), Err(OpenError::Unauthenticated));
    }
}
