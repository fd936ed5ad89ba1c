//! `leviathan-gossip-sim`: runs the simulator's experiments, prints a table per experiment
//! and writes the full results as JSON (default `target/sim/<experiment>.json`).
//!
//! ```text
//! cargo run --release -p leviathan-gossip-sim -- dissemination --nodes 100,1000 --fanout 1,3 --loss 0,0.1
//! cargo run --release -p leviathan-gossip-sim -- formation --nodes 100,1000 --loss 0,0.1
//! cargo run --release -p leviathan-gossip-sim -- detection --nodes 1000 --loss 0,0.1,0.3 --slow-fraction 0,0.05
//! cargo run --release -p leviathan-gossip-sim -- faults --nodes 100,1000 --flaky-loss 0.8 --one-way 2
//! cargo run --release -p leviathan-gossip-sim -- cost --nodes 100,1000 --writes-per-node-per-sec 0,0.01,0.1
//! cargo run --release -p leviathan-gossip-sim -- partition --nodes 100,1000 --duration 60
//! cargo run --release -p leviathan-gossip-sim -- churn --nodes 100 --hours 24
//! cargo run --release -p leviathan-gossip-sim -- repair --nodes 10000 --differing 1,10,100
//! ```
//!
//! Every run prints its seed, the simulator's speed (simulated node-seconds per wall
//! second), peak memory and any invariant violation. Progress goes to stderr every ~10 s
//! of wall time.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use leviathan_gossip_sim::Latency;
use leviathan_gossip_sim::experiments::{
    ClusterSpec, RunInfo, Table, churn, cost, detection, dissemination, faults, formation,
    partition, repair,
};
use serde::Serialize;

/// The simulator allocates and frees millions of small buffers a second from two threads.
/// Under glibc's allocator, a profile at N = 10,000 spent 6–8 % of the run zeroing pages
/// faulted in afresh and 2–3 % waiting on arena locks; with mimalloc the same run took a
/// quarter less time and less memory (BENCHMARKS.md, "Simulator speed").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Deterministic simulations of leviathan-gossip clusters.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    experiment: Experiment,
}

#[derive(Debug, Subcommand)]
enum Experiment {
    /// Rounds and seconds for one write to reach 50/99/99.9/100 % of the nodes.
    Dissemination {
        #[command(flatten)]
        common: Common,
        /// Fanouts to try (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "3")]
        fanout: Vec<usize>,
        /// Writes measured per configuration.
        #[arg(long, default_value_t = 10)]
        trials: usize,
        /// Seconds to wait for one write to reach everyone.
        #[arg(long, default_value_t = 120)]
        trial_limit: u64,
    },
    /// N nodes join through 2 seeds: time until everyone sees everyone live.
    Formation {
        #[command(flatten)]
        common: Common,
    },
    /// Time to suspect crashed nodes; false suspicions and deaths, alerts about live nodes
    /// and detection traffic, under loss and stalls.
    Detection {
        #[command(flatten)]
        common: Common,
        /// Fractions of nodes that stall now and then (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "0")]
        slow_fraction: Vec<f64>,
        /// Fraction of nodes crashed per wave (at least 1).
        #[arg(long, default_value_t = 0.01)]
        crash_fraction: f64,
        /// Crash waves, 40 s apart.
        #[arg(long, default_value_t = 3)]
        waves: usize,
        /// Seconds of observation after the last wave (false suspicions and deaths, alerts
        /// and traffic are counted from the end of the warm-up to the end).
        #[arg(long, default_value_t = 40)]
        tail: u64,
    },
    /// Flaky hosts (Rapid's scenario) and one-way links: who is declared dead, and when;
    /// alerts about healthy nodes and detection traffic meanwhile.
    Faults {
        #[command(flatten)]
        common: Common,
        /// Fraction of the nodes that turn flaky (at least one).
        #[arg(long, default_value_t = 0.01)]
        flaky_fraction: f64,
        /// Loss at a flaky node's interface, each way.
        #[arg(long, default_value_t = 0.8)]
        flaky_loss: f64,
        /// Pairs (A, C) of healthy nodes where A cannot reach C.
        #[arg(long, default_value_t = 2)]
        one_way: usize,
        /// Seconds the faults last.
        #[arg(long, default_value_t = 120)]
        duration: u64,
    },
    /// Bytes and datagrams per node per second, idle and under write loads.
    Cost {
        #[command(flatten)]
        common: Common,
        /// Write loads, writes per node per second (comma-separated; 0 = idle).
        #[arg(long, value_delimiter = ',', default_value = "0,0.1")]
        writes_per_node_per_sec: Vec<f64>,
        /// Seconds per measurement window.
        #[arg(long, default_value_t = 60)]
        window: u64,
        /// Seconds after formation before the first window (formation's news is still
        /// being told for about a minute at N = 1,000).
        #[arg(long, default_value_t = 20)]
        warmup: u64,
        /// Bytes per written value.
        #[arg(long, default_value_t = 64)]
        value_size: usize,
        /// Longest wait, in seconds after the last write, for the data to converge.
        #[arg(long, default_value_t = 300)]
        cooldown: u64,
    },
    /// Split the cluster in two, heal, time to reconverge.
    Partition {
        #[command(flatten)]
        common: Common,
        /// Seconds the halves stay apart.
        #[arg(long, default_value_t = 60)]
        duration: u64,
    },
    /// Bytes to repair d members two replicas of N disagree on (two nodes alone).
    Repair {
        /// Members both replicas hold (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "10000")]
        nodes: Vec<usize>,
        /// Members the replicas disagree on (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "1,10,100")]
        differing: Vec<usize>,
        /// Keys each member holds.
        #[arg(long, default_value_t = 3)]
        keys: usize,
        /// Chooses the differing members.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Where to write the JSON results (default target/sim/repair.json).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Hours of crashes, restarts, leaves, stalls and writes: memory per node over time.
    Churn {
        #[command(flatten)]
        common: Common,
        /// Simulated hours of churn.
        #[arg(long, default_value_t = 24.0)]
        hours: f64,
        /// Fraction of the nodes hit by a churn event per simulated minute.
        #[arg(long, default_value_t = 0.01)]
        churn_per_minute: f64,
        /// Writes per node per simulated minute.
        #[arg(long, default_value_t = 1.0)]
        writes_per_minute: f64,
        /// Minutes between footprint samples.
        #[arg(long, default_value_t = 60)]
        sample_minutes: u64,
        /// Check invariants per (observer, node) rather than per (observer, key): for long
        /// runs at large N, where per-key memory grows to gigabytes.
        #[arg(long)]
        per_node_checks: bool,
    },
}

/// Options every experiment takes.
#[derive(Debug, Args)]
struct Common {
    /// Cluster sizes (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "100")]
    nodes: Vec<usize>,
    /// Seed of the runs.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Datagram loss probabilities (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "0")]
    loss: Vec<f64>,
    /// Start from the timings of a preset of the library (`default`, `lan`, `wan`,
    /// `local`: intervals, probe timeout, φ tuning, `dead_after`, lifecycle); the options
    /// below override them.
    #[arg(long)]
    preset: Option<leviathan_gossip::Preset>,
    /// Gossip interval, milliseconds (default: the core's, 1000).
    #[arg(long)]
    gossip_interval_ms: Option<u64>,
    /// Heartbeat interval, milliseconds (default: the core's, 1000).
    #[arg(long)]
    heartbeat_interval_ms: Option<u64>,
    /// Link latency range "min,max" in milliseconds, drawn uniformly per datagram.
    #[arg(long, value_delimiter = ',', num_args = 2, default_values_t = [1.0, 5.0])]
    latency_ms: Vec<f64>,
    /// Round-trip every packet through encode/decode (slower).
    #[arg(long)]
    encode: bool,
    /// Seconds of virtual time to wait for every node to see every other live (default:
    /// 300 for `formation`, 120 for the others, which then go on regardless).
    #[arg(long)]
    formation_limit: Option<u64>,
    /// Start from a formed cluster: every node starts (within the first gossip interval)
    /// knowing every other one live, as if its join had completed (for measuring a large cluster at work; formation
    /// itself is the `formation` experiment's).
    #[arg(long)]
    preformed: bool,
    /// Where to write the JSON results (default target/sim/<experiment>.json).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Tombstone grace period, seconds (default: the core's, 300).
    #[arg(long)]
    tombstone_grace_s: Option<u64>,
    /// Seconds a dead or departed peer stays listed (default: the core's, 600).
    #[arg(long)]
    remove_after_s: Option<u64>,
    /// Quarantine of removed peers, seconds (default: the core's, 900).
    #[arg(long)]
    quarantine_s: Option<u64>,
    /// Threads running the nodes (default: one per core). A run's results do not depend
    /// on it.
    #[arg(long)]
    threads: Option<usize>,
}

impl Common {
    /// One cluster spec per (nodes, loss) combination.
    fn specs(&self, fanout: Option<usize>, formation_limit: u64) -> Vec<ClusterSpec> {
        let mut specs = Vec::new();
        for &nodes in &self.nodes {
            for &loss in &self.loss {
                let mut spec = ClusterSpec::new(nodes);
                spec.seed = self.seed;
                spec.loss = loss;
                spec.encode_packets = self.encode;
                spec.preformed = self.preformed;
                spec.threads = self.threads.unwrap_or_else(|| {
                    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
                });
                let limit = self.formation_limit.unwrap_or(formation_limit);
                spec.formation_limit = Duration::from_secs(limit);
                if let [min, max] = self.latency_ms[..] {
                    spec.latency = Latency::Uniform {
                        min: Duration::from_secs_f64(min / 1000.0),
                        max: Duration::from_secs_f64(max / 1000.0),
                    };
                }
                if let Some(preset) = self.preset {
                    match leviathan_gossip::Config::preset(preset).node_config() {
                        Ok(config) => spec.node_config = config,
                        Err(error) => {
                            eprintln!("preset {preset:?}: {error}");
                            std::process::exit(2);
                        }
                    }
                }
                if let Some(ms) = self.gossip_interval_ms {
                    spec.node_config.gossip_interval = Duration::from_millis(ms);
                }
                if let Some(ms) = self.heartbeat_interval_ms {
                    spec.node_config.heartbeat_interval = Duration::from_millis(ms);
                }
                if let Some(fanout) = fanout {
                    spec.node_config.fanout = fanout;
                }
                let config = &mut spec.node_config;
                let secs = Duration::from_secs;
                config.tombstone_grace =
                    self.tombstone_grace_s.map_or(config.tombstone_grace, secs);
                config.remove_after = self.remove_after_s.map_or(config.remove_after, secs);
                config.quarantine = self.quarantine_s.map_or(config.quarantine, secs);
                specs.push(spec);
            }
        }
        specs
    }
}

/// What the JSON file holds.
#[derive(Debug, Serialize)]
struct Report<T> {
    experiment: &'static str,
    command: String,
    wall_s: f64,
    table: Table,
    outcomes: Vec<T>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.experiment) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn run(experiment: Experiment) -> Result<()> {
    match experiment {
        Experiment::Dissemination {
            common,
            fanout,
            trials,
            trial_limit,
        } => {
            let mut specs = Vec::new();
            for f in &fanout {
                specs.extend(common.specs(Some(*f), 120));
            }
            execute(
                "dissemination",
                &common,
                specs,
                dissemination::table,
                |spec| {
                    dissemination::run(&dissemination::Options {
                        cluster: spec,
                        trials,
                        trial_limit: Duration::from_secs(trial_limit),
                    })
                    .map(|o| (o.run.clone(), o))
                },
            )
        }
        Experiment::Formation { common } => {
            let specs = common.specs(None, 300);
            execute("formation", &common, specs, formation::table, |spec| {
                formation::run(&formation::Options { cluster: spec }).map(|o| (o.run.clone(), o))
            })
        }
        Experiment::Detection {
            common,
            slow_fraction,
            crash_fraction,
            waves,
            tail,
        } => {
            let mut runs = Vec::new();
            for spec in common.specs(None, 120) {
                for &slow in &slow_fraction {
                    runs.push((spec.clone(), slow));
                }
            }
            execute(
                "detection",
                &common,
                runs,
                detection::table,
                |(spec, slow)| {
                    let mut options = detection::Options::new(spec);
                    options.slow_fraction = slow;
                    options.crash_fraction = crash_fraction;
                    options.waves = waves;
                    options.tail = Duration::from_secs(tail);
                    detection::run(&options).map(|o| (o.run.clone(), o))
                },
            )
        }
        Experiment::Faults {
            common,
            flaky_fraction,
            flaky_loss,
            one_way,
            duration,
        } => {
            let specs = common.specs(None, 120);
            execute("faults", &common, specs, faults::table, |spec| {
                let mut options = faults::Options::new(spec);
                options.flaky_fraction = flaky_fraction;
                options.flaky_loss = flaky_loss;
                options.one_way = one_way;
                options.duration = Duration::from_secs(duration);
                faults::run(&options).map(|o| (o.run.clone(), o))
            })
        }
        Experiment::Cost {
            common,
            writes_per_node_per_sec,
            window,
            warmup,
            value_size,
            cooldown,
        } => {
            let specs = common.specs(None, 120);
            execute("cost", &common, specs, cost::table, |spec| {
                let mut options = cost::Options::new(spec);
                options.loads = writes_per_node_per_sec.clone();
                options.window = Duration::from_secs(window);
                options.warmup = Duration::from_secs(warmup);
                options.value_size = value_size;
                options.cooldown = Duration::from_secs(cooldown);
                cost::run(&options).map(|o| (o.run.clone(), o))
            })
        }
        Experiment::Repair {
            nodes,
            differing,
            keys,
            seed,
            out,
        } => {
            let started = Instant::now();
            let mut outcomes = Vec::new();
            for &n in &nodes {
                for &d in &differing {
                    let options = repair::Options {
                        nodes: n,
                        differing: d,
                        keys_per_node: keys,
                        seed,
                    };
                    outcomes.push(repair::run(&options)?);
                }
            }
            let table = repair::table(&outcomes);
            println!("repair (wall {:.1} s)", started.elapsed().as_secs_f64());
            print!("{table}");
            let report = Report {
                experiment: "repair",
                command: std::env::args().collect::<Vec<_>>().join(" "),
                wall_s: started.elapsed().as_secs_f64(),
                table,
                outcomes,
            };
            let out = out.unwrap_or_else(|| PathBuf::from("target/sim/repair.json"));
            if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(&out, serde_json::to_string_pretty(&report)?)?;
            println!("results written to {}", out.display());
            Ok(())
        }
        Experiment::Churn {
            common,
            hours,
            churn_per_minute,
            writes_per_minute,
            sample_minutes,
            per_node_checks,
        } => {
            let mut specs = common.specs(None, 120);
            for spec in &mut specs {
                spec.per_key_checks = !per_node_checks;
            }
            let mut totals = Vec::new();
            let result = execute("churn", &common, specs, churn::table, |spec| {
                let mut options =
                    churn::Options::new(spec, Duration::from_secs_f64(hours * 3600.0));
                options.churn_per_minute = churn_per_minute;
                options.writes_per_minute = writes_per_minute;
                options.sample_every = Duration::from_secs(sample_minutes * 60);
                let outcome = churn::run(&options)?;
                totals.push(churn::totals(&outcome));
                Ok((outcome.run.clone(), outcome))
            });
            for line in totals {
                println!("{line}");
            }
            result
        }
        Experiment::Partition { common, duration } => {
            let specs = common.specs(None, 120);
            execute("partition", &common, specs, partition::table, |spec| {
                let mut options = partition::Options::new(spec);
                options.duration = Duration::from_secs(duration);
                partition::run(&options).map(|o| (o.run.clone(), o))
            })
        }
    }
}

/// Runs `one` for every configuration, printing each run's summary as it finishes, then
/// the table; writes the JSON report.
fn execute<C, T: Serialize>(
    name: &'static str,
    common: &Common,
    configurations: Vec<C>,
    table: fn(&[T]) -> Table,
    mut one: impl FnMut(C) -> std::result::Result<(RunInfo, T), leviathan_gossip_sim::SimError>,
) -> Result<()> {
    let started = Instant::now();
    let mut outcomes = Vec::new();
    for configuration in configurations {
        let run_started = Instant::now();
        let (info, outcome) = one(configuration)?;
        println!(
            "{name}: {} (run took {:.1} s wall)",
            info.summary(),
            run_started.elapsed().as_secs_f64()
        );
        for violation in &info.first_violations {
            println!("  {violation}");
        }
        outcomes.push(outcome);
    }
    let table = table(&outcomes);
    let wall_s = started.elapsed().as_secs_f64();
    println!();
    println!("{name} (wall {wall_s:.1} s)");
    print!("{table}");
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let report = Report {
        experiment: name,
        command,
        wall_s,
        table,
        outcomes,
    };
    let out = common
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("target/sim/{name}.json")));
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&out, serde_json::to_string_pretty(&report)?)?;
    println!("results written to {}", out.display());
    Ok(())
}
