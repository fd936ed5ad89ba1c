//! Smoke test: both systems form a 3-node loopback cluster and their traffic counters
//! move. Short waits and window so it stays fast in `cargo test --workspace`; no timing
//! is asserted.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use leviathan_gossip_bench::chitchat::Chitchat;
use leviathan_gossip_bench::leviathan::Leviathan;
use leviathan_gossip_bench::measure::{Measurement, measure};
use leviathan_gossip_bench::{Settings, System};

fn settings() -> Settings {
    Settings {
        gossip_interval: Duration::from_millis(100),
        stagger: Duration::from_millis(100),
        window: Duration::from_millis(500),
        settle: Duration::from_millis(100),
        timeout: Duration::from_secs(8),
        ..Settings::new(3)
    }
}

async fn check<S: System>() -> Measurement {
    let measurement = measure::<S>(&settings()).await.unwrap();
    assert!(
        !measurement.formation.timed_out,
        "{} did not form: {measurement:?}",
        S::NAME
    );
    assert!(
        !measurement.dissemination.timed_out,
        "{} did not disseminate: {measurement:?}",
        S::NAME
    );
    assert!(measurement.cost.traffic.bytes > 0, "{measurement:?}");
    assert!(measurement.cost.traffic.datagrams > 0, "{measurement:?}");
    assert!(measurement.cost.bytes_per_node_s > 0.0, "{measurement:?}");
    measurement
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_systems_form_and_count_traffic() {
    check::<Leviathan>().await;
    check::<Chitchat>().await;
}
