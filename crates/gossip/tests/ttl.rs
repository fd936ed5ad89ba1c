//! Keys written with a time to live, over real UDP on 127.0.0.1: the owner deletes them
//! when they expire and peers see an ordinary deletion; a later plain `set` cancels the
//! expiry; with a data directory the deadline survives a restart.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::SocketAddr;
#[cfg(feature = "durable")]
use std::path::Path;
use std::time::{Duration, Instant};

#[cfg(feature = "durable")]
use leviathan_gossip::Version;
use leviathan_gossip::{Config, Error, Event, Gossip, RecvError};

/// Generous bound for anything that should take a few gossip rounds of 100 ms.
const PATIENCE: Duration = Duration::from_secs(8);
const HOUR: Duration = Duration::from_secs(3600);

fn config(name: &str, seeds: &[SocketAddr]) -> Config {
    Config {
        name: name.to_string(),
        listen: "127.0.0.1:0".parse().unwrap(),
        seeds: seeds.iter().map(ToString::to_string).collect(),
        ..Config::local()
    }
}

#[cfg(feature = "durable")]
fn durable_config(name: &str, seeds: &[SocketAddr], data_dir: &Path) -> Config {
    Config {
        data_dir: Some(data_dir.to_path_buf()),
        ..config(name, seeds)
    }
}

/// Polls `condition` every 20 ms until it holds; panics with `what` after `PATIENCE`.
async fn eventually(what: &str, mut condition: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    start.elapsed()
}

fn value(node: &Gossip, owner: &str, key: &str) -> Option<Vec<u8>> {
    node.get(owner, key).map(|value| value.to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_key_is_deleted_on_peers_and_a_plain_set_cancels_the_expiry() {
    let peer = Gossip::start(config("peer", &[])).await.unwrap();
    let owner = Gossip::start(config("owner", &[peer.local_addr().unwrap()]))
        .await
        .unwrap();
    let mut events = peer.events();

    let written = Instant::now();
    let short = owner
        .set_with_ttl("short", "gone soon", Duration::from_secs(1))
        .unwrap();
    owner
        .set_with_ttl("kept", "first", Duration::from_secs(1))
        .unwrap();
    owner.set("kept", "for good").unwrap();
    owner
        .set_with_ttl("extended", "x", Duration::from_secs(1))
        .unwrap();
    owner.set_with_ttl("extended", "y", HOUR).unwrap();
    assert!(matches!(
        owner.set_with_ttl("bad", "v", Duration::ZERO),
        Err(Error::InvalidTtl { .. })
    ));
    assert!(matches!(
        owner.set_with_ttl("bad", "v", Duration::MAX),
        Err(Error::InvalidTtl { .. })
    ));
    assert_eq!(owner.get("owner", "bad"), None);
    // `kept` lost its deadline to the plain set; `extended` has the later one.
    assert_eq!(owner.footprint().expiries, 2);

    eventually("the peer to receive every key", || {
        value(&peer, "owner", "short").is_some()
            && value(&peer, "owner", "kept").as_deref() == Some(b"for good")
            && value(&peer, "owner", "extended").as_deref() == Some(b"y")
    })
    .await;
    eventually("the owner to expire its key", || {
        owner.get("owner", "short").is_none()
    })
    .await;
    let expired_after = written.elapsed();
    assert!(
        expired_after >= Duration::from_secs(1),
        "expired after {expired_after:?}, before its time to live"
    );
    assert_eq!(owner.getn("owner", "short"), None);
    let footprint = owner.footprint();
    assert_eq!((footprint.expiries, footprint.own_tombstones), (1, 1));

    // Peers see an ordinary deletion, with the owner's version.
    let found = tokio::time::timeout(PATIENCE, async {
        loop {
            match events.recv().await {
                Ok(Event::Deleted { node, key, version })
                    if node.as_str() == "owner" && key.as_str() == "short" =>
                {
                    return version;
                }
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => panic!("closed"),
            }
        }
    })
    .await
    .expect("the peer's Deleted event for the expired key");
    assert!(
        found > short,
        "tombstone {found:?} after the write {short:?}"
    );
    let seen_after = eventually("the peer to lose the expired key", || {
        value(&peer, "owner", "short").is_none()
    })
    .await;
    assert!(written.elapsed() < Duration::from_secs(5), "{seen_after:?}");

    // Well past the first deadline, the re-set keys are still there, everywhere.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for node in [&owner, &peer] {
        assert_eq!(
            value(node, "owner", "kept").as_deref(),
            Some(&b"for good"[..])
        );
        assert_eq!(value(node, "owner", "extended").as_deref(), Some(&b"y"[..]));
    }

    owner.shutdown().await;
    peer.shutdown().await;
}

// A current-thread runtime: the durable deletion runs on the blocking pool, which must not
// need a second runtime thread.
#[cfg(feature = "durable")]
#[tokio::test]
async fn with_a_data_directory_the_deadline_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let peer = Gossip::start(config("peer", &[])).await.unwrap();
    let seed = peer.local_addr().unwrap();

    let first = Gossip::start(durable_config("durable", &[seed], dir.path()))
        .await
        .unwrap();
    let written = Instant::now();
    assert_eq!(
        first
            .set_with_ttl("soon", "a", Duration::from_millis(800))
            .unwrap(),
        Version(1)
    );
    assert_eq!(
        first
            .set_with_ttl("mid", "b", Duration::from_millis(2500))
            .unwrap(),
        Version(2)
    );
    assert_eq!(first.set_with_ttl("later", "c", HOUR).unwrap(), Version(3));
    assert_eq!(
        first
            .set_with_ttl("cancelled", "d", Duration::from_millis(800))
            .unwrap(),
        Version(4)
    );
    assert_eq!(first.set("cancelled", "e").unwrap(), Version(5));
    eventually("the peer to receive every key", || {
        ["soon", "mid", "later", "cancelled"]
            .iter()
            .all(|key| peer.get("durable", key).is_some())
    })
    .await;
    // A crash before any deadline: nothing is announced, nothing expired yet.
    assert!(written.elapsed() < Duration::from_millis(800));
    first.shutdown().await;
    drop(first);

    // Restart once `soon`'s deadline has passed, before `mid`'s.
    tokio::time::sleep(Duration::from_millis(1000).saturating_sub(written.elapsed())).await;
    let second = Gossip::start(durable_config("durable", &[seed], dir.path()))
        .await
        .unwrap();
    let generation = second.identity().generation;
    let took = eventually("the overdue key to be deleted at start", || {
        second.get("durable", "soon").is_none()
    })
    .await;
    assert!(took < Duration::from_secs(1), "took {took:?}");
    assert!(written.elapsed() < Duration::from_millis(2500));
    assert_eq!(second.getn("durable", "mid"), Some(Version(2)));
    assert_eq!(second.getn("durable", "later"), Some(Version(3)));
    assert_eq!(
        second.get("durable", "cancelled").as_deref(),
        Some(&b"e"[..])
    );
    eventually(
        "the peer to see the new generation without the expired key",
        || {
            peer.members()
                .iter()
                .any(|m| m.id.name.as_str() == "durable" && m.id.generation == generation)
                && peer.get("durable", "soon").is_none()
                && peer.get("durable", "mid").is_some()
        },
    )
    .await;

    // The deadline restored from disk (not reset by the restart) deletes `mid` on time.
    eventually("the restored deadline to delete mid", || {
        second.get("durable", "mid").is_none()
    })
    .await;
    let expired_after = written.elapsed();
    assert!(
        expired_after >= Duration::from_millis(2500) && expired_after < Duration::from_secs(4),
        "mid expired {expired_after:?} after its write"
    );
    eventually("the peer to lose mid", || {
        peer.get("durable", "mid").is_none()
    })
    .await;
    second.shutdown().await;
    drop(second);

    // A third run: the expiries were on disk, the long one is still pending.
    let third = Gossip::start(durable_config("durable", &[seed], dir.path()))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let own: Vec<(String, Vec<u8>)> = third
        .entries("durable")
        .into_iter()
        .map(|(key, _, value)| (key.to_string(), value.to_vec()))
        .collect();
    assert_eq!(
        own,
        [
            ("cancelled".to_string(), b"e".to_vec()),
            ("later".to_string(), b"c".to_vec()),
        ]
    );
    third.shutdown().await;
    peer.shutdown().await;
}
