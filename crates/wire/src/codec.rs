//! Exact-size encoding and untrusting decoding. Layout: `docs/PROTOCOL.md`.
//!
//! Integers are unsigned LEB128 varints except counts (`u16`, big-endian, so a builder knows
//! a count's size before it knows the count) and one-byte tags. Strings are a one-byte length
//! and UTF-8. Every `encoded_len` is exact: `x.encoded_len() == encoded bytes of x`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, InvalidName};
use crate::identity::{ClusterId, Generation, Incarnation, Key, NodeId, NodeName, Version};
use crate::message::{
    Ack, Digest, DigestEntry, Header, Message, MessageKind, NodeDelta, NodeStatus, NodeTag, Packet,
    Probe, ProbeAck, ProbeRequest, Record, Rumor, Syn, SynAck, address_len,
};
use crate::ranges::{Fingerprint, NameRange, RangeClaims, RangeSummary};
use crate::version::WireVersion;

mod v4;

/// First two bytes of every packet: ASCII "LG".
pub const MAGIC: [u8; 2] = *b"LG";
/// Wire format version this build sends unless a peer needs an older one
/// ([`WireVersion::CURRENT`]).
pub const WIRE_VERSION: u8 = WireVersion::CURRENT.byte();
/// Encoded size of every element count (`u16`).
pub const COUNT_LEN: usize = 2;

/// Encoded size of a string field (length byte + bytes).
pub fn string_len(value: &str) -> usize {
    1 + value.len()
}

fn varint_len(mut value: u64) -> usize {
    let mut len = 1;
    while value >= 0x80 {
        value >>= 7;
        len += 1;
    }
    len
}

impl Packet {
    /// Exact number of bytes [`Packet::encode`] produces.
    pub fn encoded_len(&self) -> usize {
        self.encoded_len_as(WireVersion::CURRENT)
    }

    /// Exact number of bytes [`Packet::encode_as`] produces for `version`.
    pub fn encoded_len_as(&self, version: WireVersion) -> usize {
        let body = match version {
            WireVersion::V4 => v4::body_len(&self.header, &self.message),
            WireVersion::V5 => self.message.body_len(),
        };
        self.header.encoded_len() + 1 + body
    }

    /// Encodes the packet in the current wire version. Lists longer than 65 535 elements
    /// cannot be represented; packets within the 65 507-byte UDP limit never hold that
    /// many, since every element takes at least 4 bytes.
    pub fn encode(&self) -> Bytes {
        self.encode_as(WireVersion::CURRENT)
    }

    /// Encodes the packet in `version`, for a peer that speaks no newer one. What the older
    /// version cannot say is left out, as [`WireVersion`] documents.
    pub fn encode_as(&self, version: WireVersion) -> Bytes {
        let mut buf = BytesMut::with_capacity(self.encoded_len_as(version));
        self.encode_into_as(&mut buf, version);
        buf.freeze()
    }

    /// Appends the packet, in the current wire version, to `buf`.
    pub fn encode_into(&self, buf: &mut BytesMut) {
        self.encode_into_as(buf, WireVersion::CURRENT);
    }

    /// Appends the packet, in `version`, to `buf`.
    pub fn encode_into_as(&self, buf: &mut BytesMut, version: WireVersion) {
        self.header.encode(buf, version);
        buf.put_u8(self.message.kind() as u8);
        if version == WireVersion::V4 && v4::encode_body(&self.header, &self.message, buf) {
            return;
        }
        match &self.message {
            Message::Syn(syn) => {
                syn.ranges.encode(buf);
                put_entries(buf, &syn.news);
                put_rumors(buf, &syn.rumors);
            }
            Message::SynAck(synack) => {
                synack.ranges.encode(buf);
                put_entries(buf, &synack.requests);
                put_deltas(buf, &synack.deltas);
            }
            Message::Ack(ack) => {
                ack.ranges.encode(buf);
                put_entries(buf, &ack.requests);
                put_deltas(buf, &ack.deltas);
            }
            Message::Probe(probe) => {
                put_varint(buf, probe.sequence);
                buf.put_u32(probe.target.0);
                put_rumors(buf, &probe.rumors);
            }
            Message::ProbeAck(ack) => {
                put_varint(buf, ack.sequence);
                buf.put_u8(u8::from(ack.reached));
                put_rumors(buf, &ack.rumors);
            }
            Message::ProbeRequest(request) => {
                put_varint(buf, request.sequence);
                put_node_id(buf, &request.target);
                put_rumors(buf, &request.rumors);
            }
        }
    }

    /// Decodes one packet of any version this build speaks; the whole input must be
    /// consumed. An older version's packet comes out as the current version says the same.
    pub fn decode(bytes: &[u8]) -> Result<Packet, DecodeError> {
        Packet::decode_versioned(bytes).map(|(packet, _)| packet)
    }

    /// Decodes one packet as [`Packet::decode`] does, and says which version it was in
    /// (the version to answer it in).
    pub fn decode_versioned(bytes: &[u8]) -> Result<(Packet, WireVersion), DecodeError> {
        let mut reader = Reader { rest: bytes };
        let (header, version) = Header::decode(&mut reader)?;
        let kind = reader.u8("message kind")?;
        let message = match v4::decode_body(version, kind, &mut reader)? {
            Some(message) => message,
            None => decode_body(kind, &mut reader)?,
        };
        if !reader.rest.is_empty() {
            return Err(DecodeError::TrailingBytes(reader.rest.len()));
        }
        Ok((Packet { header, message }, version))
    }
}

/// The body of a message of `kind` in the current version (and of the kinds version 4
/// encodes alike).
fn decode_body(kind: u8, reader: &mut Reader<'_>) -> Result<Message, DecodeError> {
    Ok(match kind {
        k if k == MessageKind::Syn as u8 => Message::Syn(Syn {
            ranges: RangeClaims::decode(reader)?,
            news: reader.list("news", DigestEntry::MIN_LEN, DigestEntry::decode)?,
            rumors: reader.rumors()?,
        }),
        k if k == MessageKind::SynAck as u8 => Message::SynAck(SynAck {
            ranges: RangeClaims::decode(reader)?,
            requests: reader.list("requests", DigestEntry::MIN_LEN, DigestEntry::decode)?,
            deltas: reader.list("deltas", NodeDelta::MIN_LEN, NodeDelta::decode)?,
        }),
        k if k == MessageKind::Ack as u8 => Message::Ack(Ack {
            ranges: RangeClaims::decode(reader)?,
            requests: reader.list("requests", DigestEntry::MIN_LEN, DigestEntry::decode)?,
            deltas: reader.list("deltas", NodeDelta::MIN_LEN, NodeDelta::decode)?,
        }),
        k if k == MessageKind::Probe as u8 => Message::Probe(Probe {
            sequence: reader.varint("probe sequence")?,
            target: NodeTag(u32::from_be_bytes(reader.array::<4>("probe target")?)),
            rumors: reader.rumors()?,
        }),
        k if k == MessageKind::ProbeAck as u8 => Message::ProbeAck(ProbeAck {
            sequence: reader.varint("probe ack sequence")?,
            reached: match reader.u8("probe ack reached")? {
                0 => false,
                1 => true,
                value => {
                    return Err(DecodeError::InvalidTag {
                        field: "probe ack reached",
                        value,
                    });
                }
            },
            rumors: reader.rumors()?,
        }),
        k if k == MessageKind::ProbeRequest as u8 => Message::ProbeRequest(ProbeRequest {
            sequence: reader.varint("probe request sequence")?,
            target: reader.node_id("probe request target")?,
            rumors: reader.rumors()?,
        }),
        other => return Err(DecodeError::UnknownMessageKind(other)),
    })
}

impl Header {
    /// Exact encoded size, including magic and wire version.
    pub fn encoded_len(&self) -> usize {
        MAGIC.len()
            + 1
            + string_len(self.cluster_id.as_str())
            + string_len(self.sender.as_str())
            + varint_len(self.generation.0)
            + varint_len(self.incarnation.0)
    }

    fn encode(&self, buf: &mut BytesMut, version: WireVersion) {
        buf.put_slice(&MAGIC);
        buf.put_u8(version.byte());
        put_string(buf, self.cluster_id.as_str());
        put_string(buf, self.sender.as_str());
        put_varint(buf, self.generation.0);
        put_varint(buf, self.incarnation.0);
    }

    fn decode(reader: &mut Reader<'_>) -> Result<(Header, WireVersion), DecodeError> {
        if reader.bytes(MAGIC.len(), "magic")? != MAGIC {
            return Err(DecodeError::BadMagic);
        }
        let byte = reader.u8("wire version")?;
        let version = WireVersion::from_byte(byte).ok_or(DecodeError::UnsupportedVersion(byte))?;
        let header = Header {
            cluster_id: reader.string("cluster id", |s| ClusterId::new(s))?,
            sender: reader.string("sender", |s| NodeName::new(s))?,
            generation: Generation(reader.varint("sender generation")?),
            incarnation: Incarnation(reader.varint("sender incarnation")?),
        };
        Ok((header, version))
    }
}

impl Message {
    /// Encoded size of the message body (everything after the kind byte).
    pub fn body_len(&self) -> usize {
        match self {
            Message::Syn(syn) => {
                syn.ranges.encoded_len() + entries_len(&syn.news) + rumors_len(&syn.rumors)
            }
            Message::SynAck(synack) => {
                synack.ranges.encoded_len()
                    + entries_len(&synack.requests)
                    + deltas_len(&synack.deltas)
            }
            Message::Ack(ack) => {
                ack.ranges.encoded_len() + entries_len(&ack.requests) + deltas_len(&ack.deltas)
            }
            Message::Probe(probe) => {
                varint_len(probe.sequence) + NodeTag::LEN + rumors_len(&probe.rumors)
            }
            Message::ProbeAck(ack) => varint_len(ack.sequence) + 1 + rumors_len(&ack.rumors),
            Message::ProbeRequest(request) => {
                varint_len(request.sequence)
                    + node_id_len(&request.target)
                    + rumors_len(&request.rumors)
            }
        }
    }
}

impl Rumor {
    /// Smallest possible encoded rumour.
    const MIN_LEN: usize = 2 + 1 + 1 + COUNT_LEN;

    /// Encoded size of a rumour about `subject` at this incarnation with `alerters`
    /// alerters, for builders that size a rumour before making it.
    pub fn encoded_len_for(
        subject: &NodeName,
        generation: Generation,
        incarnation: Incarnation,
        alerters: usize,
    ) -> usize {
        string_len(subject.as_str())
            + varint_len(generation.0)
            + varint_len(incarnation.0)
            + COUNT_LEN
            + NodeTag::LEN * alerters
    }

    /// Exact encoded size.
    pub fn encoded_len(&self) -> usize {
        Self::encoded_len_for(
            &self.subject,
            self.generation,
            self.incarnation,
            self.alerters.len(),
        )
    }

    fn encode(&self, buf: &mut BytesMut) {
        put_string(buf, self.subject.as_str());
        put_varint(buf, self.generation.0);
        put_varint(buf, self.incarnation.0);
        put_count(buf, self.alerters.len());
        for alerter in &self.alerters {
            buf.put_u32(alerter.0);
        }
    }

    fn decode(reader: &mut Reader<'_>) -> Result<Rumor, DecodeError> {
        Ok(Rumor {
            subject: reader.string("rumor subject", |s| NodeName::new(s))?,
            generation: Generation(reader.varint("rumor generation")?),
            incarnation: Incarnation(reader.varint("rumor incarnation")?),
            alerters: reader.list("rumor alerters", NodeTag::LEN, |reader| {
                Ok(NodeTag(u32::from_be_bytes(
                    reader.array::<4>("rumor alerter")?,
                )))
            })?,
        })
    }
}

impl NodeTag {
    /// Encoded size of a tag.
    pub const LEN: usize = 4;
}

/// Encoded size of a list of rumours, count included.
pub fn rumors_len(rumors: &[Rumor]) -> usize {
    COUNT_LEN + rumors.iter().map(Rumor::encoded_len).sum::<usize>()
}

fn put_rumors(buf: &mut BytesMut, rumors: &[Rumor]) {
    put_count(buf, rumors.len());
    for rumor in rumors {
        rumor.encode(buf);
    }
}

fn node_id_len(node: &NodeId) -> usize {
    string_len(node.name.as_str()) + address_len(&node.address) + varint_len(node.generation.0)
}

fn put_node_id(buf: &mut BytesMut, node: &NodeId) {
    put_string(buf, node.name.as_str());
    put_address(buf, &node.address);
    put_varint(buf, node.generation.0);
}

impl NameRange {
    /// Encoded size: a length byte and the prefix as a varint.
    pub fn encoded_len(&self) -> usize {
        1 + varint_len(self.prefix())
    }

    fn encode(&self, buf: &mut BytesMut) {
        buf.put_u8(self.bits());
        put_varint(buf, self.prefix());
    }

    fn decode(reader: &mut Reader<'_>) -> Result<NameRange, DecodeError> {
        let bits = reader.u8("range bits")?;
        let prefix = reader.varint("range prefix")?;
        NameRange::new(bits, prefix).ok_or(DecodeError::InvalidTag {
            field: "range bits",
            value: bits,
        })
    }
}

impl RangeSummary {
    /// Smallest possible encoded summary.
    const MIN_LEN: usize = 2 + 1 + 8;

    /// Exact encoded size: the range, the count as a varint, the sum in 8 bytes.
    pub fn encoded_len(&self) -> usize {
        self.range.encoded_len() + varint_len(self.fingerprint.count) + 8
    }

    fn encode(&self, buf: &mut BytesMut) {
        self.range.encode(buf);
        put_varint(buf, self.fingerprint.count);
        buf.put_u64(self.fingerprint.sum);
    }

    fn decode(reader: &mut Reader<'_>) -> Result<RangeSummary, DecodeError> {
        Ok(RangeSummary {
            range: NameRange::decode(reader)?,
            fingerprint: Fingerprint {
                count: reader.varint("range count")?,
                sum: u64::from_be_bytes(reader.array::<8>("range fingerprint")?),
            },
        })
    }
}

impl RangeClaims {
    /// Encoded size of claims holding nothing: two counts.
    pub const EMPTY_LEN: usize = 2 * COUNT_LEN;

    /// Exact encoded size.
    pub fn encoded_len(&self) -> usize {
        Self::EMPTY_LEN
            + self
                .summaries
                .iter()
                .map(RangeSummary::encoded_len)
                .sum::<usize>()
            + self.pages.iter().map(Digest::encoded_len).sum::<usize>()
    }

    fn encode(&self, buf: &mut BytesMut) {
        put_count(buf, self.summaries.len());
        for summary in &self.summaries {
            summary.encode(buf);
        }
        put_count(buf, self.pages.len());
        for page in &self.pages {
            page.encode(buf);
        }
    }

    fn decode(reader: &mut Reader<'_>) -> Result<RangeClaims, DecodeError> {
        Ok(RangeClaims {
            summaries: reader.list(
                "range summaries",
                RangeSummary::MIN_LEN,
                RangeSummary::decode,
            )?,
            pages: reader.list("digest pages", Digest::MIN_LEN, Digest::decode)?,
        })
    }
}

impl Digest {
    /// Smallest possible encoded page.
    const MIN_LEN: usize = 2 + COUNT_LEN;

    /// Encoded size of a page of `range` with no entries.
    pub fn empty_len(range: &NameRange) -> usize {
        range.encoded_len() + COUNT_LEN
    }

    /// Exact encoded size.
    pub fn encoded_len(&self) -> usize {
        Self::empty_len(&self.range)
            + self
                .entries
                .iter()
                .map(DigestEntry::encoded_len)
                .sum::<usize>()
    }

    fn encode(&self, buf: &mut BytesMut) {
        self.range.encode(buf);
        put_entries(buf, &self.entries);
    }

    fn decode(reader: &mut Reader<'_>) -> Result<Digest, DecodeError> {
        Ok(Digest {
            range: NameRange::decode(reader)?,
            entries: reader.list("digest entries", DigestEntry::MIN_LEN, DigestEntry::decode)?,
        })
    }
}

fn put_entries(buf: &mut BytesMut, entries: &[DigestEntry]) {
    put_count(buf, entries.len());
    for entry in entries {
        entry.encode(buf);
    }
}

impl DigestEntry {
    /// Smallest possible encoded entry.
    pub const MIN_LEN: usize = 2 + 4 + 1;

    /// Exact encoded size.
    pub fn encoded_len(&self) -> usize {
        string_len(self.name.as_str())
            + varint_len(self.generation.0)
            + varint_len(self.incarnation.0)
            + varint_len(self.max_version.0)
            + varint_len(self.gc_watermark.0)
            + 1
    }

    fn encode(&self, buf: &mut BytesMut) {
        put_string(buf, self.name.as_str());
        put_varint(buf, self.generation.0);
        put_varint(buf, self.incarnation.0);
        put_varint(buf, self.max_version.0);
        put_varint(buf, self.gc_watermark.0);
        buf.put_u8(self.status as u8);
    }

    fn decode(reader: &mut Reader<'_>) -> Result<DigestEntry, DecodeError> {
        Ok(DigestEntry {
            name: reader.string("digest entry name", |s| NodeName::new(s))?,
            generation: Generation(reader.varint("digest entry generation")?),
            incarnation: Incarnation(reader.varint("digest entry incarnation")?),
            max_version: Version(reader.varint("digest entry max version")?),
            gc_watermark: Version(reader.varint("digest entry gc watermark")?),
            status: reader.status("digest entry status")?,
        })
    }
}

impl NodeDelta {
    /// Smallest possible encoded delta.
    const MIN_LEN: usize = 2 + 7 + 1 + 1 + 1 + 1 + 1 + COUNT_LEN + 1;

    /// Encoded size of this delta's header (everything but the records).
    pub fn header_len(&self) -> usize {
        Self::header_len_for(
            &self.node,
            self.incarnation,
            self.gc_watermark,
            self.from_version,
        ) - 1
            + varint_len(self.to_version_offset())
    }

    /// Encoded after the records: 0 for an incomplete delta (its `to_version` is its last
    /// version), else 1 + the distance of `to_version` above [`NodeDelta::last_version`].
    /// One byte in the usual case.
    fn to_version_offset(&self) -> u64 {
        if self.complete {
            self.to_version
                .0
                .saturating_sub(self.last_version().0)
                .saturating_add(1)
        } else {
            0
        }
    }

    /// Encoded size of a delta header with these fields and `to_version` equal to its last
    /// record's version, for builders that size a delta before making it (a larger
    /// `to_version` adds the bytes of its varint distance minus one; see
    /// [`NodeDelta::header_len`]).
    pub fn header_len_for(
        node: &NodeId,
        incarnation: Incarnation,
        gc_watermark: Version,
        from_version: Version,
    ) -> usize {
        string_len(node.name.as_str())
            + address_len(&node.address)
            + varint_len(node.generation.0)
            + varint_len(incarnation.0)
            + 1
            + varint_len(gc_watermark.0)
            + varint_len(from_version.0)
            + COUNT_LEN
            + 1
    }

    /// Exact encoded size.
    pub fn encoded_len(&self) -> usize {
        self.header_len() + self.records.iter().map(Record::encoded_len).sum::<usize>()
    }

    fn encode(&self, buf: &mut BytesMut) {
        put_string(buf, self.node.name.as_str());
        put_address(buf, &self.node.address);
        put_varint(buf, self.node.generation.0);
        put_varint(buf, self.incarnation.0);
        buf.put_u8(self.status as u8);
        put_varint(buf, self.gc_watermark.0);
        put_varint(buf, self.from_version.0);
        put_count(buf, self.records.len());
        for record in &self.records {
            record.encode(buf);
        }
        put_varint(buf, self.to_version_offset());
    }

    fn decode(reader: &mut Reader<'_>) -> Result<NodeDelta, DecodeError> {
        let name = reader.string("delta node name", |s| NodeName::new(s))?;
        let address = reader.address()?;
        let generation = Generation(reader.varint("delta generation")?);
        let mut delta = NodeDelta {
            node: NodeId {
                name,
                address,
                generation,
            },
            incarnation: Incarnation(reader.varint("delta incarnation")?),
            status: reader.status("delta status")?,
            gc_watermark: Version(reader.varint("delta gc watermark")?),
            from_version: Version(reader.varint("delta from version")?),
            records: reader.list("records", Record::MIN_LEN, Record::decode)?,
            to_version: Version(0),
            complete: false,
        };
        let tail = reader.varint("delta to version")?;
        delta.complete = tail > 0;
        delta.to_version = delta
            .last_version()
            .0
            .checked_add(tail.saturating_sub(1))
            .map(Version)
            .ok_or(DecodeError::BadVarint {
                field: "delta to version",
            })?;
        Ok(delta)
    }
}

impl Record {
    /// Smallest possible encoded record.
    const MIN_LEN: usize = 2 + 1 + 1;

    /// Encoded size of a record with this key, version and value length (`None`: tombstone).
    pub fn encoded_len_for(key: &Key, version: Version, value_len: Option<usize>) -> usize {
        string_len(key.as_str())
            + varint_len(version.0)
            + 1
            + value_len.map_or(0, |len| varint_len(len as u64) + len)
    }

    /// Exact encoded size.
    pub fn encoded_len(&self) -> usize {
        Self::encoded_len_for(&self.key, self.version, self.value.as_ref().map(Bytes::len))
    }

    fn encode(&self, buf: &mut BytesMut) {
        put_string(buf, self.key.as_str());
        put_varint(buf, self.version.0);
        match &self.value {
            None => buf.put_u8(0),
            Some(value) => {
                buf.put_u8(1);
                put_varint(buf, value.len() as u64);
                buf.put_slice(value);
            }
        }
    }

    fn decode(reader: &mut Reader<'_>) -> Result<Record, DecodeError> {
        let key = reader.string("record key", |s| Key::new(s))?;
        let version = Version(reader.varint("record version")?);
        let value = match reader.u8("record value tag")? {
            0 => None,
            1 => {
                let len = reader.varint("record value length")?;
                let len = usize::try_from(len).map_err(|_| DecodeError::Truncated {
                    field: "record value",
                })?;
                Some(Bytes::copy_from_slice(reader.bytes(len, "record value")?))
            }
            value => {
                return Err(DecodeError::InvalidTag {
                    field: "record value tag",
                    value,
                });
            }
        };
        Ok(Record {
            key,
            version,
            value,
        })
    }
}

/// Encoded size of a list of digest entries, count included.
pub fn entries_len(entries: &[DigestEntry]) -> usize {
    COUNT_LEN + entries.iter().map(DigestEntry::encoded_len).sum::<usize>()
}

fn deltas_len(deltas: &[NodeDelta]) -> usize {
    COUNT_LEN + deltas.iter().map(NodeDelta::encoded_len).sum::<usize>()
}

fn put_deltas(buf: &mut BytesMut, deltas: &[NodeDelta]) {
    put_count(buf, deltas.len());
    for delta in deltas {
        delta.encode(buf);
    }
}

fn put_count(buf: &mut BytesMut, count: usize) {
    // Counts are bounded by the packet size (≤ 65 507 bytes, every element ≥ 4 bytes); the
    // saturation only guards a caller that ignores the packet budget.
    buf.put_u16(u16::try_from(count).unwrap_or(u16::MAX));
}

fn put_varint(buf: &mut BytesMut, mut value: u64) {
    while value >= 0x80 {
        buf.put_u8((value as u8) | 0x80);
        value >>= 7;
    }
    buf.put_u8(value as u8);
}

fn put_string(buf: &mut BytesMut, value: &str) {
    // Validated types guarantee ≤ 255 bytes.
    buf.put_u8(u8::try_from(value.len()).unwrap_or(u8::MAX));
    buf.put_slice(value.as_bytes());
}

fn put_address(buf: &mut BytesMut, address: &SocketAddr) {
    match address.ip() {
        IpAddr::V4(ip) => {
            buf.put_u8(4);
            buf.put_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            buf.put_u8(6);
            buf.put_slice(&ip.octets());
        }
    }
    buf.put_u16(address.port());
}

/// A cursor over untrusted bytes: every read checks the length first.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn bytes(&mut self, len: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        if len > self.rest.len() {
            return Err(DecodeError::Truncated { field });
        }
        let (head, tail) = self.rest.split_at(len);
        self.rest = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let bytes = self.bytes(N, field)?;
        let mut array = [0; N];
        array.copy_from_slice(bytes);
        Ok(array)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        let [byte] = self.array::<1>(field)?;
        Ok(byte)
    }

    fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array::<2>(field)?))
    }

    fn varint(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        let mut value: u64 = 0;
        for index in 0..10 {
            let byte = self.u8(field)?;
            let low = u64::from(byte & 0x7f);
            let shift = 7 * index;
            // The tenth byte may only hold the 64th bit.
            if index == 9 && low > 1 {
                return Err(DecodeError::BadVarint { field });
            }
            value |= low << shift;
            if byte & 0x80 == 0 {
                // Reject non-minimal encodings so every value has exactly one encoding
                // (keeps `encoded_len` exact for re-encoded packets).
                if byte == 0 && index > 0 {
                    return Err(DecodeError::BadVarint { field });
                }
                return Ok(value);
            }
        }
        Err(DecodeError::BadVarint { field })
    }

    fn string<T>(
        &mut self,
        field: &'static str,
        make: impl FnOnce(&str) -> Result<T, InvalidName>,
    ) -> Result<T, DecodeError> {
        let len = usize::from(self.u8(field)?);
        let bytes = self.bytes(len, field)?;
        let text = std::str::from_utf8(bytes).map_err(|_| DecodeError::InvalidString {
            field,
            reason: InvalidName::NotUtf8,
        })?;
        make(text).map_err(|reason| DecodeError::InvalidString { field, reason })
    }

    fn status(&mut self, field: &'static str) -> Result<NodeStatus, DecodeError> {
        match self.u8(field)? {
            0 => Ok(NodeStatus::Alive),
            1 => Ok(NodeStatus::Left),
            value => Err(DecodeError::InvalidTag { field, value }),
        }
    }

    fn address(&mut self) -> Result<SocketAddr, DecodeError> {
        let ip = match self.u8("address family")? {
            4 => IpAddr::V4(Ipv4Addr::from(self.array::<4>("ipv4 address")?)),
            6 => IpAddr::V6(Ipv6Addr::from(self.array::<16>("ipv6 address")?)),
            value => {
                return Err(DecodeError::InvalidTag {
                    field: "address family",
                    value,
                });
            }
        };
        Ok(SocketAddr::new(ip, self.u16("port")?))
    }

    fn rumors(&mut self) -> Result<Vec<Rumor>, DecodeError> {
        self.list("rumors", Rumor::MIN_LEN, Rumor::decode)
    }

    fn node_id(&mut self, field: &'static str) -> Result<NodeId, DecodeError> {
        Ok(NodeId {
            name: self.string(field, |s| NodeName::new(s))?,
            address: self.address()?,
            generation: Generation(self.varint(field)?),
        })
    }

    /// Reads a `u16` count and that many elements. A count the remaining bytes cannot hold
    /// is refused before anything is allocated, and the vector grows only as elements parse.
    fn list<T>(
        &mut self,
        field: &'static str,
        min_len: usize,
        mut decode: impl FnMut(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        let count = usize::from(self.u16(field)?);
        if count.saturating_mul(min_len) > self.rest.len() {
            return Err(DecodeError::Truncated { field });
        }
        // Reserve little up front: an element in memory is larger than its minimum
        // encoding, and the count is the sender's claim.
        let mut items = Vec::with_capacity(count.min(64));
        for _ in 0..count {
            items.push(decode(self)?);
        }
        Ok(items)
    }
}

#[cfg(test)]
mod tests;
