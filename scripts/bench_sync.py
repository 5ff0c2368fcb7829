#!/usr/bin/env python3
"""Full-sync benchmark: time for a fresh replica to copy a populated master, Vigil vs Redis.

For each pair (vigil-node -> vigil-node, redis-server -> redis-server), in the same run: start a
master, load N small keys, start a replica pointed at it, and time from the replica's start until
it reports `master_link_status:up` with all N keys. redis-server runs with
`--repl-diskless-sync-delay 0` (otherwise it waits 5 s on purpose). Also reports the master's
pause to mark the snapshot point as vigil-node logs it (the serialisation itself runs with
writes going on, shard by shard, copy on write).

Usage: python3 scripts/bench_sync.py [--keys 1000000] [--reps 3]
"""

import argparse
import contextlib
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_node import ROOT, free_port, load_keys, wait_ping, build_release  # noqa: E402


def info(port, section):
    out = subprocess.run(["redis-cli", "-p", str(port), "INFO", section], capture_output=True, text=True).stdout
    return dict(l.split(":", 1) for l in out.splitlines() if ":" in l)


def dbsize(port):
    out = subprocess.run(["redis-cli", "-p", str(port), "DBSIZE"], capture_output=True, text=True).stdout.strip()
    return int(out) if out.isdigit() else -1


def start(kind, port, work, replicaof=None, log=None):
    if kind == "vigil":
        exe = os.path.join(ROOT, "target", "release", "vigil-node")
        args = [exe, "--port", str(port), "--loglevel", "notice"]
        if replicaof:
            args += ["--set", f"replicaof=127.0.0.1 {replicaof}"]
    else:
        args = ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no", "--dir", work,
                "--repl-diskless-sync-delay", "0", "--dbfilename", f"dump-{port}.rdb"]
        if replicaof:
            args += ["--replicaof", "127.0.0.1", str(replicaof)]
    return subprocess.Popen(args, stdout=log or subprocess.DEVNULL, stderr=subprocess.STDOUT)


@contextlib.contextmanager
def master_and_replica(kind, work):
    """A master and one replica of `kind` on free ports, the replica's link up; yields
    (master port, replica port) and stops both afterwards."""
    mport, rport = free_port(), free_port()
    master = start(kind, mport, work)
    replica = None
    try:
        wait_ping(mport)
        replica = start(kind, rport, work, replicaof=mport)
        deadline = time.time() + 30
        while info(rport, "replication").get("master_link_status") != "up":
            if time.time() > deadline:
                raise RuntimeError("replica did not come up")
            time.sleep(0.05)
        yield mport, rport
    finally:
        for p in (replica, master):
            if p:
                p.terminate()
                p.wait()


def one_run(kind, keys, work):
    mport, rport = free_port(), free_port()
    mlog = open(os.path.join(work, f"{kind}-master-{mport}.log"), "w")
    master = start(kind, mport, work, log=mlog)
    replica = None
    try:
        wait_ping(mport)
        load_keys(mport, keys)
        t0 = time.time()
        replica = start(kind, rport, work, replicaof=mport)
        while True:
            if time.time() - t0 > 300:
                raise RuntimeError("replica did not sync within 300 s")
            try:
                if info(rport, "replication").get("master_link_status") == "up" and dbsize(rport) == keys:
                    break
            except Exception:
                pass
            time.sleep(0.01)
        elapsed = time.time() - t0
    finally:
        for p in (replica, master):
            if p:
                p.terminate()
                p.wait()
        mlog.close()
    pause = None
    if kind == "vigil":
        text = open(mlog.name).read()
        m = re.search(r"full resync: snapshot.*paused_us=(\d+)", text)
        if m:
            pause = int(m.group(1))
    return elapsed, pause


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=1000000)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    build_release("vigil-node")
    work = tempfile.mkdtemp(prefix="vigil-sync-")
    res = {"vigil": [], "redis": []}
    pauses = []
    for rep in range(args.reps):
        for kind in ("redis", "vigil"):
            print(f"  rep {rep + 1}/{args.reps}: {kind}", file=sys.stderr, flush=True)
            t, pause = one_run(kind, args.keys, work)
            res[kind].append(t)
            if pause is not None:
                pauses.append(pause)
    v, r = statistics.median(res["vigil"]), statistics.median(res["redis"])
    print(f"| full sync of {args.keys} keys | vigil s | redis s | ratio |")
    print("|---|---:|---:|---:|")
    print(f"| median of {args.reps} | {v:.2f} | {r:.2f} | {v / r:.2f} |")
    print(f"| all runs | {', '.join(f'{x:.2f}' for x in res['vigil'])} | {', '.join(f'{x:.2f}' for x in res['redis'])} | |")
    if pauses:
        print(f"\nvigil master pause to mark the snapshot point (all shards locked): {', '.join(str(p) for p in pauses)} µs")


if __name__ == "__main__":
    main()
