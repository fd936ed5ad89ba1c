//! Every chart drawn from the committed data (`docs/plots/data`) into a temporary
//! directory: well-formed SVG, the expected series each with points, the provenance
//! caption. A data file that no longer parses, or a simulator whose JSON changed shape,
//! fails here.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};

use leviathan_gossip_plots::{CHARTS, Chart, PlotError};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/plots/data")
}

/// Draws `name` from the committed data; returns the chart and the SVG's text content.
fn draw(name: &str) -> (Chart, String) {
    let out = tempfile::tempdir().unwrap();
    let (_, render) = CHARTS.iter().find(|(n, _)| *n == name).unwrap();
    let chart = render(&data_dir(), out.path()).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(chart.path, out.path().join(name));
    let svg = std::fs::read_to_string(&chart.path).unwrap();
    let document = roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("{name}: {e}"));
    let root = document.root_element();
    assert_eq!(root.tag_name().name(), "svg", "{name}");
    assert!(root.attribute("width").is_some() && root.attribute("height").is_some());
    let lines = document
        .descendants()
        .filter(|n| matches!(n.tag_name().name(), "polyline" | "path" | "line"))
        .count();
    assert!(lines >= chart.series.len(), "{name}: {lines} lines");
    let text: Vec<&str> = document
        .descendants()
        .filter(|n| n.tag_name().name() == "text")
        .filter_map(|n| n.text())
        .collect();
    (chart, text.join("\n"))
}

/// Every expected label is a series with points, and shown in the legend; every series
/// drawn has points; the caption names each commit and the command.
fn check(chart: &Chart, text: &str, expected: &[&str], command: &str) {
    for (series, points) in &chart.series {
        assert!(
            *points > 0,
            "{}: series {series:?} has no points",
            chart.name
        );
    }
    for label in expected {
        let drawn = chart.series.iter().any(|(s, _)| s.contains(label));
        assert!(
            drawn,
            "{}: no series {label:?} in {:?}",
            chart.name, chart.series
        );
        assert!(
            text.contains(label),
            "{}: {label:?} not in the SVG",
            chart.name
        );
    }
    assert!(!chart.commits.is_empty());
    for commit in &chart.commits {
        assert!(
            text.contains(&format!("commit {commit}")),
            "{}: caption lacks commit {commit}",
            chart.name
        );
    }
    assert!(
        text.contains(command),
        "{}: caption lacks {command:?}",
        chart.name
    );
}

#[test]
fn detection_time_against_n() {
    let (chart, text) = draw("detection.svg");
    let expected = [
        "first observer, median",
        "first observer, p99",
        "every live member, median",
        "every live member, p99",
    ];
    check(
        &chart,
        &text,
        &expected,
        "leviathan-gossip-sim -- detection",
    );
    assert!(text.contains("N, nodes (log scale)"));
    assert!(text.contains("seconds after the crash"));
}

#[test]
fn bytes_against_n_beside_chitchat() {
    let (chart, text) = draw("bytes.svg");
    let expected = ["leviathan-gossip", "chitchat 0.13.0 (protocol V1)"];
    check(
        &chart,
        &text,
        &expected,
        "leviathan-gossip-bench -- loopback",
    );
    let bench: Vec<_> = chart
        .series
        .iter()
        .filter(|(s, _)| s.starts_with("Loopback bench"))
        .collect();
    assert_eq!(bench.len(), 2, "{:?}", chart.series);
    // One point per bench run (N = 10, 50, 100).
    assert!(bench.iter().all(|(_, points)| *points == 3), "{bench:?}");
}

#[test]
fn dissemination_against_the_push_pull_bound() {
    let (chart, text) = draw("dissemination.svg");
    let expected = [
        "50 % of nodes, median",
        "99 % of nodes, median",
        "99.9 % of nodes, median",
        "100 % of nodes, median",
        "99.9 % of nodes, p99",
        "push-pull bound",
        "Serf's model, 99.9 %",
    ];
    check(
        &chart,
        &text,
        &expected,
        "leviathan-gossip-sim -- dissemination",
    );
    let bound = chart.series.iter().find(|(s, _)| s.starts_with("fanout 1"));
    assert!(bound.is_some(), "no fanout-1 panel: {:?}", chart.series);
}

#[test]
fn memory_over_a_churn_run() {
    let (chart, text) = draw("churn.svg");
    let expected = [
        "records, mean",
        "records, max",
        "nodes in state, mean",
        "resident memory",
    ];
    check(&chart, &text, &expected, "leviathan-gossip-sim -- churn");
    assert!(text.contains("simulated hours of churn"));
}

#[test]
fn a_broken_data_file_is_named_with_its_field() {
    let data = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let source = std::fs::read_dir(data_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("detection-")
        })
        .unwrap();
    let text = std::fs::read_to_string(&source).unwrap();
    let broken = text.replace("\"all_p99_s\"", "\"all_p99_seconds\"");
    assert_ne!(text, broken);
    let target = data.path().join(source.file_name().unwrap());
    std::fs::write(&target, broken).unwrap();
    let error = leviathan_gossip_plots::render_all(data.path(), out.path()).unwrap_err();
    assert!(matches!(error, PlotError::Parse { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains(target.to_str().unwrap()), "{message}");
    assert!(message.contains("missing field `all_p99_s`"), "{message}");
}

#[test]
fn a_file_without_a_commit_in_its_name_is_refused() {
    let data = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("detection-latest.json"), "{}").unwrap();
    let (_, render) = CHARTS[0];
    let error = render(data.path(), out.path()).unwrap_err();
    assert!(matches!(error, PlotError::FileName { .. }), "{error:?}");
}
