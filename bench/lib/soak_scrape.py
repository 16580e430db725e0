#!/usr/bin/env python3
"""Scrapes URL once every INTERVAL seconds until killed (or for SECONDS
seconds when given), like Prometheus (one request at a time,
Accept-Encoding: gzip, 5 s timeout). Appends one line per scrape to LOG:

    EPOCH OK PG_UP MS

EPOCH is the Unix time the request started, OK is 1 for a 200 with a body
that parsed and 0 otherwise, PG_UP the sum of all pg_up samples in the body
(the number of targets up; -1 on failure), MS the request's duration.

    soak_scrape.py URL LOG [INTERVAL [SECONDS]]
"""
import gzip
import re
import sys
import time
import urllib.request

PG_UP = re.compile(rb"^pg_up(?:\{[^}]*\})? (\S+)$", re.MULTILINE)


def scrape(url):
    req = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        body = resp.read()
        if resp.status != 200:
            raise RuntimeError("status %d" % resp.status)
        if resp.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
    return int(sum(float(v) for v in PG_UP.findall(body)))


def main():
    url, log = sys.argv[1], sys.argv[2]
    interval = float(sys.argv[3]) if len(sys.argv) > 3 else 1.0
    seconds = float(sys.argv[4]) if len(sys.argv) > 4 else float("inf")
    start = time.monotonic()
    tick = start
    with open(log, "a", buffering=1) as out:
        while tick - start < seconds:
            t = time.time()
            t0 = time.monotonic()
            try:
                up, ok = scrape(url), 1
            except Exception:  # noqa: BLE001 - any failure just counts
                up, ok = -1, 0
            ms = (time.monotonic() - t0) * 1000
            out.write("%.3f %d %d %.1f\n" % (t, ok, up, ms))
            tick += interval
            now = time.monotonic()
            while tick < now:  # a slow scrape: skip the missed ticks, no burst
                tick += interval
            time.sleep(max(0.0, tick - now))


if __name__ == "__main__":
    main()
