//! Joining at run time through the agent: an agent whose seed name does not resolve
//! starts anyway, `POST /v1/join` and `leviathan-gossip join` make it call other agents,
//! and bad join requests get JSON errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::ffi::OsStr;

use common::{Agent, all_live, free_udp, run};
use leviathan_gossip_agent::api::{ErrorResponse, JoinResponse};
use leviathan_gossip_agent::client::{Method, StatusCode};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// An agent whose only seed is a name under the reserved `.invalid` domain.
fn stranded(name: &str) -> Agent {
    let args = [
        OsStr::new("--seed"),
        OsStr::new("seed.leviathan.invalid:7946"),
    ];
    Agent::spawn_with(name, free_udp(), &[], &args)
}

#[tokio::test]
async fn an_agent_with_an_unresolvable_seed_starts_and_joins_over_the_api() {
    let stranded = stranded("stranded");
    let other = Agent::spawn("other", free_udp(), &[]);
    stranded.ready().await;
    other.ready().await;
    assert!(
        stranded.stderr().contains("cannot resolve seed"),
        "{}",
        stranded.stderr()
    );
    let client = stranded.client();

    let body = serde_json::json!({ "addresses": [other.gossip.to_string()] }).to_string();
    let (status, answer) = client
        .request(Method::POST, "/v1/join", body)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{answer:?}");
    let joined: JoinResponse = serde_json::from_slice(&answer).unwrap();
    assert_eq!(
        joined,
        JoinResponse {
            node: "stranded".into(),
            added: 1
        }
    );
    all_live(&[stranded, other]).await;
}

#[tokio::test]
async fn bad_join_requests_get_json_errors() {
    let agent = Agent::spawn("solo", free_udp(), &[]);
    agent.ready().await;
    let client = agent.client();
    let cases = [
        "{}",
        "[]",
        r#"{"addresses": []}"#,
        r#"{"addresses": "127.0.0.1:1"}"#,
        r#"{"addresses": [1]}"#,
        r#"{"addresses": ["127.0.0.1:1"], "extra": true}"#,
        r#"{"addresses": ["nobody.leviathan.invalid:1"]}"#,
    ];
    for body in cases {
        let (status, answer) = client
            .request(Method::POST, "/v1/join", body)
            .await
            .unwrap();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let error: ErrorResponse = serde_json::from_slice(&answer).unwrap();
        assert!(!error.error.is_empty(), "{body}");
    }
    let too_many: Vec<String> = (1..=65).map(|port| format!("127.0.0.1:{port}")).collect();
    let body = serde_json::json!({ "addresses": too_many }).to_string();
    let (status, _) = client
        .request(Method::POST, "/v1/join", body)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_join_subcommand_joins_and_reports_failures() {
    let stranded = stranded("lost");
    let other = Agent::spawn("found", free_udp(), &[]);
    stranded.ready().await;
    other.ready().await;
    let admin = stranded.admin.to_string();
    let gossip = other.gossip.to_string();

    let output = run(&["join", "--admin", &admin], &[]);
    assert_eq!(output.status.code(), Some(2), "ADDR is required");

    let output = run(
        &["join", "--admin", &admin, "nobody.leviathan.invalid:1"],
        &[],
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("nobody.leviathan.invalid:1"), "{stderr}");

    let output = run(&["join", "--admin", &admin, &gossip], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "lost is joining through 1 address\n");
    let output = run(&["join", "--json", "--admin", &admin, &gossip], &[]);
    let joined: JoinResponse = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(joined.added, 1);
    all_live(&[stranded, other]).await;
}
