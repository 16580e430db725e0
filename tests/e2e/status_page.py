#!/usr/bin/env python3
"""The status page in a real headless browser (Debian's chromium).

    status_page.py --work-dir DIR [--screenshot FILE]

1. Fixture primary + replica, pgvigil watching both (PostgresDown's `for`
   shortened to 2s in this config, said here, so the test does not wait 30 s).
2. chromium --dump-dom of `/`: both targets UP with role and version, the
   page fetched nothing but itself, no script; /runbooks/PostgresDown renders
   as HTML in the browser too.
3. The primary's postmaster is killed (SIGKILL). The page, loaded again, shows
   the primary DOWN with its reason (refused) and PostgresDown firing with
   its evidence and a link to its runbook page.
4. chromium --screenshot of that page: a PNG of the window's size (FILE, or
   DIR/status-page.png; docs/status-page.png is one such run).

Python 3 standard library only; tests/e2e/lib/stack.py does the process work.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))
from stack import E2EError, Stack, http_get, install_signal_exit, log, wait_until  # noqa: E402

WINDOW = (1200, 1100)
BROWSER_TIMEOUT = 60.0


class Browser:
    """One headless chromium run per call, each with its own profile in the work dir."""

    def __init__(self, work_dir: Path):
        self.binary = shutil.which("chromium")
        if not self.binary:
            raise E2EError("chromium is missing (Debian package chromium; scripts/install-deps)")
        self.work_dir = work_dir
        self.runs = 0

    def run(self, *args: str) -> str:
        self.runs += 1
        profile = self.work_dir / f"chromium-{self.runs}"
        argv = [self.binary, "--headless", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
                "--disable-extensions", "--disable-background-networking",
                "--hide-scrollbars", f"--user-data-dir={profile}", *args]
        try:
            result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    stdin=subprocess.DEVNULL, text=True,
                                    timeout=BROWSER_TIMEOUT, cwd=self.work_dir)
        except subprocess.TimeoutExpired as error:
            raise E2EError(f"chromium did not finish within {BROWSER_TIMEOUT:.0f}s") from error
        if result.returncode != 0:
            raise E2EError(f"chromium exited {result.returncode}:\n{result.stderr[-2000:]}")
        return result.stdout

    def dom(self, url: str) -> str:
        return self.run("--dump-dom", url)

    def screenshot(self, url: str, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        self.run(f"--screenshot={path}", f"--window-size={WINDOW[0]},{WINDOW[1]}", url)


def expect(text: str, pattern: str, what: str) -> None:
    if not re.search(pattern, text, re.S):
        raise E2EError(f"{what}: /{pattern}/ not in the page:\n{text[:4000]}")


def reject(text: str, pattern: str, what: str) -> None:
    if re.search(pattern, text, re.S):
        raise E2EError(f"{what}: /{pattern}/ is in the page")


def section(dom: str, target: str) -> str:
    match = re.search(rf'<section class="target [a-z]+" id="target-{target}">.*?</section>', dom,
                      re.S)
    if not match:
        raise E2EError(f"no section for target {target} in the page:\n{dom[:4000]}")
    return match.group(0)


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    if len(data) < 24 or data[:8] != b"\x89PNG\r\n\x1a\n":
        raise E2EError(f"{path} is not a PNG")
    return struct.unpack(">II", data[16:24])


def run(work_dir: Path, screenshot: Path) -> None:
    browser = Browser(work_dir)
    with Stack(work_dir) as stack:
        cluster = stack.start_fixture(replica=True)
        log("PostgresDown's `for` is 2s in this config (30s by default)")
        pgvigil = stack.start_pgvigil(stack.pgvigil_config(
            cluster, extra='\n[alerting.rules.PostgresDown]\nfor = "2s"\n'))
        base = f"http://{pgvigil.address}"

        def targets() -> dict[str, dict]:
            status, body = http_get(f"{base}/api/v1/targets")
            if status != 200:
                raise E2EError(f"/api/v1/targets: HTTP {status}")
            return {t["name"]: t for t in json.loads(body)["targets"]}

        wait_until(lambda: all(t["up"] and t["role"] for t in targets().values()), 30,
                   "both targets up with their role")
        # The replication probe's first round is spread over its interval, so "up" can come
        # before the replica's lag is known; the page shows whatever the store has.
        wait_until(lambda: re.search(r'^pg_replication_lag_seconds\{[^}]*target="replica"',
                                     http_get(f"{base}/metrics")[1], re.M), 30,
                   "the replica's lag in /metrics")

        started = time.monotonic()
        dom = browser.dom(f"{base}/")
        log(f"chromium --dump-dom took {time.monotonic() - started:.1f}s")
        expect(dom, r"<title>pgvigil: 2 targets, 0 down", "the title counts the targets")
        expect(dom, r'<meta http-equiv="refresh" content="\d+">', "the page refreshes itself")
        reject(dom, r"<script|<link |<img |src=", "the page loads nothing else")
        primary = section(dom, "primary")
        expect(primary, r'<span class="state">UP</span>', "the primary is up")
        expect(primary, r"<th>role</th><td>primary</td>", "the primary's role")
        expect(primary, r"<th>version</th><td>15\.\d+", "the primary's version")
        replica = section(dom, "replica")
        expect(replica, r"<th>role</th><td>replica</td>", "the replica's role")
        expect(replica, r"<th>replication lag</th><td>[0-9.]+s</td>", "the replica's lag")

        runbook = browser.dom(f"{base}/runbooks/PostgresDown")
        expect(runbook, r"<h1>.*PostgresDown</h1>", "the runbook page renders as HTML")
        expect(runbook, r"<table>", "the runbook's tables are tables")

        log("killing the primary's postmaster (SIGKILL)")
        stack.fixture_command("kill", str(stack.cluster_dir), "primary")

        def primary_down_and_alert_firing() -> bool:
            if targets()["primary"]["up"]:
                return False
            _, body = http_get(f"{base}/api/v1/alerts?alertname=PostgresDown&target=primary")
            alerts = json.loads(body)["alerts"]
            return any(a["state"] == "firing" for a in alerts)

        wait_until(primary_down_and_alert_firing, 30, "primary down and PostgresDown firing")
        dom = browser.dom(f"{base}/")
        primary = section(dom, "primary")
        expect(primary, r'<section class="target down"', "the primary is shown down")
        expect(primary, r'<span class="state">DOWN</span>', "the primary's state")
        expect(primary, r"<strong>Down: refused</strong> since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC",
               "the reason and since when")
        expect(primary, r'href="runbooks/PostgresDown"', "the alert links its runbook page")
        expect(primary, r"PostgresDown.*firing.*critical", "PostgresDown firing")
        expect(primary, r"<pre>[^<]*refused[^<]*</pre>", "the alert's evidence")
        expect(dom, r"<title>pgvigil: 2 targets, 1 down", "the title counts the down target")

        browser.screenshot(f"{base}/", screenshot)
        width, height = png_size(screenshot)
        if (width, height) != WINDOW or screenshot.stat().st_size < 20_000:
            raise E2EError(f"screenshot {screenshot}: {width}x{height}, "
                           f"{screenshot.stat().st_size} bytes; expected {WINDOW} with content")
        log(f"screenshot: {screenshot} ({width}x{height}, {screenshot.stat().st_size} bytes)")
    log("status page: OK")


def main() -> int:
    install_signal_exit()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work-dir", required=True, type=Path)
    parser.add_argument("--screenshot", type=Path, help="where the PNG goes (default WORK_DIR)")
    args = parser.parse_args()
    screenshot = (args.screenshot or args.work_dir / "status-page.png").resolve()
    try:
        run(args.work_dir.resolve(), screenshot)
    except E2EError as error:
        print(f"status_page: FAIL: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
