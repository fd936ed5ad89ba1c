//! Shared pieces of the fuzz targets: the fixed identity and configuration of the fuzzed
//! node, valid packet templates (also the seed corpora), and `arbitrary`-driven packet
//! builders that give the core well-formed, deep-reaching messages.
//!
//! Saved inputs of the `node` target must keep their meaning: never reorder or change
//! [`templates`], [`FPacket`] or the operation codes; add new ones beside them
//! ([`fd_templates`], [`FProbePacket`], codes 10 to 12).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use arbitrary::Arbitrary;
use bytes::Bytes;
use leviathan_gossip_core::NodeConfig;
use leviathan_gossip_keyring::{Keyring, SecretKey};
use leviathan_gossip_wire::{
    Ack, ClusterId, Digest, DigestEntry, Fingerprint, Generation, Header, Incarnation, Key,
    Message, NameRange, NodeDelta, NodeId, NodeName, NodeStatus, NodeTag, Packet, Probe, ProbeAck,
    ProbeRequest, RangeClaims, RangeSummary, Record, Rumor, Syn, SynAck, Version,
};

/// Name of the fuzzed node.
pub const OWN_NAME: &str = "self";
/// Generation of the fuzzed node.
pub const OWN_GENERATION: u64 = 5;
/// Number of distinct peer addresses.
pub const PEER_ADDRS: u8 = 4;

/// The fuzzed node's address.
pub fn own_addr() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 7000)
}

/// Peer address `i % PEER_ADDRS` (never the own address).
pub fn peer_addr(i: u8) -> SocketAddr {
    SocketAddr::new(
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2 + i % PEER_ADDRS)),
        7000,
    )
}

/// The fuzzed node's identity.
pub fn own_identity() -> NodeId {
    NodeId {
        name: name(OWN_NAME),
        address: own_addr(),
        generation: Generation(OWN_GENERATION),
    }
}

/// Default configuration with small limits.
pub fn config() -> NodeConfig {
    NodeConfig {
        max_nodes: 64,
        max_keys_per_node: 64,
        ..NodeConfig::default()
    }
}

/// A valid name (panics on an invalid literal: used with constants only).
pub fn name(text: &str) -> NodeName {
    NodeName::new(text).unwrap_or_else(|_| unreachable!("valid literal name"))
}

/// Pool name `n<i % 96>`.
pub fn pool_name(i: u8) -> NodeName {
    name(&format!("n{}", i % 96))
}

/// Pool key `k<i % 16>`.
pub fn pool_key(i: u8) -> Key {
    Key::new(format!("k{}", i % 16)).unwrap_or_else(|_| unreachable!("valid key"))
}

fn header(sender: &str, generation: u64, incarnation: u64) -> Header {
    Header {
        cluster_id: config().cluster_id,
        sender: name(sender),
        generation: Generation(generation),
        incarnation: Incarnation(incarnation),
    }
}

fn entry(n: &str, generation: u64, hb: u64, max: u64, gc: u64, status: NodeStatus) -> DigestEntry {
    DigestEntry {
        name: name(n),
        generation: Generation(generation),
        incarnation: Incarnation(hb),
        max_version: Version(max),
        gc_watermark: Version(gc),
        status,
    }
}

fn record(key: &str, version: u64, value: Option<&[u8]>) -> Record {
    Record {
        key: Key::new(key).unwrap_or_else(|_| unreachable!("valid key")),
        version: Version(version),
        value: value.map(Bytes::copy_from_slice),
    }
}

fn delta(n: &str, addr: u8, generation: u64, records: Vec<Record>, complete: bool) -> NodeDelta {
    let to = records.last().map_or(0, |r| r.version.0);
    NodeDelta {
        node: NodeId {
            name: name(n),
            address: peer_addr(addr),
            generation: Generation(generation),
        },
        incarnation: Incarnation(3),
        status: NodeStatus::Alive,
        gc_watermark: Version(0),
        from_version: Version(0),
        records,
        to_version: Version(to),
        complete,
    }
}

/// Valid packets from peers, as a real cluster would send them to the fuzzed node.
pub fn templates() -> Vec<Packet> {
    let alive = NodeStatus::Alive;
    // A page holds its entries in name order (by hash, then bytes) and covers them: here
    // the page of the whole order.
    let mut page = vec![
        entry("n2", 9, 10, 4, 0, alive),
        entry("n3", 2, 1, 1, 0, NodeStatus::Left),
        entry(OWN_NAME, OWN_GENERATION, 1, 9, 0, alive),
    ];
    page.sort_by(|a, b| a.name.cmp(&b.name));
    vec![
        // A peer's first Syn: its own entry, and it has never heard of us.
        Packet {
            header: header("n1", 7, 2),
            message: Message::Syn(Syn {
                ranges: RangeClaims {
                    summaries: vec![RangeSummary {
                        range: NameRange::ALL,
                        fingerprint: Fingerprint { count: 1, sum: 7 },
                    }],
                    pages: vec![],
                },
                news: vec![entry("n1", 7, 2, 3, 0, alive)],
                rumors: vec![],
            }),
        },
        // An Ack with a page that claims to know more of us than we wrote (re-assertion
        // path), and the children of a range.
        Packet {
            header: header("n2", 9, 10),
            message: Message::Ack(Ack {
                ranges: RangeClaims {
                    summaries: NameRange::ALL
                        .children()
                        .map(|range| RangeSummary {
                            range,
                            fingerprint: Fingerprint { count: 2, sum: 1 },
                        })
                        .collect(),
                    pages: vec![Digest::full(page)],
                },
                requests: vec![entry("n1", 7, 2, 3, 0, alive)],
                deltas: vec![],
            }),
        },
        // A SynAck: asks for our state, and sends its own.
        Packet {
            header: header("n1", 7, 4),
            message: Message::SynAck(SynAck {
                requests: vec![entry(OWN_NAME, 0, 0, 0, 0, alive)],
                deltas: vec![delta(
                    "n1",
                    0,
                    7,
                    vec![
                        record("k0", 1, Some(b"v0")),
                        record("k1", 2, None),
                        record("k2", 3, Some(b"hello")),
                    ],
                    true,
                )],
                ..Default::default()
            }),
        },
        // An Ack with two nodes, one cut short and one that left, with a GC watermark.
        Packet {
            header: header("n2", 9, 11),
            message: Message::Ack(Ack {
                deltas: vec![
                    delta(
                        "n2",
                        1,
                        9,
                        vec![record("k0", 1, Some(b"x")), record("k0", 2, Some(b"y"))],
                        false,
                    ),
                    NodeDelta {
                        status: NodeStatus::Left,
                        gc_watermark: Version(5),
                        from_version: Version(5),
                        to_version: Version(8),
                        ..delta("n3", 2, 2, vec![record("k7", 6, Some(b"z"))], true)
                    },
                ],
                ..Default::default()
            }),
        },
        // An Ack claiming state of our own incarnation (must be refused or re-asserted).
        Packet {
            header: header("n4", 1, 1),
            message: Message::Ack(Ack {
                deltas: vec![delta(
                    OWN_NAME,
                    3,
                    OWN_GENERATION,
                    vec![record("k3", 4, Some(b"forged"))],
                    true,
                )],
                ..Default::default()
            }),
        },
    ]
}

fn rumor(subject: &str, generation: u64, incarnation: u64, alerters: &[&str]) -> Rumor {
    let mut alerters: Vec<NodeTag> = alerters.iter().map(|a| NodeTag::of(&name(a))).collect();
    alerters.sort();
    alerters.dedup();
    Rumor {
        subject: name(subject),
        generation: Generation(generation),
        incarnation: Incarnation(incarnation),
        alerters,
    }
}

/// Valid failure-detection packets from the peers of [`templates`] (same names,
/// generations and addresses): the `node` target's operation `op::FD_TEMPLATE`. A list of
/// its own, so that `op::TEMPLATE` keeps indexing [`templates`] as saved inputs expect.
pub fn fd_templates() -> Vec<Packet> {
    let own = NodeTag::of(&name(OWN_NAME));
    vec![
        // An observer's probe of the fuzzed node.
        Packet {
            header: header("n1", 7, 0),
            message: Message::Probe(Probe {
                sequence: 1,
                target: own,
                rumors: vec![],
            }),
        },
        // A probe that tells the fuzzed node it is suspected (it must refute), and spreads
        // an alert about n3 and n2's refutation.
        Packet {
            header: header("n2", 9, 1),
            message: Message::Probe(Probe {
                sequence: 2,
                target: own,
                rumors: vec![
                    rumor(OWN_NAME, OWN_GENERATION, 0, &["n1", "n2"]),
                    rumor("n3", 2, 0, &["n1", "n2"]),
                    rumor("n2", 9, 1, &[]),
                ],
            }),
        },
        // A probe meant for another node (sent to an address the fuzzed node took over).
        Packet {
            header: header("n1", 7, 0),
            message: Message::Probe(Probe {
                sequence: 3,
                target: NodeTag::of(&name("n3")),
                rumors: vec![],
            }),
        },
        // A request to probe n3 on n1's behalf.
        Packet {
            header: header("n1", 7, 0),
            message: Message::ProbeRequest(ProbeRequest {
                sequence: 4,
                target: NodeId {
                    name: name("n3"),
                    address: peer_addr(2),
                    generation: Generation(2),
                },
                rumors: vec![],
            }),
        },
        // Answers: an ack, and a relay's nack with an alert about n3.
        Packet {
            header: header("n1", 7, 0),
            message: Message::ProbeAck(ProbeAck {
                sequence: 1,
                reached: true,
                rumors: vec![],
            }),
        },
        Packet {
            header: header("n2", 9, 1),
            message: Message::ProbeAck(ProbeAck {
                sequence: 2,
                reached: false,
                rumors: vec![rumor("n3", 2, 0, &["n2"])],
            }),
        },
        // A Syn whose rumours accuse the fuzzed node and n1.
        Packet {
            header: header("n2", 9, 1),
            message: Message::Syn(Syn {
                ranges: RangeClaims::default(),
                news: vec![entry("n2", 9, 1, 4, 0, NodeStatus::Alive)],
                rumors: vec![
                    rumor(OWN_NAME, OWN_GENERATION, 0, &["n2", "n3"]),
                    rumor("n1", 7, 0, &["n2"]),
                ],
            }),
        },
    ]
}

/// The cluster id the `keyring_open` target seals and opens for.
pub const SEAL_CLUSTER: &[u8] = b"fuzz-cluster";
/// Another cluster id: nothing sealed for [`SEAL_CLUSTER`] opens for it.
pub const OTHER_CLUSTER: &[u8] = b"fuzz-cluster-2";
/// The send timestamp of the `keyring_open` seeds (milliseconds since the Unix epoch).
pub const SEAL_SENT_AT: u64 = 1_700_000_000_000;

/// The fixed keyring of the `keyring_open` target: primary key A, installed key B.
pub fn keyring() -> Keyring {
    let mut keyring = Keyring::new(SecretKey::from_bytes([0xA1; 32]));
    keyring.install(SecretKey::from_bytes([0xB2; 32]));
    keyring
}

/// A keyring holding only key B (seals as B would).
pub fn keyring_b() -> Keyring {
    Keyring::new(SecretKey::from_bytes([0xB2; 32]))
}

/// A key installed nowhere.
pub fn stranger() -> Keyring {
    Keyring::new(SecretKey::from_bytes([0xC3; 32]))
}

// ----- arbitrary-driven packets -----

/// A name: mostly from a small pool, so that messages talk about the same nodes.
#[derive(Arbitrary, Debug, Clone)]
pub enum FName {
    /// `n<i % 96>`.
    Pool(u8),
    /// The fuzzed node itself.
    Own,
    /// Anything (an invalid string falls back to the pool).
    Raw(String),
}

impl FName {
    /// The name.
    pub fn get(&self) -> NodeName {
        match self {
            FName::Pool(i) => pool_name(*i),
            FName::Own => name(OWN_NAME),
            FName::Raw(text) => NodeName::new(text).unwrap_or_else(|_| pool_name(text.len() as u8)),
        }
    }
}

/// A counter: mostly small, so that versions and generations meet.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum FNum {
    /// 0 to 255.
    Small(u8),
    /// Any value.
    Big(u64),
    /// The fuzzed node's generation.
    OwnGeneration,
}

impl FNum {
    /// The value.
    pub fn get(self) -> u64 {
        match self {
            FNum::Small(v) => u64::from(v),
            FNum::Big(v) => v,
            FNum::OwnGeneration => OWN_GENERATION,
        }
    }
}

/// A digest entry.
#[derive(Arbitrary, Debug, Clone)]
pub struct FEntry {
    name: FName,
    generation: FNum,
    incarnation: FNum,
    max_version: FNum,
    gc_watermark: FNum,
    left: bool,
}

impl FEntry {
    fn get(&self) -> DigestEntry {
        DigestEntry {
            name: self.name.get(),
            generation: Generation(self.generation.get()),
            incarnation: Incarnation(self.incarnation.get()),
            max_version: Version(self.max_version.get()),
            gc_watermark: Version(self.gc_watermark.get()),
            status: status(self.left),
        }
    }
}

fn status(left: bool) -> NodeStatus {
    if left {
        NodeStatus::Left
    } else {
        NodeStatus::Alive
    }
}

/// A record.
#[derive(Arbitrary, Debug, Clone)]
pub struct FRecord {
    key: u8,
    version: FNum,
    value: Option<Vec<u8>>,
}

/// A node delta; `normalize` makes it follow the sender rules (versions increasing above
/// `from_version`, `to_version` at least the last one).
#[derive(Arbitrary, Debug, Clone)]
pub struct FDelta {
    name: FName,
    addr: u8,
    generation: FNum,
    incarnation: FNum,
    left: bool,
    gc_watermark: FNum,
    from_version: FNum,
    records: Vec<FRecord>,
    to_version: FNum,
    complete: bool,
    normalize: bool,
}

impl FDelta {
    fn get(&self) -> NodeDelta {
        let mut records: Vec<Record> = self
            .records
            .iter()
            .map(|r| Record {
                key: pool_key(r.key),
                version: Version(r.version.get()),
                value: r.value.as_deref().map(Bytes::copy_from_slice),
            })
            .collect();
        let mut from = self.from_version.get();
        let mut to = self.to_version.get();
        if self.normalize {
            records.sort_by_key(|r| r.version);
            records.dedup_by_key(|r| r.version);
            if let Some(first) = records.first() {
                from = from.min(first.version.0.saturating_sub(1));
            }
            if let Some(last) = records.last() {
                to = to.max(last.version.0);
            }
            to = to.max(from);
        }
        NodeDelta {
            node: NodeId {
                name: self.name.get(),
                address: peer_addr(self.addr),
                generation: Generation(self.generation.get()),
            },
            incarnation: Incarnation(self.incarnation.get()),
            status: status(self.left),
            gc_watermark: Version(self.gc_watermark.get()),
            from_version: Version(from),
            records,
            to_version: Version(to),
            complete: self.complete,
        }
    }
}

/// The message of a structured packet.
#[derive(Arbitrary, Debug, Clone)]
pub enum FMessage {
    /// A Syn.
    Syn { claims: FClaims, news: Vec<FEntry> },
    /// A SynAck.
    SynAck {
        claims: FClaims,
        requests: Vec<FEntry>,
        deltas: Vec<FDelta>,
    },
    /// An Ack.
    Ack {
        claims: FClaims,
        requests: Vec<FEntry>,
        deltas: Vec<FDelta>,
    },
}

/// A structured packet.
#[derive(Arbitrary, Debug, Clone)]
pub struct FPacket {
    other_cluster: bool,
    sender: FName,
    generation: FNum,
    incarnation: FNum,
    message: FMessage,
}

impl FPacket {
    /// The packet.
    pub fn get(&self) -> Packet {
        let message = match &self.message {
            FMessage::Syn { claims, news } => {
                // Rumours come with `FProbePacket`'s Syns.
                Message::Syn(syn(claims, news, Vec::new()))
            }
            FMessage::SynAck {
                claims,
                requests,
                deltas,
            } => Message::SynAck(SynAck {
                ranges: claims.get(),
                requests: requests.iter().map(FEntry::get).collect(),
                deltas: deltas.iter().map(FDelta::get).collect(),
            }),
            FMessage::Ack {
                claims,
                requests,
                deltas,
            } => Message::Ack(Ack {
                ranges: claims.get(),
                requests: requests.iter().map(FEntry::get).collect(),
                deltas: deltas.iter().map(FDelta::get).collect(),
            }),
        };
        Packet {
            header: fuzzed_header(
                self.other_cluster,
                &self.sender,
                self.generation,
                self.incarnation,
            ),
            message,
        }
    }
}

/// A structured packet's header.
fn fuzzed_header(
    other_cluster: bool,
    sender: &FName,
    generation: FNum,
    incarnation: FNum,
) -> Header {
    let cluster_id = if other_cluster {
        ClusterId::new("other").unwrap_or_else(|_| unreachable!("valid id"))
    } else {
        config().cluster_id
    };
    Header {
        cluster_id,
        sender: sender.get(),
        generation: Generation(generation.get()),
        incarnation: Incarnation(incarnation.get()),
    }
}

/// A structured Syn.
fn syn(claims: &FClaims, news: &[FEntry], rumors: Vec<Rumor>) -> Syn {
    Syn {
        ranges: claims.get(),
        news: news.iter().map(FEntry::get).collect(),
        rumors,
    }
}

/// A range of the name order: `bits` (up to 64) of `of`'s order hash, or of 0.
#[derive(Arbitrary, Debug, Clone)]
pub struct FRange {
    of: Option<FName>,
    bits: u8,
}

impl FRange {
    fn get(&self) -> NameRange {
        let bits = self.bits % (NameRange::MAX_BITS + 1);
        let hash = self.of.as_ref().map_or(0, |name| name.get().order_hash());
        let prefix = hash.checked_shr(64 - u32::from(bits)).unwrap_or(0);
        NameRange::new(bits, prefix).unwrap_or(NameRange::ALL)
    }
}

/// Range claims: summaries with any fingerprint, and one page; `sort` sorts and dedups the
/// page's entries and keeps those it covers, as a sender must.
#[derive(Arbitrary, Debug, Clone)]
pub struct FClaims {
    summaries: Vec<(FRange, FNum, u64)>,
    page: Option<(FRange, Vec<FEntry>, bool)>,
}

impl FClaims {
    fn get(&self) -> RangeClaims {
        let summaries = self
            .summaries
            .iter()
            .map(|(range, count, sum)| RangeSummary {
                range: range.get(),
                fingerprint: Fingerprint {
                    count: count.get(),
                    sum: *sum,
                },
            })
            .collect();
        let pages = self
            .page
            .iter()
            .map(|(range, entries, sort)| {
                let range = range.get();
                let mut entries: Vec<DigestEntry> = entries.iter().map(FEntry::get).collect();
                if *sort {
                    entries.sort_by(|a, b| a.name.cmp(&b.name));
                    entries.dedup_by(|a, b| a.name == b.name);
                    entries.retain(|entry| range.contains(&entry.name));
                }
                Digest { range, entries }
            })
            .collect();
        RangeClaims { summaries, pages }
    }
}

/// A node tag: mostly a name's, so that probes reach the fuzzed node and alerters are
/// nodes it knows.
#[derive(Arbitrary, Debug, Clone)]
pub enum FTag {
    /// The tag of a name.
    Of(FName),
    /// Any tag.
    Raw(u32),
}

impl FTag {
    /// The tag.
    pub fn get(&self) -> NodeTag {
        match self {
            FTag::Of(name) => NodeTag::of(&name.get()),
            FTag::Raw(tag) => NodeTag(*tag),
        }
    }
}

/// A rumour; `normalize` sorts and dedups its alerters as a sender must.
#[derive(Arbitrary, Debug, Clone)]
pub struct FRumor {
    subject: FName,
    generation: FNum,
    incarnation: FNum,
    alerters: Vec<FTag>,
    normalize: bool,
}

impl FRumor {
    fn get(&self) -> Rumor {
        let mut alerters: Vec<NodeTag> = self.alerters.iter().map(FTag::get).collect();
        if self.normalize {
            alerters.sort();
            alerters.dedup();
        }
        Rumor {
            subject: self.subject.get(),
            generation: Generation(self.generation.get()),
            incarnation: Incarnation(self.incarnation.get()),
            alerters,
        }
    }
}

fn rumors(rumors: &[FRumor]) -> Vec<Rumor> {
    rumors.iter().map(FRumor::get).collect()
}

/// The message of a structured failure-detection packet.
#[derive(Arbitrary, Debug, Clone)]
pub enum FProbeMessage {
    /// A Probe.
    Probe {
        sequence: FNum,
        target: FTag,
        rumors: Vec<FRumor>,
    },
    /// A ProbeAck.
    ProbeAck {
        sequence: FNum,
        reached: bool,
        rumors: Vec<FRumor>,
    },
    /// A ProbeRequest for a node at a peer address.
    ProbeRequest {
        sequence: FNum,
        name: FName,
        addr: u8,
        generation: FNum,
        rumors: Vec<FRumor>,
    },
    /// A Syn with rumours (see [`FMessage::Syn`]).
    Syn {
        claims: FClaims,
        news: Vec<FEntry>,
        rumors: Vec<FRumor>,
    },
}

/// A structured packet of failure detection: the `node` target's `op::FD_STRUCTURED`. A
/// type apart from [`FPacket`], so that saved structured inputs keep their meaning.
#[derive(Arbitrary, Debug, Clone)]
pub struct FProbePacket {
    other_cluster: bool,
    sender: FName,
    generation: FNum,
    incarnation: FNum,
    message: FProbeMessage,
}

impl FProbePacket {
    /// The packet.
    pub fn get(&self) -> Packet {
        let message = match &self.message {
            FProbeMessage::Probe {
                sequence,
                target,
                rumors: r,
            } => Message::Probe(Probe {
                sequence: sequence.get(),
                target: target.get(),
                rumors: rumors(r),
            }),
            FProbeMessage::ProbeAck {
                sequence,
                reached,
                rumors: r,
            } => Message::ProbeAck(ProbeAck {
                sequence: sequence.get(),
                reached: *reached,
                rumors: rumors(r),
            }),
            FProbeMessage::ProbeRequest {
                sequence,
                name,
                addr,
                generation,
                rumors: r,
            } => Message::ProbeRequest(ProbeRequest {
                sequence: sequence.get(),
                target: NodeId {
                    name: name.get(),
                    address: peer_addr(*addr),
                    generation: Generation(generation.get()),
                },
                rumors: rumors(r),
            }),
            FProbeMessage::Syn {
                claims,
                news,
                rumors: r,
            } => Message::Syn(syn(claims, news, rumors(r))),
        };
        Packet {
            header: fuzzed_header(
                self.other_cluster,
                &self.sender,
                self.generation,
                self.incarnation,
            ),
            message,
        }
    }
}

// ----- the `node` target's input format -----

/// Operation codes of the `node` target's input (the first byte of each operation, mapped
/// by [`op::of`]). See `fuzz_targets/node.rs`.
pub mod op {
    /// Raw datagram: `u16` LE length, peer byte, bytes.
    pub const RAW: u8 = 0;
    /// Structured packet: `u16` LE length, peer byte, bytes read by `arbitrary` as an `FPacket`.
    pub const STRUCTURED: u8 = 1;
    /// Template: template byte, peer byte, edit count byte, edits (`u16` LE position, byte).
    pub const TEMPLATE: u8 = 2;
    /// Advance by `u16` LE milliseconds, then `handle_timeout`.
    pub const ADVANCE_MS: u8 = 3;
    /// Advance by a byte of seconds, then `handle_timeout`.
    pub const ADVANCE_S: u8 = 4;
    /// Advance to `poll_timeout()`, then `handle_timeout`.
    pub const NEXT_TIMER: u8 = 5;
    /// `set`: key byte, length byte, value bytes.
    pub const SET: u8 = 6;
    /// `set_with_ttl`: key byte, `u16` LE ttl in ms, length byte, value bytes.
    pub const SET_TTL: u8 = 7;
    /// `delete`: key byte.
    pub const DELETE: u8 = 8;
    /// `leave`.
    pub const LEAVE: u8 = 9;
    /// Structured failure-detection packet: `u16` LE length, peer byte, bytes read by
    /// `arbitrary` as an `FProbePacket`.
    pub const FD_STRUCTURED: u8 = 10;
    /// Failure-detection template: like [`TEMPLATE`], over `fd_templates()`.
    pub const FD_TEMPLATE: u8 = 11;
    /// Answer a Probe or ProbeRequest the node sent: which byte (0: the latest, 1: the one
    /// before, …, of the last [`REMEMBERED_PROBES`]), flag byte (bit 0 set: a nack,
    /// `reached = false`). The ack comes from the destination, as the member listed at that
    /// address; nothing happens if none is.
    pub const ANSWER: u8 = 12;
    /// Probes and probe requests the `node` target remembers for [`ANSWER`].
    pub const REMEMBERED_PROBES: usize = 16;
    /// Codes are taken modulo this. Codes were once taken modulo 10: to keep the meaning
    /// of saved inputs, a remainder `r` that is not a new operation (10 to 12) means
    /// operation `r % 10`, as it did.
    pub const MODULUS: u8 = 20;

    /// The operation of code byte `code`.
    pub fn of(code: u8) -> u8 {
        match code % MODULUS {
            r @ (FD_STRUCTURED | FD_TEMPLATE | ANSWER) => r,
            r => r % 10,
        }
    }
}
