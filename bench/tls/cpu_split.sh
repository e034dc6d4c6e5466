#!/usr/bin/env bash
# CPU time per TLS echo message, split into user and system time, for the
# three servers of bench/tls/run.sh (Asio, tokio-openssl, samples/tls_echo),
# from each server's /proc/PID/stat (utime, stime) around fixed amounts of
# work: bench/tls/tls_load_client --messages N on --conns connections (1
# KiB, TLS_AES_128_GCM_SHA256), minus a run of 100 messages each, so the
# handshakes cancel. Rounds interleave the servers (A B C A B C ...);
# servers on CPU 0, the client on CPU 1 (taskset), as in run.sh. Still
# wall-clock CPU time (load-dependent), but it shows where the time goes:
# bench/tls/deterministic.sh counts user-space instructions and system
# calls; this shows how much the kernel side costs beside them.
#
# Usage: bench/tls/cpu_split.sh [--rounds R] [--messages N] [--conns C]
#   defaults: 5 rounds, 1000 messages per connection, 64 connections.
# Needs what run.sh builds in $BUILD (default build-bench): run that once.
# Prints one line per server and round, then each server's medians.
set -euo pipefail
cd "$(dirname "$0")/../.."

rounds=5 n=1000 conns=64
while [ $# -gt 0 ]; do
    case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --messages) n=$2; shift 2 ;;
    --conns) conns=$2; shift 2 ;;
    *) echo "usage: $0 [--rounds R] [--messages N] [--conns C]" >&2; exit 2 ;;
    esac
done
suite=TLS_AES_128_GCM_SHA256
BUILD=${BUILD:-build-bench}
declare -A path=(
    [asio_tls_echo_server]=$BUILD/tls/asio_tls_echo_server
    [tokio_tls_echo_server]=${CARGO_TARGET_DIR:-$BUILD/tokio-tls}/release/tokio_tls_echo_server
    [tls_echo]=$BUILD/samples/tls_echo
)
servers="asio_tls_echo_server tls_echo"
if [ -x "${path[tokio_tls_echo_server]}" ]; then
    servers="asio_tls_echo_server tokio_tls_echo_server tls_echo"
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pollux-tls-split.XXXXXX")
pid=""
cleanup() {
    if [ -n "$pid" ]; then kill -INT "$pid" 2>/dev/null || true; fi
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/key.pem" \
    -out "$tmp/cert.pem" -days 1 -subj /CN=localhost 2>/dev/null
hz=$(getconf CLK_TCK)

# cpu_times PID: utime and stime in clock ticks.
cpu_times() { awk '{ print $14, $15 }' "/proc/$1/stat"; }
load() {
    taskset -c 1 "$BUILD/tls/tls_load_client" --ports "$1" --conns "$conns" --bytes 1024 --messages "$2" \
        --ciphersuites "$suite" >"$tmp/client" 2>&1
}

for _ in $(seq "$rounds"); do
    for s in $servers; do
        args=(--cert "$tmp/cert.pem" --key "$tmp/key.pem" --port 0)
        if [ "$s" != tls_echo ]; then args+=(--ciphersuites "$suite"); fi
        rm -f "$tmp/out"
        taskset -c 0 "${path[$s]}" "${args[@]}" >"$tmp/out" 2>/dev/null &
        pid=$!
        port=""
        for _ in $(seq 100); do
            port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$tmp/out" 2>/dev/null | head -n 1 || true)
            [ -n "$port" ] && break
            sleep 0.1
        done
        if [ -z "$port" ]; then echo "$s did not start" >&2; exit 1; fi
        read -r u0 s0 < <(cpu_times "$pid")
        load "$port" 100
        read -r u1 s1 < <(cpu_times "$pid")
        load "$port" $((n + 100))
        read -r u2 s2 < <(cpu_times "$pid")
        kill -INT "$pid"
        wait "$pid" || true
        pid=""
        awk -v s="$s" -v du=$(((u2 - u1) - (u1 - u0))) -v ds=$(((s2 - s1) - (s1 - s0))) \
            -v hz="$hz" -v m=$((n * conns)) -v l="$(cut -d' ' -f1 /proc/loadavg)" \
            'BEGIN { printf "%s user_us=%.2f sys_us=%.2f total_us=%.2f load=%s\n", s,
                du / hz / m * 1e6, ds / hz / m * 1e6, (du + ds) / hz / m * 1e6, l }' |
            tee -a "$tmp/rows"
    done
done
echo
echo "| server | user us/msg | system us/msg | total us/msg |"
echo "|---|---:|---:|---:|"
for s in $servers; do
    for f in user_us sys_us total_us; do
        sed -n "s/^$s .*$f=\([0-9.]*\).*/\1/p" "$tmp/rows" | sort -n |
            awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
    done | paste -sd' ' | awk -v s="$s" '{ printf "| %s | %.2f | %.2f | %.2f |\n", s, $1, $2, $3 }'
done
echo
echo "$conns connections x 1 KiB, $suite; $n messages per connection per run, $rounds rounds; medians."
