//! The Rust side of the npm package's measurements (`npm/bench/`): the same two
//! experiments as `npm/bench/latency.js` and `npm/bench/burst.js`, between two processes
//! using the Rust library directly, so that the addon's overhead can be read off.
//!
//! ```sh
//! cargo run --release -p leviathan-gossip-node --example echo_latency -- latency 200
//! cargo run --release -p leviathan-gossip-node --example echo_latency -- burst 10000
//! ```
//!
//! `latency N`: this process writes `ping` = i, a child process sets `pong` = i when its
//! `updates` event brings the ping, and this process waits for the pong's `updates` event:
//! half that round trip is one set → `updates` latency. N pings, each after a random pause
//! of up to one gossip interval (so pings do not lock on the rounds); prints the median
//! and the 99th percentile. `burst N`: the child writes N distinct keys in one loop; this
//! process counts them in its `updates` events, after a stall of its own of 8 s so that
//! the whole burst is queued, then reports how fast it drained the queue (events per
//! second received). Both on 127.0.0.1 with the `local` preset (100 ms rounds).

use std::error::Error;
use std::time::{Duration, Instant};

use leviathan_gossip::{Config, Event, Gossip};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or_default();
    match arg(0) {
        "latency" => latency(arg(1).parse().unwrap_or(200)).await,
        "burst" => burst(arg(1).parse().unwrap_or(10_000)).await,
        "child-echo" => child_echo(arg(1)).await,
        "child-burst" => child_burst(arg(1), arg(2).parse().unwrap_or(10_000)).await,
        _ => Err("usage: echo_latency latency [N] | burst [N]".into()),
    }
}

fn config(name: &str, seeds: Vec<String>) -> Result<Config> {
    Ok(Config {
        name: name.into(),
        listen: "127.0.0.1:0".parse()?,
        seeds,
        event_buffer: 65_536,
        ..Config::local()
    })
}

/// Starts this program again as `role` with `args`.
fn spawn_child(args: &[&str]) -> Result<std::process::Child> {
    Ok(std::process::Command::new(std::env::current_exe()?)
        .args(args)
        .spawn()?)
}

async fn latency(pings: usize) -> Result<()> {
    let node = Gossip::start(config("pinger", Vec::new())?).await?;
    let mut events = node.events();
    let address = node.local_addr()?.to_string();
    let mut child = spawn_child(&["child-echo", &address])?;
    let mut samples = Vec::with_capacity(pings);
    // One untimed ping first: the echo node must have joined.
    for i in 0..=pings {
        let pause = rand_millis(100);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        let started = Instant::now();
        node.set("ping", i.to_string())?;
        let expected = i.to_string();
        loop {
            let Event::Updates(updates) = events.recv().await? else {
                continue;
            };
            if updates
                .iter()
                .any(|u| u.key.as_str() == "pong" && u.value == expected.as_bytes())
            {
                break;
            }
        }
        if i > 0 {
            samples.push(started.elapsed() / 2);
        }
    }
    child.kill()?;
    node.shutdown().await;
    samples.sort();
    let at = |q: f64| {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let index = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples.get(index).copied().unwrap_or_default()
    };
    println!(
        "rust set->updates latency over {} pings: median {:.1} ms, p99 {:.1} ms",
        samples.len(),
        at(0.5).as_secs_f64() * 1000.0,
        at(0.99).as_secs_f64() * 1000.0
    );
    Ok(())
}

async fn child_echo(seed: &str) -> Result<()> {
    let node = Gossip::start(config("echo", vec![seed.to_string()])?).await?;
    let mut events = node.events();
    loop {
        if let Event::Updates(updates) = events.recv().await? {
            for update in updates.iter().filter(|u| u.key.as_str() == "ping") {
                node.set("pong", update.value.clone())?;
            }
        }
    }
}

async fn burst(writes: usize) -> Result<()> {
    let node = Gossip::start(config("reader", Vec::new())?).await?;
    let mut events = node.events();
    let address = node.local_addr()?.to_string();
    let mut child = spawn_child(&["child-burst", &address, &writes.to_string()])?;
    // Stall (this task only; the engine keeps receiving) while the burst arrives.
    let mut keys = 0;
    let mut first = true;
    let mut drain_started = Instant::now();
    while keys < writes {
        if let Event::Updates(updates) = events.recv().await? {
            if first && updates.iter().any(|u| u.key.as_str().starts_with('b')) {
                first = false;
                tokio::time::sleep(Duration::from_secs(8)).await;
                drain_started = Instant::now();
            }
            keys += updates
                .iter()
                .filter(|u| u.key.as_str().starts_with('b'))
                .count();
        }
    }
    let drained = drain_started.elapsed();
    child.kill()?;
    node.shutdown().await;
    #[allow(clippy::cast_precision_loss)]
    let rate = keys as f64 / drained.as_secs_f64();
    println!(
        "rust reader drained {keys} queued updates in {:.1} ms: {rate:.0} updates/s",
        drained.as_secs_f64() * 1000.0
    );
    Ok(())
}

async fn child_burst(seed: &str, writes: usize) -> Result<()> {
    let node = Gossip::start(config("writer", vec![seed.to_string()])?).await?;
    while node.members().len() < 2 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for i in 0..writes {
        node.set(format!("b{i}"), i.to_string())?;
    }
    std::future::pending::<()>().await;
    Ok(())
}

/// A pseudo-random number of milliseconds below `max`, from the clock's nanoseconds.
fn rand_millis(max: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    u64::from(nanos) % max.max(1)
}
