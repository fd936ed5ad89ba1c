//! Same seed, same run; different seed, different run.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::Duration;

use leviathan_gossip_core::Stats;
use leviathan_gossip_sim::{
    Latency, LinkModel, NetworkModel, NodeIndex, Simulation, TimedEvent, Traffic,
};
use leviathan_gossip_wire::Key;

/// A busy scenario: loss, duplication, jitter, a crash and restart, a partition, a stall,
/// writes and deletes. Returns what a run produced.
fn run(seed: u64) -> Run {
    run_on(seed, 12, 1)
}

/// [`run`] with `nodes` nodes (at least 12) on `threads` threads.
fn run_on(seed: u64, nodes: usize, threads: usize) -> Run {
    let secs = Duration::from_secs;
    let link = LinkModel {
        latency: Latency::Exponential {
            min: Duration::from_millis(1),
            mean_extra: Duration::from_millis(10),
            cap: Duration::from_millis(300),
        },
        loss: 0.1,
        duplicate: 0.05,
    };
    let mut sim = Simulation::builder(seed)
        .nodes(nodes)
        .threads(threads)
        .network(NetworkModel::new(link))
        .record_events(true)
        .build()
        .unwrap();
    let key = Key::new("k").unwrap();
    for i in 0..12 {
        sim.set(
            secs(3 + i),
            NodeIndex(i as usize),
            key.clone(),
            format!("v{i}"),
        );
    }
    sim.delete(secs(20), NodeIndex(3), key.clone());
    sim.crash(secs(15), NodeIndex(5));
    sim.restart(secs(25), NodeIndex(5));
    sim.stall(secs(18), NodeIndex(8), secs(3));
    sim.partition(secs(30), secs(45), vec![(0..6).map(NodeIndex).collect()]);
    sim.run_until(secs(70));
    sim.check().unwrap();
    if threads > 1 {
        assert!(
            sim.speed().parallel_batches > 10,
            "seed {seed}: the run must exercise parallel batches: {:?}",
            sim.speed()
        );
    }
    let stats = sim
        .indices()
        .map(|i| sim.node(i).map(|n| n.stats().clone()))
        .collect();
    let traffic = sim.indices().map(|i| sim.traffic(i)).collect();
    let hash = sim.trace_hash();
    (sim.take_events(), stats, traffic, hash)
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let first = run(42);
    let second = run(42);
    assert!(first.0.len() > 100, "a busy run logs many events");
    assert_same_run(&first, &second);
}

type Run = (Vec<TimedEvent>, Vec<Option<Stats>>, Vec<Traffic>, u64);

fn assert_same_run(a: &Run, b: &Run) {
    assert_eq!(a.0, b.0, "event logs differ");
    assert_eq!(a.1, b.1, "node stats differ");
    assert_eq!(a.2, b.2, "traffic differs");
    assert_eq!(a.3, b.3, "trace hashes differ");
}

#[test]
fn different_seeds_give_different_runs() {
    let a = run(1);
    let b = run(2);
    assert_ne!(a.3, b.3);
    assert_ne!(a.0, b.0);
    assert_ne!(a.2, b.2);
}

#[test]
fn the_number_of_threads_does_not_change_a_run() {
    let one = run_on(7, 80, 1);
    let two = run_on(7, 80, 2);
    assert_same_run(&one, &two);
}

#[test]
fn parallel_batches_lose_no_datagram() {
    // No node crashes or restarts here, so every datagram's sender is alive when it
    // arrives: a batch that hid its nodes from the delivery checks would drop some.
    let mut sim = Simulation::builder(11)
        .nodes(150)
        .threads(2)
        .build()
        .unwrap();
    sim.run_until(Duration::from_secs(10));
    sim.check().unwrap();
    let speed = sim.speed();
    assert!(speed.parallel_batches > 100, "seed 11: {speed:?}");
    let counters = sim.counters();
    assert_eq!(counters.sender_gone, 0, "seed 11: {counters:?}");
    assert!(counters.delivered > 5_000, "seed 11: {counters:?}");
}

/// The wake order decides only what a node waking from a stall handles first: left unset
/// it is the default, the two explicit orders make two different runs, and without a
/// stall neither changes anything.
#[test]
fn the_wake_order_changes_only_stalled_runs() {
    use leviathan_gossip_sim::WakeOrder;
    let secs = Duration::from_secs;
    let trace = |order: Option<WakeOrder>, stall: bool| {
        let mut builder = Simulation::builder(31).nodes(10);
        if let Some(order) = order {
            builder = builder.wake_order(order);
        }
        let mut sim = builder.build().unwrap();
        if stall {
            sim.stall(secs(10), NodeIndex(4), secs(5));
        }
        sim.run_until(secs(30));
        sim.check().unwrap();
        sim.trace_hash()
    };
    let default = trace(None, true);
    assert_eq!(default, trace(Some(WakeOrder::AsPostponed), true));
    let timers_first = trace(Some(WakeOrder::TimersFirst), true);
    let messages_first = trace(Some(WakeOrder::MessagesFirst), true);
    assert_ne!(timers_first, messages_first);
    for order in [WakeOrder::TimersFirst, WakeOrder::MessagesFirst] {
        assert_eq!(trace(None, false), trace(Some(order), false), "{order:?}");
    }
}
