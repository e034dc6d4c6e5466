#!/usr/bin/env bash
# Load-independent per-request costs of keep-alive `GET /` for the three
# 1-thread servers of bench/http/run.sh (samples/http_server --threads 1,
# Beast, hyper on a current_thread runtime):
#   instructions: user-space instructions per request, from callgrind (Ir),
#     as the difference between a run of N2 and a run of N1 requests
#     (h2load --h1, CONNS connections, default 64), so start-up, exit and the connections' setup
#     cancel out;
#   syscalls: system calls per request at full speed (perf's
#     raw_syscalls:sys_enter tracepoint on the server's PID, over N2
#     requests after start-up, connections included), and the main ones by
#     name. These depend on timing (a read that finds nothing costs an
#     EAGAIN and an epoll_wait), so they vary a little from run to run;
#   CPU time: the server's user + system CPU time per request (utime +
#     stime from /proc/PID/stat, clock ticks) over 5 x N2 requests at full
#     speed, no tracer attached: the kernel's share included, which the
#     instruction count leaves out. Less exact than the counts (10 ms
#     ticks, caches shared with whatever else runs), far less load-bound
#     than requests/s.
#
# Usage: [CONNS=64] bench/http/per_request.sh [N1 N2]   (default 2000 22000)
# Needs valgrind, h2load (nghttp2-client) and perf with tracepoints; builds
# like run.sh ($BUILD, default build-bench). Extra servers to measure:
# EXTRA="name:/path/to/http_server ..." (pollux-style command lines).
set -euo pipefail
cd "$(dirname "$0")/../.."
n1=${1:-2000}
n2=${2:-22000}
conns=${CONNS:-64}
for tool in valgrind h2load perf; do
    command -v $tool >/dev/null || { echo "$0: needs $tool" >&2; exit 1; }
done
BUILD=${BUILD:-build-bench}
if [ ! -f "$BUILD/build.ninja" ]; then
    meson setup "$BUILD" -Dbuildtype=release -Dbenchmarks=enabled -Dsamples=enabled \
        -Dtests=disabled >/dev/null
fi
meson compile -C "$BUILD" -j 2 samples/http_server bench/beast_http_server >/dev/null
hyper_target=$(cd "$BUILD" && pwd)/hyper
hyper=""
if command -v "${CARGO:-cargo}" >/dev/null &&
    (cd bench/http/hyper_server &&
        "${CARGO:-cargo}" build --release --offline --target-dir "$hyper_target") >/dev/null 2>&1; then
    hyper=$hyper_target/release/hyper_server
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pollux-http-perreq.XXXXXX")
server=""
# shellcheck disable=SC2317 # run by the trap
cleanup() {
    if [ -n "$server" ]; then kill -TERM "$server" 2>/dev/null || true; fi
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

# serve OUT CMD...: starts CMD in the background (server=PID), waits for
# `listening on H:P` in OUT, sets port.
serve() {
    local out=$1
    shift
    "$@" >"$out" 2>"$out.err" &
    server=$!
    for _ in $(seq 600); do
        if grep -q '^listening on ' "$out" 2>/dev/null; then
            port=$(sed -n '1s/.*://p' "$out")
            return 0
        fi
        sleep 0.1
    done
    echo "$* did not start: $(cat "$out.err")" >&2
    exit 1
}
stop() {
    kill -TERM "$server"
    wait "$server" || true
    server=""
}
load() { # load N: N keep-alive GET / over $conns connections; fails on any error
    h2load --h1 -n "$1" -c "$conns" "http://127.0.0.1:$port/" >"$tmp/h2load" 2>&1
    grep -q "$1 succeeded, 0 failed, 0 errored" "$tmp/h2load" ||
        { echo "h2load: $(grep requests: "$tmp/h2load")" >&2; exit 1; }
}

instructions() { # instructions NAME CMD...: total Ir of a run of N requests
    local n=$1
    shift
    serve "$tmp/out" valgrind --tool=callgrind --callgrind-out-file="$tmp/cg" "$@"
    load "$n"
    stop
    awk '/^totals:/ { print $2 }' "$tmp/cg"
}

cpu_ticks() { # the server's utime + stime so far, in clock ticks
    # Fields 14 and 15 of /proc/PID/stat; field 2 (comm) has no spaces here.
    awk '{ print $14 + $15 }' "/proc/$server/stat"
}

names="read recvfrom recvmsg write writev sendto sendmsg epoll_wait epoll_ctl timerfd_settime futex"
events="-e raw_syscalls:sys_enter"
for s in $names; do events="$events -e syscalls:sys_enter_$s"; done

echo "h2load --h1 -c$conns; instructions: (Ir($n2) - Ir($n1)) / ($n2 - $n1) under callgrind;" \
    "CPU: utime+stime over $((5 * n2)) requests;" \
    "syscalls: perf raw_syscalls:sys_enter over $n2 requests"
echo
printf '| server | instructions/request | CPU us/request | syscalls/request |'
for s in $names; do printf ' %s |' "$s"; done
printf '\n|---|---:|---:|---:|'
for _ in $names; do printf -- '---:|'; done
echo
measure() { # measure NAME CMD...
    local name=$1
    shift
    local a b
    a=$(instructions "$n1" "$@")
    b=$(instructions "$n2" "$@")
    serve "$tmp/out" "$@"
    # shellcheck disable=SC2086 # $events is a list of options
    perf stat -x, $events -p "$server" -o "$tmp/perf" &
    local perf=$!
    sleep 1
    load "$n2"
    sleep 0.5
    kill -INT "$perf"
    wait "$perf" || true
    local t0 t1
    t0=$(cpu_ticks)
    load $((5 * n2))
    t1=$(cpu_ticks)
    stop
    printf '| %s | %s | %s |' "$name" "$(awk -v a="$a" -v b="$b" -v n=$((n2 - n1)) \
        'BEGIN { printf "%.0f", (b - a) / n }')" \
        "$(awk -v t="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" -v n=$((5 * n2)) \
            'BEGIN { printf "%.1f", t / hz * 1e6 / n }')"
    for e in raw_syscalls:sys_enter $names; do
        case $e in raw_*) ;; *) e=syscalls:sys_enter_$e ;; esac
        printf ' %s |' "$(awk -F, -v e="$e" -v n="$n2" \
            '$3 == e { printf "%.2f", $1 / n }' "$tmp/perf")"
    done
    echo
}
measure pollux "$BUILD/samples/http_server" --port 0 --threads 1
for extra in ${EXTRA:-}; do
    measure "${extra%%:*}" "${extra#*:}" --port 0 --threads 1
done
measure Beast "$BUILD/bench/beast_http_server" 0 1
[ -n "$hyper" ] && measure hyper "$hyper" 0 1
exit 0
