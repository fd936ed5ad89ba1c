#!/usr/bin/env bash
# Runs a fixed set of seeded simulations and writes their outcomes without wall-clock
# figures, so that two commits' behaviour can be compared byte for byte:
#
#   scripts/sim-compare.sh OUT_DIR            # run the set at the checked-out commit
#   diff -r BEFORE_DIR AFTER_DIR              # identical outcomes: no output
#
# Each run's JSON (target of the simulator's --out) is normalised by dropping the fields
# that measure the machine rather than the protocol: wall times, speed and memory.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: scripts/sim-compare.sh OUT_DIR}
mkdir -p "$out"
cargo build --release --locked -p leviathan-gossip-sim >&2
sim=${CARGO_TARGET_DIR:-target}/release/leviathan-gossip-sim

run() {
    local name=$1
    shift
    "$sim" "$@" --out "$out/$name.raw.json" >"$out/$name.log" 2>&1
    python3 - "$out/$name.raw.json" "$out/$name.json" <<'PY'
import json, sys
MACHINE = {"wall", "wall_s", "node_seconds_per_wall_second", "peak_rss_mib", "rss_mib", "speed",
           "command", "threads"}
def strip(value):
    if isinstance(value, dict):
        return {k: strip(v) for k, v in value.items() if k not in MACHINE}
    if isinstance(value, list):
        return [strip(v) for v in value]
    return value
with open(sys.argv[1]) as f:
    report = json.load(f)
report.pop("table", None)  # its title carries the wall time; the outcomes hold its data
with open(sys.argv[2], "w") as f:
    json.dump(strip(report), f, indent=1, sort_keys=True)
    f.write("\n")
PY
    rm "$out/$name.raw.json"
    echo "$name: done" >&2
}

run dissemination-100 dissemination --nodes 100 --loss 0,0.1 --fanout 1,3
run detection-100 detection --nodes 100 --loss 0,0.1 --slow-fraction 0,0.05
run partition-100 partition --nodes 100 --duration 30
run churn-100 churn --nodes 100 --hours 0.25 --sample-minutes 5
run cost-100 cost --nodes 100 --writes-per-node-per-sec 0,0.1 --window 30
run formation-1000 formation --nodes 1000 --formation-limit 60
run detection-1000 detection --nodes 1000 --waves 1 --tail 20
