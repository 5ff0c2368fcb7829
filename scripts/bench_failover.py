#!/usr/bin/env python3
"""Failover time: vigil-sentinel against Redis Sentinel, same topology and settings, same run.

Topology per run: a redis-server master with two redis-server replicas (the same data nodes for
both sentinels, so only the sentinel differs) and one sentinel, quorum 1, down-after 1000 ms.
A client discovers the master through the sentinel and writes every 10 ms. We `kill -9` the
master and measure the time until the client's first successful write on the new master.
Runs alternate between the two sentinels; reports median and max.

Usage: python3 scripts/bench_failover.py [--runs 10]
Needs: redis-server (Debian); builds vigil-sentinel in release mode first.
"""

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_node import ROOT, build_release, free_port, wait_ping  # noqa: E402
from bench_lag import Conn  # noqa: E402


def redis(port, work, replicaof=None):
    args = ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no", "--dir", work,
            "--repl-diskless-sync-delay", "0", "--dbfilename", f"dump-{port}.rdb"]
    if replicaof:
        args += ["--replicaof", "127.0.0.1", str(replicaof)]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def sentinel(kind, port, master_port, work):
    if kind == "vigil":
        exe = os.path.join(ROOT, "target", "release", "vigil-sentinel")
        d = tempfile.mkdtemp(dir=work)
        args = [exe, "--port", str(port), "--dir", d, "--monitor", "mymaster", "127.0.0.1", str(master_port), "1",
                "--down-after-ms", "1000", "--failover-timeout-ms", "30000"]
    else:
        conf = os.path.join(work, f"sentinel-{port}.conf")
        with open(conf, "w") as f:
            f.write(f"port {port}\nbind 127.0.0.1\ndir {work}\n"
                    f"sentinel monitor mymaster 127.0.0.1 {master_port} 1\n"
                    "sentinel down-after-milliseconds mymaster 1000\n"
                    "sentinel failover-timeout mymaster 30000\n")
        args = ["redis-server", conf, "--sentinel"]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def linked(port):
    try:
        return "master_link_status:up" in Conn(port).cmd("INFO", "replication").decode()
    except OSError:
        return False


def one_run(kind, work):
    mp, r1p, r2p, sp = free_port(), free_port(), free_port(), free_port()
    procs = []
    try:
        master = redis(mp, work)
        procs.append(master)
        wait_ping(mp)
        procs += [redis(r1p, work, mp), redis(r2p, work, mp)]
        deadline = time.time() + 20
        while not (linked(r1p) and linked(r2p)):
            if time.time() > deadline:
                raise RuntimeError("replicas did not sync")
            time.sleep(0.05)
        procs.append(sentinel(kind, sp, mp, work))
        wait_ping(sp)
        # Let the sentinel discover the replicas.
        deadline = time.time() + 20
        while True:
            reply = Conn(sp).cmd("SENTINEL", "REPLICAS", "mymaster")
            if reply.startswith(b"*2") or time.time() > deadline:
                break
            time.sleep(0.1)
        time.sleep(1.0)
        os.kill(master.pid, signal.SIGKILL)
        killed = time.perf_counter()
        s = Conn(sp)
        while time.perf_counter() - killed < 60:
            try:
                s.s.sendall(b"*3\r\n$8\r\nSENTINEL\r\n$23\r\nGET-MASTER-ADDR-BY-NAME\r\n$8\r\nmymaster\r\n")
                data = b""
                while data.count(b"\r\n") < 5:
                    data += s.s.recv(4096)
                port = int(data.split(b"\r\n")[4])
                if port != mp:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.5) as c:
                        c.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n")
                        if c.recv(64).startswith(b"+OK"):
                            return time.perf_counter() - killed
            except (OSError, ValueError, IndexError):
                s = Conn(sp)
            time.sleep(0.01)
        raise RuntimeError("no write succeeded within 60 s")
    finally:
        for p in procs:
            p.kill()
            p.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    build_release("vigil-sentinel")
    work = tempfile.mkdtemp(prefix="vigil-failover-")
    res = {"redis": [], "vigil": []}
    for i in range(args.runs):
        for kind in ("redis", "vigil"):
            t = one_run(kind, work)
            print(f"  run {i + 1}/{args.runs} {kind}: {t:.2f} s", file=sys.stderr, flush=True)
            res[kind].append(t)
    print("| kill -9 to first write on the new master | median s | max s | runs |")
    print("|---|---:|---:|---|")
    for kind in ("redis", "vigil"):
        v = res[kind]
        print(f"| {kind}-sentinel | {statistics.median(v):.2f} | {max(v):.2f} | {', '.join(f'{x:.2f}' for x in v)} |")
    print(f"\nratio of medians vigil/redis: {statistics.median(res['vigil']) / statistics.median(res['redis']):.2f}")


if __name__ == "__main__":
    main()
