//! Writes the seed corpora: `cargo run --manifest-path fuzz/Cargo.toml --bin gen_corpus --
//! fuzz/corpus`. Deterministic: the same files every run.

use std::fs;
use std::path::PathBuf;

use leviathan_gossip_wire::WireVersion;

use leviathan_gossip_fuzz::{
    SEAL_CLUSTER, SEAL_SENT_AT, fd_templates, keyring, keyring_b, op, templates,
};

fn main() -> std::io::Result<()> {
    let root = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "fuzz/corpus".into()),
    );
    for dir in ["decode", "node", "keyring_open"] {
        fs::create_dir_all(root.join(dir))?;
    }
    let packets: Vec<Vec<u8>> = templates().iter().map(|p| p.encode().to_vec()).collect();
    // The same packets in the oldest wire version a node still reads.
    for (i, packet) in templates().iter().enumerate() {
        let bytes = packet.encode_as(WireVersion::OLDEST);
        fs::write(root.join("decode").join(format!("oldest-{i}")), bytes)?;
    }
    for (i, bytes) in packets.iter().enumerate() {
        fs::write(root.join("decode").join(format!("template-{i}")), bytes)?;
        // The node target: the datagram from peer i, then a timer, a write and a timer.
        let mut input = vec![op::RAW];
        input.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
        input.push(i as u8);
        input.extend_from_slice(bytes);
        input.extend_from_slice(&[
            op::NEXT_TIMER,
            op::SET,
            1,
            3,
            b'a',
            b'b',
            b'c',
            op::NEXT_TIMER,
        ]);
        input.extend_from_slice(&[op::TEMPLATE, i as u8, 1, 0]);
        input.extend_from_slice(&[op::ADVANCE_S, 40, op::DELETE, 1, op::NEXT_TIMER]);
        fs::write(root.join("node").join(format!("template-{i}")), input)?;
        // The keyring target: sealed by the primary key and by the secondary key.
        let nonce = [i as u8; 24];
        let sent_at = SEAL_SENT_AT + i as u64;
        let a = keyring()
            .seal(bytes, sent_at, SEAL_CLUSTER, nonce)
            .map_err(std::io::Error::other)?;
        let b = keyring_b()
            .seal(bytes, sent_at, SEAL_CLUSTER, nonce)
            .map_err(std::io::Error::other)?;
        fs::write(root.join("keyring_open").join(format!("sealed-a-{i}")), a)?;
        fs::write(root.join("keyring_open").join(format!("sealed-b-{i}")), b)?;
    }
    // A session: every template in turn, a TTL write, timers, leave.
    let mut session = Vec::new();
    for i in 0..templates().len() as u8 {
        session.extend_from_slice(&[op::TEMPLATE, i, i, 0, op::ADVANCE_MS, 0xf4, 0x01]);
    }
    session.extend_from_slice(&[
        op::SET_TTL,
        2,
        0xe8,
        0x03,
        1,
        b'x',
        op::ADVANCE_S,
        2,
        op::NEXT_TIMER,
    ]);
    session.extend_from_slice(&[
        op::LEAVE,
        op::NEXT_TIMER,
        op::ADVANCE_S,
        200,
        op::NEXT_TIMER,
    ]);
    fs::write(root.join("node").join("session"), session)?;
    // Failure detection: deltas introduce n1, n2 and n3; every failure-detection template
    // comes in turn from its sender's address; the node probes its peers, and its probes
    // are answered, with an ack, a nack, or not at all.
    let mut fd = vec![op::TEMPLATE, 2, 0, 0, op::TEMPLATE, 3, 1, 0, op::NEXT_TIMER];
    for (i, packet) in fd_templates().iter().enumerate() {
        let peer = if packet.header.sender.as_str() == "n1" {
            0
        } else {
            1
        };
        fd.extend_from_slice(&[op::FD_TEMPLATE, i as u8, peer, 0, op::NEXT_TIMER]);
    }
    for round in 0..4u8 {
        fd.extend_from_slice(&[
            op::ADVANCE_MS,
            0xe8,
            0x03,
            op::NEXT_TIMER,
            op::ANSWER,
            0,
            round % 2,
        ]);
        fd.extend_from_slice(&[op::NEXT_TIMER, op::NEXT_TIMER]);
    }
    fd.extend_from_slice(&[
        op::ADVANCE_S,
        30,
        op::NEXT_TIMER,
        op::ADVANCE_S,
        30,
        op::NEXT_TIMER,
    ]);
    fs::write(root.join("node").join("fd-session"), fd)?;
    Ok(())
}
