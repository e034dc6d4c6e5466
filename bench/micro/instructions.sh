#!/usr/bin/env bash
# Deterministic twin of the micro benchmark ratios: user-space instructions
# per operation of each pollux figure and of its raw-Asio baseline, counted
# by valgrind callgrind inside the benchmark function only
# (--toggle-collect), as the difference between runs of N1 and N2 fixed
# iterations (POLLUX_MICRO_ITERATIONS), so set-up cancels out.
#
# Usage: bench/micro/instructions.sh [--n1 1000] [--n2 3000]
# Prints a Markdown table and writes it to $RESULTS/micro-instructions.md
# (default build-bench/bench-results). Builds pollux_micro (release).
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/echo/common.sh
source bench/micro/callgrind.sh

callgrind_options "$@"
echo_build bench/pollux_micro
RESULTS=${RESULTS:-$BUILD/bench-results}
mkdir -p "$RESULTS"

{
    echo "| operation | pollux instr/op | Asio instr/op | ratio | target |"
    echo "|---|---:|---:|---:|---:|"
    while IFS='|' read -r label ours base target; do
        i=$(per_op "$BUILD" "$ours" "$n1" "$n2")
        j=$(per_op "$BUILD" "$base" "$n1" "$n2")
        ratio=$(awk -v x="$i" -v y="$j" 'BEGIN { if (y > 0) printf "%.2f", x / y; else print "-" }')
        goal=-
        if [ -n "$target" ]; then
            goal="<= ${target}x $(awk -v r="$ratio" -v t="$target" \
                'BEGIN { print (r <= t) ? "(met)" : "(missed)" }')"
        fi
        echo "| $label | $i | $j | $ratio | $goal |"
    done <<'ROWS'
wake and re-poll a task / asio::post|BM_pollux_wake_repoll|BM_asio_post|1.5
wake and re-poll, coroutine co_await yield_now / asio::post|BM_pollux_wake_repoll_coro|BM_asio_post|
spawn + join an empty task / post + completion|BM_pollux_spawn_join|BM_asio_post_and_complete|2
timer arm + fire, 1 ms (time::sleep / steady_timer)|BM_pollux_timer_arm_fire|BM_asio_timer_arm_fire|
steady_timer wait: use_future / plain handler|BM_pollux_timer_wait_use_future|BM_asio_timer_wait_handler|
ROWS
} | tee "$RESULTS/micro-instructions.md"
