#!/usr/bin/env python3
"""Shards agree with Prometheus' hashmod: one file_sd inventory, three shards.

    shard_hashmod.py --work-dir DIR

`pgvigil check-config` prints the targets each shard keeps; a real Prometheus
reads the same file with three jobs, each relabelled with `hashmod` on the
`target` label (modulus 3) and `keep` of its shard (the rule docs/fleet.md
gives). For every shard the two sets must be equal; the shards must be
disjoint and together hold every entry. No PostgreSQL is needed: nothing is
probed (check-config) and Prometheus' scrapes of the addresses may fail.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))
from stack import LOOPBACK, E2EError, Stack, free_port, install_signal_exit, log, wait_until  # noqa: E402

SHARDS = 3
ENTRIES = 60


def pgvigil_shard(stack: Stack, shard: int) -> set[str]:
    config = stack.work_dir / f"shard{shard}.toml"
    config.write_text(f"shards = {SHARDS}\nshard = {shard}\n[[file_sd]]\nfiles = [\"sd/*.json\"]\n")
    result = subprocess.run([stack.binary, "check-config", str(config)], capture_output=True,
                            text=True, timeout=60)
    if result.returncode != 0:
        raise E2EError(f"check-config shard {shard} failed: {result.stderr}")
    _, marker, discovered = result.stdout.partition("# Targets as discovered now")
    if not marker:
        raise E2EError(f"check-config printed no discovered targets:\n{result.stdout}")
    if f"shard {shard} of {SHARDS}" not in discovered.splitlines()[0]:
        raise E2EError(f"check-config does not name the shard: {discovered.splitlines()[0]}")
    return set(re.findall(r"^name = '([^']*)'$", discovered, re.M))


def prometheus_shards(stack: Stack) -> dict[int, set[str]]:
    port = free_port()
    prom_dir = stack.work_dir / "prometheus"
    (prom_dir / "data").mkdir(parents=True, exist_ok=True)
    jobs = ""
    for shard in range(SHARDS):
        jobs += (f"  - job_name: shard{shard}\n"
                 "    file_sd_configs:\n"
                 f"      - files: [{json.dumps(str(stack.work_dir / 'sd' / '*.json'))}]\n"
                 "    relabel_configs:\n"
                 "      - source_labels: [target]\n"
                 f"        modulus: {SHARDS}\n"
                 "        target_label: __tmp_shard\n"
                 "        action: hashmod\n"
                 "      - source_labels: [__tmp_shard]\n"
                 f"        regex: \"{shard}\"\n"
                 "        action: keep\n")
    config = prom_dir / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1m\nscrape_configs:\n" + jobs)
    process = stack.spawn("prometheus", [
        "prometheus", f"--config.file={config}", f"--storage.tsdb.path={prom_dir / 'data'}",
        f"--web.listen-address={LOOPBACK}:{port}", "--log.level=warn"], f"{LOOPBACK}:{port}")
    stack.wait_http(process, "/-/ready", 60)

    def kept() -> dict[int, set[str]] | None:
        import urllib.request
        with urllib.request.urlopen(f"http://{process.address}/api/v1/targets?state=active",
                                    timeout=5) as reply:
            data = json.load(reply)["data"]["activeTargets"]
        out: dict[int, set[str]] = {shard: set() for shard in range(SHARDS)}
        for target in data:
            out[int(target["scrapePool"].removeprefix("shard"))].add(target["labels"]["target"])
        return out if sum(len(names) for names in out.values()) == ENTRIES else None

    return wait_until(kept, 30, "Prometheus lists every discovered target")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work-dir", required=True)
    args = parser.parse_args()
    install_signal_exit()
    with Stack(args.work_dir) as stack:
        (stack.work_dir / "sd").mkdir(exist_ok=True)
        # Names of several shapes: plain, dotted, with a port-like suffix.
        names = [f"db-{i:02d}" if i % 3 else f"orders.eu-{i}:5432" for i in range(ENTRIES)]
        groups = [{"targets": [f"127.0.0.1:{20000 + i}"], "labels": {"target": name}}
                  for i, name in enumerate(names)]
        (stack.work_dir / "sd" / "fleet.json").write_text(json.dumps(groups, indent=1))

        ours = {shard: pgvigil_shard(stack, shard) for shard in range(SHARDS)}
        theirs = prometheus_shards(stack)
        for shard in range(SHARDS):
            log(f"shard {shard}: pgvigil {len(ours[shard])} targets, Prometheus {len(theirs[shard])}")
            if ours[shard] != theirs[shard]:
                raise E2EError(f"shard {shard} differs: only pgvigil {sorted(ours[shard] - theirs[shard])}, "
                               f"only Prometheus {sorted(theirs[shard] - ours[shard])}")
            if not ours[shard]:
                raise E2EError(f"shard {shard} is empty; {ENTRIES} entries should spread over all")
        together = set().union(*ours.values())
        if together != set(names) or sum(len(s) for s in ours.values()) != ENTRIES:
            raise E2EError("the shards do not partition the inventory")
        log(f"all {SHARDS} shards agree with Prometheus' hashmod over {ENTRIES} targets")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except E2EError as error:
        log(f"FAILED: {error}")
        sys.exit(1)
