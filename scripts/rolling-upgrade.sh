#!/usr/bin/env bash
# A rolling upgrade across wire versions (docs/OPERATIONS.md, "Upgrades"): four agents of
# the last build that spoke only wire version 4 form an encrypted cluster on loopback with
# data directories; then, one at a time, each is stopped (SIGTERM: it announces its leave) and
# started again from this checkout's build, which speaks versions 4 and 5. After every
# step, every running agent must list all four members alive and hold every key written
# so far, including one written by the upgraded node and one by a node not yet upgraded;
# while old nodes remain, the upgraded ones must count them in
# leviathan_gossip_older_wire_peers, and once all are upgraded, no node may.
#
#   scripts/rolling-upgrade.sh            # builds both binaries (debug)
#   LVG_UPGRADE_OLD_BIN=... LVG_UPGRADE_NEW_BIN=... scripts/rolling-upgrade.sh
#
# The old build comes from commit $LVG_UPGRADE_FROM (default 1c9872c, the last commit
# of wire version 4), checked out in a git worktree and built with its own Cargo.lock.
# Skips (exit 0, a line starting SKIP) when the history does not hold that commit.
# Exit 1 on the first failed check, with the agents' logs.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

from=${LVG_UPGRADE_FROM:-1c9872c}
work=$(mktemp -d)
declare -a pids=(0 0 0 0)
cleanup() {
    for pid in "${pids[@]}"; do
        if [ "$pid" != 0 ]; then { kill -KILL "$pid" && wait "$pid"; } 2>/dev/null || true; fi
    done
    if [ -d "$work/old-src" ]; then git -C "$root" worktree remove --force "$work/old-src" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

say() { printf '%s  %s\n' "$(date +%T)" "$*"; }
fail() {
    say "FAIL $*"
    for i in 0 1 2 3; do
        echo "--- n$i stderr (last 20 lines)"
        tail -n 20 "$work/n$i.err" 2>/dev/null || true
    done
    exit 1
}

# --- binaries --------------------------------------------------------------------------
new_bin=${LVG_UPGRADE_NEW_BIN:-}
if [ -z "$new_bin" ]; then
    cargo build --locked -q -p leviathan-gossip-agent
    new_bin=$root/target/debug/leviathan-gossip
fi
old_bin=${LVG_UPGRADE_OLD_BIN:-}
if [ -z "$old_bin" ]; then
    if ! git -C "$root" cat-file -e "$from^{commit}" 2>/dev/null; then
        echo "SKIP rolling upgrade: commit $from (the last of wire version 4) is not in this clone's history"
        exit 0
    fi
    say "building the old agent at $from"
    git -C "$root" worktree add --detach -f "$work/old-src" "$from" >/dev/null 2>&1
    (cd "$work/old-src" && CARGO_TARGET_DIR="$root/target/upgrade-from" cargo build --locked -q -p leviathan-gossip-agent)
    old_bin=$root/target/upgrade-from/debug/leviathan-gossip
fi
cli=$new_bin

gossip_port() { echo $((17590 + $1)); }
admin() { echo "127.0.0.1:$((17690 + $1))"; }

start() { # start INDEX BINARY
    local i=$1 bin=$2
    "$bin" agent --name "n$i" --preset lan --cluster-id upgrade \
        --listen "127.0.0.1:$(gossip_port "$i")" --admin "$(admin "$i")" \
        --seed "127.0.0.1:$(gossip_port 0)" --seed "127.0.0.1:$(gossip_port 1)" \
        --data-dir "$work/data$i" --keyring-file "$work/keyring" --log-level warn \
        >>"$work/n$i.out" 2>>"$work/n$i.err" &
    pids[i]=$!
}

stop() { # stop INDEX: SIGTERM, as systemd and Kubernetes do
    local i=$1
    kill -TERM "${pids[i]}"
    wait "${pids[i]}" 2>/dev/null || true
    pids[i]=0
}

alive_count() { # alive_count INDEX: members INDEX lists live (no jq or Python needed)
    "$cli" members --admin "$(admin "$1")" --json 2>/dev/null | grep -c '"state": "live"' || true
}

older_peers() { # older_peers INDEX: the gauge on INDEX's /metrics, through bash's /dev/tcp
    local port=${2:-$((17690 + $1))}
    timeout 5 bash -c '
        exec 3<>/dev/tcp/127.0.0.1/'"$port"' || exit 1
        printf "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" >&3
        cat <&3' 2>/dev/null |
        awk '$1 == "leviathan_gossip_older_wire_peers" { print $2 }'
}

counts_older_peers() { # counts_older_peers INDEX: the gauge is at least 1
    local count
    count=$(older_peers "$1")
    [ -n "$count" ] && [ "$count" -ge 1 ]
}

# wait_for SECONDS DESCRIPTION COMMAND...: retries COMMAND every 250 ms.
wait_for() {
    local seconds=$1 what=$2
    shift 2
    local deadline=$((SECONDS + seconds))
    until "$@"; do
        if [ "$SECONDS" -ge "$deadline" ]; then fail "after ${seconds}s: $what"; fi
        sleep 0.25
    done
}

all_alive() {
    local i
    for i in 0 1 2 3; do [ "$(alive_count "$i")" = 4 ] || return 1; done
}

declare -a keys=()
all_hold_keys() {
    local i entry owner key value got
    for i in 0 1 2 3; do
        for entry in "${keys[@]}"; do
            IFS=/ read -r owner key value <<<"$entry"
            got=$("$cli" get --admin "$(admin "$i")" "$owner" "$key" 2>/dev/null) || return 1
            [ "$got" = "$value" ] || return 1
        done
    done
}

write() { # write INDEX KEY VALUE
    "$cli" set --admin "$(admin "$1")" "$2" "$3" >/dev/null || fail "set $2 on n$1"
    keys+=("n$1/$2/$3")
}

# --- the old cluster -------------------------------------------------------------------
"$cli" keys generate 2>/dev/null | head -n 1 >"$work/keyring"
say "old agent: $("$old_bin" --version)   new agent: $("$new_bin" --version)"
for i in 0 1 2 3; do start "$i" "$old_bin"; done
wait_for 30 "four old agents see each other alive" all_alive
for i in 0 1 2 3; do write "$i" before "v4-n$i"; done
wait_for 30 "the old cluster holds every key" all_hold_keys
say "ok    four agents of wire version 4 formed and replicated"

# --- one node at a time ----------------------------------------------------------------
for i in 0 1 2 3; do
    stop "$i"
    start "$i" "$new_bin"
    wait_for 45 "all four alive after upgrading n$i" all_alive
    old=$(((i + 1) % 4))
    write "$i" "upgraded$i" "from-new-n$i"
    write "$old" "during$i" "from-n$old"
    wait_for 45 "every node holds every key after upgrading n$i" all_hold_keys
    if [ "$i" -lt 3 ]; then
        # The upgraded node has heard the old ones' Syns by now.
        wait_for 20 "n$i counts nodes on the older wire version" counts_older_peers "$i"
    fi
    say "ok    n$i upgraded: 4 alive everywhere, ${#keys[@]} keys everywhere, older_wire_peers on n$i: $(older_peers "$i")"
done

no_older_peers() {
    local i
    for i in 0 1 2 3; do [ "$(older_peers "$i")" = 0 ] || return 1; done
}
wait_for 30 "no node counts peers on the older wire version once all are upgraded" no_older_peers
say "ok    all upgraded: no node counts peers on an older wire version"
suspicions=$(cat "$work"/n*.out | grep -c '"event":"peers_suspend"' || true)
say "ok    rolling upgrade passed ($suspicions suspicion events over the run, the stopped nodes' included)"
