//! An agent with `--data-dir`, killed with SIGKILL in the middle of a stream of writes,
//! comes back with every write it acknowledged, and the cluster agrees.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::ffi::OsStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Agent, cluster, eventually, free_udp, scratch_dir};

/// Acknowledged writes before the kill.
const ACKED_BEFORE_KILL: usize = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_agent_restarts_with_every_acknowledged_write() {
    let agents = cluster(2).await;
    let seeds = [agents[0].gossip, agents[1].gossip];
    let data = scratch_dir("data");
    let args = [OsStr::new("--data-dir"), data.as_os_str()];
    let gossip = free_udp();
    let mut durable = Agent::spawn_with("d", gossip, &seeds, &args);
    durable.ready().await;

    // Write without pause from another task; each acknowledged (key, version) is kept.
    let acked: Arc<Mutex<Vec<(String, u64)>>> = Arc::default();
    let writer = {
        let client = durable.client();
        let acked = Arc::clone(&acked);
        tokio::spawn(async move {
            for i in 0.. {
                let key = format!("k{i:04}");
                let Ok(written) = client.set(&key, format!("value {i}")).await else {
                    break;
                };
                acked.lock().unwrap().push((key, written.version));
            }
        })
    };
    let count = || acked.lock().unwrap().len();
    while count() < ACKED_BEFORE_KILL {
        assert!(!writer.is_finished(), "the writer stopped early");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    durable.kill();
    writer.await.unwrap();
    let acked = acked.lock().unwrap().clone();
    let stderr = durable.stderr();
    drop(durable);

    let restarted = Agent::spawn_with("d", gossip, &seeds, &args);
    restarted.ready().await;
    let client = &restarted.client();
    for (key, version) in &acked {
        let entry = client.get("d", key).await.unwrap();
        let entry = entry.unwrap_or_else(|| panic!("acknowledged {key} lost; before:\n{stderr}"));
        assert_eq!(entry.version, *version, "{key}");
        assert_eq!(
            entry.value,
            format!("value {}", &key[1..].parse::<u32>().unwrap())
        );
    }
    let next = client.set("after", "restart").await.unwrap();
    let last = acked.last().map_or(0, |(_, version)| *version);
    assert!(next.version > last, "version {} after {last}", next.version);

    for peer in &agents {
        let peer_client = &peer.client();
        let want = acked.len() + 1;
        eventually(
            &format!("{} to hold all of d's keys", peer.name),
            || async move {
                let entries = peer_client.entries(Some("d")).await.ok()?.entries;
                (entries.len() >= want).then_some(())
            },
        )
        .await;
        for (key, version) in &acked {
            let entry = peer_client.get("d", key).await.unwrap();
            assert_eq!(
                entry.map(|e| e.version),
                Some(*version),
                "{} {key}",
                peer.name
            );
        }
    }
    let _ = std::fs::remove_dir_all(&data);
}

#[tokio::test]
async fn time_to_live_deadlines_survive_a_kill() {
    let data = scratch_dir("ttl-data");
    let args = [OsStr::new("--data-dir"), data.as_os_str()];
    let gossip = free_udp();
    let mut durable = Agent::spawn_with("t", gossip, &[], &args);
    durable.ready().await;
    let client = durable.client();
    let written = std::time::Instant::now();
    client
        .set_with_ttl("brief", "gone after a second", Duration::from_secs(1))
        .await
        .unwrap();
    let lasting = client
        .set_with_ttl("lasting", "an hour", Duration::from_secs(3600))
        .await
        .unwrap();
    durable.kill();
    drop(durable);
    tokio::time::sleep(Duration::from_millis(1200).saturating_sub(written.elapsed())).await;

    let restarted = Agent::spawn_with("t", gossip, &[], &args);
    restarted.ready().await;
    let client = &restarted.client();
    eventually(
        "the overdue key to be expired after the restart",
        || async move {
            client
                .get("t", "brief")
                .await
                .unwrap()
                .is_none()
                .then_some(())
        },
    )
    .await;
    let entry = client.get("t", "lasting").await.unwrap().unwrap();
    assert_eq!(
        (entry.value, entry.version),
        ("an hour".into(), lasting.version)
    );
    let _ = std::fs::remove_dir_all(&data);
}
