//! Property tests of the codec: exact sizes, round trips and decoding of untrusted bytes.
//!
//! Strategies come first, then one property per test. Each property runs a fixed number of
//! cases so the suite stays fast in debug builds. The codec does not check protocol
//! invariants (sorted digest entries, increasing record versions, …), so the strategies do
//! not respect them either: any well-typed value must survive the wire.

#![allow(
    clippy::indexing_slicing,
    reason = "tests slice buffers whose length they just checked; a panic is a test failure"
)]

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use bytes::Bytes;
use leviathan_gossip_wire::{
    Ack, COUNT_LEN, ClusterId, DecodeError, Digest, DigestEntry, Fingerprint, Generation, Header,
    Incarnation, InvalidName, Key, MAGIC, MAX_NAME_LEN, Message, NameRange, NodeDelta, NodeId,
    NodeName, NodeStatus, NodeTag, Packet, Probe, ProbeAck, ProbeRequest, RangeClaims,
    RangeSummary, Record, Rumor, Syn, SynAck, Version, WIRE_VERSION, WireVersion, rumors_len,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;

/// Cases per property: enough to reach every branch of the codec, few enough for < 5 s.
const CASES: u32 = 256;

/// Largest value in packets used for round trips (a few KB).
const LARGE_VALUE: usize = 4096;

/// Largest value in packets that are decoded once per byte position (quadratic work).
const SMALL_VALUE: usize = 64;

// ---------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------

/// Text for names, keys and cluster ids: 1..=`MAX_NAME_LEN` bytes of UTF-8, no control
/// characters. Mostly short ASCII; also long and multi-byte strings right up to the limit.
fn name_text() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => vec(any::<u32>(), 1..8).prop_map(|seeds| text_of(&seeds)),
        2 => vec(any::<u32>(), 1..=MAX_NAME_LEN).prop_map(|seeds| text_of(&seeds)),
        1 => prop::char::range('a', 'z').prop_map(|c| c.to_string().repeat(MAX_NAME_LEN)),
    ]
}

/// One character per seed, keeping whole characters while they fit in `MAX_NAME_LEN` (never
/// empty: a character takes at most 4). Built from plain numbers because per-character
/// strategies are slow to generate in debug builds.
fn text_of(seeds: &[u32]) -> String {
    let mut text = String::new();
    for c in seeds.iter().copied().map(name_char) {
        if text.len() + c.len_utf8() > MAX_NAME_LEN {
            break;
        }
        text.push(c);
    }
    text
}

/// Mostly printable ASCII; otherwise a character of 2, 3 or 4 UTF-8 bytes (controls and
/// surrogates, which a name cannot hold, become 'é').
fn name_char(seed: u32) -> char {
    let (class, n) = (seed % 8, seed / 8);
    let code = match class {
        0 => 0x80 + n % 0x780,
        1 => 0x800 + n % 0xF800,
        2 => 0x1_0000 + n % 0x10_0000,
        _ => 0x20 + n % 0x5F,
    };
    char::from_u32(code)
        .filter(|c| !c.is_control())
        .unwrap_or('é')
}

fn node_name() -> impl Strategy<Value = NodeName> {
    name_text().prop_filter_map("valid name", |text| NodeName::new(text).ok())
}

fn key() -> impl Strategy<Value = Key> {
    name_text().prop_filter_map("valid key", |text| Key::new(text).ok())
}

fn cluster_id() -> impl Strategy<Value = ClusterId> {
    name_text().prop_filter_map("valid cluster id", |text| ClusterId::new(text).ok())
}

/// A generation, incarnation, version or probe sequence: the extremes, every varint length
/// boundary (2^k - 1 and 2^k), small values and anything at all. (One mapped tuple rather
/// than a `prop_oneof!`: this strategy runs dozens of times per packet, and unions are slow.)
fn counter() -> impl Strategy<Value = u64> {
    (0..8u8, any::<u64>()).prop_map(|(class, n)| match class {
        0 => 0,
        1 => u64::MAX,
        2 => u64::MAX - 1,
        3 | 4 => (1u64 << (1 + n % 63)) - (n >> 63),
        5 | 6 => n % 301,
        _ => n,
    })
}

fn status() -> impl Strategy<Value = NodeStatus> {
    prop_oneof![Just(NodeStatus::Alive), Just(NodeStatus::Left)]
}

/// IPv4 and IPv6 socket addresses (flow info and scope id 0: they are not transmitted).
fn address() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>())
            .prop_map(|(ip, port)| SocketAddr::new(Ipv4Addr::from(ip).into(), port)),
        (any::<[u8; 16]>(), any::<u16>())
            .prop_map(|(ip, port)| SocketAddr::new(Ipv6Addr::from(ip).into(), port)),
    ]
}

/// A record value: a tombstone, a small (possibly empty) value, or up to `max_len` bytes.
fn value(max_len: usize) -> impl Strategy<Value = Option<Bytes>> {
    prop_oneof![
        1 => Just(None),
        3 => vec(any::<u8>(), 0..=16).prop_map(|bytes| Some(Bytes::from(bytes))),
        1 => vec(any::<u8>(), 0..=max_len).prop_map(|bytes| Some(Bytes::from(bytes))),
    ]
}

fn record(max_value: usize) -> impl Strategy<Value = Record> {
    (key(), counter(), value(max_value)).prop_map(|(key, version, value)| Record {
        key,
        version: Version(version),
        value,
    })
}

fn node_id() -> impl Strategy<Value = NodeId> {
    (node_name(), address(), counter()).prop_map(|(name, address, generation)| NodeId {
        name,
        address,
        generation: Generation(generation),
    })
}

fn node_delta(max_value: usize) -> impl Strategy<Value = NodeDelta> {
    (
        node_id(),
        counter(),
        status(),
        counter(),
        counter(),
        vec(record(max_value), 0..4),
        prop_oneof![Just(None), Just(Some(0u64)), (0..300u64).prop_map(Some)],
    )
        .prop_map(
            |(node, incarnation, status, gc_watermark, from_version, records, beyond)| {
                let mut delta = NodeDelta {
                    node,
                    incarnation: Incarnation(incarnation),
                    status,
                    gc_watermark: Version(gc_watermark),
                    from_version: Version(from_version),
                    records,
                    to_version: Version(0),
                    complete: beyond.is_some(),
                };
                // Only a complete delta may reach beyond its last record.
                let beyond = beyond.unwrap_or(0);
                delta.to_version = Version(delta.last_version().0.saturating_add(beyond));
                delta
            },
        )
}

fn digest_entry() -> impl Strategy<Value = DigestEntry> {
    (
        node_name(),
        counter(),
        counter(),
        counter(),
        counter(),
        status(),
    )
        .prop_map(
            |(name, generation, incarnation, max_version, gc_watermark, status)| DigestEntry {
                name,
                generation: Generation(generation),
                incarnation: Incarnation(incarnation),
                max_version: Version(max_version),
                gc_watermark: Version(gc_watermark),
                status,
            },
        )
}

/// A range of the name order: any prefix length, any prefix that fits it.
fn name_range() -> impl Strategy<Value = NameRange> {
    (0..=64u8, any::<u64>()).prop_filter_map("a prefix within its bits", |(bits, hash)| {
        let prefix = hash.checked_shr(64 - u32::from(bits)).unwrap_or(0);
        NameRange::new(bits, prefix)
    })
}

/// A digest page: any range, up to 8 entries.
fn digest() -> impl Strategy<Value = Digest> {
    (name_range(), vec(digest_entry(), 0..8)).prop_map(|(range, entries)| Digest { range, entries })
}

fn range_summary() -> impl Strategy<Value = RangeSummary> {
    (name_range(), counter(), any::<u64>()).prop_map(|(range, count, sum)| RangeSummary {
        range,
        fingerprint: Fingerprint { count, sum },
    })
}

fn range_claims() -> impl Strategy<Value = RangeClaims> {
    (vec(range_summary(), 0..18), vec(digest(), 0..3))
        .prop_map(|(summaries, pages)| RangeClaims { summaries, pages })
}

/// A node tag: 0, `u32::MAX`, or anything (the tag of no name in particular: the codec does
/// not care whose it is).
fn node_tag() -> impl Strategy<Value = NodeTag> {
    (0..4u8, any::<u32>()).prop_map(|(class, n)| match class {
        0 => NodeTag(0),
        1 => NodeTag(u32::MAX),
        _ => NodeTag(n),
    })
}

/// A rumour: a refutation (no alerters) or an alert by up to 5 observers.
fn rumor() -> impl Strategy<Value = Rumor> {
    (node_name(), counter(), counter(), vec(node_tag(), 0..6)).prop_map(
        |(subject, generation, incarnation, alerters)| Rumor {
            subject,
            generation: Generation(generation),
            incarnation: Incarnation(incarnation),
            alerters,
        },
    )
}

fn rumors() -> impl Strategy<Value = Vec<Rumor>> {
    vec(rumor(), 0..4)
}

fn syn() -> impl Strategy<Value = Syn> {
    (range_claims(), vec(digest_entry(), 0..4), rumors()).prop_map(|(ranges, news, rumors)| Syn {
        ranges,
        news,
        rumors,
    })
}

fn synack(max_value: usize) -> impl Strategy<Value = SynAck> {
    (
        range_claims(),
        vec(digest_entry(), 0..6),
        vec(node_delta(max_value), 0..4),
    )
        .prop_map(|(ranges, requests, deltas)| SynAck {
            ranges,
            requests,
            deltas,
        })
}

fn ack(max_value: usize) -> impl Strategy<Value = Ack> {
    (
        range_claims(),
        vec(digest_entry(), 0..6),
        vec(node_delta(max_value), 0..4),
    )
        .prop_map(|(ranges, requests, deltas)| Ack {
            ranges,
            requests,
            deltas,
        })
}

fn probe() -> impl Strategy<Value = Probe> {
    (counter(), node_tag(), rumors()).prop_map(|(sequence, target, rumors)| Probe {
        sequence,
        target,
        rumors,
    })
}

fn probe_ack() -> impl Strategy<Value = ProbeAck> {
    (counter(), any::<bool>(), rumors()).prop_map(|(sequence, reached, rumors)| ProbeAck {
        sequence,
        reached,
        rumors,
    })
}

fn probe_request() -> impl Strategy<Value = ProbeRequest> {
    (counter(), node_id(), rumors()).prop_map(|(sequence, target, rumors)| ProbeRequest {
        sequence,
        target,
        rumors,
    })
}

/// A message that carries rumours (every kind but SynAck and Ack).
fn message_with_rumors() -> impl Strategy<Value = Message> {
    prop_oneof![
        syn().prop_map(Message::Syn),
        probe().prop_map(Message::Probe),
        probe_ack().prop_map(Message::ProbeAck),
        probe_request().prop_map(Message::ProbeRequest),
    ]
}

fn header() -> impl Strategy<Value = Header> {
    (cluster_id(), node_name(), counter(), counter()).prop_map(
        |(cluster_id, sender, generation, incarnation)| Header {
            cluster_id,
            sender,
            generation: Generation(generation),
            incarnation: Incarnation(incarnation),
        },
    )
}

/// Any packet of any of the six kinds, with values up to `max_value` bytes. The handshake
/// messages, which hold most of the codec, come twice as often as the probes.
fn packet_with_values_up_to(max_value: usize) -> impl Strategy<Value = Packet> {
    let message = prop_oneof![
        2 => syn().prop_map(Message::Syn),
        2 => synack(max_value).prop_map(Message::SynAck),
        2 => ack(max_value).prop_map(Message::Ack),
        1 => probe().prop_map(Message::Probe),
        1 => probe_ack().prop_map(Message::ProbeAck),
        1 => probe_request().prop_map(Message::ProbeRequest),
    ];
    (header(), message).prop_map(|(header, message)| Packet { header, message })
}

/// Packets with values of a few KB.
fn packet() -> impl Strategy<Value = Packet> {
    packet_with_values_up_to(LARGE_VALUE)
}

/// Packets with small values, for properties that decode once per byte position.
fn small_packet() -> impl Strategy<Value = Packet> {
    packet_with_values_up_to(SMALL_VALUE)
}

/// Input a decoder might meet: random bytes, or random bytes behind a valid header and
/// message kind (so that decoding gets past the header and into the bodies; kinds 0 and 7
/// are unknown).
fn noise() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..2000),
        (header(), 0..=7u8, vec(any::<u8>(), 0..2000)).prop_map(|(header, kind, body)| {
            let mut bytes = header_bytes(&header);
            bytes.push(kind);
            bytes.extend(body);
            bytes
        }),
    ]
}

/// One edit of an encoded packet.
#[derive(Debug, Clone)]
enum Mutation {
    /// XOR one byte with a non-zero mask.
    Flip(Index, u8),
    /// Insert a byte (at any position, including the end).
    Insert(Index, u8),
    /// Delete one byte.
    Delete(Index),
    /// Keep only a prefix.
    Truncate(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), 1..=u8::MAX).prop_map(|(at, mask)| Mutation::Flip(at, mask)),
        (any::<Index>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Insert(at, byte)),
        any::<Index>().prop_map(Mutation::Delete),
        any::<Index>().prop_map(Mutation::Truncate),
    ]
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

impl Mutation {
    fn apply(&self, bytes: &mut Vec<u8>) {
        match self {
            Mutation::Flip(at, mask) if !bytes.is_empty() => {
                let at = at.index(bytes.len());
                bytes[at] ^= mask;
            }
            Mutation::Insert(at, byte) => bytes.insert(at.index(bytes.len() + 1), *byte),
            Mutation::Delete(at) if !bytes.is_empty() => {
                bytes.remove(at.index(bytes.len()));
            }
            Mutation::Truncate(at) => bytes.truncate(at.index(bytes.len() + 1)),
            Mutation::Flip(..) | Mutation::Delete(_) => {}
        }
    }
}

fn packet_of(header: &Header, message: Message) -> Packet {
    Packet {
        header: header.clone(),
        message,
    }
}

/// The encoded header alone (magic, version, cluster id, sender, generation).
fn header_bytes(header: &Header) -> Vec<u8> {
    let bytes = packet_of(header, Message::Ack(Ack::default())).encode();
    bytes[..header.encoded_len()].to_vec()
}

fn encoded_len_of(header: &Header, message: Message) -> usize {
    packet_of(header, message).encode().len()
}

/// `bytes` with the big-endian `u16` count at `offset` replaced by `count`.
fn with_count(mut bytes: Vec<u8>, offset: usize, count: u16) -> Vec<u8> {
    bytes[offset..offset + COUNT_LEN].copy_from_slice(&count.to_be_bytes());
    bytes
}

/// The rumours of a message (none for a SynAck or an Ack).
fn rumors_in(message: &Message) -> &[Rumor] {
    match message {
        Message::Syn(Syn { rumors, .. })
        | Message::Probe(Probe { rumors, .. })
        | Message::ProbeAck(ProbeAck { rumors, .. })
        | Message::ProbeRequest(ProbeRequest { rumors, .. }) => rumors,
        Message::SynAck(_) | Message::Ack(_) => &[],
    }
}

/// `message` with its rumour list replaced (unchanged if it has none).
fn with_rumors(message: &Message, new: Vec<Rumor>) -> Message {
    let mut message = message.clone();
    match &mut message {
        Message::Syn(Syn { rumors, .. })
        | Message::Probe(Probe { rumors, .. })
        | Message::ProbeAck(ProbeAck { rumors, .. })
        | Message::ProbeRequest(ProbeRequest { rumors, .. }) => *rumors = new,
        Message::SynAck(_) | Message::Ack(_) => {}
    }
    message
}

/// Decodes untrusted bytes; if they are accepted, they must be the packet's one encoding.
/// Accepted bytes are the canonical encoding, in their version, of what they decode to;
/// a version-4 Syn excepted, whose page bounded by names becomes hash-prefix ranges.
fn assert_rejected_or_canonical(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok((packet, version)) = Packet::decode_versioned(bytes)
        && (version == WireVersion::CURRENT || !matches!(packet.message, Message::Syn(_)))
    {
        let encoded = packet.encode_as(version);
        prop_assert_eq!(encoded.as_ref(), bytes);
        prop_assert_eq!(packet.encoded_len_as(version), bytes.len());
    }
    Ok(())
}

/// A Syn whose one page lists `entries` that lie in one hash-prefix range, in name order.
fn syn_with_one_page(entries: Vec<DigestEntry>, bits: u8) -> Option<Syn> {
    let first = entries.first()?;
    let shift = 64 - u32::from(bits);
    let range = NameRange::new(bits, first.name.order_hash() >> shift)?;
    let mut listed: Vec<DigestEntry> = entries
        .into_iter()
        .filter(|entry| range.contains(&entry.name))
        .collect();
    listed.sort_by(|a, b| a.name.cmp(&b.name));
    listed.dedup_by(|a, b| a.name == b.name);
    Some(Syn {
        ranges: RangeClaims {
            summaries: Vec::new(),
            pages: vec![Digest {
                range,
                entries: listed,
            }],
        },
        news: Vec::new(),
        rumors: Vec::new(),
    })
}

// ---------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// A message the oldest wire version says in full comes back whole from it, marked with
    /// that version, and `encoded_len_as` is the encoding's size in every version.
    #[test]
    fn what_the_oldest_version_says_in_full_round_trips_through_it(packet in packet()) {
        for version in WireVersion::ALL {
            let bytes = packet.encode_as(version);
            prop_assert_eq!(bytes.len(), packet.encoded_len_as(version));
            let (decoded, decoded_version) = Packet::decode_versioned(&bytes)
                .map_err(|error| TestCaseError::fail(format!("{version}: {error}")))?;
            prop_assert_eq!(decoded_version, version);
            if packet.message.fits_version(version) {
                prop_assert_eq!(&decoded, &packet);
            }
        }
    }

    /// A Syn's page sent in the oldest version keeps its meaning: every entry arrives (in
    /// a page or as news), and every page decoded lists each entry it covers, so "absent
    /// from a page" still means "unknown to the sender".
    #[test]
    fn a_page_keeps_its_meaning_in_the_oldest_version(
        entries in vec(digest_entry(), 1..24),
        bits in 1..=3u8,
        header in header(),
    ) {
        let Some(syn) = syn_with_one_page(entries, bits) else {
            return Ok(());
        };
        let sent = syn.ranges.pages[0].entries.clone();
        let packet = Packet { header, message: Message::Syn(syn) };
        let bytes = packet.encode_as(WireVersion::OLDEST);
        prop_assert_eq!(bytes.len(), packet.encoded_len_as(WireVersion::OLDEST));
        let (decoded, _) = Packet::decode_versioned(&bytes)
            .map_err(|error| TestCaseError::fail(error.to_string()))?;
        let Message::Syn(decoded) = decoded.message else {
            return Err(TestCaseError::fail("not a Syn"));
        };
        let mut arrived: Vec<&DigestEntry> = decoded
            .ranges
            .pages
            .iter()
            .flat_map(|page| &page.entries)
            .chain(&decoded.news)
            .collect();
        arrived.sort_by(|a, b| a.name.cmp(&b.name));
        prop_assert_eq!(arrived.len(), sent.len());
        for (arrived, sent) in arrived.iter().zip(&sent) {
            prop_assert_eq!(*arrived, sent);
        }
        // Nothing beyond the listed names is claimed: the sender may know nodes there.
        let (low, high) = (sent[0].name.order_hash(), sent[sent.len() - 1].name.order_hash());
        for page in &decoded.ranges.pages {
            prop_assert!(page.range.first_hash() > low && page.range.last_hash() < high);
            for entry in &sent {
                if page.range.contains(&entry.name) {
                    prop_assert!(page.entries.contains(entry), "{:?} left out of {:?}", entry.name, page.range);
                }
            }
        }
    }

    /// Decoding an encoding gives the packet back, and `encoded_len` is the encoding's size.
    #[test]
    fn round_trip_is_identity_with_exact_length(packet in packet()) {
        let bytes = packet.encode();
        prop_assert_eq!(bytes.len(), packet.encoded_len());
        prop_assert_eq!(Packet::decode(&bytes), Ok(packet));
    }

    /// The encoding is header, kind byte, then exactly `Message::body_len` bytes of body.
    #[test]
    fn body_len_is_what_follows_the_kind_byte(packet in packet()) {
        let bytes = packet.encode();
        let header_len = packet.header.encoded_len();
        prop_assert_eq!(bytes[header_len], packet.message.kind() as u8);
        prop_assert_eq!(bytes.len(), header_len + 1 + packet.message.body_len());
    }

    /// `Digest::encoded_len`/`empty_len` and `DigestEntry::encoded_len` are the bytes they
    /// take, and one more entry (in a digest or in a SynAck's requests) adds exactly its size.
    #[test]
    fn digest_sizes_are_exact(
        header in header(),
        digest in digest(),
        requests in synack(SMALL_VALUE),
        entry in digest_entry(),
    ) {
        let claims = |digest: &Digest| RangeClaims {
            summaries: Vec::new(),
            pages: vec![digest.clone()],
        };
        let syn = |digest: &Digest| Message::Syn(Syn {
            ranges: claims(digest),
            news: Vec::new(),
            rumors: Vec::new(),
        });
        // Header, kind, the two claim counts, the page, then the news and rumour counts.
        let base = header.encoded_len() + 1 + RangeClaims::EMPTY_LEN + 2 * COUNT_LEN;
        prop_assert_eq!(encoded_len_of(&header, syn(&digest)), base + digest.encoded_len());
        let with_news = Message::Syn(Syn {
            ranges: claims(&digest),
            news: vec![entry.clone()],
            rumors: Vec::new(),
        });
        prop_assert_eq!(
            encoded_len_of(&header, with_news),
            base + digest.encoded_len() + entry.encoded_len()
        );

        let empty = Digest { entries: Vec::new(), ..digest.clone() };
        prop_assert_eq!(
            encoded_len_of(&header, syn(&empty)),
            base + Digest::empty_len(&digest.range)
        );

        let mut longer = digest.clone();
        longer.entries.push(entry.clone());
        prop_assert_eq!(
            encoded_len_of(&header, syn(&longer)),
            encoded_len_of(&header, syn(&digest)) + entry.encoded_len()
        );

        let mut more_requests = requests.clone();
        more_requests.requests.push(entry.clone());
        prop_assert_eq!(
            encoded_len_of(&header, Message::SynAck(more_requests)),
            encoded_len_of(&header, Message::SynAck(requests)) + entry.encoded_len()
        );
    }

    /// One more delta adds exactly its `encoded_len`; a delta without records takes
    /// `header_len` bytes, which `header_len_for` predicts from the header fields alone.
    #[test]
    fn delta_sizes_are_exact(
        header in header(),
        deltas in vec(node_delta(SMALL_VALUE), 0..3),
        delta in node_delta(LARGE_VALUE),
    ) {
        let ack = |deltas: Vec<NodeDelta>| Message::Ack(Ack::with_deltas(deltas));
        let without = encoded_len_of(&header, ack(deltas.clone()));

        let mut with_delta = deltas.clone();
        with_delta.push(delta.clone());
        prop_assert_eq!(encoded_len_of(&header, ack(with_delta)), without + delta.encoded_len());

        let bare = NodeDelta { records: Vec::new(), to_version: delta.from_version, complete: false, ..delta.clone() };
        let mut with_bare = deltas;
        with_bare.push(bare.clone());
        prop_assert_eq!(encoded_len_of(&header, ack(with_bare)), without + bare.header_len());
        prop_assert_eq!(
            bare.header_len(),
            NodeDelta::header_len_for(
                &delta.node,
                delta.incarnation,
                delta.gc_watermark,
                delta.from_version,
            )
        );
    }

    /// The rumour list ends every message that has one and takes `rumors_len` bytes; one
    /// more rumour adds exactly its `encoded_len`, which `Rumor::encoded_len_for` predicts
    /// from its fields and alerter count alone, and one more alerter adds 4 bytes.
    #[test]
    fn rumor_sizes_are_exact(
        header in header(),
        message in message_with_rumors(),
        rumor in rumor(),
        tag in node_tag(),
    ) {
        let listed = rumors_in(&message).to_vec();
        prop_assert_eq!(
            rumors_len(&listed),
            COUNT_LEN + listed.iter().map(Rumor::encoded_len).sum::<usize>()
        );
        let without = encoded_len_of(&header, with_rumors(&message, Vec::new()));
        let with_listed = encoded_len_of(&header, message.clone());
        prop_assert_eq!(with_listed, without + rumors_len(&listed) - COUNT_LEN);

        let mut longer = listed;
        longer.push(rumor.clone());
        let with_one_more = encoded_len_of(&header, with_rumors(&message, longer.clone()));
        prop_assert_eq!(with_one_more, with_listed + rumor.encoded_len());
        prop_assert_eq!(
            rumor.encoded_len(),
            Rumor::encoded_len_for(
                &rumor.subject,
                rumor.generation,
                rumor.incarnation,
                rumor.alerters.len(),
            )
        );

        if let Some(last) = longer.last_mut() {
            last.alerters.push(tag);
        }
        prop_assert_eq!(
            encoded_len_of(&header, with_rumors(&message, longer)),
            with_one_more + NodeTag::LEN
        );
    }

    /// One more record adds exactly its `encoded_len`, which `Record::encoded_len_for`
    /// predicts from key, version and value length alone.
    #[test]
    fn record_sizes_are_exact(
        header in header(),
        delta in node_delta(SMALL_VALUE),
        record in record(LARGE_VALUE),
    ) {
        let ack = |delta: &NodeDelta| Message::Ack(Ack::with_deltas(vec![delta.clone()]));
        // With `to_version` at the last record's, its encoding is one byte either way.
        let mut delta = delta;
        delta.to_version = delta.last_version();
        delta.complete = false;
        let mut longer = delta.clone();
        longer.records.push(record.clone());
        longer.to_version = longer.last_version();
        prop_assert_eq!(
            encoded_len_of(&header, ack(&longer)),
            encoded_len_of(&header, ack(&delta)) + record.encoded_len()
        );
        prop_assert_eq!(
            record.encoded_len(),
            Record::encoded_len_for(&record.key, record.version, record.value.as_ref().map(Bytes::len))
        );
    }

    /// Arbitrary bytes never panic the decoder; bytes it accepts are a canonical encoding.
    #[test]
    fn random_bytes_are_rejected_or_canonical(bytes in noise()) {
        assert_rejected_or_canonical(&bytes)?;
    }

    /// Flipped, inserted, deleted and truncated bytes never panic the decoder; mutated bytes
    /// it accepts are the canonical encoding of what it decoded (nothing is invented).
    #[test]
    fn mutated_encodings_are_rejected_or_canonical(
        packet in small_packet(),
        mutations in vec(mutation(), 1..4),
    ) {
        let mut bytes = packet.encode().to_vec();
        for mutation in &mutations {
            mutation.apply(&mut bytes);
        }
        assert_rejected_or_canonical(&bytes)?;
    }

    /// A single-byte flip, insertion or deletion at any position is rejected or decodes to a
    /// packet whose canonical encoding is exactly the edited bytes (every position is tried;
    /// the kind of edit, mask and inserted byte vary between cases).
    #[test]
    fn single_byte_edits_anywhere_are_rejected_or_canonical(
        packet in small_packet(),
        edit in 0..3u8,
        mask in 1..=u8::MAX,
        inserted in any::<u8>(),
    ) {
        let bytes = packet.encode().to_vec();
        for at in 0..bytes.len() {
            let mut edited = bytes.clone();
            match edit {
                0 => edited[at] ^= mask,
                1 => edited.insert(at, inserted),
                _ => {
                    edited.remove(at);
                }
            }
            assert_rejected_or_canonical(&edited)?;
        }
    }

    /// Every strict prefix of a valid encoding fails to decode: truncation is always caught.
    #[test]
    fn every_strict_prefix_is_rejected(packet in small_packet()) {
        let bytes = packet.encode();
        for len in 0..bytes.len() {
            prop_assert!(Packet::decode(&bytes[..len]).is_err(), "prefix of {} bytes decoded", len);
        }
    }

    /// A count of 65 535 with one real element behind it is rejected at the count itself,
    /// before any element is parsed or space for the claimed elements is reserved.
    #[test]
    fn forged_counts_are_rejected_before_parsing(
        header in header(),
        digest in digest(),
        entry in digest_entry(),
        delta in node_delta(LARGE_VALUE),
        record in record(LARGE_VALUE),
    ) {
        let after_kind = header.encoded_len() + 1;

        // Syn: a page's entry count follows the two claim counts and the page's range.
        let syn = packet_of(&header, Message::Syn(Syn {
            ranges: RangeClaims {
                summaries: Vec::new(),
                pages: vec![Digest { entries: vec![entry.clone()], ..digest.clone() }],
            },
            news: Vec::new(),
            rumors: Vec::new(),
        }));
        let count_at = after_kind + RangeClaims::EMPTY_LEN + Digest::empty_len(&digest.range)
            - COUNT_LEN;
        prop_assert_eq!(
            Packet::decode(&with_count(syn.encode().to_vec(), count_at, u16::MAX)),
            Err(DecodeError::Truncated { field: "digest entries" })
        );

        // SynAck: the request count follows the (empty) claims.
        let synack = packet_of(&header, Message::SynAck(SynAck {
            requests: vec![entry],
            ..Default::default()
        }));
        let requests_at = after_kind + RangeClaims::EMPTY_LEN;
        prop_assert_eq!(
            Packet::decode(&with_count(synack.encode().to_vec(), requests_at, u16::MAX)),
            Err(DecodeError::Truncated { field: "requests" })
        );

        // Ack: the delta count follows the claims and the request count.
        let ack = packet_of(&header, Message::Ack(Ack::with_deltas(vec![delta.clone()])));
        let deltas_at = after_kind + RangeClaims::EMPTY_LEN + COUNT_LEN;
        prop_assert_eq!(
            Packet::decode(&with_count(ack.encode().to_vec(), deltas_at, u16::MAX)),
            Err(DecodeError::Truncated { field: "deltas" })
        );

        // A delta's record count ends its header.
        let mut one_record = delta;
        one_record.records = vec![record];
        one_record.to_version = one_record.last_version();
        one_record.complete = false;
        // The header ends with the record count, then a one-byte `to_version` distance.
        let count_at = deltas_at + COUNT_LEN + one_record.header_len() - COUNT_LEN - 1;
        let ack = packet_of(&header, Message::Ack(Ack::with_deltas(vec![one_record])));
        prop_assert_eq!(
            Packet::decode(&with_count(ack.encode().to_vec(), count_at, u16::MAX)),
            Err(DecodeError::Truncated { field: "records" })
        );
    }

    /// The same for the rumour count of every message that has rumours (the list ends the
    /// message), and for the alerter count of its last rumour (its tags end the message).
    #[test]
    fn forged_rumor_counts_are_rejected_before_parsing(
        header in header(),
        message in message_with_rumors(),
        rumor in rumor(),
        tag in node_tag(),
    ) {
        let mut rumor = rumor;
        rumor.alerters.push(tag);
        let message = with_rumors(&message, vec![rumor.clone()]);
        let bytes = packet_of(&header, message).encode().to_vec();

        let count_at = bytes.len() - rumors_len(std::slice::from_ref(&rumor));
        prop_assert_eq!(
            Packet::decode(&with_count(bytes.clone(), count_at, u16::MAX)),
            Err(DecodeError::Truncated { field: "rumors" })
        );

        let count_at = bytes.len() - NodeTag::LEN * rumor.alerters.len() - COUNT_LEN;
        prop_assert_eq!(
            Packet::decode(&with_count(bytes, count_at, u16::MAX)),
            Err(DecodeError::Truncated { field: "rumor alerters" })
        );
    }

    /// Any count larger than the number of elements present (in the list that ends the
    /// packet) is rejected: the decoder never invents elements.
    #[test]
    fn counts_above_the_elements_present_are_rejected(
        header in header(),
        ack in ack(SMALL_VALUE),
        extra in 1..=u16::MAX,
    ) {
        // At most 3 deltas are present, so the forged count is always larger.
        let present = u16::try_from(ack.deltas.len()).unwrap_or(u16::MAX);
        let forged = present.saturating_add(extra);
        let bytes = packet_of(&header, Message::Ack(ack)).encode().to_vec();
        let bytes = with_count(bytes, header.encoded_len() + 1, forged);
        prop_assert!(Packet::decode(&bytes).is_err());
    }

    /// The same for the rumour list, which ends every message that has one.
    #[test]
    fn rumor_counts_above_the_rumors_present_are_rejected(
        header in header(),
        message in message_with_rumors(),
        extra in 1..=u16::MAX,
    ) {
        let rumors = rumors_in(&message);
        // At most 3 rumours are present, so the forged count is always larger.
        let present = u16::try_from(rumors.len()).unwrap_or(u16::MAX);
        let forged = present.saturating_add(extra);
        let count_at = header.encoded_len() + 1 + message.body_len() - rumors_len(rumors);
        let bytes = packet_of(&header, message).encode().to_vec();
        prop_assert!(Packet::decode(&with_count(bytes, count_at, forged)).is_err());
    }
}

/// The header of the annotated examples of `docs/PROTOCOL.md` §3.
fn example_header(generation: Generation) -> Result<Header, Box<dyn std::error::Error>> {
    Ok(Header {
        cluster_id: ClusterId::new("demo")?,
        sender: NodeName::new("n1")?,
        generation,
        incarnation: Incarnation(5),
    })
}

/// The annotated Ack example of `docs/PROTOCOL.md` §3 is what the codec produces.
#[test]
fn protocol_md_example_is_exact() -> Result<(), Box<dyn std::error::Error>> {
    let generation = Generation(1_700_000_000_000);
    let packet = Packet {
        header: example_header(generation)?,
        message: Message::Ack(Ack {
            deltas: vec![NodeDelta {
                node: NodeId {
                    name: NodeName::new("n1")?,
                    address: "10.0.0.1:7946".parse()?,
                    generation,
                },
                incarnation: Incarnation(5),
                status: NodeStatus::Alive,
                gc_watermark: Version(0),
                from_version: Version(299),
                records: vec![Record {
                    key: Key::new("k")?,
                    version: Version(300),
                    value: Some(Bytes::from_static(b"v")),
                }],
                to_version: Version(300),
                complete: false,
            }],
            ..Default::default()
        }),
    };
    let expected: &[u8] = &[
        0x4c, 0x47, 0x05, // magic, wire version
        0x04, b'd', b'e', b'm', b'o', // cluster id
        0x02, b'n', b'1', // sender
        0x80, 0xd0, 0x95, 0xff, 0xbc, 0x31, // generation
        0x05, // sender incarnation
        0x03, // kind Ack
        0x00, 0x00, 0x00, 0x00, // no range summaries, no pages
        0x00, 0x00, // no requests
        0x00, 0x01, // 1 delta
        0x02, b'n', b'1', // name
        0x04, 10, 0, 0, 1, 0x1f, 0x0a, // address
        0x80, 0xd0, 0x95, 0xff, 0xbc, 0x31, // generation
        0x05, 0x00, 0x00, // incarnation, status, gc watermark
        0xab, 0x02, // from version
        0x00, 0x01, // 1 record
        0x01, b'k', 0xac, 0x02, // key, version
        0x01, 0x01, b'v', // value
        0x00, // to version: the last record's
    ];
    assert_eq!(packet.encode().as_ref(), expected);
    assert_eq!(Packet::decode(expected), Ok(packet));
    Ok(())
}

/// The annotated Probe example of `docs/PROTOCOL.md` §3 is what the codec produces.
#[test]
fn protocol_md_probe_example_is_exact() -> Result<(), Box<dyn std::error::Error>> {
    let generation = Generation(1_700_000_000_000);
    let packet = Packet {
        header: example_header(generation)?,
        message: Message::Probe(Probe {
            sequence: 300,
            target: NodeTag::of(&NodeName::new("n2")?),
            rumors: vec![Rumor {
                subject: NodeName::new("n3")?,
                generation,
                incarnation: Incarnation(2),
                alerters: vec![NodeTag::of(&NodeName::new("n1")?)],
            }],
        }),
    };
    let expected: &[u8] = &[
        0x4c, 0x47, 0x05, // magic, wire version
        0x04, b'd', b'e', b'm', b'o', // cluster id
        0x02, b'n', b'1', // sender
        0x80, 0xd0, 0x95, 0xff, 0xbc, 0x31, // generation
        0x05, // sender incarnation
        0x04, // kind Probe
        0xac, 0x02, // sequence
        0x05, 0x97, 0x13, 0x10, // target: the tag of "n2"
        0x00, 0x01, // 1 rumour
        0x02, b'n', b'3', // subject
        0x80, 0xd0, 0x95, 0xff, 0xbc, 0x31, // generation
        0x02, // incarnation
        0x00, 0x01, // 1 alerter
        0xf5, 0xc0, 0x85, 0x57, // the tag of "n1"
    ];
    assert_eq!(packet.encode().as_ref(), expected);
    assert_eq!(Packet::decode(expected), Ok(packet));
    Ok(())
}

/// A string longer than `MAX_NAME_LEN` bytes is rejected, though its length byte could say
/// up to 255 (every such length is tried).
#[test]
fn overlong_strings_are_rejected() {
    for len in MAX_NAME_LEN + 1..=usize::from(u8::MAX) {
        let mut bytes = MAGIC.to_vec();
        bytes.push(WIRE_VERSION);
        bytes.push(u8::try_from(len).unwrap_or(u8::MAX));
        bytes.extend(std::iter::repeat_n(b'c', len));
        assert_eq!(
            Packet::decode(&bytes),
            Err(DecodeError::InvalidString {
                field: "cluster id",
                reason: InvalidName::TooLong(len),
            })
        );
    }
}
