//! Encrypted clusters over real UDP on 127.0.0.1: only nodes holding a key of the keyring
//! get in or get their state accepted; a key rotation under a stream of writes loses no
//! member; a plaintext cluster upgrades to an encrypted one without a pause; a captured
//! sealed datagram replayed is dropped and answered with nothing.
#![cfg(feature = "encryption")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use leviathan_gossip::keyring::{Keyring, SecretKey};
use leviathan_gossip::{Config, Event, Gossip, MemberState};

/// Generous bound for anything that should take a few gossip rounds of 100 ms.
const PATIENCE: Duration = Duration::from_secs(8);

/// A fresh random key (the argument only tells the test's keys apart when reading it).
fn key(_label: u64) -> SecretKey {
    SecretKey::generate(&mut rand::rng())
}

/// Every event the subscription holds now.
async fn pending(events: &mut leviathan_gossip::Events) -> Vec<Event> {
    let mut out = Vec::new();
    while let Ok(Ok(event)) = tokio::time::timeout(Duration::from_millis(5), events.recv()).await {
        out.push(event);
    }
    out
}

fn config(name: &str, seeds: &[SocketAddr], keyring: Option<Keyring>) -> Config {
    Config {
        name: name.to_string(),
        listen: "127.0.0.1:0".parse().unwrap(),
        seeds: seeds.iter().map(ToString::to_string).collect(),
        keyring,
        ..Config::local()
    }
}

async fn start(name: &str, seeds: &[SocketAddr], keyring: Option<Keyring>) -> Gossip {
    Gossip::start(config(name, seeds, keyring)).await.unwrap()
}

/// Polls `condition` every 20 ms until it holds; panics with `what` after `PATIENCE`.
async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn all_live(nodes: &[&Gossip]) -> bool {
    nodes.iter().all(|node| {
        let members = node.members();
        members.len() == nodes.len() && members.iter().all(|m| m.state == MemberState::Live)
    })
}

fn knows(node: &Gossip, name: &str) -> bool {
    node.members().iter().any(|m| m.id.name.as_str() == name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_without_the_key_can_neither_join_nor_inject_state() {
    let ring = Keyring::new(key(1));
    let a = start("a", &[], Some(ring.clone())).await;
    let seed = [a.local_addr().unwrap()];
    let b = start("b", &seed, Some(ring.clone())).await;
    b.set("k", "from b").unwrap();
    eventually("the encrypted pair to form", || all_live(&[&a, &b])).await;

    // A plaintext node and a node with another key both call the seed and write a key.
    let plain = start("plain", &seed, None).await;
    plain.set("k", "injected").unwrap();
    let stranger = start("stranger", &seed, Some(Keyring::new(key(2)))).await;
    stranger.set("k", "injected").unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;

    for node in [&a, &b] {
        assert!(!knows(node, "plain") && !knows(node, "stranger"));
        assert_eq!(node.get("plain", "k"), None);
        assert_eq!(node.get("stranger", "k"), None);
    }
    assert!(!knows(&plain, "a") && !knows(&stranger, "a"));
    let stats = a.transport_stats();
    assert!(stats.dropped_plaintext > 0, "{stats:?}");
    assert!(stats.dropped_unauthenticated > 0, "{stats:?}");
    assert!(stats.sealed > 0 && stats.opened > 0, "{stats:?}");
    // Nothing answers them: the cluster never saw a packet it could read from them.
    assert!(plain.members().len() == 1 && stranger.members().len() == 1);
    assert_eq!(b.get("b", "k").as_deref(), Some(&b"from b"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_rotation_under_writes_loses_no_member() {
    let (old, new) = (key(10), key(11));
    let ring = Keyring::new(old.clone());
    let first = start("n0", &[], Some(ring.clone())).await;
    let seed = [first.local_addr().unwrap()];
    let mut nodes = vec![first];
    for i in 1..4 {
        nodes.push(start(&format!("n{i}"), &seed, Some(ring.clone())).await);
    }
    let refs: Vec<&Gossip> = nodes.iter().collect();
    eventually("the cluster to form", || all_live(&refs)).await;
    let mut watchers: Vec<_> = nodes.iter().map(Gossip::events).collect();

    // Every step taken by all nodes, one node at a time, writes flowing throughout.
    let mut written = 0u32;
    let mut step = |action: &dyn Fn(&Gossip)| {
        for node in &nodes {
            action(node);
            written += 1;
            node.set("counter", written.to_string()).unwrap();
        }
    };
    step(&|node| assert!(node.install_key(new.clone())));
    tokio::time::sleep(Duration::from_millis(500)).await;
    step(&|node| node.use_key(&new).unwrap());
    tokio::time::sleep(Duration::from_millis(500)).await;
    step(&|node| node.remove_key(&old).unwrap());
    tokio::time::sleep(Duration::from_millis(500)).await;
    for node in &nodes {
        assert_eq!(node.encryption().keys, [new.fingerprint()]);
    }
    let last = written.to_string();
    eventually("every node to hold every node's last write", || {
        nodes.iter().all(|observer| {
            (0..4).all(|i| {
                let value = observer.get(&format!("n{i}"), "counter");
                i != 3 || value.as_deref() == Some(last.as_bytes())
            })
        }) && all_live(&refs)
    })
    .await;
    // Nobody suspected anybody during the rotation.
    for events in &mut watchers {
        for event in pending(events).await {
            assert!(
                !matches!(event, Event::PeersSuspected(_) | Event::PeersDead(_)),
                "{event:?}"
            );
        }
    }
    // The old key no longer opens anything: a node that kept only it is shut out.
    let laggard = start("laggard", &seed, Some(Keyring::new(old))).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!knows(&nodes[0], "laggard"));
    laggard.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plaintext_cluster_upgrades_to_encryption_without_a_pause() {
    let first = start("p0", &[], None).await;
    let seed = [first.local_addr().unwrap()];
    let mut nodes = vec![first];
    for i in 1..3 {
        nodes.push(start(&format!("p{i}"), &seed, None).await);
    }
    let refs: Vec<&Gossip> = nodes.iter().collect();
    eventually("the plaintext cluster to form", || all_live(&refs)).await;
    let mut watchers: Vec<_> = nodes.iter().map(Gossip::events).collect();
    let secret = key(20);
    for node in &nodes {
        node.install_key(secret.clone());
        let status = node.encryption();
        assert!(
            !status.encrypt_outgoing && status.accept_plaintext,
            "phase 1"
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for node in &nodes {
        node.set_encryption(true, true);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for node in &nodes {
        node.set_encryption(true, false);
    }
    nodes[1].set("after", "upgrade").unwrap();
    eventually("a write to spread once encryption is required", || {
        nodes
            .iter()
            .all(|n| n.get("p1", "after").as_deref() == Some(&b"upgrade"[..]))
            && all_live(&refs)
    })
    .await;
    for events in &mut watchers {
        for event in pending(events).await {
            assert!(!matches!(event, Event::PeersSuspected(_)), "{event:?}");
        }
    }
    assert!(nodes[0].transport_stats().opened > 0);
    // Plaintext is now refused.
    let plain = start("plain", &seed, None).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!knows(&nodes[0], "plain"));
    assert!(nodes[0].transport_stats().dropped_plaintext > 0);
    plain.shutdown().await;
}

/// The next datagram `socket` receives from `source` within `within`, others skipped.
async fn datagram_from(
    socket: &tokio::net::UdpSocket,
    source: SocketAddr,
    within: Duration,
) -> Option<Vec<u8>> {
    let deadline = tokio::time::Instant::now() + within;
    let mut buffer = vec![0u8; 65_536];
    loop {
        let received = tokio::time::timeout_at(deadline, socket.recv_from(&mut buffer)).await;
        let (len, from) = received.ok()?.unwrap();
        if from == source {
            return Some(buffer[..len].to_vec());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_captured_sealed_syn_replayed_is_dropped_and_draws_no_answer() {
    let ring = Keyring::new(key(30));
    // An eavesdropper poses as a seed of `sender` and captures the sealed Syn it sends.
    let eavesdropper = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let sender = start(
        "sender",
        &[eavesdropper.local_addr().unwrap()],
        Some(ring.clone()),
    )
    .await;
    let syn = datagram_from(&eavesdropper, sender.local_addr().unwrap(), PATIENCE)
        .await
        .expect("the sender calls its seed");
    assert!(leviathan_gossip::keyring::is_sealed(&syn));
    sender.shutdown().await;

    // Sent once to a member of the same cluster, it is answered (a SynAck to its source)...
    let target = start("target", &[], Some(ring)).await;
    let address = target.local_addr().unwrap();
    eavesdropper.send_to(&syn, address).await.unwrap();
    assert!(
        datagram_from(&eavesdropper, address, PATIENCE)
            .await
            .is_some(),
        "the first delivery is answered"
    );
    // ...replayed, it is dropped before parsing and answered with nothing.
    eavesdropper.send_to(&syn, address).await.unwrap();
    let answer = datagram_from(&eavesdropper, address, Duration::from_millis(500)).await;
    assert!(answer.is_none(), "the replay drew an answer");
    let stats = target.transport_stats();
    assert_eq!(stats.dropped_replayed, 1, "{stats:?}");
    assert_eq!(stats.dropped_stale, 0, "{stats:?}");
    assert_eq!(stats.dropped_unauthenticated, 0, "{stats:?}");
    target.shutdown().await;
}
