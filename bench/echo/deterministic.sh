#!/usr/bin/env bash
# Deterministic cost of an echo round trip, for every echo server next to
# the raw Asio baseline: user-space instructions (valgrind callgrind),
# syscalls (strace -c -f) and heap allocations (valgrind memcheck's heap
# summary) per round trip. Each figure is the difference between a run of
# N2 and one of N1 round trips, divided by N2 - N1, so start-up and
# shutdown cancel out. Only the server runs under the tool; the load
# generator (samples/echo_client) runs natively and pauses --pace-us after
# each round trip, so that every request finds the server asleep in
# epoll_wait: each round trip then takes the same path (wake, read, write,
# read until would-block, wait again), and the figures do not depend on
# how fast the tool lets the server run. Unpaced (--pace-us 0) a server
# slowed down by valgrind finds its next request already waiting, skips
# the wait, and the difference of two runs mixes paths unpredictably.
#
# Unpaced, the figures depend on how often a request is already waiting,
# that is on the machine's load while each server runs: --repeat R measures
# every server R times, round-robin (so drift hits all alike), and prints
# the median.
#
# Usage: bench/echo/deterministic.sh [--conns "1 8"] [--n1 200] [--n2 1200]
#                                    [--pace-us 2000] [--repeat 1]
# Prints a Markdown table; also writes it to $RESULTS/deterministic.md
# (default build-bench/bench-results). Builds what it needs (release) in
# $BUILD (default build-bench). Needs valgrind and strace.
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/echo/common.sh

conns_list="1 8"
n1=200
n2=1200
pace_us=2000
repeat=1
while [ $# -gt 0 ]; do
    case $1 in
    --conns) conns_list=$2; shift 2 ;;
    --n1) n1=$2; shift 2 ;;
    --n2) n2=$2; shift 2 ;;
    --pace-us) pace_us=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    *) echo "usage: $0 [--conns \"1 8\"] [--n1 N] [--n2 N] [--pace-us U] [--repeat R]" >&2; exit 2 ;;
    esac
done
for tool in valgrind strace; do
    command -v $tool >/dev/null || { echo "$0: needs $tool (apt-get install $tool)" >&2; exit 1; }
done

echo_build
RESULTS=${RESULTS:-$BUILD/bench-results}
mkdir -p "$RESULTS"
: >"$RESULTS/deterministic.log"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pollux-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
client=$BUILD/samples/echo_client

# measure TOOL SERVER CONNS N: runs SERVER under TOOL while the client makes
# N round trips over CONNS connections; prints the tool's total (user-space
# instructions, syscalls or allocations).
measure() {
    local tool=$1 server=$2 conns=$3 n=$4 exe pid
    exe=$(echo_server_path "$server")
    rm -f "$tmp"/out.*
    case $tool in
    instructions)
        start_server "$tmp/stdout" valgrind --tool=callgrind --log-file="$tmp/log" \
            --callgrind-out-file="$tmp/out.cg" "$exe" --port 0 || return 1 ;;
    allocations)
        start_server "$tmp/stdout" valgrind --tool=memcheck --leak-check=no \
            --log-file="$tmp/out.mc" "$exe" --port 0 || return 1 ;;
    syscalls)
        start_server "$tmp/stdout" strace -f -c -o "$tmp/out.st" "$exe" --port 0 || return 1 ;;
    esac
    if ! "$client" --port "$PORT" --conns "$conns" --bytes 64 --round-trips "$n" --pace-us "$pace_us" \
        >"$tmp/client" 2>&1 || ! grep -q " round_trips=$n .*errors=0" "$tmp/client"; then
        echo "$server under $tool: the load generator failed:" >&2
        cat "$tmp/client" >&2
        kill -INT "$SERVER_PID" 2>/dev/null || true
        return 1
    fi
    pid=$SERVER_PID
    if [ "$tool" = syscalls ]; then
        pid=$(pgrep -P "$SERVER_PID")
    fi
    stop_server "$pid"
    case $tool in
    instructions) sed -n 's/^\(summary\|totals\): *\([0-9]*\).*/\2/p' "$tmp/out.cg" | tail -n 1 ;;
    allocations) sed -n 's/.*total heap usage: \([0-9,]*\) allocs.*/\1/p' "$tmp/out.mc" | tr -d , ;;
    syscalls) awk '$NF == "total" { print $4 }' "$tmp/out.st" ;;
    esac
}

# per_rt TOOL SERVER CONNS: the tool's count per round trip, N2 minus N1.
# The raw totals go to $RESULTS/deterministic.log.
per_rt() {
    local a b
    a=$(measure "$1" "$2" "$3" "$n1") || exit 1
    b=$(measure "$1" "$2" "$3" "$n2") || exit 1
    echo "$1 $2 conns=$3 n1=$n1:$a n2=$n2:$b" >>"$RESULTS/deterministic.log"
    awk -v a="$a" -v b="$b" -v d=$((n2 - n1)) 'BEGIN { printf "%.2f", (b - a) / d }'
}

ratio() { awk -v x="$1" -v y="$2" 'BEGIN { if (y > 0) printf "%.2f", x / y; else print "-" }'; }

# median X...: the median of its arguments (the lower middle one of an even count).
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

{
    echo "| server | conns | instructions/RT | vs Asio | syscalls/RT | vs Asio | allocations/RT |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    for conns in $conns_list; do
        declare -A got=()
        for ((r = 0; r < repeat; r++)); do
            for server in "${ECHO_SERVERS[@]}"; do
                for tool in instructions syscalls allocations; do
                    got[$server.$tool]+=" $(per_rt $tool "$server" "$conns")"
                done
            done
        done
        base_i="" base_s=""
        for server in "${ECHO_SERVERS[@]}"; do
            # shellcheck disable=SC2086 # the lists split into arguments
            i=$(median ${got[$server.instructions]})
            # shellcheck disable=SC2086
            s=$(median ${got[$server.syscalls]})
            # shellcheck disable=SC2086
            a=$(median ${got[$server.allocations]})
            if [ -z "$base_i" ]; then
                base_i=$i base_s=$s
            fi
            echo "| $server | $conns | $i | $(ratio "$i" "$base_i") | $s | $(ratio "$s" "$base_s") | $a |"
        done
        unset got
    done
} | tee "$RESULTS/deterministic.md"
echo
echo "64-byte messages; N1=$n1, N2=$n2 round trips, ${pace_us} us pause after each, median of $repeat; build type: $(meson introspect --buildoptions "$BUILD" | python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="buildtype"))')."
