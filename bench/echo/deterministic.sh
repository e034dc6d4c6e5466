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
# Three cases (--cases, default all):
#   paced    1 connection, the client pausing --pace-us after each round trip;
#   unpaced  8 connections, no pause: a loaded server, which often finds its
#            next request already waiting;
#   sweep    8 connections, no pause, the client's --shape sweep: it writes
#            one message on every connection, then reads every reply, so the
#            server is busy but never saturated: each read finds one
#            request and the next one would block.
#   wide     (not in the default set) the sweep with 1,000 connections: the
#            server finds up to a thousand sockets readable per wait, as in
#            bench/echo/run.sh's 1,000-connection scenario; give --n1 and
#            --n2 as multiples of 1,000.
# Unpaced, the figures depend on how often a request is already waiting,
# that is on the machine's load while each server runs: --repeat R measures
# every server R times, round-robin (so drift hits all alike), and prints
# the median.
#
# Usage: bench/echo/deterministic.sh [--cases "paced unpaced sweep wide"]
#                                    [--servers "asio_echo_server ..."]
#                                    [--n1 200] [--n2 1200] [--pace-us 2000]
#                                    [--repeat 1]
# Prints two Markdown tables: the figures per round trip, and the syscalls
# per round trip by type (reads: recvfrom and recvmsg, which pollux's TCP
# reads use for TCP_INQ; of which how many failed with EAGAIN,
# sendto, epoll_wait, the rest); also writes them to $RESULTS/deterministic.md
# and $RESULTS/deterministic-syscalls.md (default build-bench/bench-results),
# and the raw totals and strace tables to $RESULTS/deterministic.log. Builds
# what it needs (release) in $BUILD (default build-bench). Needs valgrind
# and strace.
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/echo/common.sh

cases="paced unpaced sweep"
servers=""
n1=200
n2=1200
pace_us=2000
repeat=1
usage="usage: $0 [--cases \"paced unpaced sweep wide\"] [--servers \"S...\"] [--n1 N] [--n2 N] [--pace-us U] [--repeat R]"
while [ $# -gt 0 ]; do
    case $1 in
    --cases) cases=$2; shift 2 ;;
    --servers) servers=$2; shift 2 ;;
    --n1) n1=$2; shift 2 ;;
    --n2) n2=$2; shift 2 ;;
    --pace-us) pace_us=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    *) echo "$usage" >&2; exit 2 ;;
    esac
done
for c in $cases; do
    case $c in
    paced | unpaced | sweep | wide) ;;
    *) echo "$0: unknown case $c" >&2; echo "$usage" >&2; exit 2 ;;
    esac
done
for tool in valgrind strace; do
    command -v $tool >/dev/null || { echo "$0: needs $tool (apt-get install $tool)" >&2; exit 1; }
done

# The wide case: 1,000 descriptors in the server and in the client.
ulimit -n "$(ulimit -Hn)"
echo_build
if [ -n "$servers" ]; then
    # The ones asked for, in ECHO_SERVERS's order.
    kept=()
    for s in "${ECHO_SERVERS[@]}"; do
        [[ " $servers " == *" $s "* ]] && kept+=("$s")
    done
    ECHO_SERVERS=("${kept[@]}")
fi
RESULTS=${RESULTS:-$BUILD/bench-results}
mkdir -p "$RESULTS"
: >"$RESULTS/deterministic.log"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pollux-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
client=$BUILD/samples/echo_client

# set_case CASE: the load generator's arguments for CASE (in client_args)
# and its label in the tables.
set_case() {
    case $1 in
    paced) client_args=(--conns 1 --pace-us "$pace_us") label="1 conn, paced" ;;
    unpaced) client_args=(--conns 8 --pace-us 0) label="8 conns, unpaced" ;;
    sweep) client_args=(--conns 8 --pace-us 0 --shape sweep) label="8 conns, sweep" ;;
    wide) client_args=(--conns 1000 --pace-us 0 --shape sweep) label="1000 conns, sweep" ;;
    esac
}

# measure TOOL SERVER N: runs SERVER under TOOL while the client makes N
# round trips of the current case; prints the tool's total (user-space
# instructions, syscalls or allocations). Under strace the whole table stays
# in $tmp/strace.N.
measure() {
    local tool=$1 server=$2 n=$3 exe pid
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
    if ! "$client" --port "$PORT" "${client_args[@]}" --bytes 64 --round-trips "$n" \
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
    syscalls)
        cp "$tmp/out.st" "$tmp/strace.$n"
        awk '$NF == "total" { print $4 }' "$tmp/out.st" ;;
    esac
}

# syscall_types: from $tmp/strace.N1 and $tmp/strace.N2, the syscalls per
# round trip by type, N2 minus N1: reads (recvfrom and recvmsg), their
# errors (EAGAIN: the read that finds the socket drained), sendto,
# epoll_wait and all the others.
syscall_types() {
    # strace -c rows: % time, seconds, usecs/call, calls, [errors,] syscall.
    awk -v d=$((n2 - n1)) '
        $1 ~ /^[0-9.]+$/ && $NF != "total" {
            sign = FILENAME ~ /strace\.'"$n1"'$/ ? -1 : 1
            calls[$NF] += sign * $4
            errors[$NF] += sign * (NF == 6 ? $5 : 0)
            all += sign * $4
        }
        END {
            reads = calls["recvfrom"] + calls["recvmsg"]
            read_errors = errors["recvfrom"] + errors["recvmsg"]
            other = all - reads - calls["sendto"] - calls["epoll_wait"]
            printf "%.2f %.2f %.2f %.2f %.2f\n", reads / d, read_errors / d,
                calls["sendto"] / d, calls["epoll_wait"] / d, other / d
        }' "$tmp/strace.$n1" "$tmp/strace.$n2"
}

# per_rt TOOL SERVER CASE: the tool's count per round trip, N2 minus N1.
# The raw totals (and strace's tables) go to $RESULTS/deterministic.log;
# under strace, the counts by type are appended to $tmp/types.SERVER.CASE.
per_rt() {
    local a b
    a=$(measure "$1" "$2" "$n1") || exit 1
    b=$(measure "$1" "$2" "$n2") || exit 1
    echo "$1 $2 $3 n1=$n1:$a n2=$n2:$b" >>"$RESULTS/deterministic.log"
    if [ "$1" = syscalls ]; then
        for n in "$n1" "$n2"; do
            echo "strace -c -f, $2, $3, $n round trips:"
            cat "$tmp/strace.$n"
        done >>"$RESULTS/deterministic.log"
        syscall_types >>"$tmp/types.$2.$3"
    fi
    awk -v a="$a" -v b="$b" -v d=$((n2 - n1)) 'BEGIN { printf "%.2f", (b - a) / d }'
}

ratio() { awk -v x="$1" -v y="$2" 'BEGIN { if (y > 0) printf "%.2f", x / y; else print "-" }'; }

# median X...: the median of its arguments (the lower middle one of an even count).
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

{
    echo "| server | case | instructions/RT | vs Asio | syscalls/RT | vs Asio | allocations/RT |"
    echo "|---|---|---:|---:|---:|---:|---:|"
    for c in $cases; do
        set_case "$c"
        declare -A got=()
        for ((r = 0; r < repeat; r++)); do
            for server in "${ECHO_SERVERS[@]}"; do
                for tool in instructions syscalls allocations; do
                    got[$server.$tool]+=" $(per_rt $tool "$server" "$c")"
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
            if [ "$server" = asio_echo_server ]; then
                base_i=$i base_s=$s
            fi
            echo "| $server | $label | $i | $(ratio "$i" "$base_i") | $s | $(ratio "$s" "$base_s") | $a |"
        done
        unset got
    done
} | tee "$RESULTS/deterministic.md"
echo
{
    echo "| server | case | reads/RT | of which EAGAIN | sendto/RT | epoll_wait/RT | other/RT |"
    echo "|---|---|---:|---:|---:|---:|---:|"
    for c in $cases; do
        set_case "$c"
        for server in "${ECHO_SERVERS[@]}"; do
            row="| $server | $label |"
            for col in 1 2 3 4 5; do
                # shellcheck disable=SC2046 # one value per repeat
                row+=" $(median $(awk -v c=$col '{ print $c }' "$tmp/types.$server.$c")) |"
            done
            echo "$row"
        done
    done
} | tee "$RESULTS/deterministic-syscalls.md"
echo
echo "64-byte messages; N1=$n1, N2=$n2 round trips, ${pace_us} us pause after each in the paced case, median of $repeat; build type: $(meson introspect --buildoptions "$BUILD" | python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="buildtype"))')."
