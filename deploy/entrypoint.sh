#!/bin/sh
# Entry point of the leviathan-gossip container image (deploy/Containerfile): runs
# `leviathan-gossip "$@"` (`agent` by default) as PID 1, so that SIGTERM reaches the
# agent, which then leaves the cluster and exits 0.
#
# Peers cannot reach a node at 0.0.0.0, and the agent refuses to start listening there
# without an advertised address. So for `agent`, when LEVIATHAN_GOSSIP_LISTEN is
# 0.0.0.0:PORT and LEVIATHAN_GOSSIP_ADVERTISE is unset, this sets it to the container's
# first IPv4 address (what its host name resolves to, as Docker, Podman and Kubernetes
# write it in /etc/hosts) and the same port. Only the environment is read: an address
# given as a flag (--listen, --advertise) is the caller's to complete.
set -eu

if [ "${1:-}" = agent ] && [ -z "${LEVIATHAN_GOSSIP_ADVERTISE:-}" ]; then
    case "${LEVIATHAN_GOSSIP_LISTEN:-}" in
    0.0.0.0:*)
        port=${LEVIATHAN_GOSSIP_LISTEN#0.0.0.0:}
        # shellcheck disable=SC3028 # HOSTNAME: set by Docker, Podman and Kubernetes
        host=${HOSTNAME:-$(cat /etc/hostname)}
        address=$(getent ahostsv4 "$host" | { read -r first _ && echo "$first"; }) || true
        case "$address" in
        '' | 127.*)
            echo "leviathan-gossip-entrypoint: cannot tell this container's address" \
                "(host name \"$host\" resolves to \"$address\");" \
                "set LEVIATHAN_GOSSIP_ADVERTISE=IP:$port" >&2
            exit 2
            ;;
        esac
        LEVIATHAN_GOSSIP_ADVERTISE="$address:$port"
        export LEVIATHAN_GOSSIP_ADVERTISE
        ;;
    esac
fi

exec leviathan-gossip "$@"
