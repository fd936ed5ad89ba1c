//! Joining robustly, over real UDP on 127.0.0.1: a seed name that does not resolve does
//! not stop the start, `join` adds addresses at run time, a silent seed is called until it
//! answers, names are resolved again, and (feature `durable`) a restarted node rejoins
//! through the members it remembers when its seeds are down.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use leviathan_gossip::{Config, Error, Gossip, MemberState};

const PATIENCE: Duration = Duration::from_secs(10);

fn config(name: &str, seeds: &[&str]) -> Config {
    Config {
        name: name.to_string(),
        listen: "127.0.0.1:0".parse().unwrap(),
        seeds: seeds.iter().map(ToString::to_string).collect(),
        ..Config::local()
    }
}

async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn sees_live(node: &Gossip, name: &str) -> bool {
    node.members()
        .iter()
        .any(|m| m.id.name.as_str() == name && m.state == MemberState::Live)
}

/// An address on 127.0.0.1 nobody listens on (bound, then released).
fn free_address() -> SocketAddr {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.local_addr().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_seed_name_does_not_resolve_starts_and_joins_at_run_time() {
    let lonely = Gossip::start(config("lonely", &["seed.leviathan.invalid:7946"]))
        .await
        .expect("an unresolvable seed name is not fatal");
    let stats = lonely.seed_stats();
    assert_eq!((stats.names, stats.unresolved), (1, 1));
    assert!(stats.resolution_failures >= 1);
    assert_eq!(stats.addresses, 0);

    let other = Gossip::start(config("other", &[])).await.unwrap();
    let other_address = other.local_addr().unwrap().to_string();

    let error = lonely
        .join(["nobody.leviathan.invalid:1"])
        .await
        .unwrap_err();
    let Error::Join { failures } = &error else {
        panic!("{error}");
    };
    assert!(
        failures[0].starts_with("nobody.leviathan.invalid:1: "),
        "{error}"
    );
    assert!(matches!(
        lonely.join(Vec::<String>::new()).await,
        Err(Error::Join { .. })
    ));

    let own = lonely.local_addr().unwrap().to_string();
    let called = lonely
        .join([other_address.as_str(), &own, "nobody.leviathan.invalid:1"])
        .await
        .unwrap();
    assert_eq!(called, 1, "its own address and the bad name skipped");
    assert_eq!(lonely.seed_stats().addresses, 1);
    eventually("both to see each other", || {
        sees_live(&lonely, "other") && sees_live(&other, "lonely")
    })
    .await;
    lonely.shutdown().await;
    other.shutdown().await;
    assert_eq!(lonely.join([other_address]).await, Err(Error::Shutdown));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_seed_is_called_until_a_node_answers_there() {
    let address = free_address();
    let early = Gossip::start(config("early", &[&address.to_string()]))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(early.members().len(), 1);
    let late = Gossip::start(Config {
        listen: address,
        ..config("late", &[])
    })
    .await
    .unwrap();
    eventually("the seed to be found", || {
        sees_live(&early, "late") && sees_live(&late, "early")
    })
    .await;
    early.shutdown().await;
    late.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_names_are_resolved_again_every_refresh_interval() {
    let target = Gossip::start(config("target", &[])).await.unwrap();
    let port = target.local_addr().unwrap().port();
    let node = Gossip::start(Config {
        seed_refresh_interval: Duration::from_millis(100),
        ..config("node", &[&format!("localhost:{port}")])
    })
    .await
    .unwrap();
    assert_eq!(node.seed_stats().unresolved, 0);
    eventually("a few resolutions", || node.seed_stats().resolutions >= 4).await;
    eventually("the seed to be found", || sees_live(&node, "target")).await;
    node.shutdown().await;
    target.shutdown().await;
}

#[cfg(feature = "durable")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_rejoins_through_the_members_it_remembers() {
    let dir = tempfile::tempdir().unwrap();
    let durable = |seeds: &[&str]| Config {
        data_dir: Some(dir.path().to_path_buf()),
        ..config("a", seeds)
    };
    let a = Gossip::start(durable(&[])).await.unwrap();
    let a_address = a.local_addr().unwrap().to_string();
    let b = Gossip::start(config("b", &[&a_address])).await.unwrap();
    let c = Gossip::start(config("c", &[&a_address])).await.unwrap();
    eventually("a to see b and c", || {
        sees_live(&a, "b") && sees_live(&a, "c")
    })
    .await;
    a.shutdown().await;
    drop(a);
    let file = std::fs::read_to_string(dir.path().join("members")).unwrap();
    assert!(file.contains(" b\n") && file.contains(" c\n"), "{file}");

    let dead = free_address().to_string();
    let a = Gossip::start(durable(&[&dead])).await.unwrap();
    assert_eq!(a.seed_stats().addresses, 3, "the dead seed, b and c");
    eventually("a to rejoin b and c", || {
        sees_live(&a, "b") && sees_live(&a, "c")
    })
    .await;
    for node in [a, b, c] {
        node.shutdown().await;
    }
}
