//! Bytes to repair d differing nodes between two replicas of a large cluster's state.
//!
//! Two real [`Node`]s, A and B, are told the same N members (each holding a few keys), as a
//! formed cluster's nodes would hold them; then B learns a newer write of d of them that A
//! missed. Both then run two minutes of rounds whose datagrams go nowhere, so that their
//! news has been told (the repair is then reconciliation's alone: with rumours, B's news
//! pushes would carry the writes). A opens one exchange with B (its next Syn), and every
//! answer between the two is delivered until neither has anything to say; exchanges repeat,
//! a round apart, until A's digest equals B's. Only their exchange is counted: range
//! summaries and pages, requests and deltas, the probes that prove each one's address to
//! the other, the datagrams' headers, and the Syn's news and rumours apart (the silent
//! rounds leave both accusing every peer).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use leviathan_gossip_core::{Node, NodeConfig, Outputs};
use leviathan_gossip_wire::{
    Ack, DigestEntry, Generation, Header, Incarnation, Key, Message, NodeDelta, NodeId, NodeName,
    NodeStatus, Packet, Record, Version,
};
use rand::SeedableRng;
use rand::seq::index::sample;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::SimError;
use crate::experiments::Table;

/// Settings of one repair run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Members both replicas hold.
    pub nodes: usize,
    /// Members B holds a newer write of.
    pub differing: usize,
    /// Keys each member holds.
    pub keys_per_node: usize,
    /// Chooses the differing members.
    pub seed: u64,
}

/// What one repair cost.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Outcome {
    /// Members both replicas hold.
    pub nodes: usize,
    /// Members that differed.
    pub differing: usize,
    /// Exchanges until A's digest equalled B's.
    pub exchanges: usize,
    /// Datagrams between A and B, all exchanges.
    pub datagrams: usize,
    /// Their encoded bytes.
    pub bytes: usize,
    /// Bytes of range summaries and pages in them.
    pub range_bytes: usize,
    /// Bytes of the Syns' news and rumours (the rumour mechanism, not reconciliation).
    pub news_bytes: usize,
    /// Bytes of the differing members' digest entries: what a perfect reconciliation
    /// must at least name.
    pub differing_entry_bytes: usize,
    /// Bytes of the deltas that carry the missed writes.
    pub delta_bytes: usize,
    /// Largest datagram.
    pub max_datagram: usize,
}

/// Runs one repair.
pub fn run(options: &Options) -> Result<Outcome, SimError> {
    let config = NodeConfig::default();
    let now = Instant::now();
    let ids: Vec<NodeId> = (0..options.nodes).map(id).collect();
    let (Some(a_id), Some(b_id)) = (ids.first().cloned(), ids.get(1).cloned()) else {
        return Err(SimError::Size("a repair needs at least two nodes".into()));
    };
    let mut a = Node::new(config.clone(), a_id.clone(), [], now, 1)?;
    let mut b = Node::new(config, b_id.clone(), [], now, 2)?;
    // A and B as they are (nothing written); every other member with its keys.
    let states: Vec<NodeDelta> = ids
        .iter()
        .enumerate()
        .map(|(i, member)| member_state(member, if i < 2 { 0 } else { options.keys_per_node }))
        .collect();
    for node in [&mut a, &mut b] {
        let own = node.identity().name.clone();
        let others: Vec<NodeDelta> = states
            .iter()
            .filter(|delta| delta.node.name != own)
            .cloned()
            .collect();
        let sender = if own == a_id.name { &b_id } else { &a_id };
        node.handle_packet(
            sender.address,
            packet(sender, Message::Ack(Ack::with_deltas(others))),
            now,
        );
        node.drain(&mut Outputs::default());
    }
    let interval = NodeConfig::default().gossip_interval;
    let mut now = now;
    // B learns a newer write of `differing` members (never A or B themselves).
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let candidates = options.nodes.saturating_sub(2);
    let chosen = sample(&mut rng, candidates, options.differing.min(candidates));
    let mut differing_entry_bytes = 0;
    let mut newer = Vec::new();
    for mut delta in chosen.iter().filter_map(|i| states.get(i + 2)).cloned() {
        let next = Version(delta.to_version.0 + 1);
        delta.from_version = delta.to_version;
        delta.records = vec![Record {
            key: Key::new("k0").map_err(|e| SimError::Size(e.to_string()))?,
            version: next,
            value: Some(Bytes::from(vec![b'n'; 64])),
        }];
        delta.to_version = next;
        differing_entry_bytes += DigestEntry {
            name: delta.node.name.clone(),
            generation: delta.node.generation,
            incarnation: delta.incarnation,
            max_version: next,
            gc_watermark: Version(0),
            status: NodeStatus::Alive,
        }
        .encoded_len();
        newer.push(delta);
    }
    // Any third member carries the news to B.
    let writer = ids.get(2).unwrap_or(&a_id);
    b.handle_packet(
        writer.address,
        packet(writer, Message::Ack(Ack::with_deltas(newer))),
        now,
    );
    b.drain(&mut Outputs::default());
    now = drain(&mut a, &mut b, now, interval);

    let mut outcome = Outcome {
        nodes: options.nodes,
        differing: options.differing,
        exchanges: 0,
        datagrams: 0,
        bytes: 0,
        range_bytes: 0,
        news_bytes: 0,
        differing_entry_bytes,
        delta_bytes: 0,
        max_datagram: 0,
    };
    while a.digest_fingerprint() != b.digest_fingerprint() {
        outcome.exchanges += 1;
        if outcome.exchanges > 10 * options.differing + 10 {
            return Err(SimError::Size(format!(
                "no repair after {} exchanges",
                outcome.exchanges - 1
            )));
        }
        now += interval;
        exchange(&mut a, &mut b, now, &mut outcome);
    }
    Ok(outcome)
}

/// Rounds whose datagrams go nowhere, until both have told all their news (256 items at
/// most, 16 sends each at N = 1,000 to 10,000, about 20 per Syn): the repair is then
/// reconciliation's alone, not the news pushes'. Returns the time after them.
fn drain(a: &mut Node, b: &mut Node, mut now: Instant, interval: Duration) -> Instant {
    for _ in 0..DRAIN_ROUNDS {
        now += interval;
        for node in [&mut *a, &mut *b] {
            node.handle_timeout(now);
            node.drain(&mut Outputs::default());
        }
    }
    now
}

/// Rounds of [`drain`].
const DRAIN_ROUNDS: usize = 120;

/// One exchange opened by A's next Syn, delivered to B, and every answer between the two
/// until neither sends one, with the probes that prove each one's address to the other
/// (until then, answers are held to three times what they answer: §6.3 of the protocol).
fn exchange(a: &mut Node, b: &mut Node, now: Instant, outcome: &mut Outcome) {
    let (a_address, b_address) = (a.identity().address, b.identity().address);
    debug_assert_ne!(a_address, b_address);
    a.handle_timeout(now);
    let mut outputs = Outputs::default();
    a.drain(&mut outputs);
    let mut in_flight: Vec<(bool, Packet)> = outputs
        .transmits
        .into_iter()
        .find(|transmit| matches!(transmit.packet.message, Message::Syn(_)))
        .map(|transmit| (true, transmit.packet))
        .into_iter()
        .collect();
    while let Some((to_b, packet)) = in_flight.pop() {
        count(&packet, outcome);
        let (receiver, from) = if to_b {
            (&mut *b, a_address)
        } else {
            (&mut *a, b_address)
        };
        receiver.handle_packet(from, packet, now);
        let mut outputs = Outputs::default();
        receiver.drain(&mut outputs);
        for transmit in outputs.transmits {
            let exchange_step = matches!(
                transmit.packet.message,
                Message::SynAck(_) | Message::Ack(_) | Message::Probe(_) | Message::ProbeAck(_)
            );
            if transmit.destination == from && exchange_step {
                in_flight.push((!to_b, transmit.packet));
            }
        }
    }
}

fn count(packet: &Packet, outcome: &mut Outcome) {
    let len = packet.encoded_len();
    outcome.datagrams += 1;
    outcome.bytes += len;
    outcome.max_datagram = outcome.max_datagram.max(len);
    let (ranges, deltas) = match &packet.message {
        Message::Syn(syn) => {
            outcome.news_bytes += leviathan_gossip_wire::entries_len(&syn.news)
                + leviathan_gossip_wire::rumors_len(&syn.rumors);
            (&syn.ranges, &[][..])
        }
        Message::SynAck(synack) => (&synack.ranges, &synack.deltas[..]),
        Message::Ack(ack) => (&ack.ranges, &ack.deltas[..]),
        _ => return,
    };
    outcome.range_bytes += ranges.encoded_len();
    outcome.delta_bytes += deltas.iter().map(NodeDelta::encoded_len).sum::<usize>();
}

/// Member `index`: `node-{index}` at 10.x.y.z:7946, one generation for all.
fn id(index: usize) -> NodeId {
    let [_, x, y, z] = u32::try_from(index + 1).unwrap_or(u32::MAX).to_be_bytes();
    NodeId {
        name: NodeName::new(format!("node-{index}"))
            .unwrap_or_else(|_| unreachable!("a short ASCII name is valid")),
        address: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, x, y, z)), 7946),
        generation: Generation(1_700_000_000_000),
    }
}

/// The whole state of `member`: `keys` keys of 64-byte values, versions 1 to `keys`.
fn member_state(member: &NodeId, keys: usize) -> NodeDelta {
    let records: Vec<Record> = (1..=keys)
        .map(|version| Record {
            key: Key::new(format!("k{}", version - 1))
                .unwrap_or_else(|_| unreachable!("a short ASCII key is valid")),
            version: Version(version as u64),
            value: Some(Bytes::from(vec![b'v'; 64])),
        })
        .collect();
    NodeDelta {
        node: member.clone(),
        incarnation: Incarnation(0),
        status: NodeStatus::Alive,
        gc_watermark: Version(0),
        from_version: Version(0),
        to_version: Version(keys as u64),
        complete: true,
        records,
    }
}

fn packet(sender: &NodeId, message: Message) -> Packet {
    Packet {
        header: Header {
            cluster_id: NodeConfig::default().cluster_id,
            sender: sender.name.clone(),
            generation: sender.generation,
            incarnation: Incarnation(0),
        },
        message,
    }
}

/// The table of a set of repair runs.
pub fn table(outcomes: &[Outcome]) -> Table {
    let mut table = Table::new(&[
        "N",
        "d",
        "exchanges",
        "datagrams",
        "bytes",
        "range claims B",
        "deltas B",
        "news+rumours B",
        "differing entries B",
        "(bytes − news) / entries",
        "max datagram B",
    ]);
    for outcome in outcomes {
        let ratio = (outcome.bytes - outcome.news_bytes) as f64
            / outcome.differing_entry_bytes.max(1) as f64;
        table.row(vec![
            outcome.nodes.to_string(),
            outcome.differing.to_string(),
            outcome.exchanges.to_string(),
            outcome.datagrams.to_string(),
            outcome.bytes.to_string(),
            outcome.range_bytes.to_string(),
            outcome.delta_bytes.to_string(),
            outcome.news_bytes.to_string(),
            outcome.differing_entry_bytes.to_string(),
            format!("{ratio:.1}"),
            outcome.max_datagram.to_string(),
        ]);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_few_differences_among_many_are_repaired_in_one_exchange_of_small_datagrams() {
        let outcome = run(&Options {
            nodes: 2_000,
            differing: 3,
            keys_per_node: 3,
            seed: 5,
        })
        .unwrap();
        // The first exchange's answers are held to three times what they answer until the
        // peers have proven their addresses; one more exchange at most finishes.
        assert!(outcome.exchanges <= 2, "{outcome:?}");
        assert!(outcome.max_datagram <= 1_400, "{outcome:?}");
        assert!(outcome.datagrams <= 20, "{outcome:?}");
    }
}
