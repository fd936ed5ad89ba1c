//! Codec unit tests; property tests live in `tests/codec_properties.rs`.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "literals are valid and buffers are indexed where just checked; a panic fails the test"
)]

use super::*;

fn header() -> Header {
    Header {
        cluster_id: ClusterId::new("c").unwrap(),
        sender: NodeName::new("n1").unwrap(),
        generation: Generation(1_700_000_000_000),
        incarnation: Incarnation(42),
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
        node: node.clone(),
        incarnation: Incarnation(300),
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
        incarnation: Incarnation(1),
        max_version: Version(200),
        gc_watermark: Version(0),
        status: NodeStatus::Alive,
    };
    let alert = Rumor {
        subject: NodeName::new("n4").unwrap(),
        generation: Generation(u64::MAX),
        incarnation: Incarnation(128),
        alerters: vec![NodeTag(0), NodeTag(7), NodeTag(u32::MAX)],
    };
    let refutation = Rumor {
        subject: NodeName::new("n1").unwrap(),
        generation: Generation(1_700_000_000_000),
        incarnation: Incarnation(43),
        alerters: vec![],
    };
    let rumors = vec![alert, refutation];
    let messages = [
        Message::Syn(Syn {
            ranges: RangeClaims {
                summaries: vec![RangeSummary {
                    range: NameRange::new(64, u64::MAX).unwrap(),
                    fingerprint: Fingerprint {
                        count: 3,
                        sum: u64::MAX,
                    },
                }],
                pages: vec![Digest {
                    range: NameRange::new(4, 9).unwrap(),
                    entries: vec![entry.clone()],
                }],
            },
            news: vec![entry.clone()],
            rumors: vec![],
        }),
        Message::Syn(Syn {
            ranges: RangeClaims::default(),
            news: vec![entry.clone()],
            rumors: rumors.clone(),
        }),
        Message::SynAck(SynAck {
            requests: vec![entry],
            deltas: vec![delta.clone()],
            ..Default::default()
        }),
        Message::Ack(Ack {
            ranges: RangeClaims {
                summaries: NameRange::ALL
                    .children()
                    .map(|range| RangeSummary {
                        range,
                        fingerprint: Fingerprint::default(),
                    })
                    .collect(),
                pages: vec![Digest::full(Vec::new())],
            },
            requests: vec![],
            deltas: vec![delta],
        }),
        Message::Probe(Probe {
            sequence: 0,
            target: NodeTag(0),
            rumors: vec![],
        }),
        Message::Probe(Probe {
            sequence: u64::MAX,
            target: NodeTag::of(&NodeName::new("n2").unwrap()),
            rumors: rumors.clone(),
        }),
        Message::ProbeAck(ProbeAck {
            sequence: 1,
            reached: true,
            rumors: rumors.clone(),
        }),
        Message::ProbeAck(ProbeAck {
            sequence: 128,
            reached: false,
            rumors: vec![],
        }),
        Message::ProbeRequest(ProbeRequest {
            sequence: 16_384,
            target: node.clone(),
            rumors,
        }),
        Message::ProbeRequest(ProbeRequest {
            sequence: 0,
            target: NodeId {
                address: "10.1.2.3:0".parse().unwrap(),
                ..node
            },
            rumors: vec![],
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
        message: Message::Ack(Ack::default()),
    }
    .encode()
    .to_vec();
    bytes.push(0);
    assert_eq!(Packet::decode(&bytes), Err(DecodeError::TrailingBytes(1)));
}

#[test]
fn forged_counts_do_not_allocate() {
    let mut bytes = BytesMut::new();
    header().encode(&mut bytes, WireVersion::CURRENT);
    bytes.put_u8(MessageKind::Ack as u8);
    bytes.put_u16(u16::MAX);
    assert_eq!(
        Packet::decode(&bytes),
        Err(DecodeError::Truncated {
            field: "range summaries"
        })
    );
}

#[test]
fn unknown_message_kinds_are_rejected() {
    for kind in [0, 7, u8::MAX] {
        let mut bytes = BytesMut::new();
        header().encode(&mut bytes, WireVersion::CURRENT);
        bytes.put_u8(kind);
        assert_eq!(
            Packet::decode(&bytes),
            Err(DecodeError::UnknownMessageKind(kind))
        );
    }
}

/// The header of every golden packet below: `header()` encoded.
const HEADER_BYTES: [u8; 15] = [
    0x4c, 0x47, 0x05, // magic "LG", wire version 5
    0x01, b'c', // cluster id "c"
    0x02, b'n', b'1', // sender "n1"
    0x80, 0xd0, 0x95, 0xff, 0xbc, 0x31, // generation 1 700 000 000 000
    0x2a, // sender incarnation 42
];

/// Checks that `packet` encodes to the header, then `body`, and decodes back from it.
fn assert_golden(packet: &Packet, body: &[u8]) {
    let expected: Vec<u8> = HEADER_BYTES.iter().chain(body).copied().collect();
    assert_eq!(packet.encode().as_ref(), expected.as_slice());
    assert_eq!(packet.encoded_len(), expected.len());
    assert_eq!(Packet::decode(&expected).as_ref(), Ok(packet));
}

#[test]
fn probe_golden_encoding() {
    let target = NodeTag::of(&NodeName::new("n2").unwrap());
    // The high half of the name-order hash of "n2" (`docs/PROTOCOL.md` §2).
    assert_eq!(target, NodeTag(0x0597_1310));
    let packet = Packet {
        header: header(),
        message: Message::Probe(Probe {
            sequence: 300,
            target,
            rumors: vec![Rumor {
                subject: NodeName::new("n3").unwrap(),
                generation: Generation(5),
                incarnation: Incarnation(2),
                alerters: vec![NodeTag(1), NodeTag(0xdead_beef)],
            }],
        }),
    };
    #[rustfmt::skip]
    let body = [
        0x04, // kind Probe
        0xac, 0x02, // sequence 300
        0x05, 0x97, 0x13, 0x10, // target: tag of "n2", big-endian
        0x00, 0x01, // 1 rumour
          0x02, b'n', b'3', // subject "n3"
          0x05, // generation 5
          0x02, // incarnation 2
          0x00, 0x02, // 2 alerters
            0x00, 0x00, 0x00, 0x01, // tag 1
            0xde, 0xad, 0xbe, 0xef, // tag 0xdeadbeef
    ];
    assert_golden(&packet, &body);
}

#[test]
fn probe_ack_golden_encoding() {
    let packet = Packet {
        header: header(),
        message: Message::ProbeAck(ProbeAck {
            sequence: 0,
            reached: true,
            rumors: vec![Rumor {
                subject: NodeName::new("n1").unwrap(),
                generation: Generation(1_700_000_000_000),
                incarnation: Incarnation(43),
                alerters: vec![],
            }],
        }),
    };
    #[rustfmt::skip]
    let body = [
        0x05, // kind ProbeAck
        0x00, // sequence 0
        0x01, // reached
        0x00, 0x01, // 1 rumour
          0x02, b'n', b'1', // subject "n1"
          0x80, 0xd0, 0x95, 0xff, 0xbc, 0x31, // generation 1 700 000 000 000
          0x2b, // incarnation 43
          0x00, 0x00, // no alerters: a refutation
    ];
    assert_golden(&packet, &body);

    let nack = Packet {
        header: header(),
        message: Message::ProbeAck(ProbeAck {
            sequence: 1,
            reached: false,
            rumors: vec![],
        }),
    };
    #[rustfmt::skip]
    let body = [
        0x05, // kind ProbeAck
        0x01, // sequence 1
        0x00, // not reached
        0x00, 0x00, // no rumours
    ];
    assert_golden(&nack, &body);
}

#[test]
fn probe_request_golden_encoding() {
    let packet = Packet {
        header: header(),
        message: Message::ProbeRequest(ProbeRequest {
            sequence: 1 << 32,
            target: NodeId {
                name: NodeName::new("n3").unwrap(),
                address: "10.0.0.3:7946".parse().unwrap(),
                generation: Generation(9),
            },
            rumors: vec![],
        }),
    };
    #[rustfmt::skip]
    let body = [
        0x06, // kind ProbeRequest
        0x80, 0x80, 0x80, 0x80, 0x10, // sequence 2^32
        0x02, b'n', b'3', // target name "n3"
        0x04, 10, 0, 0, 3, 0x1f, 0x0a, // target address 10.0.0.3:7946
        0x09, // target generation 9
        0x00, 0x00, // no rumours
    ];
    assert_golden(&packet, &body);
}

#[test]
fn reached_byte_other_than_0_or_1_is_rejected() {
    let mut bytes = Packet {
        header: header(),
        message: Message::ProbeAck(ProbeAck {
            sequence: 7,
            reached: true,
            rumors: vec![],
        }),
    }
    .encode()
    .to_vec();
    // Header, kind, one-byte sequence, then the flag.
    let at = header().encoded_len() + 2;
    assert_eq!(bytes[at], 1);
    for value in [2, 0x80, u8::MAX] {
        bytes[at] = value;
        assert_eq!(
            Packet::decode(&bytes),
            Err(DecodeError::InvalidTag {
                field: "probe ack reached",
                value,
            })
        );
    }
}

/// A rumour about "n3" with one alerter, as in the golden Probe.
fn one_rumor() -> Rumor {
    Rumor {
        subject: NodeName::new("n3").unwrap(),
        generation: Generation(5),
        incarnation: Incarnation(2),
        alerters: vec![NodeTag(1)],
    }
}

/// A rumour count of 65 535 with one rumour behind it is refused at the count, in every
/// message that carries rumours: `Truncated` names the list itself, an error only the
/// count check raises, so no element was parsed and nothing was reserved for the claim.
#[test]
fn forged_rumor_counts_do_not_allocate() {
    let rumors = vec![one_rumor()];
    let node = NodeId {
        name: NodeName::new("n3").unwrap(),
        address: "10.0.0.3:7946".parse().unwrap(),
        generation: Generation(9),
    };
    let messages = [
        Message::Syn(Syn {
            ranges: RangeClaims::default(),
            news: vec![],
            rumors: rumors.clone(),
        }),
        Message::Probe(Probe {
            sequence: 1,
            target: NodeTag(2),
            rumors: rumors.clone(),
        }),
        Message::ProbeAck(ProbeAck {
            sequence: 1,
            reached: false,
            rumors: rumors.clone(),
        }),
        Message::ProbeRequest(ProbeRequest {
            sequence: 1,
            target: node,
            rumors: rumors.clone(),
        }),
    ];
    for message in messages {
        let packet = Packet {
            header: header(),
            message,
        };
        let mut bytes = packet.encode().to_vec();
        // The rumour list ends every message that has one: its count is right before it.
        let at = bytes.len() - rumors_len(&rumors);
        assert_eq!(bytes[at..at + COUNT_LEN], [0x00, 0x01]);
        bytes[at..at + COUNT_LEN].copy_from_slice(&u16::MAX.to_be_bytes());
        assert_eq!(
            Packet::decode(&bytes),
            Err(DecodeError::Truncated { field: "rumors" }),
            "{:?}",
            packet.message.kind()
        );
    }
}

/// An alerter count larger than the bytes left could hold is refused at the count.
#[test]
fn forged_alerter_counts_do_not_allocate() {
    let rumor = one_rumor();
    let packet = Packet {
        header: header(),
        message: Message::Probe(Probe {
            sequence: 1,
            target: NodeTag(2),
            rumors: vec![rumor.clone()],
        }),
    };
    let bytes = packet.encode().to_vec();
    // The rumour is last, and its alerter count is right before its one tag.
    let at = bytes.len() - NodeTag::LEN - COUNT_LEN;
    assert_eq!(bytes[at..at + COUNT_LEN], [0x00, 0x01]);
    // 2 alerters need 8 bytes, 4 are left: refused as surely as 65 535.
    for forged in [2, 0x4000, u16::MAX] {
        let mut forged_bytes = bytes.clone();
        forged_bytes[at..at + COUNT_LEN].copy_from_slice(&u16::to_be_bytes(forged));
        assert_eq!(
            Packet::decode(&forged_bytes),
            Err(DecodeError::Truncated {
                field: "rumor alerters"
            })
        );
    }
    assert_eq!(rumor.encoded_len(), 2 + 1 + 1 + 1 + 2 + 4);
}

#[test]
fn a_range_longer_than_the_hash_or_wider_than_its_bits_is_refused() {
    for (bits, prefix) in [(65u8, 0u64), (4, 16), (0, 1)] {
        let mut buf = BytesMut::new();
        header().encode(&mut buf, WireVersion::CURRENT);
        buf.put_u8(MessageKind::Syn as u8);
        put_count(&mut buf, 1);
        buf.put_u8(bits);
        put_varint(&mut buf, prefix);
        put_varint(&mut buf, 1);
        buf.put_u64(0);
        put_count(&mut buf, 0);
        put_count(&mut buf, 0);
        put_count(&mut buf, 0);
        assert_eq!(
            Packet::decode(&buf),
            Err(DecodeError::InvalidTag {
                field: "range bits",
                value: bits
            }),
            "{bits} bits, prefix {prefix}"
        );
    }
}
