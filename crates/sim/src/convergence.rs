//! Convergence: once the network heals and writes stop, every live node should hold, for
//! every live node, exactly what that node holds about itself, and list it as live.

use std::collections::BTreeMap;
use std::fmt;

use leviathan_gossip_core::{Member, MemberState};
use leviathan_gossip_wire::{Key, Version};
use rand::SeedableRng;
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::{NodeIndex, Simulation};

/// How an observer's view of a subject differs from the truth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum DifferenceKind {
    /// The observer does not know the subject at all.
    UnknownMember,
    /// The observer knows another generation of the subject.
    WrongGeneration,
    /// A live subject is not listed as live (suspect, dead or left).
    NotLive,
    /// A subject that left is not listed as left.
    LeaveNotSeen,
    /// A crashed subject (that did not leave) is still listed as live.
    CrashNotSeen,
    /// The observer's keys or versions for the subject differ from the subject's own.
    StaleData,
}

/// One difference between an observer's view and the truth.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// Whose view.
    pub observer: NodeIndex,
    /// About whom.
    pub subject: NodeIndex,
    /// What differs.
    pub kind: DifferenceKind,
    /// Details.
    pub detail: String,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} about {}: {:?} ({})",
            self.observer.name(),
            self.subject.name(),
            self.kind,
            self.detail
        )
    }
}

impl Simulation {
    /// Compares every live node's view of every node with the truth; empty when the
    /// cluster has converged. Truth: a live node (running, not left) is listed as live with
    /// its current generation and exactly its own `entries`; a node that left is listed as
    /// left (or not at all); a crashed node is not listed as live. Costs O(N²): at large N
    /// use [`Simulation::check_converged_sample`].
    pub fn check_converged(&self) -> Vec<Difference> {
        let observers = self.live_nodes();
        self.differences(&observers)
    }

    /// Like [`Simulation::check_converged`] for `observers` live nodes drawn at random
    /// (from a stream of their own: the run is not perturbed), all subjects included.
    pub fn check_converged_sample(&self, observers: usize) -> Vec<Difference> {
        let live = self.live_nodes();
        if observers >= live.len() {
            return self.differences(&live);
        }
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed() ^ self.now().as_nanos() as u64);
        rng.set_stream(2);
        let mut sample: Vec<NodeIndex> =
            live.choose_multiple(&mut rng, observers).copied().collect();
        sample.sort();
        self.differences(&sample)
    }

    fn differences(&self, observers: &[NodeIndex]) -> Vec<Difference> {
        // What each live node holds about itself.
        let truth: Vec<Option<Vec<(Key, Version, bytes::Bytes)>>> = self
            .indices()
            .map(|i| {
                let node = self.node(i)?;
                (!self.has_left(i)).then(|| node.entries(node.identity().name.as_str()))
            })
            .collect();
        let now = self.instant();
        let mut differences = Vec::new();
        for &observer in observers {
            let Some(node) = self.node(observer) else {
                continue;
            };
            let members: BTreeMap<String, Member> = node
                .members(now)
                .into_iter()
                .map(|member| (member.id.name.to_string(), member))
                .collect();
            for (subject, slot) in self.slots.iter().enumerate() {
                let subject = NodeIndex(subject);
                if subject == observer || !slot.started {
                    continue;
                }
                let mut differ = |kind, detail: String| {
                    differences.push(Difference {
                        observer,
                        subject,
                        kind,
                        detail,
                    });
                };
                let member = members.get(slot.name.as_str());
                let running = slot.node.is_some();
                let current = member.filter(|m| m.id.generation == slot.generation);
                match (running, slot.left) {
                    (true, false) => {
                        let Some(member) = member else {
                            differ(DifferenceKind::UnknownMember, "not listed".into());
                            continue;
                        };
                        if member.id.generation != slot.generation {
                            differ(
                                DifferenceKind::WrongGeneration,
                                format!(
                                    "holds generation {}, the node runs {}",
                                    member.id.generation, slot.generation
                                ),
                            );
                            continue;
                        }
                        if member.state != MemberState::Live {
                            differ(DifferenceKind::NotLive, format!("listed {}", member.state));
                        }
                        let held = node.entries(slot.name.as_str());
                        let own = truth.get(subject.0).and_then(Option::as_ref);
                        if own.is_some_and(|own| *own != held) {
                            differ(
                                DifferenceKind::StaleData,
                                data_difference(own.map_or(&[][..], Vec::as_slice), &held),
                            );
                        }
                    }
                    (_, true) => {
                        if let Some(member) = current
                            && member.state != MemberState::Left
                        {
                            differ(
                                DifferenceKind::LeaveNotSeen,
                                format!("listed {}", member.state),
                            );
                        }
                    }
                    (false, false) => {
                        if current.is_some_and(|m| m.state == MemberState::Live) {
                            differ(DifferenceKind::CrashNotSeen, "still listed live".into());
                        }
                    }
                }
            }
        }
        differences
    }
}

/// A short description of how `held` differs from `own`.
fn data_difference(
    own: &[(Key, Version, bytes::Bytes)],
    held: &[(Key, Version, bytes::Bytes)],
) -> String {
    let versions = |entries: &[(Key, Version, bytes::Bytes)]| -> BTreeMap<String, u64> {
        entries
            .iter()
            .map(|(key, version, _)| (key.to_string(), version.0))
            .collect()
    };
    let own = versions(own);
    let held = versions(held);
    let mut parts = Vec::new();
    for (key, version) in &own {
        match held.get(key) {
            None => parts.push(format!("missing {key}@{version}")),
            Some(v) if v != version => parts.push(format!("{key}@{v} instead of @{version}")),
            Some(_) => {}
        }
    }
    for (key, version) in &held {
        if !own.contains_key(key) {
            parts.push(format!("extra {key}@{version}"));
        }
    }
    if parts.len() > 5 {
        let more = parts.len() - 5;
        parts.truncate(5);
        parts.push(format!("and {more} more"));
    }
    parts.join(", ")
}
