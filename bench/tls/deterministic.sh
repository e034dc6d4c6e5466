#!/usr/bin/env bash
# Deterministic cost of a TLS echo message, for samples/tls_echo next to the
# Asio baseline (bench/tls/asio_tls_echo_server.cpp) and, when it is built,
# the tokio-openssl one: user-space instructions (valgrind callgrind) and
# system calls (strace -c -f) per message echoed. (`perf stat -e
# instructions:u` would do natively, but this machine's VM has no hardware
# counters.) Each figure is the difference
# between a run of N2 and one of N1 messages per connection, divided by the
# difference in messages, so start-up, the handshakes and shutdown cancel
# out. Only the server runs under the tool; bench/tls/tls_load_client runs
# natively with --messages (every connection makes exactly that many
# closed-loop round trips of --bytes bytes), TLS 1.3 with
# TLS_AES_128_GCM_SHA256 as in bench/tls/run.sh.
#
# With --conns 64 (the throughput benchmark's load) a server under callgrind
# finds several requests waiting after each epoll_wait, as a loaded server
# does; with --conns 1 every message wakes it from epoll_wait.
#
# Usage: bench/tls/deterministic.sh [--tools "callgrind strace"]
#                                   [--conns 64] [--bytes 1024]
#                                   [--n1 20] [--n2 100] [--servers "S..."]
# Prints a Markdown table (figures per message) and leaves the callgrind
# output of each N2 run in $RESULTS (default $BUILD/bench-results/tls), as
# callgrind.SERVER.N2.out, for `callgrind_annotate --inclusive=yes`. Builds
# what it needs in $BUILD (default build-bench) as bench/tls/run.sh does
# (run that once first for the tokio server). $CALLGRIND_OPTS are more
# options for callgrind (e.g. "--cache-sim=yes --branch-sim=yes"; the table
# still shows instructions, the outputs have the rest).
set -euo pipefail
cd "$(dirname "$0")/../.."

tools="callgrind strace" conns=64 bytes=1024 n1=20 n2=100 servers=""
usage="usage: $0 [--tools \"callgrind strace\"] [--conns C] [--bytes B] [--n1 N] [--n2 N] [--servers \"S...\"]"
while [ $# -gt 0 ]; do
    case $1 in
    --tools) tools=$2; shift 2 ;;
    --conns) conns=$2; shift 2 ;;
    --bytes) bytes=$2; shift 2 ;;
    --n1) n1=$2; shift 2 ;;
    --n2) n2=$2; shift 2 ;;
    --servers) servers=$2; shift 2 ;;
    *) echo "$usage" >&2; exit 2 ;;
    esac
done
suite=TLS_AES_128_GCM_SHA256
BUILD=${BUILD:-build-bench}
CXX=${CXX:-g++}
RESULTS=${RESULTS:-$BUILD/bench-results/tls}
mkdir -p "$RESULTS" "$BUILD/tls"

if [ ! -f "$BUILD/build.ninja" ]; then
    meson setup "$BUILD" -Dbuildtype=release -Dbenchmarks=enabled -Dsamples=enabled \
        -Dtests=disabled -Dtls=enabled >/dev/null
fi
{
    ninja -C "$BUILD" build.ninja &&
        meson compile -C "$BUILD" -j 2 samples/tls_echo &&
        $CXX -std=c++20 -O2 -g bench/tls/asio_tls_echo_server.cpp \
            -o "$BUILD/tls/asio_tls_echo_server" -lssl -lcrypto -pthread &&
        $CXX -std=c++20 -O2 bench/tls/tls_load_client.cpp -o "$BUILD/tls/tls_load_client" \
            -lssl -lcrypto -pthread
} >"$RESULTS/build.log" 2>&1 || {
    tail -n 30 "$RESULTS/build.log" >&2
    exit 1
}
declare -A path=(
    [asio_tls_echo_server]=$BUILD/tls/asio_tls_echo_server
    [tokio_tls_echo_server]=${CARGO_TARGET_DIR:-$BUILD/tokio-tls}/release/tokio_tls_echo_server
    [tls_echo]=$BUILD/samples/tls_echo
)
if [ -z "$servers" ]; then
    servers="asio_tls_echo_server tls_echo"
    if [ -x "${path[tokio_tls_echo_server]}" ]; then
        servers="asio_tls_echo_server tokio_tls_echo_server tls_echo"
    fi
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pollux-tls-det.XXXXXX")
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then kill -INT "$server_pid" 2>/dev/null || true; fi
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/key.pem" \
    -out "$tmp/cert.pem" -days 1 -subj /CN=localhost 2>/dev/null

# measure TOOL SERVER N: runs SERVER under TOOL while every connection makes
# N round trips; prints the tool's total (instructions or syscalls).
measure() {
    local tool=$1 server=$2 n=$3 port="" pid
    local args=(--cert "$tmp/cert.pem" --key "$tmp/key.pem" --port 0)
    if [ "$server" != tls_echo ]; then args+=(--ciphersuites "$suite"); fi
    rm -f "$tmp"/out.* "$tmp/stdout"
    case $tool in
    callgrind)
        # shellcheck disable=SC2086 # $CALLGRIND_OPTS: options, split
        valgrind --tool=callgrind ${CALLGRIND_OPTS:-} --log-file="$tmp/log" \
            --callgrind-out-file="$tmp/out.cg" \
            "${path[$server]}" "${args[@]}" >"$tmp/stdout" 2>"$tmp/stderr" & ;;
    strace) strace -f -c -o "$tmp/out.st" "${path[$server]}" "${args[@]}" \
        >"$tmp/stdout" 2>"$tmp/stderr" & ;;
    esac
    server_pid=$!
    for _ in $(seq 300); do
        port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$tmp/stdout" 2>/dev/null | head -n 1 || true)
        [ -n "$port" ] && break
        sleep 0.1
    done
    if [ -z "$port" ]; then
        echo "$server under $tool did not start:" >&2
        cat "$tmp/stderr" >&2
        return 1
    fi
    if ! "$BUILD/tls/tls_load_client" --ports "$port" --conns "$conns" --bytes "$bytes" \
        --messages "$n" --ciphersuites "$suite" >"$tmp/client" 2>&1 ||
        ! grep -q "cipher=$suite messages=$((n * conns)) errors=0" "$tmp/client"; then
        echo "$server under $tool: the load client failed:" >&2
        cat "$tmp/client" >&2
        return 1
    fi
    # The server itself gets the signal: under strace, the tool's child
    # (strace then writes its summary and exits).
    pid=$server_pid
    if [ "$tool" != callgrind ]; then pid=$(pgrep -P "$server_pid"); fi
    kill -INT "$pid"
    wait "$server_pid" || true
    server_pid=""
    case $tool in
    callgrind)
        cp "$tmp/out.cg" "$RESULTS/callgrind.$server.$n.out"
        sed -n 's/^\(summary\|totals\): *\([0-9]*\).*/\2/p' "$tmp/out.cg" | tail -n 1 ;;
    strace)
        cp "$tmp/out.st" "$RESULTS/strace.$server.$n.txt"
        awk '$NF == "total" { print $4 }' "$tmp/out.st" ;;
    esac
}

per_msg() {
    local a b
    a=$(measure "$1" "$2" "$n1") || exit 1
    b=$(measure "$1" "$2" "$n2") || exit 1
    echo "$1 $2 n1=$n1:$a n2=$n2:$b" >>"$RESULTS/deterministic.log"
    awk -v a="$a" -v b="$b" -v d=$(((n2 - n1) * conns)) 'BEGIN { printf "%.1f", (b - a) / d }'
}

# syscalls_by_type SERVER: per message, N2 minus N1, from strace's tables:
# reads (recvfrom, recvmsg, read), sends (sendto, sendmsg, write), epoll_wait.
syscalls_by_type() {
    awk -v d=$(((n2 - n1) * conns)) '
        $1 ~ /^[0-9.]+$/ && $NF != "total" {
            sign = FILENAME ~ /\.'"$n1"'\.txt$/ ? -1 : 1
            c[$NF] += sign * $4
            e[$NF] += sign * (NF == 6 ? $5 : 0)
        }
        END {
            printf "%.2f | %.2f | %.2f | %.2f", (c["recvfrom"] + c["recvmsg"] + c["read"]) / d,
                (e["recvfrom"] + e["recvmsg"] + e["read"]) / d,
                (c["sendto"] + c["sendmsg"] + c["write"]) / d, c["epoll_wait"] / d
        }' "$RESULTS/strace.$1.$n1.txt" "$RESULTS/strace.$1.$n2.txt"
}

: >"$RESULTS/deterministic.log"
header="| server |" sep="|---|"
for t in $tools; do
    case $t in
    callgrind) header+=" instructions/msg (callgrind) |" sep+="---:|" ;;
    strace) header+=" syscalls/msg | reads | of which EAGAIN | sends | epoll_wait |" sep+="---:|---:|---:|---:|---:|" ;;
    *) echo "$0: unknown tool $t" >&2; exit 2 ;;
    esac
done
{
    echo "$header"
    echo "$sep"
    for s in $servers; do
        row="| $s |"
        for t in $tools; do
            row+=" $(per_msg "$t" "$s") |"
            if [ "$t" = strace ]; then row+=" $(syscalls_by_type "$s") |"; fi
        done
        echo "$row"
    done
} | tee "$RESULTS/deterministic.md"
echo
echo "$conns connections x $bytes B, $suite; N1=$n1, N2=$n2 messages per connection; figures are (N2 run - N1 run) / $(((n2 - n1) * conns)) messages."
