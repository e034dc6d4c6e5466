#!/usr/bin/env bash
# File benchmark: 4 KiB random reads of a 1 GiB file with 64 in flight,
# through pollux's io_uring seam and through the worker pool (pread on its
# threads), one after the other in each round (ring pool ring pool ...), so
# drift on a shared machine hits both alike. The page cache is warm (the
# file is read once first); a cold-cache figure needs root
# (echo 3 > /proc/sys/vm/drop_caches) and is not taken here.
#
# Usage: bench/fs/run.sh [--rounds R] [--ops N] [--mib M] [--inflight K]
#   defaults: 3 rounds, 200000 reads per run, a 1024 MiB file, 64 in flight.
# The file is made under ${TMPDIR:-/tmp} and deleted on exit. Builds
# bench/pollux_fs_bench in $BUILD (default build-bench, a release build).
set -euo pipefail
cd "$(dirname "$0")/../.."

rounds=3 ops=200000 mib=1024 inflight=64
while [ $# -gt 0 ]; do
    case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --ops) ops=$2; shift 2 ;;
    --mib) mib=$2; shift 2 ;;
    --inflight) inflight=$2; shift 2 ;;
    *) echo "usage: $0 [--rounds R] [--ops N] [--mib M] [--inflight K]" >&2; exit 2 ;;
    esac
done

BUILD=${BUILD:-build-bench}
if [ ! -f "$BUILD/build.ninja" ]; then
    meson setup "$BUILD" -Dbuildtype=release -Dbenchmarks=enabled -Dtests=disabled \
        -Dsamples=disabled >/dev/null
fi
ninja -C "$BUILD" build.ninja >/dev/null
meson compile -C "$BUILD" -j 2 bench/pollux_fs_bench >/dev/null

file=$(mktemp "${TMPDIR:-/tmp}/pollux_fs_bench.XXXXXX")
trap 'rm -f "$file"' EXIT
echo "making a ${mib} MiB file: $file" >&2
# Real blocks (not a sparse file), written once; reading it back warms the
# page cache.
head -c "$((mib * 1024 * 1024))" /dev/urandom >"$file"
cat "$file" >/dev/null

echo "kernel $(uname -r), $(nproc) cores; $ops reads of 4096 B per run, $inflight in flight"
for ((r = 1; r <= rounds; r++)); do
    echo "round $r"
    "$BUILD/bench/pollux_fs_bench" "$file" --backend ring --ops "$ops" --inflight "$inflight"
    "$BUILD/bench/pollux_fs_bench" "$file" --backend pool --ops "$ops" --inflight "$inflight"
done
