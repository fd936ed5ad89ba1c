//! Property tests of the protocol's invariants:
//!
//! * **packet bound** — every `Syn` page, `SynAck` and `Ack` a node builds fits its
//!   `max_packet_size`, whatever the cluster size (1 to 10 000 nodes), name lengths (1 to
//!   128 bytes), addresses, counter magnitudes, record counts and value sizes;
//! * **range exchanges** — two digests compared by fingerprints over ranges: the exchange
//!   ends, each answer fits its budget, every differing node ends up in a listed page, and
//!   the fingerprints kept up to date equal fresh ones;
//! * **versions never go back** — a replica fed deltas in any order, duplicated, stale,
//!   truncated, from the owner or from other replicas, never loses a version, always holds
//!   a prefix of the owner's state, and equals it after one complete delta;
//! * **truncated deltas** — any prefix of a delta is a valid delta: applying it, then the
//!   rest, yields the owner's state.
//!
//! Case counts are modest so the whole core suite stays fast in debug builds; the largest
//! sizes (1, 2 and 10 000 nodes) are regular tests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use leviathan_gossip_core::MIN_PACKET_SIZE;
use leviathan_gossip_core::internals::answer_summaries;
use leviathan_gossip_core::internals::{ClusterState, NodeState};
use leviathan_gossip_core::{Node, NodeConfig, Outputs};
use leviathan_gossip_wire::{
    Ack, Digest, Generation, Header, Incarnation, Key, MAX_NAME_LEN, Message, NameRange, NodeDelta,
    NodeId, NodeName, NodeStatus, Packet, RangeClaims, RangeSummary, Record, Version,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

// ---------------------------------------------------------------------------------------
// Building blocks
// ---------------------------------------------------------------------------------------

/// Text of at most `len` bytes (at least one character) drawn deterministically from
/// `seed`, starting with `first`; some characters take two bytes.
fn text(first: char, len: usize, seed: u64) -> String {
    const CHARS: [char; 12] = ['a', 'b', 'c', 'x', 'y', 'z', '0', '9', '-', '.', 'é', 'ß'];
    let mut state = seed | 1;
    let mut out = String::from(first);
    loop {
        // xorshift64: cheap, deterministic filler.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let c = CHARS[(state % CHARS.len() as u64) as usize];
        if out.len() + c.len_utf8() > len {
            return out;
        }
        out.push(c);
    }
}

fn address(index: usize, v6: bool) -> SocketAddr {
    let port = 1000 + (index % 60_000) as u16;
    if v6 {
        let ip: [u16; 8] = [0xfd00, 0, 0, 0, 0, 0, (index >> 16) as u16, index as u16];
        SocketAddr::from((ip, port))
    } else {
        SocketAddr::from((
            [10, (index >> 16) as u8, (index >> 8) as u8, index as u8],
            port,
        ))
    }
}

/// How a counter (generation, heartbeat, version) is sized: small, or near `u64::MAX` so
/// its varint takes the full 10 bytes.
fn counter(big: bool, small: u64) -> u64 {
    if big {
        u64::MAX - 1_000 + small % 500
    } else {
        small
    }
}

/// One node of a generated cluster, as its owner knows it.
#[derive(Debug, Clone)]
struct PeerSpec {
    name_len: usize,
    name_seed: u64,
    v6: bool,
    big_counters: bool,
    generation: u64,
    incarnation: u64,
    /// Version of the first record; the others follow with gaps of one.
    first_version: u64,
    /// (key length, value length; `None`: tombstone).
    records: Vec<(usize, Option<usize>)>,
}

/// What a node fed with a cluster knows of one of its peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum View {
    /// Nothing.
    Unknown,
    /// Its first records only (a truncated delta).
    Prefix(usize),
    /// Everything.
    Full,
    /// An older incarnation.
    OlderGeneration,
}

fn peer_spec(max_records: usize, max_value: usize) -> impl Strategy<Value = PeerSpec> {
    let record = (1..=MAX_NAME_LEN, prop::option::weighted(0.9, 0..=max_value));
    (
        1..=MAX_NAME_LEN,
        any::<u64>(),
        any::<bool>(),
        prop::bool::weighted(0.2),
        2..1_000u64,
        0..1_000u64,
        1..1_000u64,
        vec(record, 0..=max_records),
    )
        .prop_map(
            |(name_len, name_seed, v6, big_counters, generation, incarnation, first, records)| {
                PeerSpec {
                    name_len,
                    name_seed,
                    v6,
                    big_counters,
                    generation,
                    incarnation,
                    first_version: first,
                    records,
                }
            },
        )
}

fn view() -> impl Strategy<Value = View> {
    prop_oneof![
        1 => Just(View::Unknown),
        1 => (0..4usize).prop_map(View::Prefix),
        2 => Just(View::Full),
        1 => Just(View::OlderGeneration),
    ]
}

/// A cluster of `n` peers drawn from `seed` like `peer_spec(2, 200)` and `view()` would,
/// without the cost of generating (and shrinking) thousands of values with proptest.
fn large_cluster(n: usize, seed: u64) -> Vec<(PeerSpec, View, View)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let view = |rng: &mut ChaCha8Rng| match rng.random_range(0..5) {
        0 => View::Unknown,
        1 => View::Prefix(rng.random_range(0..4)),
        2 => View::OlderGeneration,
        _ => View::Full,
    };
    (0..n)
        .map(|_| {
            let records = (0..rng.random_range(0..=2))
                .map(|_| {
                    let value = rng.random_bool(0.9).then(|| rng.random_range(0..=200));
                    (rng.random_range(1..=MAX_NAME_LEN), value)
                })
                .collect();
            let spec = PeerSpec {
                name_len: rng.random_range(1..=MAX_NAME_LEN),
                name_seed: rng.random(),
                v6: rng.random(),
                big_counters: rng.random_bool(0.2),
                generation: rng.random_range(2..1_000),
                incarnation: rng.random_range(0..1_000),
                first_version: rng.random_range(1..1_000),
                records,
            };
            let (t_view, s_view) = (view(&mut rng), view(&mut rng));
            (spec, t_view, s_view)
        })
        .collect()
}

/// The full delta of `spec` (the `index`-th node of its cluster), as its owner would send
/// it to a peer that never saw it.
fn full_delta(spec: &PeerSpec, index: usize) -> NodeDelta {
    let big = spec.big_counters;
    let first = counter(big, spec.first_version);
    let records: Vec<Record> = spec
        .records
        .iter()
        .enumerate()
        .map(|(i, &(key_len, value_len))| Record {
            key: record_key(i, key_len, spec.name_seed),
            version: Version(first + 2 * i as u64),
            value: value_len.map(|len| Bytes::from(vec![b'v'; len])),
        })
        .collect();
    NodeDelta {
        node: NodeId {
            name: NodeName::new(text('p', spec.name_len, spec.name_seed)).unwrap(),
            address: address(index, spec.v6),
            generation: Generation(counter(big, spec.generation)),
        },
        incarnation: Incarnation(counter(big, spec.incarnation)),
        status: NodeStatus::Alive,
        gc_watermark: Version(0),
        from_version: Version(0),
        to_version: records.last().map_or(Version(0), |r| r.version),
        complete: false,
        records,
    }
}

/// The `index`-th key of a node: unique within it, about `len` bytes long.
fn record_key(index: usize, len: usize, seed: u64) -> Key {
    let prefix = index.to_string();
    let key = match len.checked_sub(prefix.len()) {
        Some(rest) if rest > 0 => prefix + &text('k', rest, seed),
        _ => prefix,
    };
    Key::new(key).unwrap()
}

/// What a node with `view` of the peer is fed, if anything.
fn viewed_delta(full: &NodeDelta, view: View) -> Option<NodeDelta> {
    let mut delta = full.clone();
    match view {
        View::Unknown => return None,
        View::Full => {}
        View::Prefix(len) => delta.records.truncate(len),
        View::OlderGeneration => delta.node.generation = Generation(delta.node.generation.0 - 1),
    }
    Some(delta)
}

fn config(max_packet_size: usize) -> NodeConfig {
    NodeConfig {
        max_packet_size,
        ..NodeConfig::default()
    }
}

/// A node named `name` (unlike every generated peer name, it starts with an upper-case
/// letter) at `address`, generation `generation`, whose one seed is `seed`.
fn node(
    config: &NodeConfig,
    name: &str,
    address: SocketAddr,
    generation: u64,
    seed: SocketAddr,
    now: Instant,
) -> Node {
    let id = NodeId {
        name: NodeName::new(name).unwrap(),
        address,
        generation: Generation(generation),
    };
    Node::new(config.clone(), id, [seed], now, 7).unwrap()
}

/// Hands `node` the deltas as one (oversized, never encoded) `Ack`: the cheap way to give
/// it a large state.
fn feed(node: &mut Node, deltas: Vec<NodeDelta>, now: Instant) {
    let packet = Packet {
        header: Header {
            cluster_id: node.config().cluster_id.clone(),
            sender: NodeName::new("Feeder").unwrap(),
            generation: Generation(1),
            incarnation: leviathan_gossip_wire::Incarnation(0),
        },
        message: Message::Ack(Ack::with_deltas(deltas)),
    };
    node.handle_packet(address(4 << 20, false), packet, now);
    node.drain(&mut Outputs::default());
}

/// Every packet `from` has to send, each checked against its `max_packet_size` and the
/// exactness of `encoded_len`.
fn drain_checked(from: &mut Node) -> Vec<Packet> {
    let max = from.config().max_packet_size;
    let mut packets = Vec::new();
    let mut outputs = Outputs::default();
    from.drain(&mut outputs);
    for transmit in outputs.transmits {
        let len = transmit.packet.encoded_len();
        assert!(
            len <= max,
            "{} built a {len}-byte {} over max_packet_size {max}",
            from.identity(),
            transmit.packet.message.kind().name()
        );
        assert_eq!(transmit.packet.encode().len(), len);
        packets.push(transmit.packet);
    }
    packets
}

/// Plays handshakes between `a` and `b` until both are quiet: whatever either sends, to
/// whomever, is delivered to the other. Returns the packets, all checked.
fn exchange(a: &mut Node, b: &mut Node, now: Instant) -> Vec<Packet> {
    let mut all = Vec::new();
    loop {
        let from_a = drain_checked(a);
        let from_b = drain_checked(b);
        if from_a.is_empty() && from_b.is_empty() {
            return all;
        }
        for packet in from_a {
            b.handle_packet(a.identity().address, packet.clone(), now);
            all.push(packet);
        }
        for packet in from_b {
            a.handle_packet(b.identity().address, packet.clone(), now);
            all.push(packet);
        }
    }
}

/// The bound scenario. A target node `T` knows the cluster through `t_views` and owns a
/// key holding the largest value it accepts; a peer `S` knows it through `s_views`.
/// 1. A newcomer `C` (which knows nobody: to `T`, every node is never-seen) calls `T`;
///    the exchange that follows must fit and bring `C` some state.
/// 2. A newcomer `D` that knows exactly the nodes `T` does not calls `T`: `T`'s `SynAck`
///    holds as many requests as it allows besides never-seen deltas; `D` answers them.
/// 3. Then `S` and `T` gossip for a few rounds, each comparing its digest with the other's
///    by ranges, then requests and deltas.
///
/// Every packet is checked by `drain_checked`.
fn check_packet_bound(
    max_packet_size: usize,
    own_name_len: usize,
    cluster: &[(PeerSpec, View, View)],
) {
    let config = config(max_packet_size);
    let t0 = Instant::now();
    let own = |first: char| text(first, own_name_len, own_name_len as u64);
    let (t_address, s_address) = (address(1 << 20, true), address(2 << 20, false));
    let mut t = node(&config, &own('T'), t_address, 5, s_address, t0);
    let mut s = node(&config, &own('S'), s_address, 9, t_address, t0);
    let mut c = node(&config, &own('C'), address(3 << 20, true), 3, t_address, t0);
    let mut d = node(
        &config,
        &own('D'),
        address(5 << 20, false),
        4,
        t_address,
        t0,
    );

    let key = Key::new(text('K', MAX_NAME_LEN, 1)).unwrap();
    let max_value = t.max_value_len(&key);
    t.set(key.clone(), Bytes::from(vec![0; max_value])).unwrap();
    let refused = t.set(key, Bytes::from(vec![0; max_value + 1]));
    assert!(refused.is_err(), "a value over max_value_len was accepted");

    let mut names = BTreeSet::new();
    let (mut t_deltas, mut s_deltas, mut d_deltas) = (Vec::new(), Vec::new(), Vec::new());
    for (index, (spec, t_view, s_view)) in cluster.iter().enumerate() {
        let full = full_delta(spec, index);
        if !names.insert(full.node.name.clone()) {
            continue; // a repeated name: one node per name
        }
        t_deltas.extend(viewed_delta(&full, *t_view));
        s_deltas.extend(viewed_delta(&full, *s_view));
        if *t_view == View::Unknown {
            d_deltas.push(full);
        }
    }
    feed(&mut t, t_deltas, t0);
    feed(&mut s, s_deltas, t0);
    feed(&mut d, d_deltas, t0);

    // 1. The newcomer's first call: an empty digest (but for itself).
    c.handle_timeout(t0);
    let syn = drain_checked(&mut c);
    assert_eq!(syn.len(), 1, "a lonely newcomer calls its one seed");
    for packet in syn {
        match &packet.message {
            Message::Syn(syn) => {
                assert_eq!(syn.ranges.summaries.len(), 1);
                assert_eq!(syn.ranges.summaries[0].fingerprint.count, 1);
            }
            other => panic!("expected a Syn, got {other:?}"),
        }
        t.handle_packet(c.identity().address, packet, t0);
    }
    // T asks for the newcomer's page of the whole order (its own summary), the newcomer
    // lists itself, and T answers with state.
    let steps = exchange(&mut t, &mut c, t0);
    assert!(
        steps.iter().any(|packet| matches!(
            &packet.message,
            Message::SynAck(synack) if !synack.deltas.is_empty()
        )),
        "no SynAck to the newcomer carries state"
    );

    // 2. The newcomer that knows what T does not.
    d.handle_timeout(t0);
    exchange(&mut d, &mut t, t0);

    // 3. A few rounds between two well-informed nodes.
    for round in 0..3 {
        let now = t0 + Duration::from_secs(round);
        s.handle_timeout(now);
        exchange(&mut s, &mut t, now);
        t.handle_timeout(now);
        exchange(&mut t, &mut s, now);
    }
}

// ---------------------------------------------------------------------------------------
// Packet bound
// ---------------------------------------------------------------------------------------

/// Cluster sizes are the target node plus the generated peers: 1 to 10 000 nodes.
fn packet_size() -> impl Strategy<Value = usize> {
    prop_oneof![
        Just(MIN_PACKET_SIZE),
        Just(1400),
        MIN_PACKET_SIZE..=9_000usize,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_packet_fits_max_packet_size(
        max_packet_size in packet_size(),
        own_name_len in 1..=MAX_NAME_LEN,
        cluster in prop_oneof![
            // Mostly small clusters with bulky nodes, sometimes up to 10 000 lighter ones.
            5 => vec((peer_spec(6, 1_500), view(), view()), 0..400),
            1 => (400..10_000usize, any::<u64>()).prop_map(|(n, seed)| large_cluster(n, seed)),
        ],
    ) {
        check_packet_bound(max_packet_size, own_name_len, &cluster);
    }
}

/// A cluster of `n` nodes (the target included) of the worst kind: maximal names, IPv6
/// addresses, 10-byte counters, maximal keys.
fn worst_cluster(n: usize, records_each: usize, value_len: usize) -> Vec<(PeerSpec, View, View)> {
    (1..n)
        .map(|i| {
            let spec = PeerSpec {
                name_len: MAX_NAME_LEN,
                name_seed: i as u64,
                v6: true,
                big_counters: true,
                generation: 7,
                incarnation: 11,
                first_version: 1,
                records: vec![(MAX_NAME_LEN, Some(value_len)); records_each],
            };
            let s_view = [View::Unknown, View::Prefix(1), View::OlderGeneration][i % 3];
            let t_view = if i % 10 == 1 {
                View::Unknown
            } else {
                View::Full
            };
            (spec, t_view, s_view)
        })
        .collect()
}

#[test]
fn packets_fit_in_a_cluster_of_one() {
    for max in [MIN_PACKET_SIZE, 1400, 9_000] {
        check_packet_bound(max, MAX_NAME_LEN, &[]);
        check_packet_bound(max, 1, &[]);
    }
}

#[test]
fn packets_fit_in_a_cluster_of_two() {
    for max in [MIN_PACKET_SIZE, 1400, 9_000] {
        for value_len in [0, 300, 2_000] {
            check_packet_bound(max, MAX_NAME_LEN, &worst_cluster(2, 3, value_len));
        }
    }
}

#[test]
fn packets_fit_in_a_cluster_of_ten_thousand() {
    check_packet_bound(MIN_PACKET_SIZE, MAX_NAME_LEN, &worst_cluster(10_000, 1, 64));
}

/// A value of the largest size `set` accepts reaches a newcomer through a relay whose name
/// is longer than the owner's: every relay's packet has room for it.
#[test]
fn the_largest_accepted_value_travels_through_any_relay() {
    for max in [MIN_PACKET_SIZE, 1400] {
        let config = config(max);
        let t0 = Instant::now();
        let relay_address = address(2, true);
        let mut owner = node(&config, "O", address(1, false), 1, relay_address, t0);
        let relay_name = text('R', MAX_NAME_LEN, 2);
        let owner_address = address(1, false);
        let mut relay = node(&config, &relay_name, relay_address, 7, owner_address, t0);
        let newcomer_name = text('N', MAX_NAME_LEN, 3);
        let newcomer_address = address(3, true);
        let mut newcomer = node(
            &config,
            &newcomer_name,
            newcomer_address,
            3,
            relay_address,
            t0,
        );
        let key = Key::new(text('K', MAX_NAME_LEN, 4)).unwrap();
        let len = owner.max_value_len(&key);
        owner.set(key.clone(), Bytes::from(vec![1; len])).unwrap();
        for round in 0..3 {
            let now = t0 + Duration::from_secs(round);
            owner.handle_timeout(now);
            exchange(&mut owner, &mut relay, now);
        }
        assert_eq!(relay.get("O", key.as_str()).map(Bytes::len), Some(len));
        let mut rounds = 0;
        while newcomer.get("O", key.as_str()).is_none() {
            rounds += 1;
            assert!(
                rounds <= 4,
                "max {max}: no progress after {rounds} handshakes"
            );
            let now = t0 + Duration::from_secs(10 + rounds);
            newcomer.handle_timeout(now);
            relay.handle_timeout(now);
            exchange(&mut newcomer, &mut relay, now);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Page cycles
// ---------------------------------------------------------------------------------------

/// A cluster state holding `names`, each with one record.
fn cluster_state(names: &[String]) -> ClusterState {
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let name = NodeName::new(name).unwrap();
            (name.clone(), owner_state(&name, i))
        })
        .collect()
}

fn owner_state(name: &NodeName, index: usize) -> NodeState {
    let id = NodeId {
        name: name.clone(),
        address: address(index, index.is_multiple_of(2)),
        generation: Generation(counter(index.is_multiple_of(5), 3)),
    };
    let mut state = NodeState::new(id, Incarnation(index as u64));
    state.write(Key::new("k").unwrap(), Some(Bytes::from_static(b"v")));
    state
}

/// Smallest body budget a node can have: a `MIN_PACKET_SIZE` packet minus the largest
/// header (maximal cluster id and sender name, 10-byte generation) and the kind byte.
const MIN_BODY_BUDGET: usize = MIN_PACKET_SIZE - (2 + 1 + 129 + 129 + 10) - 1;

/// The exchange about ranges alone between `a` (opening with its root fingerprint) and
/// `b`, each answer within `budget`: returns the pages listed, by either side.
fn descend(a: &ClusterState, b: &ClusterState, budget: usize, start: usize) -> Vec<Digest> {
    let mut summaries = vec![RangeSummary {
        range: NameRange::ALL,
        fingerprint: a.fingerprint(&NameRange::ALL),
    }];
    let mut pages = Vec::new();
    let sides = [b, a];
    for step in 0.. {
        assert!(step <= 40, "an exchange about ranges that does not end");
        if summaries.is_empty() {
            break;
        }
        let answer = answer_summaries(sides[step % 2], &summaries, budget, start + step);
        assert!(
            answer.encoded_len() <= budget.max(RangeClaims::EMPTY_LEN),
            "answer of {} bytes > {budget}",
            answer.encoded_len()
        );
        for page in &answer.pages {
            let inside: Vec<&NodeName> = page.entries.iter().map(|e| &e.name).collect();
            assert!(inside.windows(2).all(|w| w[0] < w[1]), "entries sorted");
            assert!(
                inside.iter().all(|name| page.covers(name)),
                "entries in range"
            );
            assert_eq!(
                page.entries.len(),
                sides[step % 2].in_range(&page.range).count(),
                "a page lists every node of its range"
            );
        }
        pages.extend(answer.pages);
        summaries = answer.summaries;
    }
    pages
}

/// Exchanges about ranges between `a` and `b` until their digests agree, each time
/// making `b` agree with `a` on the nodes of the pages listed (as the deltas and requests
/// that follow pages do); each exchange must repair something. Returns the exchanges.
fn reconcile_fully(a: &ClusterState, mut b: ClusterState, budget: usize, start: usize) -> usize {
    for exchange in 1.. {
        let pages = descend(a, &b, budget, start + exchange);
        if pages.is_empty() {
            assert_eq!(
                a.fingerprint(&NameRange::ALL),
                b.fingerprint(&NameRange::ALL),
                "the exchange ended with the digests still differing"
            );
            return exchange;
        }
        let mut repaired = 0;
        for page in &pages {
            let names: BTreeSet<NodeName> = a
                .in_range(&page.range)
                .chain(b.in_range(&page.range))
                .map(|(name, _)| name.clone())
                .collect();
            for name in names {
                let (ours, theirs) = (a.get(&name), b.get(&name));
                if ours.map(NodeState::max_version) == theirs.map(NodeState::max_version) {
                    continue;
                }
                repaired += 1;
                match ours {
                    Some(node) => b.insert(name, node.clone()),
                    None => b.remove(&name),
                };
            }
        }
        assert!(
            repaired > 0,
            "exchange {exchange} listed pages but found nothing"
        );
    }
    unreachable!()
}

/// How `b` differs from a copy of `a`: nodes only `a` holds, nodes only `b` holds, nodes
/// `b` holds a later version of.
fn diverge(
    names: &[String],
    only_a: &[usize],
    only_b: &[String],
    newer_in_b: &[usize],
) -> (ClusterState, ClusterState, BTreeSet<NodeName>) {
    let a = cluster_state(names);
    let mut b = a.clone();
    let mut differing = BTreeSet::new();
    for index in only_a {
        let name = NodeName::new(&names[index % names.len()]).unwrap();
        if b.remove(&name).is_some() {
            differing.insert(name);
        }
    }
    for (i, extra) in only_b.iter().enumerate() {
        let name = NodeName::new(extra).unwrap();
        if !a.contains_key(&name) {
            b.insert(name.clone(), owner_state(&name, 100_000 + i));
            differing.insert(name);
        }
    }
    for index in newer_in_b {
        let name = NodeName::new(&names[index % names.len()]).unwrap();
        if let Some(mut node) = b.get_mut(&name) {
            node.write(Key::new("k").unwrap(), None);
            differing.insert(name);
        }
    }
    (a, b, differing)
}

fn names(count: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = BTreeSet<String>> {
    vec((1..=MAX_NAME_LEN, any::<u64>()), count).prop_map(|specs| {
        specs
            .into_iter()
            .map(|(len, seed)| text('n', len, seed))
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Two digests that differ in a few nodes: every exchange about ranges ends, every
    /// answer fits its budget (a packet's, or the smallest a node can have), and each
    /// exchange lists a page that holds a difference until the digests agree.
    #[test]
    fn range_exchanges_find_every_difference_within_the_budget(
        names in names(1..=1_500),
        only_a in vec(any::<usize>(), 0..4),
        only_b in names(0..=3),
        newer_in_b in vec(any::<usize>(), 0..4),
        start in 0..50usize,
    ) {
        let names: Vec<String> = names.into_iter().collect();
        let only_b: Vec<String> = only_b.into_iter().collect();
        let (a, b, differing) = diverge(&names, &only_a, &only_b, &newer_in_b);
        for budget in [1_400 / 2, MIN_BODY_BUDGET / 2] {
            let exchanges = reconcile_fully(&a, b.clone(), budget, start);
            prop_assert!(
                exchanges <= differing.len() + 1,
                "{} exchanges for {} differences", exchanges, differing.len()
            );
        }
    }

    /// The fingerprints kept up to date through inserts, changes and removals equal those
    /// computed afresh from the nodes, over ranges of every width.
    #[test]
    fn kept_fingerprints_equal_fresh_ones(
        names in names(1..=600),
        changes in vec((any::<Index>(), 0..3u8), 0..60),
        probes in vec((0..=64u8, any::<u64>()), 1..20),
    ) {
        let names: Vec<String> = names.into_iter().collect();
        let mut state = cluster_state(&names);
        for (index, change) in changes {
            let name = NodeName::new(&names[index.index(names.len())]).unwrap();
            match change {
                0 => {
                    state.remove(&name);
                }
                1 => {
                    state.insert(name.clone(), owner_state(&name, index.index(1_000)));
                }
                _ => {
                    if let Some(mut node) = state.get_mut(&name) {
                        node.write(Key::new("k").unwrap(), None);
                        let next = Incarnation(node.incarnation().0 + 1);
                        node.observe_incarnation(next);
                    }
                }
            }
        }
        let fresh: ClusterState = state
            .iter()
            .map(|(name, node)| (name.clone(), node.clone()))
            .collect();
        for (bits, hash) in probes {
            let range = NameRange::new(bits, if bits == 0 { 0 } else { hash >> (64 - u32::from(bits)) })
                .unwrap();
            prop_assert_eq!(state.fingerprint(&range), fresh.fingerprint(&range));
        }
        prop_assert_eq!(state.fingerprint(&NameRange::ALL), fresh.fingerprint(&NameRange::ALL));
    }
}

/// A name unique to `index`, `len` bytes long (or its index's hex digits if longer).
fn indexed_name(index: usize, len: usize) -> String {
    let prefix = format!("{index:x}");
    match len.checked_sub(prefix.len()) {
        Some(rest) if rest > 0 => prefix + &text('n', rest, index as u64),
        _ => prefix,
    }
}

#[test]
fn range_exchanges_at_ten_thousand_nodes_end_in_a_few_steps() {
    for len in [1, 16, MAX_NAME_LEN] {
        let names: Vec<String> = (0..10_000).map(|i| indexed_name(i, len)).collect();
        let (a, b, differing) = diverge(&names, &[], &[], &[1_234, 9_000]);
        assert_eq!(differing.len(), 2);
        let exchanges = reconcile_fully(&a, b, 1_400 / 2, 0);
        assert!(exchanges <= 3, "{exchanges} exchanges");
    }
}

// ---------------------------------------------------------------------------------------
// Versions never go back; truncated deltas are prefixes
// ---------------------------------------------------------------------------------------

/// Keys the owner writes (few, so they are overwritten and deleted often).
const KEYS: [&str; 5] = ["a", "b", "c", "d", "e"];

/// The one incarnation every state in these tests is about.
fn incarnation() -> NodeId {
    NodeId {
        name: NodeName::new("owner").unwrap(),
        address: address(1, false),
        generation: Generation(1),
    }
}

/// An owner write: key index and value (`None`: delete).
type Write = (usize, Option<u8>);

fn write() -> impl Strategy<Value = Write> {
    (0..KEYS.len(), prop::option::weighted(0.75, any::<u8>()))
}

fn apply_write(owner: &mut NodeState, (key, value): Write) {
    let value = value.map(|byte| Bytes::from(vec![byte; 1 + usize::from(byte % 4)]));
    owner.write(Key::new(KEYS[key]).unwrap(), value);
}

/// All current records (tombstones included), in version order, and the max version.
fn contents(state: &NodeState) -> (Version, Vec<Record>) {
    (
        state.max_version(),
        state.records_after(Version(0)).collect(),
    )
}

/// The delta `source` would send a peer it believes holds everything up to `from`,
/// truncated to its first `keep` records.
fn delta_from(source: &NodeState, from: Version, keep: usize) -> NodeDelta {
    let mut delta = NodeDelta {
        node: source.node_id(&incarnation().name),
        incarnation: source.incarnation(),
        status: source.status(),
        gc_watermark: Version(0),
        from_version: from,
        records: source.records_after(from).take(keep).collect(),
        to_version: from,
        complete: false,
    };
    delta.to_version = delta.last_version();
    delta
}

/// The replica holds a prefix of the owner's current state: every current record of the
/// owner at or below the replica's max version, exactly.
fn assert_prefix_of(replica: &NodeState, owner: &NodeState) {
    for record in owner.records_after(Version(0)) {
        if record.version > replica.max_version() {
            break;
        }
        let held = replica.record(record.key.as_str());
        assert_eq!(
            held.map(|v| (v.version, v.value.clone())),
            Some((record.version, record.value.clone())),
            "replica at {} lacks {record:?}",
            replica.max_version()
        );
    }
}

/// One step of the anti-entropy model.
#[derive(Debug, Clone)]
enum Step {
    /// The owner writes.
    Write(Write),
    /// `source` (0: the owner, else a replica) sends `target` (a replica) a delta from a
    /// version picked by `from` (at or below what the target holds, as a possibly stale
    /// digest would say; or above it when `gap`), truncated to `keep` records.
    Sync {
        source: usize,
        target: usize,
        from: Index,
        gap: bool,
        keep: Index,
    },
    /// An old delta arrives again, at `target` (duplicated, reordered, stale).
    Replay { delta: Index, target: usize },
}

const REPLICAS: usize = 3;

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => write().prop_map(Step::Write),
        4 => (0..=REPLICAS, 1..=REPLICAS, any::<Index>(), prop::bool::weighted(0.1), any::<Index>())
            .prop_map(|(source, target, from, gap, keep)| Step::Sync { source, target, from, gap, keep }),
        1 => (any::<Index>(), 1..=REPLICAS).prop_map(|(delta, target)| Step::Replay { delta, target }),
    ]
}

/// Applies `delta` to `replica`, checking that nothing goes back, that a refused delta
/// changes nothing, and that the replica stays a prefix of `owner`.
fn apply_checked(replica: &mut NodeState, delta: &NodeDelta, owner: &NodeState) {
    let before = contents(replica);
    let result = replica.apply(delta);
    let after = contents(replica);
    if delta.from_version > before.0 {
        assert!(result.is_err(), "a delta with a gap was applied");
    }
    if result.is_err() {
        assert_eq!(after, before, "a refused delta changed the state");
    }
    assert!(after.0 >= before.0, "max version went back");
    for old in &before.1 {
        let now = replica.record(old.key.as_str()).map(|v| v.version);
        assert!(now >= Some(old.version), "{} went back", old.key);
    }
    assert_prefix_of(replica, owner);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn versions_never_go_back(steps in vec(step(), 1..80)) {
        let mut owner = NodeState::new(incarnation(), Incarnation(0));
        let mut replicas: Vec<NodeState> =
            (0..REPLICAS).map(|_| NodeState::new(incarnation(), Incarnation(0))).collect();
        let mut sent: Vec<NodeDelta> = Vec::new();
        for step in steps {
            match step {
                Step::Write(write) => apply_write(&mut owner, write),
                Step::Sync { source, target, from, gap, keep } => {
                    let held = replicas[target - 1].max_version().0;
                    let from = if gap { held + 1 + from.index(3) as u64 } else { from.index(held as usize + 1) as u64 };
                    let source = if source == 0 { &owner } else { &replicas[source - 1] };
                    let available = source.records_after(Version(from)).count();
                    let delta = delta_from(source, Version(from), keep.index(available + 1));
                    apply_checked(&mut replicas[target - 1], &delta, &owner);
                    sent.push(delta);
                }
                Step::Replay { delta, target } => {
                    if !sent.is_empty() {
                        let delta = sent[delta.index(sent.len())].clone();
                        apply_checked(&mut replicas[target - 1], &delta, &owner);
                    }
                }
            }
        }
        for replica in &mut replicas {
            let complete = delta_from(&owner, replica.max_version(), usize::MAX);
            apply_checked(replica, &complete, &owner);
            prop_assert_eq!(contents(replica), contents(&owner));
        }
    }

    #[test]
    fn a_truncated_delta_is_a_valid_prefix(
        early in vec(write(), 0..30),
        late in vec(write(), 0..30),
        first_keep in any::<Index>(),
        keep in any::<Index>(),
    ) {
        // The replica caught up with part of the owner's earlier state.
        let mut owner = NodeState::new(incarnation(), Incarnation(0));
        for write in early {
            apply_write(&mut owner, write);
        }
        let mut replica = NodeState::new(incarnation(), Incarnation(0));
        let all = owner.records_after(Version(0)).count();
        let first = delta_from(&owner, Version(0), first_keep.index(all + 1));
        apply_checked(&mut replica, &first, &owner);
        // From empty, a prefix of k records is exactly the owner's first k records.
        prop_assert_eq!(contents(&replica).1, first.records.clone());

        // The owner moves on; the replica gets any prefix of its delta, then the rest.
        for write in late {
            apply_write(&mut owner, write);
        }
        let from = replica.max_version();
        let missing = owner.records_after(from).count();
        let prefix = delta_from(&owner, from, keep.index(missing + 1));
        apply_checked(&mut replica, &prefix, &owner);
        prop_assert_eq!(replica.max_version(), prefix.to_version);
        let rest = delta_from(&owner, replica.max_version(), usize::MAX);
        apply_checked(&mut replica, &rest, &owner);
        prop_assert_eq!(contents(&replica), contents(&owner));
    }
}
