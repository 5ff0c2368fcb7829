#!/usr/bin/env python3
"""SET + WAIT 1 round trips: vigil-node against redis-server, same run.

A master with one replica of the same kind on loopback; one client sends `SET k<i> v` then
`WAIT 1 1000`, one pair at a time (what `vigil drill --wait 1` does), and we time each pair.
Runs alternate between the two kinds; reports pairs per second and the p50/p99/max of a pair
(medians over the runs).

Why: the drill tables count acknowledged writes over drills of different lengths (Redis's
drills last longer: slower failovers, 5-16 s rejoins), which once read as "Redis acknowledges
3x more SET + WAIT 1 pairs". This measures the rate itself.

Usage: python3 scripts/bench_wait.py [--pairs 5000] [--runs 3]
Needs: redis-server (Debian); builds vigil-node in release mode first.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_node import build_release  # noqa: E402
from bench_lag import Conn  # noqa: E402
from bench_sync import master_and_replica  # noqa: E402


def one_run(kind, pairs, work):
    with master_and_replica(kind, work) as (mport, _):
        c = Conn(mport)
        # Warm up: the first WAIT after the link comes up can take up to a second on Redis (the
        # replica's first ACK); measure the steady state.
        c.cmd("SET", "warm", "up")
        deadline = time.time() + 30
        while c.cmd("WAIT", 1, 100) != b":1":
            if time.time() > deadline:
                raise RuntimeError("the replica never acknowledged")
        lat = []
        began = time.perf_counter()
        for i in range(pairs):
            t0 = time.perf_counter()
            c.cmd("SET", f"k{i}", "v")
            got = c.cmd("WAIT", 1, 1000)
            lat.append(time.perf_counter() - t0)
            if got != b":1":
                raise RuntimeError(f"{kind}: WAIT answered {got!r}")
        elapsed = time.perf_counter() - began
    lat.sort()
    return pairs / elapsed, lat[len(lat) // 2] * 1e6, lat[int(len(lat) * 0.99)] * 1e6, lat[-1] * 1e3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=5000)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    build_release("vigil-node")
    results = {"redis": [], "vigil": []}
    with tempfile.TemporaryDirectory() as work:
        for run in range(a.runs):
            for kind in ("redis", "vigil"):
                r = one_run(kind, a.pairs, work)
                results[kind].append(r)
                print(f"  run {run + 1}/{a.runs} {kind}: {r[0]:.0f} pairs/s, p50 {r[1]:.0f} us, p99 {r[2]:.0f} us, "
                      f"max {r[3]:.1f} ms", flush=True)
    print("| SET + WAIT 1, one client | pairs/s | p50 us | p99 us | max ms | runs (pairs/s) |")
    print("|---|---:|---:|---:|---:|---|")
    for kind in ("redis", "vigil"):
        rs = results[kind]
        med = [statistics.median(x[i] for x in rs) for i in range(4)]
        name = "redis-server" if kind == "redis" else "vigil-node"
        runs = ", ".join(f"{x[0]:.0f}" for x in rs)
        print(f"| {name} | {med[0]:.0f} | {med[1]:.0f} | {med[2]:.0f} | {med[3]:.1f} | {runs} |")
    ratio = statistics.median(x[0] for x in results["vigil"]) / statistics.median(x[0] for x in results["redis"])
    print(f"\nratio of medians vigil/redis (pairs/s): {ratio:.2f}")


if __name__ == "__main__":
    main()
