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
#                          [--scenarios "1x64 64x64 1000x64 64x16384"]
#   defaults: 3 rounds of 300 ms slices (about half a minute in all);
#   --long: 15 rounds of 500 ms slices; --scenarios: CONNSxBYTES, the
#   default all four.
# Prints a Markdown table of the median round trips/s over the slices, p99
# latency and the ratio to the baseline, and each server's CPU time (user +
# system, from /proc) per round trip over the scenario with its ratio to the
# baseline's (baseline/this: above 1 is cheaper) and its CPU use during its
# slices (below 100% means the client, not the server, set the pace: the
# round trips/s of such a scenario say little about the servers); writes
# it and a data file for the chart to $RESULTS (default build-bench/bench-results): throughput.md and
# throughput.tsv. Builds what it needs (release) in $BUILD.
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/echo/common.sh

rounds=3
slice_ms=300
scenarios=(1x64 64x64 1000x64 64x16384)
while [ $# -gt 0 ]; do
    case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --slice-ms) slice_ms=$2; shift 2 ;;
    --long) rounds=15 slice_ms=500; shift ;;
    --scenarios) read -r -a scenarios <<<"$2"; shift 2 ;;
    *) echo "usage: $0 [--rounds R] [--slice-ms M] [--long] [--scenarios \"CxB ...\"]" >&2; exit 2 ;;
    esac
done

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

# A process's CPU time (user + system) in clock ticks: fields 14 and 15 of
# /proc/PID/stat, counted after the command's ")".
clk_tck=$(getconf CLK_TCK)
cpu_ticks() {
    sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

table=$RESULTS/throughput.md
data=$RESULTS/throughput.tsv
{
    echo "| scenario | server | round trips/s (median) | min-max | p99 | vs Asio | server CPU | CPU/RT | vs Asio |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
} >"$table"
printf 'scenario' >"$data"
printf '\t%s' "${ECHO_SERVERS[@]}" >>"$data"
echo >>"$data"
cat "$table"
for sc in "${scenarios[@]}"; do
    if ! [[ $sc =~ ^([0-9]+)x([0-9]+)$ ]]; then
        echo "$0: a scenario is CONNSxBYTES, not $sc" >&2
        exit 2
    fi
    conns=${BASH_REMATCH[1]} bytes=${BASH_REMATCH[2]}
    label="${conns}x${bytes}B"
    cpu_before=()
    for p in "${pids[@]}"; do cpu_before+=("$(cpu_ticks "$p")"); done
    # shellcheck disable=SC2086
    $pin_client "$BUILD/samples/echo_client" --ports "$port_list" --conns "$conns" \
        --bytes "$bytes" --rounds "$rounds" --slice-ms "$slice_ms" >"$tmp/client.out"
    base="" base_cost=""
    printf '%s' "$label" >>"$data"
    for i in "${!ECHO_SERVERS[@]}"; do
        line=$(grep "^port=${ports[$i]} " "$tmp/client.out")
        field() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$line"; }
        rate=$(field rate) min=$(field min) max=$(field max) p99=$(field p99)
        errors=$(field errors) all=$(field all_round_trips)
        base=${base:-$rate}
        ratio=$(awk -v x="$rate" -v y="$base" 'BEGIN { printf "%.2f", x / y }')
        # The server works only in its own slices (rounds + 1 with the
        # warm-up), so its CPU over the scenario is its slices' CPU.
        ticks=$(($(cpu_ticks "${pids[$i]}") - ${cpu_before[$i]}))
        read -r busy cost <<<"$(awk -v t="$ticks" -v hz="$clk_tck" -v n="$all" \
            -v s="$(((rounds + 1) * slice_ms))" \
            'BEGIN { printf "%.0f %.2f", 100 * t / hz / (s / 1000), n ? 1e6 * t / hz / n : 0 }')"
        base_cost=${base_cost:-$cost}
        cost_ratio=$(awk -v x="$cost" -v y="$base_cost" 'BEGIN { printf "%.2f", x ? y / x : 0 }')
        note=""
        if [ "$errors" != 0 ]; then note=" ($errors errors)"; fi
        echo "| $label | ${ECHO_SERVERS[$i]} | $rate | $min-$max | ${p99} us | $ratio$note | $busy% | $cost us | $cost_ratio |" |
            tee -a "$table"
        printf '\t%s' "$rate" >>"$data"
    done
    echo >>"$data"
done
echo
echo "$rounds measured rounds of ${slice_ms} ms slices per server; servers on CPU 0, load on CPU 1${pin_server:+ (taskset)}; build: $BUILD."
