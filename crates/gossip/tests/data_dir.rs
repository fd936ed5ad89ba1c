//! A node with a data directory keeps its own keys and a growing generation across
//! restarts, over real UDP on 127.0.0.1; a directory of another node is refused.
#![cfg(feature = "durable")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use leviathan_gossip::Version;
use leviathan_gossip::{Config, Error, Gossip, MemberState, StartError};

const PATIENCE: Duration = Duration::from_secs(20);

fn config(name: &str, seeds: &[SocketAddr], data_dir: Option<&Path>) -> Config {
    Config {
        name: name.to_string(),
        listen: "127.0.0.1:0".parse().unwrap(),
        seeds: seeds.iter().map(ToString::to_string).collect(),
        data_dir: data_dir.map(Path::to_path_buf),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_keys_and_generation_survive_a_restart_and_reach_peers() {
    let dir = tempfile::tempdir().unwrap();
    let peer = Gossip::start(config("peer", &[], None)).await.unwrap();
    let seed = peer.local_addr().unwrap();

    let first = Gossip::start(config("durable", &[seed], Some(dir.path())))
        .await
        .unwrap();
    let first_generation = first.identity().generation;
    assert_eq!(first.set("kept", "v1").unwrap(), Version(1));
    assert_eq!(first.set("kept", "v2").unwrap(), Version(2));
    assert_eq!(first.set("gone", "x").unwrap(), Version(3));
    assert_eq!(first.del("gone").unwrap(), Some(Version(4)));
    assert_eq!(first.del("never-set").unwrap(), None);
    // A crash, not a leave: nothing is announced.
    first.shutdown().await;
    drop(first);

    // The clock "goes back": an explicit generation below the previous one.
    let again = Config {
        generation: Some(5),
        ..config("durable", &[seed], Some(dir.path()))
    };
    let second = Gossip::start(again).await.unwrap();
    let generation = second.identity().generation;
    assert!(
        generation > first_generation,
        "generation {generation:?} after {first_generation:?}"
    );
    let own: Vec<(String, u64, Vec<u8>)> = second
        .entries("durable")
        .into_iter()
        .map(|(key, version, value)| (key.to_string(), version.0, value.to_vec()))
        .collect();
    assert_eq!(own, [("kept".to_string(), 2, b"v2".to_vec())]);
    assert_eq!(second.set("after", "restart").unwrap(), Version(5));

    eventually("the peer to see the new generation with its keys", || {
        peer.members().iter().any(|m| {
            m.id.name.as_str() == "durable"
                && m.id.generation == generation
                && m.state == MemberState::Live
        }) && peer.get("durable", "kept").as_deref() == Some(&b"v2"[..])
            && peer.get("durable", "after").as_deref() == Some(&b"restart"[..])
    })
    .await;
    assert_eq!(peer.getn("durable", "kept"), Some(Version(2)));
    assert_eq!(peer.get("durable", "gone"), None);
    second.shutdown().await;
    peer.shutdown().await;
}

#[tokio::test]
async fn a_data_directory_is_refused_to_another_node_and_while_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let owner = Gossip::start(config("owner", &[], Some(dir.path())))
        .await
        .unwrap();
    owner.set("k", "v").unwrap();
    let in_use = Gossip::start(config("owner", &[], Some(dir.path()))).await;
    assert!(
        matches!(in_use, Err(StartError::DataDir(_))),
        "second opener: {in_use:?}"
    );
    owner.shutdown().await;
    drop(owner);
    let foreign = Gossip::start(config("intruder", &[], Some(dir.path()))).await;
    let error = foreign.expect_err("another node's directory must be refused");
    assert!(matches!(error, StartError::DataDir(_)), "{error}");
    assert!(error.to_string().contains("owner"), "{error}");
    // The refused start changed nothing: the owner still finds its key.
    let back = Gossip::start(config("owner", &[], Some(dir.path())))
        .await
        .unwrap();
    assert_eq!(back.get("owner", "k").as_deref(), Some(&b"v"[..]));
    assert!(matches!(back.set("", "x"), Err(Error::InvalidKey { .. })));
    back.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_durable_writes_each_get_their_own_version_and_all_survive_a_restart() {
    const WRITERS: usize = 8;
    const EACH: usize = 40;
    let dir = tempfile::tempdir().unwrap();
    let node = std::sync::Arc::new(
        Gossip::start(config("grouped", &[], Some(dir.path())))
            .await
            .unwrap(),
    );
    // Plain threads, as an application calling the blocking `set` would: writes arriving
    // while a group is being made durable go together in the next one.
    let threads: Vec<_> = (0..WRITERS)
        .map(|w| {
            let node = std::sync::Arc::clone(&node);
            std::thread::spawn(move || {
                (0..EACH)
                    .map(|i| node.set(format!("w{w}-{i}"), format!("{w}/{i}")).unwrap())
                    .collect::<Vec<Version>>()
            })
        })
        .collect();
    let mut versions: Vec<u64> = threads
        .into_iter()
        .flat_map(|thread| thread.join().unwrap())
        .map(|version| version.0)
        .collect();
    versions.sort_unstable();
    let expected: Vec<u64> = (1..=(WRITERS * EACH) as u64).collect();
    assert_eq!(
        versions, expected,
        "every write its own version, none skipped"
    );
    node.shutdown().await;
    drop(node);
    let back = Gossip::start(config("grouped", &[], Some(dir.path())))
        .await
        .unwrap();
    assert_eq!(back.entries("grouped").len(), WRITERS * EACH);
    assert_eq!(back.get("grouped", "w7-39").as_deref(), Some(&b"7/39"[..]));
    back.shutdown().await;
}
