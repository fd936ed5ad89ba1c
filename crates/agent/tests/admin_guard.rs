//! The admin API against web pages and slow clients (issue 17): simple cross-origin
//! requests and DNS rebinding refused, slow headers and bodies cut, connections capped.
//! Requests are written by hand on raw TCP so that every header is the test's choice.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Agent, free_udp};
use leviathan_gossip::{Config, Gossip};
use leviathan_gossip_agent::http::{AdminOptions, AdminServer};
use leviathan_gossip_agent::serve::Limits;
use leviathan_gossip_agent::slot::NodeSlot;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A request as a browser or an attacker could write it: `headers` are all the headers
/// but `Content-Length` and `Connection: close`, which are added.
fn request(method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> String {
    let mut text = format!("{method} {path} HTTP/1.1\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    text
}

/// Sends `request` on a new connection and reads the whole answer: its status and body.
async fn exchange(address: SocketAddr, request: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("no answer within 10 s")
        .unwrap();
    parse(&answer)
}

/// The status and body of an HTTP/1.1 answer (not chunked).
fn parse(answer: &[u8]) -> (u16, String) {
    let text = String::from_utf8_lossy(answer);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default();
    (status, body)
}

/// A key for the tests (base64 of 32 bytes).
const KEY: &str = "tJHh4n7ZVapeLWuCYPURpPMTYOb95FFurI4tMI/1T3A=";

#[tokio::test]
async fn a_post_that_is_not_json_is_refused_and_the_agent_does_not_leave() {
    let mut agent = Agent::spawn("guard-json", free_udp(), &[]);
    agent.ready().await;
    let host = agent.admin.to_string();
    let simple_types = [
        Some("text/plain"),
        Some("text/plain; charset=utf-8"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("application/jsonx"),
        None,
    ];
    for content_type in simple_types {
        let mut headers = vec![("Host", host.as_str())];
        headers.extend(content_type.map(|value| ("Content-Type", value)));
        let leave = request("POST", "/v1/leave", &headers, "{}");
        let (status, body) = exchange(agent.admin, &leave).await;
        assert_eq!(status, 415, "{content_type:?}: {body}");
        assert!(body.contains("application/json"), "{body}");
        let install = request(
            "POST",
            "/v1/keys",
            &headers,
            &format!("{{\"key\":\"{KEY}\"}}"),
        );
        let (status, body) = exchange(agent.admin, &install).await;
        assert_eq!(status, 415, "{content_type:?}: {body}");
    }
    // Nothing was done: no key installed, and the agent is still in the cluster.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(agent.client().keys().await.unwrap().keys.is_empty());
    assert_eq!(agent.client().health().await.unwrap().status, "ok");

    // The JSON media type passes, in any case and with parameters (here to a 400 for the
    // empty object: the guard let it through).
    for content_type in ["application/json", "Application/JSON; charset=utf-8"] {
        let headers = [("Host", host.as_str()), ("Content-Type", content_type)];
        let (status, body) =
            exchange(agent.admin, &request("POST", "/v1/keys", &headers, "{}")).await;
        assert_eq!(status, 400, "{content_type}: {body}");
        assert!(body.contains("missing field `key`"), "{body}");
    }
    // The agent's own client sends what the guard asks for.
    agent.client().leave().await.unwrap();
    assert!(agent.wait_exit().success());
}

#[tokio::test]
async fn cross_origin_state_changes_are_refused() {
    let agent = Agent::spawn("guard-origin", free_udp(), &[]);
    agent.ready().await;
    let host = agent.admin.to_string();
    let other_port = format!("http://127.0.0.1:{}", agent.admin.port().wrapping_add(1));
    let cross_site = [
        ("Origin", "http://evil.example"),
        ("Origin", "https://evil.example"),
        ("Origin", "null"),
        ("Origin", other_port.as_str()),
        ("Sec-Fetch-Site", "cross-site"),
    ];
    for (name, value) in cross_site {
        let headers = [
            ("Host", host.as_str()),
            ("Content-Type", "application/json"),
            (name, value),
        ];
        let (status, body) =
            exchange(agent.admin, &request("POST", "/v1/leave", &headers, "{}")).await;
        assert_eq!(status, 403, "{name}: {value}: {body}");
        assert!(
            body.contains("cross-origin") || body.contains("cross-site"),
            "{body}"
        );
        let put = request("PUT", "/v1/kv/stolen", &headers, "x");
        assert_eq!(exchange(agent.admin, &put).await.0, 403, "{name}: {value}");
        let delete = request("DELETE", "/v1/kv/stolen", &headers, "");
        assert_eq!(
            exchange(agent.admin, &delete).await.0,
            403,
            "{name}: {value}"
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(agent.client().health().await.unwrap().status, "ok");
    assert_eq!(
        agent.client().get("guard-origin", "stolen").await.unwrap(),
        None
    );

    // The same origin (either scheme, any case) and same-origin fetches pass.
    let same_origin = [
        ("Origin", format!("http://{host}")),
        ("Origin", format!("HTTPS://{host}")),
        ("Sec-Fetch-Site", "same-origin".to_string()),
    ];
    for (name, value) in &same_origin {
        let headers = [
            ("Host", host.as_str()),
            ("Content-Type", "application/json"),
            (name, value.as_str()),
        ];
        let (status, body) =
            exchange(agent.admin, &request("POST", "/v1/keys", &headers, "{}")).await;
        assert_eq!(status, 400, "{name}: {value}: {body}");
        let put = request("PUT", "/v1/kv/mine", &headers, "x");
        assert_eq!(exchange(agent.admin, &put).await.0, 200, "{name}: {value}");
    }
    // Reads are not refused for their Origin (the Host check guards them).
    let headers = [("Host", host.as_str()), ("Origin", "http://evil.example")];
    assert_eq!(
        exchange(agent.admin, &request("GET", "/v1/health", &headers, ""))
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn unknown_host_names_are_refused_and_listed_ones_accepted() {
    let agent = Agent::spawn_with(
        "guard-host",
        free_udp(),
        &[],
        &[OsStr::new("--admin-host"), OsStr::new("Gossip.Internal")],
    );
    agent.ready().await;
    let port = agent.admin.port();
    let refused = [
        "evil.example".to_string(),
        format!("evil.example:{port}"),
        format!("127.0.0.1.evil.example:{port}"),
        format!("localhost.evil.example:{port}"),
        format!("gossip.internal.evil.example:{port}"),
    ];
    for host in &refused {
        let get = request("GET", "/v1/kv", &[("Host", host)], "");
        let (status, body) = exchange(agent.admin, &get).await;
        assert_eq!(status, 403, "{host}: {body}");
        let name = host.split(':').next().unwrap();
        assert!(
            body.contains(name) && body.contains("admin_hosts"),
            "{body}"
        );
        // State changes too, before any other check.
        let leave = request(
            "POST",
            "/v1/leave",
            &[("Host", host), ("Content-Type", "application/json")],
            "{}",
        );
        assert_eq!(exchange(agent.admin, &leave).await.0, 403, "{host}");
    }
    let accepted = [
        format!("127.0.0.1:{port}"),
        "127.0.0.1".to_string(),
        format!("localhost:{port}"),
        format!("LocalHost:{port}"),
        format!("[::1]:{port}"),
        format!("gossip.internal:{port}"),
        "GOSSIP.INTERNAL".to_string(),
    ];
    for host in &accepted {
        let get = request("GET", "/v1/kv", &[("Host", host)], "");
        let (status, body) = exchange(agent.admin, &get).await;
        assert_eq!(status, 200, "{host}: {body}");
    }
    // No browser sends a request without a Host header.
    let (status, body) = exchange(agent.admin, &request("GET", "/v1/kv", &[], "")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(agent.client().health().await.unwrap().status, "ok");
}

/// An admin server with `limits` in this process, over an empty slot (every request that
/// reaches a handler gets `503`) or over `gossip`.
async fn server(limits: Limits, gossip: Option<Arc<Gossip>>) -> AdminServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let slot = gossip.map(NodeSlot::new).unwrap_or_default();
    let options = AdminOptions {
        limits,
        ..AdminOptions::default()
    };
    AdminServer::start_with(listener, slot, options).unwrap()
}

/// Reads until the peer closes; how long that took (panics after `bound`).
async fn closed_within(stream: &mut TcpStream, bound: Duration) -> (Duration, Vec<u8>) {
    let start = Instant::now();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(bound, stream.read_to_end(&mut answer)).await;
    assert!(
        read.is_ok(),
        "the server kept the connection open for {bound:?}"
    );
    (start.elapsed(), answer)
}

#[tokio::test]
async fn a_stalled_request_header_is_cut_after_the_header_timeout() {
    let limits = Limits {
        header_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let admin = server(limits, None).await;
    let mut half = TcpStream::connect(admin.address()).await.unwrap();
    half.write_all(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .await
        .unwrap();
    let mut silent = TcpStream::connect(admin.address()).await.unwrap();
    let (elapsed, _) = closed_within(&mut half, Duration::from_secs(3)).await;
    assert!(elapsed >= Duration::from_millis(250), "{elapsed:?}");
    closed_within(&mut silent, Duration::from_secs(3)).await;
    // A whole request is answered as before.
    let get = request("GET", "/v1/health", &[("Host", "127.0.0.1")], "");
    assert_eq!(exchange(admin.address(), &get).await.0, 503);
    admin.stop().await;
}

#[tokio::test]
async fn a_stalled_request_body_is_cut_after_the_body_timeout() {
    let limits = Limits {
        body_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let admin = server(limits, None).await;
    let mut stream = TcpStream::connect(admin.address()).await.unwrap();
    stream
        .write_all(b"PUT /v1/kv/k HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\nabc")
        .await
        .unwrap();
    let (elapsed, answer) = closed_within(&mut stream, Duration::from_secs(3)).await;
    assert!(elapsed >= Duration::from_millis(250), "{elapsed:?}");
    let (status, body) = parse(&answer);
    assert_eq!(status, 408, "{body}");
    admin.stop().await;
}

#[tokio::test]
async fn an_event_stream_outlives_the_timeouts() {
    let config = Config {
        name: "events".into(),
        listen: "127.0.0.1:0".parse().unwrap(),
        ..Config::local()
    };
    let gossip = Arc::new(Gossip::start(config).await.unwrap());
    let limits = Limits {
        header_timeout: Duration::from_millis(200),
        body_timeout: Duration::from_millis(200),
        ..Limits::default()
    };
    let admin = server(limits, Some(Arc::clone(&gossip))).await;
    let mut stream = TcpStream::connect(admin.address()).await.unwrap();
    stream
        .write_all(b"GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    // A peer's write, seen by the node served, arrives on the stream.
    let peer = Config {
        name: "peer".into(),
        listen: "127.0.0.1:0".parse().unwrap(),
        seeds: vec![gossip.local_addr().unwrap().to_string()],
        ..Config::local()
    };
    let peer = Gossip::start(peer).await.unwrap();
    peer.set("late", "still streaming").unwrap();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !String::from_utf8_lossy(&seen).contains("still streaming") {
        let mut buffer = [0u8; 4096];
        let left = deadline.saturating_duration_since(Instant::now());
        let read = tokio::time::timeout(left, stream.read(&mut buffer))
            .await
            .expect("the event never came")
            .unwrap();
        assert!(
            read > 0,
            "the stream was closed: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buffer[..read]);
    }
    admin.stop().await;
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let limits = Limits {
        max_connections: NonZeroUsize::new(2).unwrap(),
        ..Limits::default()
    };
    let admin = server(limits, None).await;
    let first = TcpStream::connect(admin.address()).await.unwrap();
    let _second = TcpStream::connect(admin.address()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut third = TcpStream::connect(admin.address()).await.unwrap();
    let get = request("GET", "/v1/health", &[("Host", "127.0.0.1")], "");
    third.write_all(get.as_bytes()).await.unwrap();
    let mut byte = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_millis(500), third.read(&mut byte)).await;
    assert!(
        early.is_err(),
        "a third connection was served beside two open ones"
    );
    drop(first);
    let (_, answer) = closed_within(&mut third, Duration::from_secs(3)).await;
    assert_eq!(parse(&answer).0, 503);
    admin.stop().await;
}

#[test]
fn admin_hosts_come_from_flags_the_environment_and_the_file() {
    let env = [("LEVIATHAN_GOSSIP_ADMIN_HOSTS", "A.example, b.example")];
    let output = common::run(&["agent", "--check"], &env);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains(r#"admin_hosts = ["a.example", "b.example"]"#),
        "{stdout}"
    );
    // Flags win over the environment.
    let output = common::run(&["agent", "--check", "--admin-host", "c.example"], &env);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(r#"admin_hosts = ["c.example"]"#),
        "{stdout}"
    );

    let bad = [("LEVIATHAN_GOSSIP_ADMIN_HOSTS", "a.example,evil.example:80")];
    let output = common::run(&["agent", "--check"], &bad);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "invalid setting `admin_hosts` (from environment LEVIATHAN_GOSSIP_ADMIN_HOSTS)"
        ) && stderr.contains("evil.example:80"),
        "{stderr}"
    );
}
