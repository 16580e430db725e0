#!/usr/bin/env python3
"""scripts/demo run as a newcomer would, without a terminal.

    demo.py --work-dir DIR

1. scripts/demo --no-build (PGVIGIL_BINARY, free ports) in its own session;
   its output must list pgvigil, Alertmanager and Prometheus and the things
   to try.
2. The printed "Kill the primary" command is run as printed. PostgresDown for
   target primary must reach the demo's Alertmanager (GET /api/v2/alerts)
   with its evidence (the reason, the connection error) and its runbook link;
   Prometheus must have loaded the same rule from `pgvigil rules`.
3. SIGINT to the demo's process group, as Ctrl-C in a terminal sends it: the
   demo exits within 60 s, every process it printed is gone, its ports are
   closed, its PostgreSQL servers stopped and its directory removed.

Python 3 standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))
from stack import E2EError, free_port, http_get, install_signal_exit, log, wait_until  # noqa: E402

START_TIMEOUT = 120.0  # the fixture, three servers, install-deps' check
ALERT_TIMEOUT = 60.0   # PostgresDown's demo `for` is 10 s
STOP_TIMEOUT = 60.0


def port_open(address: str) -> bool:
    host, port = address.rsplit(":", 1)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1)
        return s.connect_ex((host, int(port))) == 0


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is as good as gone (its parent, the demo, may be gone too).
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def one(pattern: str, text: str, what: str) -> str:
    match = re.search(pattern, text, re.M)
    if not match:
        raise E2EError(f"the demo did not print {what}:\n{text}")
    return match.group(1)


class Demo:
    def __init__(self, work_dir: Path):
        self.work_dir = work_dir
        self.source = Path(os.environ.get("PGVIGIL_SOURCE_DIR", ".")).resolve()
        self.fixture = os.environ["PGVIGIL_FIXTURE"]
        self.output_path = work_dir / "demo.out"
        self.ports = {"pgvigil": free_port(), "prometheus": free_port(),
                      "alertmanager": free_port()}
        self.process: subprocess.Popen | None = None
        self.demo_dir: Path | None = None

    def output(self) -> str:
        return self.output_path.read_text(errors="replace")

    def start(self) -> None:
        env = dict(os.environ,
                   PGVIGIL_DEMO_LISTEN=f"127.0.0.1:{self.ports['pgvigil']}",
                   PGVIGIL_DEMO_PROMETHEUS_LISTEN=f"127.0.0.1:{self.ports['prometheus']}",
                   PGVIGIL_DEMO_ALERTMANAGER_LISTEN=f"127.0.0.1:{self.ports['alertmanager']}",
                   TMPDIR=str(self.work_dir))
        with open(self.output_path, "wb") as out:
            self.process = subprocess.Popen(
                ["bash", str(self.source / "scripts/demo"), "--no-build"], stdout=out,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                start_new_session=True, cwd=self.work_dir)
        with open(self.work_dir / "pids", "a") as pids:  # the shell trap's last resort
            pids.write(f"{self.process.pid}\n")
        log(f"scripts/demo pid {self.process.pid}")

        def ready() -> bool:
            if self.process.poll() is not None:
                raise E2EError(f"the demo exited with {self.process.returncode}:\n{self.output()}")
            return "Press Ctrl-C" in self.output()

        wait_until(ready, START_TIMEOUT, "the demo's instructions")
        self.demo_dir = Path(one(r"every demo file \((.+)\) is then removed", self.output(),
                                 "its directory"))

    def interrupt(self) -> int:
        assert self.process
        os.killpg(self.process.pid, signal.SIGINT)  # what Ctrl-C does
        try:
            return self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise E2EError(f"the demo did not stop within {STOP_TIMEOUT:.0f}s of SIGINT") from None

    def close(self) -> None:
        """Whatever the test left: the demo's group, then its cluster and files."""
        if self.process and self.process.poll() is None:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(self.process.pid, sig)
                    self.process.wait(timeout=20)
                    break
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    continue
        if self.demo_dir and (self.demo_dir / "cluster").exists():
            subprocess.run([self.fixture, "stop", str(self.demo_dir / "cluster")],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)


def run(work_dir: Path) -> None:
    demo = Demo(work_dir)
    try:
        started = time.monotonic()
        demo.start()
        out = demo.output()
        log(f"the demo is up after {time.monotonic() - started:.1f}s")
        am = one(r"^\s+(http://\S+)/\s+Alertmanager", out, "Alertmanager's URL")
        prom = one(r"^\s+(http://\S+)/alerts\s+Prometheus", out, "Prometheus's URL")
        pids = {name: int(one(rf"{name} \S*\(pid (\d+)\)", out, f"{name}'s pid"))
                for name in ("pgvigil is running", "Alertmanager", "Prometheus")}
        servers = re.findall(r"^\s+(?:primary|replica)\s+(127\.0\.0\.1:\d+)", out, re.M)
        if len(servers) != 2:
            raise E2EError(f"the demo did not print the two servers:\n{out}")
        for name in ("PostgresDown", "PostgresIdleInTransaction", "PostgresReplicationLag"):
            if f"-> {name}" not in out:
                raise E2EError(f"the demo names no thing to try that fires {name}:\n{out}")

        # Prometheus has the exported rules.
        _, body = http_get(f"{prom}/api/v1/rules")
        if '"name":"PostgresDown"' not in body:
            raise E2EError(f"Prometheus did not load PostgresDown: {body[:500]}")

        kill = one(r"^1\. Kill the primary.*\n(?:.*\n)*?\s{5}(\S.* kill .*)$", out,
                   "the command that kills the primary")
        log(f"following the demo: {kill}")
        subprocess.run(["bash", "-c", kill], check=True, timeout=60)
        killed = time.monotonic()

        query = urllib.parse.urlencode({"filter": 'alertname="PostgresDown"'})

        def delivered() -> dict | None:
            status, body = http_get(f"{am}/api/v2/alerts?{query}")
            if status != 200:
                raise E2EError(f"Alertmanager: HTTP {status}")
            for alert in json.loads(body):
                if alert["labels"].get("target") == "primary" and \
                        alert["status"]["state"] == "active":
                    return alert
            return None

        alert = wait_until(delivered, ALERT_TIMEOUT, "PostgresDown at the demo's Alertmanager")
        log(f"PostgresDown reached Alertmanager {time.monotonic() - killed:.1f}s after the kill")
        evidence = alert["annotations"].get("evidence", "")
        if "reason: refused" not in evidence or "Connection refused" not in evidence:
            raise E2EError(f"PostgresDown's evidence lacks the reason and the error:\n{evidence}")
        if alert["labels"].get("reason") != "refused":
            raise E2EError(f"PostgresDown's reason label: {alert['labels']}")
        runbook = alert["annotations"].get("runbook_url", "")
        if not runbook.endswith("/runbooks/PostgresDown.md") or http_get(runbook)[0] != 200:
            raise E2EError(f"PostgresDown's runbook_url does not serve its page: {runbook}")

        code = demo.interrupt()
        log(f"the demo exited with {code} after SIGINT")
        if code not in (0, 130):
            raise E2EError(f"the demo exited with {code} after SIGINT:\n{demo.output()[-3000:]}")
        left = [name for name, pid in pids.items() if pid_alive(pid)]
        left += [address for address in
                 [f"127.0.0.1:{port}" for port in demo.ports.values()] + servers
                 if port_open(address)]
        if demo.demo_dir and demo.demo_dir.exists():
            left.append(str(demo.demo_dir))
        if left:
            raise E2EError(f"the demo left behind: {', '.join(left)}")
    finally:
        demo.close()
    log("demo: OK")


def main() -> int:
    install_signal_exit()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work-dir", required=True, type=Path)
    args = parser.parse_args()
    try:
        run(args.work_dir.resolve())
    except (E2EError, subprocess.SubprocessError) as error:
        print(f"demo: FAIL: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
