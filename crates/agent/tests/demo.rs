//! The demo runs its whole story and exits 0 by itself.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{command, wait_output};

#[test]
fn the_demo_tells_the_whole_story_and_exits_0() {
    let child = command()
        .args([
            "demo",
            "--nodes",
            "3",
            "--pause",
            "0s",
            "--step-timeout",
            "20s",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let output = wait_output(child, Duration::from_secs(90), "leviathan-gossip demo");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    for expected in [
        "ADMIN API (HTTP)",
        "CLUSTER PAGE (BROWSER)",
        "Watch the cluster live in a browser: open http://127.0.0.1:",
        "[node1] discovered",
        "update node3/k3 = \"v3\" (v1)",
        "[node2] crashes",
        "suspects node2",
        "sees node2 restarted",
        "== Summary",
        "node2/k2 = \"v2\"",
        "converge",
        "suspect",
        "recover",
    ] {
        assert!(stdout.contains(expected), "no {expected:?} in:\n{stdout}");
    }
}
