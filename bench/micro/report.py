#!/usr/bin/env python3
"""Turns pollux_micro's JSON output (run with --benchmark_repetitions) into
the Markdown table of docs/performance.md: the median time of each pollux
figure, its allocations per operation, and its raw-Asio baseline with the
ratio and the target where the issue sets one.

Usage: report.py BENCH.json
"""

import json
import sys

# (label, pollux benchmark, Asio baseline or None, target ratio or None)
ROWS = [
    ("wake and re-poll a task / asio::post", "BM_pollux_wake_repoll", "BM_asio_post", 1.5),
    ("spawn + join an empty task / post + completion", "BM_pollux_spawn_join",
     "BM_asio_post_and_complete", 2.0),
    ("timer arm + fire, 1 ms (time::sleep / steady_timer)", "BM_pollux_timer_arm_fire",
     "BM_asio_timer_arm_fire", None),
    ("steady_timer wait: use_future / plain handler", "BM_pollux_timer_wait_use_future",
     "BM_asio_timer_wait_handler", None),
    ("join of 2 ready futures", "BM_pollux_join_2_ready", None, None),
    ("join_all of 100 ready futures", "BM_pollux_join_all_ready/100", None, None),
    ("join_all of 10,000 ready futures", "BM_pollux_join_all_ready/10000", None, None),
    ("select of 2 (one ready)", "BM_pollux_select_2", None, None),
    ("FuturesUnordered: push + drain 10,000 ready", "BM_pollux_futures_unordered_10000", None,
     None),
    ("mpsc (bounded) send + recv", "BM_pollux_mpsc_send_recv", None, None),
    ("mpsc (unbounded) send + recv", "BM_pollux_mpsc_unbounded_send_recv", None, None),
]


def fmt_time(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} us"
    return f"{ns:.1f} ns"


def main():
    with open(sys.argv[1]) as f:
        data = json.load(f)
    medians = {}
    for b in data["benchmarks"]:
        name = b.get("run_name", b["name"])
        # With repetitions, keep the median aggregate; without, the run itself.
        if b.get("run_type") == "aggregate":
            if b.get("aggregate_name") != "median":
                continue
        elif name in medians:
            continue
        unit = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[b.get("time_unit", "ns")]
        medians[name] = (b["cpu_time"] * unit, b.get("allocs/op"))

    def allocs(v):
        return "-" if v is None else f"{v:.2f}"

    print("| operation | pollux | allocs/op | Asio baseline | allocs/op | ratio | target |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, ours, base, target in ROWS:
        if ours not in medians:
            continue
        t, a = medians[ours]
        if base and base in medians:
            bt, ba = medians[base]
            ratio = t / bt
            goal = f"<= {target}x" if target else "-"
            if target:
                goal += " (met)" if ratio <= target else " (missed)"
            print(f"| {label} | {fmt_time(t)} | {allocs(a)} | {fmt_time(bt)} | {allocs(ba)} "
                  f"| {ratio:.2f} | {goal} |")
        else:
            print(f"| {label} | {fmt_time(t)} | {allocs(a)} | - | - | - | - |")


if __name__ == "__main__":
    main()
