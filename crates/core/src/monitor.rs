//! First-hand monitoring: this node probes its subjects, and relays probes for others.
//!
//! Every probe interval the node sends each subject (see `rings.rs`) a probe; the
//! subject's acks are the arrivals a per-subject φ-accrual detector learns from, so φ
//! measures first-hand, regular evidence, whatever the cluster's size. Intervals longer
//! than [`MAX_LEARNT_INTERVALS`] probe intervals are not learnt (Cassandra's rule: an
//! outage is not a rhythm). When φ crosses the threshold the node *checks* before it
//! accuses: it probes the subject again and asks a few relays to probe it too; any answer
//! ends the check. Only a check that times out unanswered raises an alert, so a broken
//! path between two nodes alone, or one lost packet, accuses nobody.
//!
//! An ack counts only if it answers one of the node's last probes of that subject, so an
//! old ack that arrives late cannot revive a subject.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use leviathan_gossip_wire::{Generation, Incarnation, NodeId, NodeName};

use crate::failure_detector::{Arrivals, FailureDetector, PhiAccrualDetector};
use crate::local_health::LocalHealth;

/// Intervals above this many probe intervals are not learnt, only restart the clock.
pub(crate) const MAX_LEARNT_INTERVALS: u32 = 3;
/// Relayed probes awaiting an answer at once; beyond it the oldest is dropped unanswered,
/// so requests from a flood of sources hold bounded memory.
const MAX_RELAYED: usize = 256;

/// The monitor's settings, from the node's config.
#[derive(Debug, Clone)]
pub(crate) struct MonitorConfig {
    /// How often each subject is probed.
    pub(crate) interval: Duration,
    /// How long a relay waits for its probe's answer, and the unit of a check's wait.
    pub(crate) probe_timeout: Duration,
    /// Relays asked during a check.
    pub(crate) indirect_probes: usize,
    /// φ at which a check starts.
    pub(crate) phi_threshold: f64,
}

/// One subject this node watches.
#[derive(Debug, Clone)]
struct Watched {
    id: NodeId,
    arrivals: Arrivals,
    /// Sequences of the last probes sent to it: an ack to any of them counts.
    recent: [u64; 2],
    check: Option<Check>,
    /// The incarnation this node alerted about, until the subject refutes it.
    alerted: Option<(Generation, Incarnation)>,
}

/// A check of a silent subject: the direct probe and the relays' share a sequence.
#[derive(Debug, Clone, Copy)]
struct Check {
    sequence: u64,
    deadline: Instant,
    relays: usize,
    nacks: usize,
}

/// A probe this node sent on another node's behalf.
#[derive(Debug, Clone, Copy)]
struct Relayed {
    sequence: u64,
    requester: SocketAddr,
    requester_sequence: u64,
    deadline: Instant,
    /// Most bytes the answer may take (see [`Duty::Probe::limit`]).
    limit: usize,
}

/// What the monitor asks the node to send or do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Duty {
    /// Send a probe, of at most `limit` bytes: a relayed probe is held to a multiple of
    /// the request that asked for it, so a stranger cannot reflect traffic through relays.
    Probe {
        to: SocketAddr,
        target: NodeName,
        sequence: u64,
        limit: usize,
    },
    /// Ask `relay` to probe `target`.
    Request {
        relay: SocketAddr,
        target: NodeId,
        sequence: u64,
    },
    /// Tell a requester whether the target answered, in at most `limit` bytes.
    Answer {
        to: SocketAddr,
        sequence: u64,
        reached: bool,
        limit: usize,
    },
    /// `subject`'s check failed: raise an alert about this incarnation.
    Alert {
        subject: NodeName,
        generation: Generation,
    },
}

/// This node's subjects, its checks in progress and the probes it relays.
#[derive(Debug)]
pub(crate) struct Monitor {
    config: MonitorConfig,
    detector: PhiAccrualDetector,
    watched: Vec<Watched>,
    relayed: VecDeque<Relayed>,
    sequences: Sequences,
    next_round: Instant,
    local: LocalHealth,
}

impl Monitor {
    /// Watches nobody yet; the first round is at `now`. Sequences start at `first_sequence`
    /// (random, so nodes restarted at the same address do not reuse each other's).
    pub(crate) fn new(
        config: MonitorConfig,
        detector: PhiAccrualDetector,
        first_sequence: u64,
        now: Instant,
    ) -> Self {
        Monitor {
            config,
            detector,
            watched: Vec::new(),
            relayed: VecDeque::new(),
            sequences: Sequences {
                next: first_sequence.max(1),
            },
            next_round: now,
            local: LocalHealth::default(),
        }
    }

    /// Watches exactly `subjects`: those already watched keep their history (unless their
    /// generation changed), new ones start as heard from at `now`.
    pub(crate) fn watch(&mut self, subjects: Vec<NodeId>, now: Instant) {
        let mut previous = std::mem::take(&mut self.watched);
        for id in subjects {
            let kept = previous
                .iter()
                .position(|watched| watched.id.name == id.name)
                .map(|at| previous.swap_remove(at))
                .filter(|watched| watched.id.generation == id.generation);
            let watched = match kept {
                Some(mut watched) => {
                    watched.id.address = id.address;
                    watched
                }
                None => Watched {
                    id,
                    arrivals: self.detector.first_arrival(now),
                    recent: [0; 2],
                    check: None,
                    alerted: None,
                },
            };
            self.watched.push(watched);
        }
    }

    /// Names of the subjects watched.
    pub(crate) fn subjects(&self) -> impl Iterator<Item = &NodeName> {
        self.watched.iter().map(|watched| &watched.id.name)
    }

    /// φ of a watched subject at `now`; `None` for a node not watched.
    pub(crate) fn phi(&self, name: &NodeName, now: Instant) -> Option<f64> {
        let watched = self.watched.iter().find(|w| w.id.name == *name)?;
        Some(self.detector.phi(&watched.arrivals, now))
    }

    /// This node's local health.
    pub(crate) fn local_health(&self) -> LocalHealth {
        self.local
    }

    /// A sign that this node is the problem (suspected, or stalled).
    pub(crate) fn doubt_self(&mut self) {
        self.local.raise();
    }

    /// The earliest time [`Monitor::run`] has something to do.
    pub(crate) fn next_deadline(&self) -> Instant {
        let checks = self
            .watched
            .iter()
            .filter_map(|watched| watched.check.map(|check| check.deadline));
        let relays = self.relayed.front().map(|relayed| relayed.deadline);
        checks
            .chain(relays)
            .fold(self.next_round, |earliest, deadline| earliest.min(deadline))
    }

    /// Our own timers fired `pause` late: we were stalled, not our subjects.
    pub(crate) fn forgive_local_pause(&mut self, pause: Duration) {
        for watched in &mut self.watched {
            self.detector.local_pause(&mut watched.arrivals, pause);
        }
        self.local.raise();
    }

    /// Does what is due at `now`: a probe round, checks of silent subjects (relays drawn by
    /// `relays(subject, count)`), failed checks' alerts, relayed probes that went
    /// unanswered. `incarnation_of` says which incarnation of a subject this node knows.
    pub(crate) fn run(
        &mut self,
        now: Instant,
        mut relays: impl FnMut(&NodeName, usize) -> Vec<SocketAddr>,
        incarnation_of: impl Fn(&NodeName) -> Option<(Generation, Incarnation)>,
        duties: &mut Vec<Duty>,
    ) {
        while let Some(relayed) = self.relayed.front().copied() {
            if relayed.deadline > now {
                break;
            }
            self.relayed.pop_front();
            duties.push(Duty::Answer {
                to: relayed.requester,
                sequence: relayed.requester_sequence,
                reached: false,
                limit: relayed.limit,
            });
        }
        let round = self.next_round <= now;
        if round {
            let next = self.next_round + self.config.interval;
            self.next_round = if next <= now {
                now + self.config.interval
            } else {
                next
            };
        }
        let wait = self.config.probe_timeout * 2 * self.local.multiplier();
        let (detector, local, sequences) = (&self.detector, &mut self.local, &mut self.sequences);
        for watched in &mut self.watched {
            if round {
                let sequence = sequences.take();
                watched.recent = [watched.recent[1], sequence];
                duties.push(Duty::Probe {
                    to: watched.id.address,
                    target: watched.id.name.clone(),
                    sequence,
                    limit: usize::MAX,
                });
            }
            let known = incarnation_of(&watched.id.name);
            if watched.alerted.is_some() && watched.alerted != known {
                // The subject refuted (or restarted): watch it afresh.
                watched.alerted = None;
            }
            match watched.check {
                Some(check) if check.deadline <= now => {
                    watched.check = None;
                    if check.relays > 0 && check.nacks == 0 {
                        // Not even a relay answered: more likely our network than theirs.
                        local.raise();
                    }
                    if local.may_accuse() && watched.alerted.is_none() {
                        watched.alerted = known;
                        duties.push(Duty::Alert {
                            subject: watched.id.name.clone(),
                            generation: watched.id.generation,
                        });
                    }
                }
                Some(_) => {}
                None => {
                    let silent =
                        detector.exceeds(&watched.arrivals, now, self.config.phi_threshold);
                    if watched.alerted.is_some() || !silent {
                        continue;
                    }
                    let sequence = sequences.take();
                    let target = watched.id.clone();
                    let chosen = relays(&target.name, self.config.indirect_probes);
                    watched.check = Some(Check {
                        sequence,
                        deadline: now + wait,
                        relays: chosen.len(),
                        nacks: 0,
                    });
                    duties.push(Duty::Probe {
                        to: target.address,
                        target: target.name.clone(),
                        sequence,
                        limit: usize::MAX,
                    });
                    for relay in chosen {
                        duties.push(Duty::Request {
                            relay,
                            target: target.clone(),
                            sequence,
                        });
                    }
                }
            }
        }
    }

    /// A relay's job: probe `target` for `requester`, answer by `now + probe_timeout`;
    /// the probe and the answer take at most `limit` bytes each.
    pub(crate) fn relay(
        &mut self,
        requester: SocketAddr,
        requester_sequence: u64,
        target: &NodeId,
        limit: usize,
        now: Instant,
        duties: &mut Vec<Duty>,
    ) {
        if self.relayed.len() >= MAX_RELAYED {
            self.relayed.pop_front();
        }
        let sequence = self.sequences.take();
        self.relayed.push_back(Relayed {
            sequence,
            requester,
            requester_sequence,
            deadline: now + self.config.probe_timeout,
            limit,
        });
        duties.push(Duty::Probe {
            to: target.address,
            target: target.name.clone(),
            sequence,
            limit,
        });
    }

    /// An ack (or a relay's nack) with `sequence` arrived at `now`.
    pub(crate) fn acked(
        &mut self,
        sequence: u64,
        reached: bool,
        now: Instant,
        duties: &mut Vec<Duty>,
    ) {
        if let Some(at) = self.relayed.iter().position(|r| r.sequence == sequence) {
            if let Some(relayed) = self.relayed.remove(at)
                && reached
            {
                duties.push(Duty::Answer {
                    to: relayed.requester,
                    sequence: relayed.requester_sequence,
                    reached: true,
                    limit: relayed.limit,
                });
            }
            return;
        }
        for watched in &mut self.watched {
            let in_check = watched
                .check
                .is_some_and(|check| check.sequence == sequence);
            if !in_check && !watched.recent.contains(&sequence) {
                continue;
            }
            if !reached {
                if let Some(check) = watched.check.as_mut().filter(|_| in_check) {
                    check.nacks += 1;
                }
                return;
            }
            self.detector.arrival(&mut watched.arrivals, now);
            watched.check = None;
            // Each probe answers once: a duplicate must not count twice.
            watched.recent = watched.recent.map(|s| if s == sequence { 0 } else { s });
            self.local.lower();
            return;
        }
    }
}

/// Probe sequences, never 0 (the "no probe" mark in [`Watched::recent`]).
#[derive(Debug, Clone)]
struct Sequences {
    next: u64,
}

impl Sequences {
    fn take(&mut self) -> u64 {
        let sequence = self.next;
        self.next = self.next.wrapping_add(1).max(1);
        sequence
    }
}
