//! The measurement procedure, the same for every [`System`]: formation, dissemination,
//! steady-state cost, then detection of a crash.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::machine::process_cpu_time;
use crate::settings::Settings;
use crate::system::{System, Traffic, reserve_addresses};

/// The key the dissemination measure writes.
pub const KEY: &str = "bench-key";
/// The value written.
pub const VALUE: &str = "bench-value";

/// How long it took each of several nodes to see something, from one start instant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Wait {
    /// Until the first node saw it, in seconds; `None` if none did before the timeout.
    pub first_s: Option<f64>,
    /// Until every node saw it, in seconds; `None` on timeout.
    pub all_s: Option<f64>,
    /// Nodes that saw it.
    pub reached: usize,
    /// Nodes watched.
    pub of: usize,
    /// Whether the wait ended on its timeout before every node saw it.
    pub timed_out: bool,
}

/// Steady-state cost over the window, per node per second.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cost {
    /// Length of the window as measured, in seconds.
    pub window_s: f64,
    /// Traffic sent by all nodes during the window.
    pub traffic: Traffic,
    /// UDP payload bytes sent per node per second.
    pub bytes_per_node_s: f64,
    /// Datagrams sent per node per second.
    pub datagrams_per_node_s: f64,
    /// Process CPU time per node per second of window, in milliseconds (1000 = one core
    /// busy per node); `None` where CPU time cannot be read.
    pub cpu_ms_per_node_s: Option<f64>,
}

/// Everything measured for one system.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measurement {
    /// The system's name.
    pub system: &'static str,
    /// Nodes started.
    pub nodes: usize,
    /// Time to start all nodes (included in formation), in seconds.
    pub start_s: f64,
    /// From before the first start until every node sees all N nodes live.
    pub formation: Wait,
    /// From the write until every other node (N - 1) reads the value.
    pub dissemination: Wait,
    /// Idle cost after formation and dissemination.
    pub cost: Cost,
    /// From the crash until the survivors no longer report the crashed node live.
    pub detection: Wait,
    /// Index of the node that wrote the key (0-based).
    pub writer: usize,
    /// Index of the node crashed (0-based; never a seed).
    pub victim: usize,
}

/// Runs the whole procedure on a fresh cluster of `S` and stops it.
pub async fn measure<S: System>(settings: &Settings) -> anyhow::Result<Measurement> {
    settings.validate()?;
    let n = settings.nodes;
    let addresses = reserve_addresses(n)?;

    let started = Instant::now();
    let mut system = S::start(settings, &addresses).await?;
    let start_s = started.elapsed().as_secs_f64();
    let all: Vec<usize> = (0..n).collect();
    let formation = wait_each(settings, &all, started, async |node| {
        system.live_count(node).await == Some(n)
    })
    .await;

    let writer = n / 2;
    let written = Instant::now();
    system.write(writer, KEY, VALUE).await?;
    let others: Vec<usize> = all.iter().copied().filter(|&node| node != writer).collect();
    let dissemination = wait_each(settings, &others, written, async |node| {
        system.read(node, writer, KEY).await.as_deref() == Some(VALUE)
    })
    .await;

    tokio::time::sleep(settings.settle).await;
    let cost = measure_cost(&system, settings).await;

    let victim = n - 1;
    system.crash(victim).await?;
    let crashed = Instant::now();
    let survivors: Vec<usize> = (0..victim).collect();
    let detection = wait_each(settings, &survivors, crashed, async |node| {
        system.is_live(node, victim).await == Some(false)
    })
    .await;

    system.stop().await;
    Ok(Measurement {
        system: S::NAME,
        nodes: n,
        start_s,
        formation,
        dissemination,
        cost,
        detection,
        writer,
        victim,
    })
}

/// Sleeps through the window, reading traffic and CPU time on either side. Nothing else
/// runs in the process meanwhile but the system's nodes.
async fn measure_cost<S: System>(system: &S, settings: &Settings) -> Cost {
    let traffic_before = system.traffic();
    let cpu_before = process_cpu_time();
    let opened = Instant::now();
    tokio::time::sleep(settings.window).await;
    let traffic_after = system.traffic();
    let cpu_after = process_cpu_time();
    let window = opened.elapsed().as_secs_f64();

    let traffic = traffic_after.since(traffic_before);
    let per_node_second = (settings.nodes as f64 * window).max(f64::MIN_POSITIVE);
    let cpu_ms_per_node_s = cpu_before
        .zip(cpu_after)
        .map(|(before, after)| after.saturating_sub(before).as_secs_f64() * 1000.0)
        .map(|cpu_ms| cpu_ms / per_node_second);
    Cost {
        window_s: window,
        traffic,
        bytes_per_node_s: traffic.bytes as f64 / per_node_second,
        datagrams_per_node_s: traffic.datagrams as f64 / per_node_second,
        cpu_ms_per_node_s,
    }
}

/// Polls `holds(node)` for every node of `nodes` every `settings.poll` until it held once
/// for each, or `settings.timeout` after `since`. A node's time is latched the first time
/// its condition holds.
async fn wait_each(
    settings: &Settings,
    nodes: &[usize],
    since: Instant,
    holds: impl AsyncFn(usize) -> bool,
) -> Wait {
    let mut seen: Vec<Option<Duration>> = vec![None; nodes.len()];
    loop {
        for (&node, seen) in nodes.iter().zip(seen.iter_mut()) {
            if seen.is_none() && holds(node).await {
                *seen = Some(since.elapsed());
            }
        }
        let done = seen.iter().all(Option::is_some);
        if done || since.elapsed() >= settings.timeout {
            return summarize(&seen, !done);
        }
        tokio::time::sleep(settings.poll).await;
    }
}

fn summarize(seen: &[Option<Duration>], timed_out: bool) -> Wait {
    let times: Vec<Duration> = seen.iter().flatten().copied().collect();
    Wait {
        first_s: times.iter().min().map(Duration::as_secs_f64),
        all_s: if timed_out {
            None
        } else {
            times.iter().max().map(Duration::as_secs_f64)
        },
        reached: times.len(),
        of: seen.len(),
        timed_out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_report_first_all_and_timeouts() {
        let ms = Duration::from_millis;
        let done = summarize(&[Some(ms(300)), Some(ms(100)), Some(ms(200))], false);
        assert_eq!(done.first_s, Some(0.1));
        assert_eq!(done.all_s, Some(0.3));
        assert_eq!((done.reached, done.of, done.timed_out), (3, 3, false));
        let partial = summarize(&[Some(ms(100)), None], true);
        assert_eq!(partial.first_s, Some(0.1));
        assert_eq!(partial.all_s, None);
        assert_eq!(
            (partial.reached, partial.of, partial.timed_out),
            (1, 2, true)
        );
    }

    #[tokio::test]
    async fn waits_end_on_their_timeout() {
        let settings = Settings {
            timeout: Duration::from_millis(50),
            ..Settings::new(3)
        };
        let wait = wait_each(&settings, &[0, 1], Instant::now(), async |node| node == 0).await;
        assert!(wait.timed_out);
        assert_eq!(wait.reached, 1);
    }
}
