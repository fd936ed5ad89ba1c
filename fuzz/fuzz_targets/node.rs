//! A `Node` (fixed identity, small limits) fed a sequence of operations decoded from the
//! input (see `leviathan_gossip_fuzz::op`): raw datagrams, `arbitrary`-built packets,
//! edited valid templates, time steps with `handle_timeout`, writes, deletes, TTL writes
//! and `leave`. After every operation the node is drained with `Node::drain` until it has
//! nothing more (each expiry is issued as `Write::Expire`) and the invariants below are
//! checked.
#![no_main]

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use leviathan_gossip_core::{MemberState, Node, Outputs, Write};
use leviathan_gossip_fuzz::{
    FPacket, OP_COUNT, OWN_NAME, config, op, own_identity, peer_addr, pool_key, templates,
};
use leviathan_gossip_wire::{NodeName, Packet};
use libfuzzer_sys::fuzz_target;

/// Fixed time base: the same for every input of a run.
static BASE: LazyLock<Instant> = LazyLock::new(Instant::now);
static TEMPLATES: LazyLock<Vec<Vec<u8>>> =
    LazyLock::new(|| templates().iter().map(|p| p.encode().to_vec()).collect());

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
}

impl Harness {
    fn datagram(&mut self, peer: u8, bytes: &[u8]) {
        self.node.handle_datagram(peer_addr(peer), bytes, self.now);
    }

    fn timeout(&mut self) {
        self.node.handle_timeout(self.now);
        let next = self.node.poll_timeout();
        assert!(next > self.now, "poll_timeout {next:?} not after handle_timeout's now {:?}", self.now);
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
                let len = transmit.packet.encoded_len();
                assert!(len <= max_packet, "transmit of {len} bytes over max_packet_size {max_packet}");
                let bytes = transmit.packet.encode();
                assert_eq!(bytes.len(), len, "encoded_len differs from the encoding");
                assert_eq!(Packet::decode(&bytes).as_ref(), Ok(&transmit.packet), "sent packet does not round-trip");
                // Not checked: that the destination is not the node's own address. A peer
                // may advertise any address, ours included (see docs/FUZZING.md).
            }
            for expired in outputs.expired {
                let _ = self.node.write(Write::Expire(expired), self.now);
            }
        }

        let footprint = self.node.footprint();
        let max_nodes = self.node.config().max_nodes;
        assert!(footprint.nodes <= max_nodes, "{} nodes held, max_nodes {max_nodes}", footprint.nodes);

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
    let Ok(node) = Node::new(config(), own_identity(), [peer_addr(0), peer_addr(1)], now, 7) else {
        panic!("valid config refused");
    };
    let mut h = Harness { node, now, horizons: HashMap::new() };
    h.drain_and_check();
    let mut input = Reader(data);
    for _ in 0..MAX_OPS {
        let Some(code) = input.u8() else { break };
        // Every operation takes a little time.
        h.now += Duration::from_millis(3);
        match code % OP_COUNT {
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
            op::TEMPLATE => {
                let which = input.u8().unwrap_or(0);
                let peer = input.u8().unwrap_or(0);
                let edits = input.u8().unwrap_or(0);
                let mut bytes = TEMPLATES[usize::from(which) % TEMPLATES.len()].clone();
                for _ in 0..edits {
                    let (Some(position), Some(value)) = (input.u16(), input.u8()) else { break };
                    let index = usize::from(position) % bytes.len();
                    bytes[index] = value;
                }
                h.datagram(peer, &bytes);
            }
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
            _ => unreachable!("op code below OP_COUNT"),
        }
        h.drain_and_check();
    }
});
