#!/usr/bin/env bash
# Process benchmarks: spawn-and-wait of /bin/true (processes/s, 1 and 16 in
# flight) and bytes/s piped through a cat child, for the libuv 1.44 C
# baseline, the tokio baseline and pollux's versions, side by side in one
# run. The programs take turns (A B C A B C ..., --rounds rounds) so drift
# on a shared machine hits every one alike; the table shows the median of
# the rounds, the min-max and the ratio to libuv (or to the
# first program there when libuv is not).
#
# Usage: bench/process/run.sh [--rounds R] [--spawns N] [--mib M]
#                             [--also NAME PROGRAM]...
#   defaults: 5 rounds, 2000 spawns per run, 256 MiB through cat.
#   --also adds a program to the turns, last, e.g. a pollux bench built at
#   another commit, for a before/after in one run.
# Builds what it needs (release) in $BUILD (default build-bench); the tokio
# baseline builds with $CARGO (default cargo) offline from Debian's packaged
# crates (apt-get install cargo librust-tokio-dev) into $BUILD/tokio, and is
# left out, with a message, when it cannot. Writes the table to
# $RESULTS/process.md (default $BUILD/bench-results).
set -euo pipefail
cd "$(dirname "$0")/../.."

rounds=5 spawns=2000 mib=256
also_names=() also_paths=()
while [ $# -gt 0 ]; do
    case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --spawns) spawns=$2; shift 2 ;;
    --mib) mib=$2; shift 2 ;;
    --also) also_names+=("$2") also_paths+=("$3"); shift 3 ;;
    *) echo "usage: $0 [--rounds R] [--spawns N] [--mib M] [--also NAME PROGRAM]..." >&2; exit 2 ;;
    esac
done

BUILD=${BUILD:-build-bench}
if [ ! -f "$BUILD/build.ninja" ]; then
    meson setup "$BUILD" -Dbuildtype=release -Dbenchmarks=enabled -Dsamples=enabled \
        -Dtests=disabled >/dev/null
fi
log=$(mktemp)
# Regenerate first if a meson.build changed, so new targets are known.
if ! ninja -C "$BUILD" build.ninja >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    exit 1
fi
# The programs compared, libuv first (the ratios are to it). Each C/C++ one
# is there when bench/meson.build defines it (libuv's when libuv is found).
names=() paths=() targets=()
add_meson() { # NAME TARGET
    if grep -q "^build $2:" "$BUILD/build.ninja"; then
        names+=("$1") paths+=("$BUILD/$2") targets+=("$2")
    else
        echo "$2 is not defined in $BUILD: leaving $1 out" >&2
    fi
}
add_meson libuv bench/libuv_process_bench
cargo=${CARGO:-cargo}
tokio_target=$(cd "$BUILD" && pwd)/tokio
if ! command -v "$cargo" >/dev/null; then
    echo "no cargo: leaving tokio out (apt-get install cargo librust-tokio-dev)" >&2
elif ! (cd bench/process/tokio_process_bench &&
    "$cargo" build --release --offline --target-dir "$tokio_target") >"$log" 2>&1; then
    tail -n 10 "$log" >&2
    echo "tokio_process_bench did not build: leaving it out (it needs librust-tokio-dev)" >&2
else
    names+=(tokio) paths+=("$tokio_target/release/tokio_process_bench")
fi
add_meson "pollux futures" bench/pollux_process_bench
add_meson "pollux uv" bench/pollux_uv_process_bench
if [ ${#targets[@]} -gt 0 ] &&
    ! meson compile -C "$BUILD" -j 2 "${targets[@]}" >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    rm -f "$log"
    echo "build failed in $BUILD" >&2
    exit 1
fi
rm -f "$log"
for i in "${!also_names[@]}"; do
    names+=("${also_names[$i]}") paths+=("${also_paths[$i]}")
done

RESULTS=${RESULTS:-$BUILD/bench-results}
mkdir -p "$RESULTS"
table=$RESULTS/process.md
scenarios=("spawn $spawns 1" "spawn $spawns 16" "pipe $((mib << 20))")
labels=("spawn /bin/true, 1 in flight (procs/s)" "spawn /bin/true, 16 in flight (procs/s)"
    "cat, $mib MiB through (MiB/s)")

# median and min-max of the numbers on stdin, one a line.
stats() {
    sort -g | awk '{ v[NR] = $1 } END {
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%.0f %.0f-%.0f\n", m, v[1], v[NR] }'
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pollux-procbench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
{
    echo "| benchmark | program | median | min-max | vs libuv |"
    echo "|---|---|---:|---:|---:|"
} >"$table"
cat "$table"
for s in "${!scenarios[@]}"; do
    read -ra args <<<"${scenarios[$s]}"
    for r in $(seq "$rounds"); do
        for p in "${!paths[@]}"; do
            # pipe figures are bytes/s; the table shows MiB/s.
            "${paths[$p]}" "${args[@]}" | awk -v pipe="${args[0]}" \
                '{ print (pipe == "pipe") ? $1 / 1048576 : $1 }' >>"$tmp/$s.$p"
        done
        : "$r"
    done
    base=""
    for p in "${!paths[@]}"; do
        read -r median range < <(stats <"$tmp/$s.$p")
        [ -n "$base" ] || base=$median
        ratio=$(awk -v a="$median" -v b="$base" 'BEGIN { printf "%.2f", a / b }')
        echo "| ${labels[$s]} | ${names[$p]} | $median | $range | $ratio |" | tee -a "$table"
    done
done
echo "table: $table"
