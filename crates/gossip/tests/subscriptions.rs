//! Subscriptions on a real cluster over loopback UDP: the member list watched as it
//! changes, key events under a prefix, and events as a stream that reports what a slow
//! subscriber missed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::time::Duration;

use leviathan_gossip::{Config, Event, Gossip, MemberState, RecvError};
use tokio_stream::StreamExt;

const PATIENCE: Duration = Duration::from_secs(20);

fn config(name: &str, seeds: &[SocketAddr]) -> Config {
    Config {
        name: name.to_string(),
        listen: "127.0.0.1:0".parse().unwrap(),
        seeds: seeds.iter().map(ToString::to_string).collect(),
        ..Config::local()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_member_list_is_watched_as_peers_come_and_fail() {
    let a = Gossip::start(config("a", &[])).await.unwrap();
    let seed = a.local_addr().unwrap();
    let mut watch = a.watch_members();
    assert_eq!(watch.borrow_and_update().len(), 1, "a alone at first");
    let b = Gossip::start(config("b", &[seed])).await.unwrap();
    let c = Gossip::start(config("c", &[seed])).await.unwrap();
    let live = |members: &[leviathan_gossip::Member]| {
        members
            .iter()
            .filter(|m| m.state == MemberState::Live)
            .count()
    };
    tokio::time::timeout(PATIENCE, async {
        while live(&watch.borrow_and_update()) < 3 {
            watch.changed().await.unwrap();
        }
    })
    .await
    .expect("the watch never showed three live members");

    c.shutdown().await;
    tokio::time::timeout(PATIENCE, async {
        loop {
            watch.changed().await.unwrap();
            let members = watch.borrow_and_update().clone();
            let c_state = members
                .iter()
                .find(|m| m.id.name.as_str() == "c")
                .map(|m| m.state);
            if matches!(c_state, Some(MemberState::Suspect | MemberState::Dead)) {
                return;
            }
        }
    })
    .await
    .expect("the watch never showed the stopped node suspect");
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_events_hold_only_the_prefix_and_a_slow_stream_hears_what_it_missed() {
    let a = Gossip::start(Config {
        event_buffer: 4,
        ..config("a", &[])
    })
    .await
    .unwrap();
    let b = Gossip::start(config("b", &[a.local_addr().unwrap()]))
        .await
        .unwrap();
    let mut app = a.key_events("app/");
    let mut all = a.events();
    // b writes 100 keys, one in ten under the prefix, over a second (many gossip rounds,
    // so many events), while nobody reads a's events.
    for i in 0..100 {
        let key = if i % 10 == 0 {
            format!("app/{i}")
        } else {
            format!("other/{i}")
        };
        b.set(key.as_str(), "v").unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    b.del("app/0").unwrap();
    let mut seen = Vec::new();
    tokio::time::timeout(PATIENCE, async {
        while !seen.contains(&"deleted app/0".to_string()) {
            match app.recv().await {
                Ok(Event::Updates(updates)) => {
                    for update in updates {
                        assert!(update.key.as_str().starts_with("app/"), "{update:?}");
                        seen.push(format!("set {}", update.key));
                    }
                }
                Ok(Event::Deleted { key, .. }) => seen.push(format!("deleted {key}")),
                Ok(other) => panic!("not a key event: {other:?}"),
                // Its buffer is a's too (4): it may have missed some, and says so.
                Err(RecvError::Lagged(_)) => seen.push("lagged".into()),
                Err(RecvError::Closed) => panic!("closed"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no delete of app/0 among {seen:?}"));

    // The unread first subscription was sent the discovery and the updates of 100 keys over
    // a second: more than 4 events, so the stream starts by saying how many it missed,
    // then goes on.
    let first = tokio::time::timeout(PATIENCE, all.next())
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(first, Err(RecvError::Lagged(missed)) if missed > 0),
        "{first:?}"
    );
    let next = tokio::time::timeout(PATIENCE, all.next())
        .await
        .unwrap()
        .unwrap();
    assert!(next.is_ok(), "{next:?}");
    a.shutdown().await;
    b.shutdown().await;
}
