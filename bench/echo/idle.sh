#!/usr/bin/env bash
# Memory of an idle connection: each echo server's resident set size grows
# by how much while the load generator holds 5,000 connections open to it?
# Twice per server: connections that never sent anything, and connections
# that made one 64-byte round trip first (their buffers were touched).
#
# Usage: bench/echo/idle.sh [--conns 5000]
# Prints a Markdown table (bytes of RSS per connection) and writes it to
# $RESULTS/idle.md (default build-bench/bench-results). Builds what it needs.
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/echo/common.sh

conns=5000
while [ $# -gt 0 ]; do
    case $1 in
    --conns) conns=$2; shift 2 ;;
    *) echo "usage: $0 [--conns N]" >&2; exit 2 ;;
    esac
done
# The server and the load generator each hold one descriptor per connection.
ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((conns + 100)) ]; then
    echo "$0: needs $((conns + 100)) file descriptors (ulimit -Hn is $(ulimit -Hn))" >&2
    exit 1
fi

echo_build
RESULTS=${RESULTS:-$BUILD/bench-results}
mkdir -p "$RESULTS"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pollux-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# per_conn SERVER BYTES: RSS growth per connection, in bytes.
per_conn() {
    local before after client
    start_server "$tmp/server.out" "$(echo_server_path "$1")" --port 0
    before=$(rss_kib "$SERVER_PID")
    : >"$tmp/client.out"
    "$BUILD/samples/echo_client" --port "$PORT" --conns "$conns" --bytes "$2" --idle 60 \
        >"$tmp/client.out" &
    client=$!
    for _ in $(seq 1200); do
        grep -q '^connected ' "$tmp/client.out" && break
        kill -0 "$client" 2>/dev/null || { echo "load generator failed" >&2; return 1; }
        sleep 0.1
    done
    # Wait until the server has accepted them all (one descriptor each).
    for _ in $(seq 600); do
        [ "$(ls "/proc/$SERVER_PID/fd" | wc -l)" -ge "$conns" ] && break
        sleep 0.1
    done
    sleep 0.5
    after=$(rss_kib "$SERVER_PID")
    kill "$client"
    wait "$client" 2>/dev/null || true
    stop_server
    echo $(((after - before) * 1024 / conns))
}

{
    echo "| server | RSS per idle connection | after one 64-byte echo |"
    echo "|---|---:|---:|"
    for server in "${ECHO_SERVERS[@]}"; do
        echo "| $server | $(per_conn "$server" 0) B | $(per_conn "$server" 64) B |"
    done
} | tee "$RESULTS/idle.md"
echo
echo "$conns connections open at once; RSS from /proc/PID/status (VmRSS) before and after."
