#!/usr/bin/env bash
# Where an echo server's instructions per round trip go: runs SERVER under
# callgrind (--dump-instr=yes) for N1 and N2 paced round trips, exactly as
# deterministic.sh does, and prints each function's self cost per round
# trip (N2 minus N1, divided by N2 - N1), largest first. The two profiles
# stay in $RESULTS/profile-SERVER-N.cg for callgrind_annotate or
# kcachegrind.
#
# Usage: bench/echo/profile.sh SERVER [--conns 1] [--n1 200] [--n2 1200]
#                              [--pace-us 2000] [--shape pingpong] [--top 30]
#   --shape sweep: the load generator's sweep shape (deterministic.sh's
#   sweep and wide cases, with --pace-us 0 and --conns 8 or 1000).
#   SERVER: asio_echo_server, tokio_echo_server, echo_server_coro,
#           echo_server_poll or echo_server_callback.
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/echo/common.sh

server=${1:-}
[ $# -gt 0 ] && shift
conns=1 n1=200 n2=1200 pace_us=2000 shape=pingpong top=30
while [ $# -gt 0 ]; do
    case $1 in
    --conns) conns=$2; shift 2 ;;
    --n1) n1=$2; shift 2 ;;
    --n2) n2=$2; shift 2 ;;
    --pace-us) pace_us=$2; shift 2 ;;
    --shape) shape=$2; shift 2 ;;
    --top) top=$2; shift 2 ;;
    *) server="" ; break ;;
    esac
done
known=0
for s in "${ECHO_SERVERS[@]}"; do
    [ "$s" = "$server" ] && known=1
done
if [ "$known" = 0 ]; then
    echo "usage: $0 SERVER [--conns N] [--n1 N] [--n2 N] [--pace-us U] [--shape S] [--top K]" >&2
    echo "  SERVER: ${ECHO_SERVERS[*]}" >&2
    exit 2
fi

echo_build
RESULTS=${RESULTS:-$BUILD/bench-results}
mkdir -p "$RESULTS"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pollux-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

for n in "$n1" "$n2"; do
    out=$RESULTS/profile-$server-$n.cg
    start_server "$tmp/stdout" valgrind --tool=callgrind --dump-instr=yes \
        --log-file="$tmp/log" --callgrind-out-file="$out" "$(echo_server_path "$server")" --port 0
    "$BUILD/samples/echo_client" --port "$PORT" --conns "$conns" --bytes 64 --round-trips "$n" \
        --pace-us "$pace_us" --shape "$shape" >/dev/null
    stop_server
    callgrind_annotate --threshold=100 "$out" >"$tmp/$n.txt"
done
python3 - "$tmp/$n1.txt" "$tmp/$n2.txt" "$((n2 - n1))" "$top" <<'PY'
import re, sys
def load(path):
    costs = {}
    for line in open(path):
        m = re.match(r"^\s*([\d,]+)\s+\([^)]*\)\s+(.*)$", line)
        if m and "PROGRAM TOTALS" not in line:
            name = m.group(2).strip()
            costs[name] = costs.get(name, 0) + int(m.group(1).replace(",", ""))
    return costs
a, b = load(sys.argv[1]), load(sys.argv[2])
d, top = int(sys.argv[3]), int(sys.argv[4])
rows = sorted(((b.get(k, 0) - a.get(k, 0)) / d, k) for k in set(a) | set(b))[::-1]
print(f"{'instr/RT':>9}  function (self cost)")
print(f"{sum(c for c, _ in rows):9.1f}  TOTAL")
for cost, name in rows[:top]:
    print(f"{cost:9.1f}  {name[:150]}")
PY
