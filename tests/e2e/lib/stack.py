"""Shared end-to-end helpers: the PostgreSQL fixture, pgvigil and Prometheus.

Python 3 standard library only. Everything listens on 127.0.0.1, every wait
is bounded, and Stack.close() (also run on SIGTERM/SIGINT through SystemExit)
stops exactly the processes this module started.

Typical use:

    with Stack(work_dir) as stack:
        cluster = stack.start_fixture(replica=True)
        pgvigil = stack.start_pgvigil(stack.pgvigil_config(cluster))
        prom = stack.start_prometheus([pgvigil.address], rule_files=[...])
        prom.wait_for_scrapes(3)
        prom.query("pg_up")

Every process id this module starts is appended to WORK_DIR/pids, so a shell
trap can still stop them if the Python process itself is killed.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

LOOPBACK = "127.0.0.1"


class E2EError(Exception):
    """A failed step of an end-to-end test, with a message worth printing."""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def install_signal_exit() -> None:
    """Turns SIGTERM/SIGINT into SystemExit so `finally` and `with` clean up."""

    def handler(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def wait_until(predicate: Callable[[], object], timeout: float, what: str,
               interval: float = 0.25) -> object:
    """Polls predicate until it returns something truthy; E2EError after timeout."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except (OSError, E2EError, ValueError) as error:  # not up yet, keep polling
            last_error = error
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error})" if last_error else ""
            raise E2EError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")
        time.sleep(interval)


def http_get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            return reply.status, reply.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace")


def read_cluster_env(path: Path) -> dict[str, str]:
    """Parses the fixture's shell-quoted KEY=VALUE file (printf %q output)."""
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if "=" not in line or line.lstrip().startswith("#"):
            continue
        key, _, raw = line.partition("=")
        words = shlex.split(raw) if raw else []
        env[key.strip()] = words[0] if words else ""
    return env


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log_path: Path
    address: str = ""  # host:port it serves on, when it serves

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])

    def stop(self, grace: float = 10.0) -> None:
        if not self.alive():
            return
        self.popen.terminate()
        try:
            self.popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=5)


@dataclass
class PromQueryResult:
    status: str
    result_type: str = ""
    result: list = field(default_factory=list)
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "success"

    @property
    def has_data(self) -> bool:
        if self.result_type == "scalar":
            return True
        return bool(self.result)


class Prometheus:
    """A Prometheus HTTP API client for the server this module started."""

    def __init__(self, process: Process, job: str):
        self.process = process
        self.job = job
        self.base = f"http://{process.address}"

    def api(self, path: str, params: dict[str, str] | None = None,
            timeout: float = 10.0) -> dict:
        url = f"{self.base}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        status, body = http_get(url, timeout)
        try:
            return json.loads(body)
        except json.JSONDecodeError as error:
            raise E2EError(f"GET {path}: HTTP {status}, not JSON: {body[:200]}") from error

    def query(self, expr: str, at: float | None = None) -> PromQueryResult:
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        reply = self.api("query", params)
        if reply.get("status") != "success":
            return PromQueryResult(status=reply.get("status", "error"),
                                   error=f"{reply.get('errorType', '')}: {reply.get('error', '')}")
        data = reply.get("data", {})
        result = data.get("result", [])
        return PromQueryResult(status="success", result_type=data.get("resultType", ""),
                               result=result if isinstance(result, list) else [result])

    def metric_names(self) -> set[str]:
        reply = self.api("label/__name__/values", {"match[]": f'{{job="{self.job}"}}'})
        return set(reply.get("data", []))

    def rules(self) -> list[dict]:
        """Every rule Prometheus loaded, each with its group name added."""
        reply = self.api("rules")
        rules = []
        for group in reply.get("data", {}).get("groups", []):
            for rule in group.get("rules", []):
                rules.append(dict(rule, group=group.get("name", ""), file=group.get("file", "")))
        return rules

    def alerts(self) -> list[dict]:
        return self.api("alerts").get("data", {}).get("alerts", [])

    def scrapes_of_up(self) -> int:
        """How many samples of `up` the job has in the last 5 minutes."""
        result = self.query(f'count_over_time(up{{job="{self.job}"}}[5m])')
        if not result.ok or not result.result:
            return 0
        return int(float(result.result[0]["value"][1]))

    def wait_for_scrapes(self, count: int, timeout: float = 30.0) -> None:
        def enough():
            healthy = self.query(f'up{{job="{self.job}"}} == 1')
            return healthy.ok and healthy.result and self.scrapes_of_up() >= count

        wait_until(enough, timeout, f"{count} successful scrapes of job {self.job}")


class Stack:
    """Owns a work directory, the fixture cluster and the processes started in it."""

    def __init__(self, work_dir: str | Path, fixture: str | None = None,
                 binary: str | None = None, source_dir: str | None = None):
        self.work_dir = Path(work_dir).resolve()
        self.work_dir.mkdir(parents=True, exist_ok=True)
        # The servers run as the postgres OS user, which must reach the cluster below.
        os.chmod(self.work_dir, 0o711)
        self.fixture = fixture or os.environ.get("PGVIGIL_FIXTURE", "")
        self.binary = binary or os.environ.get("PGVIGIL_BINARY", "")
        self.source_dir = Path(source_dir or os.environ.get("PGVIGIL_SOURCE_DIR", ".")).resolve()
        if not self.fixture or not Path(self.fixture).is_file():
            raise E2EError(f"PGVIGIL_FIXTURE is not a file: '{self.fixture}'")
        if not self.binary or not os.access(self.binary, os.X_OK):
            raise E2EError(f"PGVIGIL_BINARY is not executable: '{self.binary}'")
        self.cluster_dir = self.work_dir / "cluster"
        self.cluster: dict[str, str] | None = None
        self.processes: list[Process] = []

    # ------------------------------------------------------------ lifecycle

    def __enter__(self) -> "Stack":
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def close(self) -> None:
        for process in reversed(self.processes):
            try:
                process.stop()
            except Exception as error:  # keep cleaning up the rest
                log(f"stopping {process.name}: {error}")
        self.processes.clear()
        if self.cluster is not None or self.cluster_dir.exists():
            self.fixture_command("stop", str(self.cluster_dir), check=False)
            self.cluster = None

    def spawn(self, name: str, argv: list[str], address: str = "") -> Process:
        log_path = self.work_dir / f"{name}.log"
        log_file = open(log_path, "ab")
        try:
            popen = subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=self.work_dir)
        finally:
            log_file.close()
        with open(self.work_dir / "pids", "a") as pids:
            pids.write(f"{popen.pid}\n")
        process = Process(name, popen, log_path, address)
        self.processes.append(process)
        return process

    def wait_http(self, process: Process, path: str, timeout: float,
                  accept: Callable[[int, str], bool] = lambda status, _body: status == 200) -> None:
        url = f"http://{process.address}{path}"

        def ready():
            if not process.alive():
                raise E2EError(f"{process.name} exited with {process.popen.returncode}:\n"
                               f"{process.log_tail()}")
            status, body = http_get(url, timeout=2)
            return accept(status, body)

        try:
            wait_until(ready, timeout, f"{process.name} at {url}")
        except E2EError as error:
            raise E2EError(f"{error}\n--- {process.name} log ---\n{process.log_tail()}") from None

    # ------------------------------------------------------------ fixture

    def fixture_command(self, *args: str, check: bool = True, timeout: float = 120) -> None:
        result = subprocess.run([self.fixture, *args], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise E2EError(f"pgcluster {' '.join(args)} failed:\n{result.stdout}")

    def start_fixture(self, replica: bool = True, settings: Iterable[str] = ()) -> dict[str, str]:
        args = ["start", str(self.cluster_dir)]
        if replica:
            args.append("--replica")
        for setting in settings:
            args += ["--set", setting]
        log(f"starting the PostgreSQL fixture ({'primary + replica' if replica else 'primary'})")
        self.cluster = {}  # from here on close() stops it, even if start fails halfway
        self.fixture_command(*args)
        self.cluster = read_cluster_env(self.cluster_dir / "cluster.env")
        return self.cluster

    def psql(self, port: str, sql: str, timeout: float = 30, dbname: str = "postgres") -> str:
        """Runs SQL as the postgres superuser over the fixture's socket."""
        assert self.cluster
        argv = ["/usr/lib/postgresql/15/bin/psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                "-h", self.cluster["SOCKET_DIR"], "-p", port, "-U", "postgres", "-d", dbname,
                "-c", sql]
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, timeout=timeout, cwd="/")
        if result.returncode != 0:
            raise E2EError(f"psql on port {port} failed: {result.stdout.strip()}")
        return result.stdout.strip()

    def psql_session(self, port: str, dbname: str, sql: str) -> Process:
        """A psql session left running in the background (e.g. SELECT pg_sleep(600)).

        It is a client connection pgvigil sees; close() ends it, and so does
        stopping the fixture.
        """
        assert self.cluster
        argv = ["/usr/lib/postgresql/15/bin/psql", "-X", "-q", "-h", self.cluster["SOCKET_DIR"],
                "-p", port, "-U", "postgres", "-d", dbname, "-c", sql]
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        return self.spawn(f"psql-{dbname}", argv)

    # ------------------------------------------------------------ pgvigil

    def pgvigil_config(self, cluster: dict[str, str], listen_port: int | None = None,
                       probe_interval: str = "1s", extra: str = "",
                       backup_glob: str | None = None) -> tuple[Path, int]:
        """Writes a config watching the fixture's primary (and replica, if any).

        Probes run every probe_interval so a few seconds give data for every
        panel. Returns the config path and the port pgvigil will listen on.
        """
        port = listen_port or free_port()
        state = self.work_dir / "state"
        state.mkdir(exist_ok=True)
        probe_names = ["liveness", "activity", "connections", "settings", "locks", "databases",
                       "vacuum", "indexes", "statements", "replication", "slots", "archiver",
                       "bgwriter", "wal", "wait_events", "io", "disk", "backups", "datadir",
                       "logs"]
        probe_defaults = "\n".join(f'[probes.{name}]\ninterval = "{probe_interval}"\n'
                                   for name in probe_names)
        text = f"""# Written by tests/e2e/lib/stack.py.
state_directory = "{state}"

[server]
listen = ["{LOOPBACK}:{port}"]

[log]
level = "info"

{probe_defaults}
[[target]]
name = "primary"
host = "{LOOPBACK}"
port = {cluster["PRIMARY_PORT"]}
user = "pgvigil_monitor"
dbname = "postgres"
password_file = "{cluster["MONITOR_PASSWORD_FILE"]}"
expected_replicas = {1 if cluster.get("REPLICA_PORT") else 0}
labels = {{ cluster = "e2e" }}
"""
        if backup_glob:
            text += f'\n[[target.backup]]\nglob = "{backup_glob}"\n'
        if cluster.get("PRIMARY_LOG"):
            text += f'\n[target.log]\npath = "{cluster["PRIMARY_LOG"]}"\n'
        if cluster.get("REPLICA_PORT"):
            text += f"""
[[target]]
name = "replica"
host = "{LOOPBACK}"
port = {cluster["REPLICA_PORT"]}
user = "pgvigil_monitor"
dbname = "postgres"
password_file = "{cluster["MONITOR_PASSWORD_FILE"]}"
labels = {{ cluster = "e2e" }}
"""
            if cluster.get("REPLICA_LOG"):
                text += f'\n[target.log]\npath = "{cluster["REPLICA_LOG"]}"\n'
        text += extra
        path = self.work_dir / "pgvigil.toml"
        path.write_text(text)
        return path, port

    def start_pgvigil(self, config: tuple[Path, int], ready_timeout: float = 60) -> Process:
        path, port = config
        process = self.spawn("pgvigil", [self.binary, "run", "-c", str(path)],
                             f"{LOOPBACK}:{port}")
        log(f"pgvigil pid {process.popen.pid} on {process.address}")
        self.wait_http(process, "/ready", ready_timeout)
        return process

    # ------------------------------------------------------------ Prometheus

    def start_prometheus(self, scrape_addresses: list[str], job: str = "pgvigil",
                         rule_files: Iterable[Path] = (), interval: str = "1s",
                         binary: str = "prometheus", ready_timeout: float = 60) -> Prometheus:
        port = free_port()
        prom_dir = self.work_dir / "prometheus"
        (prom_dir / "data").mkdir(parents=True, exist_ok=True)
        targets = ", ".join(json.dumps(address) for address in scrape_addresses)
        rules = "".join(f"  - {json.dumps(str(path))}\n" for path in rule_files)
        config = prom_dir / "prometheus.yml"
        config.write_text(
            "# Written by tests/e2e/lib/stack.py.\n"
            "global:\n"
            f"  scrape_interval: {interval}\n"
            f"  scrape_timeout: {interval}\n"
            f"  evaluation_interval: {interval}\n"
            + (f"rule_files:\n{rules}" if rules else "")
            + "scrape_configs:\n"
            f"  - job_name: {json.dumps(job)}\n"
            "    static_configs:\n"
            f"      - targets: [{targets}]\n")
        argv = [binary, f"--config.file={config}", f"--storage.tsdb.path={prom_dir / 'data'}",
                f"--web.listen-address={LOOPBACK}:{port}", "--web.enable-lifecycle",
                "--storage.tsdb.retention.time=1h", "--log.level=warn"]
        process = self.spawn("prometheus", argv, f"{LOOPBACK}:{port}")
        log(f"prometheus pid {process.popen.pid} on {process.address}")
        self.wait_http(process, "/-/ready", ready_timeout)
        return Prometheus(process, job)


def check_promtool_rules(paths: Iterable[Path]) -> None:
    """promtool check rules, so a bad rule file fails with promtool's message."""
    paths = [str(path) for path in paths]
    if not paths:
        return
    result = subprocess.run(["promtool", "check", "rules", *paths], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, timeout=60)
    if result.returncode != 0:
        raise E2EError(f"promtool check rules failed:\n{result.stdout}")


if __name__ == "__main__":
    sys.exit("stack.py is a library; see tests/e2e/prometheus_stack.py")
