//! `leviathan-gossip-plots`: draws the SVG charts of `BENCHMARKS.md` from the JSON results
//! in `docs/plots/data` into `docs/plots`.
//!
//! ```text
//! cargo run -p leviathan-gossip-plots
//! cargo run -p leviathan-gossip-plots -- --data DIR --out DIR
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    // The workspace's docs/plots, wherever the command is run from.
    let plots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/plots");
    let mut data = plots.join("data");
    let mut out = plots;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let slot = match arg.as_str() {
            "--data" => &mut data,
            "--out" => &mut out,
            "-h" | "--help" => {
                println!(
                    "usage: leviathan-gossip-plots [--data DIR] [--out DIR]\n\
                     Draws the charts of BENCHMARKS.md from DIR/*.json (default \
                     docs/plots/data) into DIR (default docs/plots)."
                );
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("error: unknown argument {other:?} (try --help)");
                return ExitCode::from(2);
            }
        };
        match args.next() {
            Some(dir) => *slot = PathBuf::from(dir),
            None => {
                eprintln!("error: {arg} needs a directory");
                return ExitCode::from(2);
            }
        }
    }
    if let Err(error) = std::fs::create_dir_all(&out) {
        eprintln!("error: {}: {error}", out.display());
        return ExitCode::FAILURE;
    }
    // Every chart is tried, so that one bad data file does not hide the others' state.
    let mut failed = false;
    for (name, render) in leviathan_gossip_plots::CHARTS {
        match render(&data, &out) {
            Ok(chart) => {
                let commits = chart.commits.join(", ");
                println!("{} (data at {commits})", chart.path.display());
            }
            Err(error) => {
                eprintln!("error: {name}: {error}");
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
