//! Hostile input over real UDP on 127.0.0.1: a flood of garbage from one source is cut to
//! that source's allowance before anything is parsed, and the node keeps serving its peers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

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
