#!/bin/bash
# GET /v1/health on the local agent's admin API; exit 0 if it answers 200, 1 otherwise.
# The container image's HEALTHCHECK and the Kubernetes readiness probe run it (installed
# as /usr/local/bin/leviathan-gossip-health). The agent has no client subcommand that
# calls /v1/health and Debian slim has no curl or wget, so this speaks HTTP/1.1 through
# bash's /dev/tcp.
#
#   leviathan-gossip-health [HOST:PORT]
#
# The address is the argument, else $LEVIATHAN_GOSSIP_ADMIN (0.0.0.0 and [::] taken as
# the loopback address), else 127.0.0.1:7581. The admin token, which every request needs
# when the agent has one, is read as the agent and its client subcommands read it:
# $LEVIATHAN_GOSSIP_ADMIN_TOKEN_FILE, else $LEVIATHAN_GOSSIP_ADMIN_TOKEN. It goes to the
# socket through printf, a builtin: it is in no process's arguments.
set -euo pipefail

address=${1:-${LEVIATHAN_GOSSIP_ADMIN:-127.0.0.1:7581}}
address=${address#http://}
address=${address%/}
port=${address##*:}
host=${address%:*}
case "$host" in
0.0.0.0 | '') host=127.0.0.1 ;;
'[::]') host='[::1]' ;;
esac
connect_host=${host#[}
connect_host=${connect_host%]}

token=
if [ -n "${LEVIATHAN_GOSSIP_ADMIN_TOKEN_FILE:-}" ]; then
    token=$(<"$LEVIATHAN_GOSSIP_ADMIN_TOKEN_FILE")
elif [ -n "${LEVIATHAN_GOSSIP_ADMIN_TOKEN:-}" ]; then
    token=$LEVIATHAN_GOSSIP_ADMIN_TOKEN
fi
# Whitespace around the token (a trailing newline) is ignored, as the agent does.
token=${token//[[:space:]]/}

if ! exec 3<>"/dev/tcp/$connect_host/$port"; then
    echo "leviathan-gossip-health: cannot connect to $host:$port" >&2
    exit 1
fi
authorization=
if [ -n "$token" ]; then
    printf -v authorization 'Authorization: Bearer %s\r\n' "$token"
fi
printf 'GET /v1/health HTTP/1.1\r\nHost: %s:%s\r\nConnection: close\r\n%s\r\n' \
    "$host" "$port" "$authorization" >&3

status=
IFS= read -r -t 5 status <&3 || true
status=${status%$'\r'}
# The body, for `docker inspect` and probe logs: {"status":"ok","node":…,"members":…}.
body=$(timeout 2 cat <&3 2>/dev/null | tail -n 1 || true)
exec 3<&-
echo "${status:-no answer} ${body}"
case "$status" in
"HTTP/1.1 200 "* | "HTTP/1.0 200 "*) exit 0 ;;
*) exit 1 ;;
esac
