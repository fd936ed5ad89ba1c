//! The binary's command line: usage and settings errors (exit code 2, the field named),
//! settings layering (file < environment < flags), and the client subcommands against a
//! real agent.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::type_complexity
)]

mod common;

use std::path::PathBuf;

use common::{Agent, cluster, free_udp, run, scratch_dir};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A settings file, removed on drop.
struct ConfigFile(PathBuf);

impl ConfigFile {
    fn new(contents: &str) -> Self {
        let dir = scratch_dir("config");
        std::fs::write(dir.join("agent.toml"), contents).unwrap();
        ConfigFile(dir)
    }

    fn path(&self) -> String {
        self.0.join("agent.toml").to_str().unwrap().to_string()
    }
}

impl Drop for ConfigFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn help_and_usage_errors() {
    let help = run(&["--help"], &[]);
    assert_eq!(help.status.code(), Some(0));
    assert!(text(&help.stdout).contains("demo"));

    for args in [
        &[][..],
        &["frobnicate"],
        &["agent", "--gossip-interval", "soon"],
        &["agent", "--listen", "nowhere"],
        &["agent", "--preset", "fast"],
        &["demo", "--nodes", "1"],
        &["get", "onlynode"],
    ] {
        let output = run(args, &[]);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&output.stderr)
        );
    }
}

#[test]
fn bad_settings_exit_2_naming_the_field() {
    let cases: [(&str, &[&str], &[(&str, &str)], &str); 10] = [
        ("fanout = 0", &[], &[], "`fanout` (from file "),
        ("fanuot = 3", &[], &[], "`fanuot`"),
        ("gossip_interval = \"soon\"", &[], &[], "`gossip_interval`"),
        ("name = \"\\u0001\"", &[], &[], "`name`"),
        (
            "",
            &["--heartbeat-interval", "0s"],
            &[],
            "`heartbeat_interval` (from flag --heartbeat-interval)",
        ),
        (
            "",
            &[],
            &[("LEVIATHAN_GOSSIP_CLUSTER_ID", "")],
            "`cluster_id` (from environment LEVIATHAN_GOSSIP_CLUSTER_ID)",
        ),
        ("", &["--log-level", "info,[="], &[], "`log_level`"),
        (
            "tombstone_grace = \"10m\"",
            &["--quarantine", "1m"],
            &[],
            "`quarantine` (from flag --quarantine): 60s is shorter than tombstone_grace",
        ),
        (
            "",
            &[],
            &[("LEVIATHAN_GOSSIP_REMOVE_AFTER", "1ms")],
            "`remove_after` (from environment LEVIATHAN_GOSSIP_REMOVE_AFTER)",
        ),
        (
            "tombstone_grace = \"0s\"",
            &[],
            &[],
            "`tombstone_grace` (from file ",
        ),
    ];
    for (file, flags, env, expected) in cases {
        let file_guard = ConfigFile::new(file);
        let path = file_guard.path();
        let mut args = vec!["agent", "--config", path.as_str()];
        args.extend_from_slice(flags);
        let output = run(&args, env);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{file} {flags:?}: {stderr}");
        assert!(stderr.contains(expected), "{file} {flags:?}: {stderr}");
    }
    let missing = run(&["agent", "--config", "/nonexistent/agent.toml"], &[]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).contains("`config`"));
}

#[test]
fn flags_win_over_the_environment_which_wins_over_the_file() {
    let file = ConfigFile::new(
        "name = \"file\"\ncluster_id = \"file\"\nfanout = 4\n[agent]\nadmin = \"127.0.0.1:9001\"\n",
    );
    let path = file.path();
    let path = path.as_str();
    let check = |flags: &[&str]| {
        let mut args = vec!["agent", "--check", "--config", path];
        args.extend_from_slice(flags);
        let output = run(
            &args,
            &[
                ("LEVIATHAN_GOSSIP_NAME", "env"),
                ("LEVIATHAN_GOSSIP_SEEDS", "127.0.0.1:1,127.0.0.1:2"),
                ("LEVIATHAN_GOSSIP_GOSSIP_INTERVAL", "250ms"),
                ("LEVIATHAN_GOSSIP_TOMBSTONE_GRACE", "2m"),
            ],
        );
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
        toml::from_str::<toml::Table>(&text(&output.stdout)).unwrap()
    };
    let settings = check(&[]);
    assert_eq!(settings["name"].as_str(), Some("env"));
    assert_eq!(settings["cluster_id"].as_str(), Some("file"));
    assert_eq!(settings["fanout"].as_integer(), Some(4));
    assert_eq!(settings["gossip_interval"].as_str(), Some("250ms"));
    assert_eq!(settings["tombstone_grace"].as_str(), Some("2m"));
    assert_eq!(settings["seeds"].as_array().unwrap().len(), 2);
    assert_eq!(settings["agent"]["admin"].as_str(), Some("127.0.0.1:9001"));

    let settings = check(&[
        "--name",
        "flag",
        "--seed",
        "127.0.0.1:3",
        "--admin",
        "127.0.0.1:9002",
        "--preset",
        "local",
        "--tombstone-grace",
        "45s",
        "--quarantine",
        "4m",
    ]);
    assert_eq!(settings["name"].as_str(), Some("flag"));
    assert_eq!(settings["tombstone_grace"].as_str(), Some("45s"));
    assert_eq!(settings["quarantine"].as_str(), Some("4m"));
    assert_eq!(settings["remove_after"].as_str(), Some("1m"));
    assert_eq!(settings["seeds"].as_array().unwrap().len(), 1);
    assert_eq!(settings["agent"]["admin"].as_str(), Some("127.0.0.1:9002"));
    assert_eq!(settings["heartbeat_interval"].as_str(), Some("100ms"));
    assert_eq!(settings["gossip_interval"].as_str(), Some("250ms"));
}

#[test]
fn an_admin_port_in_use_fails_with_1() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let admin = taken.local_addr().unwrap().to_string();
    let listen = free_udp().to_string();
    let output = run(
        &[
            "agent", "--preset", "local", "--listen", &listen, "--admin", &admin,
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("admin API"),
        "{}",
        text(&output.stderr)
    );
}

#[tokio::test]
async fn client_subcommands_read_and_write_a_cluster() {
    let mut agents = cluster(2).await;
    let a1 = agents[0].admin.to_string();
    let a2 = agents[1].admin.to_string();
    let cli = |args: &[&str]| {
        let output = run(args, &[]);
        (
            output.status.code(),
            text(&output.stdout),
            text(&output.stderr),
        )
    };

    let (code, stdout, _) = cli(&["set", "--admin", &a1, "greeting", "hello world"]);
    assert_eq!(code, Some(0));
    assert_eq!(stdout, "a1/greeting = v1\n");

    let started = std::time::Instant::now();
    loop {
        let (code, stdout, stderr) = cli(&["get", "--admin", &a2, "a1", "greeting"]);
        if code == Some(0) {
            assert_eq!(stdout, "hello world\n");
            break;
        }
        assert_eq!(code, Some(1), "{stderr}");
        assert!(
            started.elapsed() < common::PATIENCE,
            "a1/greeting never reached a2: {stderr}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    let (code, stdout, stderr) = cli(&["set", "--admin", &a1, "--ttl", "1h", "brief", "x"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, "a1/brief = v2 (expires in 1h)\n");
    let (code, stdout, _) = cli(&[
        "set", "--json", "--admin", &a1, "--ttl", "90s", "brief", "y",
    ]);
    assert_eq!(code, Some(0));
    let written: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(written["ttl_ms"], 90_000);
    let (code, _, stderr) = cli(&["set", "--admin", &a1, "--ttl", "0s", "brief", "z"]);
    assert_eq!(code, Some(1), "a zero ttl is refused by the agent");
    assert!(stderr.contains("invalid ttl"), "{stderr}");

    let (code, stdout, _) = cli(&["get", "--json", "--admin", &a2, "a1", "greeting"]);
    assert_eq!(code, Some(0));
    let entry: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(entry["value"], "hello world");

    let (code, stdout, _) = cli(&["members", "--admin", &a1]);
    assert_eq!(code, Some(0));
    assert!(stdout.starts_with("NAME"), "{stdout}");
    assert!(
        stdout.contains("a1 (self)") && stdout.contains("a2"),
        "{stdout}"
    );

    let (code, stdout, _) = cli(&["members", "--json", "--admin", &a1]);
    assert_eq!(code, Some(0));
    let members: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(members["members"].as_array().unwrap().len(), 2);

    let (code, stdout, _) = cli(&["kv", "--admin", &a1]);
    assert_eq!(code, Some(0));
    assert!(
        stdout.contains("greeting") && stdout.contains("\"hello world\""),
        "{stdout}"
    );

    let (code, stdout, _) = cli(&["del", "--admin", &a1, "greeting"]);
    assert_eq!(
        (code, stdout.as_str()),
        (Some(0), "deleted a1/greeting (v4)\n")
    );
    let (code, _, stderr) = cli(&["del", "--admin", &a1, "greeting"]);
    assert_eq!(code, Some(1), "{stderr}");
    let (code, _, stderr) = cli(&["get", "--admin", &a1, "a1", "greeting"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("no key"), "{stderr}");

    let unreachable = common::free_tcp().to_string();
    let (code, _, stderr) = cli(&["members", "--admin", &unreachable]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("cannot reach"), "{stderr}");

    let (code, _, _) = cli(&["leave", "--admin", &a2]);
    assert_eq!(code, Some(0));
    assert_eq!(
        agents[1].wait_exit().code(),
        Some(0),
        "left on POST /v1/leave"
    );
}

#[test]
fn a_lone_agent_starts_and_stops_on_sigterm() {
    let mut agent = Agent::spawn("lone", free_udp(), &[]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(agent.ready());
    assert_eq!(agent.terminate().code(), Some(0));
    assert!(
        agent.stderr().contains("agent started"),
        "{}",
        agent.stderr()
    );
}
