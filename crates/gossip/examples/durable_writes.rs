//! Measures durable writes per second: one node with a data directory (every write on disk
//! before `set` returns), `--writers` threads calling `set` as fast as they can for
//! `--seconds`.
//!
//! ```text
//! cargo run --release -p leviathan-gossip --example durable_writes -- --writers 1,4,16
//! ```
//!
//! The data directory is a temporary directory (`--dir` to choose where: the disk, not a
//! tmpfs, is what is measured).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use leviathan_gossip::{Config, Gossip};

/// Measure durable writes per second.
#[derive(Debug, Parser)]
struct Args {
    /// Numbers of concurrent writer threads to try (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1,4,16")]
    writers: Vec<usize>,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Parent directory of the data directories (default: the system's temporary one).
    #[arg(long)]
    dir: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    println!("writers | writes | writes/s | mean latency ms");
    println!("--------+--------+----------+----------------");
    for &writers in &args.writers {
        let parent = match &args.dir {
            Some(dir) => tempfile::tempdir_in(dir)?,
            None => tempfile::tempdir()?,
        };
        let gossip = Arc::new(
            Gossip::start(Config {
                name: format!("writer-{writers}"),
                listen: "127.0.0.1:0".parse()?,
                data_dir: Some(parent.path().join("data")),
                ..Config::local()
            })
            .await?,
        );
        let stop = Arc::new(AtomicBool::new(false));
        let written = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let threads: Vec<_> = (0..writers)
            .map(|w| {
                let (gossip, stop, written) = (gossip.clone(), stop.clone(), written.clone());
                std::thread::spawn(move || {
                    let mut i = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        // 64 keys per writer: the key limit is never in the way.
                        let key = format!("w{w}-k{}", i % 64);
                        if gossip.set(&key, "value").is_ok() {
                            written.fetch_add(1, Ordering::Relaxed);
                        }
                        i += 1;
                    }
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_secs(args.seconds)).await;
        stop.store(true, Ordering::Relaxed);
        for thread in threads {
            let _ = thread.join();
        }
        let elapsed = started.elapsed().as_secs_f64();
        let count = written.load(Ordering::Relaxed);
        let rate = count as f64 / elapsed;
        let latency_ms = 1000.0 * writers as f64 / rate.max(f64::MIN_POSITIVE);
        println!("{writers:>7} | {count:>6} | {rate:>8.0} | {latency_ms:>14.2}");
        gossip.shutdown().await;
    }
    Ok(())
}
