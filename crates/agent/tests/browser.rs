//! The cluster page (`crates/agent/src/ui`) in a real browser: headless Chromium driven
//! over the DevTools protocol.
//!
//! * Three agents with an admin token: the page asks for the token, then shows three live
//!   members; a key set through one page's form reaches another node's page, and its
//!   deletion too; a killed agent turns suspect on a page that is never reloaded, and the
//!   killed agent's own page shows that its event stream is stale.
//! * 1,000 members and a burst of events, served by a stub of `fetch` installed before the
//!   page's script runs (so the page's own rendering code draws them): frames keep coming,
//!   the DOM holds a bounded number of rows, the burst is applied, scrolling shows the
//!   last member, and a dropped stream shows "stale" and then reconnects.
//!
//! Screenshots are saved under `target/tmp/browser/` (`CARGO_TARGET_TMPDIR`). Without
//! Chromium the browser tests print `SKIP browser test: …` and pass; set
//! `LEVIATHAN_GOSSIP_CHROMIUM` to a browser binary to choose one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::{Agent, cluster_with, scratch_dir};
use futures_util::{SinkExt, StreamExt};
use leviathan_gossip_agent::http::AdminServer;
use leviathan_gossip_agent::slot::NodeSlot;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Bound on any single DevTools call.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);
/// Bound on waiting for the page to show something.
const PAGE_PATIENCE: Duration = Duration::from_secs(20);
const TOKEN: &str = "browser-test-token-0123456789";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_agents_on_the_page_set_a_key_and_see_a_crash() {
    let Some(mut browser) = Browser::launch().await else {
        return;
    };
    let mut agents = cluster_with(3, |name, address, seeds| {
        Agent::spawn_full(
            name,
            address,
            seeds,
            &[],
            &[("LEVIATHAN_GOSSIP_ADMIN_TOKEN", TOKEN)],
            Some(TOKEN),
        )
    })
    .await;

    // a1's page: the token is asked for, given through the page's form, kept for the tab.
    let page1 = browser.open(&page_url(agents[0].admin)).await;
    browser
        .wait_for(&page1, "a1's page to ask for the token", STATUS, |v| {
            v == "token"
        })
        .await;
    browser.eval(&page1, "window.__notReloaded = true").await;
    give_token(&mut browser, &page1).await;
    let live = |v: &Value| v == "a1=live,a2=live,a3=live";
    browser
        .wait_for(
            &page1,
            "three live members on a1's page",
            MEMBER_STATES,
            live,
        )
        .await;
    assert_eq!(browser.eval(&page1, STATUS).await, "live");

    let page2 = browser.open(&page_url(agents[1].admin)).await;
    give_token(&mut browser, &page2).await;
    browser
        .wait_for(
            &page2,
            "three live members on a2's page",
            MEMBER_STATES,
            live,
        )
        .await;
    let page3 = browser.open(&page_url(agents[2].admin)).await;
    give_token(&mut browser, &page3).await;
    browser
        .wait_for(
            &page3,
            "three live members on a3's page",
            MEMBER_STATES,
            live,
        )
        .await;

    // A key set through a1's form (a same-origin PUT that passes the Origin guard)…
    browser
        .eval(
            &page1,
            r#"(() => {
                document.getElementById('write-key').value = 'greeting';
                document.getElementById('write-value').value = 'hello <b>from</b> the page';
                document.getElementById('write-form').requestSubmit();
                return true;
            })()"#,
        )
        .await;
    browser
        .wait_for(&page1, "the page's write to succeed", WRITE_RESULT, |v| {
            v.as_str()
                .is_some_and(|t| t.starts_with("set a1/greeting (v"))
        })
        .await;
    // …reaches a2's page by gossip, shown as text (the markup is not interpreted).
    let greeting = r#"(() => {
        const row = [...document.querySelectorAll('#keys .row:not([hidden])')]
            .find((r) => r.dataset.id === 'a1/greeting');
        return row ? row.querySelector('.c-value').textContent : null;
    })()"#;
    browser
        .wait_for(&page2, "a1's key on a2's page", greeting, |v| {
            v == "\"hello <b>from</b> the page\""
        })
        .await;
    assert_eq!(
        browser
            .eval(&page2, "document.querySelectorAll('#keys b').length")
            .await,
        0
    );
    // The convergence view of the key just written: a standalone agent shows itself.
    browser
        .wait_for(&page1, "the convergence view", CONVERGENCE, |v| {
            v.as_str()
                .is_some_and(|t| t.contains("a1/greeting: 1 of 1 nodes hold the newest"))
        })
        .await;
    // Its deletion through the page reaches a2's page too.
    browser
        .eval(
            &page1,
            "document.getElementById('write-delete').click(), true",
        )
        .await;
    browser
        .wait_for(&page2, "a1's key deleted on a2's page", greeting, |v| {
            v.is_null()
        })
        .await;

    // a3 crashes: a1's page, never reloaded, shows it suspect (or already dead)…
    let screenshot_dir = artifacts();
    agents[2].kill();
    browser
        .wait_for(&page1, "a3 suspect on a1's page", MEMBER_STATES, |v| {
            v == "a1=live,a2=live,a3=suspect" || v == "a1=live,a2=live,a3=dead"
        })
        .await;
    assert_eq!(
        browser.eval(&page1, "window.__notReloaded === true").await,
        true
    );
    // …and a3's own page says its event stream is stale.
    browser
        .wait_for(&page3, "a3's page to turn stale", STATUS, |v| v == "stale")
        .await;
    let stale_text = browser
        .eval(&page3, "document.getElementById('status').textContent")
        .await;
    assert!(
        stale_text.as_str().unwrap().starts_with("stale"),
        "{stale_text}"
    );

    browser
        .screenshot(&page1, &screenshot_dir.join("cluster-page.png"))
        .await;
    browser
        .screenshot(&page3, &screenshot_dir.join("cluster-page-stale.png"))
        .await;
    drop(agents);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_members_and_a_burst_of_events_keep_the_page_responsive() {
    let Some(mut browser) = Browser::launch().await else {
        return;
    };
    // The page's files come from a real admin server (with no node: the data is stubbed).
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = AdminServer::start(listener, NodeSlot::default()).unwrap();
    let page = browser.new_page().await;
    browser
        .call(
            Some(&page),
            "Page.addScriptToEvaluateOnNewDocument",
            json!({ "source": FAKE_CLUSTER }),
        )
        .await;
    browser.navigate(&page, &page_url(server.address())).await;

    browser
        .wait_for(&page, "1,000 live members", MEMBER_COUNTS, |v| {
            v == "1000 members: 1000 live"
        })
        .await;
    browser
        .wait_for(&page, "the stream to be live", STATUS, |v| v == "live")
        .await;

    // A burst: 20,000 events (updates, and 100 suspicions) in 200 chunks received at once,
    // while frames are timed.
    let measured = browser
        .eval(
            &page,
            r#"(async () => {
                const gaps = [];
                let last = performance.now();
                let running = true;
                const tick = (now) => {
                    gaps.push(now - last);
                    last = now;
                    if (running) requestAnimationFrame(tick);
                };
                window.__prepare(20000, 200);
                requestAnimationFrame(tick);
                await new Promise((resolve) => setTimeout(resolve, 100));
                const started = performance.now();
                window.__send();
                const timer = await new Promise((resolve) =>
                    setTimeout(() => resolve(performance.now() - started), 0));
                await new Promise((resolve) => setTimeout(resolve, 1500));
                running = false;
                return {
                    timer,
                    maxGap: Math.max(...gaps),
                    frames: gaps.length,
                    memberRows: document.querySelectorAll('#members .row').length,
                    keyRows: document.querySelectorAll('#keys .row').length,
                    events: document.querySelectorAll('#events li').length,
                    rows: document.querySelectorAll('.row').length,
                };
            })()"#,
        )
        .await;
    eprintln!("burst on the page: {measured}");
    let number = |field: &str| measured[field].as_f64().unwrap();
    assert!(number("timer") < 1000.0, "a timer waited: {measured}");
    assert!(number("maxGap") < 500.0, "frames stalled: {measured}");
    assert!(number("frames") >= 10.0, "too few frames: {measured}");
    assert!(number("memberRows") <= 60.0, "member rows: {measured}");
    assert!(number("keyRows") <= 60.0, "key rows: {measured}");
    assert!(number("events") <= 200.0, "event lines: {measured}");
    browser
        .wait_for(&page, "the burst's suspicions", MEMBER_COUNTS, |v| {
            v == "1000 members: 900 live, 100 suspect"
        })
        .await;
    assert!(
        browser
            .eval(&page, "document.getElementById('key-counts').textContent")
            .await
            .as_str()
            .unwrap()
            .ends_with("of 3000 keys")
    );

    // Scrolling reaches the last member, drawn by the same bounded pool of rows.
    browser
        .eval(
            &page,
            r#"(() => {
                const viewport = document.querySelector('#members .viewport');
                viewport.scrollTop = viewport.scrollHeight;
                return true;
            })()"#,
        )
        .await;
    browser
        .wait_for(&page, "the last member in view", VISIBLE_MEMBERS, |v| {
            v.as_str().is_some_and(|t| t.contains("m0999=live"))
        })
        .await;
    browser
        .eval(
            &page,
            r#"(() => {
                const viewport = document.querySelector('#members .viewport');
                viewport.scrollTop = 550 * 24;
                return true;
            })()"#,
        )
        .await;
    browser
        .wait_for(&page, "a suspected member in view", VISIBLE_MEMBERS, |v| {
            v.as_str().is_some_and(|t| t.contains("m0550=suspect"))
        })
        .await;
    assert!(
        browser
            .eval(&page, "document.querySelectorAll('#members .row').length")
            .await
            .as_u64()
            .unwrap()
            <= 60
    );
    browser
        .screenshot(&page, &artifacts().join("thousand-members.png"))
        .await;

    // The stream drops: the page says it is stale, then reconnects by itself.
    browser.eval(&page, "window.__dropStream(), true").await;
    browser
        .wait_for(&page, "the page to turn stale", STATUS, |v| v == "stale")
        .await;
    browser
        .wait_for(&page, "the page to reconnect", STATUS, |v| v == "live")
        .await;
    assert!(
        browser
            .eval(&page, "window.__streams")
            .await
            .as_u64()
            .unwrap()
            >= 2
    );
    server.stop().await;
}

#[tokio::test]
async fn browsers_get_the_page_without_the_token_and_scripts_get_json() {
    let agent = Agent::spawn_full(
        "page-http",
        common::free_udp(),
        &[],
        &[],
        &[("LEVIATHAN_GOSSIP_ADMIN_TOKEN", TOKEN)],
        Some(TOKEN),
    );
    agent.ready().await;
    let host = agent.admin.to_string();
    let get = |path: &str, accept: &str, token: bool| {
        let mut request = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: {accept}\r\nConnection: close\r\n"
        );
        if token {
            request.push_str(&format!("Authorization: Bearer {TOKEN}\r\n"));
        }
        request.push_str("\r\n");
        request
    };
    let html = "text/html,application/xhtml+xml,*/*;q=0.8";
    let (head, body) = exchange(agent.admin, &get("/", html, false)).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let lower = head.to_ascii_lowercase();
    assert!(lower.contains("content-type: text/html"), "{head}");
    assert!(
        lower.contains("content-security-policy: default-src 'none'; script-src 'self'"),
        "{head}"
    );
    assert!(body.contains("<script src=\"/ui/app.js\""), "{body}");
    for asset in ["/ui/app.js", "/ui/app.css"] {
        let (head, _) = exchange(agent.admin, &get(asset, "*/*", false)).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{asset}: {head}");
    }
    // Scripts keep the JSON index, and the token still guards it and all data.
    let (head, _) = exchange(agent.admin, &get("/", "*/*", false)).await;
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    let (head, body) = exchange(agent.admin, &get("/", "application/json", true)).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(body.contains("GET /v1/convergence/{node}/{key}"), "{body}");
    let (head, _) = exchange(agent.admin, &get("/v1/members", html, false)).await;
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    let (head, body) = exchange(
        agent.admin,
        &get("/v1/convergence/page-http/none", "*/*", true),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    let agent_generation = agent.client().health().await.unwrap().generation;
    assert_eq!(
        answer,
        json!({"node": "page-http", "owner": "page-http", "key": "none",
               "nodes": [{"node": "page-http", "generation": agent_generation, "version": null,
                          "up": true}]})
    );
}

/// Not a check: screenshots the page of a running agent or demo, to look at it.
/// `LEVIATHAN_GOSSIP_PAGE_URL=http://127.0.0.1:PORT/ cargo test -p leviathan-gossip-agent
/// --test browser -- --ignored look_at`, optionally with `LEVIATHAN_GOSSIP_PAGE_WATCH=node/key`
/// (the key for the convergence view), `LEVIATHAN_GOSSIP_PAGE_WAIT=20s` (how long to
/// watch before the screenshot, 2 s by default) and `LEVIATHAN_GOSSIP_ADMIN_TOKEN`; the PNG
/// goes to `target/tmp/browser/running-page.png`.
#[tokio::test]
#[ignore = "needs a running agent: LEVIATHAN_GOSSIP_PAGE_URL"]
async fn look_at_a_running_page() {
    let url = std::env::var("LEVIATHAN_GOSSIP_PAGE_URL").expect("LEVIATHAN_GOSSIP_PAGE_URL");
    let Some(mut browser) = Browser::launch().await else {
        return;
    };
    let page = browser.open(&url).await;
    if let Ok(token) = std::env::var("LEVIATHAN_GOSSIP_ADMIN_TOKEN") {
        let token = serde_json::to_string(&token).unwrap();
        browser
            .eval(
                &page,
                &format!(
                    "document.getElementById('token').value = {token};\
                     document.getElementById('token-form').requestSubmit(); true"
                ),
            )
            .await;
    }
    if let Ok(watch) = std::env::var("LEVIATHAN_GOSSIP_PAGE_WATCH") {
        let (owner, key) = watch.split_once('/').expect("node/key");
        let (owner, key) = (json!(owner), json!(key));
        browser
            .eval(
                &page,
                &format!(
                    "document.getElementById('watch-owner').value = {owner};\
                     document.getElementById('watch-key').value = {key};\
                     document.getElementById('watch-form').requestSubmit(); true"
                ),
            )
            .await;
    }
    let wait = std::env::var("LEVIATHAN_GOSSIP_PAGE_WAIT").unwrap_or_else(|_| "2s".into());
    tokio::time::sleep(humantime::parse_duration(&wait).unwrap()).await;
    browser
        .screenshot(&page, &artifacts().join("running-page.png"))
        .await;
}

/// Sends `request` on a new connection; the answer's head and body.
async fn exchange(address: SocketAddr, request: &str) -> (String, String) {
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("no answer within 10 s")
        .unwrap();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (head.to_string(), body.to_string())
}

// ---- what the tests read from the page ----

/// The page's connection status: `connecting`, `live`, `stale` or `token`.
const STATUS: &str = "document.body.dataset.status";
/// `name=state` of every member row drawn, by name.
const MEMBER_STATES: &str = r#"[...document.querySelectorAll('#members .row:not([hidden])')]
    .map((r) => `${r.dataset.id}=${r.querySelector('.c-state').textContent}`)
    .sort().join(',')"#;
/// The same for the rows in the viewport only.
const VISIBLE_MEMBERS: &str = r#"(() => {
    const viewport = document.querySelector('#members .viewport');
    const top = viewport.getBoundingClientRect().top;
    const bottom = viewport.getBoundingClientRect().bottom;
    return [...document.querySelectorAll('#members .row:not([hidden])')]
        .filter((r) => { const b = r.getBoundingClientRect(); return b.top >= top - 1 && b.bottom <= bottom + 1; })
        .map((r) => `${r.dataset.id}=${r.querySelector('.c-state').textContent}`)
        .join(',');
})()"#;
const MEMBER_COUNTS: &str = "document.getElementById('member-counts').textContent";
const WRITE_RESULT: &str = "document.getElementById('write-result').textContent";
const CONVERGENCE: &str = "document.getElementById('convergence-summary').textContent";

/// A stub of the admin API installed before the page's script: 1,000 members with 3 keys
/// each, and an event stream the test feeds (`__prepare`, `__send`) and cuts (`__dropStream`).
const FAKE_CLUSTER: &str = r#"(() => {
  const N = 1000;
  const name = (i) => `m${String(i).padStart(4, '0')}`;
  const members = [];
  const entries = [];
  for (let i = 0; i < N; i += 1) {
    members.push({ name: name(i), address: `10.0.${i >> 8}.${i & 255}:7946`,
      generation: 1764000000000 + i, state: 'live', phi: i % 3 ? 0.25 : null, incarnation: 0,
      max_version: 3, gc_watermark: 0, keys: 3, local: i === 0 });
    for (let k = 0; k < 3; k += 1) {
      entries.push({ node: name(i), key: `k${k}`, value: `value ${k} of ${name(i)}`, version: k + 1 });
    }
  }
  let controller = null;
  window.__streams = 0;
  const encoder = new TextEncoder();
  // Builds a burst's chunks (before any timing starts); __send then hands them all to the
  // page's stream at once.
  let prepared = [];
  window.__send = () => {
    for (const chunk of prepared) {
      controller.enqueue(chunk);
    }
    prepared = [];
  };
  window.__prepare = (count, chunks) => {
    const perChunk = Math.ceil(count / chunks);
    let sent = 0;
    for (let c = 0; c < chunks; c += 1) {
      let text = '';
      for (let e = 0; e < perChunk && sent < count; e += 1, sent += 1) {
        if (sent % 200 === 0) {
          const i = 500 + (sent / 200);
          members[i].state = 'suspect';
          text += `event: peers_suspend\ndata: ${JSON.stringify({ event: 'peers_suspend', peers: [name(i)] })}\n\n`;
        } else {
          const i = sent % N;
          const delta = { node: name(i), key: `k${sent % 3}`, value: `burst ${sent}`, version: 10 + sent };
          text += `event: updates\ndata: ${JSON.stringify({ event: 'updates', deltas: [delta] })}\n\n`;
        }
      }
      prepared.push(encoder.encode(text));
    }
  };
  window.__dropStream = () => {
    if (controller) {
      controller.error(new TypeError('network error (stub)'));
      controller = null;
    }
  };
  const json = (body) => new Response(JSON.stringify(body), { status: 200, headers: { 'Content-Type': 'application/json' } });
  window.fetch = async (input) => {
    const path = String(input);
    if (path.startsWith('/v1/members')) return json({ node: name(0), members });
    if (path.startsWith('/v1/kv')) return json({ entries });
    if (path.startsWith('/v1/convergence')) return json({ node: name(0), owner: name(0), key: 'k0', nodes: [] });
    if (path.startsWith('/v1/events')) {
      window.__streams += 1;
      const body = new ReadableStream({ start(c) { controller = c; } });
      return new Response(body, { status: 200, headers: { 'Content-Type': 'text/event-stream' } });
    }
    return new Response('{"error":"not stubbed"}', { status: 404 });
  };
})();"#;

fn page_url(admin: SocketAddr) -> String {
    format!("http://{admin}/")
}

/// Types the token into a page's form and submits it.
async fn give_token(browser: &mut Browser, page: &str) {
    browser
        .eval(
            page,
            &format!(
                "document.getElementById('token').value = '{TOKEN}';\
                 document.getElementById('token-form').requestSubmit(); true"
            ),
        )
        .await;
}

/// Where screenshots go: `target/tmp/browser/`.
fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

// ---- a small DevTools protocol client ----

/// Headless Chromium, killed on drop, driven over one DevTools WebSocket with a flat
/// session per page.
struct Browser {
    child: Child,
    profile: PathBuf,
    socket: Option<WebSocketStream<MaybeTlsStream<TcpStream>>>,
    next_id: u64,
    /// The page last brought to the front.
    front: Option<String>,
}

impl Browser {
    /// Starts Chromium, or prints why not and returns `None` if there is none.
    async fn launch() -> Option<Browser> {
        let Some(binary) = chromium() else {
            println!("SKIP browser test: chromium not found (apt-get install chromium)");
            eprintln!("SKIP browser test: chromium not found (apt-get install chromium)");
            return None;
        };
        let profile = scratch_dir("chromium-profile");
        let mut child = Command::new(&binary)
            .args([
                "--headless=new",
                // Chromium's sandbox refuses to run as root (CI containers); the browser
                // loads only this test's pages on 127.0.0.1.
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-background-timer-throttling",
                "--disable-backgrounding-occluded-windows",
                "--disable-renderer-backgrounding",
                "--window-size=1400,1100",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        // Chromium names its DevTools endpoint on stderr; keep draining it afterwards.
        let stderr = child.stderr.take().unwrap();
        let (found, url) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut found = Some(found);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("DevTools listening on")
                    && let Some(at) = line.find("ws://")
                    && let Some(found) = found.take()
                {
                    let _ = found.send(line[at..].trim().to_string());
                }
            }
        });
        let mut browser = Browser {
            child,
            profile,
            socket: None,
            next_id: 0,
            front: None,
        };
        let url = match tokio::time::timeout(Duration::from_secs(30), url).await {
            Ok(Ok(url)) => url,
            _ => panic!("{} printed no DevTools URL within 30 s", binary.display()),
        };
        assert!(url.starts_with("ws://127.0.0.1:"), "{url}");
        let (socket, _) = tokio::time::timeout(CALL_TIMEOUT, tokio_tungstenite::connect_async(url))
            .await
            .expect("DevTools did not accept the connection in time")
            .unwrap();
        browser.socket = Some(socket);
        Some(browser)
    }

    /// A new page (tab) showing `url`, once loaded; its session id.
    async fn open(&mut self, url: &str) -> String {
        let session = self.new_page().await;
        self.navigate(&session, url).await;
        session
    }

    /// A new blank page; its session id.
    async fn new_page(&mut self) -> String {
        let target = self
            .call(None, "Target.createTarget", json!({ "url": "about:blank" }))
            .await;
        let target_id = target["targetId"].as_str().unwrap().to_string();
        let attached = self
            .call(
                None,
                "Target.attachToTarget",
                json!({ "targetId": target_id, "flatten": true }),
            )
            .await;
        let session = attached["sessionId"].as_str().unwrap().to_string();
        self.call(Some(&session), "Page.enable", json!({})).await;
        self.call(Some(&session), "Runtime.enable", json!({})).await;
        self.call(
            Some(&session),
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": 1400, "height": 1100, "deviceScaleFactor": 1, "mobile": false }),
        )
        .await;
        session
    }

    /// Loads `url` in `page` and waits for its document and script.
    async fn navigate(&mut self, page: &str, url: &str) {
        let answer = self
            .call(Some(page), "Page.navigate", json!({ "url": url }))
            .await;
        assert!(answer.get("errorText").is_none(), "{url}: {answer}");
        self.wait_for(
            page,
            "the page to load",
            "document.readyState === 'complete' && !!document.getElementById('members')",
            |v| v == true,
        )
        .await;
    }

    /// Evaluates `expression` in `page` (awaiting a promise); its value as JSON.
    async fn eval(&mut self, page: &str, expression: &str) -> Value {
        // Only the tab in front draws (requestAnimationFrame waits in the others).
        if self.front.as_deref() != Some(page) {
            self.call(Some(page), "Page.bringToFront", json!({})).await;
            self.front = Some(page.to_string());
        }
        let answer = self
            .call(
                Some(page),
                "Runtime.evaluate",
                json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
            )
            .await;
        if let Some(exception) = answer.get("exceptionDetails") {
            panic!("{expression} threw: {exception}");
        }
        answer["result"]
            .get("value")
            .cloned()
            .unwrap_or(Value::Null)
    }

    /// Polls `expression` every 100 ms until `done` holds for its value; panics naming
    /// `what` and the last value after [`PAGE_PATIENCE`].
    async fn wait_for(
        &mut self,
        page: &str,
        what: &str,
        expression: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + PAGE_PATIENCE;
        loop {
            let value = self.eval(page, expression).await;
            if done(&value) {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {PAGE_PATIENCE:?} waiting for {what}; last value: {value}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Saves a PNG of `page` to `path`.
    async fn screenshot(&mut self, page: &str, path: &Path) {
        let shot = self
            .call(
                Some(page),
                "Page.captureScreenshot",
                json!({ "format": "png", "captureBeyondViewport": true }),
            )
            .await;
        let png = STANDARD.decode(shot["data"].as_str().unwrap()).unwrap();
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::write(path, png).unwrap();
        eprintln!("screenshot: {}", path.display());
    }

    /// Sends one DevTools command (to the browser, or to a page's session) and waits for
    /// its answer, skipping the events in between; panics on an error answer.
    async fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut command = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            command["sessionId"] = json!(session);
        }
        let socket = self.socket.as_mut().unwrap();
        let exchange = async {
            socket
                .send(Message::text(command.to_string()))
                .await
                .unwrap();
            loop {
                let message = socket
                    .next()
                    .await
                    .expect("DevTools closed the connection")
                    .unwrap();
                let Message::Text(text) = message else {
                    continue;
                };
                let answer: Value = serde_json::from_str(text.as_str()).unwrap();
                if answer["id"] == json!(id) {
                    return answer;
                }
            }
        };
        let answer = tokio::time::timeout(CALL_TIMEOUT, exchange)
            .await
            .unwrap_or_else(|_| panic!("{method} got no answer within {CALL_TIMEOUT:?}"));
        if let Some(error) = answer.get("error") {
            panic!("{method} failed: {error}");
        }
        answer["result"].clone()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// The browser to drive: `LEVIATHAN_GOSSIP_CHROMIUM`, else the first of Chromium's usual
/// names on `PATH`.
fn chromium() -> Option<PathBuf> {
    if let Some(binary) = std::env::var_os("LEVIATHAN_GOSSIP_CHROMIUM") {
        return Some(PathBuf::from(binary));
    }
    let path = std::env::var_os("PATH")?;
    [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ]
    .iter()
    .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
    .find(|candidate| candidate.is_file())
}
