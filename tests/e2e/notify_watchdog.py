#!/usr/bin/env python3
"""Runs the real pgvigil binary under a fake service manager.

The test owns the NOTIFY_SOCKET (a Unix datagram socket) and plays systemd:
it sets WATCHDOG_USEC and WATCHDOG_PID the way systemd does for
WatchdogSec=, then checks what the daemon tells it:

  * READY=1 and a STATUS= line after start-up;
  * WATCHDOG=1 pings at WATCHDOG_USEC/2 while the loop is healthy;
  * no pings while the loop is wedged (SIGUSR1 with PGVIGIL_TEST_FAULTS=1),
    and pings again once it recovers;
  * STOPPING=1 and a clean exit within 2 s of SIGTERM.

Exits 0 on success, 1 with a reason on failure. Every wait is bounded.
"""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

WATCHDOG_USEC = 1_000_000  # pings expected every 0.5 s
STALL_SECONDS = 20  # how long the fault hook wedges the loop (daemon/app.cpp)


class Failure(Exception):
    pass


class FakeManager:
    """Collects sd_notify datagrams with their arrival times."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.messages = []  # (monotonic time, "KEY=value")

    def pump(self, seconds):
        """Receives for the given time, keeping every line of every datagram."""
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                return
            now = time.monotonic()
            for line in data.decode("utf-8", "replace").splitlines():
                if line:
                    self.messages.append((now, line))

    def wait_for(self, predicate, seconds, what, process, start=0, exit_ok=False):
        """Pumps until a message from index start on matches, the time is up,
        or the daemon dies (unless exit_ok: it may exit right after sending)."""
        deadline = time.monotonic() + seconds
        seen = start
        while time.monotonic() < deadline:
            for stamp, line in self.messages[seen:]:
                if predicate(line):
                    return stamp, line
            seen = max(seen, len(self.messages))
            if not exit_ok and process.poll() is not None:
                raise Failure(f"pgvigil exited with {process.returncode} before {what}")
            self.pump(min(0.2, max(0.0, deadline - time.monotonic())))
        raise Failure(f"no {what} within {seconds} s")

    def pings_between(self, start, end):
        return [t for t, line in self.messages if line == "WATCHDOG=1" and start <= t < end]

    def close(self):
        self.sock.close()


def write_config(directory):
    path = os.path.join(directory, "pgvigil.toml")
    state = os.path.join(directory, "state")
    os.mkdir(state)
    # One target on a port nothing listens on: the daemon runs its monitor
    # and reports the target down, which must not stop the watchdog.
    with open(path, "w", encoding="utf-8") as f:
        f.write(
            f'state_directory = "{state}"\n'
            "[server]\n"
            'listen = ["127.0.0.1:0"]\n'
            "[log]\n"
            'level = "info"\n'
            "[alerting]\n"
            "alertmanagers = []\n"
            "[[target]]\n"
            'name = "nowhere"\n'
            'host = "127.0.0.1"\n'
            "port = 1\n"
            'dbname = "postgres"\n'
            'user = "pgvigil"\n'
            "connect_timeout = 2\n"
        )
    return path


def start_daemon(binary, config, notify_path, log):
    env = dict(os.environ)
    env.update(
        NOTIFY_SOCKET=notify_path,
        WATCHDOG_USEC=str(WATCHDOG_USEC),
        PGVIGIL_TEST_FAULTS="1",
    )
    env.pop("WATCHDOG_PID", None)
    # sd_watchdog_enabled() only honours WATCHDOG_PID when it names the caller,
    # as systemd sets it for the main process: the shell exports its own pid
    # and then becomes pgvigil through exec, keeping that pid.
    wrapper = 'WATCHDOG_PID=$$; export WATCHDOG_PID; exec "$@"'
    return subprocess.Popen(
        ["/bin/sh", "-c", wrapper, "sh", binary, "run", "-c", config],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def run(binary, directory):
    notify_path = os.path.join(directory, "notify.sock")
    manager = FakeManager(notify_path)
    config = write_config(directory)
    log_path = os.path.join(directory, "pgvigil.log")
    log = open(log_path, "wb")
    process = start_daemon(binary, config, notify_path, log)
    try:
        manager.wait_for(lambda l: l == "READY=1", 15, "READY=1", process)
        print("notify_watchdog: READY=1 received")
        _, status = manager.wait_for(lambda l: l.startswith("STATUS="), 5, "STATUS= line", process)
        if "targets" not in status:
            raise Failure(f"STATUS= line does not summarise the targets: {status!r}")
        print(f"notify_watchdog: {status}")

        window_start = time.monotonic()
        manager.pump(3.0)
        if process.poll() is not None:
            raise Failure(f"pgvigil exited with {process.returncode} while healthy")
        healthy_pings = manager.pings_between(window_start, window_start + 3.0)
        if len(healthy_pings) < 3:
            raise Failure(f"{len(healthy_pings)} WATCHDOG=1 pings in 3 s while healthy, want >= 3")
        print(f"notify_watchdog: {len(healthy_pings)} pings in 3 s while healthy")

        # Wedge the loop. A ping already queued may still arrive just after the
        # signal; from 1 s on there must be none for the rest of the stall.
        stalled_at = time.monotonic()
        process.send_signal(signal.SIGUSR1)
        quiet_from, quiet_to = stalled_at + 1.0, stalled_at + 5.0
        manager.pump(quiet_to - time.monotonic())
        if process.poll() is not None:
            raise Failure(f"pgvigil exited with {process.returncode} on SIGUSR1 (fault hook off?)")
        stalled_pings = manager.pings_between(quiet_from, quiet_to)
        if stalled_pings:
            raise Failure(f"{len(stalled_pings)} WATCHDOG=1 pings while the loop was wedged")
        print("notify_watchdog: no pings while the loop is wedged")

        # After the stall the loop and scheduler recover and pinging resumes.
        seen_before = len(manager.messages)
        resumed_at, _ = manager.wait_for(
            lambda l: l == "WATCHDOG=1",
            STALL_SECONDS + 15,
            "WATCHDOG=1 after the stall",
            process,
            start=seen_before,
        )
        if resumed_at - stalled_at < STALL_SECONDS - 1:
            raise Failure(f"a ping arrived {resumed_at - stalled_at:.1f} s into a {STALL_SECONDS} s stall")
        print(f"notify_watchdog: pings resumed {resumed_at - stalled_at:.1f} s after SIGUSR1")

        # The unit gives 2 s; a sanitized build's teardown (LeakSanitizer's
        # exit-time scan) on a busy machine needs more, which is not the
        # daemon's doing.
        stop_limit = 6.0 if os.environ.get("PGVIGIL_SANITIZED") == "1" else 2.0
        stop_sent = time.monotonic()
        seen_before = len(manager.messages)
        process.send_signal(signal.SIGTERM)
        manager.wait_for(
            lambda l: l == "STOPPING=1", stop_limit, "STOPPING=1 after SIGTERM", process,
            start=seen_before, exit_ok=True,
        )
        try:
            code = process.wait(timeout=max(0.0, stop_sent + stop_limit - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise Failure(f"pgvigil did not exit within {stop_limit:.0f} s of SIGTERM")
        if code != 0:
            raise Failure(f"pgvigil exited with {code} after SIGTERM, want 0")
        print(f"notify_watchdog: STOPPING=1 and exit 0 in {time.monotonic() - stop_sent:.2f} s")
    except Failure:
        log.flush()
        with open(log_path, "rb") as f:
            sys.stderr.write("--- pgvigil output (last 4 KiB) ---\n")
            sys.stderr.write(f.read()[-4096:].decode("utf-8", "replace"))
        raise
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=5)
        log.close()
        manager.close()


def main():
    binary = os.environ.get("PGVIGIL_BINARY", "")
    if not binary or not os.access(binary, os.X_OK):
        print("notify_watchdog: FAIL: PGVIGIL_BINARY must name the built pgvigil binary", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="pgvigil-notify-") as directory:
        try:
            run(binary, directory)
        except Failure as failure:
            print(f"notify_watchdog: FAIL: {failure}", file=sys.stderr)
            return 1
    print("notify_watchdog: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
