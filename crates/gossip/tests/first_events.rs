//! No event is lost before the application subscribes: the first subscription gets every
//! event since the node started (up to `event_buffer`), as the original library's
//! listeners attached right after construction heard every `peers_discover`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use leviathan_gossip::{Config, Event, Gossip};

const NODES: usize = 24;
const PATIENCE: Duration = Duration::from_secs(30);

fn config(name: &str, seeds: &[SocketAddr]) -> Config {
    Config {
        name: name.to_string(),
        listen: "127.0.0.1:0".parse().unwrap(),
        seeds: seeds.iter().map(ToString::to_string).collect(),
        ..Config::local()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_discovery_reaches_a_subscriber_that_came_after_it() {
    let first = Gossip::start(config("n00", &[])).await.unwrap();
    let seed = first.local_addr().unwrap();
    let mut nodes = vec![first];
    for i in 1..NODES {
        nodes.push(
            Gossip::start(config(&format!("n{i:02}"), &[seed]))
                .await
                .unwrap(),
        );
    }
    // Subscribe only once every node knows every other: each discovery happened before.
    let start = Instant::now();
    while !nodes.iter().all(|node| node.members().len() == NODES) {
        assert!(start.elapsed() < PATIENCE, "the cluster did not form");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for node in &nodes {
        let own = node.identity().name.to_string();
        let mut events = node.events();
        let mut discovered = BTreeSet::new();
        while discovered.len() < NODES - 1 {
            let event = tokio::time::timeout(Duration::from_secs(5), events.recv()).await;
            let Ok(Ok(event)) = event else {
                panic!(
                    "{own} heard of {} discoveries only: {discovered:?}",
                    discovered.len()
                );
            };
            if let Event::PeersDiscovered(peers) = event {
                discovered.extend(peers.iter().map(ToString::to_string));
            }
        }
        // A later subscription starts from now, as before.
        let mut later = node.events();
        assert!(
            tokio::time::timeout(Duration::from_millis(300), async {
                loop {
                    if let Ok(Event::PeersDiscovered(_)) = later.recv().await {
                        return;
                    }
                }
            })
            .await
            .is_err(),
            "{own}: a second subscription replayed old discoveries"
        );
    }
    for node in &nodes {
        node.shutdown().await;
    }
}
