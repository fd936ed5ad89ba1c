//! `Keyring::open` with a fixed keyring (primary key A, installed key B).
//!
//! 1. On the raw input: never panics; if it opens, the input is exactly the sealing of the
//!    returned plaintext, under the nonce the input carries, by the key that opened it
//!    (sealing with a given nonce is deterministic), so nothing but a real sealing opens.
//! 2. Oracle: the input also gives a nonce, a plaintext and an alteration (one byte xored,
//!    or the datagram cut short). The sealing opens to the plaintext with A's keyring,
//!    not with a stranger's key; the altered datagram never opens.
#![no_main]

use leviathan_gossip_fuzz::{keyring, keyring_b, stranger};
use leviathan_gossip_keyring::{Keyring, OVERHEAD};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static RING: LazyLock<Keyring> = LazyLock::new(keyring);
static RING_B: LazyLock<Keyring> = LazyLock::new(keyring_b);
static STRANGER: LazyLock<Keyring> = LazyLock::new(stranger);

fuzz_target!(|data: &[u8]| {
    // 1. Raw input.
    let mut plaintext = Vec::new();
    if let Ok(fingerprint) = RING.open_into(data, &mut plaintext) {
        assert_eq!(plaintext.len() + OVERHEAD, data.len());
        let nonce: [u8; 24] = data[3..27].try_into().expect("24 bytes");
        let opener: &Keyring = if fingerprint == RING.primary().fingerprint() {
            &RING
        } else {
            assert_eq!(fingerprint, RING_B.primary().fingerprint(), "opened by an unknown key");
            &RING_B
        };
        let resealed = opener.seal(&plaintext, nonce).expect("seal");
        assert_eq!(resealed, data, "open accepted something that is not a sealing");
    }

    // 2. Oracle on a fresh sealing.
    let (head, rest) = data.split_at(data.len().min(27));
    let mut nonce = [0u8; 24];
    let n = head.len().min(24);
    nonce[..n].copy_from_slice(&head[..n]);
    let (position, flip) = match head.get(24..27) {
        Some(&[a, b, c]) => (usize::from(u16::from_le_bytes([a, b])), c),
        _ => (0, 1),
    };
    let sealed = RING.seal(rest, nonce).expect("seal");
    assert_eq!(RING.open(&sealed).as_deref(), Ok(rest), "own sealing does not open");
    assert!(STRANGER.open(&sealed).is_err(), "a stranger's key opened the datagram");
    let mut altered = sealed.clone();
    if flip == 0 {
        // Cut short at `position`.
        altered.truncate(position % sealed.len());
    } else {
        let index = position % sealed.len();
        altered[index] ^= flip;
    }
    assert!(RING.open(&altered).is_err(), "an altered datagram opened");
});
