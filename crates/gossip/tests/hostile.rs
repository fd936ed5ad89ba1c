//! Hostile input over real UDP on 127.0.0.1: a flood of garbage from one source is cut to
//! that source's allowance before anything is parsed, and the node keeps serving its peers;
//! a forged claim about a node's generation cannot stop it from restarting.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

#[cfg(feature = "durable")]
use leviathan_gossip::wire::{
    ClusterId, DigestEntry, Generation, Header, Incarnation, Message, NodeDelta, NodeId, NodeName,
    NodeStatus, Packet, RangeClaims, Syn, SynAck, Version,
};
use leviathan_gossip::{Config, Gossip, MemberState};
use tokio::net::UdpSocket;

fn config(name: &str, seeds: &[SocketAddr]) -> Config {
    Config {
        name: name.to_string(),
        listen: "127.0.0.1:0".parse().unwrap(),
        seeds: seeds.iter().map(ToString::to_string).collect(),
        max_datagrams_per_source: 100,
        ..Config::local()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_from_one_source_is_cut_to_its_allowance() {
    let target = Gossip::start(config("target", &[])).await.unwrap();
    let address = target.local_addr().unwrap();
    let flooder = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let garbage = [0x4c, 0x47, 0x03, 0xff, 0xff, 0xff, 0xff];
    for _ in 0..5_000 {
        flooder.send_to(&garbage, address).await.unwrap();
    }
    // A real peer still gets in while the flood is being dropped.
    let peer = Gossip::start(config("peer", &[address])).await.unwrap();
    peer.set("k", "v").unwrap();
    let start = Instant::now();
    while target.get("peer", "k").is_none()
        || !target
            .members()
            .iter()
            .any(|m| m.id.name.as_str() == "peer" && m.state == MemberState::Live)
    {
        assert!(
            start.elapsed() < Duration::from_secs(8),
            "the peer never got in"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let dropped = target.transport_stats().dropped_rate_limited;
    let parsed = target.stats().dropped_malformed;
    // Some datagrams may be lost by the kernel; of those read, at most the burst (100) and
    // what the bucket refilled meanwhile were parsed.
    assert!(dropped > 0, "nothing was rate-limited");
    assert!(parsed <= 200, "{parsed} garbage datagrams were parsed");
}

/// A Syn from a non-member whose news claims `victim` is at `generation`.
#[cfg(feature = "durable")]
fn forged_claim(cluster_id: &str, victim: &str, generation: Generation) -> Vec<u8> {
    Packet {
        header: Header {
            cluster_id: ClusterId::new(cluster_id).unwrap(),
            sender: NodeName::new("attacker").unwrap(),
            generation: Generation(1),
            incarnation: Incarnation(1),
        },
        message: Message::Syn(Syn {
            rumors: Vec::new(),
            ranges: RangeClaims::default(),
            news: vec![DigestEntry {
                name: NodeName::new(victim).unwrap(),
                generation,
                incarnation: Incarnation(1),
                max_version: Version(0),
                gc_watermark: Version(0),
                status: NodeStatus::Alive,
            }],
        }),
    }
    .encode()
    .to_vec()
}

/// A SynAck from a non-member holding `victim` at `generation`, at `address`.
#[cfg(feature = "durable")]
fn forged_answer(
    cluster_id: &str,
    victim: &str,
    address: SocketAddr,
    generation: Generation,
) -> Vec<u8> {
    Packet {
        header: Header {
            cluster_id: ClusterId::new(cluster_id).unwrap(),
            sender: NodeName::new("attacker").unwrap(),
            generation: Generation(1),
            incarnation: Incarnation(1),
        },
        message: Message::SynAck(SynAck {
            deltas: vec![NodeDelta {
                node: NodeId {
                    name: NodeName::new(victim).unwrap(),
                    address,
                    generation,
                },
                incarnation: Incarnation(1),
                status: NodeStatus::Alive,
                gc_watermark: Version(0),
                from_version: Version(0),
                to_version: Version(0),
                complete: true,
                records: Vec::new(),
            }],
            ..SynAck::default()
        }),
    }
    .encode()
    .to_vec()
}

#[cfg(feature = "durable")]
async fn until(what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[cfg(feature = "durable")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_generation_claim_cannot_stop_a_durable_node_from_restarting() {
    const DAY_MS: u64 = 24 * 3600 * 1000;
    let dir = tempfile::tempdir().unwrap();
    // The attacker is the victim's seed: what it answers to the victim's Syns is what a
    // peer the victim called holds, the only claims of a newer generation it refutes.
    let attacker = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let seed = attacker.local_addr().unwrap();
    let durable = || Config {
        data_dir: Some(dir.path().to_path_buf()),
        ..config("victim", &[seed])
    };
    let victim = Gossip::start(durable()).await.unwrap();
    let address = victim.local_addr().unwrap();
    let first = victim.identity().generation;
    let cluster_id = durable().cluster_id;

    // The largest generation there is: refused, not adopted (it used to be adopted and
    // saved, and the next start failed with GenerationExhausted).
    let forged = forged_claim(&cluster_id, "victim", Generation(u64::MAX));
    attacker.send_to(&forged, address).await.unwrap();
    until("the forged claim to be refused", || {
        victim.stats().ignored_implausible_generations == 1
    })
    .await;
    assert_eq!(victim.identity().generation, first);

    // A day ahead is plausible (a peer's clock may be wrong): refuted in memory by a
    // generation above it, which is not saved.
    let ahead = Generation(first.0 + DAY_MS);
    let mut syn = vec![0; 2048];
    let (_, from) = attacker.recv_from(&mut syn).await.unwrap();
    assert_eq!(from, address);
    let forged = forged_answer(&cluster_id, "victim", address, ahead);
    attacker.send_to(&forged, address).await.unwrap();
    until("the plausible claim to be refuted", || {
        victim.stats().reassertions == 1
    })
    .await;
    assert_eq!(victim.identity().generation, Generation(ahead.0 + 1));
    victim.shutdown().await;
    drop(victim);

    let restarted = Gossip::start(durable()).await.unwrap();
    let generation = restarted.identity().generation;
    assert!(generation > first, "{generation:?} after {first:?}");
    assert!(
        generation < ahead,
        "the generation taken from a claim was saved: {generation:?}"
    );
    restarted.shutdown().await;
}

/// A valid plaintext Ack introducing node `name` with one key holding `value_len` bytes.
fn introduction(cluster_id: &str, name: &str, value_len: usize) -> Vec<u8> {
    use leviathan_gossip::wire::{
        Ack, ClusterId, Generation, Header, Incarnation, Key, Message, NodeDelta, NodeId, NodeName,
        NodeStatus, Packet, Record, Version,
    };
    Packet {
        header: Header {
            cluster_id: ClusterId::new(cluster_id).unwrap(),
            sender: NodeName::new(name).unwrap(),
            generation: Generation(1),
            incarnation: Incarnation(0),
        },
        message: Message::Ack(Ack {
            deltas: vec![NodeDelta {
                node: NodeId {
                    name: NodeName::new(name).unwrap(),
                    address: "127.0.0.1:9".parse().unwrap(),
                    generation: Generation(1),
                },
                incarnation: Incarnation(0),
                status: NodeStatus::Alive,
                gc_watermark: Version(0),
                from_version: Version(0),
                to_version: Version(1),
                complete: true,
                records: vec![Record {
                    key: Key::new("k").unwrap(),
                    version: Version(1),
                    value: Some(vec![7u8; value_len].into()),
                }],
            }],
            ..Default::default()
        }),
    }
    .encode()
    .to_vec()
}

/// Found in review: the receive buffer took any UDP payload (64 KiB), so a datagram far
/// larger than any member sends was parsed and applied. Now one longer than
/// `max_packet_size` (plus the seal's overhead) is dropped unread, and counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_datagram_longer_than_any_member_sends_is_dropped_unread() {
    let target = Gossip::start(Config {
        max_datagrams_per_source: 10_000,
        ..config("target", &[])
    })
    .await
    .unwrap();
    let address = target.local_addr().unwrap();
    let cluster_id = Config::local().cluster_id;
    let limit = Config::local().max_packet_size;
    let sender = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let oversized = introduction(&cluster_id, "huge", 4 * limit);
    assert!(oversized.len() > limit + 51);
    sender.send_to(&oversized, address).await.unwrap();
    // A datagram within the limit, sent after it, is taken: the node did read its socket.
    let fitting = introduction(&cluster_id, "small", 100);
    assert!(fitting.len() <= limit);
    sender.send_to(&fitting, address).await.unwrap();
    let start = Instant::now();
    while target.get("small", "k").is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the fitting datagram was not taken"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        target.get("huge", "k").is_none(),
        "the oversized datagram was applied"
    );
    assert_eq!(target.transport_stats().dropped_oversized, 1);
    target.shutdown().await;
}

/// Found in review: the receive loop preferred the socket to the timer, so a sustained
/// flood of datagrams (dropped unread over the rate limit, or refused) could keep a due
/// gossip round or probe from ever running. The timer comes first now: under a flood from
/// many sources the node still runs its rounds on schedule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn due_timers_run_while_a_flood_of_datagrams_arrives() {
    let target = Gossip::start(config("target", &[])).await.unwrap();
    let address = target.local_addr().unwrap();
    let interval = Config::local().gossip_interval;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut flooders = Vec::new();
    for _ in 0..8 {
        let stop = std::sync::Arc::clone(&stop);
        flooders.push(tokio::spawn(async move {
            let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let garbage = [0u8; 8];
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for _ in 0..64 {
                    let _ = socket.send_to(&garbage, address).await;
                }
                tokio::task::yield_now().await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rounds_before = target.stats().gossip_rounds;
    let window = Duration::from_secs(2);
    tokio::time::sleep(window).await;
    let rounds = target.stats().gossip_rounds - rounds_before;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for flooder in flooders {
        flooder.await.unwrap();
    }
    let dropped = target.transport_stats().dropped_rate_limited + target.stats().dropped_malformed;
    let expected = window.as_millis() / interval.as_millis();
    assert!(
        dropped > 10_000,
        "the flood was too thin to test anything: {dropped} datagrams"
    );
    assert!(
        u128::from(rounds) * 2 >= expected,
        "{rounds} gossip rounds in {window:?} under a flood of {dropped} datagrams (expected about {expected})"
    );
    target.shutdown().await;
}
