//! Encryption and the admin token end to end, with real agent processes on 127.0.0.1:
//! encrypted clusters formed from `LEVIATHAN_GOSSIP_KEYS` and keyring files, outsiders kept
//! out, a key rotation through the CLI that loses no member, the online upgrade of a
//! plaintext cluster through the admin API, the token on every endpoint, and bad keys
//! refused without being repeated.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::type_complexity
)]

mod common;

use std::ffi::OsStr;
use std::path::PathBuf;
use std::time::Duration;

use common::{
    Agent, all_live, cluster, cluster_with, eventually, free_udp, run, run_with_stdin, scratch_dir,
};
use leviathan_gossip::keyring::SecretKey;
use leviathan_gossip_agent::api::{ErrorResponse, KeysResponse};
use leviathan_gossip_agent::client::{AdminClient, Method, StatusCode};
use leviathan_gossip_agent::token::AdminToken;

/// A fixed key per label (these tests need keys, not secrecy).
fn key(label: u8) -> SecretKey {
    SecretKey::from_bytes([label; 32])
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Files for one test (keys, tokens), removed on drop.
struct Files(PathBuf);

impl Files {
    fn new(label: &str) -> Files {
        Files(scratch_dir(label))
    }

    fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The value of one metric sample in OpenMetrics text.
fn sample(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            (name == series).then(|| value.parse().unwrap())
        })
        .unwrap_or_else(|| panic!("no {series} in\n{metrics}"))
}

fn dropped(reason: &str) -> String {
    format!("leviathan_gossip_packets_dropped_total{{reason=\"{reason}\"}}")
}

/// The names an agent knows, itself included.
async fn member_names(agent: &Agent) -> Vec<String> {
    let members = agent.client().members().await.unwrap().members;
    members.into_iter().map(|m| m.name).collect()
}

/// Checks that every agent sees all of them live, right now.
async fn assert_all_live(agents: &[Agent], when: &str) {
    for agent in agents {
        let members = agent.client().members().await.unwrap().members;
        assert_eq!(members.len(), agents.len(), "{} {when}", agent.name);
        for member in &members {
            assert_eq!(
                member.state, "live",
                "{} sees {} {} {when}",
                agent.name, member.name, member.state
            );
        }
    }
}

/// A few gossip rounds of the `local` preset, for a step to settle everywhere.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(500)).await;
}

#[tokio::test]
async fn an_encrypted_cluster_forms_and_agents_without_the_key_stay_out() {
    // The key from the CLI, as an operator makes one.
    let generated = run(&["keys", "generate"], &[]);
    assert_eq!(
        generated.status.code(),
        Some(0),
        "{}",
        text(&generated.stderr)
    );
    let encoded = text(&generated.stdout);
    let cluster_key = SecretKey::from_base64(encoded.trim()).unwrap();
    assert!(
        text(&generated.stderr).contains(&cluster_key.fingerprint().to_string()),
        "the fingerprint on stderr"
    );
    let files = Files::new("keys");
    let keyring_file = files.write(
        "keyring",
        &format!("# the cluster's key\n{}\n", cluster_key.to_base64()),
    );
    let keys_env = cluster_key.to_base64();

    let agents = cluster_with(3, |name, address, seeds| {
        if name == "a2" {
            Agent::spawn_with(
                name,
                address,
                seeds,
                &[OsStr::new("--keyring-file"), keyring_file.as_os_str()],
            )
        } else {
            let env = [("LEVIATHAN_GOSSIP_KEYS", keys_env.as_str())];
            Agent::spawn_full(name, address, seeds, &[], &env, None)
        }
    })
    .await;
    let seeds = [agents[0].gossip];
    let keys = agents[1].client().keys().await.unwrap();
    assert_eq!(keys.keys.len(), 1);
    assert!(keys.keys[0].primary);
    assert_eq!(
        keys.keys[0].fingerprint,
        cluster_key.fingerprint().to_string()
    );
    assert!(keys.encrypt_outgoing && !keys.accept_plaintext);

    // A plaintext agent and one with another key call a1 for a while.
    let plain = Agent::spawn("plain", free_udp(), &seeds);
    let other_key = key(9).to_base64();
    let stranger = Agent::spawn_full(
        "stranger",
        free_udp(),
        &seeds,
        &[],
        &[("LEVIATHAN_GOSSIP_KEYS", other_key.as_str())],
        None,
    );
    plain.ready().await;
    stranger.ready().await;
    let client = &agents[0].client();
    eventually("a1 to drop the outsiders' datagrams", || async move {
        let metrics = client.metrics().await.unwrap();
        (sample(&metrics, &dropped("plaintext")) >= 3.0
            && sample(&metrics, &dropped("unauthenticated")) >= 3.0)
            .then_some(())
    })
    .await;
    settle().await;
    for agent in &agents {
        let names = member_names(agent).await;
        assert_eq!(
            names,
            ["a1", "a2", "a3"],
            "{} let an outsider in",
            agent.name
        );
    }
    for outsider in [&plain, &stranger] {
        let names = member_names(outsider).await;
        assert_eq!(
            names,
            std::slice::from_ref(&outsider.name),
            "{} got in",
            outsider.name
        );
    }
    let metrics = agents[0].client().metrics().await.unwrap();
    assert!(sample(&metrics, "leviathan_gossip_datagrams_sealed_total") > 0.0);
    assert!(sample(&metrics, "leviathan_gossip_datagrams_opened_total") > 0.0);
    assert_eq!(sample(&metrics, "leviathan_gossip_keyring_keys"), 1.0);
    assert_eq!(sample(&metrics, "leviathan_gossip_encrypt_outgoing"), 1.0);
    assert_eq!(sample(&metrics, "leviathan_gossip_accept_plaintext"), 0.0);
    // The key never shows in the agents' output.
    for agent in &agents {
        assert!(!agent.stderr().contains(&keys_env), "{}", agent.name);
        assert!(
            agent.stderr().contains("encryption on"),
            "{}",
            agent.stderr()
        );
    }
}

/// Runs a client subcommand; panics with its stderr unless it exits 0. Returns stdout.
fn cli_ok(args: &[&str], env: &[(&str, &str)], stdin: Option<&[u8]>) -> String {
    let output = run_with_stdin(args, env, stdin);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{args:?}: {}",
        text(&output.stderr)
    );
    text(&output.stdout)
}

#[tokio::test]
async fn a_key_rotation_through_the_cli_loses_no_member() {
    let files = Files::new("rotation");
    let token = "rotation-token-0123456789";
    let token_file = files.write("token", &format!("{token}\n"));
    let old = key(1);
    let old_env = old.to_base64();
    let agents = cluster_with(3, |name, address, seeds| {
        let mut env = vec![("LEVIATHAN_GOSSIP_KEYS", old_env.as_str())];
        let token_flag = [OsStr::new("--admin-token-file"), token_file.as_os_str()];
        // a3 takes the token from the environment, the others from the file.
        let extra: &[&OsStr] = if name == "a3" {
            env.push(("LEVIATHAN_GOSSIP_ADMIN_TOKEN", token));
            &[]
        } else {
            &token_flag
        };
        Agent::spawn_full(name, address, seeds, extra, &env, Some(token))
    })
    .await;
    let admins: Vec<String> = agents.iter().map(|a| a.admin.to_string()).collect();
    let token_path = token_file.to_str().unwrap();
    // The client's token: the file for a1, the environment for a2 and a3.
    let token_args = |i: usize| -> Vec<&str> {
        if i == 0 {
            vec!["--admin-token-file", token_path]
        } else {
            vec![]
        }
    };
    let token_env = |i: usize| -> Vec<(&str, &str)> {
        if i == 0 {
            vec![]
        } else {
            vec![("LEVIATHAN_GOSSIP_ADMIN_TOKEN", token)]
        }
    };

    // Without the token the CLI is refused.
    let refused = run(&["keys", "list", "--admin", &admins[0]], &[]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused.stderr).contains("401") && text(&refused.stderr).contains("token"),
        "{}",
        text(&refused.stderr)
    );

    let new_text = cli_ok(&["keys", "generate"], &[], None);
    let new = SecretKey::from_base64(new_text.trim()).unwrap();
    let new_file = files.write("new.key", &new_text);
    let (old_fp, new_fp) = (old.fingerprint().to_string(), new.fingerprint().to_string());

    // 1. Install the new key everywhere: from a file, the environment, stdin.
    for (i, admin) in admins.iter().enumerate() {
        let mut args = vec!["keys", "install", "--admin", admin];
        args.extend(token_args(i));
        let mut env = token_env(i);
        let stdin = match i {
            0 => {
                args.extend(["--key-file", new_file.to_str().unwrap()]);
                None
            }
            1 => {
                env.push(("LEVIATHAN_GOSSIP_KEY", new_text.trim()));
                None
            }
            _ => Some(new_text.as_bytes()),
        };
        let stdout = cli_ok(&args, &env, stdin);
        assert_eq!(stdout, format!("a{}: installed key {new_fp}\n", i + 1));
    }
    for (i, admin) in admins.iter().enumerate() {
        let mut args = vec!["keys", "list", "--json", "--admin", admin];
        args.extend(token_args(i));
        let keys: KeysResponse = serde_json::from_str(&cli_ok(&args, &token_env(i), None)).unwrap();
        let listed: Vec<(&str, bool)> = keys
            .keys
            .iter()
            .map(|k| (k.fingerprint.as_str(), k.primary))
            .collect();
        assert_eq!(listed, [(old_fp.as_str(), true), (new_fp.as_str(), false)]);
    }
    settle().await;
    assert_all_live(&agents, "after installing the new key").await;

    // 2. Use it everywhere: by fingerprint, and by the key itself on a3.
    for (i, admin) in admins.iter().enumerate() {
        let mut args = vec!["keys", "use", "--admin", admin];
        args.extend(token_args(i));
        if i == 2 {
            args.extend(["-", "--key-file", new_file.to_str().unwrap()]);
        } else {
            args.push(&new_fp);
        }
        let stdout = cli_ok(&args, &token_env(i), None);
        assert_eq!(
            stdout,
            format!("a{}: key {new_fp} is now the primary\n", i + 1)
        );
    }
    settle().await;
    assert_all_live(&agents, "after using the new key").await;

    // The primary cannot be removed, and a key not installed cannot be used.
    let mut args = vec!["keys", "remove", "--admin", &admins[0], &new_fp];
    args.extend(token_args(0));
    let output = run(&args, &token_env(0));
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("409"),
        "{}",
        text(&output.stderr)
    );
    let unknown = key(7).fingerprint().to_string();
    let mut args = vec!["keys", "use", "--admin", &admins[0], &unknown];
    args.extend(token_args(0));
    let output = run(&args, &token_env(0));
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("404"),
        "{}",
        text(&output.stderr)
    );

    // 3. Remove the old key everywhere.
    for (i, admin) in admins.iter().enumerate() {
        let mut args = vec!["keys", "remove", "--admin", admin, &old_fp];
        args.extend(token_args(i));
        let stdout = cli_ok(&args, &token_env(i), None);
        assert_eq!(stdout, format!("a{}: removed key {old_fp}\n", i + 1));
        let mut args = vec!["keys", "list", "--admin", admin];
        args.extend(token_args(i));
        let stdout = cli_ok(&args, &token_env(i), None);
        assert!(
            stdout.starts_with(&format!("FINGERPRINT       PRIMARY\n{new_fp}  yes\n")),
            "{stdout}"
        );
        assert!(stdout.contains("encryption: required"), "{stdout}");
    }
    settle().await;
    assert_all_live(&agents, "after removing the old key").await;

    // State still flows, and no datagram was refused along the way.
    agents[0].client().set("after", "rotation").await.unwrap();
    let client = &agents[2].client();
    eventually("a1/after on a3", || async move {
        client.get("a1", "after").await.unwrap()
    })
    .await;
    for agent in &agents {
        let metrics = agent.client().metrics().await.unwrap();
        assert_eq!(
            sample(&metrics, &dropped("unauthenticated")),
            0.0,
            "{}",
            agent.name
        );
        assert!(!agent.stdout().contains("peers_dead"), "{}", agent.name);
    }
}

#[tokio::test]
async fn a_plaintext_cluster_upgrades_to_encryption_online() {
    let agents = cluster(3).await;
    let cluster_key = key(3);
    let status = |keys: &KeysResponse| (keys.encrypt_outgoing, keys.accept_plaintext);

    // No key yet: no phase to set.
    let (code, body) = agents[0]
        .client()
        .request(
            Method::PUT,
            "/v1/encryption",
            r#"{"encrypt_outgoing":true}"#,
        )
        .await
        .unwrap();
    assert_eq!(code, StatusCode::CONFLICT, "{body:?}");

    // Phase 1: the key everywhere; plaintext still sent, both accepted.
    for agent in &agents {
        let done = agent.client().install_key(&cluster_key).await.unwrap();
        assert!(done.changed);
        assert_eq!(status(&done.keyring), (false, true), "{}", agent.name);
    }
    settle().await;
    assert_all_live(&agents, "in phase 1").await;
    // Phase 2: sealed sent, both accepted.
    for agent in &agents {
        let keys = agent
            .client()
            .set_encryption(Some(true), None)
            .await
            .unwrap();
        assert_eq!(status(&keys), (true, true), "{}", agent.name);
    }
    settle().await;
    assert_all_live(&agents, "in phase 2").await;
    // Phase 3: sealed only.
    for agent in &agents {
        let keys = agent
            .client()
            .set_encryption(Some(true), Some(false))
            .await
            .unwrap();
        assert_eq!(status(&keys), (true, false), "{}", agent.name);
    }
    settle().await;
    assert_all_live(&agents, "in phase 3").await;

    // Sending plaintext while refusing it is refused.
    let error = agents[0]
        .client()
        .set_encryption(Some(false), None)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("400"), "{error}");

    agents[1].client().set("sealed", "yes").await.unwrap();
    let client = &agents[0].client();
    eventually("a2/sealed on a1", || async move {
        client.get("a2", "sealed").await.unwrap()
    })
    .await;
    for agent in &agents {
        let metrics = agent.client().metrics().await.unwrap();
        assert_eq!(
            sample(&metrics, &dropped("plaintext")),
            0.0,
            "{}",
            agent.name
        );
        assert_eq!(
            sample(&metrics, &dropped("unauthenticated")),
            0.0,
            "{}",
            agent.name
        );
        assert!(sample(&metrics, "leviathan_gossip_datagrams_opened_total") > 0.0);
    }

    // A plaintext newcomer no longer gets in.
    let plain = Agent::spawn("late", free_udp(), &[agents[0].gossip]);
    plain.ready().await;
    let client = &agents[0].client();
    eventually("a1 to refuse the newcomer's plaintext", || async move {
        let metrics = client.metrics().await.unwrap();
        (sample(&metrics, &dropped("plaintext")) >= 3.0).then_some(())
    })
    .await;
    assert_eq!(member_names(&agents[0]).await, ["a1", "a2", "a3"]);
    all_live(&agents).await;
}

/// One agent requiring `token`, read from a file.
fn agent_with_token(files: &Files, token: &str) -> Agent {
    let path = files.write("token", &format!("{token}\n"));
    Agent::spawn_full(
        "guarded",
        free_udp(),
        &[],
        &[OsStr::new("--admin-token-file"), path.as_os_str()],
        &[],
        Some(token),
    )
}

#[tokio::test]
async fn the_admin_token_guards_every_endpoint_and_bad_keys_are_not_repeated() {
    let files = Files::new("token");
    let token = "guard-token-abcdef0123456789";
    let agent = agent_with_token(&files, token);
    agent.ready().await;
    let address = agent.admin.to_string();
    let bare = AdminClient::new(&address).unwrap();
    let wrong = AdminClient::new(&address)
        .unwrap()
        .with_token(Some(AdminToken::parse("guess").unwrap()));
    let good = agent.client();

    let probes: [(Method, &str, &str); 8] = [
        (Method::GET, "/v1/members", ""),
        (Method::GET, "/v1/health", ""),
        (Method::GET, "/metrics", ""),
        (Method::GET, "/v1/keys", ""),
        (Method::POST, "/v1/keys", r#"{"key":"x"}"#),
        (
            Method::PUT,
            "/v1/encryption",
            r#"{"encrypt_outgoing":true}"#,
        ),
        (Method::POST, "/v1/leave", ""),
        (Method::GET, "/v1/nowhere", ""),
    ];
    for (client, what) in [(&bare, "no token"), (&wrong, "a wrong token")] {
        for (method, path, body) in &probes {
            let (status, answer) = client
                .request(method.clone(), path, body.to_string())
                .await
                .unwrap();
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} with {what}"
            );
            let error: ErrorResponse = serde_json::from_slice(&answer).unwrap();
            assert!(error.error.contains("token"), "{}", error.error);
            assert!(!error.error.contains(token));
        }
    }
    for path in ["/v1/members", "/v1/health", "/metrics", "/v1/keys"] {
        let (status, _) = good.request(Method::GET, path, "").await.unwrap();
        assert_eq!(status, StatusCode::OK, "{path} with the token");
    }
    // Still running: the refused leave did nothing.
    assert_eq!(good.health().await.unwrap().status, "ok");

    // Bad key input: a 400 naming the field, never the input.
    let real = key(5).to_base64();
    let typo = &real[..43];
    let cases: Vec<(Method, String, String, &str)> = vec![
        (
            Method::POST,
            "/v1/keys".into(),
            format!(r#"{{"key":"{typo}"}}"#),
            "`key`",
        ),
        (
            Method::POST,
            "/v1/keys".into(),
            r#"{"key":5}"#.into(),
            "`key`",
        ),
        (Method::POST, "/v1/keys".into(), "{}".into(), "`key`"),
        (Method::POST, "/v1/keys".into(), real.clone(), "JSON object"),
        (
            Method::POST,
            "/v1/keys".into(),
            format!(r#"{{"kye":"{real}"}}"#),
            "`kye`",
        ),
        (
            Method::POST,
            "/v1/keys".into(),
            format!(r#"{{"{real}":true}}"#),
            "unknown field",
        ),
        (
            Method::PUT,
            "/v1/keys/primary".into(),
            format!(r#"{{"key":"{typo}"}}"#),
            "`key`",
        ),
        (
            Method::DELETE,
            format!(
                "/v1/keys/{}",
                leviathan_gossip_agent::client::encode_segment(&real)
            ),
            String::new(),
            "fingerprint",
        ),
        (
            Method::DELETE,
            "/v1/keys/xyz".into(),
            String::new(),
            "fingerprint",
        ),
        (
            Method::PUT,
            "/v1/encryption".into(),
            format!(r#"{{"encrypt_outgoing":"{real}"}}"#),
            "`encrypt_outgoing`",
        ),
        (
            Method::PUT,
            "/v1/encryption".into(),
            "{}".into(),
            "`encrypt_outgoing`",
        ),
    ];
    for (method, path, body, expected) in cases {
        let (status, answer) = good
            .request(method.clone(), &path, body.clone())
            .await
            .unwrap();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {path} {body}");
        let error: ErrorResponse = serde_json::from_slice(&answer).unwrap();
        assert!(error.error.contains(expected), "{path}: {}", error.error);
        assert!(
            !error.error.contains(typo) && !error.error.contains(&real[..20]),
            "{path}: the key was repeated: {}",
            error.error
        );
    }
    // Not installed, and the primary.
    let (status, _) = good
        .request(
            Method::PUT,
            "/v1/keys/primary",
            format!(r#"{{"key":"{}"}}"#, key(6).fingerprint()),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::NOT_FOUND);
    let done = good.install_key(&key(5)).await.unwrap();
    assert!(done.changed && done.keyring.keys.len() == 1);
    let again = good.install_key(&key(5)).await.unwrap();
    assert!(!again.changed);
    let (status, _) = good
        .request(
            Method::DELETE,
            &format!("/v1/keys/{}", key(5).fingerprint()),
            "",
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = good
        .request(
            Method::DELETE,
            &format!("/v1/keys/{}", key(6).fingerprint()),
            "",
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The agent never logged a key.
    assert!(!agent.stderr().contains(&real[..20]), "{}", agent.stderr());
}

/// `agent --check` with `env`; returns (exit code, stdout, stderr).
fn check(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let listen = free_udp().to_string();
    let mut all = vec!["agent", "--check", "--listen", &listen];
    all.extend_from_slice(args);
    let output = run(&all, env);
    (
        output.status.code(),
        text(&output.stdout),
        text(&output.stderr),
    )
}

#[test]
fn encryption_and_token_settings_errors_name_the_field_and_never_the_secret() {
    let files = Files::new("settings");
    let good = key(1).to_base64();
    let typo = &good[..40];
    let keys = format!("{good},{typo}");
    let (code, _, stderr) = check(&[], &[("LEVIATHAN_GOSSIP_KEYS", &keys)]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("`keyring` (from environment LEVIATHAN_GOSSIP_KEYS)")
            && stderr.contains("key 2"),
        "{stderr}"
    );
    assert!(!stderr.contains(typo), "{stderr}");

    let bad_file = files.write("keyring", &format!("{good}\n{typo}\n"));
    let (code, _, stderr) = check(&["--keyring-file", bad_file.to_str().unwrap()], &[]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("`keyring_file` (from flag --keyring-file)") && stderr.contains("line 2"),
        "{stderr}"
    );
    assert!(!stderr.contains(typo), "{stderr}");
    let (code, _, stderr) = check(&[], &[("LEVIATHAN_GOSSIP_KEYRING_FILE", "/nonexistent/k")]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("`keyring_file` (from environment LEVIATHAN_GOSSIP_KEYRING_FILE)"),
        "{stderr}"
    );
    let (code, _, stderr) = check(
        &["--encrypt-outgoing", "false"],
        &[("LEVIATHAN_GOSSIP_KEYS", &good)],
    );
    assert_eq!(code, Some(2));
    assert!(stderr.contains("`encrypt_outgoing` (from flag"), "{stderr}");

    let (code, _, stderr) = check(&[], &[("LEVIATHAN_GOSSIP_ADMIN_TOKEN", "two words")]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("`admin_token`") && !stderr.contains("two words"),
        "{stderr}"
    );
    let (code, _, stderr) = check(&["--admin-token-file", "/nonexistent/token"], &[]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("`admin_token_file` (from flag"), "{stderr}");
    let token_file = files.write("token", "t0ken\n");
    let (code, _, stderr) = check(
        &[],
        &[
            (
                "LEVIATHAN_GOSSIP_ADMIN_TOKEN_FILE",
                token_file.to_str().unwrap(),
            ),
            ("LEVIATHAN_GOSSIP_ADMIN_TOKEN", "t0ken"),
        ],
    );
    assert_eq!(code, Some(2));
    assert!(stderr.contains("keep one"), "{stderr}");

    // Valid: the effective settings show the phase and the files, never a secret.
    let keyring = files.write("good-keyring", &format!("{good}\n"));
    let (code, stdout, stderr) = check(
        &[
            "--keyring-file",
            keyring.to_str().unwrap(),
            "--accept-plaintext",
            "--admin-token-file",
            token_file.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, Some(0), "{stderr}");
    let settings: toml::Table = toml::from_str(&stdout).unwrap();
    assert_eq!(settings["encrypt_outgoing"].as_bool(), Some(true));
    assert_eq!(settings["accept_plaintext"].as_bool(), Some(true));
    assert_eq!(
        settings["keyring_file"].as_str(),
        Some(keyring.to_str().unwrap())
    );
    assert_eq!(
        settings["agent"]["admin_token_file"].as_str(),
        token_file.to_str()
    );
    assert!(
        !stdout.contains(&good) && !stdout.contains("t0ken\""),
        "{stdout}"
    );
    let (code, stdout, stderr) = check(&[], &[("LEVIATHAN_GOSSIP_KEYS", &good)]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stdout.contains(&good[..20]), "{stdout}");
}

#[test]
fn the_keys_cli_never_takes_a_key_from_its_arguments() {
    let admin = common::free_tcp().to_string();
    let secret = key(4).to_base64();
    for args in [
        vec!["keys", "use", "--admin", &admin, &secret],
        vec!["keys", "remove", "--admin", &admin, &secret],
        vec!["keys", "remove", "--admin", &admin, "zz"],
    ] {
        let output = run(&args, &[]);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("fingerprint"), "{stderr}");
        assert!(!stderr.contains(&secret[..20]), "{stderr}");
    }
    let output = run(&["keys", "use", "--admin", &admin, &secret], &[]);
    assert!(text(&output.stderr).contains("exposed"));

    // A bad key from a file, the environment or stdin: exit 2, the source named.
    let files = Files::new("cli-keys");
    let bad = files.write("bad.key", &format!("{}\n", &secret[..40]));
    let cases: [(Vec<&str>, Vec<(&str, &str)>, Option<&[u8]>, &str); 3] = [
        (
            vec!["--key-file", bad.to_str().unwrap()],
            vec![],
            None,
            "--key-file",
        ),
        (
            vec![],
            vec![("LEVIATHAN_GOSSIP_KEY", &secret[..40])],
            None,
            "LEVIATHAN_GOSSIP_KEY",
        ),
        (vec![], vec![], Some(b"not a key\n"), "stdin"),
    ];
    for (extra, env, stdin, named) in cases {
        let mut args = vec!["keys", "install", "--admin", &admin];
        args.extend(extra);
        let output = run_with_stdin(&args, &env, stdin);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{named}: {stderr}");
        assert!(stderr.contains(named), "{stderr}");
        assert!(!stderr.contains(&secret[..20]), "{stderr}");
    }
    let two = files.write("two.key", &format!("{secret}\n{}\n", key(5).to_base64()));
    let output = run(
        &[
            "keys",
            "install",
            "--admin",
            &admin,
            "--key-file",
            two.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("exactly one"));
}

#[tokio::test]
async fn keyring_changes_through_the_api_are_written_back_to_the_keyring_file() {
    use leviathan_gossip::keyring::Keyring;
    use leviathan_gossip_agent::client::KeyName;
    use std::os::unix::fs::PermissionsExt;

    let files = Files::new("write-back");
    let path = files.write(
        "keyring",
        &format!("# the cluster's key\n{}\n", key(1).to_base64()),
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let spawn = || {
        Agent::spawn_with(
            "w1",
            free_udp(),
            &[],
            &[OsStr::new("--keyring-file"), path.as_os_str()],
        )
    };
    let on_file = || {
        let contents = std::fs::read_to_string(&path).unwrap();
        let keyring = Keyring::from_file_contents(&contents).unwrap();
        keyring
            .keys()
            .map(|(key, _)| key.fingerprint().to_string())
            .collect::<Vec<_>>()
    };
    let (one, two, three) = (
        key(1).fingerprint().to_string(),
        key(2).fingerprint().to_string(),
        key(3).fingerprint().to_string(),
    );
    let mut agent = spawn();
    agent.ready().await;
    let client = agent.client();

    client.install_key(&key(2)).await.unwrap();
    assert_eq!(on_file(), [one.clone(), two.clone()]);
    client
        .use_key(KeyName::Fingerprint(key(2).fingerprint()))
        .await
        .unwrap();
    assert_eq!(on_file(), [two.clone(), one.clone()]);
    client.install_key(&key(3)).await.unwrap();
    assert_eq!(on_file(), [two.clone(), one.clone(), three]);
    client.remove_key(&key(3).fingerprint()).await.unwrap();
    assert_eq!(on_file(), [two.clone(), one.clone()]);
    // A refused change writes nothing.
    let error = client.remove_key(&key(2).fingerprint()).await.unwrap_err();
    assert!(error.to_string().contains("409"), "{error}");
    assert_eq!(on_file(), [two.clone(), one.clone()]);

    // Replaced atomically: the file keeps its mode, and no temporary file is left.
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    let names: Vec<_> = std::fs::read_dir(&files.0)
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(names, [OsStr::new("keyring")]);

    // A restart mid-rotation comes back with the keys of the current step.
    agent.kill();
    let agent = spawn();
    agent.ready().await;
    let keys = agent.client().keys().await.unwrap();
    let listed: Vec<(String, bool)> = keys
        .keys
        .iter()
        .map(|key| (key.fingerprint.clone(), key.primary))
        .collect();
    assert_eq!(listed, [(two, true), (one, false)]);
}
