#!/usr/bin/env bash
# Deterministic process figures, which the machine's load does not move:
# system calls per spawn-and-wait of /bin/true (1 in flight), split into the
# parent's (every thread: a reaper thread counts) and the child's before it
# execs /bin/true; and the parent's system calls per MiB piped through cat.
# Counted with `strace -ff` (one file per thread or process).
#
# Usage: bench/process/syscalls.sh [--spawns N] [--mib M]
#   defaults: 200 spawns, 64 MiB. Run bench/process/run.sh first: it builds
#   the programs into $BUILD (default build-bench).
set -euo pipefail
cd "$(dirname "$0")/../.."

spawns=200 mib=64
while [ $# -gt 0 ]; do
    case $1 in
    --spawns) spawns=$2; shift 2 ;;
    --mib) mib=$2; shift 2 ;;
    *) echo "usage: $0 [--spawns N] [--mib M]" >&2; exit 2 ;;
    esac
done
BUILD=${BUILD:-build-bench}
if ! command -v strace >/dev/null; then
    echo "$0: needs strace" >&2
    exit 1
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pollux-procsys.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# count PROGRAM ARGS...: prints "PARENT CHILD": the system calls of the
# processes that did not exec $EXEC (the program and its threads), and of
# the ones that did, up to that exec.
count() {
    rm -f "$tmp"/t.*
    strace -ff -o "$tmp/t" "$@" >/dev/null
    local parent=0 child=0 f n
    for f in "$tmp"/t.*; do
        n=$(grep -n "^execve(\"[^\"]*/$EXEC\"" "$f" | head -n 1 | cut -d: -f1 || true)
        if [ -n "$n" ]; then
            child=$((child + n - 1))
        else
            parent=$((parent + $(grep -cv '^+++\|^---' "$f")))
        fi
    done
    echo "$parent $child"
}

echo "| program | parent syscalls per spawn | child syscalls before exec | parent syscalls per MiB through cat |"
echo "|---|---:|---:|---:|"
for p in libuv:bench/libuv_process_bench tokio:tokio/release/tokio_process_bench \
    "pollux futures:bench/pollux_process_bench" "pollux uv:bench/pollux_uv_process_bench"; do
    name=${p%%:*} path=$BUILD/${p#*:}
    [ -x "$path" ] || continue
    read -r sp sc < <(EXEC="true" count "$path" spawn "$spawns" 1)
    read -r pp _ < <(EXEC="cat" count "$path" pipe $((mib << 20)))
    awk -v n="$name" -v sp="$sp" -v sc="$sc" -v pp="$pp" -v s="$spawns" -v m="$mib" \
        'BEGIN { printf "| %s | %.1f | %.1f | %.1f |\n", n, sp / s, sc / s, pp / m }'
done
