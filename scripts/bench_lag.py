#!/usr/bin/env python3
"""Replica lag under full write load, Vigil vs Redis, in the same run.

For each pair (vigil-node -> vigil-node, redis-server -> redis-server): while redis-benchmark
writes to the master as fast as it can (SET, 50 clients, -P 16), a probe writes `SET probe <i>` on
the master every 10 ms and polls the replica until it shows `<i>`; the time from the master's
acknowledgement to the replica showing the value is one lag sample. Reports p50, p99 and max.

Usage: python3 scripts/bench_lag.py [--seconds 10]
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_node import build_release  # noqa: E402
from bench_sync import master_and_replica  # noqa: E402


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.buf = b""

    def cmd(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.s.sendall(out)
        while b"\r\n" not in self.buf:
            self.buf += self.s.recv(65536)
        line, self.buf = self.buf.split(b"\r\n", 1)
        if line.startswith(b"$") and line != b"$-1":
            n = int(line[1:])
            while len(self.buf) < n + 2:
                self.buf += self.s.recv(65536)
            val, self.buf = self.buf[:n], self.buf[n + 2:]
            return val
        return line


def run(kind, seconds, work):
    with master_and_replica(kind, work) as (mport, rport):
        bench = subprocess.Popen(["redis-benchmark", "-p", str(mport), "-c", "50", "-P", "16", "-t", "set",
                                  "-r", "100000", "-n", "100000000", "-q"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(1)
            m, r = Conn(mport), Conn(rport)
            lags = []
            end = time.time() + seconds
            i = 0
            while time.time() < end:
                i += 1
                m.cmd("SET", "probe", i)
                t0 = time.perf_counter()
                want = str(i).encode()
                while r.cmd("GET", "probe") != want:
                    if time.perf_counter() - t0 > 10:
                        raise RuntimeError("replica stopped following")
                lags.append((time.perf_counter() - t0) * 1000)
                time.sleep(0.01)
            return lags
        finally:
            bench.terminate()
            bench.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    args = ap.parse_args()
    build_release("vigil-node")
    work = tempfile.mkdtemp(prefix="vigil-lag-")
    print("| replica lag under SET -P 16 load | samples | p50 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|---:|")
    for kind in ("redis", "vigil"):
        print(f"  measuring {kind}", file=sys.stderr, flush=True)
        lags = sorted(run(kind, args.seconds, work))
        p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))]
        print(f"| {kind} | {len(lags)} | {statistics.median(lags):.2f} | {p99:.2f} | {lags[-1]:.2f} |")


if __name__ == "__main__":
    main()
