//! The charts of `BENCHMARKS.md`, drawn as SVG from the JSON results the simulator
//! (`crates/sim`) and the loopback bench (`crates/bench`) write.
//!
//! ```text
//! cargo run -p leviathan-gossip-plots              # docs/plots/data/*.json -> docs/plots/*.svg
//! cargo run -p leviathan-gossip-plots -- --data DIR --out DIR
//! ```
//!
//! The data directory holds copies of the results, each named `<experiment>-<commit>.json`
//! (`loopback-<N>-<commit>.json` for the bench), the commit being the one the run was
//! made at: a chart states it, with the command that produced the data (read from the
//! file), under its plot. Every number drawn comes from those files; nothing is typed in.
//!
//! | chart | data files |
//! |---|---|
//! | `detection.svg`: time to suspect a crashed node against N | `detection-*.json` |
//! | `bytes.svg`: bytes per node per second against N, beside chitchat | `loopback-*.json` (and `cost-*.json`, if any) |
//! | `dissemination.svg`: rounds for one write against the push-pull bound | `dissemination-*.json` |
//! | `churn.svg`: what each node holds over a long churn run | `churn-*.json` |

mod charts;
mod data;
mod draw;

use std::path::{Path, PathBuf};

pub use charts::{CHARTS, Chart};

/// What can go wrong drawing the charts. None of it touches the data files; a chart
/// whose drawing failed may be left half-written in the output directory.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlotError {
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// A data file is not the JSON expected: serde's message names the missing or
    /// mistyped field and where it is.
    #[error("{path}: {source}")]
    Parse {
        /// The data file.
        path: PathBuf,
        /// What serde said (for a missing field: "missing field `name`").
        source: serde_json::Error,
    },
    /// A data file's name does not end in `-<commit>.json`, so the chart could not say
    /// which commit produced it.
    #[error("{path}: the name must end in -<commit>.json (7 to 40 hex digits)")]
    FileName {
        /// The data file.
        path: PathBuf,
    },
    /// A data file parsed but holds nothing a chart can draw (for example, every run
    /// of it timed out).
    #[error("{path}: {what}")]
    Empty {
        /// The data file.
        path: PathBuf,
        /// What was missing.
        what: String,
    },
    /// No data file for a chart in the data directory.
    #[error("{dir}: no {pattern} file for {chart}")]
    NoData {
        /// The data directory.
        dir: PathBuf,
        /// The file names looked for.
        pattern: &'static str,
        /// The chart that needed them.
        chart: &'static str,
    },
    /// plotters could not draw a chart.
    #[error("drawing {chart}: {message}")]
    Draw {
        /// The chart's file name.
        chart: String,
        /// What plotters said.
        message: String,
    },
}

/// Draws every chart from the JSON results in `data_dir` into `out_dir` (created if
/// missing), returning what was drawn.
pub fn render_all(data_dir: &Path, out_dir: &Path) -> Result<Vec<Chart>, PlotError> {
    std::fs::create_dir_all(out_dir).map_err(|source| PlotError::Io {
        path: out_dir.to_path_buf(),
        source,
    })?;
    CHARTS
        .iter()
        .map(|(_, render)| render(data_dir, out_dir))
        .collect()
}
