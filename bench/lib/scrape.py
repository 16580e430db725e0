#!/usr/bin/env python3
"""Scrapes URL every INTERVAL seconds for SECONDS seconds, like Prometheus
would (one request at a time, Accept-Encoding: gzip). Prints
"scrapes=N failures=M" at the end. Each request is bounded by a 5 s timeout.

    scrape.py URL SECONDS [INTERVAL]
"""
import sys
import time
import urllib.request


def main():
    url = sys.argv[1]
    seconds = float(sys.argv[2])
    interval = float(sys.argv[3]) if len(sys.argv) > 3 else 1.0
    start = time.monotonic()
    scrapes = failures = 0
    tick = start
    while tick - start < seconds:
        try:
            req = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
            with urllib.request.urlopen(req, timeout=5) as resp:
                resp.read()
                if resp.status != 200:
                    failures += 1
        except Exception:  # noqa: BLE001 - any failure just counts
            failures += 1
        scrapes += 1
        tick += interval
        delay = tick - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    print("scrapes=%d failures=%d" % (scrapes, failures))


if __name__ == "__main__":
    main()
