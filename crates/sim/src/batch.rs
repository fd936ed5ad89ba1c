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
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use leviathan_gossip_core::Node;
use leviathan_gossip_wire::Packet;

use crate::scenario::NodeIndex;

/// Fewer jobs than this run on the calling thread: sharing them with a helper would cost
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

/// Helper threads that run jobs of a batch beside the calling thread. Between batches
/// they spin a few hundred microseconds, then block: with more threads than free cores,
/// that spinning takes CPU from the sequential parts. A panic in a job is raised in the
/// caller, after which the simulation is unusable (its batch's nodes are out of their
/// slots).
pub(crate) struct Workers {
    to_workers: Vec<Sender<Arc<SharedBatch>>>,
    /// One message per helper per batch, once it found no job left to claim (a panic's
    /// payload if a job panicked).
    from_workers: Receiver<std::thread::Result<()>>,
    handles: Vec<JoinHandle<()>>,
}

/// A batch every thread takes jobs from, the next unclaimed one each time, so a thread
/// that drew quick jobs takes more of them: inputs differ in cost by orders of magnitude
/// (a timer with nothing due against a datagram full of news).
struct SharedBatch {
    base: Instant,
    next: AtomicUsize,
    jobs: Vec<Mutex<Job>>,
}

impl SharedBatch {
    fn work(&self) {
        loop {
            let claimed = self.next.fetch_add(1, Ordering::Relaxed);
            let Some(job) = self.jobs.get(claimed) else {
                return;
            };
            // Only the thread that claimed a job locks it: never contended.
            job.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .run(self.base);
        }
    }
}

impl Workers {
    /// `threads` threads in all: the caller and `threads - 1` helpers.
    pub(crate) fn new(threads: usize) -> std::io::Result<Self> {
        let (done, from_workers) = channel();
        let mut to_workers = Vec::new();
        let mut handles = Vec::new();
        for i in 1..threads.max(1) {
            let (to_worker, inbox) = channel::<Arc<SharedBatch>>();
            let done = done.clone();
            let handle = std::thread::Builder::new()
                .name(format!("sim-worker-{i}"))
                // As deep as the main thread's, so that a run does not abort only when
                // it has helpers.
                .stack_size(8 << 20)
                .spawn(move || {
                    while let Some(batch) = receive(&inbox) {
                        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| batch.work()));
                        // Let go of the batch before saying so: the caller takes it back.
                        drop(batch);
                        if done.send(outcome).is_err() {
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

    /// Runs every job, with the helpers when the batch is worth it; returns whether it
    /// used them. `jobs` keeps its order. Each job touches only its own node, so the order
    /// they run in does not matter. A panic in a job is raised here.
    pub(crate) fn run(&self, jobs: &mut Vec<Job>, base: Instant) -> bool {
        if self.to_workers.is_empty() || jobs.len() < MIN_PARALLEL_JOBS {
            jobs.iter_mut().for_each(|job| job.run(base));
            return false;
        }
        let batch = Arc::new(SharedBatch {
            base,
            next: AtomicUsize::new(0),
            jobs: jobs.drain(..).map(Mutex::new).collect(),
        });
        // A helper that would find no job left is not woken.
        let helpers = self
            .to_workers
            .iter()
            .take(batch.jobs.len().saturating_sub(1))
            .filter(|worker| worker.send(Arc::clone(&batch)).is_ok())
            .count();
        let own = std::panic::catch_unwind(AssertUnwindSafe(|| batch.work()));
        // Every helper's report is taken before a panic is raised again, so none is left
        // over for the next batch.
        let mut panic = own.err();
        for _ in 0..helpers {
            match receive(&self.from_workers) {
                Some(Ok(())) => {}
                Some(Err(payload)) => panic = panic.or(Some(payload)),
                None => break,
            }
        }
        if let Some(payload) = panic {
            std::panic::resume_unwind(payload);
        }
        // Every helper let go of the batch before it reported.
        let Ok(batch) = Arc::try_unwrap(batch) else {
            panic!("a simulation worker kept its batch: nodes would be lost");
        };
        jobs.extend(batch.jobs.into_iter().map(|job| {
            job.into_inner()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        }));
        true
    }
}

/// Batches follow each other within tens of microseconds, less than waking a blocked
/// thread takes: wait for the next message spinning, for about this many polls (a few
/// hundred microseconds), before blocking.
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
