//! `Keyring::open` with a fixed keyring (primary key A, installed key B) for a fixed cluster
//! id, and the `ReplayWindow` behind it.
//!
//! 1. On the raw input: never panics; if it opens, the input is exactly the sealing of the
//!    returned plaintext, at the timestamp and under the nonce the input carries, for the
//!    cluster id, by the key that opened it (sealing with a given nonce is deterministic),
//!    so nothing but a real sealing opens; it does not open for another cluster id. An
//!    opened datagram passes the replay window once, never twice.
//! 2. Oracle: the input also gives a nonce, an alteration (one byte xored, or the datagram
//!    cut short), a timestamp and a plaintext. The sealing opens to the plaintext and the
//!    timestamp with A's keyring, not with a stranger's key nor for another cluster id; the
//!    altered datagram never opens.
#![no_main]

use leviathan_gossip_fuzz::{OTHER_CLUSTER, SEAL_CLUSTER, keyring, keyring_b, stranger};
use leviathan_gossip_keyring::{Keyring, NONCE_LEN, OVERHEAD, ReplayWindow};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static RING: LazyLock<Keyring> = LazyLock::new(keyring);
static RING_B: LazyLock<Keyring> = LazyLock::new(keyring_b);
static STRANGER: LazyLock<Keyring> = LazyLock::new(stranger);

/// Bytes of the oracle's head: nonce, alteration (`u16` LE position, xor byte), timestamp.
const HEAD: usize = NONCE_LEN + 3 + 8;

fuzz_target!(|data: &[u8]| {
    // 1. Raw input.
    let mut plaintext = Vec::new();
    if let Ok(envelope) = RING.open_into(data, SEAL_CLUSTER, &mut plaintext) {
        assert_eq!(plaintext.len() + OVERHEAD, data.len());
        let sent_at = u64::from_be_bytes(data[3..11].try_into().expect("8 bytes"));
        assert_eq!(envelope.sent_at, sent_at);
        assert_eq!(&envelope.nonce[..], &data[11..35]);
        let opener: &Keyring = if envelope.key == RING.primary().fingerprint() {
            &RING
        } else {
            assert_eq!(
                envelope.key,
                RING_B.primary().fingerprint(),
                "opened by an unknown key"
            );
            &RING_B
        };
        let resealed = opener
            .seal(&plaintext, envelope.sent_at, SEAL_CLUSTER, envelope.nonce)
            .expect("seal");
        assert_eq!(
            resealed, data,
            "open accepted something that is not a sealing"
        );
        assert!(
            RING.open(data, OTHER_CLUSTER).is_err(),
            "opened for another cluster"
        );
        let mut window = ReplayWindow::default();
        let now = envelope.sent_at;
        assert!(window.check(envelope.sent_at, envelope.nonce, now).is_ok());
        assert!(
            window.check(envelope.sent_at, envelope.nonce, now).is_err(),
            "replay accepted"
        );
    }

    // 2. Oracle on a fresh sealing.
    let (head, rest) = data.split_at(data.len().min(HEAD));
    let mut nonce = [0u8; NONCE_LEN];
    let n = head.len().min(NONCE_LEN);
    nonce[..n].copy_from_slice(&head[..n]);
    let (position, flip) = match head.get(NONCE_LEN..NONCE_LEN + 3) {
        Some(&[a, b, c]) => (usize::from(u16::from_le_bytes([a, b])), c),
        _ => (0, 1),
    };
    let sent_at = head.get(NONCE_LEN + 3..HEAD).map_or(0, |bytes| {
        u64::from_be_bytes(bytes.try_into().expect("8 bytes"))
    });
    let sealed = RING.seal(rest, sent_at, SEAL_CLUSTER, nonce).expect("seal");
    let opened = RING
        .open(&sealed, SEAL_CLUSTER)
        .expect("own sealing does not open");
    assert_eq!(opened.plaintext, rest);
    assert_eq!(opened.envelope.sent_at, sent_at);
    assert_eq!(opened.envelope.nonce, nonce);
    assert!(
        STRANGER.open(&sealed, SEAL_CLUSTER).is_err(),
        "a stranger's key opened the datagram"
    );
    assert!(
        RING.open(&sealed, OTHER_CLUSTER).is_err(),
        "opened for another cluster"
    );
    let mut altered = sealed.clone();
    if flip == 0 {
        // Cut short at `position`.
        altered.truncate(position % sealed.len());
    } else {
        let index = position % sealed.len();
        altered[index] ^= flip;
    }
    assert!(
        RING.open(&altered, SEAL_CLUSTER).is_err(),
        "an altered datagram opened"
    );
});
