//! `leviathan-gossip demo`: a small cluster in one process, its story told as it happens.
//!
//! Like the original library's four-console example, nodes 1 to N start on 127.0.0.1 with
//! nodes 1 and N as seeds, and each writes one key (`node1` writes `k1 = "v1"`, …). Then:
//!
//! 1. the cluster converges: every node sees every member live and every key;
//! 2. node 2 crashes (no leave) and every peer comes to suspect it;
//! 3. node 2 restarts as a new generation and writes its key again; every peer sees it back.
//!
//! Every node serves the admin API on its own port for the whole run (a crashed node
//! answers `503`), and with it the cluster page ([`crate::ui`]): the demo prints each
//! node's page URL, to watch the story in a browser, and each page's convergence view
//! shows every node of the demo. The demo ends with a summary — members, replicated keys, time to
//! converge, to suspect and to recover — and exits 0, or keeps running with `--forever`.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use leviathan_gossip::json::EventRecord;
use leviathan_gossip::{Config, Gossip, MemberState, Preset, RecvError};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::Failure;
use crate::api::MemberView;
use crate::cli::DemoArgs;
use crate::http::{AdminOptions, AdminServer, Sibling};
use crate::logging;
use crate::render;
use crate::slot::NodeSlot;

/// The node that crashes and restarts: node2 (a seed only when there are two nodes).
const VICTIM: usize = 1;
/// How often the demo checks whether a step is done.
const POLL: Duration = Duration::from_millis(20);
/// How long a restarted node retries binding its old port.
const REBIND_PATIENCE: Duration = Duration::from_secs(3);

/// Runs the demo to its end (or until Ctrl-C with `--forever`).
pub async fn run(args: DemoArgs) -> Result<(), Failure> {
    logging::init(Some(&args.log_level), false, "warn");
    let mut cluster = Cluster::prepare(&args).await?;
    cluster.introduce();
    let outcome = tokio::select! {
        outcome = story(&mut cluster, &args) => outcome,
        _ = tokio::signal::ctrl_c() => Err(Failure {
            code: 130,
            message: "interrupted".into(),
        }),
    };
    if outcome.is_ok() && args.forever {
        say("running until Ctrl-C; the admin APIs above stay up");
        let _ = tokio::signal::ctrl_c().await;
    }
    cluster.shutdown().await;
    outcome
}

async fn story(cluster: &mut Cluster, args: &DemoArgs) -> Result<(), Failure> {
    let n = cluster.nodes.len();
    let victim = cluster.name(VICTIM);

    act(&format!(
        "1. {n} nodes start (seeds: {}), each writes one key",
        cluster.seed_names()
    ));
    let start = Instant::now();
    for index in 0..n {
        cluster.start_node(index).await?;
    }
    let converge = wait(args.step_timeout, "the cluster to converge", || {
        cluster.converged()
    })
    .await
    .map(|()| start.elapsed())?;
    result(&format!(
        "converged in {}: every node sees {n} live members and {n} keys",
        seconds(converge)
    ));
    tokio::time::sleep(args.pause).await;

    act(&format!(
        "2. {victim} crashes (no leave): its peers must notice the silence"
    ));
    cluster.crash(VICTIM).await;
    let crashed = Instant::now();
    wait(
        args.step_timeout,
        &format!("every peer to suspect {victim}"),
        || cluster.suspected(VICTIM),
    )
    .await?;
    let suspect = crashed.elapsed();
    result(&format!(
        "every peer suspects {victim} after {}: φ crossed {}",
        seconds(suspect),
        cluster.config(VICTIM).phi_threshold
    ));
    tokio::time::sleep(args.pause).await;

    act(&format!(
        "3. {victim} restarts: a new generation with empty state; it writes its key again"
    ));
    let restarted = Instant::now();
    let generation = cluster.start_node(VICTIM).await?;
    wait(
        args.step_timeout,
        &format!("every peer to see {victim}'s new generation with its key"),
        || cluster.recovered(VICTIM, generation),
    )
    .await?;
    let recover = restarted.elapsed();
    result(&format!(
        "every peer sees {victim} live again (generation {generation}) with its key after {}",
        seconds(recover)
    ));
    tokio::time::sleep(args.pause).await;

    cluster.summary(&[
        (
            "converge",
            "first start → every node has every member and key",
            converge,
        ),
        ("suspect", "crash → every peer suspects the node", suspect),
        (
            "recover",
            "restart → every peer has the new generation and key",
            recover,
        ),
    ]);
    Ok(())
}

/// The demo's nodes, each behind its own admin API.
struct Cluster {
    preset: Preset,
    seeds: Vec<String>,
    nodes: Vec<DemoNode>,
    clock: Clock,
}

struct DemoNode {
    name: String,
    listen: SocketAddr,
    key: String,
    value: String,
    slot: NodeSlot,
    admin: AdminServer,
    printer: Option<JoinHandle<()>>,
    leave_watcher: JoinHandle<()>,
}

impl Cluster {
    /// Picks free gossip ports and starts every admin API (nodes start later).
    async fn prepare(args: &DemoArgs) -> Result<Cluster, Failure> {
        let n = usize::from(args.nodes);
        let clock = Clock(Instant::now());
        let listens = free_udp_addresses(n)?;
        // Every node's page shows every node in its convergence view.
        let siblings: Vec<Sibling> = (0..n)
            .map(|index| Sibling {
                name: format!("node{}", index + 1),
                slot: NodeSlot::default(),
            })
            .collect();
        let mut nodes = Vec::with_capacity(n);
        for ((index, listen), sibling) in listens.into_iter().enumerate().zip(&siblings) {
            let name = sibling.name.clone();
            let listener = TcpListener::bind("127.0.0.1:0").await.map_err(|e| {
                Failure::runtime(format!("cannot bind an admin port for {name}: {e}"))
            })?;
            let slot = sibling.slot.clone();
            let options = AdminOptions {
                siblings: siblings.clone(),
                ..AdminOptions::default()
            };
            let admin = AdminServer::start_with(listener, slot.clone(), options)
                .map_err(|e| Failure::runtime(format!("cannot start {name}'s admin API: {e}")))?;
            let leave_watcher = tokio::spawn(honour_leave(
                name.clone(),
                slot.clone(),
                admin.leave_signal(),
                clock,
            ));
            nodes.push(DemoNode {
                key: format!("k{}", index + 1),
                value: format!("v{}", index + 1),
                name,
                listen,
                slot,
                admin,
                printer: None,
                leave_watcher,
            });
        }
        let seeds = [nodes.first(), nodes.last()]
            .into_iter()
            .flatten()
            .map(|node| node.listen.to_string())
            .collect();
        Ok(Cluster {
            preset: args.preset,
            seeds,
            nodes,
            clock,
        })
    }

    fn introduce(&self) {
        let config = Config::preset(self.preset);
        say(&format!(
            "leviathan-gossip demo: {} nodes on 127.0.0.1, gossip every {}, probes every {}, \
             suspicion at φ > {}",
            self.nodes.len(),
            humantime::format_duration(config.gossip_interval),
            humantime::format_duration(config.heartbeat_interval),
            config.phi_threshold,
        ));
        let rows: Vec<Vec<String>> = self
            .nodes
            .iter()
            .map(|node| {
                vec![
                    node.name.clone(),
                    node.listen.to_string(),
                    format!("http://{}", node.admin.address()),
                    page_url(node.admin.address()),
                ]
            })
            .collect();
        say(&format!(
            "\n{}",
            render::table(
                &[
                    "NODE",
                    "GOSSIP (UDP)",
                    "ADMIN API (HTTP)",
                    "CLUSTER PAGE (BROWSER)"
                ],
                &rows
            )
        ));
        if let Some(node) = self.nodes.first() {
            let admin = node.admin.address();
            say(&format!(
                "Watch the cluster live in a browser: open {} (or any node's page above).",
                page_url(admin)
            ));
            say(&format!(
                "Poke the nodes while the story runs:\n  curl -s http://{admin}/v1/members\n  \
                 curl -s -X PUT --data hello http://{admin}/v1/kv/greeting\n  \
                 leviathan-gossip members --admin {admin}    (from a checkout: cargo run --release -- members --admin {admin})\n"
            ));
        }
    }

    fn name(&self, index: usize) -> String {
        self.nodes
            .get(index)
            .map_or_else(|| format!("node{}", index + 1), |node| node.name.clone())
    }

    fn seed_names(&self) -> String {
        let mut names = vec![self.name(0)];
        if self.nodes.len() > 1 {
            names.push(self.name(self.nodes.len() - 1));
        }
        names.join(" and ")
    }

    fn config(&self, index: usize) -> Config {
        let mut config = Config::preset(self.preset);
        if let Some(node) = self.nodes.get(index) {
            config.name.clone_from(&node.name);
            config.listen = node.listen;
            config.seeds.clone_from(&self.seeds);
        }
        config
    }

    /// Starts (or restarts) node `index`, which then writes its key; returns its generation.
    async fn start_node(&mut self, index: usize) -> Result<u64, Failure> {
        let config = self.config(index);
        let clock = self.clock;
        let Some(node) = self.nodes.get_mut(index) else {
            return Err(Failure::runtime(format!("no node {}", index + 1)));
        };
        clock.event(&node.name, &format!("starts on {}", node.listen));
        let gossip = Arc::new(start_gossip(config).await?);
        node.printer = Some(tokio::spawn(print_events(
            node.name.clone(),
            Arc::clone(&gossip),
            clock,
        )));
        node.slot.replace(Some(Arc::clone(&gossip)));
        let generation = gossip.identity().generation.0;
        let version = gossip
            .set(&node.key, node.value.clone())
            .map_err(|e| Failure::runtime(format!("{} cannot set its key: {e}", node.name)))?;
        clock.event(
            &node.name,
            &format!("set {} = {:?} (v{version})", node.key, node.value),
        );
        Ok(generation)
    }

    /// Stops node `index` without a word to its peers, as a crash would.
    async fn crash(&mut self, index: usize) {
        let Some(node) = self.nodes.get_mut(index) else {
            return;
        };
        if let Some(printer) = node.printer.take() {
            printer.abort();
        }
        if let Some(gossip) = node.slot.replace(None) {
            gossip.shutdown().await;
        }
        self.clock.event(&node.name, "crashes");
    }

    /// The running nodes.
    fn running(&self) -> impl Iterator<Item = (&DemoNode, Arc<Gossip>)> {
        self.nodes
            .iter()
            .filter_map(|node| node.slot.current().map(|gossip| (node, gossip)))
    }

    /// Every running node sees every node live and every node's key.
    fn converged(&self) -> bool {
        self.running().all(|(_, gossip)| {
            let members = gossip.members();
            self.nodes.iter().all(|node| {
                members
                    .iter()
                    .any(|m| m.id.name.as_str() == node.name && m.state == MemberState::Live)
                    && gossip.get(&node.name, &node.key).as_deref() == Some(node.value.as_bytes())
            })
        })
    }

    /// Every running peer sees node `index` as suspect (or already dead).
    fn suspected(&self, index: usize) -> bool {
        let name = self.name(index);
        self.running().all(|(_, gossip)| {
            gossip.members().iter().any(|m| {
                m.id.name.as_str() == name
                    && matches!(m.state, MemberState::Suspect | MemberState::Dead)
            })
        })
    }

    /// Every running peer sees node `index` live at `generation`, with its key.
    fn recovered(&self, index: usize, generation: u64) -> bool {
        let Some(target) = self.nodes.get(index) else {
            return false;
        };
        self.running().all(|(_, gossip)| {
            gossip.members().iter().any(|m| {
                m.id.name.as_str() == target.name
                    && m.id.generation.0 == generation
                    && m.state == MemberState::Live
            }) && gossip.get(&target.name, &target.key).as_deref() == Some(target.value.as_bytes())
        })
    }

    fn summary(&self, timings: &[(&str, &str, Duration)]) {
        act("Summary");
        if let Some((node, gossip)) = self.running().next() {
            let members: Vec<MemberView> = gossip.members().iter().map(MemberView::from).collect();
            say(&format!(
                "Members as {} sees them:\n{}",
                node.name,
                render::members_table(&members)
            ));
        }
        let running: Vec<(&DemoNode, Arc<Gossip>)> = self.running().collect();
        let mut headers = vec!["KEY"];
        headers.extend(running.iter().map(|(node, _)| node.name.as_str()));
        let rows: Vec<Vec<String>> = self
            .nodes
            .iter()
            .map(|owner| {
                let mut row = vec![format!("{}/{} = {:?}", owner.name, owner.key, owner.value)];
                row.extend(running.iter().map(|(_, gossip)| {
                    gossip
                        .getn(&owner.name, &owner.key)
                        .map_or_else(|| "-".to_string(), |version| format!("v{version}"))
                }));
                row
            })
            .collect();
        say(&format!(
            "Replicated keys (the version each node holds):\n{}",
            render::table(&headers, &rows)
        ));
        let rows: Vec<Vec<String>> = timings
            .iter()
            .map(|(name, what, took)| {
                vec![(*name).to_string(), seconds(*took), (*what).to_string()]
            })
            .collect();
        say(&format!(
            "Timings:\n{}",
            render::table(&["STEP", "TOOK", "FROM → TO"], &rows)
        ));
    }

    /// Stops the printers, makes every running node leave, stops the admin APIs.
    async fn shutdown(self) {
        for node in &self.nodes {
            if let Some(printer) = &node.printer {
                printer.abort();
            }
            node.leave_watcher.abort();
        }
        for node in self.nodes {
            if let Some(gossip) = node.slot.replace(None) {
                let _ = gossip.leave().await;
            }
            node.admin.stop().await;
        }
    }
}

/// Starts a node, retrying a while if its port is still held (a restart right after a
/// crash, while a request in flight still holds the old node).
async fn start_gossip(config: Config) -> Result<Gossip, Failure> {
    let deadline = Instant::now() + REBIND_PATIENCE;
    loop {
        match Gossip::start(config.clone()).await {
            Ok(gossip) => return Ok(gossip),
            Err(leviathan_gossip::StartError::Bind { .. }) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(error) => {
                return Err(Failure::runtime(format!(
                    "cannot start {}: {error}",
                    config.name
                )));
            }
        }
    }
}

/// Honours `POST /v1/leave` on a demo node: it leaves (and stays gone).
async fn honour_leave(
    name: String,
    slot: NodeSlot,
    signal: Arc<tokio::sync::Notify>,
    clock: Clock,
) {
    loop {
        signal.notified().await;
        if let Some(gossip) = slot.current() {
            clock.event(&name, "leaves (POST /v1/leave)");
            let _ = gossip.leave().await;
        }
    }
}

/// Prints node `name`'s events as they happen.
async fn print_events(name: String, gossip: Arc<Gossip>, clock: Clock) {
    let mut events = gossip.events();
    drop(gossip);
    loop {
        match events.recv().await {
            Ok(event) => {
                for line in render::event_lines(&EventRecord::from(&event)) {
                    clock.event(&name, &line);
                }
            }
            Err(RecvError::Lagged(missed)) => {
                clock.event(&name, &format!("missed {missed} events"));
            }
            Err(RecvError::Closed) => return,
        }
    }
}

/// Waits until `done` holds, checking every 20 ms, for at most `timeout`.
async fn wait(
    timeout: Duration,
    what: &str,
    mut done: impl FnMut() -> bool,
) -> Result<(), Failure> {
    let deadline = Instant::now() + timeout;
    while !done() {
        if Instant::now() >= deadline {
            return Err(Failure::runtime(format!(
                "gave up waiting for {what} after {} (try a larger --step-timeout)",
                humantime::format_duration(timeout)
            )));
        }
        tokio::time::sleep(POLL).await;
    }
    Ok(())
}

/// Distinct free UDP ports on 127.0.0.1, held together while picked so none repeats.
fn free_udp_addresses(n: usize) -> Result<Vec<SocketAddr>, Failure> {
    let sockets = (0..n)
        .map(|_| UdpSocket::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Failure::runtime(format!("cannot find free UDP ports: {e}")))?;
    sockets
        .iter()
        .map(UdpSocket::local_addr)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Failure::runtime(format!("cannot find free UDP ports: {e}")))
}

/// The URL of the cluster page an admin API at `admin` serves.
fn page_url(admin: SocketAddr) -> String {
    format!("http://{admin}/")
}

/// Time since the demo started, for event lines.
#[derive(Debug, Clone, Copy)]
struct Clock(Instant);

impl Clock {
    fn event(&self, node: &str, text: &str) {
        let elapsed = self.0.elapsed().as_secs_f64();
        say(&format!("{elapsed:7.3}s  [{node}] {text}"));
    }
}

fn act(title: &str) {
    say(&format!("\n== {title}"));
}

fn result(text: &str) {
    say(&format!("-> {text}"));
}

fn seconds(duration: Duration) -> String {
    format!("{:.2} s", duration.as_secs_f64())
}

/// Prints one block of text; a closed stdout is ignored (the demo still runs its course).
fn say(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{text}").and_then(|()| stdout.flush());
}
