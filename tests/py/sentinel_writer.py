"""Writes through redis-py's Sentinel client for a while; prints how it went.

Usage: sentinel_writer.py SENTINEL_PORT[,SENTINEL_PORT...] SECONDS
Output, last line: ok <n> errors <n> gap <seconds|None> master now ('<ip>', <port>)
"""
import sys, time, redis
from redis.sentinel import Sentinel
s = Sentinel([("127.0.0.1", int(p)) for p in sys.argv[1].split(",")], socket_timeout=0.5)
print("master:", s.discover_master("mymaster"), flush=True)
m = s.master_for("mymaster", socket_timeout=0.5)
ok = 0; errors = 0; start = time.time(); first_err = None; recovered = None
while time.time() - start < float(sys.argv[2]):
    try:
        m.set("k%d" % ok, ok); ok += 1
        if first_err and not recovered: recovered = time.time()
    except Exception as e:
        errors += 1
        if not first_err: first_err = time.time()
    time.sleep(0.01)
print("ok", ok, "errors", errors, "gap", (recovered - first_err) if first_err and recovered else None, "master now", s.discover_master("mymaster"))
