//! The JSON results, as far as the charts read them. Only the fields a chart draws are
//! declared (the files hold many more); a missing one is an error naming the file and
//! the field. `Option` fields the simulator writes as `null` when a run did not get there
//! are still required to be present (`required`), so that a renamed field is caught
//! rather than read as "no value".

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::PlotError;

/// Where a chart's numbers came from: one data file.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    /// The file.
    pub(crate) path: PathBuf,
    /// The commit its run was made at, from the file's name.
    pub(crate) commit: String,
    /// The command that produced it, as a reader would type it.
    pub(crate) command: String,
}

/// One data file, parsed.
#[derive(Debug)]
pub(crate) struct Loaded<T> {
    pub(crate) source: Source,
    pub(crate) data: T,
}

/// A simulator report (`target/sim/<experiment>.json`).
#[derive(Debug, Deserialize)]
pub(crate) struct SimReport<T> {
    /// The experiment's name.
    pub(crate) experiment: String,
    /// The command line of the run.
    pub(crate) command: String,
    /// One outcome per configuration.
    pub(crate) outcomes: Vec<T>,
}

/// The part of a simulator run's description the charts use.
#[derive(Debug, Deserialize)]
pub(crate) struct RunInfo {
    pub(crate) nodes: usize,
    pub(crate) loss: f64,
    pub(crate) fanout: usize,
    pub(crate) gossip_interval_s: f64,
    /// When every node first saw every other live (`null`: not within the limit).
    #[serde(deserialize_with = "required")]
    pub(crate) formed_s: Option<f64>,
}

/// One `detection` run.
#[derive(Debug, Deserialize)]
pub(crate) struct Detection {
    pub(crate) run: RunInfo,
    pub(crate) slow_fraction: f64,
    pub(crate) crashed: usize,
    pub(crate) not_suspected_by_all: usize,
    #[serde(deserialize_with = "required")]
    pub(crate) first_median_s: Option<f64>,
    #[serde(deserialize_with = "required")]
    pub(crate) first_p99_s: Option<f64>,
    #[serde(deserialize_with = "required")]
    pub(crate) all_median_s: Option<f64>,
    #[serde(deserialize_with = "required")]
    pub(crate) all_p99_s: Option<f64>,
}

/// One `dissemination` run.
#[derive(Debug, Deserialize)]
pub(crate) struct Dissemination {
    pub(crate) run: RunInfo,
    pub(crate) trials: Vec<Trial>,
    pub(crate) reach: Vec<Reach>,
    pub(crate) push_pull_bound_rounds: f64,
    #[serde(deserialize_with = "required")]
    pub(crate) serf_rounds_999: Option<f64>,
}

/// One write of a dissemination run.
#[derive(Debug, Deserialize)]
pub(crate) struct Trial {
    /// Live nodes when the write was made.
    pub(crate) live: usize,
    /// How many of them had heard of the writer then.
    pub(crate) knew_writer: usize,
}

/// Rounds until one level of reach, over a dissemination run's trials.
#[derive(Debug, Deserialize)]
pub(crate) struct Reach {
    pub(crate) percent: f64,
    #[serde(deserialize_with = "required")]
    pub(crate) median_rounds: Option<f64>,
    #[serde(deserialize_with = "required")]
    pub(crate) p99_rounds: Option<f64>,
}

/// One `churn` run.
#[derive(Debug, Deserialize)]
pub(crate) struct Churn {
    pub(crate) run: RunInfo,
    pub(crate) duration_s: f64,
    pub(crate) churn_events: Vec<(String, u64)>,
    pub(crate) writes: u64,
    pub(crate) samples: Vec<ChurnSample>,
}

/// What the running nodes held at one moment of a churn run.
#[derive(Debug, Deserialize)]
pub(crate) struct ChurnSample {
    pub(crate) at_s: f64,
    pub(crate) nodes_mean: f64,
    pub(crate) nodes_max: usize,
    pub(crate) records_mean: f64,
    pub(crate) records_max: usize,
    #[serde(deserialize_with = "required")]
    pub(crate) rss_mib: Option<f64>,
}

/// One `cost` run.
#[derive(Debug, Deserialize)]
pub(crate) struct Cost {
    pub(crate) run: RunInfo,
    pub(crate) phases: Vec<CostPhase>,
}

/// One load of a cost run.
#[derive(Debug, Deserialize)]
pub(crate) struct CostPhase {
    pub(crate) writes_per_node_per_s: f64,
    pub(crate) bytes_per_node_per_s: f64,
}

/// A loopback bench report (`crates/bench/results/loopback-<N>-<commit>.json`).
#[derive(Debug, Deserialize)]
pub(crate) struct Loopback {
    pub(crate) command: String,
    pub(crate) settings: LoopbackSettings,
    pub(crate) chitchat_version: String,
    pub(crate) leviathan: SystemRun,
    pub(crate) chitchat: SystemRun,
}

/// The bench's settings, as far as the chart states them.
#[derive(Debug, Deserialize)]
pub(crate) struct LoopbackSettings {
    pub(crate) nodes: usize,
    pub(crate) gossip_interval_s: f64,
    pub(crate) chitchat_protocol: String,
}

/// One system's run in the bench.
#[derive(Debug, Deserialize)]
pub(crate) struct SystemRun {
    #[serde(deserialize_with = "required")]
    pub(crate) measurement: Option<Measurement>,
}

/// One system's measurement.
#[derive(Debug, Deserialize)]
pub(crate) struct Measurement {
    pub(crate) nodes: usize,
    pub(crate) cost: LoopbackCost,
}

/// Traffic over the bench's idle window.
#[derive(Debug, Deserialize)]
pub(crate) struct LoopbackCost {
    pub(crate) bytes_per_node_s: f64,
}

/// A field that must be present but may be `null`.
fn required<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer)
}

/// Loads every `<prefix><anything>-<commit>.json` in `dir`, sorted by name.
pub(crate) fn load_all<T: DeserializeOwned>(
    dir: &Path,
    prefix: &str,
    command_of: impl Fn(&T) -> &str,
) -> Result<Vec<Loaded<T>>, PlotError> {
    let mut loaded = Vec::new();
    for path in files(dir, prefix)? {
        let commit = commit_of(&path)?;
        let text = std::fs::read_to_string(&path).map_err(|source| PlotError::Io {
            path: path.clone(),
            source,
        })?;
        let data: T = serde_json::from_str(&text).map_err(|source| PlotError::Parse {
            path: path.clone(),
            source,
        })?;
        let command = readable_command(command_of(&data));
        loaded.push(Loaded {
            source: Source {
                path,
                commit,
                command,
            },
            data,
        });
    }
    Ok(loaded)
}

/// The `.json` files in `dir` whose names start with `prefix`, sorted.
fn files(dir: &Path, prefix: &str) -> Result<Vec<PathBuf>, PlotError> {
    let io = |source| PlotError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with(prefix) && name.ends_with(".json") {
            paths.push(path);
        }
    }
    paths.sort();
    Ok(paths)
}

/// The commit in a data file's name: the last `-`-separated part of its stem.
fn commit_of(path: &Path) -> Result<String, PlotError> {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let commit = stem.rsplit('-').next().unwrap_or("");
    let hex = commit.chars().all(|c| c.is_ascii_hexdigit());
    if (7..=40).contains(&commit.len()) && hex {
        Ok(commit.to_owned())
    } else {
        Err(PlotError::FileName {
            path: path.to_path_buf(),
        })
    }
}

/// The recorded command line as a reader would run it from the workspace: the binary's
/// path becomes `cargo run --release -p <package> --`, and the output path (`--out`,
/// `--json`), which only says where the JSON went, is dropped.
pub(crate) fn readable_command(recorded: &str) -> String {
    let mut words = recorded.split_whitespace();
    let binary = words.next().unwrap_or("");
    let name = binary.rsplit('/').next().unwrap_or(binary);
    let package = match name {
        "leviathan-gossip-sim" => Some("leviathan-gossip-sim"),
        "bench" | "leviathan-gossip-bench" => Some("leviathan-gossip-bench"),
        _ => None,
    };
    let mut out = match package {
        Some(package) => format!("cargo run --release -p {package} --"),
        None => binary.to_owned(),
    };
    while let Some(word) = words.next() {
        if word == "--out" || word == "--json" {
            words.next();
            continue;
        }
        if word.starts_with("--out=") || word.starts_with("--json=") {
            continue;
        }
        out.push(' ');
        out.push_str(word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_read_as_typed_from_the_workspace() {
        assert_eq!(
            readable_command(
                "/tmp/t/release/leviathan-gossip-sim detection --nodes 100 --out d/x.json --threads 1"
            ),
            "cargo run --release -p leviathan-gossip-sim -- detection --nodes 100 --threads 1"
        );
        assert_eq!(
            readable_command("target/release/bench loopback --nodes 10 --json /tmp/a.json"),
            "cargo run --release -p leviathan-gossip-bench -- loopback --nodes 10"
        );
        assert_eq!(readable_command("other --x"), "other --x");
    }

    #[test]
    fn the_commit_is_the_last_part_of_the_name() {
        let commit = commit_of(Path::new("d/loopback-10-abe45b9.json"));
        assert_eq!(commit.ok().as_deref(), Some("abe45b9"));
        assert!(commit_of(Path::new("d/loopback-10-run1.json")).is_err());
        assert!(commit_of(Path::new("d/detection.json")).is_err());
    }

    #[test]
    fn a_missing_field_is_named() {
        let text = r#"{"run": {"nodes": 1, "loss": 0, "fanout": 1, "gossip_interval_s": 1, "formed_s": 1},
            "slow_fraction": 0, "crashed": 1, "not_suspected_by_all": 0,
            "first_median_s": 1.0, "first_p99_s": null, "all_median_s": 1.0}"#;
        let error = serde_json::from_str::<Detection>(text)
            .err()
            .map(|e| e.to_string());
        assert!(
            error
                .as_deref()
                .unwrap_or("")
                .contains("missing field `all_p99_s`"),
            "{error:?}"
        );
    }
}
