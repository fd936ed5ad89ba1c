//! Helpers of the process-level tests: agents as child processes on 127.0.0.1, bounded
//! waits.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::fs::File;
use std::future::Future;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use leviathan_gossip_agent::client::AdminClient;
use leviathan_gossip_agent::token::AdminToken;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_leviathan-gossip");
/// Generous bound for anything that takes a few 100 ms gossip rounds.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A fresh directory for one agent's stdout and stderr.
pub fn scratch_dir(label: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "leviathan-gossip-agent-tests-{}-{}-{label}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A free UDP address on 127.0.0.1, for an agent to bind (see [`unused_port`]).
pub fn free_udp() -> SocketAddr {
    unused_port(
        |address| UdpSocket::bind(address).is_ok(),
        || {
            UdpSocket::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
        },
    )
}

/// A free TCP address on 127.0.0.1, for an agent to bind (see [`unused_port`]).
pub fn free_tcp() -> SocketAddr {
    unused_port(
        |address| TcpListener::bind(address).is_ok(),
        || {
            TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
        },
    )
}

/// A port on 127.0.0.1 that `bindable` can bind now, below the OS's ephemeral range.
///
/// A port the OS hands out for `bind(0)` and that is then released can be handed out
/// again — to another test's socket, or as the local port of an outgoing connection —
/// before the agent binds it, and the agent then fails to start (seen on CI as an agent
/// that never served `/v1/health`). Ports below the ephemeral range are never handed
/// out by the OS, and a counter keeps this process's tests (the threads of one test
/// binary; cargo runs binaries one after another) from picking one twice. Where the range
/// leaves no room below it, `any` asks the OS.
fn unused_port(bindable: impl Fn(SocketAddr) -> bool, any: impl Fn() -> SocketAddr) -> SocketAddr {
    use std::sync::atomic::AtomicU16;
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let ephemeral_start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32_768);
    const LOWEST: u16 = 10_000;
    if ephemeral_start <= LOWEST + 1_000 {
        return any();
    }
    let span = ephemeral_start - LOWEST;
    // Each process starts elsewhere in the span, so that agents of an earlier test
    // binary, if any outlived it, are not in the way.
    let start = (std::process::id() % u32::from(span)) as u16;
    NEXT.compare_exchange(0, start.max(1), Ordering::Relaxed, Ordering::Relaxed)
        .ok();
    for _ in 0..span {
        let offset = NEXT.fetch_add(1, Ordering::Relaxed) % span;
        let address = SocketAddr::from(([127, 0, 0, 1], LOWEST + offset));
        if bindable(address) {
            return address;
        }
    }
    panic!("no free port on 127.0.0.1 below {ephemeral_start}");
}

/// An agent process, killed (SIGKILL) on drop.
#[derive(Debug)]
pub struct Agent {
    pub name: String,
    pub gossip: SocketAddr,
    pub admin: SocketAddr,
    pub dir: PathBuf,
    /// The admin token its API requires, if any.
    pub token: Option<String>,
    child: Option<Child>,
}

impl Agent {
    /// Starts `leviathan-gossip agent --preset local` named `name` with `seeds`.
    pub fn spawn(name: &str, gossip: SocketAddr, seeds: &[SocketAddr]) -> Agent {
        Self::spawn_with(name, gossip, seeds, &[])
    }

    /// Like [`Agent::spawn`], with `extra` arguments after the others.
    pub fn spawn_with(
        name: &str,
        gossip: SocketAddr,
        seeds: &[SocketAddr],
        extra: &[&std::ffi::OsStr],
    ) -> Agent {
        Self::spawn_full(name, gossip, seeds, extra, &[], None)
    }

    /// Like [`Agent::spawn_with`], with environment variables, and `token` as the admin
    /// token its clients send (the agent learns it from `extra` or `env`).
    pub fn spawn_full(
        name: &str,
        gossip: SocketAddr,
        seeds: &[SocketAddr],
        extra: &[&std::ffi::OsStr],
        env: &[(&str, &str)],
        token: Option<&str>,
    ) -> Agent {
        let admin = free_tcp();
        let dir = scratch_dir(name);
        let seeds: Vec<String> = seeds.iter().map(ToString::to_string).collect();
        let mut command = command();
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command
            .args(["agent", "--preset", "local", "--name", name])
            .args(extra)
            .arg("--listen")
            .arg(gossip.to_string())
            .arg("--admin")
            .arg(admin.to_string())
            .arg("--seed")
            .arg(seeds.join(","))
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(File::create(dir.join("stdout")).unwrap())
            .stderr(File::create(dir.join("stderr")).unwrap())
            .spawn()
            .unwrap();
        Agent {
            name: name.to_string(),
            gossip,
            admin,
            dir,
            token: token.map(str::to_string),
            child: Some(child),
        }
    }

    /// A client of its admin API (with its token, if it has one).
    pub fn client(&self) -> AdminClient {
        let token = self
            .token
            .as_deref()
            .map(|token| AdminToken::parse(token).unwrap());
        AdminClient::new(&self.admin.to_string())
            .unwrap()
            .with_token(token)
    }

    /// Waits until its admin API answers `/v1/health` with `ok`.
    pub async fn ready(&self) {
        let client = &self.client();
        let deadline = Instant::now() + PATIENCE;
        while client
            .health()
            .await
            .ok()
            .filter(|h| h.status == "ok")
            .is_none()
        {
            assert!(
                Instant::now() < deadline,
                "timed out after {PATIENCE:?} waiting for {} to serve /v1/health; its stderr:\n{}",
                self.name,
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// What it printed on stdout so far (events as JSON lines).
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self.dir.join("stdout")).unwrap_or_default()
    }

    /// What it logged on stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr")).unwrap_or_default()
    }

    /// Kills it with SIGKILL: a crash, no leave.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends SIGTERM and waits (bounded) for it to exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let pid = self.child.as_ref().expect("agent already stopped").id();
        let status = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM {pid} failed");
        self.wait_exit()
    }

    /// Waits (bounded) for it to exit by itself.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("agent already stopped");
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!(
                    "{} did not exit within {PATIENCE:?}; stderr:\n{}",
                    self.name,
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `n` agents `a1`…`an`, the first and last as seeds, each ready.
pub async fn cluster(n: usize) -> Vec<Agent> {
    cluster_with(n, Agent::spawn).await
}

/// `n` agents `a1`…`an` started by `spawn(name, address, seeds)`, the first and last as
/// seeds, each ready and seeing `n` live members.
pub async fn cluster_with(
    n: usize,
    spawn: impl Fn(&str, SocketAddr, &[SocketAddr]) -> Agent,
) -> Vec<Agent> {
    let addresses: Vec<SocketAddr> = (0..n).map(|_| free_udp()).collect();
    let seeds = [addresses[0], addresses[n - 1]];
    let agents: Vec<Agent> = addresses
        .iter()
        .enumerate()
        .map(|(i, address)| spawn(&format!("a{}", i + 1), *address, &seeds))
        .collect();
    for agent in &agents {
        agent.ready().await;
    }
    all_live(&agents).await;
    agents
}

/// Waits until every agent sees every one of `agents` live.
pub async fn all_live(agents: &[Agent]) {
    let n = agents.len();
    for agent in agents {
        let client = &agent.client();
        eventually(
            &format!("{} to see {n} live members", agent.name),
            || async move {
                let members = client.members().await.ok()?;
                let live = members.members.iter().filter(|m| m.state == "live").count();
                (live == n).then_some(())
            },
        )
        .await;
    }
}

/// Polls `check` every 50 ms until it yields a value; panics naming `what` after
/// [`PATIENCE`].
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {PATIENCE:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The binary, with no `LEVIATHAN_GOSSIP_*` variable inherited from the test's environment.
pub fn command() -> Command {
    let mut command = Command::new(BIN);
    for (key, _) in std::env::vars() {
        if key.starts_with("LEVIATHAN_GOSSIP_") {
            command.env_remove(key);
        }
    }
    command
}

/// Runs the binary with `args` (and extra environment), bounded by [`PATIENCE`].
pub fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    run_with_stdin(args, env, None)
}

/// Like [`run`], with `stdin` written to its standard input (none: no input at all).
pub fn run_with_stdin(args: &[&str], env: &[(&str, &str)], stdin: Option<&[u8]>) -> Output {
    let mut command = command();
    command
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().unwrap();
    if let Some(bytes) = stdin {
        use std::io::Write;
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(bytes).unwrap();
    }
    wait_output(child, PATIENCE, &args.join(" "))
}

/// Waits for `child`'s output, killing it and panicking after `timeout`.
pub fn wait_output(mut child: Child, timeout: Duration, what: &str) -> Output {
    let deadline = Instant::now() + timeout;
    // Read the pipes on threads so a chatty child never blocks on a full pipe.
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let read = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = read(stdout.map(|p| Box::new(p) as Box<dyn std::io::Read + Send>));
    let stderr = read(stderr.map(|p| Box::new(p) as Box<dyn std::io::Read + Send>));
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let stdout = String::from_utf8_lossy(&stdout.join().unwrap()).into_owned();
            panic!("`{what}` did not finish within {timeout:?}; stdout so far:\n{stdout}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}
