#!/usr/bin/env bash
# File benchmark, side by side in one run on the same files (bench/fs/):
#   random  4 KiB reads at random offsets of a 1 GiB file, 64 in flight
#   seq     a sequential read of the 1 GiB file (1 MiB reads)
#   meta    open + stat + close of 10,000 files (64 in flight)
# Contenders, one after the other in each round (so drift on a shared
# machine hits all alike):
#   pollux-ring  pollux::fs (File::read_at, io::read, File::open/metadata)
#                with the io_uring ring
#   pollux-pool  the same with the ring off (RuntimeOptions::io_uring =
#                false, as POLLUX_IO_URING=0): the worker pool
#   pollux-pool-owned  (random only) the pool through File::read_at_owned:
#                the read fills a std::vector<std::byte> the reader hands it
#                and gets back, instead of read_at's copy out of a buffer of
#                its own (tokio-uring's owned-buffer read_at; docs/fs.md)
#   tokio        tokio::fs on a current_thread runtime (Debian's tokio
#                1.24): random reads are pread (FileExt::read_at) inside
#                spawn_blocking, what tokio::fs does for each call
#                (tokio_fs_bench/src/main.rs)
#   libuv        libuv 1.44's uv_fs_read/open/fstat/close on its thread
#                pool (UV_THREADPOOL_SIZE, default 4, left at the default)
# The page cache is warm (the files are read once first). Then, when
# /proc/sys/vm/drop_caches can be written (root, and a container that
# allows it), one cold-cache round of the random reads, the caches dropped
# before each contender.
#
# Usage: bench/fs/run.sh [--rounds R] [--ops N] [--mib M] [--files F] [--inflight K]
#   defaults: 3 rounds, 200000 random reads, a 1024 MiB file, 10000 files,
#   64 in flight. The files are made under ${TMPDIR:-/tmp} and deleted on
#   exit. Builds bench/pollux_fs_bench in $BUILD (default build-bench, a
#   release build), the libuv program with gcc -O2 -luv and the tokio one
#   with cargo (offline, Debian's crates) into $BUILD; a contender that does
#   not build is left out with a message.
set -euo pipefail
cd "$(dirname "$0")/../.."

rounds=3 ops=200000 mib=1024 files=10000 inflight=64
while [ $# -gt 0 ]; do
    case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --ops) ops=$2; shift 2 ;;
    --mib) mib=$2; shift 2 ;;
    --files) files=$2; shift 2 ;;
    --inflight) inflight=$2; shift 2 ;;
    *) echo "usage: $0 [--rounds R] [--ops N] [--mib M] [--files F] [--inflight K]" >&2; exit 2 ;;
    esac
done

BUILD=${BUILD:-build-bench}
if [ ! -f "$BUILD/build.ninja" ]; then
    meson setup "$BUILD" --buildtype=release -Dbenchmarks=enabled -Dtests=disabled \
        -Dsamples=disabled >/dev/null
fi
ninja -C "$BUILD" build.ninja >/dev/null
meson compile -C "$BUILD" -j 2 bench/pollux_fs_bench >/dev/null
build=$(cd "$BUILD" && pwd)

contenders=(pollux-ring pollux-pool)
if gcc -O2 -o "$build/uv_fs_bench" bench/fs/uv_fs_bench.c -luv; then
    contenders+=(libuv)
else
    echo "uv_fs_bench did not build (it needs libuv1-dev): leaving libuv out" >&2
fi
if command -v "${CARGO:-cargo}" >/dev/null &&
    (cd bench/fs/tokio_fs_bench &&
        "${CARGO:-cargo}" build --release --offline --target-dir "$build/tokio-fs") \
        >"$build/tokio-fs.log" 2>&1; then
    contenders+=(tokio)
else
    echo "tokio_fs_bench did not build (cargo and librust-tokio-dev): leaving tokio out" >&2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/pollux_fs_bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
file=$work/big
echo "making a ${mib} MiB file and $files small files under $work" >&2
# Real blocks (not a sparse file), written once; reading it back warms the
# page cache.
head -c "$((mib * 1024 * 1024))" /dev/urandom >"$file"
mkdir "$work/many"
for ((i = 0; i < files; i++)); do printf x >"$work/many/$i"; done
cat "$file" >/dev/null

# run CONTENDER CASE ARGS...: the contender's line, then the CPU time
# (user + system, every thread; /usr/bin/time) of the whole run, which a
# loaded machine disturbs less than the wall-clock figures.
run() {
    local who=$1 cmd
    shift
    case $who in
    pollux-ring) cmd=("$build/bench/pollux_fs_bench" "$@" --backend ring) ;;
    pollux-pool) cmd=("$build/bench/pollux_fs_bench" "$@" --backend pool) ;;
    pollux-pool-owned) cmd=("$build/bench/pollux_fs_bench" "$@" --backend pool --owned) ;;
    libuv) cmd=("$build/uv_fs_bench" "$@") ;;
    tokio) cmd=("$build/tokio-fs/release/tokio_fs_bench" "$@") ;;
    esac
    /usr/bin/time -f '%U %S' -o "$work/cpu" "${cmd[@]}" | sed -n 1p
    awk '{ printf "    CPU %.2f s (user %.2f + system %.2f)\n", $1 + $2, $1, $2 }' "$work/cpu"
}

echo "kernel $(uname -r), $(nproc) cores; contenders: ${contenders[*]}"
for ((r = 1; r <= rounds; r++)); do
    echo "round $r (warm page cache)"
    for c in "${contenders[@]}"; do
        run "$c" random "$file" "$ops" "$inflight"
        if [ "$c" = pollux-pool ]; then run pollux-pool-owned random "$file" "$ops" "$inflight"; fi
    done
    for c in "${contenders[@]}"; do run "$c" seq "$file"; done
    for c in "${contenders[@]}"; do run "$c" meta "$work/many" "$files" "$inflight"; done
done

if (sync && echo 3 >/proc/sys/vm/drop_caches) 2>/dev/null; then
    cold_ops=$((ops / 10))
    echo "cold page cache (echo 3 > /proc/sys/vm/drop_caches before each): $cold_ops random reads"
    for c in "${contenders[@]}"; do
        sync
        echo 3 >/proc/sys/vm/drop_caches
        run "$c" random "$file" "$cold_ops" "$inflight"
    done
else
    echo "cold page cache: not measured (/proc/sys/vm/drop_caches cannot be written here)"
fi
