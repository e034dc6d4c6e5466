#!/usr/bin/env bash
# Everything behind docs/performance.md, in one command: the micro
# benchmarks (each pollux figure next to its raw-Asio baseline, timed and
# counted in instructions), the deterministic echo figures (instructions,
# syscalls and allocations per round trip), the interleaved echo throughput
# table and its chart, the idle-connection memory and the process
# benchmarks (spawn-and-wait, bytes through cat), and TLS echo throughput
# (bench/tls/run.sh). Release build in $BUILD (default build-bench).
#
# Usage: bench/run_all.sh [--long] [--docs]
#   --long: longer throughput run (bench/echo/run.sh --long) and more
#           micro benchmark repetitions.
#   --docs: also copy the chart to docs/performance.png.
# Results: $RESULTS (default $BUILD/bench-results): micro.md,
# micro-instructions.md, task-debug-cost.md, deterministic.md,
# throughput.md, throughput.tsv, throughput.png, idle.md, process.md,
# tls.md (the process system-call counts are printed only).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/echo/common.sh

long=() reps=3 docs=0
for a in "$@"; do
    case $a in
    --long) long=(--long) reps=10 ;;
    --docs) docs=1 ;;
    *) echo "usage: $0 [--long] [--docs]" >&2; exit 2 ;;
    esac
done
if ! command -v gnuplot >/dev/null; then
    echo "$0: needs gnuplot (Debian: apt-get install gnuplot-nox)" >&2
    exit 1
fi

echo_build bench/pollux_micro
export BUILD
export RESULTS=${RESULTS:-$BUILD/bench-results}
mkdir -p "$RESULTS"

echo "== micro benchmarks (median of $reps repetitions)"
"$BUILD/bench/pollux_micro" --benchmark_repetitions="$reps" \
    --benchmark_report_aggregates_only=true --benchmark_min_time=0.2 \
    --benchmark_out="$RESULTS/micro.json" --benchmark_out_format=json >/dev/null
python3 bench/micro/report.py "$RESULTS/micro.json" | tee "$RESULTS/micro.md"
echo
echo "== micro benchmarks: instructions per operation (callgrind)"
bench/micro/instructions.sh

echo
echo "== task registry cost: debug record on vs compiled out (callgrind)"
bench/micro/task_debug_cost.sh

echo
echo "== deterministic echo figures"
bench/echo/deterministic.sh

echo
echo "== echo throughput"
bench/echo/run.sh "${long[@]}"
gnuplot -e "data='$RESULTS/throughput.tsv'; out='$RESULTS/throughput.png'" bench/echo/chart.gp
echo "chart: $RESULTS/throughput.png"
if [ "$docs" = 1 ]; then
    cp "$RESULTS/throughput.png" docs/performance.png
fi

echo
echo "== idle connections"
bench/echo/idle.sh

echo
echo "== processes: spawn-and-wait and bytes through cat"
bench/process/run.sh
bench/process/syscalls.sh

echo
echo "== TLS echo: samples/tls_echo against asio::ssl::stream and tokio-openssl"
bench/tls/run.sh | tee "$RESULTS/tls.md"
