//! A `Node` (fixed identity, small limits) fed a sequence of operations decoded from the
//! input (see `leviathan_gossip_fuzz::op`): raw datagrams, `arbitrary`-built packets,
//! edited valid templates, time steps with `handle_timeout`, writes, deletes, TTL writes,
//! `leave`, and for failure detection `arbitrary`-built probes, acks, probe requests and
//! Syns with rumours, edited valid templates of those, and answers to the node's own
//! probes. After every operation the node is drained with `Node::drain` until it has
//! nothing more (each expiry is issued as `Write::Expire`) and the invariants below are
//! checked.
#![no_main]

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use leviathan_gossip_core::{MemberState, Node, Outputs, Write};
use leviathan_gossip_fuzz::{
    FPacket, FProbePacket, OWN_NAME, config, fd_templates, op, own_identity, peer_addr, pool_key,
    templates,
};
use leviathan_gossip_wire::{ClusterId, Header, Message, NodeName, Packet, ProbeAck};
use libfuzzer_sys::fuzz_target;

/// Fixed time base: the same for every input of a run.
static BASE: LazyLock<Instant> = LazyLock::new(Instant::now);
static TEMPLATES: LazyLock<Vec<Vec<u8>>> =
    LazyLock::new(|| templates().iter().map(|p| p.encode().to_vec()).collect());
static FD_TEMPLATES: LazyLock<Vec<Vec<u8>>> =
    LazyLock::new(|| fd_templates().iter().map(|p| p.encode().to_vec()).collect());
static CLUSTER_ID: LazyLock<ClusterId> = LazyLock::new(|| config().cluster_id);

/// Longest input operation sequence, to keep executions fast.
const MAX_OPS: usize = 256;

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn u8(&mut self) -> Option<u8> {
        let (&first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(first)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes([self.u8()?, self.u8()?]))
    }
    /// Up to `len` bytes (fewer at the end of the input).
    fn bytes(&mut self, len: usize) -> &'a [u8] {
        let (taken, rest) = self.0.split_at(len.min(self.0.len()));
        self.0 = rest;
        taken
    }
}

struct Harness {
    node: Node,
    now: Instant,
    /// Per (name, generation) of members listed after the previous operation:
    /// `max(max_version, gc_watermark)`.
    horizons: HashMap<(NodeName, u64), u64>,
    /// Destination and sequence of the last Probes and ProbeRequests sent, newest first.
    probes: VecDeque<(SocketAddr, u64)>,
}

impl Harness {
    fn datagram(&mut self, peer: u8, bytes: &[u8]) {
        self.node.handle_datagram(peer_addr(peer), bytes, self.now);
    }

    /// A template edited as the input says: template byte, peer byte, edit count, edits.
    fn template(&mut self, templates: &[Vec<u8>], input: &mut Reader<'_>) {
        let which = input.u8().unwrap_or(0);
        let peer = input.u8().unwrap_or(0);
        let edits = input.u8().unwrap_or(0);
        let mut bytes = templates[usize::from(which) % templates.len()].clone();
        for _ in 0..edits {
            let (Some(position), Some(value)) = (input.u16(), input.u8()) else {
                break;
            };
            let index = usize::from(position) % bytes.len();
            bytes[index] = value;
        }
        self.datagram(peer, &bytes);
    }

    /// Answers a remembered probe or probe request from the member at its destination.
    fn answer(&mut self, which: u8, nack: bool) {
        if self.probes.is_empty() {
            return;
        }
        let (destination, sequence) = self.probes[usize::from(which) % self.probes.len()];
        let members = self.node.members(self.now);
        let Some(member) = members
            .iter()
            .find(|m| !m.is_local && m.id.address == destination)
        else {
            return;
        };
        let packet = Packet {
            header: Header {
                cluster_id: CLUSTER_ID.clone(),
                sender: member.id.name.clone(),
                generation: member.id.generation,
                incarnation: member.incarnation,
            },
            message: Message::ProbeAck(ProbeAck {
                sequence,
                reached: !nack,
                rumors: Vec::new(),
            }),
        };
        self.node
            .handle_datagram(destination, &packet.encode(), self.now);
    }

    fn timeout(&mut self) {
        self.node.handle_timeout(self.now);
        let next = self.node.poll_timeout();
        assert!(
            next > self.now,
            "poll_timeout {next:?} not after handle_timeout's now {:?}",
            self.now
        );
    }

    fn remember_probe(&mut self, destination: SocketAddr, sequence: u64) {
        self.probes.truncate(op::REMEMBERED_PROBES - 1);
        self.probes.push_front((destination, sequence));
    }

    /// Drains every output and checks the invariants.
    fn drain_and_check(&mut self) {
        let max_packet = self.node.config().max_packet_size;
        loop {
            let mut outputs = Outputs::default();
            self.node.drain(&mut outputs);
            if outputs.is_empty() {
                break;
            }
            for transmit in &outputs.transmits {
                let len = transmit.encoded_len();
                assert!(
                    len <= max_packet,
                    "transmit of {len} bytes over max_packet_size {max_packet}"
                );
                let bytes = transmit.encode();
                assert_eq!(bytes.len(), len, "encoded_len differs from the encoding");
                let decoded = Packet::decode_versioned(&bytes);
                if transmit.packet.message.fits_version(transmit.wire_version) {
                    assert_eq!(
                        decoded.as_ref(),
                        Ok(&(transmit.packet.clone(), transmit.wire_version)),
                        "sent packet does not round-trip"
                    );
                } else {
                    assert!(decoded.is_ok(), "sent packet does not decode");
                }
                if let Message::Probe(probe) = &transmit.packet.message {
                    self.remember_probe(transmit.destination, probe.sequence);
                } else if let Message::ProbeRequest(request) = &transmit.packet.message {
                    self.remember_probe(transmit.destination, request.sequence);
                }
                // Not checked: that the destination is not the node's own address. A peer
                // may advertise any address, ours included (see docs/FUZZING.md).
            }
            for expired in outputs.expired {
                let _ = self.node.write(Write::Expire(expired), self.now);
            }
        }

        let footprint = self.node.footprint();
        let max_nodes = self.node.config().max_nodes;
        assert!(
            footprint.nodes <= max_nodes,
            "{} nodes held, max_nodes {max_nodes}",
            footprint.nodes
        );

        let members = self.node.members(self.now);
        let own: Vec<_> = members.iter().filter(|m| m.is_local).collect();
        assert_eq!(own.len(), 1, "own entry listed {} times", own.len());
        let own = own[0];
        assert_eq!(own.id.name.as_str(), OWN_NAME);
        assert!(
            matches!(own.state, MemberState::Live | MemberState::Left),
            "own entry is {:?}",
            own.state
        );
        let mut horizons = HashMap::with_capacity(members.len());
        for member in &members {
            let horizon = member.max_version.0.max(member.gc_watermark.0);
            let id = (member.id.name.clone(), member.id.generation.0);
            if let Some(&before) = self.horizons.get(&id) {
                assert!(
                    horizon >= before,
                    "horizon of {} generation {} went back from {before} to {horizon} \
                     (max_version {}, gc_watermark {})",
                    id.0,
                    id.1,
                    member.max_version,
                    member.gc_watermark
                );
            }
            horizons.insert(id, horizon);
        }
        self.horizons = horizons;
    }
}

fuzz_target!(|data: &[u8]| {
    let now = *BASE;
    let Ok(node) = Node::new(
        config(),
        own_identity(),
        [peer_addr(0), peer_addr(1)],
        now,
        7,
    ) else {
        panic!("valid config refused");
    };
    let mut h = Harness {
        node,
        now,
        horizons: HashMap::new(),
        probes: VecDeque::new(),
    };
    h.drain_and_check();
    let mut input = Reader(data);
    for _ in 0..MAX_OPS {
        let Some(code) = input.u8() else { break };
        // Every operation takes a little time.
        h.now += Duration::from_millis(3);
        match op::of(code) {
            op::RAW => {
                let len = input.u16().unwrap_or(0);
                let peer = input.u8().unwrap_or(0);
                let bytes = input.bytes(usize::from(len));
                h.datagram(peer, bytes);
            }
            op::STRUCTURED => {
                let len = input.u16().unwrap_or(0);
                let peer = input.u8().unwrap_or(0);
                let bytes = input.bytes(usize::from(len));
                if let Ok(packet) = FPacket::arbitrary_take_rest(Unstructured::new(bytes)) {
                    let packet = packet.get();
                    let encoded = packet.encode();
                    h.datagram(peer, &encoded);
                }
            }
            op::TEMPLATE => h.template(&TEMPLATES, &mut input),
            op::ADVANCE_MS => {
                h.now += Duration::from_millis(u64::from(input.u16().unwrap_or(0)));
                h.timeout();
            }
            op::ADVANCE_S => {
                h.now += Duration::from_secs(u64::from(input.u8().unwrap_or(0)));
                h.timeout();
            }
            op::NEXT_TIMER => {
                h.now = h.now.max(h.node.poll_timeout());
                h.timeout();
            }
            op::SET => {
                let key = pool_key(input.u8().unwrap_or(0));
                let len = input.u8().unwrap_or(0);
                let value = Bytes::copy_from_slice(input.bytes(usize::from(len)));
                let _ = h.node.set(key, value);
            }
            op::SET_TTL => {
                let key = pool_key(input.u8().unwrap_or(0));
                let ttl = Duration::from_millis(u64::from(input.u16().unwrap_or(0)));
                let len = input.u8().unwrap_or(0);
                let value = Bytes::copy_from_slice(input.bytes(usize::from(len)));
                let _ = h.node.set_with_ttl(key, value, ttl, h.now);
            }
            op::DELETE => {
                let key = pool_key(input.u8().unwrap_or(0));
                let _ = h.node.delete(&key);
            }
            op::LEAVE => h.node.leave(),
            op::FD_STRUCTURED => {
                let len = input.u16().unwrap_or(0);
                let peer = input.u8().unwrap_or(0);
                let bytes = input.bytes(usize::from(len));
                if let Ok(packet) = FProbePacket::arbitrary_take_rest(Unstructured::new(bytes)) {
                    let encoded = packet.get().encode();
                    h.datagram(peer, &encoded);
                }
            }
            op::FD_TEMPLATE => h.template(&FD_TEMPLATES, &mut input),
            op::ANSWER => {
                let which = input.u8().unwrap_or(0);
                let flags = input.u8().unwrap_or(0);
                h.answer(which, flags & 1 == 1);
            }
            _ => unreachable!("op::of gives an operation code"),
        }
        h.drain_and_check();
    }
});
