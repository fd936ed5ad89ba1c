//! The experiments run end to end on a small cluster and measure something sensible. (The
//! numbers themselves are benchmarks, reported by the binary, never asserted here beyond
//! "it happened".)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::Duration;

use leviathan_gossip_sim::experiments::{
    ClusterSpec, cost, detection, dissemination, faults, formation, partition,
};

fn cluster(nodes: usize) -> ClusterSpec {
    let mut spec = ClusterSpec::new(nodes);
    spec.seed = 3;
    spec.formation_limit = Duration::from_secs(60);
    spec
}

#[test]
fn dissemination_reaches_everyone() {
    let options = dissemination::Options {
        cluster: cluster(20),
        trials: 3,
        trial_limit: Duration::from_secs(30),
    };
    let outcome = dissemination::run(&options).unwrap();
    assert!(outcome.run.violations.is_empty());
    assert!(outcome.run.formed_s.is_some());
    let all = outcome.reach.last().unwrap();
    assert_eq!((all.percent, all.reached), (100.0, 3));
    assert!(all.median_s.unwrap() > 0.0);
    assert!(!dissemination::table(&[outcome]).rows.is_empty());
}

#[test]
fn formation_completes() {
    let outcome = formation::run(&formation::Options {
        cluster: cluster(20),
    })
    .unwrap();
    assert!(outcome.live_s.iter().all(Option::is_some));
    assert!(outcome.largest_datagram <= 1400);
}

#[test]
fn detection_suspects_every_crashed_node() {
    let mut options = detection::Options::new(cluster(20));
    options.waves = 2;
    options.slow_fraction = 0.1;
    let outcome = detection::run(&options).unwrap();
    assert!(outcome.run.violations.is_empty());
    assert_eq!(outcome.crashed, 2);
    assert_eq!(outcome.all_s.len(), 2);
    assert!(outcome.stalls > 0);
}

#[test]
fn faults_declare_a_cut_off_host_dead_and_count_one_way_links() {
    // A host losing everything is a crash to its peers: the measurement must see it dead.
    let mut options = faults::Options::new(cluster(20));
    options.flaky_loss = 1.0;
    options.one_way = 2;
    let outcome = faults::run(&options).unwrap();
    assert!(outcome.run.violations.is_empty());
    assert_eq!((outcome.flaky, outcome.one_way), (1, 2));
    assert_eq!(outcome.dead_by_all_s.len(), 1, "{outcome:?}");
    assert!(outcome.dead_at_end > 0.99, "{outcome:?}");
    assert!(!faults::table(&[outcome]).rows.is_empty());
}

#[test]
fn cost_measures_each_load_and_converges() {
    let mut options = cost::Options::new(cluster(16));
    options.window = Duration::from_secs(20);
    options.cooldown = Duration::from_secs(30);
    let outcome = cost::run(&options).unwrap();
    assert_eq!(outcome.phases.len(), 2);
    assert!(outcome.phases[0].bytes_per_node_per_s > 0.0);
    assert!(outcome.phases[1].records_applied_per_node_per_s > 0.0);
    assert!(outcome.drained_s.is_some());
    assert!(
        outcome.differences.is_empty(),
        "{:?}",
        outcome.first_differences
    );
}

#[test]
fn partition_reconverges() {
    let mut options = partition::Options::new(cluster(16));
    options.duration = Duration::from_secs(40);
    let outcome = partition::run(&options).unwrap();
    assert!(outcome.dead_during_split > 0);
    assert!(outcome.membership_s.is_some() && outcome.data_s.is_some());
    assert!(
        outcome.differences.is_empty(),
        "{:?}",
        outcome.first_differences
    );
}
