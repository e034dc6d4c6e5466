#!/usr/bin/env bash
# TLS echo throughput: samples/tls_echo (pollux::tls, coroutines) against an
# `asio::ssl::stream` echo server (bench/tls/asio_tls_echo_server.cpp) and a
# tokio-openssl one on a current-thread runtime
# (bench/tls/tokio_tls_echo_server), with the same certificate (a P-256 one
# made here with `openssl req`) and the same cipher suite: TLS 1.3
# TLS_AES_128_GCM_SHA256. The Asio and tokio servers pin it themselves
# (--ciphersuites); samples/tls_echo has no such option, so the load client
# offers only that suite, which every server then has to pick; the client
# prints the suite each server negotiated and this script checks it.
#
# The servers run side by side (pinned to CPU 0); bench/tls/tls_load_client
# (pinned to CPU 1, --threads threads) keeps --conns connections open to
# each and runs closed-loop ping-pong of --bytes messages, switching between
# the servers every slice (A B C A B C ..., one warm-up round, then --rounds
# measured rounds), so drift on a shared machine hits every server alike.
#
# Usage: bench/tls/run.sh [--rounds R] [--slice-ms M] [--conns C] [--bytes B]
#                         [--threads T]
#   defaults: 5 rounds of 1000 ms slices, 64 connections, 1024 bytes, 2
#   client threads (about 20 s of load).
# Prints a Markdown table: median messages/s over the slices, min-max,
# MiB/s each way, and the ratio to the best baseline; then each server's
# CPU use during its slices (from /proc: below 100% means the client, not
# the server, set the pace) and its CPU time per message, with the ratio
# best baseline / this (above 1: cheaper than the best baseline). Builds what it needs
# (release) in $BUILD (default build-bench); the tokio server with $CARGO
# (default cargo) offline into $CARGO_TARGET_DIR (default $BUILD/tokio-tls).
set -euo pipefail
cd "$(dirname "$0")/../.."

rounds=5 slice_ms=1000 conns=64 bytes=1024 threads=2
while [ $# -gt 0 ]; do
    case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --slice-ms) slice_ms=$2; shift 2 ;;
    --conns) conns=$2; shift 2 ;;
    --bytes) bytes=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    *)
        echo "usage: $0 [--rounds R] [--slice-ms M] [--conns C] [--bytes B] [--threads T]" >&2
        exit 2
        ;;
    esac
done
suite=TLS_AES_128_GCM_SHA256
BUILD=${BUILD:-build-bench}
CXX=${CXX:-g++}

# Build: the pollux sample through meson (release, -Dtls=enabled), the Asio
# server and the client with $CXX -O2 (no pollux code in either), the tokio
# server with cargo.
if [ ! -f "$BUILD/build.ninja" ]; then
    meson setup "$BUILD" -Dbuildtype=release -Dbenchmarks=enabled -Dsamples=enabled \
        -Dtests=disabled -Dtls=enabled >/dev/null
fi
log=$(mktemp)
mkdir -p "$BUILD/tls"
if ! {
    ninja -C "$BUILD" build.ninja &&
        meson compile -C "$BUILD" -j 2 samples/tls_echo &&
        $CXX -std=c++20 -O2 bench/tls/asio_tls_echo_server.cpp -o "$BUILD/tls/asio_tls_echo_server" \
            -lssl -lcrypto -pthread &&
        $CXX -std=c++20 -O2 bench/tls/tls_load_client.cpp -o "$BUILD/tls/tls_load_client" \
            -lssl -lcrypto -pthread
} >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "build failed in $BUILD (samples/tls_echo needs -Dtls=enabled and libssl-dev)" >&2
    exit 1
fi
servers=(asio_tls_echo_server tokio_tls_echo_server tls_echo)
paths=("$BUILD/tls/asio_tls_echo_server" "" "$BUILD/samples/tls_echo")
cargo_target=${CARGO_TARGET_DIR:-$(cd "$BUILD" && pwd)/tokio-tls}
if ! command -v "${CARGO:-cargo}" >/dev/null; then
    echo "no cargo: leaving tokio_tls_echo_server out (apt-get install cargo librust-tokio-openssl-dev)" >&2
    servers=(asio_tls_echo_server tls_echo) paths=("${paths[0]}" "${paths[2]}")
elif ! (cd bench/tls/tokio_tls_echo_server &&
    "${CARGO:-cargo}" build --release --offline --target-dir "$cargo_target") >"$log" 2>&1; then
    tail -n 10 "$log" >&2
    echo "tokio_tls_echo_server did not build: leaving it out (it needs librust-tokio-openssl-dev)" >&2
    servers=(asio_tls_echo_server tls_echo) paths=("${paths[0]}" "${paths[2]}")
else
    paths[1]=$cargo_target/release/tokio_tls_echo_server
fi
rm -f "$log"

pin_server="" pin_client=""
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
    pin_server="taskset -c 0" pin_client="taskset -c 1"
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pollux-tls-bench.XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/key.pem" \
    -out "$tmp/cert.pem" -days 1 -subj /CN=localhost 2>/dev/null

ports=()
for i in "${!servers[@]}"; do
    args=(--cert "$tmp/cert.pem" --key "$tmp/key.pem" --port 0)
    if [ "${servers[$i]}" != tls_echo ]; then args+=(--ciphersuites "$suite"); fi
    out=$tmp/${servers[$i]}.out
    # shellcheck disable=SC2086 # $pin_server is a command prefix or nothing
    $pin_server "${paths[$i]}" "${args[@]}" >"$out" 2>"$tmp/${servers[$i]}.err" &
    pids+=("$!")
    port=""
    for _ in $(seq 100); do
        # The shell may not have made $out yet: no file is no port (under
        # pipefail a failing sed would end the script).
        port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$out" 2>/dev/null | head -n 1 || true)
        [ -n "$port" ] && break
        sleep 0.1
    done
    if [ -z "$port" ]; then
        echo "${servers[$i]} did not start:" >&2
        cat "$tmp/${servers[$i]}.err" >&2
        exit 1
    fi
    ports+=("$port")
done
port_list=$(IFS=,; echo "${ports[*]}")
pid_list=$(IFS=,; echo "${pids[*]}")

# shellcheck disable=SC2086
$pin_client "$BUILD/tls/tls_load_client" --ports "$port_list" --conns "$conns" --bytes "$bytes" \
    --rounds "$rounds" --slice-ms "$slice_ms" --threads "$threads" --ciphersuites "$suite" --pids "$pid_list" \
    >"$tmp/client.out"

best=0 best_cost=""
for i in "${!servers[@]}"; do
    line=$(grep "^port=${ports[$i]} " "$tmp/client.out")
    cipher=$(sed -n 's/.* cipher=\([^ ]*\).*/\1/p' <<<"$line")
    if [ "$cipher" != "$suite" ]; then
        echo "${servers[$i]} negotiated $cipher, not $suite" >&2
        exit 1
    fi
    rate=$(sed -n 's/.* rate=\([0-9]*\).*/\1/p' <<<"$line")
    cost=$(sed -n 's/.* cpu_ns_per_msg=\([0-9]*\).*/\1/p' <<<"$line")
    if [ "${servers[$i]}" != tls_echo ]; then
        if [ "$rate" -gt "$best" ]; then best=$rate; fi
        if [ -z "$best_cost" ] || [ "$cost" -lt "$best_cost" ]; then best_cost=$cost; fi
    fi
done
echo "| server | messages/s (median) | min-max | MiB/s each way | vs best baseline | server CPU | CPU/message | vs best baseline |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for i in "${!servers[@]}"; do
    line=$(grep "^port=${ports[$i]} " "$tmp/client.out")
    field() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$line"; }
    rate=$(field rate) min=$(field min) max=$(field max) errors=$(field errors)
    cost=$(field cpu_ns_per_msg) busy=$(field server_cpu)
    mib=$(awk -v r="$rate" -v b="$bytes" 'BEGIN { printf "%.1f", r * b / 1048576 }')
    ratio=$(awk -v x="$rate" -v y="$best" 'BEGIN { printf "%.2f", x / y }')
    note=""
    if [ "$errors" != 0 ]; then note=" ($errors errors)"; fi
    # CPU per message: the ratio is best/this, so above 1 is better too.
    cratio=$(awk -v x="$cost" -v y="$best_cost" 'BEGIN { printf "%.2f", y / x }')
    echo "| ${servers[$i]} | $rate | $min-$max | $mib | $ratio$note | $busy% | $((cost / 1000)).$(((cost % 1000) / 100)) us | $cratio |"
done
echo
echo "$conns connections x $bytes B ping-pong per server, $suite; $rounds measured rounds of" \
    "${slice_ms} ms slices; servers on CPU 0, client ($threads threads) on CPU 1${pin_server:+ (taskset)};" \
    "client CPU $(sed -n 's/^client_cpu=//p' "$tmp/client.out")% of one core."
