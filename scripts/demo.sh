#!/usr/bin/env bash
# Quick start, step 1: install what is missing, build, and run the demo:
# hello_future (the future model with no loop), then the coroutine echo
# server with the load generator against it for a few seconds.
# Usage: bash scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
pollux_install_deps

build=${POLLUX_BUILD_DIR:-build}
if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" -Dtests=disabled
fi
meson compile -C "$build" hello_future echo_server_coro echo_client

echo "== samples/hello_future"
"$build/samples/hello_future"

echo "== samples/echo_server_coro, with echo_client --conns 8 --bytes 64 --seconds 3"
out=$(mktemp)
"$build/samples/echo_server_coro" --port 0 >"$out" &
server=$!
trap 'kill "$server" 2>/dev/null || true; rm -f "$out"' EXIT
for _ in $(seq 100); do
    grep -q '^listening on ' "$out" && break
    sleep 0.1
done
line=$(head -n 1 "$out")
echo "server: $line"
port=${line##*:}
"$build/samples/echo_client" --port "$port" --conns 8 --bytes 64 --seconds 3
kill -INT "$server"
wait "$server"
echo "server exited with status $?"
