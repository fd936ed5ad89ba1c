//! What this node says about its peers' liveness, and spreads: alerts and refutations.
//!
//! An observer that finds a subject unreachable (its own probe and its relays' all
//! unanswered) raises an alert about the subject's current incarnation. Alerts about one
//! incarnation merge by union of their alerters, so every node converges on the set of
//! observers that vouch for the failure; only the subject can end them, by raising its
//! incarnation (a refutation), which supersedes every alert about older incarnations.
//!
//! Rumours spread SWIM-style, piggybacked on the probes, acks and Syns a node sends
//! anyway: each change is sent `4·⌈log10(N+1)⌉` times, newest first, then rests. An alert
//! that already has `corroboration` alerters is news no more when it gains another: the
//! newcomer rides along with the sends left instead of restarting them, so that a subject
//! accused by all its K observers costs about `corroboration` spreads, not K. A node
//! keeps the rumour about each peer's current incarnation (the last word, spread or not)
//! so it can tell a suspect what it is accused of.
//!
//! A refutation proves that the subject can speak, not that it is healthy: the alerters of
//! the incarnations it refuted still count towards corroborating a new alert for a while
//! (ten probe intervals). A node that answers now and then but mostly not (Rapid's flaky host)
//! refutes every single alert, yet its observers keep alerting, and together they
//! corroborate; a healthy node falsely alerted about now and then does not collect three
//! alerts in that time.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use leviathan_gossip_wire::{Generation, Incarnation, NodeName, NodeTag, Rumor};

/// Sends per rumour change for each decimal digit of the cluster size (memberlist's rule).
const RETRANSMIT_MULT: u32 = 4;
/// Most alerters kept per rumour: more than any subject has observers (rings disagree
/// now and then), few enough that a rumour stays small.
pub(crate) const MAX_ALERTERS: usize = 16;

/// The rumour held about one node's current incarnation.
#[derive(Debug, Clone)]
struct Held {
    generation: Generation,
    incarnation: Incarnation,
    /// Sorted, without duplicates, at most [`MAX_ALERTERS`].
    alerters: Vec<NodeTag>,
    /// When this node first held an alert about this incarnation.
    accused_since: Option<Instant>,
    /// Alerters of the refuted incarnations of this generation, until `earlier_until`.
    earlier: Vec<NodeTag>,
    earlier_until: Option<Instant>,
    sends_left: u32,
    /// Changes since creation: a queue item with another stamp is stale.
    stamp: u64,
}

impl Held {
    /// Nothing said yet about this incarnation, to be sent `sends_left` times.
    fn fresh(generation: Generation, incarnation: Incarnation, sends_left: u32) -> Self {
        Held {
            generation,
            incarnation,
            alerters: Vec::new(),
            accused_since: None,
            earlier: Vec::new(),
            earlier_until: None,
            sends_left,
            stamp: 0,
        }
    }

    /// Keeps the alerters of `old`, an earlier incarnation of the same generation, until
    /// `now + memory` (with those it still remembered).
    fn remember(&mut self, old: &Held, now: Instant, memory: Duration) {
        if old.generation != self.generation {
            return;
        }
        let mut earlier: Vec<NodeTag> = old.alerters.clone();
        if old.earlier_until.is_some_and(|until| until > now) {
            earlier.extend(&old.earlier);
        }
        earlier.sort_unstable();
        earlier.dedup();
        earlier.truncate(MAX_ALERTERS);
        if !earlier.is_empty() {
            self.earlier = earlier;
            self.earlier_until = Some(now + memory);
        }
    }

    /// Distinct alerters of the current incarnation and, until they expire, of the
    /// refuted ones; 0 without a current alert.
    fn corroborating(&self, now: Instant) -> usize {
        if self.alerters.is_empty() {
            return 0;
        }
        if self.earlier_until.is_none_or(|until| until <= now) {
            return self.alerters.len();
        }
        let extra = self
            .earlier
            .iter()
            .filter(|tag| self.alerters.binary_search(tag).is_err())
            .count();
        self.alerters.len() + extra
    }

    fn rumor(&self, subject: &NodeName) -> Rumor {
        Rumor {
            subject: subject.clone(),
            generation: self.generation,
            incarnation: self.incarnation,
            alerters: self.alerters.clone(),
        }
    }

    fn encoded_len(&self, subject: &NodeName) -> usize {
        Rumor::encoded_len_for(
            subject,
            self.generation,
            self.incarnation,
            self.alerters.len(),
        )
    }
}

/// Every rumour this node holds, and the queue of those still being spread.
#[derive(Debug, Clone)]
pub(crate) struct Rumors {
    /// How long the alerters of a refuted incarnation still count.
    memory: Duration,
    /// Alerters enough to suspect: growth past them does not restart the spreading.
    corroboration: usize,
    /// In name order, so that every walk over it is deterministic.
    held: BTreeMap<NodeName, Held>,
    /// Subjects whose rumour has sends left, in sending order (stale items are skipped).
    spreading: VecDeque<(NodeName, u64)>,
    next_stamp: u64,
    /// Subjects with alerts held against them.
    accused: BTreeSet<NodeName>,
    /// The accusation last repeated by [`Rumors::add_accusation`].
    repeated: Option<NodeName>,
}

impl Rumors {
    /// Nothing held; the alerters of a refuted incarnation count for `memory` more, and an
    /// alert with `corroboration` alerters is settled news.
    pub(crate) fn new(memory: Duration, corroboration: usize) -> Self {
        Rumors {
            memory,
            corroboration,
            held: BTreeMap::new(),
            spreading: VecDeque::new(),
            next_stamp: 0,
            accused: BTreeSet::new(),
            repeated: None,
        }
    }

    /// `subject` is alive at `incarnation` of `generation`: its refutation (or restart)
    /// replaces what was held, and spreads; the refuted alerters are remembered until
    /// `now + memory`.
    pub(crate) fn alive(
        &mut self,
        subject: &NodeName,
        generation: Generation,
        incarnation: Incarnation,
        cluster_size: usize,
        now: Instant,
    ) {
        let mut held = Held::fresh(generation, incarnation, retransmits(cluster_size));
        if let Some(old) = self.held.get(subject) {
            held.remember(old, now, self.memory);
        }
        self.held.insert(subject.clone(), held);
        self.accused.remove(subject);
        self.spread(subject);
    }

    /// Adds `alerters` to the alert about `subject` at `generation`/`incarnation`, the
    /// incarnation this node knows as current. Returns how many distinct observers
    /// corroborate it now (see [`Rumors::corroborating`]), and whether the alert grew (then
    /// the rumour spreads again, unless it already had `corroboration` alerters).
    pub(crate) fn alert(
        &mut self,
        subject: &NodeName,
        generation: Generation,
        incarnation: Incarnation,
        alerters: &[NodeTag],
        cluster_size: usize,
        now: Instant,
    ) -> (usize, bool) {
        let held = match self.held.entry(subject.clone()) {
            Entry::Occupied(occupied) => occupied.into_mut(),
            Entry::Vacant(vacant) => vacant.insert(Held::fresh(generation, incarnation, 0)),
        };
        if (held.generation, held.incarnation) != (generation, incarnation) {
            let old = held.clone();
            held.generation = generation;
            held.incarnation = incarnation;
            held.alerters.clear();
            held.accused_since = None;
            held.earlier.clear();
            held.earlier_until = None;
            held.remember(&old, now, self.memory);
        }
        let before = held.alerters.len();
        for tag in alerters {
            if held.alerters.len() >= MAX_ALERTERS {
                break;
            }
            if let Err(at) = held.alerters.binary_search(tag) {
                held.alerters.insert(at, *tag);
            }
        }
        let count = held.alerters.len();
        let grew = count > before;
        if before == 0 && count > 0 {
            held.accused_since = Some(now);
        }
        let corroborating = held.corroborating(now);
        if count == 0 {
            self.accused.remove(subject);
        } else if before == 0 {
            self.accused.insert(subject.clone());
        }
        if grew && before < self.corroboration {
            held.sends_left = retransmits(cluster_size);
            self.spread(subject);
        }
        (corroborating, grew)
    }

    /// Distinct alerters held against `subject`'s current incarnation.
    pub(crate) fn alerters(&self, subject: &NodeName) -> usize {
        self.held.get(subject).map_or(0, |held| held.alerters.len())
    }

    /// How many distinct observers corroborate the alert against `subject`'s current
    /// incarnation at `now`: its alerters and, until they expire, those of the
    /// incarnations it refuted. 0 without a current alert.
    pub(crate) fn corroborating(&self, subject: &NodeName, now: Instant) -> usize {
        self.held
            .get(subject)
            .map_or(0, |held| held.corroborating(now))
    }

    /// Since when the alert against `subject`'s current incarnation has stood unrefuted.
    pub(crate) fn accused_since(&self, subject: &NodeName) -> Option<Instant> {
        self.held.get(subject).and_then(|held| held.accused_since)
    }

    /// Whether `subject` has any alert held against it.
    pub(crate) fn is_accused(&self, subject: &NodeName) -> bool {
        self.alerters(subject) > 0
    }

    /// Whether some node other than the one tagged `own` alerted about `subject`.
    pub(crate) fn is_accused_by_others(&self, subject: &NodeName, own: NodeTag) -> bool {
        self.held
            .get(subject)
            .is_some_and(|held| held.alerters.iter().any(|tag| *tag != own))
    }

    /// Subjects with alerts held against them, with how many observers corroborate each.
    pub(crate) fn accused(&self, now: Instant) -> impl Iterator<Item = (&NodeName, usize)> {
        self.accused
            .iter()
            .map(move |name| (name, self.corroborating(name, now)))
    }

    /// Drops what is held about a removed node.
    pub(crate) fn forget(&mut self, subject: &NodeName) {
        self.held.remove(subject);
        self.accused.remove(subject);
    }

    /// Whether the rumours still being spread take more than `bytes` (walking the queue only
    /// as far as needed to tell).
    pub(crate) fn backlog_exceeds(&self, bytes: usize) -> bool {
        let mut total = 0;
        for (subject, stamp) in &self.spreading {
            let Some(held) = self.held.get(subject) else {
                continue;
            };
            if held.stamp != *stamp || held.sends_left == 0 {
                continue;
            }
            total += held.encoded_len(subject);
            if total > bytes {
                return true;
            }
        }
        false
    }

    /// Rumours for one message, in at most `budget` bytes: the alert about `destination`
    /// first (a suspect must hear what it is accused of, however often), then those still
    /// being spread, each counting as one send.
    pub(crate) fn pick(&mut self, budget: usize, destination: Option<&NodeName>) -> Vec<Rumor> {
        let mut picked = Vec::new();
        let mut used = leviathan_gossip_wire::COUNT_LEN;
        if let Some((subject, held)) = destination.and_then(|name| self.held.get_key_value(name))
            && !held.alerters.is_empty()
            && used + held.encoded_len(subject) <= budget
        {
            used += held.encoded_len(subject);
            picked.push(held.rumor(subject));
        }
        let mut visited = 0;
        let queued = self.spreading.len();
        while visited < queued {
            let Some((subject, stamp)) = self.spreading.pop_front() else {
                break;
            };
            visited += 1;
            let Some(held) = self.held.get_mut(&subject) else {
                continue;
            };
            if held.stamp != stamp || held.sends_left == 0 {
                continue;
            }
            if Some(&subject) == destination && !held.alerters.is_empty() {
                // Already first in this message.
                self.spreading.push_back((subject, stamp));
                continue;
            }
            let len = held.encoded_len(&subject);
            if used + len > budget {
                self.spreading.push_front((subject, stamp));
                break;
            }
            used += len;
            picked.push(held.rumor(&subject));
            held.sends_left -= 1;
            if held.sends_left > 0 {
                self.spreading.push_back((subject, stamp));
            }
        }
        picked
    }

    /// Adds to `picked` one accusation held against a subject `about` selects, if one fits
    /// in `budget` bytes, in turn;
    /// returns whether it did. A node that missed a rumour's spreading (a newcomer, one cut
    /// off for a while) so learns who stands accused when it hears of them, and does not
    /// keep alive a node that died before it came.
    pub(crate) fn add_accusation(
        &mut self,
        picked: &mut Vec<Rumor>,
        budget: usize,
        about: impl Fn(&NodeName) -> bool,
    ) -> bool {
        use std::ops::Bound::{Excluded, Unbounded};
        let used = leviathan_gossip_wire::rumors_len(picked);
        let after = match &self.repeated {
            Some(last) => self
                .accused
                .range::<NodeName, _>((Excluded(last), Unbounded)),
            None => self.accused.range::<NodeName, _>(..),
        };
        // Round the set at most once, from where the last one stopped.
        let found = after
            .chain(self.accused.iter())
            .take(self.accused.len())
            .filter(|subject| about(subject))
            .filter(|subject| !picked.iter().any(|rumor| rumor.subject == **subject))
            .find_map(|subject| {
                let held = self.held.get(subject)?;
                (used + held.encoded_len(subject) <= budget).then_some((subject, held))
            });
        let Some((subject, held)) = found else {
            return false;
        };
        picked.push(held.rumor(subject));
        self.repeated = Some(subject.clone());
        true
    }

    /// Puts `subject`'s rumour first in the sending order, under a new stamp.
    fn spread(&mut self, subject: &NodeName) {
        self.next_stamp += 1;
        let stamp = self.next_stamp;
        if let Some(held) = self.held.get_mut(subject) {
            held.stamp = stamp;
            self.spreading.push_front((subject.clone(), stamp));
        }
        // Stale items are dropped as they are met; this keeps the queue bounded too.
        if self.spreading.len() > 4 * self.held.len().max(16) {
            let held = &self.held;
            self.spreading.retain(|(name, stamp)| {
                held.get(name)
                    .is_some_and(|h| h.stamp == *stamp && h.sends_left > 0)
            });
        }
    }
}

/// Sends of each rumour change: `4·⌈log10(N+1)⌉`.
fn retransmits(cluster_size: usize) -> u32 {
    let mut digits = 1;
    let mut size = cluster_size.saturating_add(1) / 10;
    while size > 0 {
        digits += 1;
        size /= 10;
    }
    RETRANSMIT_MULT * digits
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEMORY: Duration = Duration::from_secs(30);
    const CORROBORATION: usize = 3;

    fn name(n: &str) -> NodeName {
        NodeName::new(n).unwrap()
    }

    #[test]
    fn alerts_merge_by_union_and_a_refutation_supersedes_them() {
        let now = Instant::now();
        let later = now + MEMORY;
        let mut rumors = Rumors::new(MEMORY, CORROBORATION);
        let s = name("s");
        let (g, i) = (Generation(1), Incarnation(0));
        assert_eq!(
            rumors.alert(&s, g, i, &[NodeTag(3), NodeTag(1)], 10, now),
            (2, true)
        );
        assert_eq!(
            rumors.alert(&s, g, i, &[NodeTag(1), NodeTag(2)], 10, now),
            (3, true)
        );
        assert_eq!(rumors.alert(&s, g, i, &[NodeTag(2)], 10, now), (3, false));
        rumors.alive(&s, g, Incarnation(1), 10, now);
        assert_eq!(rumors.alerters(&s), 0);
        // An alert about the new incarnation starts afresh.
        assert_eq!(
            rumors.alert(&s, g, Incarnation(1), &[NodeTag(9)], 10, later),
            (1, true)
        );
    }

    #[test]
    fn the_alerters_of_refuted_incarnations_still_corroborate_for_a_while() {
        let start = Instant::now();
        let at = |s: u64| start + Duration::from_secs(s);
        let mut rumors = Rumors::new(MEMORY, CORROBORATION);
        let (s, g) = (name("flaky"), Generation(1));
        // Each observer in turn alerts; each time the subject refutes at once.
        for (i, tag) in [7, 8, 9].into_iter().enumerate() {
            let incarnation = Incarnation(i as u64);
            let (count, _) = rumors.alert(&s, g, incarnation, &[NodeTag(tag)], 10, at(i as u64));
            assert_eq!(count, i + 1, "alert {i}");
            rumors.alive(&s, g, Incarnation(i as u64 + 1), 10, at(i as u64));
            assert_eq!(
                rumors.corroborating(&s, at(i as u64)),
                0,
                "no current alert"
            );
        }
        // Long after, a lone alert is a lone alert again.
        let (count, _) = rumors.alert(&s, g, Incarnation(3), &[NodeTag(1)], 10, at(40));
        assert_eq!(count, 1);
    }

    #[test]
    fn a_change_is_sent_a_bounded_number_of_times_then_rests() {
        let mut rumors = Rumors::new(MEMORY, CORROBORATION);
        let s = name("s");
        rumors.alert(
            &s,
            Generation(1),
            Incarnation(0),
            &[NodeTag(1)],
            100,
            Instant::now(),
        );
        let mut sends = 0;
        while !rumors.pick(1400, None).is_empty() {
            sends += 1;
            assert!(sends < 100);
        }
        assert_eq!(sends, retransmits(100));
        assert_eq!(retransmits(100), 12);
        // Resting, it still goes to the suspect itself.
        assert_eq!(rumors.pick(1400, Some(&s)).len(), 1);
        assert!(rumors.pick(1400, Some(&name("other"))).is_empty());
    }

    #[test]
    fn an_alert_restarts_its_spreading_until_it_is_corroborated_then_news_rides_along() {
        let mut rumors = Rumors::new(MEMORY, CORROBORATION);
        let (s, g, i) = (name("s"), Generation(1), Incarnation(0));
        let now = Instant::now();
        let drain = |rumors: &mut Rumors| {
            let mut sends = 0;
            while !rumors.pick(1400, None).is_empty() {
                sends += 1;
                assert!(sends < 1000);
            }
            sends
        };
        // Each of the first three alerters is news that every node must hear.
        for tag in 1..=3 {
            rumors.alert(&s, g, i, &[NodeTag(tag)], 100, now);
            assert_eq!(drain(&mut rumors), retransmits(100), "alerter {tag}");
        }
        // A fourth, after the alert spread, changes no verdict: it is not sent again.
        assert_eq!(rumors.alert(&s, g, i, &[NodeTag(4)], 100, now), (4, true));
        assert_eq!(drain(&mut rumors), 0);
        // While an alert is still spreading, a newcomer rides with the sends left.
        let t = name("t");
        rumors.alert(&t, g, i, &[NodeTag(1), NodeTag(2), NodeTag(3)], 100, now);
        assert_eq!(rumors.pick(1400, None)[0].alerters.len(), 3);
        rumors.alert(&t, g, i, &[NodeTag(4)], 100, now);
        assert_eq!(rumors.pick(1400, None)[0].alerters.len(), 4);
        assert_eq!(drain(&mut rumors), retransmits(100) - 2);
    }

    #[test]
    fn the_backlog_counts_the_rumours_with_sends_left() {
        let mut rumors = Rumors::new(MEMORY, CORROBORATION);
        let now = Instant::now();
        assert!(!rumors.backlog_exceeds(0));
        rumors.alert(
            &name("s"),
            Generation(1),
            Incarnation(0),
            &[NodeTag(1)],
            10,
            now,
        );
        assert!(rumors.backlog_exceeds(0));
        let len = leviathan_gossip_wire::rumors_len(&rumors.pick(1400, None))
            - leviathan_gossip_wire::COUNT_LEN;
        assert!(!rumors.backlog_exceeds(len) && rumors.backlog_exceeds(len - 1));
        while !rumors.pick(1400, None).is_empty() {}
        assert!(!rumors.backlog_exceeds(0), "sent out: nothing waits");
    }

    #[test]
    fn picks_fit_the_budget_and_alerters_are_capped() {
        let mut rumors = Rumors::new(MEMORY, CORROBORATION);
        let many: Vec<NodeTag> = (0..40).map(NodeTag).collect();
        for i in 0..50 {
            rumors.alert(
                &name(&format!("n{i}")),
                Generation(1),
                Incarnation(0),
                &many,
                50,
                Instant::now(),
            );
        }
        assert_eq!(rumors.alerters(&name("n0")), MAX_ALERTERS);
        let picked = rumors.pick(300, None);
        let len = leviathan_gossip_wire::rumors_len(&picked);
        assert!(len <= 300 && !picked.is_empty(), "{len}");
    }
}
