//! Codec unit tests; property tests live in `tests/codec_properties.rs`.
#![allow(clippy::unwrap_used)]

use super::*;

fn header() -> Header {
    Header {
        cluster_id: ClusterId::new("c").unwrap(),
        sender: NodeName::new("n1").unwrap(),
        generation: Generation(1_700_000_000_000),
        heartbeat: Heartbeat(42),
    }
}

#[test]
fn varint_boundaries_round_trip() {
    for value in [0, 1, 127, 128, 16_383, 16_384, u64::MAX / 2, u64::MAX] {
        let mut buf = BytesMut::new();
        put_varint(&mut buf, value);
        assert_eq!(buf.len(), varint_len(value));
        let mut reader = Reader { rest: &buf };
        assert_eq!(reader.varint("v"), Ok(value));
        assert!(reader.rest.is_empty());
    }
}

#[test]
fn non_minimal_and_overlong_varints_are_rejected() {
    assert!(
        Reader {
            rest: &[0x80, 0x00]
        }
        .varint("v")
        .is_err()
    );
    assert!(Reader { rest: &[0xff; 11] }.varint("v").is_err());
    assert!(
        Reader {
            rest: &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]
        }
        .varint("v")
        .is_err()
    );
}

#[test]
fn every_message_round_trips_with_exact_length() {
    let node = NodeId {
        name: NodeName::new("n2").unwrap(),
        address: "[::1]:7000".parse().unwrap(),
        generation: Generation(5),
    };
    let delta = NodeDelta {
        node,
        heartbeat: Heartbeat(300),
        status: NodeStatus::Left,
        gc_watermark: Version(0),
        from_version: Version(2),
        records: vec![
            Record {
                key: Key::new("k").unwrap(),
                version: Version(3),
                value: Some(Bytes::from_static(b"v")),
            },
            Record {
                key: Key::new("gone").unwrap(),
                version: Version(4),
                value: None,
            },
        ],
        to_version: Version(600),
        complete: true,
    };
    let entry = DigestEntry {
        name: NodeName::new("n3").unwrap(),
        generation: Generation(9),
        heartbeat: Heartbeat(1),
        max_version: Version(200),
        gc_watermark: Version(0),
        status: NodeStatus::Alive,
    };
    let messages = [
        Message::Syn(Syn {
            digest: Digest {
                start: NodeName::new("a").ok(),
                end: None,
                entries: vec![entry.clone()],
            },
            news: vec![entry.clone()],
        }),
        Message::SynAck(SynAck {
            requests: vec![entry],
            deltas: vec![delta.clone()],
        }),
        Message::Ack(Ack {
            deltas: vec![delta],
        }),
    ];
    for message in messages {
        let packet = Packet {
            header: header(),
            message,
        };
        let bytes = packet.encode();
        assert_eq!(bytes.len(), packet.encoded_len());
        assert_eq!(Packet::decode(&bytes), Ok(packet));
    }
}

#[test]
fn foreign_bytes_are_rejected_with_a_reason() {
    assert_eq!(
        Packet::decode(b""),
        Err(DecodeError::Truncated { field: "magic" })
    );
    assert_eq!(Packet::decode(b"XX\x01"), Err(DecodeError::BadMagic));
    assert_eq!(
        Packet::decode(b"LG\x09"),
        Err(DecodeError::UnsupportedVersion(9))
    );
    let mut bytes = Packet {
        header: header(),
        message: Message::Ack(Ack { deltas: vec![] }),
    }
    .encode()
    .to_vec();
    bytes.push(0);
    assert_eq!(Packet::decode(&bytes), Err(DecodeError::TrailingBytes(1)));
}

#[test]
fn forged_counts_do_not_allocate() {
    let mut bytes = BytesMut::new();
    header().encode(&mut bytes);
    bytes.put_u8(MessageKind::Ack as u8);
    bytes.put_u16(u16::MAX);
    assert_eq!(
        Packet::decode(&bytes),
        Err(DecodeError::Truncated { field: "deltas" })
    );
}
