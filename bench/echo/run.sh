#!/usr/bin/env bash
# Echo throughput: every sample echo server, the raw Asio baseline and the
# tokio one (when cargo builds it) run side by side (pinned to CPU 0); the
# load generator (pinned to CPU 1) keeps connections open to all of them and
# switches between them every slice (A B C D E A B C D E ..., one warm-up
# round, then --rounds measured rounds),
# so drift on a shared machine hits every server alike. Scenarios: 1, 64 and
# 1,000 connections with 64-byte messages, 64 connections with 16 KiB.
#
# Usage: bench/echo/run.sh [--rounds R] [--slice-ms M] [--long]
#   defaults: 3 rounds of 300 ms slices (about half a minute in all);
#   --long: 15 rounds of 500 ms slices.
# Prints a Markdown table of the median round trips/s over the slices, p99
# latency and the ratio to the baseline; writes it and a data file for the
# chart to $RESULTS (default build-bench/bench-results): throughput.md and
# throughput.tsv. Builds what it needs (release) in $BUILD.
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/echo/common.sh

rounds=3
slice_ms=300
while [ $# -gt 0 ]; do
    case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --slice-ms) slice_ms=$2; shift 2 ;;
    --long) rounds=15 slice_ms=500; shift ;;
    *) echo "usage: $0 [--rounds R] [--slice-ms M] [--long]" >&2; exit 2 ;;
    esac
done
scenarios=("1 64" "64 64" "1000 64" "64 16384")

# 1,000 connections to each of five servers: 5,000 descriptors in the load
# generator alone.
ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 8192 ]; then
    echo "$0: needs 8192 file descriptors (ulimit -Hn is $(ulimit -Hn))" >&2
    exit 1
fi
pin_server="" pin_client=""
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
    pin_server="taskset -c 0" pin_client="taskset -c 1"
fi

echo_build
RESULTS=${RESULTS:-$BUILD/bench-results}
mkdir -p "$RESULTS"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pollux-bench.XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

ports=()
for server in "${ECHO_SERVERS[@]}"; do
    # shellcheck disable=SC2086 # $pin_server is a command prefix or nothing
    start_server "$tmp/$server.out" $pin_server "$(echo_server_path "$server")" --port 0
    pids+=("$SERVER_PID")
    ports+=("$PORT")
done
port_list=$(IFS=,; echo "${ports[*]}")

table=$RESULTS/throughput.md
data=$RESULTS/throughput.tsv
{
    echo "| scenario | server | round trips/s (median) | min-max | p99 | vs Asio |"
    echo "|---|---|---:|---:|---:|---:|"
} >"$table"
printf 'scenario' >"$data"
printf '\t%s' "${ECHO_SERVERS[@]}" >>"$data"
echo >>"$data"
cat "$table"
for sc in "${scenarios[@]}"; do
    read -r conns bytes <<<"$sc"
    label="${conns}x${bytes}B"
    # shellcheck disable=SC2086
    $pin_client "$BUILD/samples/echo_client" --ports "$port_list" --conns "$conns" \
        --bytes "$bytes" --rounds "$rounds" --slice-ms "$slice_ms" >"$tmp/client.out"
    base=""
    printf '%s' "$label" >>"$data"
    for i in "${!ECHO_SERVERS[@]}"; do
        line=$(grep "^port=${ports[$i]} " "$tmp/client.out")
        field() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$line"; }
        rate=$(field rate) min=$(field min) max=$(field max) p99=$(field p99)
        errors=$(field errors)
        base=${base:-$rate}
        ratio=$(awk -v x="$rate" -v y="$base" 'BEGIN { printf "%.2f", x / y }')
        note=""
        if [ "$errors" != 0 ]; then note=" ($errors errors)"; fi
        echo "| $label | ${ECHO_SERVERS[$i]} | $rate | $min-$max | ${p99} us | $ratio$note |" |
            tee -a "$table"
        printf '\t%s' "$rate" >>"$data"
    done
    echo >>"$data"
done
echo
echo "$rounds measured rounds of ${slice_ms} ms slices per server; servers on CPU 0, load on CPU 1${pin_server:+ (taskset)}; build: $BUILD."
