//! The admin HTTP API end to end: real agent processes on 127.0.0.1 forming a cluster.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use leviathan_gossip::json::{EventRecord, ValueRecord};
use std::collections::BTreeSet;
use std::time::Duration;

use common::{Agent, PATIENCE, cluster, eventually, free_udp};
use leviathan_gossip_agent::api::{ErrorResponse, value_bytes};
use leviathan_gossip_agent::client::{ClientError, Method, StatusCode};

#[tokio::test]
async fn writes_and_deletes_on_one_agent_reach_the_others() {
    let agents = cluster(3).await;
    let (a1, a2, a3) = (&agents[0], &agents[1], &agents[2]);
    let mut events = a3.client().watch().await.unwrap();

    let written = a1.client().set("k1", "hello").await.unwrap();
    assert_eq!((written.node.as_str(), written.key.as_str()), ("a1", "k1"));
    let binary = vec![0xff, 0x00, 0x80];
    a2.client().set("blob", binary.clone()).await.unwrap();

    for reader in [a2, a3] {
        let client = &reader.client();
        let entry = eventually(&format!("a1/k1 on {}", reader.name), || async move {
            client.get("a1", "k1").await.unwrap()
        })
        .await;
        assert_eq!(entry.value, "hello");
        assert_eq!(entry.version, written.version);
    }
    let client = &a1.client();
    let blob = eventually("a2/blob on a1", || async move {
        client.get("a2", "blob").await.unwrap()
    })
    .await;
    assert_eq!(blob.value["base64"], "/wCA");
    assert_eq!(value_bytes(&blob.value).unwrap(), binary);

    let all = a3.client().entries(None).await.unwrap().entries;
    let keys: BTreeSet<(String, String)> = all.into_iter().map(|e| (e.node, e.key)).collect();
    assert!(keys.contains(&("a1".into(), "k1".into())), "{keys:?}");
    let only_a2 = a3.client().entries(Some("a2")).await.unwrap().entries;
    assert!(only_a2.iter().all(|e| e.node == "a2") && !only_a2.is_empty());

    let deleted = a1.client().del("k1").await.unwrap().unwrap();
    assert!(deleted.version > written.version);
    for reader in [a2, a3] {
        let client = &reader.client();
        eventually(
            &format!("a1/k1 deleted on {}", reader.name),
            || async move {
                client
                    .get("a1", "k1")
                    .await
                    .unwrap()
                    .is_none()
                    .then_some(())
            },
        )
        .await;
    }

    // a3's event stream saw the update and the deletion, in the library's JSON shape.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let (mut update, mut delete) = (false, false);
    while !(update && delete) {
        let event = tokio::time::timeout_at(deadline, events.next())
            .await
            .expect("timed out waiting for a3's events to show k1's update and delete")
            .unwrap()
            .expect("a3 closed its event stream");
        match event {
            EventRecord::Updates { deltas } => {
                update |= deltas.iter().any(|d| {
                    d.node == "a1" && d.key == "k1" && d.value == ValueRecord::Text("hello".into())
                });
            }
            EventRecord::Delete { node, key, .. } => delete |= node == "a1" && key == "k1",
            _ => {}
        }
    }
}

#[tokio::test]
async fn a_key_put_with_a_ttl_expires_everywhere_and_a_plain_put_keeps_it() {
    let agents = cluster(2).await;
    let (a1, a2) = (&agents[0], &agents[1]);
    let written = a1
        .client()
        .set_with_ttl("short", "v", Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(written.ttl_ms, Some(1000));
    // The API's own forms: seconds, and a humantime duration.
    let (status, body) = a1
        .client()
        .request(Method::PUT, "/v1/kv/renewed?ttl=1", "v")
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body:?}");
    let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(answer["ttl_ms"], 1000);
    let (status, _) = a1
        .client()
        .request(Method::PUT, "/v1/kv/long?ttl=1h%2030m", "v")
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    let plain = a1.client().set("renewed", "kept").await.unwrap();
    assert_eq!(plain.ttl_ms, None);

    let client = &a2.client();
    eventually("a2 to receive a1's keys", || async move {
        let short = client.get("a1", "short").await.unwrap()?;
        let renewed = client.get("a1", "renewed").await.unwrap()?;
        (renewed.value == "kept").then_some(short)
    })
    .await;
    eventually("a1/short to expire on a2", || async move {
        client
            .get("a1", "short")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    for agent in [a1, a2] {
        let client = agent.client();
        assert!(client.get("a1", "short").await.unwrap().is_none());
        let renewed = client.get("a1", "renewed").await.unwrap();
        assert_eq!(
            renewed.map(|e| e.value),
            Some("kept".into()),
            "{}",
            agent.name
        );
        assert!(client.get("a1", "long").await.unwrap().is_some());
    }

    for (path, expected) in [
        ("/v1/kv/k?ttl=soon", "invalid ttl \"soon\""),
        ("/v1/kv/k?ttl=0s", "invalid ttl"),
        ("/v1/kv/k?ttl=", "invalid ttl"),
        ("/v1/kv/k?tll=1s", "tll"),
    ] {
        let (status, body) = a1.client().request(Method::PUT, path, "v").await.unwrap();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        let error: ErrorResponse = serde_json::from_slice(&body).unwrap();
        assert!(error.error.contains(expected), "{path}: {}", error.error);
    }
    assert!(a1.client().get("a1", "k").await.unwrap().is_none());
}

#[tokio::test]
async fn bad_requests_get_json_errors() {
    let agent = Agent::spawn("solo", free_udp(), &[]);
    agent.ready().await;
    let client = agent.client();

    let cases: [(Method, &str, Vec<u8>, StatusCode); 7] = [
        (
            Method::GET,
            "/v1/kv/solo/nothing",
            vec![],
            StatusCode::NOT_FOUND,
        ),
        (
            Method::DELETE,
            "/v1/kv/nothing",
            vec![],
            StatusCode::NOT_FOUND,
        ),
        (
            Method::PUT,
            "/v1/kv/bad%01key",
            b"v".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::PUT,
            "/v1/kv/big",
            vec![b'x'; 5000],
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            Method::GET,
            "/v1/kv?nod=solo",
            vec![],
            StatusCode::BAD_REQUEST,
        ),
        (Method::GET, "/v1/nowhere", vec![], StatusCode::NOT_FOUND),
        (
            Method::POST,
            "/v1/members",
            vec![],
            StatusCode::METHOD_NOT_ALLOWED,
        ),
    ];
    for (method, path, body, expected) in cases {
        let (status, answer) = client.request(method.clone(), path, body).await.unwrap();
        assert_eq!(status, expected, "{method} {path}");
        let error: ErrorResponse = serde_json::from_slice(&answer)
            .unwrap_or_else(|e| panic!("{method} {path}: not a JSON error ({e}): {answer:?}"));
        assert!(!error.error.is_empty());
    }
    let error = client.set("k", vec![b'x'; 5000]).await.unwrap_err();
    assert!(
        matches!(
            error,
            ClientError::Api {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                ..
            }
        ),
        "{error}"
    );
}

#[tokio::test]
async fn a_killed_agent_is_suspected_and_a_terminated_one_leaves() {
    let mut agents = cluster(3).await;
    agents[2].kill();
    for observer in &agents[..2] {
        let client = &observer.client();
        let what = format!("{} to suspect the killed a3", observer.name);
        let state = eventually(&what, || async move {
            let members = client.members().await.unwrap().members;
            let a3 = members.iter().find(|m| m.name == "a3")?;
            (a3.state == "suspect" || a3.state == "dead").then(|| a3.state.clone())
        })
        .await;
        assert_eq!(state, "suspect", "suspected before declared dead");
    }
    let client = &agents[0].client();

    let status = agents[1].terminate();
    assert_eq!(status.code(), Some(0), "SIGTERM exits 0");
    eventually("a1 to see a2 leave", || async move {
        let members = client.members().await.unwrap().members;
        members
            .iter()
            .any(|m| m.name == "a2" && m.state == "left")
            .then_some(())
    })
    .await;
    // Every line a2 printed is one event object.
    let stdout = agents[1].stdout();
    assert!(!stdout.is_empty());
    for line in stdout.lines() {
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(event["event"].is_string(), "{line}");
    }
    assert!(stdout.contains(r#""event":"peers_suspend""#), "{stdout}");
}

#[tokio::test]
async fn metrics_parse_and_have_the_expected_families() {
    let agents = cluster(2).await;
    agents[1].client().set("k", "v").await.unwrap();
    let client = &agents[0].client();
    eventually("a1 to apply a2's record", || async move {
        client.get("a2", "k").await.unwrap()
    })
    .await;
    // a1 may have learnt everything from its own Syn before a2's first round (100 ms) has
    // come: wait for a Syn from a2 too, so the counters of both directions have moved.
    let text = eventually("a1 to receive a Syn from a2", || async move {
        let text = client.metrics().await.unwrap();
        let received = text.lines().any(|line| {
            line.strip_prefix("leviathan_gossip_bytes_received_total{kind=\"syn\"} ")
                .and_then(|value| value.parse::<f64>().ok())
                .is_some_and(|value| value > 0.0)
        });
        received.then_some(text)
    })
    .await;

    let mut families = BTreeSet::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(["gauge", "counter", "histogram"].contains(&kind), "{line}");
            families.insert(name.to_string());
        } else if line.starts_with("# HELP ") || line == "# EOF" {
        } else {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let value: f64 = value
                .parse()
                .unwrap_or_else(|_| panic!("bad value: {line}"));
            let name = series.split('{').next().unwrap();
            assert!(
                name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "bad name: {line}"
            );
            samples.push((series.to_string(), value));
        }
    }
    assert_eq!(text.lines().last(), Some("# EOF"));
    for family in [
        "leviathan_gossip_up",
        "leviathan_gossip_members",
        "leviathan_gossip_phi",
        "leviathan_gossip_messages_sent",
        "leviathan_gossip_messages_received",
        "leviathan_gossip_bytes_sent",
        "leviathan_gossip_bytes_received",
        "leviathan_gossip_packets_dropped",
        "leviathan_gossip_records_applied",
        "leviathan_gossip_gossip_rounds",
        "leviathan_gossip_round_duration_seconds",
        "leviathan_gossip_build_info",
        "leviathan_gossip_remote_state_bytes",
    ] {
        assert!(families.contains(family), "no {family} in\n{text}");
    }
    let sample = |series: &str| {
        samples
            .iter()
            .find(|(s, _)| s == series)
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
    };
    assert_eq!(sample("leviathan_gossip_members{state=\"live\"}"), 2.0);
    assert!(sample("leviathan_gossip_phi{peer=\"a2\"}") >= 0.0);
    assert!(sample("leviathan_gossip_messages_sent_total{kind=\"syn\"}") > 0.0);
    assert!(sample("leviathan_gossip_bytes_received_total{kind=\"syn\"}") > 0.0);
    // Equal digests end an exchange at the Syn (reconciliation by fingerprints): a
    // SynAck is sent only while something differs, so its series exists but may be 0.
    assert!(sample("leviathan_gossip_bytes_received_total{kind=\"synack\"}") >= 0.0);
    assert!(sample("leviathan_gossip_records_applied_total") >= 1.0);
    // Every round falls in a bucket: the +Inf bucket counts them all.
    let rounds = sample("leviathan_gossip_round_duration_seconds_count");
    assert!(rounds >= 1.0);
    assert_eq!(
        sample("leviathan_gossip_round_duration_seconds_bucket{le=\"+Inf\"}"),
        rounds
    );
    assert!(sample("leviathan_gossip_remote_state_bytes") > 0.0);
}
