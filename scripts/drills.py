#!/usr/bin/env python3
"""Every `vigil drill` scenario against the local group of `vigil up`, side by side with the same
drills against Debian's redis-server + Redis Sentinel (`vigil up --redis`), in one run.

For each flavour a fresh group is started (release binaries, down-after 1000 ms, default
failover-timeout), then the scenarios run one after the other on it (each drill leaves the group
whole: a killed master is started again and rejoins as a replica). Prints one Markdown table
with both flavours per scenario, and writes every drill's JSON to --out.

Usage: python3 scripts/drills.py [--wait 1] [--min-replicas-to-write N] [--flavors vigil,redis]
                                  [--scenarios kill-master,...] [--out drills.json]
Needs: redis-server (Debian); builds the release binaries first.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# kill-leader last: a Redis Sentinel that voted for a leader that died waits 2 x failover-timeout
# (6 minutes by default) before it tries itself, so no failover follows it for a while.
SCENARIOS = ["kill-master", "pause-master", "partition-master", "partition-master-from-sentinels",
             "restart-master", "kill-replica", "slow-links", "kill-leader"]


def up(vigil, flavor, work):
    args = [vigil, "up", "--port", "0", "--sentinel-port", "0", "--down-after-ms", "1000", "--dir", work]
    if flavor == "redis":
        args.append("--redis")
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in p.stdout:
        if line.startswith("ready."):
            return p
    raise SystemExit(f"vigil up --{flavor} did not start: see {work}")


def drill(vigil, work, scenario, extra):
    r = subprocess.run([vigil, "drill", scenario, "--dir", work, "--json", *extra],
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        print(f"  {scenario}: failed: {r.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    return json.loads(r.stdout.strip().splitlines()[-1])


def cell(v):
    return "-" if v is None else str(v)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--wait", type=int, default=1)
    ap.add_argument("--min-replicas-to-write", type=int)
    ap.add_argument("--flavors", default="vigil,redis")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--out", default="drills.json")
    a = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--workspace", "--bins"], cwd=ROOT, check=True)
    vigil = os.path.join(ROOT, "target", "release", "vigil")
    extra = ["--wait", str(a.wait)]
    if a.min_replicas_to_write is not None:
        extra += ["--min-replicas-to-write", str(a.min_replicas_to_write)]
    results = {}
    for flavor in a.flavors.split(","):
        with tempfile.TemporaryDirectory(prefix=f"drills-{flavor}-") as work:
            group = up(vigil, flavor, work)
            # Keep draining vigil up's output so it never blocks on a full pipe.
            drain = subprocess.Popen(["cat"], stdin=group.stdout, stdout=subprocess.DEVNULL)
            try:
                for s in a.scenarios.split(","):
                    print(f"{flavor}: {s} ...", file=sys.stderr)
                    results[(flavor, s)] = drill(vigil, work, s, extra)
            finally:
                group.send_signal(signal.SIGINT)
                group.wait(timeout=60)
                drain.wait(timeout=10)
    with open(a.out, "w") as f:
        json.dump({f"{k[0]}/{k[1]}": v for k, v in results.items()}, f, indent=1)
    cols = ["sdown_ms", "switch_ms", "failovers", "unavailable_ms", "acknowledged", "lost", "split_brain_ms",
            "rejoin_ms"]
    flavors = a.flavors.split(",")
    print(f"| scenario | flavour | {' | '.join(cols)} |")
    print("|---|---|" + "---:|" * len(cols))
    for s in a.scenarios.split(","):
        for flavor in flavors:
            r = results.get((flavor, s))
            vals = [cell(r.get(c)) for c in cols] if r else ["failed"] + [""] * (len(cols) - 1)
            print(f"| {s} | {flavor} | {' | '.join(vals)} |")


if __name__ == "__main__":
    main()
