#!/usr/bin/env bash
# What the task registry and await-site capture cost a wake-and-repoll
# (issue 9's goal: under 5%). Builds pollux_micro twice, release: as shipped
# in $BUILD (default build-bench) and with the debug record compiled out
# (-DPOLLUX_NO_TASK_DEBUG) in $BUILD-nodebug, and prints the instructions
# per operation of each (valgrind callgrind, difference of N1 and N2
# iterations; deterministic, unlike a timing on a shared machine).
#
# Usage: bench/micro/task_debug_cost.sh [--n1 1000] [--n2 3000]
# Writes the table to $RESULTS/task-debug-cost.md as well.
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/micro/callgrind.sh

callgrind_options "$@"

BUILD=${BUILD:-build-bench}
OFF=$BUILD-nodebug
build_micro() { # DIR [EXTRA SETUP ARGS]
    local dir=$1
    shift
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" -Dbuildtype=release -Dbenchmarks=enabled -Dsamples=enabled \
            -Dtests=disabled "$@" >/dev/null
    fi
    meson compile -C "$dir" -j 2 bench/pollux_micro >/dev/null
}
build_micro "$BUILD"
build_micro "$OFF" -Dcpp_args=-DPOLLUX_NO_TASK_DEBUG
RESULTS=${RESULTS:-$BUILD/bench-results}
mkdir -p "$RESULTS"

{
    echo "| operation | debug record on | compiled out | cost |"
    echo "|---|---:|---:|---:|"
    while IFS='|' read -r label bench; do
        on=$(per_op "$BUILD" "$bench" "$n1" "$n2")
        off=$(per_op "$OFF" "$bench" "$n1" "$n2")
        cost=$(awk -v a="$on" -v b="$off" 'BEGIN { printf "%+.1f%%", 100 * (a - b) / b }')
        echo "| $label | $on | $off | $cost |"
    done <<'ROWS'
wake and re-poll (poll_fn task)|BM_pollux_wake_repoll
wake and re-poll (coroutine, co_await yield_now)|BM_pollux_wake_repoll_coro
spawn + join an empty task|BM_pollux_spawn_join
ROWS
} | tee "$RESULTS/task-debug-cost.md"
