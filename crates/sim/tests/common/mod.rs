//! Assertions shared by the simulator's scenario tests.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use leviathan_gossip_sim::{NodeIndex, Simulation};

/// Asserts no invariant was violated and the cluster converged, naming the seed.
pub fn assert_healthy(sim: &Simulation) {
    if let Err(failure) = sim.check() {
        panic!("{failure}");
    }
    let differences = sim.check_converged();
    assert!(
        differences.is_empty(),
        "seed {}: {} differences after {:?}, first: {}",
        sim.seed(),
        differences.len(),
        sim.now(),
        differences
            .iter()
            .take(5)
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    );
}

/// Node `observer`'s value of node `owner`'s key `k`, as text.
pub fn value_at(sim: &Simulation, observer: usize, owner: usize, k: &str) -> Option<String> {
    let node = sim.node(NodeIndex(observer))?;
    let value = node.get(&NodeIndex(owner).name(), k)?;
    Some(String::from_utf8_lossy(value).into_owned())
}
