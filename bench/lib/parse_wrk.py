#!/usr/bin/env python3
"""Reads `wrk --latency` output on stdin; prints one line with five fields:

    REQUESTS_PER_S P50_MS P99_MS REQUESTS ERRORS      e.g. "142.1 66.00 160.00 2850 0"

errors counts socket errors (connect, read, write, timeout) plus non-2xx/3xx
responses. A value wrk did not print comes out as "n/a".
"""
import re
import sys

UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}


def to_ms(text):
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m|h)", text)
    if not m:
        return None
    return float(m.group(1)) * UNITS_MS[m.group(2)]


def main():
    out = sys.stdin.read()
    values = {"rps": "n/a", "p50_ms": "n/a", "p99_ms": "n/a", "requests": "n/a", "errors": "0"}
    m = re.search(r"^Requests/sec:\s+([0-9.]+)", out, re.M)
    if m:
        values["rps"] = "%.1f" % float(m.group(1))
    m = re.search(r"^\s*([0-9]+) requests in ", out, re.M)
    if m:
        values["requests"] = m.group(1)
    for pct, key in (("50", "p50_ms"), ("99", "p99_ms")):
        m = re.search(r"^\s*%s(?:\.000)?%%\s+(\S+)" % pct, out, re.M)
        if m:
            ms = to_ms(m.group(1))
            if ms is not None:
                values[key] = "%.2f" % ms
    errors = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errors += sum(int(g) for g in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        errors += int(m.group(1))
    values["errors"] = str(errors)
    print(" ".join(values.values()))


if __name__ == "__main__":
    main()
