#!/usr/bin/env bash
# Checks deploy/ (deploy/README.md) on a machine without a container runtime or a
# Kubernetes cluster, in a few seconds, without the network (except, as root, an
# apt-get install of python3-yaml when no Python has PyYAML):
#
#   * the scripts' shell syntax (and shellcheck, if installed);
#   * every LEVIATHAN_GOSSIP_* variable used in deploy/ is one docs/AGENT.md documents;
#   * deploy/Containerfile, deploy/compose.yaml and deploy/kubernetes/*.yaml: YAML syntax
#     and the structure the deployment relies on (ports, seeds, probes, volumes, secrets),
#     and the Kubernetes schema if kubernetes-validate is installed;
#   * deploy/leviathan-gossip.service: `systemd-analyze verify` and its exposure score;
#   * with the agent binary ($LVG_DEPLOY_BIN, default target/debug/leviathan-gossip):
#     `leviathan-gossip agent --check` accepts the settings of each deployment (compose,
#     Kubernetes, systemd), deploy/healthcheck.sh against a running agent with a token,
#     deploy/entrypoint.sh's advertised address (with stand-ins for getent and the agent).
#
# What it cannot run it skips with a line starting `SKIP`; building the image and applying
# the manifests are not done here (deploy/README.md says what was checked and how).
# Exit 1 if a check fails.
set -euo pipefail
cd "$(dirname "$0")/.."

failures=0
ok() { printf 'ok    %s\n' "$*"; }
skip() { printf 'SKIP  %s\n' "$*"; }
fail() {
    printf 'FAIL  %s\n' "$*"
    failures=$((failures + 1))
}

work=$(mktemp -d)
agent_pid=
cleanup() {
    if [ -n "$agent_pid" ]; then kill -KILL "$agent_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# --- shell scripts -------------------------------------------------------------------
if sh -n deploy/entrypoint.sh && bash -n deploy/healthcheck.sh && bash -n "$0"; then
    ok "shell syntax: deploy/entrypoint.sh (sh), deploy/healthcheck.sh (bash)"
else
    fail "shell syntax"
fi
if command -v shellcheck >/dev/null 2>&1; then
    if shellcheck deploy/entrypoint.sh deploy/healthcheck.sh "$0"; then
        ok "shellcheck"
    else
        fail "shellcheck"
    fi
else
    skip "shellcheck: not installed"
fi

# --- environment variable names ------------------------------------------------------
unknown=
while read -r name; do
    grep -q "\`$name\`" docs/AGENT.md || unknown="$unknown $name"
done < <(grep -rhoE 'LEVIATHAN_GOSSIP_[A-Z][A-Z_]*' deploy | sort -u)
if [ -z "$unknown" ]; then
    ok "every LEVIATHAN_GOSSIP_* variable in deploy/ is documented in docs/AGENT.md"
else
    fail "variables in deploy/ that docs/AGENT.md does not document:$unknown"
fi

# --- YAML and structure --------------------------------------------------------------
python=
for candidate in python3 /usr/bin/python3; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import yaml' 2>/dev/null; then
        python=$candidate
        break
    fi
done
if [ -z "$python" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing python3-yaml (apt-get) for the YAML checks"
    apt-get update -qq && apt-get install -y -qq python3-yaml >/dev/null
    if /usr/bin/python3 -c 'import yaml' 2>/dev/null; then python=/usr/bin/python3; fi
fi

mkdir -p "$work/env"
if [ -z "$python" ]; then
    skip "YAML and structure of compose.yaml, kubernetes/*.yaml, Containerfile: no Python with PyYAML (pip install pyyaml, or apt-get install python3-yaml)"
else
    # Checks the files and writes each deployment's agent environment to $work/env/*.env
    # (KEY=VALUE lines) for `agent --check` below, with placeholders for what only the
    # platform knows (a pod's IP, a credentials directory).
    if "$python" - "$work" <<'PY'; then
import os, re, sys, yaml

work = sys.argv[1]
problems = []

def check(condition, what):
    if not condition:
        problems.append(what)
    return condition

def write_env(name, env):
    with open(os.path.join(work, "env", name + ".env"), "w") as f:
        for key, value in env.items():
            f.write(f"{key}={value}\n")

# Containerfile: two stages, non-root, ports, stop signal, health check, ENV defaults.
text = open("deploy/Containerfile").read()
lines = re.sub(r"\\\n", " ", text).splitlines()
instructions = [l.strip() for l in lines if l.strip() and not l.strip().startswith("#")]
def instr(name):
    return [i[len(name):].strip() for i in instructions if i.upper().startswith(name + " ")]
check(len(instr("FROM")) == 2, "Containerfile: two stages (build, run)")
users = instr("USER")
check(users and users[-1].split(":")[0] not in ("root", "0"), "Containerfile: runs as a non-root USER")
check(instr("STOPSIGNAL") == ["SIGTERM"], "Containerfile: STOPSIGNAL SIGTERM")
image_env = {}
for e in instr("ENV"):
    for token in e.split():
        key, _, value = token.partition("=")
        image_env[key] = value
expose = " ".join(instr("EXPOSE")).split()
gossip_port = image_env.get("LEVIATHAN_GOSSIP_LISTEN", "").rpartition(":")[2]
admin_port = image_env.get("LEVIATHAN_GOSSIP_ADMIN", "").rpartition(":")[2]
check(f"{gossip_port}/udp" in expose, "Containerfile: EXPOSE the gossip port (LEVIATHAN_GOSSIP_LISTEN) as udp")
check(f"{admin_port}/tcp" in expose, "Containerfile: EXPOSE the admin port (LEVIATHAN_GOSSIP_ADMIN) as tcp")
health = instr("HEALTHCHECK")
check(health and "leviathan-gossip-health" in health[0], "Containerfile: HEALTHCHECK runs leviathan-gossip-health")
ignored = [l.strip() for l in open("deploy/Containerfile.dockerignore") if l.strip() and not l.startswith("#")]
for c in instr("COPY"):
    words = c.split()
    if any(w.startswith("--from") for w in words):
        continue
    for source in words[:-1]:
        if source.startswith("--") or source == ".":
            continue
        check(os.path.exists(source), f"Containerfile: COPY source {source} exists")
        check(not any(source == i or source.startswith(i + "/") for i in ignored),
              f"Containerfile: COPY source {source} is not in Containerfile.dockerignore")

# compose.yaml: three agents, seeded by service name, data on volumes.
compose = yaml.safe_load(open("deploy/compose.yaml"))
services = compose.get("services", {})
check(len(services) == 3, "compose.yaml: three services")
names = set()
for service, spec in services.items():
    build = spec.get("build", {})
    dockerfile = os.path.normpath(os.path.join("deploy", build.get("context", "."), build.get("dockerfile", "")))
    check(dockerfile == "deploy/Containerfile", f"compose.yaml {service}: builds deploy/Containerfile")
    env = {**image_env, **{k: str(v) for k, v in spec.get("environment", {}).items()}}
    seeds = env.get("LEVIATHAN_GOSSIP_SEEDS", "").split(",")
    for seed in seeds:
        host, _, port = seed.rpartition(":")
        check(host in services and port == gossip_port,
              f"compose.yaml {service}: seed {seed} is a service name and the gossip port")
    names.add(env.get("LEVIATHAN_GOSSIP_NAME"))
    data_dir = env.get("LEVIATHAN_GOSSIP_DATA_DIR")
    check(any(v.split(":")[1] == data_dir for v in spec.get("volumes", []) if ":" in v),
          f"compose.yaml {service}: a volume on the data directory {data_dir}")
    check(all(str(p).startswith("127.0.0.1:") for p in spec.get("ports", [])),
          f"compose.yaml {service}: admin port published on loopback only")
    # What deploy/entrypoint.sh adds in the container.
    env["LEVIATHAN_GOSSIP_ADVERTISE"] = "172.18.0.2:" + gossip_port
    env["LEVIATHAN_GOSSIP_DATA_DIR"] = os.path.join(work, "data", service)
    write_env("compose-" + service, env)
check(len(names) == 3 and None not in names, "compose.yaml: three distinct node names")

# Kubernetes: a headless Service, a StatefulSet seeded by its pods' DNS names.
for path in sorted(os.listdir("deploy/kubernetes")):
    if not path.endswith(".yaml"):
        continue
    path = os.path.join("deploy/kubernetes", path)
    docs = [d for d in yaml.safe_load_all(open(path)) if d]
    kinds = {d["kind"]: d for d in docs}
    svc, sts = kinds.get("Service"), kinds.get("StatefulSet")
    if not check(svc and sts, f"{path}: a Service and a StatefulSet"):
        continue
    check(svc["spec"].get("clusterIP") == "None", f"{path}: the Service is headless")
    check(svc["spec"].get("publishNotReadyAddresses") is True, f"{path}: publishNotReadyAddresses (seeds resolve before readiness)")
    spec = sts["spec"]
    name, service = sts["metadata"]["name"], svc["metadata"]["name"]
    check(spec.get("serviceName") == service, f"{path}: serviceName is the headless Service")
    labels = spec["template"]["metadata"]["labels"]
    check(all(labels.get(k) == v for k, v in spec["selector"]["matchLabels"].items()), f"{path}: selector matches the pod labels")
    check(all(labels.get(k) == v for k, v in svc["spec"]["selector"].items()), f"{path}: the Service selects the pods")
    check(spec.get("podManagementPolicy") == "Parallel", f"{path}: podManagementPolicy Parallel (pods start without waiting for each other)")
    pod = spec["template"]["spec"]
    check(pod.get("terminationGracePeriodSeconds", 30) >= 10, f"{path}: terminationGracePeriodSeconds leaves time for a leave")
    container = pod["containers"][0]
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    probe = container.get("readinessProbe", {})
    probe_ok = ("leviathan-gossip-health" in " ".join(probe.get("exec", {}).get("command", []))
                or probe.get("httpGet", {}).get("path") == "/v1/health")
    check(probe_ok, f"{path}: readiness probe on /v1/health")
    mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    claims = {c["metadata"]["name"] for c in spec.get("volumeClaimTemplates", [])}
    check(mounts.get(env.get("LEVIATHAN_GOSSIP_DATA_DIR")) in claims, f"{path}: the data directory is on a volumeClaimTemplate")
    for var in ("LEVIATHAN_GOSSIP_ADMIN_TOKEN_FILE", "LEVIATHAN_GOSSIP_KEYRING_FILE"):
        volume = volumes.get(mounts.get(os.path.dirname(env.get(var) or "")), {})
        check("secret" in volume, f"{path}: {var} is a file of a mounted Secret")
    replicas = spec.get("replicas", 1)
    listen_port = (env.get("LEVIATHAN_GOSSIP_LISTEN") or "").rpartition(":")[2]
    ports = {p["name"]: p for p in container.get("ports", [])}
    check(str(ports.get("gossip", {}).get("containerPort")) == listen_port
          and ports["gossip"].get("protocol") == "UDP", f"{path}: the gossip containerPort is LEVIATHAN_GOSSIP_LISTEN's, UDP")
    check(env.get("LEVIATHAN_GOSSIP_ADVERTISE") == f"$(POD_IP):{listen_port}", f"{path}: advertises the pod IP")
    pod_names = {f"{name}-{i}.{service}" for i in range(replicas)}
    for seed in (env.get("LEVIATHAN_GOSSIP_SEEDS") or "").split(","):
        host, _, port = seed.rpartition(":")
        check(host in pod_names and port == listen_port, f"{path}: seed {seed} is a pod's stable name and the gossip port")
    env = {k: v for k, v in env.items() if k.startswith("LEVIATHAN_GOSSIP_")}
    env = {k: v.replace("$(POD_NAME)", f"{name}-0").replace("$(POD_IP)", "10.0.0.10") for k, v in env.items()}
    env["LEVIATHAN_GOSSIP_ADMIN_TOKEN_FILE"] = os.path.join(work, "token")
    env["LEVIATHAN_GOSSIP_KEYRING_FILE"] = os.path.join(work, "keyring")
    env["LEVIATHAN_GOSSIP_DATA_DIR"] = os.path.join(work, "data", "kubernetes")
    write_env("kubernetes-" + os.path.basename(path)[:-5], env)

# systemd: the unit's Environment= lines over the example environment file.
env = {}
for line in open("deploy/leviathan-gossip.env"):
    line = line.strip()
    if line and not line.startswith("#"):
        key, _, value = line.partition("=")
        env[key] = value
credentials = os.path.join(work, "credentials")
unit = open("deploy/leviathan-gossip.service").read().splitlines()
unit_env = dict(l[len("Environment="):].partition("=")[::2] for l in unit if l.startswith("Environment="))
for line in unit:
    if line.startswith("LoadCredential="):
        credential = line[len("LoadCredential="):].partition(":")[0]
        check(f"%d/{credential}" in unit_env.values(), f"leviathan-gossip.service: credential {credential} is read from %d")
for key in ("LEVIATHAN_GOSSIP_KEYRING_FILE", "LEVIATHAN_GOSSIP_ADMIN_TOKEN_FILE"):
    check(unit_env.get(key, "").startswith("%d/"), f"leviathan-gossip.service: {key} is a credential (%d/…)")
for key, value in unit_env.items():
    env[key] = value.replace("%d", credentials).replace("%S", os.path.join(work, "state"))
write_env("systemd", env)

for p in problems:
    print("  not so:", p)
sys.exit(1 if problems else 0)
PY
        ok "YAML syntax and structure: deploy/compose.yaml, deploy/kubernetes/*.yaml, deploy/Containerfile"
    else
        fail "YAML syntax or structure of deploy/ (above)"
    fi
    if command -v kubernetes-validate >/dev/null 2>&1; then
        if kubernetes-validate --strict --quiet deploy/kubernetes/*.yaml; then
            ok "kubernetes-validate --strict (the Kubernetes schema)"
        else
            fail "kubernetes-validate --strict"
        fi
    else
        skip "Kubernetes schema: kubernetes-validate not installed (pip install kubernetes-validate); no cluster to apply to here"
    fi
fi

# --- systemd -------------------------------------------------------------------------
if command -v systemd-analyze >/dev/null 2>&1; then
    # verify wants ExecStart's binary to exist: check a copy naming one that does.
    exec_start=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' deploy/leviathan-gossip.service)
    mkdir -p "$work/unit"
    substitute=$exec_start
    [ -x "$exec_start" ] || substitute=$(type -P true)
    sed "s#^ExecStart=$exec_start#ExecStart=$substitute#" deploy/leviathan-gossip.service \
        >"$work/unit/leviathan-gossip.service"
    if output=$(systemd-analyze verify "$work/unit/leviathan-gossip.service" 2>&1) && [ -z "$output" ]; then
        ok "systemd-analyze verify deploy/leviathan-gossip.service (ExecStart's $exec_start checked as $substitute)"
    else
        printf '%s\n' "$output"
        fail "systemd-analyze verify deploy/leviathan-gossip.service"
    fi
    if exposure=$(systemd-analyze security --offline=true "$work/unit/leviathan-gossip.service" 2>/dev/null | tail -n 1); then
        ok "systemd-analyze security --offline: ${exposure#→ }"
    else
        skip "systemd-analyze security --offline: not supported by this systemd"
    fi
else
    skip "systemd-analyze: not installed (the unit is unchecked)"
fi

# --- with the agent binary -----------------------------------------------------------
bin=${LVG_DEPLOY_BIN:-target/debug/leviathan-gossip}
if [ ! -x "$bin" ]; then
    skip "agent --check of each deployment's settings, healthcheck.sh, entrypoint.sh: no binary at $bin (cargo build -p leviathan-gossip-agent, or set LVG_DEPLOY_BIN)"
else
    bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
    (umask 077 && "$bin" keys generate >"$work/keyring" 2>/dev/null &&
        head -c 32 /dev/urandom | base64 >"$work/token")
    mkdir -p "$work/credentials" && cp "$work/keyring" "$work/credentials/keyring" &&
        cp "$work/token" "$work/credentials/admin-token"

    # Each deployment's environment, as the agent would see it, through --check.
    for file in "$work"/env/*.env; do
        [ -e "$file" ] || continue
        deployment=$(basename "$file" .env)
        mapfile -t vars <"$file"
        if output=$(env -i PATH="$PATH" "${vars[@]}" "$bin" agent --check 2>&1); then
            ok "agent --check accepts the $deployment settings"
        else
            printf '%s\n' "$output"
            fail "agent --check refuses the $deployment settings"
        fi
    done

    # healthcheck.sh against an agent that requires a token, then SIGTERM → exit 0.
    "$bin" agent --name health-check --listen 127.0.0.1:0 --admin 127.0.0.1:0 \
        --admin-token-file "$work/token" --preset local >/dev/null 2>"$work/agent.log" &
    agent_pid=$!
    port=
    for _ in $(seq 100); do
        port=$(sed -n 's/.*admin=http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/agent.log" | head -n 1)
        [ -n "$port" ] && break
        sleep 0.1
    done
    if [ -z "$port" ]; then
        cat "$work/agent.log"
        fail "healthcheck.sh: the agent did not start"
    else
        if LEVIATHAN_GOSSIP_ADMIN_TOKEN_FILE="$work/token" LEVIATHAN_GOSSIP_ADMIN="0.0.0.0:$port" \
            bash deploy/healthcheck.sh | grep -q '^HTTP/1.1 200 .*"status":"ok"'; then
            ok "healthcheck.sh: 200 from /v1/health with the token (address from LEVIATHAN_GOSSIP_ADMIN=0.0.0.0:$port)"
        else
            fail "healthcheck.sh: no 200 from /v1/health with the token"
        fi
        if env -u LEVIATHAN_GOSSIP_ADMIN_TOKEN_FILE -u LEVIATHAN_GOSSIP_ADMIN_TOKEN \
            bash deploy/healthcheck.sh "127.0.0.1:$port" >"$work/no-token.out"; then
            fail "healthcheck.sh: exit 0 without the token"
        elif grep -q '^HTTP/1.1 401 ' "$work/no-token.out"; then
            ok "healthcheck.sh: exit 1 on 401 without the token"
        else
            fail "healthcheck.sh: without the token: $(cat "$work/no-token.out")"
        fi
        kill -TERM "$agent_pid"
        status=0
        for _ in $(seq 100); do
            kill -0 "$agent_pid" 2>/dev/null || break
            sleep 0.1
        done
        wait "$agent_pid" || status=$?
        agent_pid=
        if [ "$status" = 0 ] && grep -q 'left; bye' "$work/agent.log"; then
            ok "SIGTERM: the agent left the cluster and exited 0"
        else
            fail "SIGTERM: the agent exited $status"
        fi
    fi

    # entrypoint.sh, with stand-ins for getent (the container's address) and the agent.
    mkdir -p "$work/stub"
    # shellcheck disable=SC2016 # the stand-ins expand their variables when they run
    printf '#!/bin/sh\necho "$LEVIATHAN_GOSSIP_ADVERTISE|$*"\n' >"$work/stub/leviathan-gossip"
    # shellcheck disable=SC2016
    printf '#!/bin/sh\necho "${STUB_ADDRESS:-10.1.2.3}   STREAM $2"\n' >"$work/stub/getent"
    chmod +x "$work/stub/leviathan-gossip" "$work/stub/getent"
    entry() { env -i PATH="$work/stub:/usr/bin:/bin" HOSTNAME=gossip1 "$@" sh deploy/entrypoint.sh agent 2>&1; }
    if [ "$(entry LEVIATHAN_GOSSIP_LISTEN=0.0.0.0:7580)" = "10.1.2.3:7580|agent" ] &&
        [ "$(entry LEVIATHAN_GOSSIP_LISTEN=0.0.0.0:7580 LEVIATHAN_GOSSIP_ADVERTISE=10.9.9.9:1)" = "10.9.9.9:1|agent" ] &&
        [ "$(entry LEVIATHAN_GOSSIP_LISTEN=10.0.0.5:7580)" = "|agent" ] &&
        ! entry LEVIATHAN_GOSSIP_LISTEN=0.0.0.0:7580 STUB_ADDRESS=127.0.1.1 >/dev/null; then
        ok "entrypoint.sh: advertises the container's address only when listening on 0.0.0.0 without one"
    else
        fail "entrypoint.sh: advertised address"
    fi
fi

skip "container image build: needs a container engine and minutes of release build (docker build -f deploy/Containerfile .)"
skip "Kubernetes apply and systemd start: need a cluster and a booted systemd"

if [ "$failures" -gt 0 ]; then
    echo "check-deploy: $failures check(s) failed"
    exit 1
fi
echo "check-deploy: every check that could run passed"
