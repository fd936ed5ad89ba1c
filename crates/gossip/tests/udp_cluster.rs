//! Whole-cluster tests over real UDP sockets on 127.0.0.1: five nodes in one process.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use leviathan_gossip::{Config, Event, Gossip, MemberState};

const NODES: usize = 5;
/// Generous bound for anything that should take a few gossip rounds of 100 ms.
const PATIENCE: Duration = Duration::from_secs(20);

fn config(name: &str, listen: SocketAddr, seeds: &[SocketAddr]) -> Config {
    Config {
        name: name.to_string(),
        listen,
        seeds: seeds.iter().map(ToString::to_string).collect(),
        ..Config::local()
    }
}

/// Starts node0 on a free port, then the others with node0 as their seed.
async fn start_cluster() -> (Vec<Gossip>, SocketAddr) {
    let seed = Gossip::start(config("node0", "127.0.0.1:0".parse().unwrap(), &[]))
        .await
        .unwrap();
    let seed_address = seed.local_addr().unwrap();
    let mut nodes = vec![seed];
    for i in 1..NODES {
        let node = Gossip::start(config(
            &format!("node{i}"),
            "127.0.0.1:0".parse().unwrap(),
            &[seed_address],
        ))
        .await
        .unwrap();
        nodes.push(node);
    }
    (nodes, seed_address)
}

/// Polls `condition` every 50 ms until it holds; panics with `what` after `PATIENCE`.
async fn eventually(what: &str, mut condition: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    start.elapsed()
}

/// Waits for an event matching `wanted` on a subscription.
async fn wait_for_event(
    events: &mut leviathan_gossip::Events,
    what: &str,
    wanted: impl Fn(&Event) -> bool,
) {
    let found = async {
        loop {
            match events.recv().await {
                Ok(event) if wanted(&event) => return,
                Ok(_) | Err(leviathan_gossip::RecvError::Lagged(_)) => {}
                Err(leviathan_gossip::RecvError::Closed) => panic!("closed waiting for {what}"),
            }
        }
    };
    within(what, found).await;
}

async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, future)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

fn state_of(node: &Gossip, name: &str) -> Option<MemberState> {
    node.members()
        .into_iter()
        .find(|m| m.id.name.as_str() == name)
        .map(|m| m.state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_nodes_replicate_keys_and_deletes() {
    let (nodes, _) = start_cluster().await;
    for (i, node) in nodes.iter().enumerate() {
        node.set(format!("k{i}"), format!("v{i}")).unwrap();
    }
    eventually("every node to see every key", || {
        nodes.iter().all(|node| {
            (0..NODES).all(|i| {
                node.get(&format!("node{i}"), &format!("k{i}")).as_deref()
                    == Some(format!("v{i}").as_bytes())
            })
        })
    })
    .await;
    for node in &nodes {
        let members = node.members();
        assert_eq!(members.len(), NODES);
        assert!(members.iter().all(|m| m.state == MemberState::Live));
    }

    let mut events = nodes[3].events();
    let version = nodes[1].del("k1").unwrap().expect("k1 was set");
    assert!(nodes[1].get("node1", "k1").is_none());
    wait_for_event(&mut events, "the delete event", |event| {
        matches!(event, Event::Deleted { node, key, version: v }
            if node.as_str() == "node1" && key.as_str() == "k1" && *v == version)
    })
    .await;
    eventually("the delete to reach everyone", || {
        nodes.iter().all(|node| node.get("node1", "k1").is_none())
    })
    .await;
    // A later write of another key does not resurrect the deleted one.
    nodes[1].set("k1b", "x").unwrap();
    eventually("the next write to reach everyone", || {
        nodes.iter().all(|node| node.get("node1", "k1b").is_some())
    })
    .await;
    assert!(nodes.iter().all(|node| node.get("node1", "k1").is_none()));

    for node in &nodes {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_node_is_suspected_and_its_restart_is_seen() {
    let (mut nodes, seed) = start_cluster().await;
    eventually("full membership", || {
        nodes.iter().all(|node| node.members().len() == NODES)
    })
    .await;
    let victim = nodes.pop().unwrap();
    let victim_name = victim.identity().name.to_string();
    let victim_address = victim.local_addr().unwrap();
    let victim_generation = victim.identity().generation;
    let mut events = nodes[0].events();
    // A crash: the task stops without announcing anything.
    victim.shutdown().await;
    drop(victim);
    wait_for_event(&mut events, "the crashed node to be suspected", |event| {
        matches!(event, Event::PeersSuspected(peers) if peers.iter().any(|p| p.as_str() == victim_name))
    })
    .await;
    eventually("every survivor to suspect the crashed node", || {
        nodes.iter().all(|node| {
            matches!(
                state_of(node, &victim_name),
                Some(MemberState::Suspect | MemberState::Dead)
            )
        })
    })
    .await;
    // The survivors still consider each other live.
    for node in &nodes {
        for other in &nodes {
            let name = other.identity().name.to_string();
            assert_eq!(state_of(node, &name), Some(MemberState::Live));
        }
    }

    // Restart on the same address with a newer generation.
    let restarted = Gossip::start(Config {
        generation: Some(victim_generation.0 + 1),
        ..config(&victim_name, victim_address, &[seed])
    })
    .await
    .unwrap();
    restarted.set("fresh", "yes").unwrap();
    wait_for_event(
        &mut events,
        "the restart",
        |event| matches!(event, Event::PeerRestarted { node, .. } if node.as_str() == victim_name),
    )
    .await;
    eventually(
        "the restarted node to be live everywhere with its new key",
        || {
            nodes.iter().all(|node| {
                state_of(node, &victim_name) == Some(MemberState::Live)
                    && node.get(&victim_name, "fresh").is_some()
            })
        },
    )
    .await;

    restarted.shutdown().await;
    for node in &nodes {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaving_node_is_reported_left_not_suspected() {
    let (mut nodes, _) = start_cluster().await;
    eventually("full membership", || {
        nodes.iter().all(|node| node.members().len() == NODES)
    })
    .await;
    let leaver = nodes.remove(2);
    let name = leaver.identity().name.to_string();
    let mut events: Vec<_> = nodes.iter().map(Gossip::events).collect();
    leaver.leave().await.unwrap();
    assert!(leaver.set("late", "write").is_err());
    for subscription in &mut events {
        wait_for_event(subscription, "PeersLeft", |event| {
            matches!(event, Event::PeersLeft(peers) if peers.iter().any(|p| p.as_str() == name))
        })
        .await;
    }
    // Well past the time a silent node would be suspected, it is still Left, not suspect.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for node in &nodes {
        assert_eq!(state_of(node, &name), Some(MemberState::Left));
    }
    for node in &nodes {
        node.shutdown().await;
    }
}

#[tokio::test]
async fn bad_input_gets_clear_errors() {
    let node = Gossip::start(config("solo", "127.0.0.1:0".parse().unwrap(), &[]))
        .await
        .unwrap();
    assert!(matches!(
        node.set("", "v"),
        Err(leviathan_gossip::Error::InvalidKey { .. })
    ));
    let max = node.max_value_len("k").unwrap();
    assert!(node.set("k", vec![0u8; max]).is_ok());
    assert!(matches!(
        node.set("k", vec![0u8; max + 1]),
        Err(leviathan_gossip::Error::Write(
            leviathan_gossip::WriteError::ValueTooLarge { .. }
        ))
    ));
    // Garbage datagrams are dropped and counted, and the node keeps working.
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let target = node.local_addr().unwrap();
    for garbage in [&b""[..], b"LG", b"LG\x01\xff", &[0xffu8; 1500]] {
        socket.send_to(garbage, target).await.unwrap();
    }
    eventually("the garbage to be counted", || {
        node.stats().dropped_malformed >= 3
    })
    .await;
    assert_eq!(node.set("after", "garbage").map(|v| v.0 > 0), Ok(true));
    node.shutdown().await;
    assert_eq!(node.set("k", "v"), Err(leviathan_gossip::Error::Shutdown));

    let error = Gossip::start(Config {
        fanout: 0,
        ..Config::local()
    })
    .await
    .unwrap_err();
    assert!(error.to_string().contains("fanout"), "{error}");
}
