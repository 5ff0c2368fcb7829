#!/usr/bin/env python3
"""Side-by-side benchmark: vigil-node against Debian's redis-server, in the same run.

Starts both servers with the same settings (persistence off), each pinned to CPU 0, and runs
redis-benchmark pinned to CPU 1 against each in turn, alternating, `--reps` times. Reports median
throughput and p99 latency per test and the ratio vigil/redis. Then loads 1,000,000 small keys
into each and reports resident memory per key.

Usage: python3 scripts/bench_node.py [--reps 3] [--requests 200000] [--keys 1000000] [--json out.json]
Needs: redis-server and redis-benchmark (Debian: redis-server, redis-tools), a release build of
vigil-node (built here if missing: cargo build --release -p vigil-node).
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = ["PING_MBULK", "SET", "GET", "INCR", "MSET"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ping(port, deadline=20.0):
    end = time.time() + deadline
    while time.time() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"server on port {port} did not answer PING")


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


_built = set()


def build_release(package):
    """Builds `package` (also its binary's name) in release mode once per run and returns the
    binary's path. Always building (a no-op when up to date) means a stale binary is never
    measured."""
    if package not in _built:
        subprocess.run(["cargo", "build", "--release", "-p", package], cwd=ROOT, check=True)
        _built.add(package)
    return os.path.join(ROOT, "target", "release", package)


def start_vigil(port):
    exe = build_release("vigil-node")
    return subprocess.Popen(["taskset", "-c", "0", exe, "--port", str(port), "--loglevel", "warning"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_redis(port, workdir):
    return subprocess.Popen(["taskset", "-c", "0", "redis-server", "--port", str(port), "--save", "",
                             "--appendonly", "no", "--dir", workdir, "--logfile", "", "--loglevel", "warning"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def bench(port, requests, pipeline):
    cmd = ["taskset", "-c", "1", "redis-benchmark", "-p", str(port), "-c", "50", "-n", str(requests),
           "-P", str(pipeline), "-r", "100000", "-t", ",".join(t.lower().replace("_mbulk", "") for t in TESTS),
           "--csv", "-q"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rows = {}
    for line in out.splitlines():
        parts = [p.strip('"') for p in line.split('","')]
        if len(parts) < 7 or parts[0] == "test":
            continue
        name = parts[0].split(" ")[0]
        rows[name] = {"rps": float(parts[1]), "p99": float(parts[6])}
    return rows


def load_keys(port, n, value=b"0123456789"):
    """Loads n keys key:<i> with a 10-byte value through one pipelined connection."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        batch = 10000
        for start in range(0, n, batch):
            buf = bytearray()
            for i in range(start, min(n, start + batch)):
                k = b"key:%012d" % i
                buf += b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, len(value), value)
            s.sendall(buf)
            want = (min(n, start + batch) - start) * 5
            got = 0
            while got < want:
                chunk = s.recv(1 << 20)
                if not chunk:
                    raise RuntimeError("connection closed while loading")
                got += len(chunk)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--requests", type=int, default=200000)
    ap.add_argument("--keys", type=int, default=1000000)
    ap.add_argument("--json")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="vigil-bench-")
    vport, rport = free_port(), free_port()
    vigil, redis = start_vigil(vport), start_redis(rport, work)
    try:
        wait_ping(vport)
        wait_ping(rport)
        results = {}
        for pipeline in (1, 16):
            samples = {"vigil": [], "redis": []}
            for rep in range(args.reps):
                for name, port in (("redis", rport), ("vigil", vport)):
                    print(f"  -P {pipeline} rep {rep + 1}/{args.reps}: {name}", file=sys.stderr, flush=True)
                    samples[name].append(bench(port, args.requests * (4 if pipeline > 1 else 1), pipeline))
            for test in samples["vigil"][0]:
                v_rps = statistics.median(s[test]["rps"] for s in samples["vigil"])
                r_rps = statistics.median(s[test]["rps"] for s in samples["redis"])
                v_p99 = statistics.median(s[test]["p99"] for s in samples["vigil"])
                r_p99 = statistics.median(s[test]["p99"] for s in samples["redis"])
                results[f"{test} -P {pipeline}"] = {
                    "vigil_rps": v_rps, "redis_rps": r_rps, "rps_ratio": v_rps / r_rps,
                    "vigil_p99_ms": v_p99, "redis_p99_ms": r_p99,
                    "p99_ratio": (v_p99 / r_p99) if r_p99 > 0 else float("nan"),
                }
    finally:
        for p in (vigil, redis):
            p.terminate()
            p.wait()

    # Memory: fresh processes, so memory freed by the throughput runs cannot hide growth.
    mem = {}
    for name, start in (("redis", lambda p: start_redis(p, work)), ("vigil", start_vigil)):
        port = free_port()
        proc = start(port)
        try:
            wait_ping(port)
            before = rss_bytes(proc.pid)
            print(f"  loading {args.keys} keys into {name}", file=sys.stderr, flush=True)
            load_keys(port, args.keys)
            after = rss_bytes(proc.pid)
            mem[name] = (after - before) / args.keys
        finally:
            proc.terminate()
            proc.wait()
    mem["ratio"] = mem["vigil"] / mem["redis"]

    print("| test | vigil rps | redis rps | ratio | vigil p99 ms | redis p99 ms | p99 ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for test, r in results.items():
        print(f"| {test} | {r['vigil_rps']:.0f} | {r['redis_rps']:.0f} | {r['rps_ratio']:.2f} | "
              f"{r['vigil_p99_ms']:.3f} | {r['redis_p99_ms']:.3f} | {r['p99_ratio']:.2f} |")
    print()
    print(f"memory per key ({args.keys} keys, 10-byte values, RSS growth): "
          f"vigil {mem['vigil']:.1f} B, redis {mem['redis']:.1f} B, ratio {mem['ratio']:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"throughput": results, "memory_per_key": mem}, f, indent=2)


if __name__ == "__main__":
    main()
