#!/usr/bin/env python3
"""Failover time: vigil-sentinel against Redis Sentinel, same topology and settings, same run.

Topology per run: a redis-server master with two redis-server replicas (the same data nodes for
both kinds, so only the sentinels differ) and one sentinel (quorum 1) or three (quorum 2: a
vigil-sentinel group over gRPC, or three Redis Sentinels), down-after 1000 ms. A client asks
the first sentinel for the master every 10 ms and writes. We `kill -9` the master and measure
the time until the client's first successful write on the new master, then watch the first
sentinel for a few more seconds and count any second `+switch-master` (a second failover of
the freshly promoted master). Runs alternate between the two kinds; reports median and max.

Usage: python3 scripts/bench_failover.py [--runs 10] [--sentinels 1|3]
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


def sentinel(kind, port, master_port, work, quorum, grpc=None, peers=()):
    if kind == "vigil":
        exe = os.path.join(ROOT, "target", "release", "vigil-sentinel")
        d = tempfile.mkdtemp(dir=work)
        args = [exe, "--port", str(port), "--dir", d, "--monitor", "mymaster", "127.0.0.1", str(master_port),
                str(quorum), "--down-after-ms", "1000", "--failover-timeout-ms", "30000"]
        if grpc:
            args += ["--grpc-port", str(grpc)]
            for p in peers:
                args += ["--peer", f"127.0.0.1:{p}"]
    else:
        conf = os.path.join(work, f"sentinel-{port}.conf")
        with open(conf, "w") as f:
            f.write(f"port {port}\nbind 127.0.0.1\ndir {work}\n"
                    f"sentinel monitor mymaster 127.0.0.1 {master_port} {quorum}\n"
                    "sentinel down-after-milliseconds mymaster 1000\n"
                    "sentinel failover-timeout mymaster 30000\n")
        args = ["redis-server", conf, "--sentinel"]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def raw_reply(port, *args):
    """Sends one command and returns the whole reply (read until the server goes quiet)."""
    with socket.create_connection(("127.0.0.1", port), timeout=0.1) as c:
        out = b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a.encode()) for a in args)
        c.sendall(out)
        data = b""
        while True:
            try:
                chunk = c.recv(65536)
            except socket.timeout:
                return data
            if not chunk:
                return data
            data += chunk


def master_field(sp, field):
    reply = raw_reply(sp, "SENTINEL", "MASTER", "mymaster").split(b"\r\n")
    for i, line in enumerate(reply):
        if line == field.encode() and i + 2 < len(reply):
            return reply[i + 2].decode()
    return None


def subscribe_switches(sp):
    """A connection subscribed to +switch-master on sentinel `sp`."""
    c = socket.create_connection(("127.0.0.1", sp), timeout=0.2)
    c.sendall(b"*2\r\n$9\r\nSUBSCRIBE\r\n$14\r\n+switch-master\r\n")
    return c


def switches(c, seconds):
    """Reads `c` for `seconds` more; returns how many +switch-master messages it got in all."""
    data = b""
    end = time.time() + seconds
    while time.time() < end:
        try:
            data += c.recv(4096)
        except socket.timeout:
            pass
    c.close()
    return data.count(b"$14\r\n+switch-master\r\n") - 1  # minus the subscribe confirmation


def linked(port):
    try:
        return "master_link_status:up" in Conn(port).cmd("INFO", "replication").decode()
    except OSError:
        return False


def one_run(kind, work, n):
    mp, r1p, r2p = free_port(), free_port(), free_port()
    sps = [free_port() for _ in range(n)]
    grpcs = [free_port() for _ in range(n)] if (kind == "vigil" and n > 1) else [None] * n
    quorum = n // 2 + 1
    sp = sps[0]
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
        for i in range(n):
            peers = [grpcs[j] for j in range(n) if j != i] if grpcs[i] else ()
            procs.append(sentinel(kind, sps[i], mp, work, quorum, grpcs[i], peers))
        for p in sps:
            wait_ping(p)
        # Let every sentinel discover the replicas and the other sentinels.
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if all(master_field(p, "num-slaves") == "2" and master_field(p, "num-other-sentinels") == str(n - 1)
                       for p in sps):
                    break
            except OSError:
                pass
            time.sleep(0.1)
        else:
            raise RuntimeError("the sentinels did not settle")
        time.sleep(1.0)
        watch = subscribe_switches(sp)
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
                            took = time.perf_counter() - killed
                            # Every +switch-master from the kill to 5 s after the first write:
                            # more than one is a second failover.
                            return took, switches(watch, 5.0)
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
    ap.add_argument("--sentinels", type=int, default=1, choices=[1, 3])
    args = ap.parse_args()
    build_release("vigil-sentinel")
    work = tempfile.mkdtemp(prefix="vigil-failover-")
    res = {"redis": [], "vigil": []}
    second = {"redis": 0, "vigil": 0}
    for i in range(args.runs):
        for kind in ("redis", "vigil"):
            t, extra = one_run(kind, work, args.sentinels)
            print(f"  run {i + 1}/{args.runs} {kind}: {t:.2f} s, +switch-master seen {extra}", file=sys.stderr,
                  flush=True)
            res[kind].append(t)
            second[kind] += int(extra > 1)
    print(f"{args.sentinels} sentinel(s) each side")
    print("| kill -9 to first write on the new master | median s | max s | second failovers | runs |")
    print("|---|---:|---:|---:|---|")
    for kind in ("redis", "vigil"):
        v = res[kind]
        print(f"| {kind}-sentinel | {statistics.median(v):.2f} | {max(v):.2f} | {second[kind]}/{len(v)} | "
              f"{', '.join(f'{x:.2f}' for x in v)} |")
    print(f"\nratio of medians vigil/redis: {statistics.median(res['vigil']) / statistics.median(res['redis']):.2f}")


if __name__ == "__main__":
    main()
