# shellcheck shell=bash
# shellcheck disable=SC2034 # n1 and n2 are for the scripts that source this
# Counting user-space instructions per operation of a micro benchmark with
# valgrind callgrind (sourced by instructions.sh and task_debug_cost.sh).

# callgrind_options ARGS...: sets n1 and n2 from the scripts' common options
# `--n1 N --n2 N` (defaults 1000 and 3000) and checks for valgrind; exits
# with a usage message otherwise.
callgrind_options() {
    n1=1000 n2=3000
    while [ $# -gt 0 ]; do
        case $1 in
        --n1) n1=$2; shift 2 ;;
        --n2) n2=$2; shift 2 ;;
        *) echo "usage: $0 [--n1 N] [--n2 N]" >&2; exit 2 ;;
        esac
    done
    command -v valgrind >/dev/null || { echo "$0: needs valgrind" >&2; exit 1; }
}

# count_instructions BUILD BENCHMARK N: instructions executed inside
# BENCHMARK's function (--toggle-collect) when it runs exactly N iterations
# (POLLUX_MICRO_ITERATIONS) from BUILD's pollux_micro.
count_instructions() {
    local dir
    dir=$(mktemp -d "${TMPDIR:-/tmp}/pollux-callgrind.XXXXXX")
    POLLUX_MICRO_ITERATIONS=$3 valgrind --tool=callgrind --log-file="$dir/log" \
        --callgrind-out-file="$dir/out" --toggle-collect="*$2(*" \
        "$1/bench/pollux_micro" --benchmark_filter="^$2(/|\$)" >/dev/null 2>&1
    sed -n 's/^\(summary\|totals\): *\([0-9]*\).*/\2/p' "$dir/out" | tail -n 1
    rm -rf "$dir"
}

# per_op BUILD BENCHMARK N1 N2: instructions per iteration, as the difference
# between runs of N1 and N2 iterations, so set-up and tear-down cancel out.
per_op() {
    local a b
    a=$(count_instructions "$1" "$2" "$3")
    b=$(count_instructions "$1" "$2" "$4")
    awk -v a="$a" -v b="$b" -v d=$(($4 - $3)) 'BEGIN { printf "%.0f", (b - a) / d }'
}
