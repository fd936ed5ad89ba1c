//! The side-by-side report: a Markdown table on stdout and the same data as JSON.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::machine::Machine;
use crate::measure::{Measurement, Wait};
use crate::settings::Settings;

/// One system's outcome: its measurement, or why there is none.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    /// The measurement, if the run got through.
    pub measurement: Option<Measurement>,
    /// The error that stopped the run (a failed start, say), if any. Timeouts are not
    /// errors: they are in the measurement.
    pub error: Option<String>,
    /// Whether the system was skipped on request.
    pub skipped: bool,
}

impl Outcome {
    /// The outcome of a run.
    pub fn from_result(result: anyhow::Result<Measurement>) -> Self {
        match result {
            Ok(measurement) => Outcome {
                measurement: Some(measurement),
                error: None,
                skipped: false,
            },
            Err(error) => Outcome {
                measurement: None,
                error: Some(format!("{error:#}")),
                skipped: false,
            },
        }
    }

    /// A system not run.
    pub fn skipped() -> Self {
        Outcome {
            measurement: None,
            error: None,
            skipped: true,
        }
    }
}

/// A whole benchmark run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The command line that produced it.
    pub command: String,
    /// The machine.
    pub machine: Machine,
    /// Load averages (1, 5, 15 min) when the run started.
    pub load_before: Option<String>,
    /// Load averages when it ended.
    pub load_after: Option<String>,
    /// The run's parameters.
    pub settings: Settings,
    /// The chitchat release compared with.
    pub chitchat_version: &'static str,
    /// leviathan-gossip's outcome.
    pub leviathan: Outcome,
    /// chitchat's outcome.
    pub chitchat: Outcome,
}

/// One row of the table: a label and how to read its value from a measurement.
struct Row {
    label: &'static str,
    value: fn(&Measurement) -> Cell,
}

/// A table cell: a number, or why there is none.
enum Cell {
    Value(f64, Unit),
    Timeout { reached: usize, of: usize },
    Missing,
}

#[derive(Clone, Copy)]
enum Unit {
    Seconds,
    Rate,
    Bytes,
    Millis,
}

fn time(wait: &Wait, pick: fn(&Wait) -> Option<f64>) -> Cell {
    match pick(wait) {
        Some(seconds) => Cell::Value(seconds, Unit::Seconds),
        None => Cell::Timeout {
            reached: wait.reached,
            of: wait.of,
        },
    }
}

const ROWS: &[Row] = &[
    Row {
        label: "formation: all N see all N live (s)",
        value: |m| time(&m.formation, |w| w.all_s),
    },
    Row {
        label: "dissemination: first other node (s)",
        value: |m| time(&m.dissemination, |w| w.first_s),
    },
    Row {
        label: "dissemination: all N-1 others (s)",
        value: |m| time(&m.dissemination, |w| w.all_s),
    },
    Row {
        label: "detection: first survivor (s)",
        value: |m| time(&m.detection, |w| w.first_s),
    },
    Row {
        label: "detection: all N-1 survivors (s)",
        value: |m| time(&m.detection, |w| w.all_s),
    },
    Row {
        label: "UDP payload bytes / node / s",
        value: |m| Cell::Value(m.cost.bytes_per_node_s, Unit::Rate),
    },
    Row {
        label: "datagrams / node / s",
        value: |m| Cell::Value(m.cost.datagrams_per_node_s, Unit::Rate),
    },
    Row {
        label: "bytes / datagram",
        value: |m| {
            if m.cost.traffic.datagrams == 0 {
                Cell::Missing
            } else {
                Cell::Value(
                    m.cost.traffic.bytes as f64 / m.cost.traffic.datagrams as f64,
                    Unit::Bytes,
                )
            }
        },
    },
    Row {
        label: "CPU ms / node / s",
        value: |m| {
            m.cost
                .cpu_ms_per_node_s
                .map_or(Cell::Missing, |ms| Cell::Value(ms, Unit::Millis))
        },
    },
];

impl Cell {
    fn value(&self) -> Option<f64> {
        match self {
            Cell::Value(value, _) => Some(*value),
            _ => None,
        }
    }

    fn render(&self) -> String {
        match self {
            Cell::Value(value, Unit::Seconds) => format!("{value:.3}"),
            Cell::Value(value, Unit::Rate | Unit::Bytes) => format!("{value:.0}"),
            Cell::Value(value, Unit::Millis) => format!("{value:.2}"),
            Cell::Timeout { reached, of } => format!("timeout ({reached}/{of})"),
            Cell::Missing => "n/a".to_string(),
        }
    }
}

fn cell(outcome: &Outcome, row: &Row) -> Cell {
    outcome
        .measurement
        .as_ref()
        .map_or(Cell::Missing, |m| (row.value)(m))
}

fn status(outcome: &Outcome) -> String {
    match (&outcome.measurement, &outcome.error) {
        (_, Some(error)) => format!("failed: {error}"),
        (Some(_), None) => "ok".to_string(),
        (None, None) => "skipped".to_string(),
    }
}

impl Report {
    /// The report as text: machine, command, settings, then a Markdown table with a
    /// leviathan / chitchat ratio column (below 1: leviathan is faster or cheaper).
    pub fn render(&self) -> String {
        let s = &self.settings;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "leviathan-gossip vs chitchat {}: N = {} nodes per system on 127.0.0.1 UDP, one process, one system at a time",
            self.chitchat_version, s.nodes
        );
        let _ = writeln!(out, "command: {}", self.command);
        let _ = writeln!(
            out,
            "machine: nproc {}, {}, {}{}",
            self.machine.nproc,
            self.machine.cpu_model,
            self.machine.os,
            if self.machine.release_build {
                ""
            } else {
                " (DEBUG BUILD: use --release)"
            }
        );
        let _ = writeln!(
            out,
            "load average (1/5/15 min): {} at start, {} at end",
            self.load_before.as_deref().unwrap_or("unknown"),
            self.load_after.as_deref().unwrap_or("unknown"),
        );
        let _ = writeln!(
            out,
            "settings: gossip interval {} ms, phi threshold {}, fanout 3, seeds node1+node2, \
             starts spread over {} ms, settle {:.1} s, window {:.1} s, timeout {:.0} s per wait, poll {} ms, chitchat protocol {:?}",
            s.gossip_interval.as_millis(),
            s.phi_threshold,
            s.stagger.as_millis(),
            s.settle.as_secs_f64(),
            s.window.as_secs_f64(),
            s.timeout.as_secs_f64(),
            s.poll.as_millis(),
            s.chitchat_protocol,
        );
        let _ = writeln!(
            out,
            "status: leviathan {}; chitchat {}",
            status(&self.leviathan),
            status(&self.chitchat)
        );
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "| N = {} | leviathan | chitchat | leviathan / chitchat |",
            s.nodes
        );
        let _ = writeln!(out, "|---|---:|---:|---:|");
        for row in ROWS {
            let ours = cell(&self.leviathan, row);
            let theirs = cell(&self.chitchat, row);
            let ratio = match (ours.value(), theirs.value()) {
                (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
                _ => "n/a".to_string(),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                row.label,
                ours.render(),
                theirs.render(),
                ratio
            );
        }
        out
    }

    /// Writes the report as pretty JSON to `path`, creating its directory.
    pub fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let json = serde_json::to_string_pretty(self)?;
        std::fs::write(path, json + "\n")?;
        Ok(())
    }
}
