//! Membership scenarios: who is discovered, suspected, declared dead, seen to leave, removed
//! and readmitted, and when. Each runs one seed over 1–20 ms links with the default
//! timings (1 s gossip, heartbeat and health checks, fanout 3, φ threshold 8, `dead_after`
//! 30 s) unless it says otherwise; besides its own assertions, every run checks the
//! invariants on every packet and event (packets fit and round-trip through the codec,
//! versions and every node's knowledge of its peers never go back, nothing deleted comes
//! back). Failures name the seed; `SIM_SEED_OFFSET=k` runs every test at its seed plus k.
//!
//! Node 0 and node 1 are everyone's seeds.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use common::{
    Expected, Kind, all_live, assert_no_false_suspicion, assert_safe, cluster, first_time,
    has_all_keys, key, member_state, members, ms, peers_named, run_until_true, running, secs,
    times, value_at, write_keys,
};
use leviathan_gossip_core::{Event, MemberState, NodeConfig};
use leviathan_gossip_sim::{
    Action, Delivery, NetworkModel, NodeIndex, Simulation, SimulationBuilder, WakeOrder,
};
use leviathan_gossip_wire::{
    Generation, Incarnation, Message, NodeDelta, NodeStatus, Packet, Version,
};

/// Starts 8 nodes with one key each, lets them settle for 30 s, and checks they did.
fn settled_eight(seed: u64) -> Simulation {
    settled(cluster(seed, 8), secs(30))
}

/// Builds `builder`, has every node that starts by itself write one key, runs until
/// `settle` and checks that every node then holds every key and sees every node live.
fn settled(builder: SimulationBuilder, settle: Duration) -> Simulation {
    let mut sim = builder.build().unwrap();
    // Every node that starts by itself has by then.
    sim.run_until(secs(1));
    let started = running(&sim);
    let expected = write_keys(&mut sim, secs(1), started, 1);
    sim.run_until(settle);
    assert!(
        has_all_keys(&sim, &expected) && all_live(&sim),
        "seed {}: not settled after {settle:?}",
        sim.seed()
    );
    sim
}

#[test]
fn a_crashed_node_is_suspected_then_declared_dead() {
    let mut sim = settled_eight(0xc4a5);
    let seed = sim.seed();
    let crashed = sim.now();
    sim.crash(crashed, NodeIndex(7));
    let dead_after = sim.node_config().dead_after;
    let all_dead = run_until_true(&mut sim, dead_after + secs(30), ms(500), |sim| {
        (0..7).all(|p| member_state(sim, p, 7) == Some(MemberState::Dead))
    });
    assert!(
        all_dead.is_some(),
        "seed {seed}: node 7 not dead everywhere"
    );

    let mut suspicion = Vec::new();
    for observer in 0..7 {
        let suspected = first_time(&sim, observer, Kind::Suspected, 7, crashed)
            .unwrap_or_else(|| panic!("seed {seed}: node {observer} never suspected node 7"));
        let dead = first_time(&sim, observer, Kind::Dead, 7, crashed)
            .unwrap_or_else(|| panic!("seed {seed}: node {observer}: 7 not dead"));
        let delay = suspected - crashed;
        assert!(
            delay < secs(15),
            "seed {seed}: node {observer} suspected the crash after {delay:?}"
        );
        let suspect_for = dead - suspected;
        assert!(
            suspect_for >= dead_after / 4 && suspect_for <= dead_after + secs(2),
            "seed {seed}: node {observer} declared 7 dead {suspect_for:?} after suspecting it"
        );
        suspicion.push(delay);
    }
    suspicion.sort();
    println!(
        "seed {seed}: crash suspected after {:?} (fastest) to {:?} (slowest); dead {dead_after:?} later",
        suspicion.first().unwrap(),
        suspicion.last().unwrap()
    );
    // Without loss no live node is ever suspected, before or after the crash.
    assert_no_false_suspicion(&sim, &running(&sim), &[7]);
    for observer in 0..7 {
        assert!(
            times(&sim, observer, Kind::Recovered, 7).is_empty(),
            "seed {seed}: node {observer} saw the crashed node recover"
        );
    }

    // Back from the dead as a new incarnation: restarted, recovered, live.
    let restarted = sim.now();
    sim.restart(restarted, NodeIndex(7));
    let took = run_until_true(&mut sim, secs(30), ms(100), all_live);
    assert!(
        took.is_some(),
        "seed {seed}: the dead node did not come back"
    );
    for observer in 0..7 {
        assert!(
            first_time(&sim, observer, Kind::Recovered, 7, restarted).is_some(),
            "seed {seed}: node {observer} did not report the dead node's recovery"
        );
        let restarts = common::events_of(&sim, observer).filter(|logged| {
            logged.at >= restarted && matches!(logged.event, Event::PeerRestarted { .. })
        });
        assert_eq!(restarts.count(), 1, "seed {seed}: node {observer}");
    }
    assert_safe(&sim);
}

#[test]
fn a_node_cut_off_for_20_s_is_suspected_then_recovers() {
    let mut sim = settled_eight(0x9a27);
    let seed = sim.seed();
    let cut = sim.now();
    let healed = cut + secs(20);
    sim.partition(cut, healed, vec![vec![NodeIndex(4)]]);
    sim.run_until(healed);
    let took = run_until_true(&mut sim, secs(30), ms(100), all_live)
        .unwrap_or_else(|| panic!("seed {seed}: not all live 30 s after the heal"));
    println!("seed {seed}: every view live again {took:?} after the heal");

    for observer in (0..8).filter(|p| *p != 4) {
        let suspected = first_time(&sim, observer, Kind::Suspected, 4, cut);
        assert!(
            suspected.is_some_and(|t| t < healed),
            "seed {seed}: node {observer} did not suspect the cut-off node"
        );
        let recovered = first_time(&sim, observer, Kind::Recovered, 4, cut);
        assert!(
            recovered.is_some_and(|t| t >= healed),
            "seed {seed}: node {observer} did not see node 4 recover after the heal"
        );
    }
    // The cut-off node reached nobody: it doubted itself (Lifeguard), not the majority,
    // whose observers vouched for each other.
    assert!(
        peers_named(&sim, 4, Kind::Suspected).is_empty(),
        "seed {seed}: the cut-off node accused the majority"
    );
    for observer in 0..8 {
        assert!(
            peers_named(&sim, observer, Kind::Dead).is_empty(),
            "seed {seed}: node {observer} declared a peer dead after a 20 s cut"
        );
    }
    // Nobody on the majority side suspected anyone but node 4.
    let majority: Vec<usize> = (0..8).filter(|p| *p != 4).collect();
    assert_no_false_suspicion(&sim, &majority, &[4]);
    assert_safe(&sim);
}

#[test]
fn a_leaving_node_is_announced_quickly_and_never_suspected() {
    let mut sim = settled(cluster(0x1ea7, 8), secs(20));
    let seed = sim.seed();
    let left = sim.now();
    sim.leave(left, NodeIndex(7));
    sim.set(left, NodeIndex(7), key("late"), "x");
    sim.run_for(Duration::ZERO);
    assert_eq!(
        sim.counters().refused_writes,
        1,
        "seed {seed}: a node that left took a write"
    );
    let gossip = sim.node_config().gossip_interval;
    let took = run_until_true(&mut sim, 2 * gossip, ms(10), |sim| {
        (0..7).all(|p| member_state(sim, p, 7) == Some(MemberState::Left))
    })
    .unwrap_or_else(|| panic!("seed {seed}: leave not known in two rounds"));
    println!("seed {seed}: every peer knew of the leave after {took:?}");
    for observer in 0..7 {
        assert_eq!(
            times(&sim, observer, Kind::Left, 7).len(),
            1,
            "seed {seed}: node {observer} PeersLeft events"
        );
    }

    // The leaver shuts down a little later; nobody ever suspects it or declares it dead.
    sim.crash(sim.now() + secs(3), NodeIndex(7));
    sim.run_for(secs(63));
    for observer in 0..7 {
        assert!(
            first_time(&sim, observer, Kind::Suspected, 7, left).is_none()
                && times(&sim, observer, Kind::Dead, 7).is_empty(),
            "seed {seed}: node {observer} suspected the node that left"
        );
        assert_eq!(
            member_state(&sim, observer, 7),
            Some(MemberState::Left),
            "seed {seed}: node {observer}"
        );
    }
    assert_no_false_suspicion(&sim, &running(&sim), &[]);

    // Coming back as a new incarnation makes it live again.
    sim.restart(sim.now(), NodeIndex(7));
    let took = run_until_true(&mut sim, secs(30), ms(100), all_live);
    assert!(
        took.is_some(),
        "seed {seed}: the node that left could not rejoin"
    );
    assert_safe(&sim);
}

/// Node 3 freezes for 10 s and wakes handling its overdue timer and its backlog of
/// datagrams in `order`; 100 ms later node 6 crashes. Node 3 must suspect no live peer,
/// yet still detect the crash promptly (a stall forgiven to heartbeats that arrived after
/// it would delay that by the stall).
fn stalled_node_does_not_suspect_its_peers(order: WakeOrder, seed: u64) {
    let mut sim = settled(cluster(seed, 8).wake_order(order), secs(30));
    let seed = sim.seed();
    let stalled = sim.now();
    let woke = stalled + secs(10);
    let crashed = woke + ms(100);
    sim.stall(stalled, NodeIndex(3), secs(10));
    sim.crash(crashed, NodeIndex(6));
    sim.run_until(crashed + secs(30));

    assert_eq!(
        sim.node(NodeIndex(3)).unwrap().stats().local_pauses,
        1,
        "seed {seed}"
    );
    assert!(sim.counters().postponed > 0, "seed {seed}: nothing waited");
    assert_eq!(
        peers_named(&sim, 3, Kind::Suspected),
        [NodeIndex(6).name()],
        "seed {seed}: the stalled node suspected live peers on waking ({order:?})"
    );
    let detection = first_time(&sim, 3, Kind::Suspected, 6, crashed).unwrap() - crashed;
    println!("seed {seed}: {order:?}: woken node suspected a crash after {detection:?}");
    assert!(
        detection < secs(15),
        "seed {seed}: the woken node took {detection:?} to suspect a crash ({order:?})"
    );
    // Its peers rightly saw it fall silent, and saw it come back.
    for observer in [0, 1, 2, 4, 5, 7] {
        if let Some(at) = first_time(&sim, observer, Kind::Suspected, 3, stalled) {
            assert!(
                first_time(&sim, observer, Kind::Recovered, 3, at).is_some_and(|t| t >= woke),
                "seed {seed}: node {observer} did not see node 3 recover"
            );
        }
        for peer in [0, 1, 2, 3, 4, 5, 7] {
            assert_eq!(
                member_state(&sim, observer, peer),
                Some(MemberState::Live),
                "seed {seed}: node {observer}'s view of node {peer}"
            );
        }
    }
    assert_no_false_suspicion(&sim, &running(&sim), &[3, 6]);
    assert_safe(&sim);
}

#[test]
fn a_stalled_node_handling_timers_first_does_not_suspect_its_peers() {
    for seed in [0x57a11, 0x57a13] {
        stalled_node_does_not_suspect_its_peers(WakeOrder::TimersFirst, seed);
    }
}

#[test]
fn a_stalled_node_handling_messages_first_does_not_suspect_its_peers() {
    for seed in [0x57a12, 0x57a14] {
        stalled_node_does_not_suspect_its_peers(WakeOrder::MessagesFirst, seed);
    }
}

#[test]
fn a_hundred_nodes_converge() {
    // Started over the first second; the O(N)-per-input checks of `cluster` are left out.
    let mut sim = Simulation::builder(common::seeded(0x100))
        .nodes(100)
        .network(NetworkModel::new(common::link(0.0)))
        .record_events(true)
        .build()
        .unwrap();
    let seed = sim.seed();
    let mut expected = Expected::new();
    for owner in 0..100 {
        sim.set(
            secs(1),
            NodeIndex(owner),
            key("id"),
            format!("I am {owner}"),
        );
        expected.insert((owner, "id".into()), format!("I am {owner}"));
    }
    sim.run_until(secs(1));
    let took = run_until_true(&mut sim, secs(120), ms(250), |sim| {
        has_all_keys(sim, &expected) && all_live(sim)
    })
    .unwrap_or_else(|| panic!("seed {seed}: 100 nodes did not converge in 120 s"));
    let rounds = sim.node(NodeIndex(0)).unwrap().stats().gossip_rounds;
    let traffic = sim.total_traffic();
    println!(
        "seed {seed}: 100 nodes converged {:?} after the first start, {took:?} after the \
         writes: {rounds} gossip rounds of the first node, {} datagrams, largest {} bytes",
        sim.now(),
        traffic.datagrams_sent,
        traffic.largest_datagram
    );
    assert!(
        sim.now() < secs(30),
        "seed {seed}: convergence took {:?}",
        sim.now()
    );
    sim.run_for(secs(30));
    assert!(all_live(&sim), "seed {seed}: not all live 30 s later");
    // Heartbeats reach a peer through random relays, so their arrivals are less regular
    // than the default detector settings assume (φ > 8 after about 2.5 s of silence once
    // arrivals look regular): a few transient suspicions, mostly while detectors learn,
    // are tolerated; they must all have recovered (above).
    let suspicions: usize = running(&sim)
        .into_iter()
        .map(|observer| peers_named(&sim, observer, Kind::Suspected).len())
        .sum();
    println!("seed {seed}: {suspicions} transient false suspicions among 100 nodes");
    assert!(
        suspicions <= 5,
        "seed {seed}: {suspicions} false suspicions"
    );
    assert_safe(&sim);
}

#[test]
fn a_split_cluster_merges_after_declaring_each_other_dead() {
    let mut sim = settled(cluster(0x5b1, 8), secs(20));
    let seed = sim.seed();
    // `settled` wrote key-0 on every node.
    let mut expected = Expected::new();
    for owner in 0..8 {
        expected.insert((owner, "key-0".into()), format!("value-{owner}-0"));
    }
    // One seed on each side; both sides keep writing.
    let split = sim.now();
    let heal = split + secs(60);
    let side: Vec<NodeIndex> = [0, 2, 4, 6].map(NodeIndex).to_vec();
    sim.partition(split, heal, vec![side]);
    for owner in 0..8 {
        let value = format!("written apart by {owner}");
        sim.set(
            split + secs(10),
            NodeIndex(owner),
            key("apart"),
            value.clone(),
        );
        expected.insert((owner, "apart".into()), value);
    }
    sim.run_until(heal - ms(1));
    for (observer, other) in [(0, 1), (1, 0), (6, 7), (7, 6)] {
        assert_eq!(
            member_state(&sim, observer, other),
            Some(MemberState::Dead),
            "seed {seed}: node {observer} about node {other} after {:?} apart",
            sim.now() - split
        );
    }
    sim.run_until(heal);
    let took = run_until_true(&mut sim, secs(60), ms(250), |sim| {
        has_all_keys(sim, &expected) && all_live(sim)
    })
    .unwrap_or_else(|| panic!("seed {seed}: the halves did not merge in 60 s"));
    println!("seed {seed}: split cluster merged {took:?} after the heal");
    assert_safe(&sim);
}

/// Events must agree with `members()`: a node first heard of as an incarnation that has
/// already left (restarted then left at once; or left before a newcomer joined) is
/// reported as left, not only as restarted or discovered.
#[test]
fn an_incarnation_first_seen_after_it_left_is_reported_as_left() {
    let mut sim = settled(cluster(0x1e4f, 9).initial_nodes(8), secs(10));
    let seed = sim.seed();
    assert!(
        !sim.was_started(NodeIndex(8)),
        "seed {seed}: the newcomer came early"
    );
    let crashed = sim.now();
    let left = crashed + secs(2);
    let joined = left + secs(3);
    sim.crash(crashed, NodeIndex(7));
    sim.restart(left, NodeIndex(7));
    sim.leave(left, NodeIndex(7));
    sim.crash(joined, NodeIndex(7));
    sim.at(joined, Action::Start(NodeIndex(8)));
    sim.run_until(joined + secs(40));

    let node_7 = || NodeIndex(7).name().as_str().try_into().unwrap();
    for observer in 0..7 {
        let events: Vec<&Event> = common::events_of(&sim, observer)
            .filter(|logged| logged.at >= left && logged.at < joined)
            .map(|logged| &logged.event)
            .collect();
        assert_eq!(
            events,
            [
                &Event::PeerRestarted {
                    node: node_7(),
                    generation: Generation(2),
                },
                &Event::PeersLeft(vec![node_7()]),
            ],
            "seed {seed}: node {observer}"
        );
    }
    let discovered = first_time(&sim, 8, Kind::Discovered, 7, joined);
    let left_at = first_time(&sim, 8, Kind::Left, 7, joined);
    assert!(
        discovered.is_some() && discovered == left_at,
        "seed {seed}: the newcomer saw node 7 {discovered:?} and its leave {left_at:?}"
    );
    for observer in (0..9).filter(|p| *p != 7) {
        assert_eq!(
            member_state(&sim, observer, 7),
            Some(MemberState::Left),
            "seed {seed}: node {observer}"
        );
    }
    assert_no_false_suspicion(&sim, &running(&sim), &[]);
    assert_safe(&sim);
}

// ----- removal and quarantine -----

/// Defaults with lifecycle timers short enough for a test.
fn lifecycle_config(grace: u64, remove_after: u64, quarantine: u64) -> NodeConfig {
    NodeConfig {
        tombstone_grace: secs(grace),
        remove_after: secs(remove_after),
        quarantine: secs(quarantine),
        ..NodeConfig::default()
    }
}

#[test]
fn a_dead_peer_is_removed_and_lagging_peers_do_not_bring_it_back() {
    let mut sim = cluster(0x6c03, 6)
        .node_config(lifecycle_config(10, 20, 120))
        .build()
        .unwrap();
    let seed = sim.seed();
    sim.set(secs(1), NodeIndex(5), key("k"), "v");
    sim.crash(secs(11), NodeIndex(5));
    sim.run_until(secs(11));
    let gone = run_until_true(&mut sim, secs(120), ms(500), |sim| {
        (0..5).all(|p| member_state(sim, p, 5).is_none())
    })
    .unwrap_or_else(|| panic!("seed {seed}: node 5 was not removed"));
    println!("seed {seed}: node 5 removed everywhere {gone:?} after its crash");
    // Removal times differ by node; gossip among them must not revive it.
    sim.run_for(secs(60));
    for observer in 0..5 {
        assert_eq!(
            times(&sim, observer, Kind::Removed, 5).len(),
            1,
            "seed {seed}: node {observer}"
        );
        assert_eq!(
            times(&sim, observer, Kind::Discovered, 5).len(),
            1,
            "seed {seed}: node {observer}"
        );
        assert_eq!(member_state(&sim, observer, 5), None, "seed {seed}");
        assert_eq!(value_at(&sim, observer, 5, "k"), None, "seed {seed}");
        let footprint = sim.node(NodeIndex(observer)).unwrap().footprint();
        assert_eq!(footprint.nodes, 5, "seed {seed}: node {observer}");
    }
    // A restart is a new generation: welcome at once, quarantine or not.
    sim.restart(sim.now(), NodeIndex(5));
    let back = run_until_true(&mut sim, secs(30), ms(250), |sim| {
        (0..5).all(|p| member_state(sim, p, 5) == Some(MemberState::Live))
    });
    assert!(
        back.is_some(),
        "seed {seed}: the restarted node was kept out"
    );
    assert_safe(&sim);
}

#[test]
fn a_departed_peer_is_removed_after_remove_after() {
    let mut sim = cluster(0x6c04, 5)
        .node_config(lifecycle_config(10, 20, 120))
        .build()
        .unwrap();
    let seed = sim.seed();
    let left = secs(11);
    sim.leave(left, NodeIndex(4));
    sim.crash(left + secs(2), NodeIndex(4));
    sim.run_until(left + secs(17));
    for observer in 0..4 {
        assert_eq!(
            member_state(&sim, observer, 4),
            Some(MemberState::Left),
            "seed {seed}: node {observer}"
        );
    }
    sim.run_until(left + secs(27));
    for observer in 0..4 {
        assert_eq!(member_state(&sim, observer, 4), None, "seed {seed}");
        assert_eq!(
            times(&sim, observer, Kind::Removed, 4).len(),
            1,
            "seed {seed}: node {observer}"
        );
    }
    assert_safe(&sim);
}

/// A node cut off long enough to be removed everywhere is alive all along: once the
/// network heals, talking first-hand lifts the quarantine. (The cut-off node itself
/// accuses nobody: it reaches no one, so it doubts itself.)
#[test]
fn a_removed_peer_that_is_alive_comes_back_when_it_talks() {
    let mut sim = cluster(0x6c05, 5)
        .node_config(lifecycle_config(10, 10, 600))
        .build()
        .unwrap();
    let seed = sim.seed();
    sim.set(secs(1), NodeIndex(4), key("k"), "v1");
    let healed = secs(101);
    sim.partition(secs(11), healed, vec![vec![NodeIndex(4)]]);
    sim.run_until(healed - ms(1));
    assert!(
        (0..4).all(|p| member_state(&sim, p, 4).is_none()),
        "seed {seed}: node 4 not removed"
    );
    sim.set(healed, NodeIndex(4), key("k"), "v2");
    sim.run_until(healed);
    let back = run_until_true(&mut sim, secs(120), ms(250), |sim| {
        (0..4).all(|p| {
            member_state(sim, p, 4) == Some(MemberState::Live)
                && value_at(sim, p, 4, "k").as_deref() == Some("v2")
        }) && (0..4).all(|p| member_state(sim, 4, p) == Some(MemberState::Live))
    })
    .unwrap_or_else(|| panic!("seed {seed}: node 4 stayed out"));
    println!("seed {seed}: node 4 back everywhere {back:?} after the heal");
    assert_safe(&sim);
}

/// Found in review: a node learning of a dead peer second-hand just before the others
/// removed it kept it longer than their quarantine and handed it back to them, in cycles.
/// The shortest accepted quarantine now covers `dead_after + remove_after` plus a minute;
/// with the defaults the dead peer never comes back.
#[test]
fn a_dead_peer_does_not_come_back_with_the_default_timings() {
    let config = NodeConfig::default();
    let mut sim = cluster(0x7e04, 6).initial_nodes(5).build().unwrap();
    let seed = sim.seed();
    sim.crash(secs(11), NodeIndex(4));
    sim.run_until(secs(11));
    let dead = run_until_true(&mut sim, secs(120), ms(100), |sim| {
        !times(sim, 0, Kind::Dead, 4).is_empty()
    });
    assert!(dead.is_some(), "seed {seed}: node 4 never declared dead");
    // A newcomer joins 10 s before the others remove node 4, and learns of it from them.
    let joined = sim.now() + config.remove_after - secs(10);
    sim.at(joined, Action::Start(NodeIndex(5)));
    sim.run_until(joined + secs(3000));
    for observer in 0..4 {
        assert_eq!(
            times(&sim, observer, Kind::Discovered, 4).len(),
            1,
            "seed {seed}: node {observer} rediscovered the dead node 4"
        );
    }
    for observer in [0, 1, 2, 3, 5] {
        assert_eq!(
            member_state(&sim, observer, 4),
            None,
            "seed {seed}: node {observer}"
        );
    }
    assert_safe(&sim);
}

/// Found in review: one forged delta giving node 2 a watermark of u64::MAX froze node 2's
/// data on every peer (they reset to a watermark nobody could reach). Node 2 now sees the
/// false claim about itself in gossip and re-asserts itself under a new generation, which
/// every peer takes in place of the frozen state.
#[test]
fn a_false_claim_about_a_node_is_answered_by_a_new_generation() {
    let (victim, target) = (NodeIndex(2), NodeIndex(0));
    // Once, after 11 s: a packet reaching node 0 also claims node 2 collected everything.
    let (network, forged) = forge_once(target, victim, NodeStatus::Alive, Version(u64::MAX));
    let mut sim = cluster(0x7e03, 5).network(network).build().unwrap();
    let seed = sim.seed();
    sim.set(secs(1), victim, key("a"), "1");
    sim.set(secs(41), victim, key("a"), "2");
    sim.run_until(secs(41));
    assert!(
        forged.get(),
        "seed {seed}: no packet carried the false claim"
    );
    let healed = run_until_true(&mut sim, secs(60), ms(250), |sim| {
        (0..5).all(|p| value_at(sim, p, 2, "a").as_deref() == Some("2"))
    });
    assert!(
        healed.is_some(),
        "seed {seed}: node 2's writes stayed frozen"
    );
    let node = sim.node(victim).unwrap();
    assert!(node.stats().reassertions >= 1, "seed {seed}");
    assert!(node.identity().generation > Generation(1), "seed {seed}");
    for observer in 0..5 {
        let generation = members(&sim, observer)
            .into_iter()
            .find(|m| m.id.name.as_str() == victim.name())
            .map(|m| m.id.generation);
        assert_eq!(
            generation,
            Some(node.identity().generation),
            "seed {seed}: node {observer} still holds the frozen generation"
        );
    }
    assert_safe(&sim);
}

/// A forged "left" about a live node, slipped into one packet, spreads to every peer as
/// news; the node hears it about itself and refutes it (a status it never announced is a
/// false claim like any other), so every peer lists it live again.
#[test]
fn a_forged_leave_of_a_live_node_is_refuted_by_the_node() {
    let (victim, target) = (NodeIndex(2), NodeIndex(0));
    // Once, after 11 s: a packet reaching node 0 says node 2's current incarnation left.
    let (network, forged) = forge_once(target, victim, NodeStatus::Left, Version(0));
    let mut sim = cluster(0x1ef7, 5).network(network).build().unwrap();
    let seed = sim.seed();
    sim.run_until(secs(12));
    assert!(
        forged.get(),
        "seed {seed}: no packet carried the forged leave"
    );
    let refuted = run_until_true(&mut sim, secs(60), ms(250), |sim| {
        let generation = sim.node(victim).map(|n| n.identity().generation);
        (0..5).filter(|&o| o != victim.0).all(|observer| {
            members(sim, observer).into_iter().any(|m| {
                m.id.name.as_str() == victim.name()
                    && m.state == MemberState::Live
                    && Some(m.id.generation) == generation
            })
        })
    });
    assert!(
        refuted.is_some(),
        "seed {seed}: peers still list the live node as left"
    );
    let node = sim.node(victim).unwrap();
    assert!(node.stats().reassertions >= 1, "seed {seed}");
    assert!(!sim.has_left(victim), "seed {seed}: the victim never left");
    assert_safe(&sim);
}

/// A forger that, every 10 s from 11 s on, slips into the next packet reaching each node —
/// the victim included — a claim that the victim restarted (a newer generation at its own
/// address), on links losing 10 % of datagrams. Peers ask the victim before believing a
/// live member restarted, and the victim refutes no claim that no peer it calls holds:
/// nobody reports a restart, the victim keeps its generation, and its writes still
/// spread. (Before, every claim was a restart at every peer, and one more when the victim
/// re-asserted itself above it.)
#[test]
fn a_forger_claiming_a_live_node_restarted_every_10_s_causes_no_restart() {
    let victim = NodeIndex(2);
    let nodes = 5;
    let forged = Rc::new(Cell::new(0u32));
    let count = forged.clone();
    let last_tick = Rc::new(std::cell::RefCell::new(vec![0u64; nodes]));
    let network = NetworkModel::new(common::link(0.1)).with_tamper(
        move |delivery: &Delivery, packet: &mut Packet| {
            if delivery.at < secs(11) {
                return;
            }
            let tick = (delivery.at.as_secs() - 1) / 10;
            let mut last = last_tick.borrow_mut();
            let Some(seen) = last.get_mut(delivery.to.0) else {
                return;
            };
            if *seen == tick {
                return;
            }
            *seen = tick;
            let claim = NodeDelta {
                node: leviathan_gossip_wire::NodeId {
                    name: victim.name().as_str().try_into().unwrap(),
                    address: victim.address(),
                    generation: Generation(1 + 1_000 * tick),
                },
                incarnation: Incarnation(0),
                status: NodeStatus::Alive,
                gc_watermark: Version(0),
                from_version: Version(0),
                records: Vec::new(),
                to_version: Version(0),
                complete: true,
            };
            packet.message = Message::Ack(leviathan_gossip_wire::Ack::with_deltas(vec![claim]));
            count.set(count.get() + 1);
        },
    );
    let mut sim = cluster(0xf07e, nodes).network(network).build().unwrap();
    let seed = sim.seed();
    sim.set(secs(100), victim, key("a"), "after");
    sim.run_until(secs(121));
    assert!(
        forged.get() >= 10 * nodes as u32,
        "seed {seed}: only {} forged claims were delivered",
        forged.get()
    );
    let restarts = sim
        .events()
        .iter()
        .filter(|logged| {
            matches!(&logged.event, Event::PeerRestarted { node, .. }
                if node.as_str() == victim.name())
        })
        .count();
    assert_eq!(restarts, 0, "seed {seed}: peers reported restarts");
    let node = sim.node(victim).unwrap();
    assert_eq!(node.stats().reassertions, 0, "seed {seed}");
    assert_eq!(node.identity().generation, Generation(1), "seed {seed}");
    let refuted: u64 = (0..nodes)
        .filter_map(|i| sim.node(NodeIndex(i)))
        .map(|n| n.stats().refuted_restarts)
        .sum();
    assert!(
        refuted > 0,
        "seed {seed}: no claim was refuted by the victim"
    );
    for observer in (0..nodes).filter(|&o| o != victim.0) {
        assert_eq!(
            value_at(&sim, observer, victim.0, "a").as_deref(),
            Some("after"),
            "seed {seed}: node {observer} lacks the victim's write"
        );
    }
    assert_safe(&sim);
}

/// A network that, once, after 11 s, slips into a packet reaching `target` a delta about
/// `victim`'s generation 1 with `status` and `gc_watermark` (and no records), in place of
/// any true one; the flag says whether it did.
fn forge_once(
    target: NodeIndex,
    victim: NodeIndex,
    status: NodeStatus,
    gc_watermark: Version,
) -> (NetworkModel, Rc<Cell<bool>>) {
    let forged = Rc::new(Cell::new(false));
    let done = forged.clone();
    let network = NetworkModel::new(common::link(0.0)).with_tamper(
        move |delivery: &Delivery, packet: &mut Packet| {
            if done.get() || delivery.to != target || delivery.at < secs(11) {
                return;
            }
            let claim = NodeDelta {
                node: leviathan_gossip_wire::NodeId {
                    name: victim.name().as_str().try_into().unwrap(),
                    address: victim.address(),
                    generation: Generation(1),
                },
                incarnation: Incarnation(0),
                status,
                gc_watermark,
                from_version: Version(0),
                records: Vec::new(),
                to_version: Version(0),
                complete: true,
            };
            // An idle cluster sends few deltas: any packet will do, turned into an Ack.
            if !matches!(packet.message, Message::SynAck(_) | Message::Ack(_)) {
                packet.message = Message::Ack(leviathan_gossip_wire::Ack::default());
            }
            let deltas = match &mut packet.message {
                Message::SynAck(synack) => &mut synack.deltas,
                Message::Ack(ack) => &mut ack.deltas,
                _ => return,
            };
            deltas.retain(|delta| delta.node.name.as_str() != victim.name());
            deltas.push(claim);
            done.set(true);
        },
    );
    (network, forged)
}

/// `preformed` starts a formed cluster: every node sees every other live once all have
/// started (within the first second), keys written then spread as in any cluster, nobody
/// is suspected, and a crash is detected as usual.
#[test]
fn a_preformed_cluster_is_formed_from_the_start_and_works_as_one() {
    let mut sim = cluster(0x9e4f, 40).preformed(true).build().unwrap();
    let seed = sim.seed();
    sim.run_until(secs(1));
    assert_eq!(running(&sim).len(), 40, "seed {seed}: all started");
    assert!(all_live(&sim), "seed {seed}: not formed at start");
    let owners = running(&sim);
    let expected = write_keys(&mut sim, secs(1), owners, 1);
    sim.run_until(secs(10));
    assert!(
        has_all_keys(&sim, &expected),
        "seed {seed}: keys did not spread"
    );
    assert_no_false_suspicion(&sim, &running(&sim), &[]);
    sim.crash(secs(10), NodeIndex(39));
    sim.run_until(secs(20));
    let survivors: Vec<usize> = (0..39).collect();
    for observer in survivors {
        assert_ne!(
            member_state(&sim, observer, 39),
            Some(MemberState::Live),
            "seed {seed}: node {observer} still holds the crashed node live"
        );
    }
    assert_safe(&sim);
}
