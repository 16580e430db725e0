#!/usr/bin/env python3
"""End to end: real Prometheus scrapes pgvigil through TLS + basic auth.

    web_security.py --work-dir DIR

1. A throwaway CA signs a server certificate (127.0.0.1) and a client
   certificate, made with the openssl CLI; the password's bcrypt hash (cost
   10, as `htpasswd -nBC 10` makes) goes into [server.basic_auth.users].
2. pgvigil serves with TLS, client_auth = "require_and_verify" and basic auth.
   Direct checks: right password 200, wrong 401 with WWW-Authenticate, no
   client certificate refused in the handshake, /health open without
   credentials.
3. Prometheus scrapes it with scheme https, tls_config (ca_file, client
   certificate) and basic_auth with a password_file: the target is "up" in
   /api/v1/targets and pgvigil's own series arrive. A second job with a wrong
   password is "down" with a 401.
4. The password appears in no pgvigil log line.

No PostgreSQL is needed: the endpoint is what is under test. Python 3 standard
library only; tests/e2e/lib/stack.py does the process work.
"""

from __future__ import annotations

import argparse
import base64
import json
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
import warnings
from pathlib import Path

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))
from stack import (E2EError, LOOPBACK, Prometheus, Stack, free_port, install_signal_exit,  # noqa: E402
                   log, wait_until)

JOB = "pgvigil"
WRONG_JOB = "pgvigil-wrong-password"
USER = "prometheus"
PASSWORD = "e2e-Sw0rdfish-7f3a"


def openssl(work: Path, *args: str) -> None:
    result = subprocess.run(["openssl", *args], cwd=work, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, timeout=60)
    if result.returncode != 0:
        raise E2EError(f"openssl {' '.join(args)} failed:\n{result.stdout}")


def make_pki(work: Path) -> None:
    curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl(work, "req", "-x509", *curve, "-days", "2", "-keyout", "ca.key", "-out", "ca.crt",
            "-subj", "/CN=pgvigil e2e CA")
    for name, extensions in (("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"),
                             ("client", "extendedKeyUsage=clientAuth\n")):
        openssl(work, "req", "-new", *curve, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", f"/CN=pgvigil e2e {name}")
        (work / f"{name}.ext").write_text(extensions)
        openssl(work, "x509", "-req", "-days", "2", "-in", f"{name}.csr", "-CA", "ca.crt",
                "-CAkey", "ca.key", "-CAcreateserial", "-out", f"{name}.crt",
                "-extfile", f"{name}.ext")
    for key in work.glob("*.key"):
        key.chmod(0o600)


def bcrypt_hash(password: str) -> str:
    """A $2b$ cost-10 hash, as `htpasswd -nBC 10` would give ($2y$ there)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import crypt  # libxcrypt underneath, like the daemon
        except ImportError:
            crypt = None
    if crypt is not None:
        hashed = crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 10))
        if hashed and hashed.startswith("$2"):
            return hashed
    for argv in (["htpasswd", "-inBC", "10", USER], ["mkpasswd", "-s", "-m", "bcrypt"]):
        try:
            result = subprocess.run(argv, input=password + "\n", stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL, text=True, timeout=30)
        except FileNotFoundError:
            continue
        hashed = result.stdout.strip().split(":")[-1]
        if result.returncode == 0 and hashed.startswith("$2"):
            return hashed
    raise E2EError("cannot make a bcrypt hash: no python crypt module, htpasswd or mkpasswd")


def tls_context(work: Path, client_cert: bool = True) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(work / "ca.crt"))
    if client_cert:
        context.load_cert_chain(str(work / "client.crt"), str(work / "client.key"))
    return context


def https_get(url: str, context: ssl.SSLContext, password: str | None,
              timeout: float = 5.0) -> tuple[int, dict[str, str], str]:
    request = urllib.request.Request(url)
    if password is not None:
        token = base64.b64encode(f"{USER}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as reply:
            return reply.status, dict(reply.headers), reply.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode("utf-8", "replace")


def write_configs(work: Path, port: int, password_hash: str) -> Path:
    state = work / "state"
    state.mkdir(exist_ok=True)
    config = work / "pgvigil.toml"
    config.write_text(f"""# Written by tests/e2e/web_security.py.
state_directory = "{state}"

[server]
listen = ["{LOOPBACK}:{port}"]
max_connections = 16

[server.tls]
cert_file = "{work / 'server.crt'}"
key_file = "{work / 'server.key'}"
client_ca_file = "{work / 'ca.crt'}"
client_auth = "require_and_verify"
min_version = "TLS1.2"

[server.basic_auth.users]
{USER} = "{password_hash}"

[log]
level = "debug"
""")
    config.chmod(0o600)  # it holds a secret (the hash)
    (work / "password").write_text(PASSWORD + "\n")
    (work / "wrong-password").write_text("not-the-password\n")
    for name in ("password", "wrong-password"):
        (work / name).chmod(0o600)
    return config


def start_prometheus(stack: Stack, work: Path, target: str) -> Prometheus:
    port = free_port()
    prom_dir = work / "prometheus"
    (prom_dir / "data").mkdir(parents=True, exist_ok=True)

    def job(name: str, password_file: Path) -> str:
        return (f"  - job_name: {json.dumps(name)}\n"
                "    scheme: https\n"
                "    tls_config:\n"
                f"      ca_file: {json.dumps(str(work / 'ca.crt'))}\n"
                f"      cert_file: {json.dumps(str(work / 'client.crt'))}\n"
                f"      key_file: {json.dumps(str(work / 'client.key'))}\n"
                "    basic_auth:\n"
                f"      username: {USER}\n"
                f"      password_file: {json.dumps(str(password_file))}\n"
                "    static_configs:\n"
                f"      - targets: [{json.dumps(target)}]\n")

    config = prom_dir / "prometheus.yml"
    config.write_text("# Written by tests/e2e/web_security.py.\n"
                      "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                      "scrape_configs:\n"
                      + job(JOB, work / "password") + job(WRONG_JOB, work / "wrong-password"))
    argv = ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={prom_dir / 'data'}",
            f"--web.listen-address={LOOPBACK}:{port}", "--storage.tsdb.retention.time=1h",
            "--log.level=warn"]
    process = stack.spawn("prometheus", argv, f"{LOOPBACK}:{port}")
    log(f"prometheus pid {process.popen.pid} on {process.address}")
    stack.wait_http(process, "/-/ready", 60)
    return Prometheus(process, JOB)


def target_health(prom: Prometheus, job: str) -> dict | None:
    for target in prom.api("targets").get("data", {}).get("activeTargets", []):
        if target.get("labels", {}).get("job") == job:
            return target
    return None


def run(work: Path) -> list[str]:
    failures: list[str] = []

    def check(condition: bool, what: str) -> None:
        log(("ok   " if condition else "FAIL ") + what)
        if not condition:
            failures.append(what)

    make_pki(work)
    password_hash = bcrypt_hash(PASSWORD)
    port = free_port()
    config = write_configs(work, port, password_hash)
    with Stack(work) as stack:
        pgvigil = stack.spawn("pgvigil", [stack.binary, "run", "-c", str(config)],
                              f"{LOOPBACK}:{port}")
        base = f"https://{LOOPBACK}:{port}"
        context = tls_context(work)

        def ready() -> bool:
            if not pgvigil.alive():
                raise E2EError(f"pgvigil exited with {pgvigil.popen.returncode}:\n"
                               f"{pgvigil.log_tail()}")
            return https_get(f"{base}/ready", context, None, timeout=2)[0] == 200

        try:
            wait_until(ready, 60, f"pgvigil at {base}/ready")
        except E2EError as error:
            raise E2EError(f"{error}\n--- pgvigil log ---\n{pgvigil.log_tail()}") from None
        log(f"pgvigil pid {pgvigil.popen.pid} serves {base}")

        status, _, body = https_get(f"{base}/metrics", context, PASSWORD)
        check(status == 200 and "pgvigil_build_info" in body, "right password: 200 with metrics")
        status, headers, _ = https_get(f"{base}/metrics", context, "wrong")
        check(status == 401 and headers.get("WWW-Authenticate") == 'Basic realm="pgvigil"',
              "wrong password: 401 with WWW-Authenticate")
        check(https_get(f"{base}/metrics", context, None)[0] == 401, "no credentials: 401")
        check(https_get(f"{base}/health", context, None)[0] == 200,
              "/health open without credentials")
        try:
            https_get(f"{base}/health", tls_context(work, client_cert=False), PASSWORD)
            check(False, "no client certificate: refused")
        except (ssl.SSLError, urllib.error.URLError, ConnectionError) as error:
            check(True, f"no client certificate: refused ({type(error).__name__})")

        prom = start_prometheus(stack, work, f"{LOOPBACK}:{port}")
        try:
            up = wait_until(lambda: (t := target_health(prom, JOB)) and t.get("health") == "up"
                            and t, 60, "the pgvigil target to be up in /api/v1/targets",
                            interval=0.5)
            check(True, f"Prometheus target up (scrapeUrl {up.get('scrapeUrl')})")
        except E2EError as error:
            target = target_health(prom, JOB) or {}
            check(False, f"{error}; last error: {target.get('lastError', '')}")
        try:
            prom.wait_for_scrapes(3, timeout=30)
            series = prom.query(f'pgvigil_build_info{{job="{JOB}"}}')
            check(series.ok and bool(series.result), "pgvigil's series arrive in Prometheus")
        except E2EError as error:
            check(False, str(error))
        try:
            down = wait_until(lambda: (t := target_health(prom, WRONG_JOB))
                              and t.get("health") == "down" and t, 30,
                              "the wrong-password job to be down")
            check("401" in down.get("lastError", ""),
                  f"wrong password job down with a 401 ({down.get('lastError', '')})")
        except E2EError as error:
            check(False, str(error))

        logged = pgvigil.log_path.read_text(errors="replace")
        check(PASSWORD not in logged, "the password is in no pgvigil log line")
        token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        check(token not in logged, "the Authorization header is in no pgvigil log line")
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work-dir", required=True)
    args = parser.parse_args()
    install_signal_exit()
    try:
        failures = run(Path(args.work_dir).resolve())
    except E2EError as error:
        print(f"web_security: FAIL: {error}", file=sys.stderr)
        return 1
    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    if failures:
        print(f"web_security: {len(failures)} failure(s)", file=sys.stderr)
        return 1
    print("web_security: PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
