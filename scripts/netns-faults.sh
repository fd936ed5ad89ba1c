#!/usr/bin/env bash
# Multi-host fault test for leviathan-gossip (docs/FAULTS.md).
#
# Five agents, each in its own network namespace (lvg-h1 … lvg-h5) with its own address
# (10.231.0.1 … 10.231.0.5/24), joined by veth pairs to a bridge in a "switch" namespace
# (lvg-sw). Nothing is configured in the caller's namespace and no traffic leaves the
# namespaces the script makes. The steps, each followed by assertions through the admin API
# (the agent's own client subcommands, --json):
#   fault 0  writes, overwrites and deletes on every node; converge.
#   fault 1  h3 cut off (its eth0 down): every peer suspects it within SUSPECT_MS and
#            declares it dead within DEAD_MS; writes and deletes on both sides; restored
#            once tombstone_grace has passed; converge, every node having received a reset.
#   fault 1b h3 cut again at once: suspected within SUSPECT_MS again; restored; converge.
#   fault 2  partition {h1,h2} | {h3,h4,h5} (their links moved to a second bridge): the
#            sides suspect each other, each replicates within itself and nothing crosses;
#            writes, deletes, a delete-then-rewrite on both sides; healed once
#            tombstone_grace has passed; converge, every node having received a reset.
#   fault 3  kill -9 of h4 during a stream of writes on it; every survivor suspects it
#            within SUSPECT_MS; restarted from its data directory with a higher generation;
#            converge: every acknowledged write on every node.
#   rotation K1 -> K2 interleaved: installed everywhere during the cut, used on h1 h2
#            during the partition and on the rest after it, removed from the others while
#            h4 is down and from h4 after its restart; no member lost at any step, no
#            datagram refused (/metrics).
# "Converge" means: every node lists the 5 members live with the same generations and
# versions, and holds exactly the same keys, which are exactly the acknowledged writes
# (none lost, none deleted come back; only writes whose acknowledgement was lost to the
# kill may be either present or absent).
#
# Needs root, Linux network namespaces, iproute2 (ip, with veth and bridge support), bash,
# coreutils and cargo (or LVG_FAULTS_BIN). Without root or namespaces it prints a SKIP line
# and exits 0; once it runs, any failure exits 1 after printing every node's views and the
# end of every agent's log. It removes what it made on every exit, and what an earlier
# interrupted run left, at start.
#
# Environment:
#   LVG_FAULTS_BIN=PATH          use this binary instead of `cargo build --release`
#   LVG_FAULTS_KEEP=1            keep the temporary directory (logs, data dirs)
#   LVG_FAULTS_SUBNET=10.231.0   the /24 the hosts get addresses in
#   LVG_FAULTS_SUSPECT_MS=3000   bound on the time for every peer to suspect a cut-off node
#   LVG_FAULTS_SPLIT_SUSPECT_MS=6000 bound on the time for each side of a partition to suspect the other
#   LVG_FAULTS_CONVERGE_MS=15000 bound on every convergence
#   LVG_FAULTS_TOMBSTONE_GRACE_S=4  the agents' tombstone_grace in seconds: the cut and the
#                                partition outlast it after their deletions, so that
#                                these reach the other side as resets, not tombstones
set -Eeuo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD

# --- settings -----------------------------------------------------------------------------

N=5
NS_PREFIX=lvg-h
NS_SWITCH=lvg-sw
BRIDGE=lvg-br0
BRIDGE_SPLIT=lvg-br1
SUBNET=${LVG_FAULTS_SUBNET:-10.231.0}
GOSSIP_PORT=7946
ADMIN=127.0.0.1:8001
PRESET=local                                  # 100 ms rounds and heartbeats, dead_after 5 s
TOMBSTONE_GRACE_S=${LVG_FAULTS_TOMBSTONE_GRACE_S:-4}
DEAD_AFTER_MS=5000                            # the local preset's dead_after
SUSPECT_MS=${LVG_FAULTS_SUSPECT_MS:-3000}     # probes every 100 ms: ~1 s to alert and corroborate; 3x headroom
DEAD_MS=$((SUSPECT_MS + DEAD_AFTER_MS + 1000)) # suspected, then dead_after, plus a second
# Across a partition a node's observers may all be on the far side: the near side suspects
# the nodes it watches first, then watches the next ones (suspects leave the rings) and
# needs a second round for those (measured 2.7 s).
SPLIT_SUSPECT_MS=${LVG_FAULTS_SPLIT_SUSPECT_MS:-$((2 * SUSPECT_MS))}
# Observers learn from their own probes, and an outage is not learnt as a rhythm: a peer
# back from an outage is suspected as fast when it goes again (fault 1b, fault 3).
CONVERGE_MS=${LVG_FAULTS_CONVERGE_MS:-15000}
CLIENT_TIMEOUT=15                             # seconds; the client itself gives up after 10

# Nothing from the caller's environment configures the agents or the client.
while IFS= read -r var; do unset "$var"; done < <(compgen -e | grep '^LEVIATHAN_GOSSIP_' || true)

START_MS=0
now_ms() {
    if [[ -n ${EPOCHREALTIME:-} ]]; then
        local t=${EPOCHREALTIME/[.,]/}
        echo $((10#$t / 1000))
    else
        date +%s%3N
    fi
}
elapsed() {
    local ms=$(($(now_ms) - START_MS))
    printf '%d.%03ds' $((ms / 1000)) $((ms % 1000))
}
step() { printf '[%9s] %s\n' "$(elapsed)" "$*"; }
note() { printf '[%9s]     %s\n' "$(elapsed)" "$*"; }
skip() {
    echo "SKIP netns-faults: $*"
    exit 0
}

FAILED_MSG=
fail() {
    FAILED_MSG="$*"
    printf '[%9s] FAIL: %s\n' "$(elapsed)" "$*" >&2
    exit 1
}

on_err() {
    local rc=$? line=$1 cmd=$2
    # Only the main shell reports; subshells fail back to it.
    if ((BASH_SUBSHELL == 0)) && [[ -z $FAILED_MSG ]]; then
        FAILED_MSG="line $line: \`$cmd\` exited $rc"
        printf '[%9s] FAIL: %s\n' "$(elapsed)" "$FAILED_MSG" >&2
    fi
}

# --- preconditions: anything missing is a SKIP, not a failure -----------------------------

START_MS=$(now_ms)
[[ $(uname -s) == Linux ]] || skip "needs Linux network namespaces (this is $(uname -s))"
[[ $(id -u) == 0 ]] || skip "needs root (network namespaces, veths, a bridge); run: sudo $0"
command -v ip >/dev/null 2>&1 || skip "iproute2 (\`ip\`) not installed"
for tool in timeout sort cut tail mktemp seq grep sed tr; do
    command -v "$tool" >/dev/null 2>&1 || skip "\`$tool\` not found"
done
PROBE=lvg-probe-$$
probe_ok=yes
probe_why=
if ! out=$(ip netns add "$PROBE" 2>&1); then
    probe_ok=no probe_why="\`ip netns add\` failed: $out"
elif ! out=$(ip netns exec "$PROBE" ip link set lo up 2>&1); then
    probe_ok=no probe_why="\`ip netns exec\` failed: $out"
elif ! out=$(ip -n "$PROBE" link add lvg-pa type veth peer name lvg-pb 2>&1); then
    probe_ok=no probe_why="no veth support: $out"
elif ! out=$(ip -n "$PROBE" link add lvg-pbr type bridge 2>&1); then
    probe_ok=no probe_why="no bridge support: $out"
fi
ip netns del "$PROBE" >/dev/null 2>&1 || true
[[ $probe_ok == yes ]] || skip "$probe_why"

# --- state and cleanup --------------------------------------------------------------------

TMP=
declare -a PID=()          # agent pid by host index
WRITER_PID=
AGENTS_STARTED=no
OWN_TOPOLOGY=no            # yes once this run holds the lock: only then may it remove the names

ns() { echo "$NS_PREFIX$1"; }

remove_topology() {
    local i pid
    for i in $(seq 1 "$N"); do
        # Only processes inside this script's own namespaces: its agents (or an earlier
        # run's).
        for pid in $(ip netns pids "$(ns "$i")" 2>/dev/null); do
            kill -9 "$pid" 2>/dev/null || true
        done
        ip netns del "$(ns "$i")" 2>/dev/null || true
    done
    ip netns del "$NS_SWITCH" 2>/dev/null || true # takes the bridges and veths along
}

dump_state() {
    local i
    echo "================ state at failure ================"
    for i in $(seq 1 "$N"); do
        echo "---- h$i (pid ${PID[$i]:-none}) members"
        cli_raw "$i" members 2>&1 || true
        echo "---- h$i kv"
        cli_raw "$i" kv 2>&1 || true
        echo "---- h$i keys"
        cli_raw "$i" keys list 2>&1 || true
        echo "---- h$i agent log (last 20 lines)"
        tail -n 20 "$TMP/h$i/agent.log" 2>/dev/null || true
    done
    echo "=================================================="
}

cleanup() {
    local rc=$?
    trap - EXIT ERR INT TERM
    set +e
    if [[ $rc != 0 && $AGENTS_STARTED == yes ]]; then
        dump_state >&2
    fi
    if [[ -n $WRITER_PID ]]; then
        kill "$WRITER_PID" 2>/dev/null
        wait "$WRITER_PID" 2>/dev/null
    fi
    local i
    for i in "${!PID[@]}"; do
        kill -9 "${PID[$i]}" 2>/dev/null
        wait "${PID[$i]}" 2>/dev/null
    done
    [[ $OWN_TOPOLOGY == yes ]] && remove_topology
    if [[ -n $TMP && -d $TMP ]]; then
        if [[ ${LVG_FAULTS_KEEP:-0} == 1 ]]; then
            touch "$TMP/.kept"
            echo "kept $TMP (agent logs, event streams, data dirs)"
        else
            rm -rf "$TMP"
        fi
    fi
    if [[ $rc == 0 ]]; then
        echo "PASS netns-faults in $(elapsed)"
    else
        echo "FAIL netns-faults after $(elapsed)${FAILED_MSG:+: $FAILED_MSG}" >&2
        if [[ $AGENTS_STARTED == yes && ${LVG_FAULTS_KEEP:-0} != 1 ]]; then
            echo "(LVG_FAULTS_KEEP=1 keeps the agents' logs and data dirs)" >&2
        fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'on_err $LINENO "$BASH_COMMAND"' ERR
trap 'FAILED_MSG="interrupted"; exit 130' INT
trap 'FAILED_MSG="terminated"; exit 143' TERM

# --- the binary ---------------------------------------------------------------------------

if [[ -n ${LVG_FAULTS_BIN:-} ]]; then
    BIN=$(readlink -f "$LVG_FAULTS_BIN")
    step "binary: $BIN (LVG_FAULTS_BIN)"
else
    command -v cargo >/dev/null 2>&1 ||
        fail "cargo not found (as under sudo): build as yourself with \`cargo build --release --locked -p leviathan-gossip-agent\`, then run: sudo LVG_FAULTS_BIN=target/release/leviathan-gossip $0"
    step "build: cargo build --release --locked -p leviathan-gossip-agent"
    cargo build --release --locked -p leviathan-gossip-agent
    BIN=$ROOT/target/release/leviathan-gossip
fi
[[ -x $BIN ]] || fail "no executable at $BIN"

# --- client helpers -----------------------------------------------------------------------

# cli_raw I ARGS…: a client subcommand against host I's admin API, from inside its namespace.
cli_raw() {
    local i=$1
    shift
    timeout "$CLIENT_TIMEOUT" ip netns exec "$(ns "$i")" "$BIN" "$@" --admin "$ADMIN"
}
cli() { cli_raw "$@" --json; }

# json_records FIELD…: reads the client's pretty-printed JSON and prints one tab-separated
# line per object holding the first FIELD (strings unquoted). Enough for the flat objects
# of members, kv and keys answers, whose values this script chooses (no quotes, commas or
# tabs in them).
json_records() {
    local line key value field out
    local -A rec=()
    local re='^[[:space:]]*"([^"]+)":[[:space:]]*(.*)$'
    while IFS= read -r line; do
        if [[ $line =~ ^[[:space:]]*\{[[:space:]]*$ ]]; then
            rec=()
        elif [[ $line =~ ^[[:space:]]*\},?[[:space:]]*$ ]]; then
            if [[ -n ${rec[$1]+set} ]]; then
                out=
                for field in "$@"; do out+="${rec[$field]-}"$'\t'; done
                printf '%s\n' "${out%$'\t'}"
            fi
            rec=()
        elif [[ $line =~ $re ]]; then
            key=${BASH_REMATCH[1]}
            value=${BASH_REMATCH[2]%,}
            value=${value#\"}
            value=${value%\"}
            rec[$key]=$value
        fi
    done
}

# members_of I: "name generation state max_version" lines, as host I sees them.
members_of() {
    local json
    json=$(cli "$1" members) || return 1
    json_records name generation state max_version <<<"$json" | sort
}
# kv_of I: "node key version value" lines, as host I sees them.
kv_of() {
    local json
    json=$(cli "$1" kv) || return 1
    json_records node key version value <<<"$json" | sort
}
# keys_of I: "fingerprint primary" lines of host I, the primary first.
keys_of() {
    local json
    json=$(cli "$1" keys list) || return 1
    json_records fingerprint primary <<<"$json"
}
# state_of I NAME: NAME's state as host I sees it (empty if unknown).
state_of() {
    local line
    line=$(members_of "$1") || return 1
    field_of "$line" "$2" 3
}
# field_of LINES NAME COL: column COL of the line whose first column is NAME.
field_of() {
    local l
    local -a cols
    while IFS=$'\t' read -r -a cols; do
        if [[ ${cols[0]:-} == "$2" ]]; then
            echo "${cols[$(($3 - 1))]:-}"
            return 0
        fi
    done <<<"$1"
}
json_field() { # json_field FIELD < pretty JSON: the first FIELD's value
    local line re="^[[:space:]]*\"$1\":[[:space:]]*\"?([^\",]*)\"?,?$"
    while IFS= read -r line; do
        if [[ $line =~ $re ]]; then
            echo "${BASH_REMATCH[1]}"
            return 0
        fi
    done
    return 1
}

# --- the model of acknowledged writes -----------------------------------------------------

declare -A EXPECT=() # "owner/key" -> "version<TAB>value" of the last acknowledged write
declare -A MAYBE=()  # "owner/key" -> value of a write whose acknowledgement was lost
declare -A GONE=()   # "owner/key" -> version of its acknowledged deletion
WRITES=0
DELETES=0

put() { # put I KEY VALUE: must be acknowledged
    local out version
    out=$(cli "$1" set "$2" "$3") || fail "set $2 on h$1 failed: $out"
    version=$(json_field version <<<"$out") || fail "set $2 on h$1: no version in $out"
    EXPECT["h$1/$2"]="$version"$'\t'"$3"
    unset 'GONE[h$1/$2]'
    WRITES=$((WRITES + 1))
}
del() { # del I KEY: must be acknowledged
    local out version
    out=$(cli "$1" del "$2") || fail "del $2 on h$1 failed: $out"
    version=$(json_field version <<<"$out") || fail "del $2 on h$1: no version in $out"
    unset 'EXPECT[h$1/$2]'
    GONE["h$1/$2"]=$version
    DELETES=$((DELETES + 1))
}

# model_problems KV: what in the converged view KV contradicts the model (empty if nothing).
model_problems() {
    local node key version value id
    local -A seen=()
    while IFS=$'\t' read -r node key version value; do
        [[ -n $node ]] || continue
        seen["$node/$key"]="$version"$'\t'"$value"
    done <<<"$1"
    for id in "${!EXPECT[@]}"; do
        if [[ -z ${seen[$id]+set} ]]; then
            echo "lost acknowledged write $id (v${EXPECT[$id]%%$'\t'*})"
        elif [[ ${seen[$id]} != "${EXPECT[$id]}" ]]; then
            echo "$id is v${seen[$id]/$'\t'/ = } instead of the acknowledged v${EXPECT[$id]/$'\t'/ = }"
        fi
    done
    for id in "${!seen[@]}"; do
        [[ -n ${EXPECT[$id]+set} ]] && continue
        if [[ -n ${MAYBE[$id]+set} ]]; then
            [[ ${seen[$id]#*$'\t'} == "${MAYBE[$id]}" ]] ||
                echo "$id (unacknowledged) holds ${seen[$id]#*$'\t'}, never written"
        elif [[ -n ${GONE[$id]+set} ]]; then
            echo "resurrected $id (v${seen[$id]%%$'\t'*}; deleted at v${GONE[$id]})"
        else
            echo "unknown key $id = ${seen[$id]}"
        fi
    done
}

# --- topology and agents ------------------------------------------------------------------

make_topology() {
    ip netns add "$NS_SWITCH"
    ip -n "$NS_SWITCH" link set lo up
    ip -n "$NS_SWITCH" link add "$BRIDGE" type bridge
    ip -n "$NS_SWITCH" link add "$BRIDGE_SPLIT" type bridge
    ip -n "$NS_SWITCH" link set "$BRIDGE" up
    ip -n "$NS_SWITCH" link set "$BRIDGE_SPLIT" up
    local i
    for i in $(seq 1 "$N"); do
        ip netns add "$(ns "$i")"
        ip -n "$(ns "$i")" link set lo up
        # sw-hI in the switch, eth0 in the host: one cable.
        ip -n "$NS_SWITCH" link add "sw-h$i" type veth peer name eth0 netns "$(ns "$i")"
        ip -n "$NS_SWITCH" link set "sw-h$i" master "$BRIDGE" up
        ip -n "$(ns "$i")" addr add "$SUBNET.$i/24" dev eth0
        ip -n "$(ns "$i")" link set eth0 up
    done
}

write_keyring() { # write_keyring I KEYFILE…: host I's keyring file, the first the primary
    local i=$1 f
    shift
    {
        echo "# primary first"
        for f in "$@"; do cat "$f"; done
    } >"$TMP/h$i/keyring.tmp"
    mv "$TMP/h$i/keyring.tmp" "$TMP/h$i/keyring"
}

start_agent() {
    local i=$1
    echo "==== start $(date -u +%H:%M:%S.%N) ====" >>"$TMP/h$i/agent.log"
    ip netns exec "$(ns "$i")" "$BIN" agent \
        --name "h$i" \
        --listen "$SUBNET.$i:$GOSSIP_PORT" \
        --admin "$ADMIN" \
        --seed "$SUBNET.1:$GOSSIP_PORT" --seed "$SUBNET.2:$GOSSIP_PORT" \
        --data-dir "$TMP/h$i/data" \
        --keyring-file "$TMP/h$i/keyring" \
        --preset "$PRESET" \
        --tombstone-grace "${TOMBSTONE_GRACE_S}s" \
        --log-level info \
        >>"$TMP/h$i/events.jsonl" 2>>"$TMP/h$i/agent.log" 9>&- &
    # `ip netns exec` execs the agent: this is the agent's own pid.
    PID[i]=$!
}

wait_admin() { # wait_admin I: until host I's admin API answers
    local deadline=$(($(now_ms) + 10000))
    until cli "$1" members >/dev/null 2>&1; do
        kill -0 "${PID[$1]}" 2>/dev/null || fail "agent h$1 exited at start (see its log)"
        (($(now_ms) < deadline)) || fail "h$1's admin API did not answer within 10 s"
        sleep 0.05
    done
}

# --- assertions ---------------------------------------------------------------------------

LAST_CONVERGE_MS=0
# converge LABEL: every node lists all N members live with the same generations and
# versions and holds the same keys, and those keys match the model. Bounded by CONVERGE_MS.
converge() {
    local label=$1 t0 deadline reason i m k ref_m ref_k lines problems states
    t0=$(now_ms)
    deadline=$((t0 + CONVERGE_MS))
    while :; do
        reason=
        problems=
        ref_m=
        ref_k=
        for i in $(seq 1 "$N"); do
            if ! m=$(members_of "$i") || ! k=$(kv_of "$i"); then
                reason="h$i's admin API did not answer"
                break
            fi
            lines=$(grep -c . <<<"$m" || true)
            states=$(cut -f3 <<<"$m" | sort -u | tr '\n' ' ')
            if [[ $lines != "$N" || $states != "live " ]]; then
                reason="h$i lists $lines members, states: $states"
                break
            fi
            if [[ $i == 1 ]]; then
                ref_m=$(cut -f1,2,4 <<<"$m")
                ref_k=$k
            elif [[ $(cut -f1,2,4 <<<"$m") != "$ref_m" ]]; then
                reason="h$i's members (generations, versions) differ from h1's"
                break
            elif [[ $k != "$ref_k" ]]; then
                reason="h$i's keys differ from h1's"
                break
            fi
        done
        if [[ -z $reason ]]; then
            problems=$(model_problems "$ref_k")
            [[ -z $problems ]] && break
            reason="the converged view contradicts the acknowledged writes: $(head -n 5 <<<"$problems" | tr '\n' ';')"
        fi
        if (($(now_ms) >= deadline)); then
            if [[ -n $problems ]]; then
                printf '%s\n' "$problems" >&2
            fi
            fail "$label: no convergence within $CONVERGE_MS ms: $reason"
        fi
        sleep 0.1
    done
    LAST_CONVERGE_MS=$(($(now_ms) - t0))
    note "converged ($label) in $((LAST_CONVERGE_MS)) ms: $N live, $(grep -c . <<<"$ref_k" || true) keys, all equal, = the acknowledged writes"
}

# wait_states OBSERVERS TARGETS WANT BOUND_MS T0 WHAT: until every observer lists every target
# in a state matching the regex WANT; fails after BOUND_MS from T0. TOOK: the time from T0.
wait_states() {
    local observers=$1 targets=$2 want=$3 bound=$4 t0=$5 what=$6 o t s pending
    while :; do
        pending=
        for o in $observers; do
            local m
            m=$(members_of "$o" 2>/dev/null) || {
                pending+=" h$o(no answer)"
                continue
            }
            for t in $targets; do
                s=$(field_of "$m" "h$t" 3)
                [[ $s =~ ^($want)$ ]] || pending+=" h$o:h$t=${s:-absent}"
            done
        done
        [[ -z $pending ]] && break
        (($(now_ms) - t0 <= bound)) || fail "$what: not within $((bound)) ms:$pending"
        sleep 0.1
    done
    TOOK=$(($(now_ms) - t0))
}

# wait_past_grace T: until every owner has collected the tombstones of deletions made
# before T (collection runs every tombstone_grace / 2), with a second to spare.
wait_past_grace() {
    local until=$(($1 + TOMBSTONE_GRACE_S * 1500 + 1000)) now
    now=$(now_ms)
    if ((now < until)); then sleep "$(((until - now) / 1000)).$(printf '%03d' $(((until - now) % 1000)))"; fi
}

# resets_all: every host's count of resets received ("-" where /metrics is unreadable).
resets_all() {
    local i v out=
    for i in $(seq 1 "$N"); do
        v=$(metric "$i" leviathan_gossip_resets_received_total) || v=-
        out+="$v "
    done
    echo "${out% }"
}
# check_resets WHAT BEFORE AFTER HOSTS: each of HOSTS received a reset in between: the
# deletions it missed came back as its owners' whole state, their tombstones collected.
check_resets() {
    local what=$1 i
    local -a before=($2) after=($3)
    for i in $4; do
        if [[ ${before[$((i - 1))]} == - || ${after[$((i - 1))]} == - ]]; then
            note "resets not checked: /metrics not readable through bash's /dev/tcp here"
            return 0
        fi
        ((after[i - 1] > before[i - 1])) ||
            fail "h$i received no reset across $what: the deletions it missed reached it otherwise (tombstone_grace not exceeded?)"
    done
    note "resets received across $what (h1..h$N): [$2] -> [$3]"
}

# states_report OBSERVERS TARGETS: "hO:hT=state …", informational.
states_report() {
    local o t m out=
    for o in $1; do
        m=$(members_of "$o" 2>/dev/null) || m=
        for t in $2; do out+="h$o:h$t=$(field_of "$m" "h$t" 3) "; done
    done
    echo "${out% }"
}

# side_sees OBSERVERS OWNERS OTHERS KEY: within CONVERGE_MS every observer holds KEY of every
# owner (the acknowledged write); then none holds KEY of any of OTHERS.
side_sees() {
    local observers=$1 owners=$2 others=$3 key=$4 o w kv pending
    local deadline=$(($(now_ms) + CONVERGE_MS))
    while :; do
        pending=
        for o in $observers; do
            kv=$(kv_of "$o" 2>/dev/null) || kv=
            for w in $owners; do
                grep -qxF "h$w"$'\t'"$key"$'\t'"${EXPECT[h$w/$key]}" <<<"$kv" || pending+=" h$o lacks h$w/$key"
            done
            for w in $others; do
                if grep "^h$w"$'\t'"$key"$'\t' <<<"$kv" >/dev/null; then
                    fail "h$o holds h$w/$key across the partition: the partition leaks"
                fi
            done
        done
        [[ -z $pending ]] && return 0
        (($(now_ms) < deadline)) || fail "within a side of the partition, not within $CONVERGE_MS ms:$pending"
        sleep 0.1
    done
}

# all_keys_are I… -- FP…: each host's keyring is exactly FP… (the primary first).
all_keys_are() {
    local hosts=() fps=() seen=0 i got want
    for i in "$@"; do
        if [[ $i == -- ]]; then
            seen=1
        elif ((seen)); then fps+=("$i"); else hosts+=("$i"); fi
    done
    want=$(for i in "${!fps[@]}"; do
        if ((i == 0)); then printf '%s\ttrue\n' "${fps[$i]}"; else printf '%s\tfalse\n' "${fps[$i]}"; fi
    done)
    for i in "${hosts[@]}"; do
        got=$(keys_of "$i") || fail "keys list on h$i failed"
        [[ $got == "$want" ]] || fail "h$i's keyring is [$(tr '\t\n' ': ' <<<"$got")], expected [$(tr '\t\n' ': ' <<<"$want")]"
    done
}

# metric I NAME{LABELS}: a value from host I's /metrics, through bash's /dev/tcp (no curl).
metric() {
    local i=$1 name=$2 text line
    text=$(timeout "$CLIENT_TIMEOUT" ip netns exec "$(ns "$i")" bash -c '
        exec 3<>/dev/tcp/127.0.0.1/'"${ADMIN##*:}"' || exit 1
        printf "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" >&3
        cat <&3' 2>/dev/null) || return 1
    while IFS= read -r line; do
        line=${line%$'\r'}
        if [[ $line == "$name "* ]]; then
            echo "${line##* }"
            return 0
        fi
    done <<<"$text"
    echo 0 # a counter never incremented may be absent
}

# --- the run ------------------------------------------------------------------------------

step "preconditions: root, ip $(ip -V 2>&1 | sed -n 's/.*iproute2-\([^,]*\).*/\1/p'), namespaces, veth and bridge OK"
if ip -4 addr show 2>/dev/null | grep " $SUBNET\." >/dev/null || ip -4 route show 2>/dev/null | grep "^$SUBNET\." >/dev/null; then
    note "note: $SUBNET.0/24 is in use in the caller's namespace; harmless (the hosts are in their own namespaces), set LVG_FAULTS_SUBNET to avoid confusion"
fi

# One run at a time: the namespaces' names are fixed.
if command -v flock >/dev/null 2>&1; then
    exec 9>"${TMPDIR:-/tmp}/lvg-netns-faults.lock"
    flock -n 9 || fail "another run of $0 is in progress (${TMPDIR:-/tmp}/lvg-netns-faults.lock)"
fi
OWN_TOPOLOGY=yes
# What an earlier run killed before its cleanup left: agents, namespaces, its directory
# (unless kept on purpose with LVG_FAULTS_KEEP=1).
remove_topology
for old in "${TMPDIR:-/tmp}"/lvg-faults.*; do
    if [[ -d $old && ! -e $old/.kept ]]; then rm -rf "$old"; fi
done
umask 077
TMP=$(mktemp -d "${TMPDIR:-/tmp}/lvg-faults.XXXXXX")
mkdir -p "$TMP/keys"
for i in $(seq 1 "$N"); do mkdir -p "$TMP/h$i/data"; done

make_topology
step "topology: $NS_SWITCH with bridge $BRIDGE; $(ns 1)..$(ns "$N") at $SUBNET.1..$N/24, each by a veth to the bridge"

"$BIN" keys generate >"$TMP/keys/k1.key" 2>"$TMP/keys/k1.fp"
"$BIN" keys generate >"$TMP/keys/k2.key" 2>"$TMP/keys/k2.fp"
K1=$(sed -n 's/^fingerprint //p' "$TMP/keys/k1.fp")
K2=$(sed -n 's/^fingerprint //p' "$TMP/keys/k2.fp")
[[ -n $K1 && -n $K2 ]] || fail "keys generate printed no fingerprint"
for i in $(seq 1 "$N"); do write_keyring "$i" "$TMP/keys/k1.key"; done
step "keys: K1=$K1 in every keyring file, K2=$K2 held back for the rotation"

for i in $(seq 1 "$N"); do start_agent "$i"; done
AGENTS_STARTED=yes
for i in $(seq 1 "$N"); do wait_admin "$i"; done
step "agents: h1..h$N started (preset $PRESET, tombstone_grace ${TOMBSTONE_GRACE_S}s, seeds h1 h2, data dirs, keyring K1)"
all_keys_are $(seq 1 "$N") -- "$K1"

# Fault 0: writes on every node.
step "fault 0 / writes: 8 keys on every node, 2 overwritten, 1 deleted"
for i in $(seq 1 "$N"); do
    for k in $(seq 1 8); do put "$i" "base-$k" "h$i-base-$k-a"; done
    put "$i" base-2 "h$i-base-2-b"
    put "$i" base-3 "h$i-base-3-b"
    del "$i" base-8
done
converge "initial writes"

# Fault 1: h3 cut off; K2 installed everywhere meanwhile.
step "fault 1 / cut: h3's eth0 down (ip -n $(ns 3) link set eth0 down)"
T_CUT=$(now_ms)
ip -n "$(ns 3)" link set eth0 down
wait_states "1 2 4 5" 3 "suspect|dead" "$SUSPECT_MS" "$T_CUT" "h3 suspected by every peer"
SUSPECT_TOOK=$TOOK
note "h1 h2 h4 h5 all list h3 suspect or dead after $SUSPECT_TOOK ms (bound $SUSPECT_MS ms)"
# h3 reaches nobody, not even relays: it doubts itself (local health) rather than accuse
# the four peers that vouch for each other. Printed, not asserted.
note "h3's view of its peers while cut off: $(states_report 3 "1 2 4 5")"
put 3 cut-write "h3-while-cut"
del 3 base-7
put 1 cut-write "h1-while-cut"
del 1 base-7
T_DELS=$(now_ms)
note "writes and deletes on h3 (cut off) and on h1 meanwhile"
step "rotation 1/3: install K2 on every node (h3 included, through its admin API)"
for i in $(seq 1 "$N"); do
    cli "$i" keys install --key-file "$TMP/keys/k2.key" >/dev/null || fail "keys install K2 on h$i failed"
done
for i in $(seq 1 "$N"); do write_keyring "$i" "$TMP/keys/k1.key" "$TMP/keys/k2.key"; done
all_keys_are $(seq 1 "$N") -- "$K1" "$K2"
wait_states "1 2 4 5" 3 "dead" "$DEAD_MS" "$T_CUT" "h3 dead for every peer"
DEAD_TOOK=$TOOK
note "h1 h2 h4 h5 all list h3 dead after $DEAD_TOOK ms (bound: $SUSPECT_MS + dead_after $DEAD_AFTER_MS + 1000 ms)"
wait_past_grace "$T_DELS"
RESETS_BEFORE=$(resets_all)
step "fault 1 / restore: h3's eth0 up after $(($(now_ms) - T_CUT)) ms"
ip -n "$(ns 3)" link set eth0 up
converge "h3 restored"
CUT_RECOVERY_MS=$LAST_CONVERGE_MS
check_resets "the cut" "$RESETS_BEFORE" "$(resets_all)" "1 2 3 4 5" # h3 missed h1's deletion, the others h3's

# Fault 1b: h3 cut again at once: the first outage taught its observers nothing, so they
# suspect it as fast as the first time.
step "fault 1b / cut again: h3's eth0 down once more"
T_RECUT=$(now_ms)
ip -n "$(ns 3)" link set eth0 down
wait_states "1 2 4 5" 3 "suspect|dead" "$SUSPECT_MS" "$T_RECUT" "h3 suspected again by every peer"
RECUT_TOOK=$TOOK
note "h1 h2 h4 h5 all list h3 suspect or dead after $RECUT_TOOK ms the second time (first: $SUSPECT_TOOK ms; bound $SUSPECT_MS ms)"
ip -n "$(ns 3)" link set eth0 up
converge "h3 restored again"

# Fault 2: partition {h1,h2} | {h3,h4,h5}; K2 used on the {h1,h2} side during it.
step "fault 2 / partition: {h1,h2} | {h3,h4,h5} (sw-h3..5 moved to bridge $BRIDGE_SPLIT)"
T_SPLIT=$(now_ms)
for i in 3 4 5; do ip -n "$NS_SWITCH" link set "sw-h$i" master "$BRIDGE_SPLIT"; done
wait_states "1 2" "4 5" "suspect|dead" "$SPLIT_SUSPECT_MS" "$T_SPLIT" "h1 h2 suspecting h4 h5 across the partition"
SPLIT_TOOK=$TOOK
wait_states "4 5" "1 2" "suspect|dead" "$SPLIT_SUSPECT_MS" "$T_SPLIT" "h4 h5 suspecting h1 h2 across the partition"
SPLIT_TOOK2=$TOOK
wait_states "1 2" "1 2" "live" "$SUSPECT_MS" "$(now_ms)" "{h1,h2} live to each other"
wait_states "3 4 5" "3 4 5" "live" "$SUSPECT_MS" "$(now_ms)" "{h3,h4,h5} live to each other"
note "h1 h2 suspect h4 h5 after $SPLIT_TOOK ms, h4 h5 suspect h1 h2 after $SPLIT_TOOK2 ms (bound $SPLIT_SUSPECT_MS ms); each side sees its own side live"
step "rotation 2/3 (part): use K2 on h1 and h2, inside the partition"
for i in 1 2; do cli "$i" keys use "$K2" >/dev/null || fail "keys use K2 on h$i failed"; done
for i in 1 2; do write_keyring "$i" "$TMP/keys/k2.key" "$TMP/keys/k1.key"; done
all_keys_are 1 2 -- "$K2" "$K1"
for i in 1 2 3 4 5; do
    put "$i" split-write "h$i-during-partition"
    put "$i" base-1 "h$i-base-1-split"
    del "$i" base-6
done
del 4 base-5
put 4 base-5 "h4-base-5-rewritten" # deleted then written again: the new write must win
T_DELS=$(now_ms)
note "writes, overwrites, deletes and a delete-then-rewrite on both sides"
# Each side replicates within itself and nothing crosses: the partition is real.
side_sees "1 2" "1 2" "3 4 5" split-write
side_sees "3 4 5" "3 4 5" "1 2" split-write
note "each side holds its own side's writes and none of the other's"
wait_states "1 2" "4 5" "dead" "$((DEAD_MS + SPLIT_SUSPECT_MS - SUSPECT_MS))" "$T_SPLIT" "h1 h2 declaring h4 h5 dead"
SPLIT_DEAD_TOOK=$TOOK
wait_states "4 5" "1 2" "dead" "$((DEAD_MS + SPLIT_SUSPECT_MS - SUSPECT_MS))" "$T_SPLIT" "h4 h5 declaring h1 h2 dead"
SPLIT_DEAD_TOOK2=$TOOK
wait_past_grace "$T_DELS"
RESETS_BEFORE=$(resets_all)
note "h3 across the partition (not timed): $(states_report "1 2" 3) $(states_report 3 "1 2")"
step "fault 2 / heal after $(($(now_ms) - T_SPLIT)) ms"
for i in 3 4 5; do ip -n "$NS_SWITCH" link set "sw-h$i" master "$BRIDGE"; done
converge "partition healed"
HEAL_RECOVERY_MS=$LAST_CONVERGE_MS
check_resets "the partition" "$RESETS_BEFORE" "$(resets_all)" "1 2 3 4 5"
step "rotation 2/3 (rest): use K2 on h3, h4, h5"
for i in 3 4 5; do cli "$i" keys use "$K2" >/dev/null || fail "keys use K2 on h$i failed"; done
for i in 3 4 5; do write_keyring "$i" "$TMP/keys/k2.key" "$TMP/keys/k1.key"; done
all_keys_are $(seq 1 "$N") -- "$K2" "$K1"
converge "K2 the primary everywhere"

# Fault 3: kill -9 of h4 during a stream of writes on h4; K1 removed while it is down.
step "fault 3 / kill: a stream of writes on h4, kill -9 h4 (pid ${PID[4]}) in the middle"
STREAM=$TMP/stream.log
: >"$STREAM"
(
    trap - ERR
    set +e
    n=0
    stop_at=$(($(now_ms) + 60000)) # and if the script itself is killed, at once
    while [[ ! -e $TMP/stream.stop ]] && kill -0 "$$" 2>/dev/null && (($(now_ms) < stop_at)); do
        n=$((n + 1))
        if out=$(cli 4 set "stream-$n" "v$n" 2>&1); then
            v=$(json_field version <<<"$out")
            printf 'ok\t%s\t%s\n' "$n" "$v" >>"$STREAM"
        else
            printf 'fail\t%s\t-\n' "$n" >>"$STREAM"
            sleep 0.05
        fi
    done
) 9>&- &
WRITER_PID=$!
count_stream() { grep -c "^$1"$'\t' "$STREAM" || true; }
deadline=$(($(now_ms) + 10000))
while (($(count_stream ok) < 30)); do
    (($(now_ms) < deadline)) || fail "the write stream on h4 made under 30 writes in 10 s"
    sleep 0.05
done
OLD_GEN4=$(field_of "$(members_of 1)" h4 2)
T_KILL=$(now_ms)
kill -9 "${PID[4]}"
wait "${PID[4]}" 2>/dev/null || true
ACKED_BEFORE=$(count_stream ok)
note "killed h4 after $ACKED_BEFORE acknowledged writes of the stream"
# Every survivor, though h1 h2 were cut from h4 by the partition and h3 by its own cuts.
wait_states "1 2 3 5" 4 "suspect|dead" "$SUSPECT_MS" "$T_KILL" "every survivor suspecting h4 after kill -9"
KILL_TOOK=$TOOK
note "h1 h2 h3 h5 suspect h4 after $KILL_TOOK ms (bound $SUSPECT_MS ms)"
put 1 while-h4-down "h1-while-h4-down"
put 5 while-h4-down "h5-while-h4-down"
del 2 base-4
step "rotation 3/3 (part): remove K1 on h1 h2 h3 h5 while h4 is down"
for i in 1 2 3 5; do cli "$i" keys remove "$K1" >/dev/null || fail "keys remove K1 on h$i failed"; done
for i in 1 2 3 5; do write_keyring "$i" "$TMP/keys/k2.key"; done
all_keys_are 1 2 3 5 -- "$K2"
note "h4 after $(($(now_ms) - T_KILL)) ms down, seen by the others (not timed): $(states_report "1 2 3" 4)"
step "fault 3 / restart: h4 from its data dir, keyring file still K2,K1 (as left by step 2)"
start_agent 4
wait_admin 4
all_keys_are 4 -- "$K2" "$K1"
deadline=$(($(now_ms) + 10000))
while (($(count_stream ok) < ACKED_BEFORE + 20)); do
    (($(now_ms) < deadline)) || fail "the write stream on h4 did not resume after the restart"
    sleep 0.05
done
touch "$TMP/stream.stop"
wait "$WRITER_PID" || true
WRITER_PID=
while IFS=$'\t' read -r result n v; do
    if [[ $result == ok ]]; then
        EXPECT["h4/stream-$n"]="$v"$'\t'"v$n"
        WRITES=$((WRITES + 1))
    else
        MAYBE["h4/stream-$n"]="v$n"
    fi
done <"$STREAM"
note "stream: $(count_stream ok) writes acknowledged, $(count_stream fail) refused or unanswered (those may or may not be there)"
converge "h4 restarted"
KILL_RECOVERY_MS=$LAST_CONVERGE_MS
NEW_GEN4=$(field_of "$(members_of 1)" h4 2)
[[ $OLD_GEN4 =~ ^[0-9]+$ && $NEW_GEN4 =~ ^[0-9]+$ ]] && ((NEW_GEN4 > OLD_GEN4)) || fail "h4's generation did not grow across the restart ($OLD_GEN4 -> $NEW_GEN4)"
note "h4 is back as generation $NEW_GEN4 (was $OLD_GEN4), every acknowledged stream write on every node"

step "rotation 3/3 (rest): remove K1 on h4"
cli 4 keys remove "$K1" >/dev/null || fail "keys remove K1 on h4 failed"
write_keyring 4 "$TMP/keys/k2.key"
all_keys_are $(seq 1 "$N") -- "$K2"
for i in $(seq 1 "$N"); do put "$i" after-rotation "h$i-k2-only"; done
converge "K2 alone everywhere"

# No datagram was refused along the way: each rotation step was done everywhere before
# the next, and nothing outside the cluster talked to it.
step "metrics: datagrams refused (unauthenticated, plaintext) on every node"
metrics_ok=yes
for i in $(seq 1 "$N"); do
    for reason in unauthenticated plaintext; do
        if ! v=$(metric "$i" "leviathan_gossip_packets_dropped_total{reason=\"$reason\"}"); then
            metrics_ok=no
            break 2
        fi
        [[ $v == 0 ]] || fail "h$i refused $v datagrams ($reason) during the rotation"
    done
done
if [[ $metrics_ok == yes ]]; then
    note "0 on every node (h4's counters since its restart)"
else
    note "not checked: /metrics not readable through bash's /dev/tcp here"
fi

step "summary: $WRITES acknowledged writes, $DELETES deletions; none lost, none resurrected"
note "cut: suspected in $SUSPECT_TOOK ms (bound $SUSPECT_MS), dead in $DEAD_TOOK ms (bound $DEAD_MS), reconverged in $CUT_RECOVERY_MS ms; cut again: suspected in $RECUT_TOOK ms"
note "partition: h1 h2 / h4 h5 suspected each other in $SPLIT_TOOK/$SPLIT_TOOK2 ms (bound $SPLIT_SUSPECT_MS), dead in $SPLIT_DEAD_TOOK/$SPLIT_DEAD_TOOK2 ms, reconverged in $HEAL_RECOVERY_MS ms after the heal"
note "kill -9: suspected by every survivor in $KILL_TOOK ms (bound $SUSPECT_MS), reconverged in $KILL_RECOVERY_MS ms after the restart"
