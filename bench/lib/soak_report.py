#!/usr/bin/env python3
"""Reads bench/soak's CSV and prints markdown.

    soak_report.py table CSV [EVERY]   per-minute table (every EVERYth minute,
                                       plus the first and the last)
    soak_report.py summary CSV         first/last/max per column and the verdict

Verdict (the rule bench/soak's header states): the baseline is the median of
minutes 5..15, the tail the median of the last 10 minutes. A column grows
when its tail exceeds the baseline by more than its tolerance: RSS 10 % of
the baseline; fds, threads and backends max(3, 5 % of the baseline). "no
growth" when no column grows. Needs at least 25 minutes (the two windows must
not overlap); shorter runs get no verdict.
"""
import csv
import statistics
import sys

COLUMNS = [  # (csv column, label in the table)
    ("rss_mb", "RSS MB"),
    ("fds", "fds"),
    ("threads", "threads"),
    ("backends", "backends"),
    ("pg_up", "pg_up"),
    ("pg_up_min", "pg_up min"),
    ("scrapes", "scrapes"),
    ("scrape_failures", "scrape failures"),
    ("cpu_s", "CPU s"),
]
WATCHED = {  # column -> tolerance(baseline)
    "rss_mb": lambda b: 0.10 * b,
    "fds": lambda b: max(3.0, 0.05 * b),
    "threads": lambda b: max(3.0, 0.05 * b),
    "backends": lambda b: max(3.0, 0.05 * b),
}
MIN_MINUTES = 25


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def fmt(v, col=""):
    if v is None:
        return "n/a"
    if col in ("rss_mb", "cpu_s"):
        return "%.1f" % v
    return ("%.1f" % v) if v != int(v) else "%d" % v


def table(data, every):
    head = ["minute", "restarted before the sample"] + [label for _, label in COLUMNS]
    out = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    last = int(data[-1]["minute"]) if data else 0
    for r in data:
        m = int(r["minute"])
        if every > 1 and m % every and m not in (0, 1, last):
            continue
        cells = [r["minute"], r["restarted"] or "-"] + [r[c] for c, _ in COLUMNS]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def summary(data):
    out = []
    parts = []
    for col, label in COLUMNS:
        if col == "cpu_s":
            continue
        vals = [num(r[col]) for r in data]
        vals = [v for v in vals if v is not None]
        if not vals:
            parts.append("%s n/a" % label)
            continue
        extra = " min %s" % fmt(min(vals)) if col.startswith("pg_up") else ""
        if col in ("scrapes", "scrape_failures"):
            parts.append("%s total %s" % (label, fmt(sum(vals[1:]))))  # row 0 has no window
        else:
            parts.append("%s first %s last %s max %s%s" % (label, fmt(vals[0], col), fmt(vals[-1], col),
                                                             fmt(max(vals), col), extra))
    out.append("; ".join(parts))

    minutes = int(data[-1]["minute"]) if data else 0
    if minutes < MIN_MINUTES:
        out.append("verdict: none (needs at least %d minutes, ran %d)" % (MIN_MINUTES, minutes))
        return "\n".join(out)
    base_rows = [r for r in data if 5 <= int(r["minute"]) <= 15]
    tail_rows = [r for r in data if int(r["minute"]) > minutes - 10]
    grew, notes = [], []
    for col, tol in WATCHED.items():
        b = [num(r[col]) for r in base_rows if num(r[col]) is not None]
        t = [num(r[col]) for r in tail_rows if num(r[col]) is not None]
        if not b or not t:
            grew.append(col + " (no data)")
            continue
        mb, mt = statistics.median(b), statistics.median(t)
        allowed = tol(mb)
        notes.append("%s %s -> %s (+%s allowed)" % (col, fmt(mb, col), fmt(mt, col), fmt(round(allowed, 1))))
        if mt - mb > allowed:
            grew.append(col)
    medians = "; ".join(notes)
    if grew:
        out.append("verdict: GROWTH in %s (medians minutes 5-15 -> last 10: %s)" % (", ".join(grew), medians))
    else:
        out.append("verdict: no growth (medians minutes 5-15 -> last 10: %s)" % medians)
    return "\n".join(out)


def main():
    mode, path = sys.argv[1], sys.argv[2]
    data = rows(path)
    if mode == "table":
        print(table(data, int(sys.argv[3]) if len(sys.argv) > 3 else 1))
    elif mode == "summary":
        print(summary(data))
    else:
        sys.exit("usage: soak_report.py table|summary CSV [EVERY]")


if __name__ == "__main__":
    main()
