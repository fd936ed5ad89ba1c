//! Conservative parallel execution: the inputs of one lookahead window, run on all cores.
//!
//! No datagram arrives sooner than the network's shortest latency after it was sent, so
//! within a window that short, what one node does cannot change what another node is
//! handed: the nodes' inputs are independent. The simulation gathers a batch of inputs
//! for distinct nodes from one window (sequentially, in queue order), runs them here (in
//! parallel: each job owns its node while it runs), then hands out their outputs
//! sequentially, in the same queue order. The order of everything that draws from the
//! simulation's random streams is fixed by the queue alone, so a run depends on its seed,
//! not on the number of threads.

use std::net::SocketAddr;
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use leviathan_gossip_core::Node;
use leviathan_gossip_wire::Packet;

use crate::scenario::NodeIndex;

/// Fewer jobs than this run on the calling thread: handing them to the pool would cost
/// more than it saves.
const MIN_PARALLEL_JOBS: usize = 2;

/// One node's input within a batch.
pub(crate) struct Job {
    /// Virtual time of the input.
    pub(crate) at: Duration,
    pub(crate) index: NodeIndex,
    /// Whether the input is the node's timer (its next deadline must then move on).
    pub(crate) after_timeout: bool,
    input: Option<Input>,
    /// The node, taken out of its slot while the job runs; put back before its outputs
    /// are handed out.
    pub(crate) node: Option<Node>,
}

enum Input {
    Timeout,
    Packet { from: SocketAddr, packet: Packet },
}

impl Job {
    /// The node's timer fires at `at`.
    pub(crate) fn timeout(at: Duration, index: NodeIndex) -> Self {
        Job {
            at,
            index,
            after_timeout: true,
            input: Some(Input::Timeout),
            node: None,
        }
    }

    /// A datagram from `from` arrives at `at`.
    pub(crate) fn packet(at: Duration, index: NodeIndex, from: SocketAddr, packet: Packet) -> Self {
        Job {
            at,
            index,
            after_timeout: false,
            input: Some(Input::Packet { from, packet }),
            node: None,
        }
    }

    fn run(&mut self, base: Instant) {
        let (Some(node), Some(input)) = (self.node.as_mut(), self.input.take()) else {
            return;
        };
        let now = base + self.at;
        match input {
            Input::Timeout => node.handle_timeout(now),
            Input::Packet { from, packet } => node.handle_packet(from, packet, now),
        }
    }
}

/// Helper threads that run shares of a batch while the calling thread runs its own.
/// They block between batches, so they take no CPU from the sequential parts.
pub(crate) struct Workers {
    to_workers: Vec<Sender<Share>>,
    from_workers: Receiver<Share>,
    handles: Vec<JoinHandle<()>>,
}

/// A part of a batch, numbered so the batch is put back together in order.
struct Share {
    part: usize,
    base: Instant,
    jobs: Vec<Job>,
}

impl Workers {
    /// `threads` threads in all: the caller and `threads - 1` helpers.
    pub(crate) fn new(threads: usize) -> std::io::Result<Self> {
        let (done, from_workers) = channel::<Share>();
        let mut to_workers = Vec::new();
        let mut handles = Vec::new();
        for i in 1..threads.max(1) {
            let (to_worker, inbox) = channel::<Share>();
            let done = done.clone();
            let handle = std::thread::Builder::new()
                .name(format!("sim-worker-{i}"))
                .spawn(move || {
                    while let Some(mut share) = receive(&inbox) {
                        share.jobs.iter_mut().for_each(|job| job.run(share.base));
                        if done.send(share).is_err() {
                            return;
                        }
                    }
                })?;
            to_workers.push(to_worker);
            handles.push(handle);
        }
        Ok(Workers {
            to_workers,
            from_workers,
            handles,
        })
    }

    /// Runs every job, sharing them with the helpers when the batch is worth it; returns
    /// whether it did. `jobs` keeps its order. Each job touches only its own node, so the
    /// order they run in does not matter.
    pub(crate) fn run(&self, jobs: &mut Vec<Job>, base: Instant) -> bool {
        let threads = self.to_workers.len() + 1;
        if threads == 1 || jobs.len() < MIN_PARALLEL_JOBS {
            jobs.iter_mut().for_each(|job| job.run(base));
            return false;
        }
        let per_share = jobs.len().div_ceil(threads);
        let mut sent = 0;
        for (i, worker) in self.to_workers.iter().enumerate().rev() {
            let start = per_share * (i + 1);
            if start >= jobs.len() {
                continue;
            }
            let share = Share {
                part: i + 1,
                base,
                jobs: jobs.split_off(start),
            };
            // A helper that died (it cannot, short of a panic in the core) leaves its
            // share unrun: the node stays out of its slot and the run reports it gone.
            if worker.send(share).is_ok() {
                sent += 1;
            }
        }
        jobs.iter_mut().for_each(|job| job.run(base));
        let mut shares: Vec<Share> = std::iter::from_fn(|| receive(&self.from_workers))
            .take(sent)
            .collect();
        shares.sort_by_key(|share| share.part);
        for share in shares {
            jobs.extend(share.jobs);
        }
        true
    }
}

/// Batches follow each other within tens of microseconds, less than waking a blocked
/// thread takes: wait for the next message spinning, for about this many polls, before
/// blocking.
const SPIN_POLLS: u32 = 20_000;

/// The next message, spinning a while before blocking; `None` once the sender is gone.
fn receive<T>(channel: &Receiver<T>) -> Option<T> {
    for _ in 0..SPIN_POLLS {
        match channel.try_recv() {
            Ok(message) => return Some(message),
            Err(TryRecvError::Empty) => std::hint::spin_loop(),
            Err(TryRecvError::Disconnected) => return None,
        }
    }
    channel.recv().ok()
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.to_workers.clear();
        for handle in self.handles.drain(..) {
            let _ = handle.join();
        }
    }
}

impl std::fmt::Debug for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workers")
            .field("threads", &(self.to_workers.len() + 1))
            .finish()
    }
}

/// Which nodes already have a job in the current batch: a node's inputs must run one at
/// a time, in order. Marks are batch numbers, so starting a batch clears nothing.
#[derive(Debug, Default)]
pub(crate) struct BatchMarks {
    batch: u64,
    marks: Vec<u64>,
}

impl BatchMarks {
    /// Starts a new batch for `nodes` nodes: nothing is marked.
    pub(crate) fn next_batch(&mut self, nodes: usize) {
        self.batch += 1;
        if self.marks.len() < nodes {
            self.marks.resize(nodes, 0);
        }
    }

    /// Whether `index` has a job in this batch.
    pub(crate) fn contains(&self, index: NodeIndex) -> bool {
        self.marks.get(index.0) == Some(&self.batch)
    }

    /// Records that `index` has a job in this batch.
    pub(crate) fn insert(&mut self, index: NodeIndex) {
        if let Some(mark) = self.marks.get_mut(index.0) {
            *mark = self.batch;
        }
    }
}
