#!/usr/bin/env bash
# HTTP requests/s and p99 latency for keep-alive `GET /`: samples/http_server
# against hyper 0.14 (tokio) and a Boost.Beast + Asio server, side by side in
# one run, with wrk as the load:
#   1 thread:  http_server --threads 1 | hyper on a current_thread runtime |
#              Beast, one io_context thread   (servers pinned to CPU 0, wrk
#              to CPU 1 when there are 2 CPUs)
#   2 threads: http_server --threads 2 (two Runtimes, two SO_REUSEPORT
#              listeners) | hyper on a multi_thread runtime with 2 workers |
#              Beast, one io_context run by 2 threads   (nothing pinned)
# each at 64 and 512 connections: `wrk -t2 -cC -dD --latency`.
#
# Usage: bench/http/run.sh [--duration 10s] [--rounds R]
#   Each (server, connections) pair runs R times (default 1), the servers
#   taking turns, so drift on a shared machine hits every server alike; the
#   table shows the median requests/s and the p99 of that run.
# Builds what it needs (release) in $BUILD (default build-bench); hyper with
# $CARGO (default cargo) offline from Debian's crates (librust-hyper-dev),
# left out with a message when it does not build. Writes the table to
# $RESULTS/http.md (default $BUILD/bench-results).
set -euo pipefail
cd "$(dirname "$0")/../.."

duration=10s
rounds=1
while [ $# -gt 0 ]; do
    case $1 in
    --duration) duration=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    *) echo "usage: $0 [--duration 10s] [--rounds R]" >&2; exit 2 ;;
    esac
done
command -v wrk >/dev/null || { echo "$0: needs wrk (apt-get install wrk)" >&2; exit 1; }

BUILD=${BUILD:-build-bench}
if [ ! -f "$BUILD/build.ninja" ]; then
    meson setup "$BUILD" -Dbuildtype=release -Dbenchmarks=enabled -Dsamples=enabled \
        -Dtests=disabled >/dev/null
fi
ninja -C "$BUILD" build.ninja >/dev/null
meson compile -C "$BUILD" -j 2 samples/http_server bench/beast_http_server >/dev/null
hyper=""
hyper_target=$(cd "$BUILD" && pwd)/hyper
if command -v "${CARGO:-cargo}" >/dev/null &&
    (cd bench/http/hyper_server &&
        "${CARGO:-cargo}" build --release --offline --target-dir "$hyper_target") >/dev/null 2>&1; then
    hyper=$hyper_target/release/hyper_server
else
    echo "hyper_server did not build: leaving it out (needs cargo and librust-hyper-dev)" >&2
fi
RESULTS=${RESULTS:-$BUILD/bench-results}
mkdir -p "$RESULTS"

pin_server="" pin_client=""
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
    pin_server="taskset -c 0" pin_client="taskset -c 1"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pollux-http-bench.XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

# start NAME CMD...: starts a server, waits for `listening on H:P`, sets
# port[NAME].
declare -A port
start() {
    local name=$1
    shift
    "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
    pids+=($!)
    for _ in $(seq 200); do
        if grep -q '^listening on ' "$tmp/$name.out" 2>/dev/null; then
            port[$name]=$(sed -n '1s/.*://p' "$tmp/$name.out")
            return 0
        fi
        sleep 0.05
    done
    echo "$name did not start: $(cat "$tmp/$name.err")" >&2
    exit 1
}

# shellcheck disable=SC2086 # $pin_* are command prefixes or nothing
{
    start pollux-1 $pin_server "$BUILD/samples/http_server" --port 0 --threads 1
    start beast-1 $pin_server "$BUILD/bench/beast_http_server" 0 1
    [ -n "$hyper" ] && start hyper-1 $pin_server "$hyper" 0 1
    start pollux-2 "$BUILD/samples/http_server" --port 0 --threads 2
    start beast-2 "$BUILD/bench/beast_http_server" 0 2
    [ -n "$hyper" ] && start hyper-2 "$hyper" 0 2
}

# p99 in microseconds from wrk's latency distribution line (`99% 1.23ms`).
to_us() {
    awk '{ v = $1; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
           f = (u == "us") ? 1 : (u == "ms") ? 1000 : (u == "s") ? 1000000 : 60000000;
           printf "%.0f\n", v * f }'
}

table=$RESULTS/http.md
{
    echo "wrk -t2 -cC -d$duration --latency http://127.0.0.1:PORT/ ($(nproc) CPUs," \
        "load average $(cut -d' ' -f1-3 /proc/loadavg) at the start; $rounds round(s))"
    echo
    echo "| threads | connections | server | requests/s | p99 latency |"
    echo "|---|---|---|---|---|"
} >"$table"
for threads in 1 2; do
    pin=""
    [ "$threads" = 1 ] && pin=$pin_client
    for conns in 64 512; do
        names=("pollux-$threads" "beast-$threads")
        [ -n "$hyper" ] && names+=("hyper-$threads")
        for r in $(seq "$rounds"); do
            for name in "${names[@]}"; do
                # shellcheck disable=SC2086
                $pin wrk -t2 -c"$conns" -d"$duration" --latency \
                    "http://127.0.0.1:${port[$name]}/" >"$tmp/wrk.$name.$conns.$r"
            done
        done
        for name in "${names[@]}"; do
            # The median round by requests/s, and its p99.
            best=$(for r in $(seq "$rounds"); do
                f=$tmp/wrk.$name.$conns.$r
                echo "$(awk '/^Requests\/sec:/ { print $2 }' "$f") $f"
            done | sort -n | awk -v m=$(((rounds + 1) / 2)) 'NR == m { print $2 }')
            rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$best")
            p99=$(awk '$1 == "99%" { print $2 }' "$best" | to_us)
            errs=$(grep -E 'Non-2xx|Socket errors' "$best" | tr -s ' ' | tr '\n' ' ' || true)
            echo "| $threads | $conns | ${name%-*} | $rps | ${p99} us${errs:+ ($errs)} |" >>"$table"
        done
    done
done
cat "$table"
